/**
 * A library call's usage error names the option as the call gives it, and its flag: `minSize
 * (--min-size)`, as `deleteExcluded (--delete-excluded)` always has, not the flag alone.
 */

import { tmpdir } from 'node:os';
import { cleanup as cleanupRun, pull, push, versions } from 's3sync';
import { describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, servers, tempDir, writeTree } from '../helpers.js';

describe.each(servers())('library option names on $name', (server) => {
  it.each<[string, Record<string, unknown>, 'push' | 'pull', RegExp]>([
    [
      'sizes that select nothing',
      { minSize: 2048, maxSize: 1024 },
      'push',
      /^minSize \(--min-size\) 2048 bytes is above maxSize \(--max-size\) 1024 bytes: no file could be selected$/,
    ],
    [
      'ages that select nothing',
      { maxAge: '1d', minAge: '2d' },
      'push',
      /^maxAge \(--max-age\) .* is after minAge \(--min-age\) .*: no file could be selected$/,
    ],
    [
      'a shard given both ways',
      { shard: '0/2', shards: 2 },
      'push',
      /^give shard \(--shard\) I\/N or shards \(--shards\) N, not both$/,
    ],
    ['a time that is none', { at: 'x' }, 'pull', /^at \(--at\): 'x' is neither/],
    [
      'a backup folder that is no S3 URL',
      { backupDir: 'old' },
      'push',
      /^backupDir \(--backup-dir\) for an S3 destination must be an s3:\/\/bucket\/prefix URL, not 'old'$/,
    ],
    [
      'a manifest path that is a folder',
      { manifest: tmpdir() },
      'push',
      /^manifest \(--manifest\) \S+ is a directory; it is left as it is: give a path that is new or holds an s3sync manifest$/,
    ],
    [
      'an endpoint that is no URL',
      { endpointUrl: 'not a url' },
      'push',
      /^malformed endpoint URL 'not a url' in endpointUrl \(--endpoint-url\) /,
    ],
    [
      'an endpoint nothing listens at',
      { endpointUrl: 'http://127.0.0.1:9' },
      'push',
      /^nothing accepts connections at the S3 endpoint .* \(ECONNREFUSED\): check endpointUrl \(--endpoint-url\)/,
    ],
  ])('%s: kind usage, the option named with its flag', async (_name, extra, command, message) => {
    const { bucket } = await newBucket(server, 'lib-names');
    const local = tempDir('lib-names');
    writeTree(local, { 'a.txt': 'alpha' });
    try {
      const conn = connFor(server);
      const url = `s3://${bucket}/p`;
      const call =
        command === 'push'
          ? push({ ...conn, ...extra, source: local, destination: url })
          : pull({ ...conn, ...extra, source: url, destination: local });
      const err = await call.catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: 'S3SyncError',
        kind: 'usage',
        message: expect.stringMatching(message),
      });
    } finally {
      cleanup(local);
    }
  });
});

describe.each(servers())('library calls without a target on $name', (server) => {
  it.each([
    ['versions', versions],
    ['cleanup', cleanupRun],
  ] as const)('%s({}) names the option target, not an S3 URL of undefined', async (name, call) => {
    const err = await call({ ...connFor(server) } as never).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'S3SyncError',
      kind: 'usage',
      message: `${name} needs option target, an s3://bucket/prefix URL (the CLI's argument), got undefined`,
    });
  });
});
