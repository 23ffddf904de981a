import { S3SyncError } from '../errors.js';
import { Limiter } from '../limiter.js';
import type { CopyResult, ObjectHeaders, SourceLayout } from './copy.js';
import { httpStatus, isFatal } from './errors.js';
import { etagForm, normalizeEtag, type PartLimits, S3_PART_LIMITS } from './etag.js';
import type { S3Requests } from './requests.js';
import { s3 } from './sdk.js';

/**
 * Whether a server-side copy wrote its source's bytes, judged from ETags (see copiedOther), and the
 * HEADs it takes: of the source, and of its parts, to copy along them.
 */

/** The encryption a response names; 'SSE-C' for a customer key. */
export const sseOf = (r: { ServerSideEncryption?: string; SSECustomerAlgorithm?: string }) =>
  r.SSECustomerAlgorithm ? 'SSE-C' : r.ServerSideEncryption;

/** An ETag that is the MD5 of the bytes only when the object is not under a KMS or customer key. */
export const md5Unless = (sse: string | undefined) => sse === undefined || !/kms|SSE-C/i.test(sse);

/**
 * Whether a copy wrote another object than its source: its ETag differs from the source's listed
 * one, both MD5s (a store that misreads CopySource copies the object of another key: s3rver reads
 * `h%23i` for `h#i`), or, for a copy in parts made along the source's parts, from the source's ETag
 * as it was read then. Only a mismatch costs requests, a HEAD of the source: a source under a KMS or
 * customer key lists an ETag that is no MD5, so differs from any copy's, and is not taken for one;
 * nor is a source written since its listing whose ETag is now the copy's. A copy in parts whose
 * source proves to have parts of other sizes than its first one's (a HEAD of each) is not judged.
 * A copy in parts without alongSource is not judged: its ETag depends on the part layout.
 */
export async function copiedOther(
  requests: S3Requests,
  input: {
    bucket: string;
    key: string;
    versionId?: string;
    listed: string;
    got: CopyResult;
    signal?: AbortSignal;
  },
): Promise<boolean> {
  const { listed, got } = input;
  const along = got.alongSource;
  if (got.etag === (along?.etag ?? listed) || !md5Unless(got.sse)) return false;
  if (along) {
    if (etagForm(got.etag).kind !== 'multipart') return false;
  } else if (etagForm(listed).kind !== 'md5' || etagForm(got.etag).kind !== 'md5') return false;
  const head = await headObject(requests, input);
  if (head === null) return true;
  if (!md5Unless(head.sse) || head.etag === got.etag) return false;
  if (along && head.etag === along.etag) return layoutHolds(requests, input, along, head.size);
  return true;
}

/** Parts of a source HEADed at a time to prove its layout. */
const LAYOUT_HEADS = 4;

/**
 * Whether every part of the source has the size `layout` gives it: one HEAD per part after the first,
 * made only once a copy along that layout came out with another ETag than the source's.
 */
async function layoutHolds(
  requests: S3Requests,
  source: { bucket: string; key: string; versionId?: string; signal?: AbortSignal },
  layout: SourceLayout,
  size: number,
): Promise<boolean> {
  const ranges = partRanges(size, layout.partSize);
  if (ranges.length !== layout.parts) return false;
  const slots = new Limiter(LAYOUT_HEADS);
  const sizes = await Promise.all(
    ranges
      .slice(1)
      .map((r) =>
        slots.run(
          async () => (await headObject(requests, { ...source, partNumber: r.n }))?.partLength,
          source.signal,
        ),
      ),
  );
  return sizes.every((n, i) => n === ranges[i + 1]!.end - ranges[i + 1]!.start + 1);
}

/**
 * The part size that copies a multipart source along its own parts, from a HEAD of its part 1: the
 * parts all of part 1's size but the last (as every common tool makes them), as the ETag's part count
 * and the store's parts count agree. Undefined where the store answered the whole object (it ignores
 * PartNumber: s3rver), the count disagrees, or the provider's limits refuse that layout.
 */
export function sourcePartSize(
  size: number,
  etag: string,
  part: { length?: number; count?: number },
  limits: PartLimits = S3_PART_LIMITS,
): number | undefined {
  const form = etagForm(etag);
  const p1 = part.length;
  if (form.kind !== 'multipart' || p1 === undefined || p1 <= 0) return undefined;
  if (part.count !== undefined && part.count !== form.parts) return undefined;
  if (form.parts > limits.maxParts || p1 > limits.maxPartSize) return undefined;
  if (form.parts === 1) return p1 === size ? p1 : undefined;
  if (p1 >= size) return undefined;
  return Math.ceil(size / p1) === form.parts ? p1 : undefined;
}

/** What a HEAD tells of an object: its headers, ETag, size and restore state (x-amz-restore). */
export interface ObjectHead extends ObjectHeaders {
  etag: string;
  size: number;
  restore?: string;
  /** Its encryption (see CopyResult.sse). */
  sse?: string;
  /** Asked with a PartNumber: that part's length, and the object's part count where the store says it. */
  partLength?: number;
  partsCount?: number;
}

/** HeadObject of any bucket the transport's credentials reach; null when there is no such object. */
export async function headObject(
  requests: S3Requests,
  input: { bucket: string; key: string; versionId?: string; partNumber?: number; signal?: AbortSignal },
): Promise<ObjectHead | null> {
  return requests.call(async (request) => {
    try {
      const h = await requests.send(
        new (s3().HeadObjectCommand)({
          Bucket: input.bucket,
          Key: input.key,
          VersionId: input.versionId,
          PartNumber: input.partNumber,
        }),
        request,
      );
      const length = h.ContentLength ?? 0;
      // A part's answer gives the object's size in its Content-Range, where the store sends one.
      const total = /\/(\d+)$/.exec(h.ContentRange ?? '')?.[1];
      return {
        contentType: h.ContentType ?? 'application/octet-stream',
        metadata: h.Metadata ?? {},
        cacheControl: h.CacheControl,
        contentEncoding: h.ContentEncoding,
        contentDisposition: h.ContentDisposition,
        contentLanguage: h.ContentLanguage,
        expires: h.Expires,
        storageClass: h.StorageClass,
        etag: normalizeEtag(h.ETag),
        size: input.partNumber === undefined || total === undefined ? length : Number(total),
        restore: h.Restore,
        sse: sseOf(h),
        ...(input.partNumber !== undefined && { partLength: length, partsCount: h.PartsCount }),
      };
    } catch (err) {
      if (httpStatus(err) === 404) return null;
      throw err;
    }
  }, input.signal);
}

/**
 * The HEAD of a copy's source, of its part 1 when `part1`: a store that refuses PartNumber (rather
 * than ignore it) is asked again without, and the copy is made unchecked.
 */
export async function headForCopy(
  requests: S3Requests,
  source: { bucket: string; key: string; versionId?: string; signal?: AbortSignal },
  part1: boolean,
): Promise<ObjectHead | null> {
  if (!part1) return headObject(requests, source);
  try {
    return await headObject(requests, { ...source, partNumber: 1 });
  } catch (err) {
    if (source.signal?.aborted || (err instanceof S3SyncError && isFatal(err))) throw err;
    return headObject(requests, source);
  }
}

/** The byte ranges of a multipart copy, inclusive, as UploadPartCopy takes them. */
export function partRanges(size: number, ps: number): { n: number; start: number; end: number }[] {
  const out: { n: number; start: number; end: number }[] = [];
  for (let start = 0, n = 1; start < size; start += ps, n++)
    out.push({ n, start, end: Math.min(size, start + ps) - 1 });
  return out;
}
