/**
 * Server-side copies: CopyObject, and above the multipart threshold CreateMultipartUpload +
 * UploadPartCopy in parallel ranges + Complete. No object byte passes through s3sync.
 */

import { createHash } from 'node:crypto';
import type {
  MetadataDirective,
  ObjectCannedACL,
  ServerSideEncryption,
  StorageClass,
} from '@aws-sdk/client-s3';
import { runError, S3SyncError } from '../errors.js';
import { Limiter } from '../limiter.js';
import { headForCopy, headObject, md5Unless, partRanges, sourcePartSize, sseOf } from './copy-check.js';
import { classRefused, errorCode, httpStatus } from './errors.js';
import { choosePartSize, etagForm, normalizeEtag, type PartLimits } from './etag.js';
import {
  abortMultipart,
  completeMultipartAnswer,
  createAccounted,
  type StraysOutcome,
  uploadPart,
} from './multipart.js';
import { fetchBytes } from './object-io.js';
import { inBucket, type S3Requests, type UploadSettings } from './requests.js';
import { s3 } from './sdk.js';

const GiB = 1024 ** 3;

/** The headers an object carries besides its bytes: what a copy keeps or replaces. */
export interface ObjectHeaders {
  contentType: string;
  metadata: Record<string, string>;
  cacheControl?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  /** When a cache should consider the object stale (a valid HTTP date only: the SDK sends a Date). */
  expires?: Date;
  storageClass?: string;
}

export interface CopyInput {
  sourceBucket: string;
  sourceKey: string;
  sourceVersionId?: string;
  /**
   * The source's ETag the copy was decided on (CopySourceIfMatch on every request): a source changed
   * since fails with 412 instead of being copied, where the store honours it (AWS does; s3rver and
   * Ceph RGW ignore it, so callers check the source first).
   */
  sourceIfMatch?: string;
  /**
   * The source's ETag as listed. A multipart one (`<md5>-N`) has a copy in parts made along the
   * source's own part boundaries where the store tells them, so that the copy's ETag must be the
   * source's (see CopyResult.alongSource).
   */
  sourceEtag?: string;
  /** Destination key, in the transport's bucket. */
  key: string;
  /** Source size: above the multipart threshold the copy is UploadPartCopy in parallel parts. */
  size: number;
  /** When given, the copy REPLACES headers (MetadataDirective REPLACE); else it copies them (COPY). */
  replace?: ObjectHeaders;
  signal?: AbortSignal;
  /** From this size a copy goes in parts; above 5 GiB (the most one CopyObject may copy) always. */
  multipartThreshold?: number;
  /** Part size of a multipart copy (raised to keep within the provider's part count). */
  partSize?: number;
  /** The provider's part limits (see providers.ts). */
  limits?: PartLimits;
  /**
   * The store's UploadPartCopy decodes its source twice (providers.ts): the parts of a source key
   * holding `%` are read and sent through this process. Unknown (undefined): as if it did.
   */
  partCopyDecodesSourceTwice?: boolean;
  /** Told what became of uploads a CreateMultipartUpload without an answer may have left (see createAccounted). */
  onStrays?: (r: StraysOutcome) => void;
}

export interface CopyResult {
  etag: string;
  /** The copy's encryption as the store says it: under aws:kms or SSE-C its ETag is no MD5. */
  sse?: string;
  /**
   * A copy in parts made along the source's own parts: the source's ETag when it was read (the copy's
   * must be the same), its part size and count. Absent: a copy in parts that cannot be judged.
   */
  alongSource?: SourceLayout;
}

/** A multipart source's part layout: `parts` parts of `partSize` bytes, the last one the rest. */
export interface SourceLayout {
  etag: string;
  partSize: number;
  parts: number;
}

/** CopySource: `bucket/key`, each key segment URL-encoded (a `/` stays a separator), and the version. */
export function copySource(bucket: string, key: string, versionId?: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  return `${encodeURIComponent(bucket)}/${path}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ''}`;
}

/** What a copy says of a source deleted between its listing and its copy. */
export const SOURCE_DELETED =
  'not copied: the source object was deleted since it was listed: nothing written';

/** The error of a copy whose source is gone: NoSuchKey, as the store says it of a CopyObject. */
export const sourceDeleted = (cause?: unknown) =>
  runError(
    SOURCE_DELETED,
    cause ??
      Object.assign(new Error('NoSuchKey'), {
        name: 'NoSuchKey',
        Code: 'NoSuchKey',
        $metadata: { httpStatusCode: 404 },
      }),
  );

/** A copy answered as if its source were not there: NoSuchKey, or NoSuchVersion for a version named. */
export function noSource(err: unknown): boolean {
  const cause = err instanceof S3SyncError && err.cause !== undefined ? err.cause : err;
  const code = errorCode(cause);
  return code === 'NoSuchKey' || code === 'NoSuchVersion';
}

/** An ETag as a precondition header takes it: quoted. */
const ifMatch = (etag: string | undefined) => (etag ? `"${etag}"` : undefined);

/** The SDK's fields for an object's headers. */
export function headerParams(h: ObjectHeaders) {
  return {
    ContentType: h.contentType,
    Metadata: h.metadata,
    CacheControl: h.cacheControl,
    ContentEncoding: h.contentEncoding,
    ContentDisposition: h.contentDisposition,
    ContentLanguage: h.contentLanguage,
    Expires: h.expires,
    StorageClass: h.storageClass as StorageClass | undefined,
  };
}

/**
 * The run's ACL and encryption, which a copy carries as an upload does: without them the object would
 * fall back to the bucket's defaults (lose public-read, or its KMS key).
 */
function runSettings(s: UploadSettings) {
  return {
    ACL: s.acl as ObjectCannedACL | undefined,
    ServerSideEncryption: s.sse as ServerSideEncryption | undefined,
    SSEKMSKeyId: s.sseKmsKeyId,
  };
}

/** True for the errors a store gives when it cannot server-side copy (NotImplemented, 501, 405). */
export function copyUnsupported(err: unknown): boolean {
  const cause = err instanceof S3SyncError && err.cause !== undefined ? err.cause : err;
  const code = errorCode(cause);
  const status = httpStatus(cause);
  return (
    code === 'NotImplemented' ||
    code === 'XNotImplemented' ||
    code === 'MethodNotAllowed' ||
    status === 501 ||
    status === 405
  );
}

/**
 * Whether a copy goes in parts: at or above the multipart threshold, as uploads do, and always above
 * 5 GiB, the most one CopyObject may copy. A source key holding `%` goes whole up to 5 GiB: Ceph RGW
 * decodes UploadPartCopy's source twice (another object read, or the gateway aborts), CopyObject's once.
 */
export const copiesInParts = (size: number, threshold: number | undefined, sourceKey: string) =>
  size > 5 * GiB || (threshold !== undefined && size >= threshold && !sourceKey.includes('%'));

/** A server-side copy into the transport's bucket: one CopyObject, or a multipart copy. */
export async function copyObject(requests: S3Requests, input: CopyInput): Promise<CopyResult> {
  if (copiesInParts(input.size, input.multipartThreshold, input.sourceKey))
    return copyInParts(requests, input);
  const r = await requests
    .call(
      (request) =>
        requests.send(
          new (s3().CopyObjectCommand)({
            Bucket: requests.bucket,
            Key: input.key,
            CopySource: copySource(input.sourceBucket, input.sourceKey, input.sourceVersionId),
            CopySourceIfMatch: ifMatch(input.sourceIfMatch),
            MetadataDirective: (input.replace ? 'REPLACE' : 'COPY') as MetadataDirective,
            ...(input.replace && headerParams(input.replace)),
            ...runSettings(requests.settings),
          }),
          request,
        ),
      input.signal,
    )
    .catch((err: unknown) => {
      throw classRefused(err, input.replace?.storageClass);
    });
  return { etag: normalizeEtag(r.CopyObjectResult?.ETag), sse: sseOf(r) };
}

/** Parts of one copy read and sent through this process at a time: each is held in memory. */
const PARTS_THROUGH = 2;

/**
 * CreateMultipartUpload with the source's headers (or the replacement), every part an UploadPartCopy
 * of its range, all under the transport's concurrency limit, then Complete. Any failure aborts the
 * upload, so no part is left billed, and so is an upload whose creation was cancelled or failed before
 * its answer came; a run killed meanwhile leaves it to `s3sync cleanup`. Where the
 * store's UploadPartCopy would misread the source's name, each part is a ranged GET of the source
 * (pinned to its ETag) and an UploadPart with its Content-MD5 instead.
 */
export async function copyInParts(requests: S3Requests, input: CopyInput): Promise<CopyResult> {
  const through = input.partCopyDecodesSourceTwice !== false && input.sourceKey.includes('%');
  // A multipart source's part 1 is HEADed instead of the whole: the same headers, and its layout.
  const layout =
    !through && input.sourceEtag !== undefined && etagForm(input.sourceEtag).kind === 'multipart';
  const head =
    input.replace !== undefined && !through && !layout
      ? undefined
      : await headForCopy(
          requests,
          {
            bucket: input.sourceBucket,
            key: input.sourceKey,
            versionId: input.sourceVersionId,
            signal: input.signal,
          },
          layout,
        );
  const headers = input.replace ?? head;
  if (!headers || head === null) throw sourceDeleted();
  // As the store answers a CopySourceIfMatch it honours (RGW ignores it on UploadPartCopy).
  if (head && input.sourceIfMatch !== undefined && head.etag !== input.sourceIfMatch)
    throw requests.fail(
      Object.assign(new Error('PreconditionFailed: the source object changed'), {
        name: 'PreconditionFailed',
        Code: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      }),
    );
  // As CopyObject with COPY does: the copy takes the destination's default class, not the source's.
  const createdWith: ObjectHeaders = input.replace ?? { ...headers, storageClass: undefined };
  const own =
    head?.partLength !== undefined && md5Unless(head.sse) && md5Unless(requests.settings.sse)
      ? sourcePartSize(
          input.size,
          head.etag,
          { length: head.partLength, count: head.partsCount },
          input.limits,
        )
      : undefined;
  const ps = own ?? choosePartSize(input.size, input.partSize ?? 64 * 1024 ** 2, input.limits);
  // Cancelled or failed before its answer came, the upload it may have made is aborted (createAccounted).
  const uploadId = await createAccounted(
    requests,
    input.key,
    async (onAttempt) => {
      const created = await requests
        .call((request) => {
          onAttempt();
          return requests.send(
            new (s3().CreateMultipartUploadCommand)({
              Bucket: requests.bucket,
              Key: input.key,
              ...headerParams(createdWith),
              ...runSettings(requests.settings),
            }),
            request,
          );
        }, input.signal)
        .catch((err: unknown) => {
          throw classRefused(err, createdWith.storageClass);
        });
      if (!created.UploadId) throw requests.fail(new Error('CreateMultipartUpload returned no UploadId'));
      return created.UploadId;
    },
    input.onStrays,
  );
  const source = copySource(input.sourceBucket, input.sourceKey, input.sourceVersionId);
  const from = inBucket(requests, input.sourceBucket);
  const slots = new Limiter(PARTS_THROUGH);
  // A part that fails dooms the upload: the parts still queued are neither fetched nor sent.
  const doomed = new AbortController();
  const signal = input.signal ? AbortSignal.any([input.signal, doomed.signal]) : doomed.signal;
  const partThrough = (n: number, start: number, end: number) =>
    slots
      .run(async () => {
        const got = await fetchBytes(from, {
          key: input.sourceKey,
          versionId: input.sourceVersionId,
          range: { start, end },
          ifMatch: head?.etag,
          signal,
        });
        const md5 = createHash('md5').update(got.body).digest('base64');
        const etag = await uploadPart(requests, {
          key: input.key,
          uploadId,
          partNumber: n,
          body: () => got.body,
          size: got.body.length,
          md5Base64: md5,
          transfer: signal,
        });
        return { n, etag };
      }, signal)
      .catch((err: unknown) => {
        if (!doomed.signal.aborted) doomed.abort(err);
        throw err;
      });
  try {
    // allSettled: on a failure the other parts finish before the abort rather than race it.
    const settled = await Promise.allSettled(
      partRanges(input.size, ps).map(async ({ n, start, end }) => {
        if (through) return partThrough(n, start, end);
        const r = await requests.call(
          (request) =>
            requests.send(
              new (s3().UploadPartCopyCommand)({
                Bucket: requests.bucket,
                Key: input.key,
                UploadId: uploadId,
                PartNumber: n,
                CopySource: source,
                CopySourceIfMatch: ifMatch(input.sourceIfMatch),
                CopySourceRange: `bytes=${start}-${end}`,
              }),
              request,
            ),
          input.signal,
        );
        return { n, etag: normalizeEtag(r.CopyPartResult?.ETag) };
      }),
    );
    // The first failure, not a queued part stopped because of it; a cancellation says it was one.
    if (doomed.signal.aborted) throw input.signal?.aborted ? input.signal.reason : doomed.signal.reason;
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const parts = settled.map((r) => (r as PromiseFulfilledResult<{ n: number; etag: string }>).value);
    const done = await completeMultipartAnswer(requests, { key: input.key, uploadId, parts });
    if (own === undefined || !head) return done;
    const alongSource = { etag: head.etag, partSize: own, parts: parts.length };
    // Ceph RGW answers an empty ETag: the copy is HEADed for it, as only then can it be judged.
    if (done.etag !== '') return { ...done, alongSource };
    const made = await headObject(requests, {
      bucket: requests.bucket,
      key: input.key,
      signal: input.signal,
    });
    return { etag: made?.etag ?? '', sse: done.sse ?? made?.sse, alongSource };
  } catch (err) {
    await abortMultipart(requests, { key: input.key, uploadId });
    throw err;
  }
}
