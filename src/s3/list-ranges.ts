/**
 * The pure half of parallel listing: S3's key order, where to split a prefix's key space, and the
 * checks that a set of range listings joins into exactly the one-stream listing.
 *
 * A range is `(after, end]`: ListObjectsV2's StartAfter is exclusive, so a key equal to a split point
 * belongs to the range that ends at it, and the next range (StartAfter = that split point) never sees it.
 */

/**
 * S3 lists keys in UTF-8 byte order, which is code point order. JS compares UTF-16 code units, which
 * differs only where a surrogate (a code point above U+FFFF) meets a character from U+E000 to U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs && !ys && y >= 0xe000) return 1;
    if (ys && !xs && x >= 0xe000) return -1;
    return x - y;
  }
  return a.length - b.length;
}

/** A range splits only if each would hold at least this many pages: fewer, and its requests are waste. */
export const MIN_PAGES_PER_RANGE = 2;

/** Keys sampled to place the split points of a set too large to select from exactly. */
const SAMPLE = 4096;

/**
 * Up to this many known keys the split points are selected exactly (a multi-quickselect, a fraction
 * of a sort's cost), so they fall on page boundaries: a range that holds whole
 * pages and ends on a stored key costs no request beyond one stream's. Above it the points come from a
 * sample, and the one page more a sampled point may cost a range is a small share of its pages.
 */
const EXACT = 150_000;

/** A key with a surrogate or a character from U+E000: only there JS order and byte order differ. */
const HIGH = /[\uD800-\uFFFF]/;

/** JS string order: byte order for keys without HIGH characters, and much faster than compareKeys. */
const jsOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Split points for listing `known` keys (the manifest's or the scan's rels) in at most `maxRanges`
 * ranges of at least MIN_PAGES_PER_RANGE pages each: sorted in S3's order, distinct, all past `reached`
 * (the last key the first range has read; its next page is taken to be in flight). None (one stream)
 * below 2 × MIN_PAGES_PER_RANGE pages of keys left.
 *
 * Each range but the last ends on the last key of a whole page counted from `reached`: if the store
 * holds the known keys, every range stops on its own end point (see `reached-end`) and the ranges make
 * as many requests as one stream.
 */
export function chooseSplitPoints(
  known: readonly string[],
  maxRanges: number,
  pageSize: number,
  reached?: string,
): string[] {
  if (known.length > EXACT) return sampledPoints(known, maxRanges, pageSize, reached);
  const cmp = known.some((k) => HIGH.test(k)) || HIGH.test(reached ?? '') ? compareKeys : jsOrder;
  let from = 0;
  if (reached !== undefined) for (const k of known) if (cmp(k, reached) <= 0) from++;
  const pages = Math.ceil((known.length - from) / pageSize);
  const ranges = Math.min(maxRanges, Math.floor(pages / MIN_PAGES_PER_RANGE));
  if (ranges < 2) return [];
  const ranks: number[] = [];
  for (let r = 1; r < ranges; r++) ranks.push(from + Math.floor((r * pages) / ranges) * pageSize - 1);
  const keys = [...known];
  selectRanks(keys, ranks, cmp);
  // Repeated keys (none in a manifest or a scan) could give one point twice: kept once.
  const points: string[] = [];
  for (const i of ranks) {
    const p = keys[i] as string;
    if (points.length === 0 || compareKeys(p, points[points.length - 1] as string) > 0) points.push(p);
  }
  return points;
}

/**
 * Moves keys so that each index in `ranks` (ascending) holds the key of that rank in `cmp` order, as a
 * sort would put it: quickselect for several ranks at once, each partition followed only where a rank
 * lies. Names that defeat its pivots would make it quadratic: past a budget of partitioned keys it sorts.
 */
export function selectRanks(
  keys: string[],
  ranks: readonly number[],
  cmp: (a: string, b: string) => number,
  budgetPerKey = 32,
): void {
  const todo: [number, number, number, number][] = [[0, keys.length - 1, 0, ranks.length - 1]];
  let budget = budgetPerKey * keys.length;
  for (let job = todo.pop(); job; job = todo.pop()) {
    const [lo, hi, rlo, rhi] = job;
    if (rlo > rhi || lo >= hi) continue;
    budget -= hi - lo + 1;
    if (budget < 0) {
      keys.sort(cmp);
      return;
    }
    const pivot = medianOfThree(keys[lo] as string, keys[(lo + hi) >> 1] as string, keys[hi] as string, cmp);
    // Hoare partition: [lo, j] <= pivot, [i, hi] >= pivot, and (j, i) all equal to it.
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (cmp(keys[i] as string, pivot) < 0) i++;
      while (cmp(keys[j] as string, pivot) > 0) j--;
      if (i <= j) {
        const t = keys[i] as string;
        keys[i++] = keys[j] as string;
        keys[j--] = t;
      }
    }
    let left = rlo;
    while (left <= rhi && (ranks[left] as number) <= j) left++;
    let right = left;
    while (right <= rhi && (ranks[right] as number) < i) right++;
    todo.push([lo, j, rlo, left - 1], [i, hi, right, rhi]);
  }
}

function medianOfThree(a: string, b: string, c: string, cmp: (a: string, b: string) => number): string {
  if (cmp(a, b) > 0) [a, b] = [b, a];
  if (cmp(b, c) > 0) b = cmp(a, c) > 0 ? a : c;
  return b;
}

/** Points at the quantiles of a strided sample, past `reached`: even, give or take a stride. */
function sampledPoints(
  known: readonly string[],
  maxRanges: number,
  pageSize: number,
  reached?: string,
): string[] {
  const ranges = Math.min(maxRanges, Math.floor(known.length / (MIN_PAGES_PER_RANGE * pageSize)));
  if (ranges < 2) return [];
  const stride = Math.max(1, Math.floor(known.length / SAMPLE));
  const sample: string[] = [];
  for (let i = 0; i < known.length; i += stride) sample.push(known[i] as string);
  sample.sort(compareKeys);
  const points: string[] = [];
  for (let r = 1; r < ranges; r++) {
    const p = sample[Math.floor((r * sample.length) / ranges)] as string;
    if (reached !== undefined && compareKeys(p, reached) <= 0) continue;
    if (points.length === 0 || compareKeys(p, points[points.length - 1] as string) > 0) points.push(p);
  }
  return points;
}

/** One range's listing as the joiner sees it. */
export interface RangeResult {
  /** StartAfter; undefined: the start of the prefix. */
  after: string | undefined;
  /** Last key the range owns; undefined: the end of the prefix. */
  end: string | undefined;
  /** The range's keys as the store returned them, pages concatenated, those past `end` included. */
  keys: readonly string[];
  /**
   * How the listing ended: a key past `end` seen; `end` itself read as the last key of a page (the
   * keys are strictly increasing, so nothing of the range can follow it); or the store said nothing
   * follows.
   */
  ended: 'passed-end' | 'reached-end' | 'exhausted';
}

/**
 * Why a range's keys cannot be trusted to join, or undefined. Keys must be strictly increasing in byte
 * order and after StartAfter: a store that lists in another order (a collation, encrypted keys) or
 * ignores StartAfter fails this, and is listed as one stream instead.
 */
export function rangeOrderProblem(
  after: string | undefined,
  prev: string | undefined,
  keys: readonly string[],
) {
  let last = prev ?? after;
  for (const k of keys) {
    if (last !== undefined && compareKeys(k, last) <= 0)
      return last === after && prev === undefined
        ? `key ${JSON.stringify(k)} is not after StartAfter ${JSON.stringify(after)}`
        : `key ${JSON.stringify(k)} listed after ${JSON.stringify(last)}: not in byte order`;
    last = k;
  }
  return undefined;
}

/**
 * Why the ranges do not join into one listing without gaps or overlaps, or undefined: they must tile
 * the key space (each starts after the split point the previous one ends at, the first at the start,
 * the last at the end), each must be in order, and each must have read up to its end point (or to the
 * end of the listing).
 */
export function joinProblem(ranges: readonly RangeResult[]): string | undefined {
  if (ranges.length === 0) return 'no ranges';
  if (ranges[0]?.after !== undefined) return 'the first range does not start at the prefix';
  if (ranges[ranges.length - 1]?.end !== undefined) return 'the last range does not run to the end';
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i] as RangeResult;
    if (i > 0 && r.after !== ranges[i - 1]?.end) return `range ${i} does not start where range ${i - 1} ends`;
    if (r.after !== undefined && r.end !== undefined && compareKeys(r.end, r.after) <= 0)
      return `range ${i} ends before it starts`;
    const order = rangeOrderProblem(r.after, undefined, r.keys);
    if (order) return `range ${i}: ${order}`;
    const last = r.keys[r.keys.length - 1];
    if (
      r.ended === 'passed-end' &&
      (r.end === undefined || last === undefined || compareKeys(last, r.end) <= 0)
    )
      return `range ${i} stopped before its end point`;
    if (r.ended === 'reached-end' && (r.end === undefined || last !== r.end))
      return `range ${i} stopped short of its end point`;
  }
  return undefined;
}

/** The keys a range owns: its keys up to and including `end` (they are in order: checked before). */
export function ownedCount(keys: readonly string[], end: string | undefined): number {
  if (end === undefined) return keys.length;
  let n = keys.length;
  while (n > 0 && compareKeys(keys[n - 1] as string, end) > 0) n--;
  return n;
}
