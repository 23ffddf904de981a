import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { PartHasher } from '../../src/local/hash.js';
import * as fromSource from '../../src/local/hash-pool.js';
import { MiB } from '../helpers.js';

const DIST_POOL = new URL('../../dist/local/hash-pool.js', import.meta.url);
// Under vitest the worker is not compiled beside the sources, so src/ exercises the in-thread
// fallback; dist/ (when built) exercises the worker.
const distBuilt = existsSync(fileURLToPath(new URL('../../dist/local/hash-worker.js', import.meta.url)));
const fromDist: typeof fromSource | undefined = distBuilt ? await import(DIST_POOL.href) : undefined;

function expected(data: Buffer, partSizes: number[]) {
  const multipart: Record<number, string> = {};
  for (const ps of partSizes) {
    const p = new PartHasher(ps);
    p.update(data);
    multipart[ps] = p.finish();
  }
  return { md5: createHash('md5').update(data).digest('hex'), multipart };
}

/** Splits data into chunks by a size pattern, each in its own ArrayBuffer so it may be transferred. */
function chunk(data: Buffer, sizes: (i: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(Math.max(1, sizes(i)), data.length - off);
    const b = Buffer.allocUnsafeSlow(n);
    data.copy(b, 0, off, off + n);
    out.push(b);
    off += n;
  }
  return out;
}

const chunkings: [string, (i: number) => number][] = [
  ['1 MiB', () => MiB],
  ['uneven', (i) => [65_536, 1, MiB + 3, 300_001][i % 4]!],
  ['one piece', () => Number.MAX_SAFE_INTEGER],
];

const pools = [
  ['in-thread fallback (sources)', new fromSource.HashPool()],
  ...(fromDist ? [['worker (dist)', new fromDist.HashPool()] as const] : []),
] as const;
afterAll(() => Promise.all(pools.map(([, pool]) => pool.close())));

describe.each(pools)('startStreamHash: %s', (_name, pool) => {
  const partSizes = [5 * MiB, 8 * MiB, 65_536];
  // 12 MiB + 17 passes OFF_THREAD_MIN, so dist/ hashes it on the worker.
  const sizes = [0, 1, 4097, 12 * MiB + 17];
  for (const size of sizes) {
    const data = randomBytes(size);
    const want = expected(data, partSizes);
    it.each(chunkings)(`${size} bytes, %s chunks`, async (_c, sizesOf) => {
      for (const transfer of [false, true]) {
        const h = pool.startStreamHash(partSizes, size);
        for (const b of chunk(data, sizesOf)) await h.update(b, transfer);
        expect(await h.digest()).toEqual(want);
        h.abort(); // after digest: a no-op
      }
    });
  }

  it('keeps streams apart when they interleave', async () => {
    const a = randomBytes(10 * MiB);
    const b = randomBytes(9 * MiB + 5);
    const ha = pool.startStreamHash([], a.length);
    const hb = pool.startStreamHash([5 * MiB], b.length);
    const ca = chunk(a, () => MiB);
    const cb = chunk(b, () => 700_000);
    for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
      if (ca[i]) await ha.update(ca[i]!);
      if (cb[i]) await hb.update(cb[i]!, true);
    }
    expect(await hb.digest()).toEqual(expected(b, [5 * MiB]));
    expect(await ha.digest()).toEqual(expected(a, []));
  });

  it('rejects use after abort', async () => {
    const h = pool.startStreamHash([], 10 * MiB);
    await h.update(randomBytes(MiB));
    h.abort();
    await expect(h.digest()).rejects.toThrow();
    await expect(h.update(randomBytes(10))).rejects.toThrow();
  });
});

describe.each(pools)('hashFileAsync progress: %s', (_name, pool) => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-hash-progress-'));
  // Below SYNC_MAX (read in one go), in-thread, and past OFF_THREAD_MIN (dist/: on the worker).
  it.each([500 * 1024, 3 * MiB + 5, 12 * MiB + 17, 21 * MiB])('%i bytes', async (size) => {
    const data = randomBytes(size);
    const file = path.join(dir, `f${size}`);
    writeFileSync(file, data);
    const reads: number[] = [];
    const h = await pool.hashFile(file, size, [5 * MiB], (n) => reads.push(n));
    expect(h).toMatchObject(expected(data, [5 * MiB]));
    if (size < fromSource.SYNC_MAX) expect(reads).toEqual([]);
    else {
      // Every byte, once, in a few steps: never one per 64 KiB chunk.
      expect(reads.reduce((a, b) => a + b, 0)).toBe(size);
      expect(reads.length).toBeLessThanOrEqual(Math.ceil(size / MiB));
      expect(reads.length).toBeGreaterThanOrEqual(Math.ceil(size / (4 * MiB)));
    }
  });
});

describe.runIf(distBuilt)('hash worker lifetime', () => {
  // An aborted or abandoned stream must not keep the process alive.
  it.each(['abort', 'abandon', 'digest'])('process exits after %s', (how) => {
    const script = `
      const { HashPool } = await import(${JSON.stringify(DIST_POOL.href)});
      const h = new HashPool().startStreamHash([5 * 1024 * 1024], 64 * 1024 * 1024);
      for (let i = 0; i < 20; i++) await h.update(Buffer.alloc(1024 * 1024, i), i % 2 === 0);
      if (${JSON.stringify(how)} === 'abort') h.abort();
      if (${JSON.stringify(how)} === 'digest') console.log((await h.digest()).md5);
    `;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 's3sync-hash-stream-')), 'run.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { timeout: 20_000, encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    if (how === 'digest') expect(r.stdout.trim()).toMatch(/^[0-9a-f]{32}$/);
  });
});
