/** --files-from and --files-from0 lists: what a line means, and each bad line's one-line error. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { normalizeListed, parseFilesFrom, readFilesFrom } from '../../src/local/files-from.js';
import { usageErrorOf } from '../helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 's3sync-files-from-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (text: string) => parseFilesFrom(text, { nul: false, name: '--files-from l.txt' });
const nul = (text: string) => parseFilesFrom(text, { nul: true, name: '--files-from0 l.nul' });

describe('a --files-from list', () => {
  it.each([
    ['one path per line', 'a.txt\nb/c.txt\n', ['a.txt', 'b/c.txt']],
    ['no newline at the end', 'a.txt', ['a.txt']],
    ['comments and blank lines are skipped', '# generated\n\na.txt\n   \n#b.txt\n', ['a.txt']],
    ['a # later in a line is part of the name', 'a#1.txt\n', ['a#1.txt']],
    ['CRLF: the CR is dropped', 'a.txt\r\nb.txt\r\n', ['a.txt', 'b.txt']],
    [
      './ and doubled or inner slashes and dots go',
      './a.txt\nb//c.txt\nd/./e.txt\n',
      ['a.txt', 'b/c.txt', 'd/e.txt'],
    ],
    ['spaces inside and around a name are kept', ' a b.txt\nc.txt \n', [' a b.txt', 'c.txt ']],
    ['a backslash is an ordinary character', 'a\\b.txt\n', ['a\\b.txt']],
    ['duplicates once, in first-seen order', 'b\na\nb\n./a\n', ['b', 'a']],
    ['the state folder may be listed: the run leaves it out later', '.s3sync/x\n', ['.s3sync/x']],
    ['only comments: an empty list', '# nothing\n', []],
  ])('%s', (_why, text, want) => {
    expect(lines(text)).toEqual(want);
  });

  it.each([
    ['a parent directory', 'a.txt\n../etc/passwd\n', 2, "'..' is not allowed"],
    ['a parent directory inside the path', 'x/../../y\n', 1, "'..' is not allowed"],
    ['a parent directory that would stay inside is still refused', 'a/../b\n', 1, "'..' is not allowed"],
    ['an absolute path', '# c\n/etc/passwd\n', 2, 'absolute path'],
    ['a directory', 'a.txt\r\nb.txt\r\ndir/\r\n', 3, 'names a directory'],
    ['nothing once normalised', 'a\n./\n', 2, 'names a directory'],
    ['only dots', 'a\n.\n', 2, 'names no file'],
    ['a NUL in a line', 'a\nb\0c\n', 2, 'a NUL character'],
  ])('refuses %s, naming its line', (_why, text, line, message) => {
    const e = usageErrorOf(() => lines(text));
    expect(e.message).toContain(`--files-from l.txt line ${line}: ${message}`);
  });
});

describe('a --files-from0 list', () => {
  it.each([
    ['NUL-separated, a trailing NUL', 'a.txt\0b/c.txt\0', ['a.txt', 'b/c.txt']],
    ['newlines, # and CRs are part of names', 'a\nb\0#c\0d\r\0', ['a\nb', '#c', 'd\r']],
    ['empty entries are skipped', '\0\0a\0\0', ['a']],
  ])('%s', (_why, text, want) => {
    expect(nul(text)).toEqual(want);
  });

  it('refuses a bad entry, naming its number', () => {
    expect(usageErrorOf(() => nul('a\0/abs\0')).message).toContain(
      '--files-from0 l.nul entry 2: absolute path',
    );
    expect(usageErrorOf(() => nul('../x')).message).toContain("entry 1: '..' is not allowed");
  });
});

describe('normalizeListed', () => {
  it('gives the rel a key has', () => {
    expect(normalizeListed('./a//b/./c')).toBe('a/b/c');
  });
});

describe('readFilesFrom', () => {
  it('reads a file, or standard input for -', async () => {
    const f = path.join(dir, 'list.txt');
    writeFileSync(f, 'a\nb\n');
    expect(await readFilesFrom({ file: f, nul: false })).toEqual(['a', 'b']);
    expect(
      await readFilesFrom({ file: '-', nul: true }, Readable.from([Buffer.from('x\0y'), Buffer.from('\0z')])),
    ).toEqual(['x', 'y', 'z']);
  });

  it('a missing or unreadable list is a one-line usage error', async () => {
    for (const [file, message] of [
      [path.join(dir, 'missing.txt'), '--files-from file not found'],
      [dir, 'cannot read --files-from file'],
    ] as const) {
      const err = await readFilesFrom({ file, nul: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind).toBe('usage');
      expect((err as S3SyncError).message).toContain(message);
      expect((err as S3SyncError).message).not.toContain('\n');
    }
  });

  it('drops a byte order mark before the first path, and refuses an entry that is not UTF-8', async () => {
    const bom = path.join(dir, 'bom.txt');
    writeFileSync(bom, '\uFEFFa.txt\r\nb.txt\r\n');
    expect(await readFilesFrom({ file: bom, nul: false })).toEqual(['a.txt', 'b.txt']);
    const latin1 = Buffer.concat([
      Buffer.from('# caf\xe9 is fine in a comment\nok\ncaf', 'latin1'),
      Buffer.from([0xe9, 0x0a]),
    ]);
    const err = await readFilesFrom({ file: '-', nul: false }, Readable.from([latin1])).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as S3SyncError).message).toMatch(/^--files-from - line 3: not valid UTF-8/);
    const err0 = await readFilesFrom(
      { file: '-', nul: true },
      Readable.from([Buffer.concat([Buffer.from('ok\0caf'), Buffer.from([0xe9])])]),
    ).catch((e: unknown) => e);
    expect((err0 as S3SyncError).message).toMatch(/^--files-from0 - entry 2: not valid UTF-8/);
  });
});
