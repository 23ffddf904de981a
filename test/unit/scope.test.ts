/**
 * The part of the tree a watch batch reads: the paths events named, a directory standing for
 * everything under it; the walk enters only the directories that lead to one.
 */
import { describe, expect, it } from 'vitest';
import { PathScope, parentDir } from '../../src/watch/scope.js';

describe('PathScope', () => {
  const scope = new PathScope(['a/b/file.txt', 'new-dir', 'top.txt']);

  it.each<[string, string, boolean]>([
    ['a named file', 'a/b/file.txt', true],
    ['a file at the top', 'top.txt', true],
    ['a file under a named directory', 'new-dir/x/y.bin', true],
    ['the named directory itself', 'new-dir', true],
    ['a sibling of a named file', 'a/b/other.txt', false],
    ['a name that only starts like a named directory', 'new-dir2/x', false],
    ['an ancestor of a named file is not itself covered', 'a/b', false],
    ['anything else', 'z.txt', false],
  ])('covers: %s (%s)', (_reason, rel, covered) => {
    expect(scope.covers(rel)).toBe(covered);
  });

  it.each<[string, string, boolean]>([
    ['a directory leading to a named file', 'a', true],
    ['its subdirectory', 'a/b', true],
    ['a named directory', 'new-dir', true],
    ['a directory under a named one', 'new-dir/x', true],
    ['a directory elsewhere', 'c', false],
    ['a directory beside the path to a named file', 'a/c', false],
  ])('entersDir: %s (%s)', (_reason, dir, enters) => {
    expect(scope.entersDir(dir)).toBe(enters);
  });

  it.each(['top.txt', 'a/b/c/deep.txt', 'a', 'new-dir2/x', '.hidden/y'])(
    'everything covers and enters every path (%s)',
    (rel) => {
      const all = PathScope.everything();
      expect(all.covers(rel)).toBe(true);
      expect(all.entersDir(rel)).toBe(true);
    },
  );

  it('counts its paths once each', () => {
    expect(new PathScope(['x', 'x', 'y']).size).toBe(2);
  });
});

describe('parentDir: the folder whose other entries a batch looks at when a path in it is gone', () => {
  it.each<[string, string, string]>([
    ['a file at the top is in the root', 'x.txt', ''],
    ['a file in a folder', 'a/x.txt', 'a'],
    ['a file deeper down', 'a/b/x.txt', 'a/b'],
  ])('%s (%s)', (_reason, rel, dir) => {
    expect(parentDir(rel)).toBe(dir);
  });
});
