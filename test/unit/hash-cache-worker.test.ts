import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type * as fromSource from '../../src/local/hash-cache.js';
import { cleanup, tempDir } from '../helpers.js';

// Under vitest the worker is not compiled beside the sources: the worker's share is tested on dist/.
const distBuilt = existsSync(fileURLToPath(new URL('../../dist/local/hash-worker.js', import.meta.url)));
const fromDist: typeof fromSource | undefined = distBuilt
  ? await import(new URL('../../dist/local/hash-cache.js', import.meta.url).href)
  : undefined;

const root = tempDir('hash-cache-worker');
afterAll(() => cleanup(root));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** `n` small files of varied sizes (0 bytes to 40 KiB), with their MD5s. */
function smallFiles(dir: string, n: number) {
  mkdirSync(path.join(root, dir), { recursive: true });
  return Array.from({ length: n }, (_, i) => {
    const data = randomBytes((i * 7919) % (40 * 1024));
    const rel = `${dir}/${i}.bin`;
    writeFileSync(path.join(root, rel), data, { flag: 'w' });
    return { rel, data, md5: md5(data) };
  });
}

function scanned(rel: string, size: number) {
  const st = lstatSync(path.join(root, rel));
  return { rel, size, dev: String(st.dev), ino: String(st.ino) };
}

describe.skipIf(!fromDist)('HashCache from dist: small files shared with a worker thread', () => {
  it('hashes a long queue on both threads, every result that of its own file', async () => {
    const files = smallFiles('many', 1500);
    const cache = new fromDist!.HashCache(root);
    for (const f of files) cache.prefetch(scanned(f.rel, f.data.length));
    const got = await Promise.all(files.map((f) => cache.get(scanned(f.rel, f.data.length))));
    // The worker took batches: a thread was started, and no file's hash went to another file.
    expect(cache.pool.threads).toBeGreaterThan(0);
    expect(got.map((h) => h.md5)).toEqual(files.map((f) => f.md5));
    expect(got.map((h) => h.size)).toEqual(files.map((f) => f.data.length));
    await cache.close();
  });

  it('starts no thread for a short queue: it is hashed here sooner than a thread starts', async () => {
    const files = smallFiles('few', 200);
    const cache = new fromDist!.HashCache(root);
    for (const f of files) cache.prefetch(scanned(f.rel, f.data.length));
    const got = await Promise.all(files.map((f) => cache.get(scanned(f.rel, f.data.length))));
    expect(got.map((h) => h.md5)).toEqual(files.map((f) => f.md5));
    expect(cache.pool.threads).toBe(0);
    await cache.close();
  });

  it('cancelled with a batch at the worker: it finishes, every other hash gets the reason', async () => {
    const files = smallFiles('cancel', 1000);
    const cache = new fromDist!.HashCache(root);
    for (const f of files) cache.prefetch(scanned(f.rel, f.data.length));
    const reason = new Error('cancelled by SIGINT');
    cache.cancel(reason);
    const outcomes = await Promise.all(
      files.map((f) =>
        cache.get(scanned(f.rel, f.data.length)).then(
          (h) => ({ ok: true as const, right: h.md5 === f.md5 }),
          (err: unknown) => ({ ok: false as const, err }),
        ),
      ),
    );
    const done = outcomes.filter((o) => o.ok);
    // Two batches were at the worker (it holds two at a time): a quarter of the queue, 64, from its back
    // each time the queue reached 256. This thread had hashed none (it hashes on a later turn of the
    // event loop).
    expect(done.length).toBe(128);
    expect(done.every((o) => o.right)).toBe(true);
    for (const o of outcomes) if (!o.ok) expect(o.err).toBe(reason);
    await cache.close();
  });
});
