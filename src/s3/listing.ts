import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ListObjectsV2CommandInput, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { fatalError } from '../errors.js';
import { printable } from '../escape.js';
import { NotS3Error } from './endpoint-errors.js';
import { httpStatus, isLocalError, isRetryable } from './errors.js';
import { normalizeEtag } from './etag.js';
import { BrokenPage, type ListedObject, type ListPage, parseListObjectsV2 } from './list-xml.js';
import { listRanges } from './parallel-listing.js';
import type { RemoteObject } from './remote-object.js';
import type { RequestScope } from './request-signals.js';
import type { S3Requests } from './requests.js';
import { s3 } from './sdk.js';

/** What the SDK's deserializer is given for a page already read by parseListObjectsV2. */
const EMPTY_LISTING = new TextEncoder().encode(
  '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult></ListBucketResult>',
);

/** A response body, whole: the HTTP stream, or bytes an earlier middleware already collected. */
export async function readBody(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>)
    chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
  return Buffer.concat(chunks);
}

export interface ListOptions {
  /** Sees each page's objects as they arrive (to start work early). */
  onPage?: (page: RemoteObject[]) => void;
  /** Called as the first page's request goes out (signed, to the HTTP handler). */
  onRequested?: () => void;
  /**
   * Ranges listed at once (see parallel-listing.ts); 1 or absent: one stream. More only where
   * `splitFrom` holds enough keys.
   */
  maxRanges?: number;
  /** Rels the run knows (the manifest's, the scan's) to split the key space at; may come later. */
  splitFrom?: Promise<readonly string[]> | readonly string[];
  /** Why a parallel listing was given up for one stream. */
  onFallback?: (reason: string) => void;
}

/** Knobs only tests turn: kept off ListOptions, which the transport's callers see. */
export interface ListingProbe {
  /** The SDK reads every page. */
  sdkParser?: boolean;
  /** Pages of this many objects. */
  maxKeys?: number;
  /** Counts the pages read by parseListObjectsV2, and by the SDK (a page that reader declined). */
  pages?: { fast: number; sdk: number };
}

/**
 * One paginated ListObjectsV2 of the prefix; rel is the key minus the prefix. The next page is asked
 * for as soon as a page is read, before its objects are handed on, so the server never waits on this
 * side's work.
 */
export async function listObjects(
  t: S3Requests,
  prefix: string,
  opts: ListOptions = {},
  probe: ListingProbe = {},
): Promise<Map<string, RemoteObject>> {
  if (opts.maxRanges !== undefined && opts.maxRanges > 1 && opts.splitFrom)
    return listRanges(t, prefix, opts, probe);
  return oneStream(t, prefix, opts, probe);
}

/** The listing as one sequence of pages. */
export async function oneStream(
  t: S3Requests,
  prefix: string,
  opts: ListOptions,
  probe: ListingProbe,
): Promise<Map<string, RemoteObject>> {
  const out = new Map<string, RemoteObject>();
  const tokens = new Set<string>();
  let next: Promise<ListPage> | undefined = listPage(t, { prefix, probe, onRequested: opts.onRequested });
  while (next) {
    const page: ListPage = await next;
    next = undefined;
    advancing(t, prefix, page, (key) => out.has(key.slice(prefix.length)));
    if (page.isTruncated) {
      const token = continuation(t, prefix, page, tokens);
      next = listPage(t, { prefix, token, probe });
    }
    if (next) {
      // Awaited on the next turn of the loop; never an unhandled rejection meanwhile.
      next.catch(() => {});
      // One turn of the event loop lets the SDK's (promise-driven) send run to the socket before
      // this page's objects are handed on, which would otherwise keep the next request back.
      await nextTurn();
    }
    const objects: RemoteObject[] = [];
    for (const o of page.objects) {
      const obj = remoteObject(prefix, o);
      out.set(obj.rel, obj);
      objects.push(obj);
    }
    opts.onPage?.(objects);
  }
  return out;
}

/**
 * The token of a truncated page. A page that says more keys follow but gives no new token would end
 * the listing early, and keys on the pages never read would look deleted (a pull --delete would remove
 * their files): the listing fails instead.
 */
export function continuation(t: S3Requests, prefix: string, page: ListPage, seen: Set<string>): string {
  const token = page.nextToken;
  if (token === undefined || token === '' || seen.has(token))
    throw fatalError(
      `the listing of s3://${t.bucket}/${prefix} stopped early: the server said more keys follow but gave ` +
        `${token ? 'a continuation token it had given before' : 'no continuation token'}; nothing was decided from it`,
    );
  seen.add(token);
  return token;
}

/**
 * Stops a listing that names a key again (`listed`: on an earlier page). S3 lists each key once, so the
 * server is going round, with a fresh token each time that `continuation` cannot catch: the listing
 * would never end, and keys past the loop would never be read.
 */
export function advancing(
  t: S3Requests,
  prefix: string,
  page: ListPage,
  listed: (key: string) => boolean,
): void {
  const here = new Set<string>();
  for (const { key } of page.objects) {
    if (listed(key) || here.has(key))
      throw fatalError(
        `the listing of s3://${t.bucket}/${prefix} stopped early: the server listed "${printable(key)}" a second time, so the listing does not advance; nothing was decided from it`,
      );
    here.add(key);
  }
}

/** A listed object as the planner sees it; rel is the key minus the prefix. */
export function remoteObject(prefix: string, o: ListedObject): RemoteObject {
  return {
    rel: o.key.slice(prefix.length),
    key: o.key,
    size: o.size,
    etag: normalizeEtag(o.etag),
    lastModified: o.lastModified,
    ...(o.storageClass && o.storageClass !== 'STANDARD' && { storageClass: o.storageClass }),
  };
}

export interface PageInput {
  prefix: string;
  /** StartAfter: only on a listing's first page (a continuation token carries it on). */
  startAfter?: string;
  token?: string;
  probe: ListingProbe;
  onRequested?: () => void;
}

/**
 * One listing page, read by parseListObjectsV2 where it can, else by the SDK. Sent without the SDK
 * where the store allows (S3Requests.listDirect); a page that reader declines is asked for again
 * through the SDK, which reads what it can. A page that is no whole answer fails (see brokenListing).
 */
export function listPage(t: S3Requests, p: PageInput): Promise<ListPage> {
  let requested = p.onRequested;
  const onRequested =
    requested &&
    (() => {
      requested?.();
      requested = undefined;
    });
  return t.call(async (request) => {
    try {
      return await readPage(t, p, request, onRequested);
    } catch (err) {
      throw brokenListing(t, p.prefix, err);
    }
  });
}

/**
 * A page that is no whole answer as the listing's failure, retried as a body cut short is (errors.ts
 * retries an IncompleteBody, then says it failed on every attempt). The SDK's own words for XML it
 * cannot parse name none of it. Other failures pass unchanged.
 */
function brokenListing(t: S3Requests, prefix: string, err: unknown): unknown {
  const status = httpStatus(err);
  const unparsed =
    status !== undefined &&
    status >= 200 &&
    status < 300 &&
    !(err instanceof NotS3Error) &&
    !isLocalError(err) &&
    !isRetryable(err) &&
    (err as Error | null)?.name !== 'AbortError';
  if (!(err instanceof BrokenPage) && !unparsed) return err;
  const reason = err instanceof BrokenPage ? err.message : 'the answer is not well-formed XML';
  return Object.assign(new Error(`ListObjectsV2 of s3://${t.bucket}/${prefix}: ${reason}`, { cause: err }), {
    name: 'IncompleteBody',
  });
}

/** One attempt at a page (see listPage). */
async function readPage(
  t: S3Requests,
  p: PageInput,
  request: RequestScope | undefined,
  onRequested: (() => void) | undefined,
): Promise<ListPage> {
  const startAfter = p.token === undefined ? p.startAfter : undefined;
  const direct = p.probe.sdkParser
    ? undefined
    : t.listDirect?.(
        { prefix: p.prefix, token: p.token, startAfter, maxKeys: p.probe.maxKeys },
        request,
        onRequested,
      );
  if (direct) {
    const read = parseListObjectsV2(await direct);
    if (read) {
      if (p.probe.pages) p.probe.pages.fast++;
      return read;
    }
  }
  const cmd = new (s3().ListObjectsV2Command)({
    Bucket: t.bucket,
    Prefix: p.prefix,
    ContinuationToken: p.token,
    StartAfter: startAfter,
    MaxKeys: p.probe.maxKeys,
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
  // A page the reader declined as sent direct is the SDK's to read.
  if (!p.probe.sdkParser && !direct) {
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
  const page = await t.send(cmd, request);
  if (p.probe.pages) p.probe.pages[fast ? 'fast' : 'sdk']++;
  if (fast) return fast;
  // The SDK reads a page without IsTruncated as the last, and keeps no count of what it read.
  if (page.IsTruncated === undefined) throw new BrokenPage('the answer has no IsTruncated');
  const listed = (page.Contents?.length ?? 0) + (page.CommonPrefixes?.length ?? 0);
  if (page.KeyCount !== undefined && page.KeyCount !== listed)
    throw new BrokenPage(`the answer's KeyCount says ${page.KeyCount}, the page holds ${listed}`);
  return {
    objects: (page.Contents ?? []).flatMap((o) =>
      o.Key
        ? [
            {
              key: o.Key,
              size: o.Size ?? 0,
              etag: o.ETag ?? '',
              lastModified: o.LastModified?.getTime() ?? 0,
              storageClass: o.StorageClass,
            },
          ]
        : [],
    ),
    isTruncated: page.IsTruncated === true,
    nextToken: page.NextContinuationToken,
  };
}
