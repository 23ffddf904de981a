/**
 * A download that fails its integrity check is fetched again within the run, whatever its size: a
 * large object fetched as parallel ranges can only be checked whole, so every range is fetched again.
 * The fault proxy inverts a byte of chosen GetObject bodies ('flip-body'): every byte arrives, the
 * length is right, only the content differs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  bigFile,
  MiB,
  newBucket,
  runCli,
  servers,
  tempDir,
  tempFolders,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

/** Ranged from 5 MiB on, in ranges of 5 MiB: big.bin is 3 ranges, mid.bin 2. */
const RANGED = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/**
 * A proxy that flips the bodies of the GetObject requests whose number (per object, from 1, in order
 * of arrival) `flip` accepts. The ranges of one object share a URL (the range is a header), so with
 * 3 ranges, requests 1-3 are the first attempt and 4-6 the second.
 */
async function flipping(target: string, flip: (n: number) => boolean): Promise<FaultProxy> {
  const seen = new Map<string, number>();
  const p = await startFaultProxy({
    target,
    seed: 5,
    rate: 1,
    kinds: ['flip-body'],
    filter: ({ method, url }) => {
      if (method !== 'GET' || !url.includes('x-id=GetObject')) return false;
      const n = (seen.get(url) ?? 0) + 1;
      seen.set(url, n);
      return flip(n);
    },
  });
  proxies.push(p);
  return p;
}

const errorsOf = (events: SyncEvent[]) =>
  events
    .filter((e): e is Extract<SyncEvent, { type: 'error' }> => e.type === 'error')
    .map((e) => e.message)
    .sort();

/** No temp file left behind. */
function expectNoTempFiles(dst: string): void {
  expect(tempFolders(dst).flatMap((tmp) => readdirSync(tmp))).toEqual([]);
}

/** Nothing under a real name but directories, and no temp file left behind. */
function expectNothingWritten(dst: string): void {
  const files: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === '.s3sync') continue;
      if (e.isDirectory()) walk(path.join(abs, e.name), r);
      else files.push(r);
    }
  };
  walk(dst, '');
  expect(files).toEqual([]);
  expectNoTempFiles(dst);
}

describe.each(servers())('ranged pull integrity on $name', (server) => {
  // One pushed tree for every test on this server: each test pulls it into a new directory.
  let source: Promise<{ url: string; src: string }> | undefined;
  const pushed = () => {
    source ??= (async () => {
      const { bucket } = await newBucket(server, 'ranged-flip');
      const src = tempDir('ranged-flip-src');
      writeTree(src, { 'big.bin': 12 * MiB + 7, 'd/mid.bin': 6 * MiB });
      const url = `s3://${bucket}/p`;
      const r = await runCli(['push', src, url, ...RANGED], server);
      if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
      return { url, src };
    })();
    return source;
  };

  it.each([
    { retries: 2, attempts: 3 },
    { retries: 0, attempts: 1 },
  ])(
    'every body damaged (--retries $retries): each file fails after $attempts whole attempts, nothing is written',
    async ({ retries, attempts }) => {
      const { url } = await pushed();
      const proxy = await flipping(server.endpoint, () => true);
      const dst = tempDir('ranged-flip-bad');
      const r = await runCli(
        [
          'pull',
          url,
          dst,
          ...RANGED,
          '--retries',
          String(retries),
          '--endpoint-url',
          proxy.endpoint,
          '--json',
        ],
        server,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.summary).toMatchObject({ downloaded: 0, failed: 2 });
      expect(errorsOf(r.events)).toEqual([
        'big.bin: downloaded bytes do not match the object ETag (on every attempt)',
        'd/mid.bin: downloaded bytes do not match the object ETag (on every attempt)',
      ]);
      // Every range of each attempt was fetched: 3 for big.bin, 2 for mid.bin.
      expect(r.summary?.requests.GetObject).toBe(attempts * (3 + 2));
      expect(proxy.stats.faults['flip-body']).toBe(attempts * (3 + 2));
      expectNothingWritten(dst);
    },
  );

  it.each([
    // mid.bin (2 ranges) is damaged by the same request numbers, if it makes that many requests.
    { flipped: 'the first range to arrive', flip: (n: number) => n === 1, gets: 2 * 3 + 2 * 2 },
    { flipped: 'the second range to arrive', flip: (n: number) => n === 2, gets: 2 * 3 + 2 * 2 },
    { flipped: 'the last range of big.bin', flip: (n: number) => n === 3, gets: 2 * 3 + 1 * 2 },
    {
      flipped: 'a range in each of two attempts',
      flip: (n: number) => n === 1 || n === 4,
      gets: 3 * 3 + 3 * 2,
    },
  ])('$flipped damaged: fetched again, and the tree is identical', async ({ flip, gets }) => {
    const { url, src } = await pushed();
    const proxy = await flipping(server.endpoint, flip);
    const dst = tempDir('ranged-flip-good');
    const r = await runCli(['pull', url, dst, ...RANGED, '--endpoint-url', proxy.endpoint, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 2, failed: 0 });
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: gets });
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    expectNoTempFiles(dst);
    // What was written is what the manifest vouches for: a second pull (same endpoint, so the same
    // manifest) has nothing to fetch.
    const again = await runCli(
      ['pull', url, dst, ...RANGED, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(again.summary).toMatchObject({ downloaded: 0, unchanged: 2 });
  });

  it('a proxy that ignores Range (200, whole body): one whole GET per file, content intact, said once', async () => {
    const { bucket } = await newBucket(server, 'no-range');
    const src = tempDir('no-range-src');
    const BIG = ['big1.bin', 'big2.bin', 'big3.bin'];
    for (const [i, rel] of BIG.entries()) bigFile(path.join(src, rel), 12 * MiB + i);
    const url = `s3://${bucket}/p`;
    const push = await runCli(['push', src, url, ...RANGED], server);
    expect(push.code, push.stderr).toBe(0);
    const wholes = new Map(BIG.map((rel) => [`/p/${rel}`, readFileSync(path.join(src, rel))]));
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      ignoreRange: ({ url: u }) => [...wholes].find(([k]) => u.includes(k))?.[1],
    });
    proxies.push(proxy);
    const dst = tempDir('no-range-dst');
    // 4 MiB ranges: 4 of them for each object.
    const ranged = ['--multipart-threshold', '4MiB', '--part-size', '4MiB'];
    const r = await runCli(['pull', url, dst, ...ranged, '--endpoint-url', proxy.endpoint, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: BIG.length, failed: 0 });
    // At most each range once (each answered 200 and not read), then one whole GET: not a retry of each.
    for (const rel of BIG) {
      const gets = proxy.log.filter((e) => e.method === 'GET' && e.url.includes(`/p/${rel}`)).length;
      expect(gets, rel).toBeGreaterThanOrEqual(2);
      expect(gets, rel).toBeLessThanOrEqual(4 + 1);
    }
    const gets = proxy.log.filter((e) => e.method === 'GET' && e.url.includes('x-id=GetObject')).length;
    expect(r.summary!.requests.GetObject).toBe(gets);
    // One notice for the run, with how many files took the fallback: not one per file.
    const notices = r.events
      .filter((e) => e.type === 'notice')
      .map((e) => (e as { message: string }).message);
    expect(notices).toEqual([
      expect.stringMatching(
        /^the server ignores byte ranges: a GET of bytes \d+-\d+ was answered with HTTP 200, not 206: 3 large files fetched whole instead, one GET each$/,
      ),
    ]);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    expectNoTempFiles(dst);
    const again = await runCli(
      ['pull', url, dst, ...ranged, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(again.summary).toMatchObject({ downloaded: 0, unchanged: BIG.length });
    expect(again.events.filter((e) => e.type === 'notice')).toEqual([]);
  });

  it('two damaged attempts with --retries 1 fail the file; the other file is written', async () => {
    const { url, src } = await pushed();
    // Requests 1 and 5 of each object: big.bin (3 ranges an attempt) is damaged in its attempts 1 and
    // 2; mid.bin (2 ranges) in its attempt 1 only, and its attempt 2 (requests 3 and 4) gets it right.
    const proxy = await flipping(server.endpoint, (n) => n === 1 || n === 5);
    const dst = tempDir('ranged-flip-twice');
    const r = await runCli(
      ['pull', url, dst, ...RANGED, '--retries', '1', '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(r.code).toBe(1);
    expect(errorsOf(r.events)).toEqual([
      'big.bin: downloaded bytes do not match the object ETag (on every attempt)',
    ]);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 1 });
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 2 * 3 + 2 * 2 });
    expect(treeHashes(dst)).toEqual({ 'd/mid.bin': treeHashes(src)['d/mid.bin'] });
    expectNoTempFiles(dst);
  });
});
