/**
 * The size and age filters (--min-size, --max-size, --min-age, --max-age), as one pure predicate over
 * a file's size and modification time: push and check ask it about the local file (its mtime), pull
 * about the object (its size and LastModified), and the delete decisions about whichever side would be
 * deleted. Every bound is inclusive, as rclone's are: --min-size 1k keeps a file of exactly 1024 bytes,
 * --max-age 7d keeps a file modified exactly 7 days before the run started, --max-age 2026-11-01
 * keeps one modified at midnight UTC that day.
 */
import { usageError } from '../errors.js';
import { type Age, parseAge } from '../options/parse.js';

export interface SizeAgeLimits {
  minSize?: number;
  maxSize?: number;
  /** A duration ('7d', or milliseconds) or a point in time ('2026-11-01T10:00:00Z'). */
  minAge?: number | string;
  maxAge?: number | string;
}

export interface SizeAgeFilter {
  /** False when no size or age filter is given: every file fits, and callers skip the test. */
  readonly active: boolean;
  /** Whether a file of this size, modified at this time (ms since the epoch), is selected. */
  fits(size: number, mtimeMs: number): boolean;
}

/** The instant an age names: a duration counts back from `nowMs`, the run's start. */
export function ageCutoff(value: number | string, nowMs: number): number {
  const a: Age | string | undefined = typeof value === 'number' ? { ago: value } : parseAge(value);
  if (typeof a !== 'object') throw usageError(`not an age: ${JSON.stringify(value)}`);
  return 'at' in a ? a.at : nowMs - a.ago;
}

/**
 * The predicate for a run started at `nowMs`. Limits that can select nothing (a minimum above the
 * maximum) are a usage error: such a run would silently do nothing.
 */
export function sizeAgeFilter(limits: SizeAgeLimits, nowMs: number): SizeAgeFilter {
  const { minSize, maxSize } = limits;
  // --max-age bounds the mtime from below, --min-age from above.
  const from = limits.maxAge === undefined ? undefined : ageCutoff(limits.maxAge, nowMs);
  const to = limits.minAge === undefined ? undefined : ageCutoff(limits.minAge, nowMs);
  if (minSize !== undefined && maxSize !== undefined && minSize > maxSize)
    throw usageError(
      `minSize (--min-size) ${minSize} bytes is above maxSize (--max-size) ${maxSize} bytes: no file could be selected`,
    );
  // Only a file whose mtime lies ahead of the clock could fit: a mistake, never a selection.
  if (from !== undefined && from > nowMs)
    throw usageError(
      `maxAge (--max-age) ${iso(from)} is after the run's start: no file could be selected (did you mean minAge, --min-age?)`,
    );
  if (from !== undefined && to !== undefined && from > to)
    throw usageError(
      `maxAge (--max-age) ${iso(from)} is after minAge (--min-age) ${iso(to)}: no file could be selected`,
    );
  const active = [minSize, maxSize, from, to].some((x) => x !== undefined);
  return {
    active,
    fits: (size, mtimeMs) =>
      (minSize === undefined || size >= minSize) &&
      (maxSize === undefined || size <= maxSize) &&
      (from === undefined || mtimeMs >= from) &&
      (to === undefined || mtimeMs <= to),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A scanned file's mtime (nanoseconds, as a decimal string) in milliseconds, rounded down. */
export const mtimeMsOf = (mtimeNs: string): number => Number(BigInt(mtimeNs) / 1_000_000n);
