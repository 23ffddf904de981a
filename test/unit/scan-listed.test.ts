/**
 * The scan of a list of paths finds at those paths exactly what the walk of the whole tree finds there:
 * through links (followed or not), past excluded directories, at directories, special files, missing
 * paths and paths under a file.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ScanOptions, scanDirectory } from '../../src/local/scan.js';
import { scanListed } from '../../src/local/scan-listed.js';

const root = mkdtempSync(path.join(tmpdir(), 's3sync-scan-listed-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const put = (rel: string, text = rel) => {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), text);
};
put('a.txt');
put('d/b.txt');
put('d/e/c.txt');
put('skip/x.txt');
put('outside/o.txt');
symlinkSync(path.join(root, 'd'), path.join(root, 'dirlink'));
symlinkSync(path.join(root, 'a.txt'), path.join(root, 'filelink'));
symlinkSync(path.join(root, 'nowhere'), path.join(root, 'broken'));
execFileSync('mkfifo', [path.join(root, 'fifo')]);

const LIST = [
  'a.txt',
  'd/b.txt',
  'd/e/c.txt',
  'skip/x.txt',
  'dirlink/b.txt',
  'dirlink/e/c.txt',
  'filelink',
  'broken',
  'fifo',
  'd',
  'missing.txt',
  'a.txt/under-a-file',
  'd/missing/deeper.txt',
  'outside/o.txt',
];

const variants: [string, ScanOptions][] = [
  ['links not followed', {}],
  ['links followed', { followSymlinks: true }],
  ['a directory skipped', { skipDir: (rel) => rel === 'skip' }],
  ['a file filter', { includeFile: (rel) => !rel.endsWith('c.txt') }],
  [
    'all together',
    { followSymlinks: true, skipDir: (rel) => rel === 'skip', includeFile: (rel) => rel !== 'd/b.txt' },
  ],
];

describe('scanListed', () => {
  it.each(variants)('finds what the walk finds at the listed paths: %s', (_why, opts) => {
    const listed = new Set(LIST);
    const walk = scanDirectory(root, opts);
    const found = scanListed(root, LIST, opts);
    const byRel = (a: { rel: string }, b: { rel: string }) => (a.rel < b.rel ? -1 : 1);
    expect(found.files.sort(byRel)).toEqual(walk.files.filter((f) => listed.has(f.rel)).sort(byRel));
    expect(found.errors.sort(byRel)).toEqual(walk.errors.filter((e) => listed.has(e.rel)).sort(byRel));
  });

  it('says why a listed path holding something is skipped', () => {
    const r = scanListed(root, LIST);
    expect(Object.fromEntries(r.notices.map((n) => [n.rel, n.message]))).toEqual({
      dirlink: 'symbolic link skipped (use --follow-symlinks to follow)',
      filelink: 'symbolic link skipped (use --follow-symlinks to follow)',
      broken: 'symbolic link skipped (use --follow-symlinks to follow)',
      fifo: 'not a regular file (FIFO, socket or device): skipped',
      d: 'a directory, not a file: skipped (list the files in it)',
    });
    const followed = scanListed(root, LIST, { followSymlinks: true });
    expect(followed.notices.map((n) => n.rel).sort()).toEqual(['d', 'fifo']);
    expect(followed.errors).toEqual([
      { rel: 'broken', message: expect.stringMatching(/^broken symbolic link: ENOENT/) },
    ]);
    expect(followed.files.map((f) => f.rel)).toContain('dirlink/e/c.txt');
  });

  it('refuses a link the caller refuses (pull: links leaving the target)', () => {
    const r = scanListed(root, ['dirlink/b.txt'], {
      followSymlinks: true,
      followLink: () => 'link leads outside the target',
    });
    expect(r.files).toEqual([]);
    expect(r.notices).toEqual([{ rel: 'dirlink', message: 'link leads outside the target: skipped' }]);
  });

  it('reports a key too long for S3 as the walk does', () => {
    const long = `${'x'.repeat(200)}/${'y'.repeat(200)}`;
    const r = scanListed(root, ['a.txt'], { keyPrefix: 'p'.repeat(1020) });
    expect(r.errors).toEqual([{ rel: 'a.txt', message: "key longer than S3's 1024-byte limit: skipped" }]);
    expect(scanListed(root, [long]).files).toEqual([]);
  });

  // The alias itself (one file found by two spellings) needs a filesystem that ignores case:
  // test/integration/case-insensitive.test.ts. Here, spellings that are distinct files stay files.
  it('keeps names that differ only in case where they are distinct files or hard links', () => {
    put('case/Readme', 'mixed');
    put('case/README', 'upper');
    put('case/Café', 'nfc');
    put('case/cafe\u0301', 'nfd');
    put('case/Hard');
    linkSync(path.join(root, 'case/Hard'), path.join(root, 'case/hard'));
    const list = [
      'case/Readme',
      'case/README',
      'case/readme',
      'case/Café',
      'case/cafe\u0301',
      'case/Hard',
      'case/hard',
    ];
    const r = scanListed(root, list);
    expect(r.errors).toEqual([]);
    expect(r.files.map((f) => f.rel)).toEqual(list.filter((rel) => rel !== 'case/readme'));
    const hard = r.files.filter((f) => f.rel.toLowerCase() === 'case/hard');
    expect(hard[0]?.ino).toBe(hard[1]?.ino);
  });

  it('keeps a file that two listed paths reach through a followed link', () => {
    const r = scanListed(root, ['d/b.txt', 'dirlink/b.txt', 'D/b.txt'], { followSymlinks: true });
    expect(r.errors).toEqual([]);
    expect(r.files.map((f) => f.rel)).toEqual(['d/b.txt', 'dirlink/b.txt']);
  });
});
