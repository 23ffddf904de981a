import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFile } from '../../src/local/hash.js';
import { HashCache, type ScannedFile } from '../../src/local/hash-cache.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { cleanup, MiB, tempDir, writeTree } from '../helpers.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('HashCache', () => {
  const root = mkdtempSync(path.join(tmpdir(), 's3sync-hashcache-'));
  const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  writeFileSync(path.join(root, 'a.bin'), data);
  writeFileSync(path.join(root, 'b.bin'), 'bbb');
  /** The file as a scan finds it now (the cache checks every read against it). */
  const at = (rel: string): ScannedFile => {
    const st = lstatSync(path.join(root, rel), { bigint: true });
    return { rel, size: Number(st.size), dev: st.dev.toString(), ino: st.ino.toString() };
  };

  it('hands out the prefetched hash instead of reading the file again', async () => {
    const c = new HashCache(root);
    c.prefetch(at('a.bin'));
    c.prefetch(at('b.bin'));
    const first = await c.get(at('a.bin'));
    expect(first.md5).toBe(md5(data));
    expect(await c.get(at('a.bin'))).toBe(first);
    expect((await c.get(at('b.bin'))).md5).toBe(md5(Buffer.from('bbb')));
  });

  it('hashes again when asked for a part size it does not have, keeping the ones it had', async () => {
    const c = new HashCache(root);
    c.prefetch(at('a.bin'), [MiB]);
    const prefetched = await c.get(at('a.bin'), [MiB]);
    const wider = await c.get(at('a.bin'), [2 * MiB]);
    expect(wider).not.toBe(prefetched);
    const want = await hashFile(path.join(root, 'a.bin'), [MiB, 2 * MiB]);
    expect(wider.multipart).toEqual(want.multipart);
    expect(await c.get(at('a.bin'), [MiB, 2 * MiB])).toBe(wider);
  });

  it('hashes large files one at a time in the order asked, small ones beside them', async () => {
    const big = [0, 1, 2].map((i) => Buffer.alloc(9 * MiB, i + 1));
    for (const [i, b] of big.entries()) writeFileSync(path.join(root, `big${i}.bin`), b);
    const c = new HashCache(root, { heavyConcurrency: 1 });
    const done: string[] = [];
    const ask = (rel: string, size: number) => {
      c.prefetch({ ...at(rel), size });
      return c.get(at(rel)).then((h) => {
        done.push(rel);
        return h.md5;
      });
    };
    const got = await Promise.all([
      ask('big0.bin', big[0]!.length),
      ask('big1.bin', big[1]!.length),
      ask('b.bin', 3),
      ask('big2.bin', big[2]!.length),
    ]);
    expect(got).toEqual([md5(big[0]!), md5(big[1]!), md5(Buffer.from('bbb')), md5(big[2]!)]);
    // The first large file's MD5 arrives first: its upload need not wait for the others.
    expect(done.filter((r) => r.startsWith('big'))).toEqual(['big0.bin', 'big1.bin', 'big2.bin']);
    // The small file did not queue behind them.
    expect(done.indexOf('b.bin')).toBeLessThan(done.indexOf('big2.bin'));
  });

  it('reports its hashing as throttled totals, ending with everything queued hashed', async () => {
    const sizes = [40 * MiB, 9 * MiB, 2 * MiB, 100];
    for (const [i, n] of sizes.entries()) writeFileSync(path.join(root, `p${i}.bin`), Buffer.alloc(n, i + 1));
    const events: Extract<SyncEvent, { type: 'hashing' }>[] = [];
    const c = new HashCache(root, { onProgress: (e) => events.push(e) });
    sizes.forEach((_, i) => {
      c.prefetch(at(`p${i}.bin`));
    });
    const missing = { rel: 'missing.bin', size: 5 * MiB, dev: '1', ino: '1' };
    c.prefetch(missing);
    await Promise.all(sizes.map((_, i) => c.get(at(`p${i}.bin`))));
    await expect(c.get(missing)).rejects.toMatchObject({ code: 'ENOENT' });
    await new Promise((r) => setImmediate(r));
    const total = sizes.reduce((a, b) => a + b, 0) + 5 * MiB;
    // 56 MiB: at least one event per 16 MiB on the way, none per chunk.
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.length).toBeLessThan(20);
    expect(events.at(-1)).toEqual({
      type: 'hashing',
      bytes: total,
      totalBytes: total,
      files: 5,
      totalFiles: 5,
    });
    const bytes = events.map((e) => e.bytes);
    expect([...bytes].sort((a, b) => a - b)).toEqual(bytes);
    expect(events.every((e) => e.bytes <= e.totalBytes && e.files <= e.totalFiles)).toBe(true);
  });

  it('reports nothing when there is nothing to report: a few small files', async () => {
    const events: unknown[] = [];
    // A clock that stands still: a loaded machine may take longer than the throttle's interval.
    const c = new HashCache(root, { onProgress: (e) => events.push(e), now: () => 0 });
    await c.get(at('b.bin'));
    c.prefetch(at('a.bin'));
    await c.get(at('a.bin'));
    expect(events).toEqual([]);
  });

  it('reads the file again after forget, and reports a missing file from get', async () => {
    const c = new HashCache(root);
    const before = await c.get(at('b.bin'));
    writeFileSync(path.join(root, 'b.bin'), 'ccc');
    expect(await c.get(at('b.bin'))).toBe(before);
    c.forget('b.bin');
    expect((await c.get(at('b.bin'))).md5).toBe(md5(Buffer.from('ccc')));
    const gone = { rel: 'gone.bin', size: 10, dev: '1', ino: '1' };
    c.prefetch(gone);
    await expect(c.get(gone)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a prefetch that fails and nobody asks for is no unhandled rejection, with or without progress', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const opts of [{}, { onProgress: () => {} }]) {
        const c = new HashCache(root, opts);
        // A small file (this thread's queue) and a mid-size one (the light lane), both gone.
        const gone = [
          { rel: 'gone-small.bin', size: 10, dev: '1', ino: '1' },
          { rel: 'gone-mid.bin', size: 2 * MiB, dev: '1', ino: '1' },
        ];
        for (const f of gone) c.prefetch(f);
        // Long enough for both reads to fail and for Node to report a rejection nobody handled.
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(unhandled).toEqual([]);
        // They did fail: the job a later get hands out is the rejected one.
        for (const f of gone) await expect(c.get(f)).rejects.toMatchObject({ code: 'ENOENT' });
      }
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('HashCache.close: the run is over', () => {
  const root = tempDir('hash-cache-close');
  afterAll(() => cleanup(root));
  const tree = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`mid/${i}.bin`, 2 * MiB]));
  writeTree(root, tree);
  const scanned = (rel: string, size: number) => {
    const st = lstatSync(path.join(root, rel));
    return { rel, size, dev: String(st.dev), ino: String(st.ino) };
  };

  it('drops the hashes not started, lets the running ones finish, and ends the pool', async () => {
    const cache = new HashCache(root);
    for (const [rel, size] of Object.entries(tree)) cache.prefetch(scanned(rel, size));
    // Two mid-size files at a time: the first two are being read when the run ends.
    await new Promise((r) => setImmediate(r));
    await cache.close();
    const outcomes = await Promise.all(
      Object.entries(tree).map(([rel, size]) =>
        cache.get(scanned(rel, size)).then(
          () => 'done',
          (err: Error) => err.message,
        ),
      ),
    );
    expect(outcomes).toEqual(['done', 'done', ...Array(4).fill('hash cache closed')]);
    expect(cache.pool.threads).toBe(0);
    // Asked again afterwards: the closed pool refuses to read the file.
    cache.forget('mid/0.bin');
    await expect(cache.get(scanned('mid/0.bin', 2 * MiB))).rejects.toThrow(/hash pool closed/);
  });
});

describe('HashCache.cancel: a cancelled run', () => {
  const root = tempDir('hash-cache-cancel-grace');
  afterAll(() => cleanup(root));
  writeTree(root, { 'big.bin': 48 * MiB, 'later.bin': 2 * MiB });
  const scanned = (rel: string, size: number) => {
    const st = lstatSync(path.join(root, rel));
    return { rel, size, dev: String(st.dev), ino: String(st.ino) };
  };
  const reason = new Error('cancelled by SIGTERM');

  it('lets a running hash go on for the grace, then abandons it with the reason; starts no new one', async () => {
    const cache = new HashCache(root, { cancelGraceMs: 0 });
    const big = cache.get(scanned('big.bin', 48 * MiB));
    await new Promise((r) => setImmediate(r));
    cache.cancel(reason);
    // Asked after the cancel: refused at once, the file never read.
    await expect(cache.get(scanned('later.bin', 2 * MiB))).rejects.toBe(reason);
    // 48 MiB read in chunks on this thread (no worker from the sources): abandoned between two of them.
    await expect(big).rejects.toBe(reason);
    await cache.close();
  });

  it('a hash that ends within the grace is kept', async () => {
    const cache = new HashCache(root, { cancelGraceMs: 60_000 });
    const big = cache.get(scanned('big.bin', 48 * MiB));
    await new Promise((r) => setImmediate(r));
    cache.cancel(reason);
    await expect(big).resolves.toMatchObject({ size: 48 * MiB });
    await cache.close();
  });
});
