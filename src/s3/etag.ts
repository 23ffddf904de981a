const MiB = 1024 * 1024;

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

/** The part size s3sync uses: the requested one, raised so no object needs more than maxParts parts. */
export function choosePartSize(
  size: number,
  requested: number,
  maxParts = 10_000,
  minPart = 5 * MiB,
): number {
  let ps = Math.max(requested, minPart);
  while (Math.ceil(size / ps) > maxParts) ps *= 2;
  return ps;
}
