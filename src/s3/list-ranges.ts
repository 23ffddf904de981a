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

/** Keys sampled to place the split points: enough for even quantiles, cheap to sort for any tree. */
const SAMPLE = 4096;

/**
 * Up to this many known keys are sorted whole (~15 ms for 10k), so split points fall on page boundaries:
 * a range that holds whole pages and ends on a stored key costs no request beyond one stream's. Above it
 * ranges hold many pages, and the one extra page a sampled point may cost each is a small share.
 */
const EXACT = 20_000;

/**
 * Split points for listing `known` keys (the manifest's or the scan's rels) in at most `maxRanges`
 * ranges of at least MIN_PAGES_PER_RANGE pages each: sorted in S3's order, distinct, all past `reached`
 * (the last key the first range has read; its next page is taken to be in flight). None (one stream)
 * below 2 × MIN_PAGES_PER_RANGE pages of keys left.
 *
 * Where the keys are sorted whole, each range but the last ends on the last key of a whole page
 * counted from `reached`: if the store holds the known keys, every range stops on its own end point
 * (see `reached-end`) and the ranges make as many requests as one stream.
 */
export function chooseSplitPoints(
  known: readonly string[],
  maxRanges: number,
  pageSize: number,
  reached?: string,
): string[] {
  if (known.length <= EXACT) {
    const sorted = distinct([...known].sort(compareKeys));
    const from = reached === undefined ? 0 : countUpTo(sorted, reached);
    const pages = Math.ceil((sorted.length - from) / pageSize);
    const ranges = Math.min(maxRanges, Math.floor(pages / MIN_PAGES_PER_RANGE));
    if (ranges < 2) return [];
    const points: string[] = [];
    for (let r = 1; r < ranges; r++)
      points.push(sorted[from + Math.floor((r * pages) / ranges) * pageSize - 1] as string);
    return points;
  }
  const ranges = Math.min(maxRanges, Math.floor(known.length / (MIN_PAGES_PER_RANGE * pageSize)));
  if (ranges < 2) return [];
  // A strided sample: its quantiles are the whole set's, give or take a stride.
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

/** A sorted list without repeats. */
function distinct(sorted: string[]): string[] {
  return sorted.filter((k, i) => i === 0 || k !== sorted[i - 1]);
}

/** How many keys of a sorted, distinct list are at or before `key`. */
function countUpTo(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(sorted[mid] as string, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
