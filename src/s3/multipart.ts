import type { Readable } from 'node:stream';
import { runError, S3SyncError, usageError } from '../errors.js';
import { classRefused, errorCode, httpStatus, isClockSkew, isFatal } from './errors.js';
import { normalizeEtag } from './etag.js';
import { type ObjectHeaders, objectParams, type S3Requests } from './requests.js';
import { s3 } from './sdk.js';

export interface MultipartUploadInfo {
  uploadId: string;
  key: string;
  initiated: Date;
}

/** One multipart upload at one key. */
export interface UploadRef {
  key: string;
  uploadId: string;
}

export interface CreateMultipartInput {
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  /** The object's own headers (see ObjectHeaders). */
  headers?: ObjectHeaders;
  /** Told of every request sent: each one may have created an upload, answered or not. */
  onAttempt?: () => void;
}

export interface UploadPartInput extends UploadRef {
  partNumber: number;
  /** Called once per attempt: a fresh body each time. */
  body: () => Buffer | Readable;
  size: number;
  md5Base64: string;
  /** Aborted by the body when the file changes under it: the request stops at once, is not retried. */
  transfer?: AbortSignal;
}

export interface CompleteMultipartInput extends UploadRef {
  parts: { n: number; etag: string }[];
}

/**
 * What became of an AbortMultipartUpload: 'gone' the server no longer knows the upload (completed,
 * aborted, expired); 'refused' the server or the credentials do not allow it (s3rver answers 405,
 * a policy without s3:AbortMultipartUpload 403), so asking again is pointless; 'failed' anything else.
 */
export type AbortOutcome = 'aborted' | 'gone' | 'refused' | 'failed';

/** The server or the credentials will never allow this request: asking again changes nothing. */
const refused = (err: unknown) => {
  // A 403 for a clock off by minutes: the retry, signed at the server's time, may go through.
  if (isClockSkew(err)) return false;
  const code = errorCode(err);
  const status = httpStatus(err);
  return (
    code === 'NotImplemented' ||
    code === 'MethodNotAllowed' ||
    code === 'AccessDenied' ||
    status === 501 ||
    status === 405 ||
    status === 403
  );
};

/** Uploads in progress at one key, and bounds on (server clock - this machine's clock), in ms. */
export interface UploadsAtKey {
  uploads: MultipartUploadInfo[];
  clockOffset: { min: number; max: number };
}

/**
 * The bound on clock offset when the server sent no Date header: S3 refuses requests signed more than
 * 15 minutes off its clock (RequestTimeTooSkewed), so a server that answered is no further off.
 */
const MAX_SKEW_MS = 15 * 60_000;

export async function createMultipart(t: S3Requests, p: CreateMultipartInput): Promise<string> {
  const params = objectParams(t.settings, p.contentType, p.metadata, p.headers);
  const r = await t
    .call((request) => {
      p.onAttempt?.();
      return t.send(
        new (s3().CreateMultipartUploadCommand)({ Bucket: t.bucket, Key: p.key, ...params }),
        request,
      );
    })
    .catch((err: unknown) => {
      throw classRefused(err, params.StorageClass);
    });
  if (!r.UploadId) throw t.fail(new Error('CreateMultipartUpload returned no UploadId'));
  return r.UploadId;
}

export async function uploadPart(t: S3Requests, p: UploadPartInput): Promise<string> {
  const r = await t.call(
    (request) =>
      t.send(
        new (s3().UploadPartCommand)({
          Bucket: t.bucket,
          Key: p.key,
          UploadId: p.uploadId,
          PartNumber: p.partNumber,
          Body: p.body(),
          ContentLength: p.size,
          ContentMD5: p.md5Base64,
        }),
        request,
      ),
    p.transfer,
  );
  return normalizeEtag(r.ETag);
}

export async function completeMultipart(t: S3Requests, p: CompleteMultipartInput): Promise<string> {
  return (await completeMultipartAnswer(t, p)).etag;
}

/** CompleteMultipartUpload: the object's ETag, and its encryption as the store says it. */
export async function completeMultipartAnswer(
  t: S3Requests,
  p: CompleteMultipartInput,
): Promise<{ etag: string; sse?: string }> {
  const r = await t.call((request) =>
    t.send(
      new (s3().CompleteMultipartUploadCommand)({
        Bucket: t.bucket,
        Key: p.key,
        UploadId: p.uploadId,
        MultipartUpload: { Parts: p.parts.map((x) => ({ PartNumber: x.n, ETag: `"${x.etag}"` })) },
      }),
      request,
    ),
  );
  return { etag: normalizeEtag(r.ETag), sse: r.ServerSideEncryption };
}

/** Never throws: a failed abort must not hide the error that led to it. */
/**
 * `retries`: 2 for the abort a cancelled or failed run makes on its way out (it must not hold the
 * exit for long); `cleanup`, whose work the aborts are, passes --retries.
 */
export async function abortMultipart(t: S3Requests, p: UploadRef, retries = 2): Promise<AbortOutcome> {
  try {
    // Not tied to the run's AbortSignal: this is the cleanup a cancelled run must still do.
    const cmd = new (s3().AbortMultipartUploadCommand)({
      Bucket: t.bucket,
      Key: p.key,
      UploadId: p.uploadId,
    });
    await t.detached(() => t.send(cmd, undefined), retries);
    return 'aborted';
  } catch (err) {
    if (errorCode(err) === 'NoSuchUpload' || httpStatus(err) === 404) return 'gone';
    return refused(err) ? 'refused' : 'failed';
  }
}

/**
 * Parts already uploaded, by part number; 'gone' when the server no longer knows the upload (aborted
 * by cleanup, expired); 'unsupported' where the server has no ListParts (s3rver).
 */
export type PartsListing = Map<number, { etag: string; size: number }> | 'gone' | 'unsupported';

export async function listParts(t: S3Requests, p: UploadRef): Promise<PartsListing> {
  try {
    const out = new Map<number, { etag: string; size: number }>();
    let marker: string | undefined;
    do {
      const r = await t.call((request) =>
        t.send(
          new (s3().ListPartsCommand)({
            Bucket: t.bucket,
            Key: p.key,
            UploadId: p.uploadId,
            PartNumberMarker: marker,
          }),
          request,
        ),
      );
      for (const part of r.Parts ?? []) {
        if (part.PartNumber)
          out.set(part.PartNumber, { etag: normalizeEtag(part.ETag), size: part.Size ?? 0 });
      }
      marker = r.IsTruncated ? r.NextPartNumberMarker : undefined;
    } while (marker);
    return out;
  } catch (err) {
    const cause = err instanceof S3SyncError ? err.cause : err;
    const gone = errorCode(cause) === 'NoSuchUpload' || httpStatus(cause) === 404;
    return gone ? ('gone' as const) : ('unsupported' as const);
  }
}

/**
 * The same requests, each retried `retries` times outside the concurrency limit and the run's
 * cancellation (see S3Requests.detached): for what a cancelled run must still ask.
 */
function outsideRun(t: S3Requests, retries: number): S3Requests {
  return {
    bucket: t.bucket,
    settings: t.settings,
    call: (fn) =>
      t
        .detached(() => fn(undefined), retries)
        .catch((err: unknown) => {
          throw t.fail(err);
        }),
    send: (cmd, request) => t.send(cmd, request),
    detached: (fn, n) => t.detached(fn, n),
    fail: (err) => t.fail(err),
    clockOffset: () => t.clockOffset?.() ?? 0,
    clockBounds: () => t.clockBounds?.(),
  };
}

/** Initiated times some servers round to the second. */
const ROUNDING_MS = 1000;

/**
 * When CreateMultipartUpload requests for one key were out, on this machine's clock (ms): from the first
 * sent to the last answer or failure; no end, until the uploads are listed.
 */
export interface CreateWindow {
  sentAt: number;
  endedAt?: number;
}

/**
 * Of the uploads listed at one key, those a CreateMultipartUpload sent in `window` may have made:
 * initiated within it, moved onto the server's clock by the offset the run's answers bound (ServerClock),
 * widened by a second for servers that round Initiated; none that `kept` names. `now`: when the
 * listing was answered, the end of a window that has none.
 */
export function madeIn(
  found: UploadsAtKey,
  window: CreateWindow,
  kept: ReadonlySet<string>,
  now: number,
): MultipartUploadInfo[] {
  const from = window.sentAt + found.clockOffset.min - ROUNDING_MS;
  const to = (window.endedAt ?? now) + found.clockOffset.max + ROUNDING_MS;
  return found.uploads.filter((u) => {
    const at = u.initiated.getTime();
    return !kept.has(u.uploadId) && at >= from && at <= to;
  });
}

/**
 * What became of the uploads a CreateMultipartUpload without a (single) answer may have left at `key`:
 * their ids aborted, or not ('failed': tried again, or 'refused' by the server or the credentials);
 * or why they could not be looked for.
 */
export type StraysOutcome =
  | { key: string; aborted: string[]; notAborted: string[] }
  | { key: string; notListed: 'refused' | { error: unknown } };

/**
 * Aborts, at once, the uploads at `key` that a CreateMultipartUpload sent in `window` may have made
 * (see madeIn), all but `kept`. For a run that keeps no record of its uploads (S3 → S3), so nothing
 * is left for a next run: outside the run's cancellation, with the few retries of a cancelled run's
 * aborts, so a cancel does not leave them billed and unsaid, nor hold the exit for long.
 */
export async function abortStrays(
  t: S3Requests,
  key: string,
  window: CreateWindow,
  kept: ReadonlySet<string> = new Set(),
): Promise<StraysOutcome> {
  let found: UploadsAtKey | 'refused';
  try {
    found = await uploadsAt(t, key, { retries: 2 });
  } catch (error) {
    return { key, notListed: { error } };
  }
  if (found === 'refused') return { key, notListed: 'refused' };
  const out = { key, aborted: [] as string[], notAborted: [] as string[] };
  for (const u of madeIn(found, window, kept, Date.now())) {
    const outcome = await abortMultipart(t, u);
    if (outcome === 'aborted') out.aborted.push(u.uploadId);
    else if (outcome !== 'gone') out.notAborted.push(u.uploadId);
  }
  return out;
}

/**
 * A CreateMultipartUpload (`create`, told of each attempt it sends) that leaves no upload unaccounted
 * for. One attempt, one answer: no other upload can exist, and no other request is made. Cancelled or
 * failed once a request went out, or retried, the server may hold an upload whose id this process
 * never saw: those are aborted (abortStrays) before the error is thrown or the id returned, and
 * `onStrays` is told. A refusal that stops the run (exit 2) created nothing.
 */
export async function createAccounted(
  t: S3Requests,
  key: string,
  create: (onAttempt: () => void) => Promise<string>,
  onStrays?: (r: StraysOutcome) => void,
): Promise<string> {
  let sentAt: number | undefined;
  let attempts = 0;
  const onAttempt = () => {
    sentAt ??= Date.now();
    attempts++;
  };
  let uploadId: string;
  try {
    uploadId = await create(onAttempt);
  } catch (err) {
    const fatal = err instanceof S3SyncError && isFatal(err);
    if (sentAt !== undefined && !fatal) {
      const r = await abortStrays(t, key, { sentAt });
      onStrays?.(r);
    }
    throw err;
  }
  if (attempts > 1) {
    const r = await abortStrays(t, key, { sentAt: sentAt! }, new Set([uploadId]));
    onStrays?.(r);
  }
  return uploadId;
}

/**
 * Bounds on (server clock - this machine's clock) after a listing: the run's estimate (ServerClock),
 * which its answers narrowed, or the most a server that answers can be off where none had a Date.
 */
function clockBounds(t: S3Requests) {
  return t.clockBounds?.() ?? { min: -MAX_SKEW_MS, max: MAX_SKEW_MS };
}

/**
 * The uploads in progress at exactly `key`, with the server's clock offset as the answers so far
 * (the listing's last) bound it; 'refused' where the server has no ListMultipartUploads (s3rver) or the credentials may not use it.
 */
export async function uploadsAt(
  t: S3Requests,
  key: string,
  detached?: { retries: number },
): Promise<UploadsAtKey | 'refused'> {
  const all = await listUploads(detached ? outsideRun(t, detached.retries) : t, key);
  if (!Array.isArray(all)) return 'refused';
  return { uploads: all.filter((u) => u.key === key), clockOffset: clockBounds(t) };
}

/** The uploads in progress under `prefix`, with the server's clock offset as uploadsAt gives it. */
export async function uploadsUnder(t: S3Requests, prefix: string): Promise<UploadsAtKey> {
  const all = await listUploads(t, prefix);
  if (!Array.isArray(all)) {
    const code = errorCode(all.refusedWith);
    const status = httpStatus(all.refusedWith);
    // The store's own words ("a parameter you provided implies functionality...") name no request.
    if (status === 501 || status === 405 || code === 'NotImplemented' || code === 'MethodNotAllowed')
      throw usageError(
        `listing unfinished multipart uploads needs ListMultipartUploads, and this S3 store does not support it (${code || `HTTP ${status}`})`,
      );
    throw t.fail(all.refusedWith);
  }
  return { uploads: all, clockOffset: clockBounds(t) };
}

export async function listMultipartUploads(t: S3Requests, prefix: string): Promise<MultipartUploadInfo[]> {
  return (await uploadsUnder(t, prefix)).uploads;
}

async function listUploads(
  t: S3Requests,
  prefix: string,
): Promise<MultipartUploadInfo[] | { refusedWith: unknown }> {
  const out: MultipartUploadInfo[] = [];
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const r = await t.call((request) => {
      const cmd = new (s3().ListMultipartUploadsCommand)({
        Bucket: t.bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
      });
      // A server without the API answers 501 or 405: returned, not thrown, so it is not retried.
      return t.send(cmd, request).catch((err: unknown) => {
        if (refused(err)) return { refusedWith: err };
        throw err;
      });
    });
    if ('refusedWith' in r) return r;
    for (const u of r.Uploads ?? []) {
      if (u.Key && u.UploadId)
        out.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
    }
    if (r.IsTruncated !== true) break;
    keyMarker = r.NextKeyMarker;
    idMarker = r.NextUploadIdMarker;
    // Ending here would leave the uploads on the unread pages unlisted (never aborted), in silence.
    const marker = `${keyMarker}\n${idMarker ?? ''}`;
    if (!keyMarker || seen.has(marker))
      throw runError(
        `the multipart uploads listing of s3://${t.bucket}/${prefix} stopped early: the server said more ` +
          `follow but gave ${keyMarker ? 'markers it had given before' : 'no next marker (NextKeyMarker)'}`,
      );
    seen.add(marker);
  }
  return out;
}
