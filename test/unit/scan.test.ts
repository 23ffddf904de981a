import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holdsAnything, scanDirectory, scanDirectoryYielding } from '../../src/local/scan.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
const newRoot = () => {
  const r = mkdtempSync(path.join(tmpdir(), 's3sync-scan-'));
  roots.push(r);
  return r;
};

/** `dirs` nested directories of `perDir` files, a symlink and s3sync's state folder. */
function tree(dirs: number, perDir: number): string {
  const root = newRoot();
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, `d${d % 7}`, `sub${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perDir; f++) writeFileSync(path.join(dir, `f${f}.txt`), `${d}/${f}`);
  }
  symlinkSync(path.join(root, 'd0'), path.join(root, 'link'));
  mkdirSync(path.join(root, '.s3sync'));
  writeFileSync(path.join(root, '.s3sync', 'state.json'), '{}');
  return root;
}

const opts = { skipDir: (rel: string) => rel === '.s3sync' };

describe('scanDirectoryYielding', () => {
  it('finds exactly what the synchronous scan finds, in the same order', async () => {
    const root = tree(40, 25);
    const sync = scanDirectory(root, opts);
    expect(sync.files).toHaveLength(1000);
    expect(sync.notices.map((n) => n.rel)).toEqual(['link']);
    expect(await scanDirectoryYielding(root, opts)).toEqual(sync);
  });

  it('gives the event loop turns while it reads a large tree', async () => {
    const root = tree(100, 60);
    let done = false;
    let turnsDuringScan = 0;
    const tick = () => {
      if (done) return;
      turnsDuringScan++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const scan = await scanDirectoryYielding(root, opts);
    done = true;
    expect(scan.files).toHaveLength(6000);
    // 6,000 lstat calls take well over the 4 ms slice: the loop turned more than once meanwhile.
    expect(turnsDuringScan).toBeGreaterThan(1);
  });
});

describe('holdsAnything', () => {
  it('ignores only the named entry, and calls an unreadable directory empty', () => {
    const root = newRoot();
    expect(holdsAnything(root, '.s3sync')).toBe(false);
    mkdirSync(path.join(root, '.s3sync'));
    expect(holdsAnything(root, '.s3sync')).toBe(false);
    writeFileSync(path.join(root, 'a'), '');
    expect(holdsAnything(root, '.s3sync')).toBe(true);
    expect(holdsAnything(path.join(root, 'missing'), '.s3sync')).toBe(false);
  });
});
