import type { ProviderQuirks } from './providers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Part sizes other tools commonly use: aws cli 8 MiB, rclone 5 MiB, lib-storage 5 MiB, s3sync 16 MiB … */
const COMMON_PART_SIZES = [5, 8, 10, 15, 16, 25, 32, 50, 64, 100, 128, 256, 512].map((m) => m * MiB);

/**
 * An ETag as s3sync compares it: without quotes, in lower case. Asked several times per object in a
 * run, mostly of ETags already normal or only quoted (`"…"`): those are sliced or returned as they
 * are, and only another ETag takes the replace and the case change.
 */
export function normalizeEtag(etag: string | undefined): string {
  if (etag === undefined) return '';
  const n = etag.length;
  const e = n >= 2 && etag.charCodeAt(0) === 34 && etag.charCodeAt(n - 1) === 34 ? etag.slice(1, -1) : etag;
  return NOT_NORMAL.test(e) ? e.replace(/"/g, '').toLowerCase() : e;
}
const NOT_NORMAL = /[^0-9a-z-]/;

export type EtagForm = { kind: 'md5' } | { kind: 'multipart'; parts: number } | { kind: 'opaque' };

const MD5_FORM: EtagForm = Object.freeze({ kind: 'md5' });
const OPAQUE_FORM: EtagForm = Object.freeze({ kind: 'opaque' });

export const etagForm = (etag: string): EtagForm => normalEtagForm(normalizeEtag(etag));

/** The form of an ETag `normalizeEtag` gave. */
export function normalEtagForm(e: string): EtagForm {
  if (/^[0-9a-f]{32}$/.test(e)) return MD5_FORM;
  const m = /^[0-9a-f]{32}-(\d+)$/.exec(e);
  if (m) return { kind: 'multipart', parts: Number(m[1]) };
  return OPAQUE_FORM;
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
export const S3_PART_LIMITS: PartLimits = Object.freeze({
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
