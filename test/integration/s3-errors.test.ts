/**
 * What S3's error answers make a run do, each from the fault proxy in front of a real server: a
 * throttle is waited out (Retry-After honoured).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { newBucket, runCli, servers, trackedDirs, writeTree } from '../helpers.js';
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

/** PutObject: a PUT without uploadId (UploadPart has one) and not a CreateBucket (no key). */
const isPlainPut = (method: string, url: string) =>
  method === 'PUT' && !url.includes('uploadId=') && url.split('?')[0]!.split('/').length > 2;

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
});
