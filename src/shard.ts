/**
 * Shards: a tree too large for one machine is split across N runs (`--shard I/N`, or `--shards N` with
 * I from the batch engine's array index), each owning the paths whose rel hashes to its index. The same
 * function decides for a local file and for a remote key (its rel, the key minus the prefix), so a run
 * uploads, lists, compares and deletes only within its shard, and the N shards partition every tree.
 */
import { createHash } from 'node:crypto';
import { usageError } from './errors.js';

/** Kubernetes' Indexed Job and AWS Batch's array job limits are 100,000 and 10,000. */
export const MAX_SHARDS = 100_000;

/** Shard `index` (0-based, as both engines count) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Where `--shards N` reads the index from: a Kubernetes Indexed Job's, then an AWS Batch array job's. */
export const SHARD_INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

const DIGITS = /^\d{1,9}$/;

/** `I/N` as a shard, or why it is not one (a hint for the usage error). */
export function parseShard(text: string): Shard | { hint?: string } {
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(text.trim());
  if (!m) return {};
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) return {};
  if (index >= count) return { hint: `shards count from 0: the last of ${count} is ${count - 1}/${count}` };
  return { index, count };
}

export const isShard = (v: Shard | { hint?: string }): v is Shard => 'count' in v;

export const formatShard = (s: Shard): string => `${s.index}/${s.count}`;

/**
 * The shard a rel path belongs to: the first 8 bytes of the SHA-256 of its UTF-8 bytes, as a big-endian
 * unsigned integer, modulo the count. Stable across machines, versions and runs, and uniform whatever
 * the names look like (a tree of `img-000001.jpg` splits as evenly as random names).
 */
export function shardOf(rel: string, count: number): number {
  if (count === 1) return 0;
  return Number(createHash('sha256').update(rel, 'utf8').digest().readBigUInt64BE(0) % BigInt(count));
}

/**
 * The shard a run owns, from its options (`shard`, or `shards` with the index from the environment);
 * undefined when it owns the whole tree. Every inconsistency is a usage error in one line.
 */
export function resolveShard(
  opts: { shard?: unknown; shards?: unknown },
  env: Readonly<Record<string, string | undefined>>,
): Shard | undefined {
  if (opts.shard !== undefined && opts.shards !== undefined)
    throw usageError('give shard (--shard) I/N or shards (--shards) N, not both');
  if (opts.shard !== undefined) {
    const s = typeof opts.shard === 'string' ? parseShard(opts.shard) : {};
    if (!isShard(s))
      throw usageError(
        `shard (--shard) must be I/N with 0 <= I < N <= ${MAX_SHARDS}, got ${JSON.stringify(opts.shard)}${s.hint ? `: ${s.hint}` : ''}`,
      );
    return s;
  }
  if (opts.shards === undefined) return undefined;
  const count = opts.shards;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > MAX_SHARDS)
    throw usageError(
      `shards (--shards) must be a whole number from 1 to ${MAX_SHARDS}, got ${JSON.stringify(count)}`,
    );
  const given = SHARD_INDEX_VARIABLES.filter((name) => env[name] !== undefined);
  if (given.length === 0)
    throw usageError(
      `shards (--shards) ${count} reads the shard's index from ${SHARD_INDEX_VARIABLES.join(' or ')}, and neither is set (or give --shard I/${count})`,
    );
  const values = new Set(given.map((name) => env[name]!.trim()));
  if (values.size > 1)
    throw usageError(
      `shards (--shards) ${count}: ${given.map((name) => `${name}=${JSON.stringify(env[name])}`).join(' and ')} disagree`,
    );
  const text = [...values][0]!;
  const index = DIGITS.test(text) ? Number(text) : Number.NaN;
  if (!(index < count))
    throw usageError(
      `shards (--shards) ${count}: ${given[0]} must be a whole number from 0 to ${count - 1}, got ${JSON.stringify(env[given[0]!])}`,
    );
  return { index, count };
}
