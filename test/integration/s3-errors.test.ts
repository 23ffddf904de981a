/**
 * What S3's error answers make a run do, each from the fault proxy in front of a real server: a
 * throttle is waited out (Retry-After honoured), a wrong region or a clock S3 refuses stops the run
 * with one line that names the fix.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bigFile, MiB, newBucket, plainLines, runCli, servers, trackedDirs, writeTree } from '../helpers.js';
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
});
