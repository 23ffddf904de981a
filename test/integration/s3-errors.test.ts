/**
 * What S3's error answers make a run do, each from the fault proxy in front of a real server: a
 * throttle is waited out (Retry-After honoured), a wrong region or a clock S3 refuses stops the run
 * with one line that names the fix, and a failure on every attempt says what failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  MiB,
  newBucket,
  plainLines,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';
import { type FaultOptions, type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});
const proxyTo = async (target: string, opts: Omit<FaultOptions, 'target' | 'seed' | 'rate'>) => {
  const p = await startFaultProxy({ target, seed: 1, rate: 0, ...opts });
  proxies.push(p);
  return p;
};

const isListing = (url: string) => url.includes('list-type=2');
/** PutObject: a PUT without uploadId (UploadPart has one) and not a CreateBucket (no key). */
const isPlainPut = (method: string, url: string) =>
  method === 'PUT' && !url.includes('uploadId=') && url.split('?')[0]!.split('/').length > 2;

const REDIRECT = {
  status: 301,
  code: 'PermanentRedirect',
  message: 'The bucket you are attempting to access must be addressed using the specified endpoint.',
  headers: { 'x-amz-bucket-region': 'eu-west-3' },
};

describe.each(servers())('S3 error answers on $name', (server) => {
  it('a server that echoes the request in its error: the signature is not printed, nor the token', async () => {
    const { bucket } = await newBucket(server, 'echo');
    const src = dir('echo-src');
    writeTree(src, { 'a.txt': 'alpha' });
    const proxy = await proxyTo(server.endpoint, {
      // As a store or proxy that quotes the request's headers (and a presigned URL) when it refuses it.
      answer: ({ method, url, headers }) => {
        if (!isPlainPut(method, url)) return undefined;
        const sig = /Signature=([0-9a-f]+)/.exec(String(headers.authorization))?.[1] ?? 'none';
        return {
          status: 400,
          code: 'InvalidArgument',
          message: `bad request: x-amz-security-token: ${String(headers['x-amz-security-token'])} | authorization: ${String(headers.authorization)} | url: ${url}?X-Amz-Signature=${sig}`,
        };
      },
    });
    const args = ['push', src, `s3://${bucket}/e`, '--endpoint-url', proxy.endpoint];
    const env = { AWS_SESSION_TOKEN: 'SECRETTOKEN123' };
    for (const flags of [['--debug'], ['--json']]) {
      const r = await runCli([...args, ...flags], server, { env });
      expect(r.code, r.stderr).toBe(1);
      const said = r.stdout + r.stderr;
      expect(said).toMatch(/authorization: AWS4-HMAC-SHA256 .*Signature=\*\*\*/);
      expect(said).toMatch(/X-Amz-Signature=\*\*\*/);
      expect(said).not.toMatch(/Signature=[0-9a-f]/i);
      expect(said).not.toContain('SECRETTOKEN123');
    }
  });

  it('SlowDown with Retry-After: 1, twice per file: each retry waits it out, and the run succeeds', async () => {
    const { bucket } = await newBucket(server, 'slow');
    const src = dir('slow-src');
    writeTree(src, { a: 'a1', b: 'b22', c: 'c333', d: 'd4444' });
    const seen = new Map<string, number>();
    const proxy = await proxyTo(server.endpoint, {
      answer: ({ method, url }) => {
        if (!isPlainPut(method, url)) return undefined;
        const n = (seen.get(url) ?? 0) + 1;
        seen.set(url, n);
        return n <= 2
          ? {
              status: 503,
              code: 'SlowDown',
              message: 'Please reduce your request rate.',
              headers: { 'retry-after': '1' },
            }
          : undefined;
      },
    });
    const r = await runCli(
      ['push', src, `s3://${bucket}/s`, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(r.code, r.stdout.slice(-2000)).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 4, failed: 0 });
    const puts = proxy.log.filter((e) => isPlainPut(e.method, e.url));
    expect(puts).toHaveLength(12);
    for (const url of seen.keys()) {
      const at = puts.filter((e) => e.url === url).map((e) => e.at);
      expect(at).toHaveLength(3);
      // Each retry came no sooner than the server asked (the drawn wait of a first retry is shorter).
      expect(at[1]! - at[0]!, url).toBeGreaterThanOrEqual(1000);
      expect(at[2]! - at[1]!, url).toBeGreaterThanOrEqual(1000);
    }
  });

  it.each<[string, (method: string, url: string) => boolean, boolean]>([
    ['the listing', (method, url) => method === 'GET' && isListing(url), false],
    ['each PutObject (the listing passes)', isPlainPut, false],
    [
      'a multipart upload through the SDK',
      (method, url) => method === 'POST' && url.includes('uploads'),
      true,
    ],
  ])(
    'a wrong region (301 PermanentRedirect) on %s: one line naming the region, exit 2, the first stops the run',
    async (_what, match, big) => {
      const { bucket } = await newBucket(server, 'region');
      const src = dir('region-src');
      const files: Record<string, string> = {};
      for (let i = 0; i < 30; i++) files[`f${i}`] = `content ${i}`;
      writeTree(src, big ? {} : files);
      if (big) bigFile(path.join(src, 'big.bin'), 6 * MiB);
      const proxy = await proxyTo(server.endpoint, {
        answer: ({ method, url }) => (match(method, url) ? REDIRECT : undefined),
      });
      const r = await runCli(
        [
          'push',
          src,
          `s3://${bucket}/r`,
          '--endpoint-url',
          proxy.endpoint,
          '--workers',
          '2',
          '--multipart-threshold',
          '5MiB',
          '--part-size',
          '5MiB',
        ],
        server,
      );
      expect(r.code, r.stderr).toBe(2);
      expect(plainLines(r.stderr)).toEqual([
        `s3sync: s3://${bucket} is in region eu-west-3, not the region its requests are signed for (PermanentRedirect): set region (--region) or AWS_REGION to eu-west-3`,
      ]);
      // Not retried, and not tried file by file: at most the requests already under way were sent.
      const refused = proxy.log.filter((e) => match(e.method, e.url));
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused.length).toBeLessThanOrEqual(2);
    },
  );

  it('a temporary redirect (307) on the listing: one line saying what it is, exit 2', async () => {
    const { bucket } = await newBucket(server, 'temp');
    const src = dir('temp-src');
    writeTree(src, { a: 'a' });
    const proxy = await proxyTo(server.endpoint, {
      answer: ({ method, url }) =>
        method === 'GET' && isListing(url)
          ? {
              status: 307,
              code: 'TemporaryRedirect',
              message: 'Please re-send this request to the specified temporary endpoint.',
              headers: { location: `https://${bucket}.s3-eu-west-3.amazonaws.com/?list-type=2` },
            }
          : undefined,
    });
    const r = await runCli(['push', src, `s3://${bucket}/t`, '--endpoint-url', proxy.endpoint], server);
    expect(r.code, r.stderr).toBe(2);
    const lines = plainLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^s3sync: the endpoint redirects the requests for s3://${bucket} to https://${bucket}\\.s3-eu-west-3\\.amazonaws\\.com/\\?list-type=2 \\(TemporaryRedirect\\): S3 does so for a bucket created in the last hours`,
      ),
    );
  });

  it('RequestTimeTooSkewed on every attempt: the clock is named with the difference, not the permissions', async () => {
    const { bucket } = await newBucket(server, 'skew');
    const src = dir('skew-src');
    writeTree(src, { a: 'a' });
    const proxy = await proxyTo(server.endpoint, {
      answer: ({ method, url }) =>
        method === 'GET' && isListing(url)
          ? {
              status: 403,
              code: 'RequestTimeTooSkewed',
              message: 'The difference between the request time and the current time is too large.',
              extra:
                '<RequestTime>20261206T120000Z</RequestTime><ServerTime>2026-12-06T17:00:00Z</ServerTime>' +
                '<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>',
            }
          : undefined,
    });
    const r = await runCli(
      ['push', src, `s3://${bucket}/k`, '--endpoint-url', proxy.endpoint, '--retries', '1'],
      server,
    );
    expect(r.code, r.stderr).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      "s3sync: the local clock is 5 h behind the server's (RequestTimeTooSkewed): set the clock right (NTP), S3 refuses requests signed at a time far from its own",
    ]);
  });

  it('a GET whose connection is reset mid-body on every attempt says so, and that it was every attempt', async () => {
    const { bucket, transport } = await newBucket(server, 'reset');
    await seedObject(transport, 'x/a', Buffer.alloc(64 * 1024, 7));
    const resetting = await startFaultProxy({
      target: server.endpoint,
      seed: 5,
      rate: 1,
      kinds: ['reset-response'],
      filter: ({ method, url }) => method === 'GET' && !isListing(url),
    });
    proxies.push(resetting);
    const r = await runCli(
      ['pull', `s3://${bucket}/x`, dir('reset-dst'), '--endpoint-url', resetting.endpoint, '--retries', '1'],
      server,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(plainLines(r.stderr)).toContainEqual(
      expect.stringMatching(
        /^error: a: S3 error ECONNRESET: the connection was reset (while the answer was read|before an answer came) \(on every attempt\)$/,
      ),
    );
  });

  it('a GET answered with a Content-Encoding no one asked for names it', async () => {
    const { bucket, transport } = await newBucket(server, 'enc');
    await seedObject(transport, 'e/a', 'plain!');
    const proxy = await proxyTo(server.endpoint, {
      rewrite: ({ method, url }) =>
        method === 'GET' && !isListing(url)
          ? {
              headers: (h) => {
                h['content-encoding'] = 'gzip';
              },
              body: (b) => gzipSync(b),
            }
          : undefined,
    });
    const r = await runCli(
      ['pull', `s3://${bucket}/e`, dir('enc-dst'), '--endpoint-url', proxy.endpoint, '--retries', '1'],
      server,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(plainLines(r.stderr)).toContainEqual(
      'error: a: response body is longer than the 6 bytes listed (the answer came with Content-Encoding: gzip: if the object is not stored so, something on the way encoded it) (on every attempt)',
    );
  });

  it('a CompleteMultipartUpload answered 200 with an <Error> on every attempt: said as the 200 it was', async () => {
    const { bucket } = await newBucket(server, 'c200');
    const src = dir('c200-src');
    bigFile(path.join(src, 'big.bin'), 6 * MiB);
    // Answered by the proxy, never completed upstream: the HEAD that follows finds no object.
    const proxy = await proxyTo(server.endpoint, {
      answer: ({ method, url }) =>
        method === 'POST' && url.includes('uploadId=')
          ? {
              status: 200,
              code: 'InternalError',
              message: 'We encountered an internal error. Please try again.',
            }
          : undefined,
    });
    const r = await runCli(
      [
        'push',
        src,
        `s3://${bucket}/c`,
        '--endpoint-url',
        proxy.endpoint,
        '--retries',
        '1',
        '--multipart-threshold',
        '5MiB',
        '--part-size',
        '5MiB',
      ],
      server,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(plainLines(r.stderr)).toContainEqual(
      'error: big.bin: S3 error InternalError (in an HTTP 200 answer to CompleteMultipartUpload): We encountered an internal error. Please try again.',
    );
  });
});

describe('credentials', () => {
  it('a profile without keys, named by AWS_PROFILE or --profile: the profile and where it was named, not the keys that are set', async () => {
    const home = dir('nokeys-home');
    mkdirSync(path.join(home, '.aws'));
    writeFileSync(path.join(home, '.aws', 'config'), '[profile ronly]\nregion = eu-west-2\n');
    const src = dir('nokeys-src');
    writeTree(src, { a: 'a' });
    const server = servers()[0]!;
    const r = await runCli(
      ['push', src, 's3://any-bucket/x', '--endpoint-url', server.endpoint, '--quiet'],
      server,
      {
        env: {
          HOME: home,
          AWS_PROFILE: 'ronly',
          AWS_CONFIG_FILE: undefined,
          AWS_SHARED_CREDENTIALS_FILE: undefined,
        },
      },
    );
    expect(r.code, r.stderr).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      "s3sync: no AWS credentials found in profile 'ronly' (named by AWS_PROFILE): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or unset AWS_PROFILE",
    ]);
    // Named by the flag, the SDK reads only that profile and words its failure otherwise.
    const flagged = await runCli(
      ['push', src, 's3://any-bucket/x', '--endpoint-url', server.endpoint, '--quiet', '--profile', 'ronly'],
      server,
      { env: { HOME: home, AWS_CONFIG_FILE: undefined, AWS_SHARED_CREDENTIALS_FILE: undefined } },
    );
    expect(flagged.code, flagged.stderr).toBe(2);
    expect(plainLines(flagged.stderr)).toEqual([
      "s3sync: no AWS credentials found in profile 'ronly' (named by --profile): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or name another --profile",
    ]);
  });
});
