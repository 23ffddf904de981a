/**
 * `mkdir -p` one level at a time: what it makes, what it leaves, and the paths where Node's recursive
 * mkdir loops for good (mkdir answers ENOENT under a parent that exists), which throw here instead.
 */
import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirs } from '../../src/local/make-dirs.js';
import { trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

describe('makeDirs', () => {
  it('makes every missing level, and leaves a folder that is there as it is', () => {
    const root = dir('mkd');
    const deep = path.join(root, 'a', 'b', 'c');
    makeDirs(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    const before = statSync(path.join(root, 'a')).mtimeMs;
    makeDirs(deep);
    makeDirs(path.join(root, 'a'));
    expect(statSync(path.join(root, 'a')).mtimeMs).toBe(before);
  });

  it('goes through a link to a folder, as mkdir -p does', () => {
    const root = dir('mkd-link');
    mkdirSync(path.join(root, 'real'));
    symlinkSync(path.join(root, 'real'), path.join(root, 'via'));
    makeDirs(path.join(root, 'via', 'x', 'y'));
    expect(statSync(path.join(root, 'real', 'x', 'y')).isDirectory()).toBe(true);
  });

  it('a file on the way: ENOTDIR, nothing made past it', () => {
    const root = dir('mkd-file');
    writeFileSync(path.join(root, 'f'), 'data');
    expect(() => makeDirs(path.join(root, 'f', 'x', 'y'))).toThrow(
      expect.objectContaining({ code: 'ENOTDIR' }),
    );
    expect(statSync(path.join(root, 'f')).isFile()).toBe(true);
  });

  it.each([['/proc/s3sync-no-such'], ['/proc/s3sync-no-such/a/b'], ['/proc/self/fd/s3sync-no-such/x']])(
    '%s: ENOENT at once, where recursive mkdir never returns',
    (p) => {
      expect(() => makeDirs(p)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    },
  );
});
