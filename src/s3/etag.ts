import type { ProviderQuirks } from './providers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Part sizes other tools commonly use: aws cli 8 MiB, rclone 5 MiB, lib-storage 5 MiB, s3sync 16 MiB … */
const COMMON_PART_SIZES = [5, 8, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512].map((m) => m * MiB);

export const normalizeEtag = (etag: string | undefined) => (etag ?? '').replace(/"/g, '').toLowerCase();

export type EtagForm = { kind: 'md5' } | { kind: 'multipart'; parts: number } | { kind: 'opaque' };

export function etagForm(etag: string): EtagForm {
  const e = normalizeEtag(etag);
  if (/^[0-9a-f]{32}$/.test(e)) return { kind: 'md5' };
  const m = /^[0-9a-f]{32}-(\d+)$/.exec(e);
  if (m) return { kind: 'multipart', parts: Number(m[1]) };
  return { kind: 'opaque' };
}

/**
 * Part sizes that produce exactly `parts` parts for `size` bytes: the recorded one first, then the
 * common sizes, then size/parts rounded up to a MiB and to a byte (tools that split evenly).
 */
export function candidatePartSizes(size: number, parts: number, recorded?: number): number[] {
  const fits = (ps: number) => ps > 0 && Math.ceil(size / ps) === parts;
  const even = Math.ceil(size / parts);
  const out = [recorded ?? 0, ...COMMON_PART_SIZES, Math.ceil(even / MiB) * MiB, even].filter(fits);
  return [...new Set(out)].slice(0, 4);
}

/** The part-size limits of a provider (see providers.ts). */
export type PartLimits = Pick<ProviderQuirks, 'maxParts' | 'minPartSize' | 'maxPartSize'>;

/** S3's own limits, which every provider in the table shares. */
const S3_PART_LIMITS: PartLimits = Object.freeze({
  maxParts: 10_000,
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
});

/**
 * The part size s3sync uses: the requested one within the provider's bounds, doubled until no object
 * needs more than maxParts parts, but never past maxPartSize (a larger part is refused by the server).
 */
export function choosePartSize(size: number, requested: number, limits: PartLimits = S3_PART_LIMITS): number {
  let ps = Math.min(Math.max(requested, limits.minPartSize), limits.maxPartSize);
  while (Math.ceil(size / ps) > limits.maxParts && ps < limits.maxPartSize)
    ps = Math.min(ps * 2, limits.maxPartSize);
  return ps;
}
