/** When a run over a --files-from list looks its objects up by HEAD rather than listing the destination. */
import { describe, expect, it } from 'vitest';
import { headsInstead } from '../../src/sync/selection.js';

describe('headsInstead', () => {
  it.each([
    ['no manifest: one page estimated, ten HEADs are cheaper', 10, 0, true],
    ['no manifest: eleven HEADs cost more than one page', 11, 0, false],
    ['an empty list: nothing to look up', 0, 0, true],
    ['10 of 10,000 known objects: ten pages estimated', 10, 10_000, true],
    ['100 of 10,000: as many HEADs as ten pages are worth', 100, 10_000, true],
    ['101 of 10,000: the listing is cheaper', 101, 10_000, false],
    ['a partial page counts as a page', 20, 1001, true],
    ['1,000 of a million', 1000, 1_000_000, true],
  ])('%s', (_why, listed, entries, want) => {
    expect(headsInstead(listed, entries)).toBe(want);
  });
});
