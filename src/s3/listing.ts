import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ListObjectsV2CommandInput, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { runError } from '../errors.js';
import { normalizeEtag } from './etag.js';
import { type ListPage, parseListObjectsV2 } from './list-xml.js';
import type { RemoteObject } from './remote-object.js';
import type { S3Requests } from './requests.js';
import { clientS3 } from './sdk.js';

const { ListObjectsV2Command } = clientS3;

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
  const out = new Map<string, RemoteObject>();
  let next: Promise<ListPage> | undefined = listPage(t, { prefix, probe, onRequested: opts.onRequested });
  let token: string | undefined;
  while (next) {
    const page: ListPage = await next;
    // A listing cut short would read as objects deleted (pull --delete removes their files): a page that
    // says more follow but names no next one, or the same one again, is an error, never the end.
    if (page.isTruncated && (!page.nextToken || page.nextToken === token))
      throw runError(
        `the listing of s3://${t.bucket}/${prefix} is truncated but ${page.nextToken ? 'repeats its continuation token' : 'names no next page (NextContinuationToken)'}`,
      );
    token = page.nextToken;
    next = page.isTruncated ? listPage(t, { prefix, token, probe }) : undefined;
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
    opts.onPage?.(objects);
  }
  return out;
}

interface PageInput {
  prefix: string;
  token?: string;
  probe: ListingProbe;
  onRequested?: () => void;
}

/** One listing page, read by parseListObjectsV2 where it can, else by the SDK. */
function listPage(t: S3Requests, p: PageInput): Promise<ListPage> {
  return t.call(async (signal) => {
    const cmd = new ListObjectsV2Command({
      Bucket: t.bucket,
      Prefix: p.prefix,
      ContinuationToken: p.token,
      MaxKeys: p.probe.maxKeys,
    });
    const onRequested = p.onRequested;
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
    if (!p.probe.sdkParser) {
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
    const page = await t.send(cmd, signal);
    if (p.probe.pages) p.probe.pages[fast ? 'fast' : 'sdk']++;
    if (fast) return fast;
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
