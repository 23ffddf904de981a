/**
 * Credentials with a control character (the \r of a key file with Windows line ends) or of the wrong
 * type: refused as a usage error naming the variable or option, before anything is sent, and never
 * printed.
 */
import { push } from 's3sync';
import { describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, plainLines, runCli, servers, tempDir, writeTree } from '../helpers.js';

describe.each(servers())('credential values on $name', (server) => {
  it.each<[string, (s: typeof server) => Record<string, string>, RegExp]>([
    [
      'an access key id ending in \\r',
      (s) => ({ AWS_ACCESS_KEY_ID: `${s.accessKeyId}\r` }),
      /^s3sync: AWS_ACCESS_KEY_ID ends with a carriage return \(CR\) \(a file with Windows line ends\?\): remove it$/,
    ],
    [
      'a secret key ending in \\n',
      (s) => ({ AWS_SECRET_ACCESS_KEY: `${s.secretAccessKey}\n` }),
      /^s3sync: AWS_SECRET_ACCESS_KEY ends with a line feed \(LF\): remove it$/,
    ],
    [
      'a session token ending in \\r',
      () => ({ AWS_SESSION_TOKEN: 'tok-secret-value\r' }),
      /^s3sync: AWS_SESSION_TOKEN ends with a carriage return .*: remove it$/,
    ],
  ])('the CLI refuses %s: exit 2, one line, nothing sent', async (_name, env, line) => {
    const { bucket, transport } = await newBucket(server, 'cred-env');
    const src = tempDir('cred-env');
    writeTree(src, { 'a.txt': 'alpha' });
    try {
      const given = env(server);
      const r = await runCli(['push', src, `s3://${bucket}/p`], server, { env: given });
      expect(plainLines(r.stderr)).toEqual([expect.stringMatching(line)]);
      expect(r.code).toBe(2);
      const out = r.stdout + r.stderr;
      for (const v of Object.values(given)) expect(out).not.toContain(v.trim());
      expect(out).not.toContain(server.accessKeyId);
      expect((await transport.list('p/')).size).toBe(0);
    } finally {
      cleanup(src);
    }
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a session token of 5',
      { sessionToken: 5 },
      /^option credentials\.sessionToken is a number, not a string$/,
    ],
    [
      'an access key id with a line feed',
      { accessKeyId: 'AB\nCD' },
      /^option credentials\.accessKeyId holds a line feed/,
    ],
    [
      'a secret key with a space at its end',
      { secretAccessKey: 'secret-x ' },
      /^option credentials\.secretAccessKey ends with a space/,
    ],
    [
      'a session token with \\r',
      { sessionToken: 'tok\r' },
      /^option credentials\.sessionToken ends with a carriage return/,
    ],
  ])('the library refuses %s: kind usage, nothing sent', async (_name, change, message) => {
    const { bucket, transport } = await newBucket(server, 'cred-lib');
    const src = tempDir('cred-lib');
    writeTree(src, { 'a.txt': 'alpha' });
    try {
      const conn = connFor(server);
      const credentials = { ...conn.credentials, ...change };
      const err = await push({
        ...conn,
        credentials: credentials as typeof conn.credentials,
        source: src,
        destination: `s3://${bucket}/p`,
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: 'S3SyncError',
        kind: 'usage',
        message: expect.stringMatching(message),
      });
      expect((await transport.list('p/')).size).toBe(0);
    } finally {
      cleanup(src);
    }
  });
});
