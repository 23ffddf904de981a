import { Readable } from 'node:stream';
import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import { setting } from '../options/validate.js';
import {
  adoptClient,
  checkClientEndpoint,
  createS3Client,
  EXPECT_CONTINUE_FROM,
  type ResolvedClient,
} from './client.js';
import { type ConnectionOptions, requestConcurrency } from './client-options.js';
import { type CopyInput, type CopyResult, copyObject } from './copy.js';
import { type DeletesSettled, deleteKeys } from './deletes.js';
import { DirectRequests, type ListPageRequest } from './direct.js';
import { classRefused, describeS3Error, httpStatus, isLocalError, redactSignatures } from './errors.js';
import { normalizeEtag } from './etag.js';
import { type ListOptions, listObjects } from './listing.js';
import {
  type AbortOutcome,
  abortMultipart,
  type CompleteMultipartInput,
  type CreateMultipartInput,
  completeMultipart,
  createMultipart,
  listMultipartUploads,
  listParts,
  type MultipartUploadInfo,
  type PartsListing,
  type UploadPartInput,
  type UploadRef,
  type UploadsAtKey,
  uploadPart,
  uploadsAt,
  uploadsUnder,
} from './multipart.js';
import type { ProviderQuirks } from './providers.js';
import { RangeIgnored, rangeMismatch } from './range-answer.js';
import { RateLimits } from './rate-limit.js';
import type { RemoteObject } from './remote-object.js';
import { RequestCounter } from './request-counter.js';
import { type RequestScope, RequestSignals } from './request-signals.js';
import {
  type ObjectHeaders,
  objectHeaderLines,
  objectParams,
  type S3Command,
  type S3Requests,
  type UploadSettings,
} from './requests.js';
import { AdaptiveLimiter, type RetryPolicy, withRetries } from './retry.js';
import { s3 } from './sdk.js';
import { type OffsetBounds, type ServerClock, serverDate } from './server-clock.js';
import type { SharedConnection } from './shared-connection.js';

// Where the sync options name the settings an upload carries.
export type { UploadSettings };

export interface PutInput {
  key: string;
  /** Called once per attempt: a fresh body each time. */
  body: () => Buffer | Readable;
  /** Aborted by the body when the file changes under it: the request stops at once, is not retried. */
  transfer?: AbortSignal;
  size: number;
  /** Absent only for a new object hashed as it is sent (see upload-put.ts): its ETag is checked instead. */
  md5Base64?: string;
  contentType: string;
  metadata: Record<string, string>;
  /** The object's own headers (see ObjectHeaders). */
  headers?: ObjectHeaders;
}

/**
 * Calls `fn` once a streamed request body (a PUT's, a part's) has been read to its end: the SDK pipes
 * it into the request, so all of it is then on its way to the socket. A Buffer body the SDK writes in
 * one call that tells nobody: its request is cancelled at once, as before (the direct PUT of a small
 * body, the usual way of one, reports its own end).
 */
function onBodyEnd(input: object, fn: () => void): void {
  const body = (input as { Body?: unknown }).Body;
  if (body instanceof Readable) body.once('end', fn);
}

/** Commands whose answer is already timed: one sent again keeps its one middleware. */
const timed = new WeakSet<object>();

/**
 * Feeds `clock` the Date of `cmd`'s answer, with when it went and came back on this clock. On the
 * command, not the client: a caller's own client (and a connection shared between runs) then times
 * its answers as ours, and the middleware sits after signing, as near the HTTP handler as it goes.
 */
function timeAnswer<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
  cmd: S3Command<I, O>,
  clock: ServerClock,
): void {
  if (timed.has(cmd)) return;
  timed.add(cmd);
  cmd.middlewareStack.add(
    (next) => async (args) => {
      const sentAt = Date.now();
      const result = await next(args);
      const headers = (result.response as { headers?: Record<string, string | undefined> }).headers;
      clock.answered(serverDate(headers), sentAt, Date.now());
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 's3syncServerClock' },
  );
}

/**
 * Closes a streamed request body its attempt is done with: the SDK stops piping the body of a request
 * that failed but never destroys it, so a file under it would stay open for the life of the process.
 */
function release(body: unknown): void {
  if (body instanceof Readable && !body.destroyed) body.destroy();
}

/**
 * Every S3 call s3sync makes, bound to one bucket, with retries, adaptive concurrency and one-line
 * errors. Loaded lazily, so runs that need no request never pay for it; the SDK itself loads with
 * the first request that goes through it.
 */
export class S3Transport implements S3Requests {
  readonly provider: ProviderQuirks;
  readonly endpointId: string;
  private readonly endpointFlag: string | undefined;
  readonly limiter: AdaptiveLimiter;
  private readonly policy: RetryPolicy;
  /** The run's cancellation. */
  private readonly runSignal: AbortSignal | undefined;
  private readonly shared: boolean;

  constructor(
    private readonly resolved: ResolvedClient,
    readonly bucket: string,
    opts: {
      retries?: number;
      workers?: number;
      /** Request slots at most, whatever `workers` says: the run's share of its open files. */
      workersCap?: number;
      signal?: AbortSignal;
      onRetry?: RetryPolicy['onRetry'];
      limits?: RateLimits;
      /** The flag that set this endpoint, for messages: a sync's source has its own. */
      endpointFlag?: string;
      /** This run's requests, where the connection's own counter is not this run's alone. */
      counter?: RequestCounter;
      /** The connection is shared between runs (SharedConnection): `close` leaves it open. */
      shared?: boolean;
    } = {},
    readonly settings: UploadSettings = {},
  ) {
    this.endpointFlag = opts.endpointFlag ?? resolved.endpointWhere;
    this.provider = resolved.provider;
    this.endpointId = resolved.endpointId;
    this.counter = opts.counter ?? resolved.counter;
    this.shared = opts.shared === true;
    this.direct = resolved.direct && new DirectRequests(resolved.direct, bucket);
    const { start, max } = requestConcurrency(opts);
    this.limiter = new AdaptiveLimiter(start, { max });
    this.limits = opts.limits ?? new RateLimits({});
    this.runSignal = opts.signal;
    this.policy = {
      retries: setting(opts, 'retries'),
      baseDelayMs: 100,
      // A store that throttles (a partition splitting, a failover) for a few seconds outlasts the
      // default retries' waits (at least 7.5 s in all): the run slows down instead of failing.
      throttleBaseDelayMs: 1000,
      // Also the most a Retry-After is waited out.
      maxDelayMs: 20_000,
      limiter: this.limiter,
      onRetry: opts.onRetry,
    };
  }

  /** The SDK's client, built on first use (see ResolvedClient). */
  get client(): S3Client {
    return this.resolved.client;
  }

  readonly counter: ResolvedClient['counter'];
  /** Small GETs and PUTs and listing pages without the SDK, where the endpoint allows it (see direct.ts). */
  private readonly direct: DirectRequests | undefined;
  /** --tpslimit and --bwlimit: every attempt of every request, every body byte, through `send`. */
  readonly limits: RateLimits;

  /** Retries per request (--retries): also how often a body that fails its check is fetched again. */
  get retries(): number {
    return this.policy.retries;
  }

  static async connect(
    conn: ConnectionOptions,
    bucket: string,
    opts: ConstructorParameters<typeof S3Transport>[2] = {},
    settings: UploadSettings = {},
    client?: S3Client,
    shared?: SharedConnection,
  ): Promise<S3Transport> {
    const make = () =>
      createS3Client({
        ...conn,
        workers: opts.workers ?? conn.workers,
        workersCap: opts.workersCap,
        ownClient: client !== undefined,
      });
    // A caller's client is the connection already: nothing of ours is worth sharing around it.
    const reused = shared !== undefined && client === undefined;
    const resolved = reused ? await shared.take(make) : await make();
    if (client) {
      try {
        await checkClientEndpoint(client, conn.endpointUrl);
      } catch (err) {
        resolved.close();
        throw err;
      }
      adoptClient(resolved, client);
    }
    const limits = new RateLimits(conn);
    return new S3Transport(
      resolved,
      bucket,
      {
        retries: conn.retries,
        limits,
        ...opts,
        // Each run counts its own requests on a shared connection.
        ...(reused && { counter: new RequestCounter(), shared: true }),
      },
      settings,
    );
  }

  /**
   * Closes the connection this transport opened, once its run has ended: its kept-alive sockets would
   * stay open as long as the server keeps them. One shared between runs is its owner's to close, and a
   * caller's own client is left open (see ResolvedClient.close).
   */
  close(): void {
    if (!this.shared) this.resolved.close();
  }

  clockOffset(): number {
    return this.resolved.serverClock.offset();
  }

  clockBounds(): OffsetBounds | undefined {
    return this.resolved.serverClock.bounds;
  }

  fail(err: unknown) {
    const e = describeS3Error(err, {
      bucket: this.bucket,
      endpoint: this.endpointId,
      flag: this.endpointFlag,
      credentials: this.resolved.credentials,
      proxy: this.resolved.proxy,
      uploadChecksums: this.resolved.uploadChecksums,
    });
    // The message quotes the server, which may echo a secret it was sent; --debug prints the cause too.
    // A caller's own client gives no secrets to look for; its signatures are redacted all the same.
    const redact = this.resolved.redact ?? redactSignatures;
    e.message = redact(e.message);
    if (e.stack) e.stack = redact(e.stack);
    const cause = e.cause;
    if (cause instanceof Error && cause !== e) {
      cause.message = redact(cause.message);
      if (cause.stack) cause.stack = redact(cause.stack);
    }
    return e;
  }

  /**
   * A request under the concurrency limit, retried; S3 errors are mapped to one line. Local errors
   * (a file system call that failed, a body that aborted its own transfer through `transfer`) pass
   * through unchanged: they are the caller's to interpret, and so does the run's cancellation.
   * `fn` gets the request's cancellation to send with (see RequestScope).
   */
  async call<T>(fn: (request: RequestScope | undefined) => Promise<T>, transfer?: AbortSignal): Promise<T> {
    const request = this.signals.open([transfer, this.runSignal]);
    const policy = request ? { ...this.policy, signal: request } : this.policy;
    try {
      return await withRetries(async () => {
        await this.limiter.acquire(request);
        request?.attempt();
        try {
          return await fn(request);
        } catch (err) {
          request?.attemptFailed();
          throw err;
        } finally {
          this.limiter.release();
        }
      }, policy);
    } catch (err) {
      if (this.runSignal?.aborted) throw this.runSignal.reason;
      if (transfer?.aborted) throw transfer.reason;
      if (isLocalError(err)) throw err;
      throw this.fail(err);
    } finally {
      request?.release();
    }
  }

  private readonly signals = new RequestSignals();

  /** One attempt, its output typed by the command: no caller restates a response shape. */
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    cmd: S3Command<I, O>,
    request: RequestScope | undefined,
  ): Promise<O> {
    this.counter.count(cmd);
    const input = cmd.input as { Body?: unknown };
    // --bwlimit puts a paced stream in its place: both are closed, whichever the SDK was reading.
    const given = input.Body;
    return this.limits
      .around(cmd.input, request, () => {
        if (request) onBodyEnd(cmd.input, () => request.sent());
        timeAnswer(cmd, this.resolved.serverClock);
        return this.client.send(cmd, { abortSignal: request?.signal });
      })
      .finally(() => {
        release(input.Body);
        release(given);
      });
  }

  /** Retried, but outside the limit and the run's signal: for the cleanup a cancelled run still does. */
  detached<T>(fn: () => Promise<T>, retries: number): Promise<T> {
    return withRetries(fn, { ...this.policy, retries });
  }

  async createBucket(): Promise<void> {
    await this.call(async (request) => {
      try {
        await this.send(new (s3().CreateBucketCommand)({ Bucket: this.bucket }), request);
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
      }
    });
  }

  /** Every object under the prefix, by rel (see listObjects). */
  list(prefix: string, opts: ListOptions = {}): Promise<Map<string, RemoteObject>> {
    return listObjects(this, prefix, opts);
  }

  /**
   * `versionId`: that version of the object (a listing as at a past time names it). `partNumber`: the
   * answer's size is that part's (S3 and Ceph RGW), with the object's part count; a store that ignores
   * it answers for the whole object, without a part count.
   */
  async head(
    key: string,
    versionId?: string,
    partNumber?: number,
  ): Promise<{
    size: number;
    etag: string;
    lastModified: number;
    metadata: Record<string, string>;
    restore?: string;
    partsCount?: number;
  } | null> {
    return this.call(async (request) => {
      try {
        const h = await this.send(
          new (s3().HeadObjectCommand)({
            Bucket: this.bucket,
            Key: key,
            VersionId: versionId,
            PartNumber: partNumber,
          }),
          request,
        );
        return {
          size: h.ContentLength ?? 0,
          etag: normalizeEtag(h.ETag),
          lastModified: h.LastModified?.getTime() ?? 0,
          metadata: h.Metadata ?? {},
          restore: h.Restore,
          partsCount: h.PartsCount,
        };
      } catch (err) {
        if (httpStatus(err) === 404) return null;
        throw err;
      }
    });
  }

  /**
   * Whether a body of `size` bytes held in memory (with its MD5, plain headers) goes without the SDK:
   * then it goes as one Buffer, written to the socket at once.
   */
  putsDirect(size: number): boolean {
    return this.direct?.sendsPuts === true && !this.limits.up && size < EXPECT_CONTINUE_FROM;
  }

  /**
   * PutObject, with Content-MD5 when known: the server rejects the body if it is not what was hashed.
   * A small body in memory with its MD5 goes without the SDK where the endpoint allows (see
   * DirectRequests), unless --bwlimit paces it or its headers are not all plain.
   */
  async put(p: PutInput): Promise<string> {
    const params = objectParams(this.settings, p.contentType, p.metadata, p.headers);
    const md5 = p.md5Base64;
    const direct = md5 !== undefined && this.putsDirect(p.size) ? this.direct : undefined;
    const lines = direct && objectHeaderLines(params);
    const r = await this.call(async (request) => {
      const body = p.body();
      // A larger body waits for 100 Continue through the SDK (see EXPECT_CONTINUE_FROM).
      if (direct && lines && Buffer.isBuffer(body) && body.length < EXPECT_CONTINUE_FROM)
        return {
          ETag: await this.limits.around({}, request, async () => {
            await this.sending('PutObject');
            return direct.put({ key: p.key, body, md5Base64: md5!, headers: lines }, request);
          }),
        };
      return this.send(
        new (s3().PutObjectCommand)({
          Bucket: this.bucket,
          Key: p.key,
          Body: body,
          ContentLength: p.size,
          ContentMD5: md5,
          ...params,
        }),
        request,
      );
    }, p.transfer).catch((err: unknown) => {
      throw classRefused(err, params.StorageClass);
    });
    return normalizeEtag(r.ETag);
  }

  createMultipart(input: CreateMultipartInput): Promise<string> {
    return createMultipart(this, input);
  }

  uploadPart(input: UploadPartInput): Promise<string> {
    return uploadPart(this, input);
  }

  completeMultipart(input: CompleteMultipartInput): Promise<string> {
    return completeMultipart(this, input);
  }

  abortMultipart(upload: UploadRef, retries?: number): Promise<AbortOutcome> {
    return abortMultipart(this, upload, retries);
  }

  listParts(upload: UploadRef): Promise<PartsListing> {
    return listParts(this, upload);
  }

  uploadsAt(key: string): Promise<UploadsAtKey | 'refused'> {
    return uploadsAt(this, key);
  }

  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    return listMultipartUploads(this, prefix);
  }

  /** The uploads under `prefix`, with bounds on the server's clock offset (cleanup counts ages on it). */
  uploadsUnder(prefix: string): Promise<UploadsAtKey> {
    return uploadsUnder(this, prefix);
  }

  /**
   * GetObject (optionally a byte range, or a past version); the body is handed to `consume` within the
   * retry loop. `verifiedByMd5`: the caller checks the whole body against an MD5 ETag, so the request
   * may go without the SDK where the endpoint allows (see DirectRequests).
   */
  async get<T>(
    input: {
      key: string;
      range?: { start: number; end: number };
      versionId?: string;
      verifiedByMd5?: boolean;
    },
    consume: (
      body: Readable,
      info: { size: number; etag: string; metadata: Record<string, string>; contentEncoding?: string },
    ) => Promise<T>,
  ): Promise<T> {
    const { key, range, versionId } = input;
    const direct = input.verifiedByMd5 && !range ? this.direct : undefined;
    return this.call(async (request) => {
      const r = direct
        ? await this.sendDirect(direct, key, versionId, request)
        : await this.send(
            new (s3().GetObjectCommand)({
              Bucket: this.bucket,
              Key: key,
              VersionId: versionId,
              Range: range ? `bytes=${range.start}-${range.end}` : undefined,
            }),
            request,
          );
      // The Node HTTP handler's body is a stream; anything else cannot be consumed here.
      if (!(r.Body instanceof Readable)) throw new Error('GetObject returned no body');
      // A direct GET is never ranged (see `direct`): only the SDK's answer can be a range.
      const status = '$metadata' in r ? r.$metadata.httpStatusCode : undefined;
      const wrong = range && '$metadata' in r && rangeMismatch(range, status, r.ContentRange);
      if (wrong) {
        // Not read: it may be the whole object, fetched once for each range asked for.
        r.Body.destroy();
        throw new RangeIgnored(wrong, status ?? 0);
      }
      return consume(r.Body, {
        size: r.ContentLength ?? 0,
        etag: normalizeEtag(r.ETag),
        metadata: r.Metadata ?? {},
        contentEncoding: r.ContentEncoding,
      });
    });
  }

  /** One direct GET attempt, counted and rate-limited as `send` does through the SDK's stack. */
  private sendDirect(
    direct: DirectRequests,
    key: string,
    versionId: string | undefined,
    request: RequestScope | undefined,
  ) {
    return this.limits.around({}, request, async () => {
      await this.sending('GetObject');
      return direct.get(key, versionId, request);
    });
  }

  /**
   * Counts a direct request as it goes: after its credentials resolve, as the SDK's requests are
   * counted after signing, so one that could not be signed (no credentials) is not a request made.
   */
  private async sending(name: string): Promise<void> {
    await this.resolved.direct?.credentials();
    this.counter.add(name);
  }

  /**
   * One listing page's body without the SDK, counted and rate-limited as `send` does; undefined where
   * the endpoint does not allow it (see DirectRequests).
   */
  listDirect(
    p: ListPageRequest,
    request: RequestScope | undefined,
    onSent?: () => void,
  ): Promise<string> | undefined {
    const direct = this.direct;
    if (!direct) return undefined;
    return this.limits.around({}, request, async () => {
      await this.sending('ListObjectsV2');
      return direct.list(p, request, onSent);
    });
  }

  /** A server-side copy into this bucket (see copy.ts), in parts above the threshold. */
  copy(input: CopyInput): Promise<CopyResult> {
    return copyObject(this, {
      limits: this.provider,
      partCopyDecodesSourceTwice: this.provider.partCopyDecodesSourceTwice,
      ...input,
    });
  }

  /** DeleteObjects in batches of 1,000; returns the keys that failed with their error codes. */
  deleteKeys(keys: string[], settled?: DeletesSettled): Promise<Map<string, string>> {
    return deleteKeys(this, keys, settled);
  }
}
