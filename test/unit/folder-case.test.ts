import { describe, expect, it } from 'vitest';
import { folderCaseClashes, otherFolderSpelling } from '../../src/plan/keys.js';

describe('folderCaseClashes: folders of one listing spelt in more than one case', () => {
  it('groups the spellings of each folder, at every depth, sorted', () => {
    const c = folderCaseClashes(['d2/Docs/x', 'd2/docs/y', 'd2/Docs/sub/z', 'A/b/1', 'a/B/2', 'top.txt']);
    expect([...c.entries()].sort()).toEqual([
      ['a', ['A', 'a']],
      ['a/b', ['A/b', 'a/B']],
      ['d2/docs', ['d2/Docs', 'd2/docs']],
    ]);
  });

  it('is empty for files differing in case only (another rule), markers, and one spelling', () => {
    expect(folderCaseClashes(['README', 'Readme', 'd/x', 'd/y', 'D/', 'e/']).size).toBe(0);
  });
});

describe('otherFolderSpelling: the topmost folder of a key not spelt as kept', () => {
  const clashes = folderCaseClashes(['d2/Docs/x', 'd2/docs/y', 'd2/Docs/A/1', 'd2/Docs/a/2', 'd2/docs/A/3']);
  const first = (_folded: string, spellings: readonly string[]) => spellings[0]!;
  it.each([
    ['d2/Docs/x', undefined],
    ['d2/docs/y', { folder: 'd2/docs', kept: 'd2/Docs' }],
    // The top one decides: under the other spelling, nothing deeper is looked at.
    ['d2/docs/A/3', { folder: 'd2/docs', kept: 'd2/Docs' }],
    ['d2/Docs/A/1', undefined],
    ['d2/Docs/a/2', { folder: 'd2/Docs/a', kept: 'd2/Docs/A' }],
    ['other/x', undefined],
  ])('%s', (rel, expected) => {
    expect(otherFolderSpelling(rel, clashes, first)).toEqual(expected);
  });

  it('keeps the spelling the caller says (the one on disk)', () => {
    const onDisk = (_f: string, spellings: readonly string[]) => spellings[spellings.length - 1]!;
    expect(otherFolderSpelling('d2/Docs/x', clashes, onDisk)).toEqual({ folder: 'd2/Docs', kept: 'd2/docs' });
    expect(otherFolderSpelling('d2/docs/y', clashes, onDisk)).toBeUndefined();
  });
});
