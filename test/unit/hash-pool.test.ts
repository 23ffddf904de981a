import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as fromSource from '../../src/local/hash-pool.js';
import { cleanup, MiB, tempDir } from '../helpers.js';

const DIST_POOL = new URL('../../dist/local/hash-pool.js', import.meta.url);
// Under vitest the worker is not compiled beside the sources: the worker's lifecycle is tested on dist/.
const distBuilt = existsSync(fileURLToPath(new URL('../../dist/local/hash-worker.js', import.meta.url)));
const fromDist: typeof fromSource | undefined = distBuilt ? await import(DIST_POOL.href) : undefined;

const dir = tempDir('hash-pool');
afterAll(() => cleanup(dir));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Files of each size class: small (hashed synchronously), mid-size (this thread), large (a worker). */
const files = [
  { name: 'small', data: randomBytes(70_000) },
  { name: 'mid', data: randomBytes(2 * MiB + 3) },
  { name: 'large', data: randomBytes(9 * MiB + 1) },
].map((f) => {
  const abs = path.join(dir, f.name);
  writeFileSync(abs, f.data);
  return { ...f, abs, size: f.data.length, md5: md5(f.data) };
});
const large = files[2]!;

/** The pool implementations to check: the in-thread fallback always, the worker when dist/ is built. */
const pools = [
  ['sources (in-thread)', fromSource.HashPool, false],
  ...(fromDist ? [['dist (worker threads)', fromDist.HashPool, true] as const] : []),
] as const;

describe.each(pools)('HashPool from %s', (_name, HashPool, workers) => {
  it.each(files)('hashes a $name file, and starts threads only for a large one', async (f) => {
    const pool = new HashPool();
    expect(pool.threads).toBe(0);
    expect((await pool.hashFile(f.abs, f.size)).md5).toBe(f.md5);
    expect(pool.threads).toBe(workers && f === large ? fromSource.HASH_THREADS : 0);
    await pool.close();
    expect(pool.threads).toBe(0);
  });

  it('a stream hash below the worker threshold starts no thread', async () => {
    const pool = new HashPool();
    const h = pool.startStreamHash([], MiB);
    await h.update(Buffer.alloc(MiB, 1));
    expect((await h.digest()).md5).toBe(md5(Buffer.alloc(MiB, 1)));
    expect(pool.threads).toBe(0);
    await pool.close();
  });

  it('after close(), a new pool works', async () => {
    for (let round = 0; round < 3; round++) {
      const pool = new HashPool();
      expect((await pool.hashFile(large.abs, large.size)).md5).toBe(large.md5);
      await pool.close();
    }
  });

  it('two pools at once hash apart, and closing one leaves the other working', async () => {
    const a = new HashPool();
    const b = new HashPool();
    const both = await Promise.all([a.hashFile(large.abs, large.size), b.hashFile(large.abs, large.size)]);
    expect(both.map((h) => h.md5)).toEqual([large.md5, large.md5]);
    const streamB = b.startStreamHash([5 * MiB], large.size);
    await a.close();
    await streamB.update(large.data);
    expect((await streamB.digest()).md5).toBe(large.md5);
    expect((await b.hashFile(large.abs, large.size)).md5).toBe(large.md5);
    await b.close();
  });

  it('warm() starts the threads before any work (none from sources), once; they then do the work', async () => {
    const pool = new HashPool();
    pool.warm();
    const warmed = workers ? fromSource.HASH_THREADS : 0;
    expect(pool.threads).toBe(warmed);
    pool.warm();
    expect(pool.threads).toBe(warmed);
    // A warmed thread takes the large file: no thread is added, and the hash is that file's.
    expect((await pool.hashFile(large.abs, large.size)).md5).toBe(large.md5);
    expect(pool.threads).toBe(warmed);
    await pool.close();
    expect(pool.threads).toBe(0);
    // Closed, warming starts nothing and raises nothing.
    pool.warm();
    expect(pool.threads).toBe(0);
  });

  it.each([
    ['hashFile (small)', (p: fromSource.HashPool) => p.hashFile(files[0]!.abs, files[0]!.size)],
    ['hashFile (large)', (p: fromSource.HashPool) => p.hashFile(large.abs, large.size)],
    ['hashSmallFiles', (p: fromSource.HashPool) => p.hashSmallFiles([{ src: files[0]!.abs, partSizes: [] }])],
    ['startStreamHash', async (p: fromSource.HashPool) => p.startStreamHash([], large.size)],
  ])('refuses work after close(): %s', async (_op, op) => {
    const pool = new HashPool();
    await pool.close();
    await pool.close(); // twice: a no-op
    await expect(op(pool)).rejects.toThrow(/hash pool closed/);
    expect(pool.threads).toBe(0);
  });
});

describe.runIf(distBuilt)('HashPool worker threads: close() while hashing', () => {
  const HashPool = fromDist!.HashPool;

  it('a warmed pool with no work does not keep the process alive', () => {
    const file = path.join(dir, 'warm.mjs');
    writeFileSync(
      file,
      `const { HashPool } = await import(${JSON.stringify(DIST_POOL.href)});
      const pool = new HashPool();
      pool.warm();
      console.log(pool.threads);`,
    );
    const r = spawnSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(String(fromSource.HASH_THREADS));
  });

  it.each([1, 2, 3])('rejects the %i file hash(es) a worker was running', async (n) => {
    const pool = new HashPool();
    const running = Array.from({ length: n }, () =>
      pool.hashFile(large.abs, large.size).then(
        () => 'done',
        (err: Error) => err.message,
      ),
    );
    expect(pool.threads).toBe(fromSource.HASH_THREADS);
    await pool.close();
    expect(await Promise.all(running)).toEqual(Array(n).fill('hash pool closed'));
  });

  it.each(['update', 'digest'])('rejects a stream hash in flight: its %s', async (step) => {
    const pool = new HashPool();
    const h = pool.startStreamHash([5 * MiB], 16 * MiB);
    await h.update(Buffer.alloc(4 * MiB, 1));
    const digest = step === 'digest' ? h.digest() : undefined;
    digest?.catch(() => {});
    await pool.close();
    if (digest) await expect(digest).rejects.toThrow(/hash pool closed/);
    else await expect(h.update(Buffer.alloc(MiB))).rejects.toThrow(/hash pool closed/);
    h.abort(); // after the failure: a no-op
  });

  it.each(['close', 'abandon'])('the process exits after %s with a hash running', (how) => {
    const script = `
      const { HashPool } = await import(${JSON.stringify(DIST_POOL.href)});
      const pool = new HashPool();
      const h = pool.hashFile(${JSON.stringify(large.abs)}, ${large.size});
      const outcome = h.then((r) => r.md5, (e) => e.message);
      const s = pool.startStreamHash([], 64 * 1024 * 1024);
      await s.update(Buffer.alloc(1024 * 1024));
      if (${JSON.stringify(how)} === 'close') await pool.close();
      console.log(await outcome);
    `;
    const file = path.join(dir, `${how}.mjs`);
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(how === 'close' ? 'hash pool closed' : large.md5);
  });
});
