/**
 * The counts of files a watch's summary gives, as a table: the tree as last known is the manifest as
 * the last run saved it plus the files not yet sent; unchanged are the manifest's files not sent since
 * the watch started, nor waiting, nor failing; pending the files that changed and were not sent.
 */
import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { PathScope } from '../../src/watch/scope.js';
import { type Found, treeAsKnown } from '../../src/watch/tally.js';

const STARTED = Date.parse('2024-05-01T12:00:00.000Z');
const entry = (syncedAt: string): ManifestEntry => ({
  size: 1,
  mtimeNs: '0',
  ctimeNs: '0',
  ino: '1',
  md5: 'd41d8cd98f00b204e9800998ecf8427e',
  etag: 'd41d8cd98f00b204e9800998ecf8427e',
  partSize: 0,
  syncedAt,
});
const before = entry('2024-05-01T11:00:00.000Z');
const during = entry('2024-05-01T12:00:05.000Z');

const big = { ...before, size: 100 };

/** How the last run saw the tree in a row: --delete, and a --max-size. */
type Seen = { deletes?: boolean; maxSize?: number };

describe('treeAsKnown', () => {
  it.each<[string, Record<string, ManifestEntry>, string[], string[], string[], object, Seen?]>([
    [
      'nothing changed: every file unchanged',
      { a: before, b: before },
      [],
      [],
      ['a', 'b'],
      { scanned: 2, unchanged: 2, pending: 0 },
    ],
    [
      'a file sent during the watch is not unchanged',
      { a: before, b: during },
      [],
      [],
      ['a', 'b'],
      { scanned: 2, unchanged: 1, pending: 0 },
    ],
    [
      'a new file not yet sent is pending, and of the tree',
      { a: before },
      ['n'],
      [],
      ['a', 'n'],
      { scanned: 2, unchanged: 1, pending: 1 },
    ],
    [
      'a known file changed and not yet sent is pending, not unchanged',
      { a: before },
      ['a'],
      [],
      ['a'],
      { scanned: 1, unchanged: 0, pending: 1 },
    ],
    [
      'a pending directory or a path gone is no file left unsent',
      { a: before },
      ['d', 'gone'],
      [],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 0 },
    ],
    [
      'a failing file counts as failed, not pending nor unchanged',
      { a: before },
      ['a', 'n'],
      ['a', 'n'],
      ['a', 'n'],
      { scanned: 2, unchanged: 0, pending: 0 },
    ],
    [
      'the entries of files the filters leave out are no part of the tree, kept or gone',
      { a: before, 'x.log': before, 'gone.log': before },
      ['n.log'],
      [],
      ['a', 'x.log', 'n.log'],
      { scanned: 1, unchanged: 1, pending: 0 },
    ],
    [
      'a failing file counts whatever the filters say now: its error is in the summary',
      { a: before },
      [],
      ['f.log'],
      ['a', 'f.log'],
      { scanned: 2, unchanged: 1, pending: 0 },
    ],
    [
      'a removed file whose delete failed (a guard refused it): failed, no file of the tree, its delete pending',
      { a: before, gone1: before, gone2: before },
      [],
      ['gone1', 'gone2'],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 2 },
      { deletes: true },
    ],
    [
      'a folder removed whole, its deletes refused: the entries under it no files of the tree, each pending',
      { a: before, 'g/x': before, 'g/y/z': before },
      [],
      ['g'],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 2 },
      { deletes: true },
    ],
    [
      'a file removed, its event pending: no file of the tree, and no delete to do without --delete',
      { a: before, gone: before },
      ['gone'],
      [],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 0 },
    ],
    [
      'with --delete, a file removed whose entry is left is a delete still pending',
      { a: before, gone: before },
      ['gone'],
      [],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 1 },
      { deletes: true },
    ],
    [
      'a folder removed whole: every entry under it is gone (with --delete, each pending)',
      { a: before, 'sub/x': before, 'sub/y/z': before, subway: before },
      ['sub'],
      [],
      ['a', 'subway'],
      { scanned: 2, unchanged: 2, pending: 2 },
      { deletes: true },
    ],
    [
      'a removed file the filters leave out is no delete of this watch',
      { a: before, 'gone.log': before },
      ['gone.log'],
      [],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 0 },
      { deletes: true },
    ],
    [
      '--max-size: files over it are not counted, as a push does not scan them, whatever their entry says',
      { a: before, 'big-kept': big, 'big-now': before, 'big-grown': before },
      ['big-now', 'big-new', 'n'],
      [],
      ['a', 'big-kept', 'big-now', 'big-new', 'big-grown', 'n'],
      { scanned: 2, unchanged: 1, pending: 1 },
      { maxSize: 10 },
    ],
    [
      'with limits every entry is looked at: one whose file is gone is a delete pending (--delete)',
      { a: before, gone: before },
      [],
      [],
      ['a'],
      { scanned: 1, unchanged: 1, pending: 1 },
      { maxSize: 10, deletes: true },
    ],
    [
      'a folder made or moved in under a pending path: its files are pending, no event named them',
      { a: before },
      ['s2'],
      [],
      ['a', 's2/c', 's2/sub/d'],
      { scanned: 3, unchanged: 1, pending: 2 },
    ],
    [
      'a folder renamed, with --delete: its files under the new name, and deletes of the old',
      { a: before, 's/c': before, 's/d': before },
      ['s', 's2'],
      [],
      ['a', 's2/c', 's2/d'],
      { scanned: 3, unchanged: 1, pending: 4 },
      { deletes: true },
    ],
    [
      "a file replaced by a folder: the files in it pending, and with --delete the file's object",
      { a: before, f1: before },
      ['f1'],
      [],
      ['a', 'f1/x'],
      { scanned: 2, unchanged: 1, pending: 2 },
      { deletes: true },
    ],
    [
      'a pending file as its entry says (sent before the stop): unchanged when sent before the watch',
      { a: before, same1: before, same2: during },
      ['same1', 'same2'],
      [],
      ['a', 'same1', 'same2'],
      { scanned: 3, unchanged: 2, pending: 0 },
    ],
  ])('%s', (_reason, manifest, pending, failing, files, counts, seen = {}) => {
    // Files named big… are 100 bytes now, the others 1; same… are as their entries say.
    const size = (rel: string) => (rel.startsWith('big') ? 100 : 1);
    const scope = new PathScope(pending.filter((rel) => !failing.includes(rel)));
    const present = new Map(
      files
        .filter(scope.covers)
        .map((rel) => [rel, { size: size(rel), mtimeMs: 0, same: rel.startsWith('same') }] as const),
    );
    const found = (rel: string): Found =>
      files.includes(rel)
        ? { size: size(rel), mtimeMs: 0 }
        : files.some((f) => f.startsWith(`${rel}/`))
          ? 'dir'
          : undefined;
    const selected = (rel: string) => !rel.endsWith('.log');
    const fits = (n: number) => seen.maxSize === undefined || n <= seen.maxSize;
    expect(
      treeAsKnown(new Map(Object.entries(manifest)), STARTED, new Set(failing), {
        covered: scope.covers,
        present,
        found,
        selected,
        fits,
        limited: seen.maxSize !== undefined,
        deletes: seen.deletes === true,
      }),
    ).toEqual(counts);
  });
});
