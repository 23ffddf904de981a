import { lstatSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HashCache } from '../../src/local/hash-cache.js';
import { cleanup, MiB, tempDir, writeTree } from '../helpers.js';

const root = tempDir('hash-cancel');
afterAll(() => cleanup(root));

const files = {
  ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`small/${i}.bin`, 4096])),
  ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`mid/${i}.bin`, 2 * MiB])),
  ...Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`big/${i}.bin`, 9 * MiB])),
};
writeTree(root, files);

describe('HashCache.cancel: a cancelled run reads no more files', () => {
  it('drops every hash not started, with the reason; the running ones finish', async () => {
    const cache = new HashCache(root);
    const scanned = (rel: string, size: number) => {
      const st = lstatSync(path.join(root, rel));
      return { rel, size, dev: String(st.dev), ino: String(st.ino) };
    };
    for (const [rel, size] of Object.entries(files)) cache.prefetch(scanned(rel, size));
    const reason = new Error('cancelled by SIGINT');
    cache.cancel(reason);
    const outcomes = await Promise.all(
      Object.entries(files).map(([rel, size]) =>
        cache.get(scanned(rel, size)).then(
          () => ({ rel, ok: true }),
          (err: unknown) => ({ rel, ok: false, err }),
        ),
      ),
    );
    const failed = outcomes.filter((o) => !o.ok);
    for (const f of failed) expect((f as { err: unknown }).err, f.rel).toBe(reason);
    const done = (dir: string) => outcomes.filter((o) => o.ok && o.rel.startsWith(dir)).length;
    // Small files wait for a turn of the event loop: none was read.
    expect(done('small/')).toBe(0);
    // Two mid-size and at most two large ones were running when the run was cancelled.
    expect(done('mid/')).toBe(2);
    expect(done('big/')).toBeGreaterThanOrEqual(1);
    expect(done('big/')).toBeLessThanOrEqual(2);
  });
});
