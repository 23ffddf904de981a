import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runsLine } from '../../bench/report.mjs';
import { compareFiles, etagMd5, hashedPaths, verifyPull } from '../../bench/verify.mjs';

const files = (o: Record<string, number | [number, string]>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? { size: v[0], md5: v[1] } : { size: v }]));

describe('compareFiles', () => {
  it('matches the same keys, sizes and MD5s, and counts them', () => {
    const v = compareFiles(files({ a: [3, 'x'], 'd/b': 5 }), files({ a: [3, 'x'], 'd/b': 5 }));
    expect(v).toEqual({ ok: true, files: 2, bytes: 8, expected: 2, hashed: 1 });
  });

  it('names what is missing, extra, resized or of other content, and counts only the matches', () => {
    const v = compareFiles(
      files({ a: 1, b: 2, c: [3, 'x'], d: 4 }),
      files({ a: 1, c: [3, 'y'], d: 5, junk: 9 }),
    );
    expect(v.ok).toBe(false);
    expect(v.files).toBe(1);
    expect(v.bytes).toBe(1);
    expect(v.reason).toBe(
      '1 (b) missing; 1 (junk) not in the dataset; 1 (d) of another size; 1 (c) of other content of 4 files',
    );
  });

  it('compares sizes alone where one side has no MD5', () => {
    expect(compareFiles(files({ a: [3, 'x'] }), files({ a: 3 })).ok).toBe(true);
  });
});

describe('etagMd5', () => {
  it('is the MD5 of a single-part ETag, none for a multipart one', () => {
    expect(etagMd5('"D41D8CD98F00B204E9800998ECF8427E"')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(etagMd5('"d41d8cd98f00b204e9800998ecf8427e-4"')).toBeUndefined();
    expect(etagMd5(undefined)).toBeUndefined();
  });
});

describe('hashedPaths', () => {
  it('hashes every file of a small tree and a spread sample of a large one', () => {
    expect(hashedPaths(['a', 'b']).size).toBe(2);
    const many = Array.from({ length: 100_000 }, (_, i) => `f${i}`);
    const s = hashedPaths(many);
    expect(s.size).toBe(2000);
    expect(s.has('f0') && s.has('f99950')).toBe(true);
  });
});

describe('verifyPull', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const tree = (root: string, o: Record<string, string>) => {
    for (const [rel, body] of Object.entries(o)) {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), body);
    }
  };

  it("passes a complete pull, its .s3sync state aside, and fails one that changed a file's bytes", () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bench-verify-'));
    const src = path.join(dir, 'src');
    const dest = path.join(dir, 'dest');
    tree(src, { 'a.txt': 'hello', 'd/e/b.txt': 'world' });
    tree(dest, { 'a.txt': 'hello', 'd/e/b.txt': 'world', '.s3sync/manifest': '{}' });
    expect(verifyPull(src, dest)).toMatchObject({ ok: true, files: 2, bytes: 10, hashed: 2 });
    writeFileSync(path.join(dest, 'd/e/b.txt'), 'WORLD');
    expect(verifyPull(src, dest).reason).toBe('1 (d/e/b.txt) of other content of 2 files');
  });
});

describe("the report's Runs line", () => {
  it('says rebuilds run at least 3 times', () => {
    const line = runsLine(['1k', '10k'], 5, (s) => ({ '1k': 3, '10k': 2 })[s] ?? 1);
    expect(line).toContain('first transfers 3 for 1k, 2 for 10k; rebuilds 3 for 1k, 3 for 10k');
  });
});
