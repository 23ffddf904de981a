import { createHash } from 'node:crypto';
import type {
  ObjectCannedACL,
  S3Client,
  ServerSideEncryption,
  ServiceInputTypes,
  ServiceOutputTypes,
  StorageClass,
} from '@aws-sdk/client-s3';
import type { Command } from '@smithy/types';
import type { S3SyncError } from '../errors.js';
import type { ListPageRequest } from './direct.js';
import type { RequestScope } from './request-signals.js';
import type { OffsetBounds } from './server-clock.js';

/** Any S3 command; its input and output types flow through `send` to the caller. */
export type S3Command<I extends ServiceInputTypes, O extends ServiceOutputTypes> = Command<
  ServiceInputTypes,
  I,
  ServiceOutputTypes,
  O,
  S3Client['config']
>;

/** Object settings passed through on upload (--storage-class, --sse, …). */
export interface UploadSettings {
  storageClass?: string;
  sse?: string;
  sseKmsKeyId?: string;
  cacheControl?: string;
  acl?: string;
}

/**
 * What the operation modules (listing, multipart, deletes) need of the transport: requests bound to
 * one bucket, limited, retried and described one way, whichever module builds them.
 */
export interface S3Requests {
  readonly bucket: string;
  readonly settings: UploadSettings;
  /** A request under the concurrency limit, retried; see S3Transport.call. */
  call<T>(fn: (request: RequestScope | undefined) => Promise<T>, transfer?: AbortSignal): Promise<T>;
  /** One attempt of `cmd`, its output typed by the command. */
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    cmd: S3Command<I, O>,
    request: RequestScope | undefined,
  ): Promise<O>;
  /** Retried `retries` times, outside the concurrency limit and the run's cancellation. */
  detached<T>(fn: () => Promise<T>, retries: number): Promise<T>;
  fail(err: unknown): S3SyncError;
  /**
   * The server's clock minus this one's, in ms, to move a local time onto the server's: 0 while the
   * answers so far allow it (see ServerClock.offset).
   */
  clockOffset?(): number;
  /** Bounds on the same, as the answers so far give them; undefined before an answer with a Date. */
  clockBounds?(): OffsetBounds | undefined;
  /** One listing page's body sent without the SDK, where the store allows it (see DirectRequests). */
  listDirect?(
    p: ListPageRequest,
    request: RequestScope | undefined,
    onSent?: () => void,
  ): Promise<string> | undefined;
}

/**
 * One object's own headers (a per-pattern rule, compression), over the run's settings; `extra`: the
 * library's pass-through of fields s3sync does not set (checked by the caller).
 */
export interface ObjectHeaders {
  cacheControl?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  storageClass?: string;
  extra?: Record<string, unknown>;
}

/** The headers an uploaded object carries: its type, metadata and the run's object settings. */
export function objectParams(
  s: UploadSettings,
  contentType: string,
  metadata: Record<string, string>,
  h: ObjectHeaders = {},
) {
  return {
    ...h.extra,
    ContentType: contentType,
    Metadata: metadata,
    StorageClass: (h.storageClass ?? s.storageClass) as StorageClass | undefined,
    ServerSideEncryption: s.sse as ServerSideEncryption | undefined,
    SSEKMSKeyId: s.sseKmsKeyId,
    CacheControl: h.cacheControl ?? s.cacheControl,
    ContentEncoding: h.contentEncoding,
    ContentDisposition: h.contentDisposition,
    ACL: s.acl as ObjectCannedACL | undefined,
  };
}

/** `v` as JSON with object keys sorted and undefined fields left out: equal values, equal text. */
const canonical = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object' || v instanceof Date) return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const fields = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${fields.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
};

/**
 * A digest of what an object is created with (objectParams): a multipart upload keeps the headers it was
 * created with, so one resumed by a later run is the right object only if that run would send the same.
 */
export const paramsDigest = (params: ReturnType<typeof objectParams>): string =>
  createHash('sha256').update(canonical(params)).digest('hex');

/** The HTTP header of each objectParams field a direct PutObject may carry (see objectHeaderLines). */
const HEADER_OF: Record<string, string> = {
  ContentType: 'content-type',
  StorageClass: 'x-amz-storage-class',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  CacheControl: 'cache-control',
  ContentEncoding: 'content-encoding',
  ContentDisposition: 'content-disposition',
  ACL: 'x-amz-acl',
};
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * objectParams as the HTTP headers the SDK would send for them (metadata names in lower case, as it
 * sends them), or undefined when a field has no header here (a library's pass-through field) or a
 * value is not plain ASCII: that object goes through the SDK.
 */
export function objectHeaderLines(
  params: ReturnType<typeof objectParams>,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [field, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (field === 'Metadata') {
      for (const [name, value] of Object.entries(v as Record<string, string>)) {
        if (!TOKEN.test(name) || typeof value !== 'string' || !PRINTABLE.test(value)) return undefined;
        out[`x-amz-meta-${name.toLowerCase()}`] = value;
      }
      continue;
    }
    const name = HEADER_OF[field];
    if (name === undefined || typeof v !== 'string' || !PRINTABLE.test(v)) return undefined;
    out[name] = v;
  }
  return out;
}

/**
 * The same requests (limiter, retries, cancellation) addressed to another bucket of the endpoint;
 * `wrap` may say a failure of that bucket's in its own words.
 */
export function inBucket(
  t: S3Requests,
  bucket: string,
  wrap: <T>(p: Promise<T>) => Promise<T> = (p) => p,
): S3Requests {
  if (bucket === t.bucket) return t;
  return {
    bucket,
    settings: t.settings,
    call: (fn, transfer) => t.call((request) => wrap(fn(request)), transfer),
    send: (cmd, request) => t.send(cmd, request),
    detached: (fn, retries) => t.detached(fn, retries),
    fail: (err) => t.fail(err),
  };
}
