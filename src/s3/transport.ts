import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type {
  ListObjectsV2CommandInput,
  ListObjectsV2CommandOutput,
  ObjectCannedACL,
  S3Client,
  ServerSideEncryption,
  StorageClass,
} from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { S3SyncError } from '../errors.js';
import { setting } from '../options/validate.js';
import type { RemoteObject } from '../plan/types.js';
import { createS3Client, type ResolvedClient } from './client.js';
import type { ConnectionOptions } from './client-options.js';
import { describeS3Error, errorCode, httpStatus, isFatal, isLocalError } from './errors.js';
import { normalizeEtag } from './etag.js';
import { type ListPage, parseListObjectsV2 } from './list-xml.js';
import type { ProviderQuirks } from './providers.js';
import { RequestSignals } from './request-signals.js';
import { AdaptiveLimiter, type RetryPolicy, withRetries } from './retry.js';
import { clientS3 } from './sdk.js';

const {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} = clientS3;

/** Characters an XML 1.0 document cannot hold, even escaped. */
const XML_UNSAFE = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;

/** What the SDK's deserializer is given for a page already read by parseListObjectsV2. */
const EMPTY_LISTING = new TextEncoder().encode(
  '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult></ListBucketResult>',
);

/** A response body, whole: the HTTP stream, or bytes an earlier middleware already collected. */
async function readBody(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>)
    chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
  return Buffer.concat(chunks);
}

export interface ListOptions {
  /** Called as the first page's request goes out (signed, to the HTTP handler). */
  onRequested?: () => void;
  /** For tests: the SDK reads every page. */
  sdkParser?: boolean;
  /** For tests: pages of this many objects. */
  maxKeys?: number;
}

/** Object settings passed through on upload (--storage-class, --sse, …). */
export interface UploadSettings {
  storageClass?: string;
  sse?: string;
  sseKmsKeyId?: string;
  cacheControl?: string;
  acl?: string;
}

export interface PutInput {
  key: string;
  /** Called once per attempt: a fresh body each time. */
  body: () => Buffer | Readable;
  /** Aborted by the body when the file changes under it: the request stops at once, is not retried. */
  transfer?: AbortSignal;
  size: number;
  /** Absent only for a new object hashed as it is sent (see upload.ts): its ETag is checked instead. */
  md5Base64?: string;
  contentType: string;
  metadata: Record<string, string>;
}

export interface MultipartUploadInfo {
  uploadId: string;
  key: string;
  initiated: Date;
}

/**
 * What became of an AbortMultipartUpload: 'gone' the server no longer knows the upload (completed,
 * aborted, expired); 'refused' the server or the credentials do not allow it (s3rver answers 405,
 * a policy without s3:AbortMultipartUpload 403), so asking again is pointless; 'failed' anything else.
 */
export type AbortOutcome = 'aborted' | 'gone' | 'refused' | 'failed';

/** The server or the credentials will never allow this request: asking again changes nothing. */
const refused = (err: unknown) => {
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

/**
 * Every S3 call s3sync makes, bound to one bucket, with retries, adaptive concurrency and one-line
 * errors. Loaded lazily (it pulls in the AWS SDK), so runs that need no request never pay for it.
 */
export class S3Transport {
  readonly client: S3Client;
  readonly provider: ProviderQuirks;
  readonly endpointId: string;
  readonly limiter: AdaptiveLimiter;
  private readonly policy: RetryPolicy;

  constructor(
    resolved: ResolvedClient,
    readonly bucket: string,
    opts: { retries?: number; workers?: number; signal?: AbortSignal; onRetry?: RetryPolicy['onRetry'] } = {},
    readonly settings: UploadSettings = {},
  ) {
    this.client = resolved.client;
    this.provider = resolved.provider;
    this.endpointId = resolved.endpointId;
    this.counter = resolved.counter;
    this.limiter = new AdaptiveLimiter(setting(opts, 'workers'));
    this.policy = {
      retries: setting(opts, 'retries'),
      baseDelayMs: 100,
      maxDelayMs: 20_000,
      limiter: this.limiter,
      signal: opts.signal,
      onRetry: opts.onRetry,
    };
  }

  readonly counter: ResolvedClient['counter'];

  /** Retries per request (--retries): also how often a body that fails its check is fetched again. */
  get retries(): number {
    return this.policy.retries;
  }

  /** Listing pages read by parseListObjectsV2, and by the SDK (a page that reader declined). */
  readonly listingPages = { fast: 0, sdk: 0 };

  static async connect(
    conn: ConnectionOptions,
    bucket: string,
    opts: ConstructorParameters<typeof S3Transport>[2] = {},
    settings: UploadSettings = {},
    client?: S3Client,
  ): Promise<S3Transport> {
    const resolved = await createS3Client({ ...conn, workers: opts.workers ?? conn.workers });
    if (client) {
      resolved.client = client;
      resolved.counter.attach(client, resolved.provider);
    }
    return new S3Transport(resolved, bucket, { retries: conn.retries, ...opts }, settings);
  }

  fail(err: unknown) {
    return describeS3Error(err, { bucket: this.bucket, endpoint: this.endpointId });
  }

  /**
   * A request under the concurrency limit, retried; S3 errors are mapped to one line. Local errors
   * (a file system call that failed, a body that aborted its own transfer through `transfer`) pass
   * through unchanged: they are the caller's to interpret, and so does the run's cancellation.
   * `fn` gets the signal to send with (see RequestSignals).
   */
  private async call<T>(
    fn: (signal: AbortSignal | undefined) => Promise<T>,
    transfer?: AbortSignal,
  ): Promise<T> {
    const request = this.signals.open([transfer, this.policy.signal]);
    const policy = request.signal ? { ...this.policy, signal: request.signal } : this.policy;
    try {
      return await withRetries(async () => {
        await this.limiter.acquire(policy.signal);
        try {
          return await fn(policy.signal);
        } finally {
          this.limiter.release();
        }
      }, policy);
    } catch (err) {
      if (this.policy.signal?.aborted) throw this.policy.signal.reason;
      if (transfer?.aborted) throw transfer.reason;
      if (isLocalError(err)) throw err;
      throw this.fail(err);
    } finally {
      request.release();
    }
  }

  private readonly signals = new RequestSignals();

  private send<T>(cmd: object, signal: AbortSignal | undefined): Promise<T> {
    // The SDK's per-command overloads do not unify; every call site states the output shape it reads.
    const send = this.client.send.bind(this.client) as (c: object, o: object) => Promise<unknown>;
    return send(cmd, { abortSignal: signal }) as Promise<T>;
  }

  async createBucket(): Promise<void> {
    await this.call(async (signal) => {
      try {
        await this.send(new CreateBucketCommand({ Bucket: this.bucket }), signal);
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
      }
    });
  }

  /**
   * One paginated ListObjectsV2 of the prefix; rel is the key minus the prefix. `onPage` sees each
   * page's objects as they arrive (to start work early). The next page is asked for as soon as a page
   * is read, before its objects are handed on, so the server never waits on this side's work.
   */
  async list(
    prefix: string,
    onPage?: (page: RemoteObject[]) => void,
    opts: ListOptions = {},
  ): Promise<Map<string, RemoteObject>> {
    const out = new Map<string, RemoteObject>();
    let next: Promise<ListPage> | undefined = this.listPage(prefix, undefined, opts, opts.onRequested);
    while (next) {
      const page: ListPage = await next;
      next = page.isTruncated && page.nextToken ? this.listPage(prefix, page.nextToken, opts) : undefined;
      if (next) {
        // Awaited on the next turn of the loop; never an unhandled rejection meanwhile.
        next.catch(() => {});
        // One turn of the event loop lets the SDK's (promise-driven) send run to the socket before
        // this page's objects are handed on, which would otherwise keep the next request back.
        await nextTurn();
      }
      const objects: RemoteObject[] = [];
      for (const o of page.objects) {
        const rel = o.key.slice(prefix.length);
        const obj = {
          rel,
          key: o.key,
          size: o.size,
          etag: normalizeEtag(o.etag),
          lastModified: o.lastModified,
        };
        out.set(rel, obj);
        objects.push(obj);
      }
      onPage?.(objects);
    }
    return out;
  }

  /** One listing page, read by parseListObjectsV2 where it can, else by the SDK. */
  private listPage(
    prefix: string,
    token: string | undefined,
    opts: ListOptions,
    onRequested?: () => void,
  ): Promise<ListPage> {
    return this.call(async (signal) => {
      const cmd = new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        ContinuationToken: token,
        MaxKeys: opts.maxKeys,
      });
      if (onRequested) {
        cmd.middlewareStack.add(
          (next) => (args) => {
            onRequested();
            return next(args);
          },
          { step: 'finalizeRequest', priority: 'low', name: 's3syncListingRequested' },
        );
      }
      let fast: ListPage | undefined;
      if (!opts.sdkParser) {
        // Inside the SDK's deserializer: sees the raw body first, and hands it an empty result when
        // the page was read here.
        const readListing: DeserializeMiddleware<ListObjectsV2CommandInput, ListObjectsV2CommandOutput> =
          (next) => async (args) => {
            const result = await next(args);
            const res = result.response as { statusCode?: number; body?: unknown };
            if (res.statusCode !== 200) return result;
            const body = await readBody(res.body);
            fast = parseListObjectsV2(body.toString('utf8'));
            res.body = fast ? EMPTY_LISTING : body;
            return result;
          };
        cmd.middlewareStack.addRelativeTo(readListing, {
          relation: 'after',
          toMiddleware: 'deserializerMiddleware',
          name: 's3syncReadListing',
        });
      }
      const page = await this.send<{
        Contents?: { Key?: string; Size?: number; ETag?: string; LastModified?: Date }[];
        IsTruncated?: boolean;
        NextContinuationToken?: string;
      }>(cmd, signal);
      if (fast) {
        this.listingPages.fast++;
        return fast;
      }
      this.listingPages.sdk++;
      return {
        objects: (page.Contents ?? []).flatMap((o) =>
          o.Key
            ? [
                {
                  key: o.Key,
                  size: o.Size ?? 0,
                  etag: o.ETag ?? '',
                  lastModified: o.LastModified?.getTime() ?? 0,
                },
              ]
            : [],
        ),
        isTruncated: page.IsTruncated === true,
        nextToken: page.NextContinuationToken,
      };
    });
  }

  async head(key: string): Promise<{ size: number; etag: string; metadata: Record<string, string> } | null> {
    return this.call(async (signal) => {
      try {
        const h = await this.send<{
          ContentLength?: number;
          ETag?: string;
          Metadata?: Record<string, string>;
        }>(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), signal);
        return { size: h.ContentLength ?? 0, etag: normalizeEtag(h.ETag), metadata: h.Metadata ?? {} };
      } catch (err) {
        if (httpStatus(err) === 404) return null;
        throw err;
      }
    });
  }

  private objectParams(contentType: string, metadata: Record<string, string>) {
    const s = this.settings;
    return {
      ContentType: contentType,
      Metadata: metadata,
      StorageClass: s.storageClass as StorageClass | undefined,
      ServerSideEncryption: s.sse as ServerSideEncryption | undefined,
      SSEKMSKeyId: s.sseKmsKeyId,
      CacheControl: s.cacheControl,
      ACL: s.acl as ObjectCannedACL | undefined,
    };
  }

  /** PutObject, with Content-MD5 when known: the server rejects the body if it is not what was hashed. */
  async put(p: PutInput): Promise<string> {
    const r = await this.call(
      (signal) =>
        this.send<{ ETag?: string }>(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: p.key,
            Body: p.body(),
            ContentLength: p.size,
            ContentMD5: p.md5Base64,
            ...this.objectParams(p.contentType, p.metadata),
          }),
          signal,
        ),
      p.transfer,
    );
    return normalizeEtag(r.ETag);
  }

  /** `onAttempt` is told of every request sent: each one may have created an upload, answered or not. */
  async createMultipart(
    key: string,
    contentType: string,
    metadata: Record<string, string>,
    onAttempt?: () => void,
  ): Promise<string> {
    const r = await this.call((signal) => {
      onAttempt?.();
      return this.send<{ UploadId?: string }>(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ...this.objectParams(contentType, metadata),
        }),
        signal,
      );
    });
    if (!r.UploadId) throw this.fail(new Error('CreateMultipartUpload returned no UploadId'));
    return r.UploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: () => Buffer | Readable,
    size: number,
    md5Base64: string,
    transfer?: AbortSignal,
  ): Promise<string> {
    const r = await this.call(
      (signal) =>
        this.send<{ ETag?: string }>(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body(),
            ContentLength: size,
            ContentMD5: md5Base64,
          }),
          signal,
        ),
      transfer,
    );
    return normalizeEtag(r.ETag);
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: { n: number; etag: string }[],
  ): Promise<string> {
    const r = await this.call((signal) =>
      this.send<{ ETag?: string }>(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: `"${p.etag}"` })) },
        }),
        signal,
      ),
    );
    return normalizeEtag(r.ETag);
  }

  /** Never throws: a failed abort must not hide the error that led to it. */
  async abortMultipart(key: string, uploadId: string): Promise<AbortOutcome> {
    try {
      // Not tied to the run's AbortSignal: this is the cleanup a cancelled run must still do.
      const cmd = new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId });
      await withRetries(() => this.client.send(cmd), { ...this.policy, signal: undefined, retries: 2 });
      return 'aborted';
    } catch (err) {
      if (errorCode(err) === 'NoSuchUpload' || httpStatus(err) === 404) return 'gone';
      return refused(err) ? 'refused' : 'failed';
    }
  }

  /**
   * Parts already uploaded; 'gone' when the server no longer knows the upload (aborted by cleanup,
   * expired); 'unsupported' where the server has no ListParts (s3rver).
   */
  async listParts(
    key: string,
    uploadId: string,
  ): Promise<Map<number, { etag: string; size: number }> | 'gone' | 'unsupported'> {
    try {
      const out = new Map<number, { etag: string; size: number }>();
      let marker: string | undefined;
      do {
        const r = await this.call((signal) =>
          this.send<{
            Parts?: { PartNumber?: number; ETag?: string; Size?: number }[];
            IsTruncated?: boolean;
            NextPartNumberMarker?: string;
          }>(
            new ListPartsCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumberMarker: marker,
            }),
            signal,
          ),
        );
        for (const p of r.Parts ?? []) {
          if (p.PartNumber) out.set(p.PartNumber, { etag: normalizeEtag(p.ETag), size: p.Size ?? 0 });
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
   * The uploads in progress at exactly `key`, with the server's clock offset as its Date header bounds
   * it; 'refused' where the server has no ListMultipartUploads (s3rver) or the credentials may not use it.
   */
  async uploadsAt(key: string): Promise<UploadsAtKey | 'refused'> {
    const clockOffset = { min: -MAX_SKEW_MS, max: MAX_SKEW_MS };
    const onAnswer = (date: string | undefined, sentAt: number, answeredAt: number) => {
      const server = date ? Date.parse(date) : Number.NaN;
      if (Number.isNaN(server)) return;
      // Date has whole seconds, and was stamped somewhere between sending and answering.
      clockOffset.min = server - answeredAt;
      clockOffset.max = server + 1000 - sentAt;
    };
    const all = await this.listUploads(key, onAnswer);
    if (!Array.isArray(all)) return 'refused';
    return { uploads: all.filter((u) => u.key === key), clockOffset };
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    const all = await this.listUploads(prefix);
    if (!Array.isArray(all)) throw this.fail(all.refusedWith);
    return all;
  }

  private async listUploads(
    prefix: string,
    onAnswer?: (date: string | undefined, sentAt: number, answeredAt: number) => void,
  ): Promise<MultipartUploadInfo[] | { refusedWith: unknown }> {
    const out: MultipartUploadInfo[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    do {
      const r = await this.call((signal) => {
        const cmd = new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: idMarker,
        });
        if (onAnswer) {
          cmd.middlewareStack.add(
            (next) => async (args) => {
              const sentAt = Date.now();
              const result = await next(args);
              const headers = (result.response as { headers?: Record<string, string> }).headers;
              onAnswer(headers?.date, sentAt, Date.now());
              return result;
            },
            { step: 'deserialize', name: 's3syncServerDate' },
          );
        }
        // A server without the API answers 501 or 405: returned, not thrown, so it is not retried.
        return this.send<{
          Uploads?: { Key?: string; UploadId?: string; Initiated?: Date }[];
          IsTruncated?: boolean;
          NextKeyMarker?: string;
          NextUploadIdMarker?: string;
        }>(cmd, signal).catch((err: unknown) => {
          if (refused(err)) return { refusedWith: err };
          throw err;
        });
      });
      if ('refusedWith' in r) return r;
      for (const u of r.Uploads ?? []) {
        if (u.Key && u.UploadId)
          out.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
      }
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      idMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return out;
  }

  /** GetObject (optionally a byte range); the body is handed to `consume` within the retry loop. */
  async get<T>(
    key: string,
    consume: (
      body: Readable,
      info: { size: number; etag: string; metadata: Record<string, string> },
    ) => Promise<T>,
    range?: { start: number; end: number },
  ): Promise<T> {
    return this.call(async (signal) => {
      const r = await this.send<{
        Body?: Readable;
        ContentLength?: number;
        ETag?: string;
        Metadata?: Record<string, string>;
      }>(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
        signal,
      );
      if (!r.Body) throw new Error('GetObject returned no body');
      return consume(r.Body, {
        size: r.ContentLength ?? 0,
        etag: normalizeEtag(r.ETag),
        metadata: r.Metadata ?? {},
      });
    });
  }

  /** DeleteObjects in batches of 1,000; returns the keys that failed with their error codes. */
  async deleteKeys(keys: string[]): Promise<Map<string, string>> {
    const failed = new Map<string, string>();
    // A key XML 1.0 cannot carry (most C0 controls) makes a server reject the whole DeleteObjects
    // body: such keys go one by one, in the URL, where any byte can be written.
    const inXml = keys.filter((k) => !XML_UNSAFE.test(k));
    for (const key of keys.filter((k) => XML_UNSAFE.test(k))) {
      try {
        await this.call((signal) =>
          this.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), signal),
        );
      } catch (err) {
        if (err instanceof S3SyncError && isFatal(err)) throw err;
        failed.set(key, errorCode(err instanceof S3SyncError ? err.cause : err) || 'unknown error');
      }
    }
    for (let i = 0; i < inXml.length; i += 1000) {
      const batch = inXml.slice(i, i + 1000);
      const r = await this.call((signal) =>
        this.send<{ Errors?: { Key?: string; Code?: string }[] }>(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          signal,
        ),
      );
      for (const e of r.Errors ?? []) if (e.Key) failed.set(e.Key, e.Code ?? 'unknown error');
    }
    return failed;
  }
}
