import { describe, expect, it } from 'vitest';
import {
  chooseSplitPoints,
  compareKeys,
  joinProblem,
  ownedCount,
  type RangeResult,
  rangeOrderProblem,
  selectRanks,
} from '../../src/s3/list-ranges.js';

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sign = (n: number) => Math.sign(n);

describe('compareKeys: S3 (UTF-8 byte) order, not JS string order', () => {
  const keys = [
    '',
    'a',
    'a/',
    'a/b',
    'ab',
    'B',
    'é',
    '日本',
    '\uE000',
    '\uFFFD',
    '😀',
    '😀a',
    '𝄞',
    'a😀',
    'a\uFFFF',
  ];
  it.each(keys.flatMap((a) => keys.map((b) => [a, b] as const)))('%j vs %j', (a, b) => {
    expect(sign(compareKeys(a, b))).toBe(sign(byteOrder(a, b)));
  });
  it('differs from JS order where a surrogate pair meets U+E000..U+FFFF', () => {
    expect('😀' < '\uE000').toBe(true);
    expect(compareKeys('😀', '\uE000')).toBeGreaterThan(0);
  });
});

describe('chooseSplitPoints', () => {
  const rels = (n: number) => Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, '0')}`);
  it.each([
    { n: 0, max: 16, page: 1000, ranges: 1, why: 'nothing known: one stream' },
    { n: 3000, max: 16, page: 1000, ranges: 1, why: 'under two ranges of two pages' },
    { n: 3001, max: 16, page: 1000, ranges: 2, why: 'four pages, the last a partial one' },
    { n: 4000, max: 16, page: 1000, ranges: 2, why: 'two ranges of two pages' },
    { n: 100_000, max: 16, page: 1000, ranges: 16, why: 'bounded by the concurrency' },
    { n: 100_000, max: 1, page: 1000, ranges: 1, why: 'one stream forced' },
    { n: 2500, max: 8, page: 100, ranges: 8, why: 'smaller pages split smaller prefixes' },
  ])('$n keys, at most $max ranges, pages of $page: $ranges range(s) ($why)', ({ n, max, page, ranges }) => {
    const points = chooseSplitPoints(rels(n), max, page);
    expect(points.length + 1).toBe(ranges);
  });

  it('points are sorted in byte order, distinct, and evenly spaced', () => {
    const known = rels(100_000).reverse();
    const points = chooseSplitPoints(known, 10, 1000);
    expect(points).toHaveLength(9);
    for (let i = 1; i < points.length; i++)
      expect(compareKeys(points[i]!, points[i - 1]!)).toBeGreaterThan(0);
    const at = points.map((p) => Number(p.slice(1)));
    for (let i = 0; i < at.length; i++) expect(Math.abs(at[i]! - (i + 1) * 10_000)).toBeLessThan(500);
  });

  it('sorts by bytes: emoji keys after U+FFFD keys', () => {
    const known = [
      ...Array.from({ length: 3000 }, (_, i) => `\uFFFD${i}`),
      ...Array.from({ length: 3000 }, (_, i) => `😀${i}`),
    ];
    const points = chooseSplitPoints(known, 2, 1000);
    expect(points).toHaveLength(1);
    // The middle of the byte order is the boundary between the two groups: the first range ends on
    // the last U+FFFD key.
    expect(points[0]!.startsWith('\uFFFD')).toBe(true);
    expect(points[0]).toBe('\uFFFD999');
  });

  it('duplicates collapse: one point, no repeated one', () => {
    expect(
      chooseSplitPoints(
        Array.from({ length: 10_000 }, () => 'same'),
        8,
        1000,
      ),
    ).toEqual(['same']);
    expect(
      chooseSplitPoints(
        Array.from({ length: 200_000 }, () => 'same'),
        8,
        1000,
      ),
    ).toEqual(['same']);
  });

  // Where a range holds whole pages and ends on a stored key, it stops on that key: the ranges then
  // make exactly as many requests as one stream (no partial page, no page read past an end).
  it.each([
    { n: 10_000, max: 16, page: 1000, reached: undefined, starts: [0, 2000, 4000, 6000, 8000] },
    { n: 10_000, max: 16, page: 1000, reached: 999, starts: [0, 3000, 5000, 7000] },
    { n: 10_000, max: 3, page: 1000, reached: 999, starts: [0, 4000, 7000] },
    { n: 10_500, max: 16, page: 1000, reached: 999, starts: [0, 3000, 5000, 7000, 9000] },
    { n: 2606, max: 8, page: 100, reached: 99, starts: [0, 400, 700, 1000, 1400, 1700, 2000, 2300] },
    { n: 12_000, max: 16, page: 1000, reached: 5999, starts: [0, 8000, 10_000] },
    { n: 8000, max: 16, page: 1000, reached: 4999, starts: [] },
  ])(
    '$n keys, $max ranges, pages of $page, first range at $reached: ranges of whole pages',
    ({ n, max, page, reached, starts }) => {
      const known = rels(n).reverse();
      const at = reached === undefined ? undefined : rels(n)[reached];
      const points = chooseSplitPoints(known, max, page, at);
      // Each point is the last key of its range: the next range starts on the key after it.
      expect(points.map((p) => Number(p.slice(1)) + 1)).toEqual(starts.slice(1));
      const first = reached === undefined ? 0 : reached + 1;
      for (const [i, start] of starts.slice(1).entries()) {
        const from = i === 0 ? first : (starts[i] as number);
        expect((start - from) % page).toBe(0);
        expect((start - from) / page).toBeGreaterThanOrEqual(2);
      }
    },
  );

  it('whole pages are counted in byte order, not in JS order', () => {
    const known = [
      ...Array.from({ length: 3000 }, (_, i) => `\uFFFD${String(i).padStart(4, '0')}`),
      ...Array.from({ length: 3000 }, (_, i) => `😀${String(i).padStart(4, '0')}`),
    ];
    expect(chooseSplitPoints(known, 2, 1000)).toEqual(['\uFFFD2999']);
    expect(chooseSplitPoints(known, 3, 1000)).toEqual(['\uFFFD1999', '😀0999']);
  });

  // The points are selected, not sorted for: checked against a sort of the same keys, in any input
  // order, with keys whose JS order is not their byte order, and at the size where selection stops.
  const shuffled = (keys: string[], seed: number) => {
    const out = [...keys];
    let x = seed;
    for (let i = out.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const j = x % (i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  };
  const tree = (n: number, odd: boolean) =>
    Array.from({ length: n }, (_, i) => {
      const leaf = `${(i * 2654435761) % 1_000_003}`;
      return odd && i % 7 === 0 ? `d${i % 13}/${i % 3 ? '😀' : '\uFFFD'}${leaf}` : `d${i % 13}/${leaf}`;
    });
  it.each([
    { n: 10_000, odd: false, seed: 1, max: 16, reached: undefined },
    { n: 10_000, odd: true, seed: 2, max: 16, reached: 3000 },
    { n: 100_000, odd: false, seed: 3, max: 16, reached: 999 },
    { n: 100_000, odd: true, seed: 4, max: 64, reached: 50_000 },
    { n: 150_000, odd: false, seed: 5, max: 16, reached: 999 },
  ])(
    '$n keys (byte order differs from JS order: $odd), input shuffled: the sorted keys at whole pages',
    ({ n, odd, seed, max, reached }) => {
      const keys = tree(n, odd);
      const sorted = [...keys].sort(compareKeys);
      const at = reached === undefined ? undefined : sorted[reached];
      const points = chooseSplitPoints(shuffled(keys, seed), max, 1000, at);
      const from = reached === undefined ? 0 : reached + 1;
      const pages = Math.ceil((n - from) / 1000);
      const ranges = Math.min(max, Math.floor(pages / 2));
      const want = Array.from(
        { length: ranges - 1 },
        (_, r) => sorted[from + Math.floor(((r + 1) * pages) / ranges) * 1000 - 1],
      );
      expect(points).toEqual(want);
    },
  );

  it('points stay past the first range when the keys are sampled (a large set)', () => {
    const known = rels(200_000);
    const points = chooseSplitPoints(known, 10, 1000, known[120_000]);
    expect(points.length).toBeGreaterThan(0);
    for (const p of points) expect(compareKeys(p, known[120_000]!)).toBeGreaterThan(0);
  });
});

describe('selectRanks', () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `k${(i * 7919) % 5003}`);
  const sorted = [...keys].sort(compareKeys);
  it.each([
    { why: 'quickselect', budget: undefined },
    { why: 'over its budget: sorted instead', budget: 0 },
    { why: 'over its budget midway', budget: 2 },
  ])('each rank holds the key a sort puts there ($why)', ({ budget }) => {
    const ranks = [0, 1, 999, 2500, 4998, 4999];
    for (const input of [[...keys], [...sorted], [...sorted].reverse()]) {
      selectRanks(input, ranks, compareKeys, budget);
      expect(ranks.map((r) => input[r])).toEqual(ranks.map((r) => sorted[r]));
      expect([...input].sort(compareKeys)).toEqual(sorted);
    }
  });
});

describe('rangeOrderProblem', () => {
  it.each([
    { after: undefined, prev: undefined, keys: ['a', 'b'], ok: true, why: 'increasing' },
    { after: 'a', prev: undefined, keys: ['a0', 'b'], ok: true, why: 'after StartAfter' },
    { after: 'b', prev: undefined, keys: ['a'], ok: false, why: 'StartAfter ignored' },
    { after: 'b', prev: undefined, keys: ['b'], ok: false, why: 'StartAfter key itself returned' },
    { after: undefined, prev: 'm', keys: ['c'], ok: false, why: 'next page goes back' },
    { after: undefined, prev: undefined, keys: ['B', 'a', 'b'], ok: true, why: 'upper case sorts first' },
    { after: undefined, prev: undefined, keys: ['a', 'B'], ok: false, why: 'case-insensitive collation' },
    { after: undefined, prev: undefined, keys: ['\uFFFD', '😀'], ok: true, why: 'byte order' },
    { after: undefined, prev: undefined, keys: ['😀', '\uFFFD'], ok: false, why: 'JS string order' },
    { after: undefined, prev: undefined, keys: ['a', 'a'], ok: false, why: 'a key twice' },
    { after: undefined, prev: 'x', keys: [], ok: true, why: 'empty page' },
  ])('$why', ({ after, prev, keys, ok }) => {
    expect(rangeOrderProblem(after, prev, keys) === undefined).toBe(ok);
  });
});

describe('joinProblem', () => {
  const r = (
    after: string | undefined,
    end: string | undefined,
    keys: string[],
    ended: RangeResult['ended'],
  ): RangeResult => ({ after, end, keys, ended });
  it.each([
    { why: 'one stream', ranges: [r(undefined, undefined, ['a', 'b'], 'exhausted')], ok: true },
    {
      why: 'two ranges, the split key read by the first',
      ranges: [r(undefined, 'm', ['a', 'm', 'n'], 'passed-end'), r('m', undefined, ['n', 'z'], 'exhausted')],
      ok: true,
    },
    {
      why: 'a range passed its end on an empty-then-full page sequence',
      ranges: [r(undefined, 'm', ['l', 'p'], 'passed-end'), r('m', undefined, [], 'exhausted')],
      ok: true,
    },
    {
      why: 'a middle range that is empty but reached the end of the listing',
      ranges: [
        r(undefined, 'f', ['a', 'g'], 'passed-end'),
        r('f', 'm', [], 'exhausted'),
        r('m', undefined, [], 'exhausted'),
      ],
      ok: true,
    },
    { why: 'no ranges', ranges: [], ok: false },
    {
      why: 'gap: the second range starts after a later point',
      ranges: [r(undefined, 'm', ['a', 'n'], 'passed-end'), r('p', undefined, ['q'], 'exhausted')],
      ok: false,
    },
    {
      why: 'the first range does not start at the prefix',
      ranges: [r('a', undefined, ['b'], 'exhausted')],
      ok: false,
    },
    {
      why: 'the last range is bounded',
      ranges: [r(undefined, 'm', ['a', 'n'], 'passed-end')],
      ok: false,
    },
    {
      why: 'a range stopped on its end point, a stored key',
      ranges: [r(undefined, 'm', ['a', 'm'], 'reached-end'), r('m', undefined, ['n'], 'exhausted')],
      ok: true,
    },
    {
      why: 'stopped short of its end point, said to have reached it',
      ranges: [r(undefined, 'm', ['a', 'l'], 'reached-end'), r('m', undefined, ['n'], 'exhausted')],
      ok: false,
    },
    {
      why: 'an unbounded range said to have reached its end',
      ranges: [r(undefined, undefined, ['a', 'm'], 'reached-end')],
      ok: false,
    },
    {
      why: 'stopped before its end point',
      ranges: [r(undefined, 'm', ['a', 'c'], 'passed-end'), r('m', undefined, ['n'], 'exhausted')],
      ok: false,
    },
    {
      why: 'overlap: the second range returned a key before its StartAfter',
      ranges: [r(undefined, 'm', ['a', 'n'], 'passed-end'), r('m', undefined, ['k', 'n'], 'exhausted')],
      ok: false,
    },
    {
      why: 'out of order within a range',
      ranges: [r(undefined, 'm', ['c', 'a', 'n'], 'passed-end'), r('m', undefined, ['n'], 'exhausted')],
      ok: false,
    },
    {
      why: 'a range that ends before it starts',
      ranges: [
        r(undefined, 'm', ['a', 'n'], 'passed-end'),
        r('m', 'c', ['n'], 'passed-end'),
        r('c', undefined, [], 'exhausted'),
      ],
      ok: false,
    },
  ])('$why', ({ ranges, ok }) => {
    expect(joinProblem(ranges) === undefined).toBe(ok);
  });
});

describe('ownedCount: a key equal to the end point belongs to the range', () => {
  it.each([
    { keys: ['a', 'm', 'n'], end: 'm', n: 2 },
    { keys: ['a', 'l'], end: 'm', n: 2 },
    { keys: ['n', 'o'], end: 'm', n: 0 },
    { keys: [], end: 'm', n: 0 },
    { keys: ['a', 'z'], end: undefined, n: 2 },
    { keys: ['\uFFFD', '😀'], end: '\uFFFF', n: 1 },
  ])('$keys up to $end: $n', ({ keys, end, n }) => {
    expect(ownedCount(keys, end)).toBe(n);
  });
});
