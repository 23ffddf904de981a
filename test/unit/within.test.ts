/** `within`: whether a path or a folder above it is among the paths a scan could not read. */
import { describe, expect, it } from 'vitest';
import { within } from '../../src/sync/prelude.js';

describe('within', () => {
  const failed = new Set(['locked', 'a/b/secret.txt', 'x y/z']);
  it.each<[string, boolean]>([
    ['locked', true],
    ['locked/x.txt', true],
    ['locked/deep/er/x.txt', true],
    ['lockedx', false],
    ['locked.txt', false],
    ['a/b/secret.txt', true],
    ['a/b/secret.txt.bak', false],
    ['a/b', false],
    ['a/b/other.txt', false],
    ['x y/z/w', true],
    ['x y', false],
    ['', false],
  ])('%s: %s', (rel, expected) => {
    expect(within(failed, rel)).toBe(expected);
  });

  it('nothing is within an empty set', () => {
    expect(within(new Set(), 'locked/x.txt')).toBe(false);
  });
});
