/**
 * An object's bytes held in memory, a range at a time, for copies between two stores: GET with its
 * headers, PUT and multipart creation with explicit headers (the source's, not the run's settings).
 */
import { Readable } from 'node:stream';
import { runError } from '../errors.js';
import { headerParams, type ObjectHeaders } from './copy.js';
import { normalizeEtag } from './etag.js';
import { createAccounted, type StraysOutcome } from './multipart.js';
import { RangeIgnored, rangeMismatch } from './range-answer.js';
import type { S3Requests } from './requests.js';
import { s3 } from './sdk.js';

export interface FetchedBytes {
  body: Buffer;
  headers: ObjectHeaders;
  /** The whole object's ETag and size (not the range's). */
  etag: string;
  size: number;
}

/**
 * GetObject of a key (or an inclusive range of it) into memory. A body shorter or longer than the
 * server announced is an error, retried as a failed request is.
 */
export function fetchBytes(
  requests: S3Requests,
  input: {
    key: string;
    range?: { start: number; end: number };
    ifMatch?: string;
    /** That version of the object (a listing as at a past time names it). */
    versionId?: string;
    signal?: AbortSignal;
  },
): Promise<FetchedBytes> {
  const { key, range } = input;
  return requests.call(async (request) => {
    const r = await requests.send(
      new (s3().GetObjectCommand)({
        Bucket: requests.bucket,
        Key: key,
        VersionId: input.versionId,
        Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        // Every range of one object version: a source overwritten meanwhile fails instead of mixing.
        IfMatch: input.ifMatch ? `"${input.ifMatch}"` : undefined,
      }),
      request,
    );
    if (!(r.Body instanceof Readable)) throw new Error('GetObject returned no body');
    const wrong = range && rangeMismatch(range, r.$metadata.httpStatusCode, r.ContentRange);
    if (wrong) {
      // Not read: it may be the whole object, fetched once for each range asked for.
      r.Body.destroy();
      throw new RangeIgnored(wrong, r.$metadata.httpStatusCode ?? 0);
    }
    const chunks: Buffer[] = [];
    for await (const c of r.Body) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const expected = range ? range.end - range.start + 1 : r.ContentLength;
    if (expected !== undefined && body.length !== expected)
      throw Object.assign(new Error(`short body: ${body.length} of ${expected} bytes`), {
        name: 'IncompleteBody',
        $metadata: { httpStatusCode: 500 },
      });
    const total = /\/(\d+)$/.exec(r.ContentRange ?? '')?.[1];
    return {
      body,
      headers: {
        contentType: r.ContentType ?? 'application/octet-stream',
        metadata: r.Metadata ?? {},
        cacheControl: r.CacheControl,
        contentEncoding: r.ContentEncoding,
        contentDisposition: r.ContentDisposition,
        contentLanguage: r.ContentLanguage,
        expires: r.Expires,
      },
      etag: normalizeEtag(r.ETag),
      size: total ? Number(total) : body.length,
    };
  }, input.signal);
}

/** PutObject of bytes in memory with their Content-MD5: the server refuses bytes that differ. */
export async function putBytes(
  requests: S3Requests,
  input: { key: string; body: Buffer; md5Base64: string; headers: ObjectHeaders; signal?: AbortSignal },
): Promise<string> {
  const r = await requests.call(
    (request) =>
      requests.send(
        new (s3().PutObjectCommand)({
          Bucket: requests.bucket,
          Key: input.key,
          Body: input.body,
          ContentLength: input.body.length,
          ContentMD5: input.md5Base64,
          ...headerParams(input.headers),
        }),
        request,
      ),
    input.signal,
  );
  return normalizeEtag(r.ETag);
}

/** CreateMultipartUpload carrying the given headers; none it may have made is left unaborted. */
export async function createMultipartWith(
  requests: S3Requests,
  input: {
    key: string;
    headers: ObjectHeaders;
    signal?: AbortSignal;
    /** Told what became of uploads a create without an answer may have left (see createAccounted). */
    onStrays?: (r: StraysOutcome) => void;
  },
): Promise<string> {
  return createAccounted(
    requests,
    input.key,
    async (onAttempt) => {
      const r = await requests.call((request) => {
        onAttempt();
        return requests.send(
          new (s3().CreateMultipartUploadCommand)({
            Bucket: requests.bucket,
            Key: input.key,
            ...headerParams(input.headers),
          }),
          request,
        );
      }, input.signal);
      if (!r.UploadId) throw runError(`CreateMultipartUpload returned no UploadId for ${input.key}`);
      return r.UploadId;
    },
    input.onStrays,
  );
}
