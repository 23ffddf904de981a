import type { ListObjectVersionsCommandInput, ListObjectVersionsCommandOutput } from '@aws-sdk/client-s3';
import type { DeserializeMiddleware } from '@smithy/types';
import { runError, usageError } from '../errors.js';
import { errorCode, httpStatus } from './errors.js';
import { normalizeEtag } from './etag.js';
import { readBody } from './listing.js';
import type { ObjectVersion } from './remote-object.js';
import type { S3Requests } from './requests.js';
import { s3 } from './sdk.js';

export type { ObjectVersion };

/** Whether the bucket keeps versions: `never` (never enabled) and `unsupported` (the store) cannot. */
export type VersioningState = 'Enabled' | 'Suspended' | 'never' | 'unsupported';

/** GetBucketVersioning. A store that does not implement it answers 501 or 405: not retried. */
export async function bucketVersioning(t: S3Requests): Promise<VersioningState> {
  return t.call(async (request) => {
    try {
      const r = await t.send(new (s3().GetBucketVersioningCommand)({ Bucket: t.bucket }), request);
      return r.Status === 'Enabled' || r.Status === 'Suspended' ? r.Status : 'never';
    } catch (err) {
      const status = httpStatus(err);
      if (status === 501 || status === 405 || errorCode(err) === 'NotImplemented') return 'unsupported';
      throw err;
    }
  });
}

/**
 * Refuses, as a usage error, a bucket whose history cannot be read: versioning never enabled, or a
 * store without it. A suspended bucket still holds the versions written while it was enabled.
 */
export async function requireVersioning(t: S3Requests, what: string, answered?: () => void): Promise<void> {
  const state = await bucketVersioning(t);
  answered?.();
  if (state === 'unsupported')
    throw usageError(`${what} needs a versioned bucket, and this S3 store does not support versioning`);
  if (state === 'never')
    throw usageError(
      `${what} needs a versioned bucket: versioning was never enabled on s3://${t.bucket}, so it keeps no earlier versions`,
    );
}

interface VersionsPage {
  versions: ObjectVersion[];
  next?: { keyMarker: string; versionIdMarker: string };
}

/**
 * Every version and delete marker under the prefix, in the store's order (each key's entries newest
 * first on S3 and RGW). Paged with KeyMarker and VersionIdMarker; a page that says it is truncated but
 * names no next markers, or the same ones again, is an error: the listing never ends early in silence.
 */
/** `maxKeys`: entries per page, for tests of the paging; `out` has each page as it comes (a stop keeps them). */
export async function listVersions(
  t: S3Requests,
  prefix: string,
  maxKeys?: number,
  out: ObjectVersion[] = [],
): Promise<ObjectVersion[]> {
  let marker: VersionsPage['next'];
  for (;;) {
    const page = await versionsPage(t, { prefix, marker, maxKeys });
    out.push(...page.versions);
    if (!page.next) return out;
    if (
      marker &&
      page.next.keyMarker === marker.keyMarker &&
      page.next.versionIdMarker === marker.versionIdMarker
    )
      throw runError(
        `the versions listing of s3://${t.bucket}/${prefix} does not advance past ${marker.keyMarker}`,
      );
    marker = page.next;
  }
}

/** The order of `<Version>` and `<DeleteMarker>` elements in a page: the SDK returns them as two lists. */
const ELEMENT = /<(Version|DeleteMarker)>/g;

function versionsPage(
  t: S3Requests,
  p: { prefix: string; marker: VersionsPage['next']; maxKeys?: number },
): Promise<VersionsPage> {
  const { prefix, marker } = p;
  return t.call(async (request) => {
    const cmd = new (s3().ListObjectVersionsCommand)({
      Bucket: t.bucket,
      Prefix: prefix,
      KeyMarker: marker?.keyMarker,
      VersionIdMarker: marker?.versionIdMarker,
      MaxKeys: p.maxKeys,
    });
    let kinds: string[] | undefined;
    // Inside the SDK's deserializer: sees the raw body, notes the order of its elements, hands it on.
    const readOrder: DeserializeMiddleware<ListObjectVersionsCommandInput, ListObjectVersionsCommandOutput> =
      (next) => async (args) => {
        const result = await next(args);
        const res = result.response as { statusCode?: number; body?: unknown };
        if (res.statusCode !== 200) return result;
        const body = await readBody(res.body);
        kinds = [...body.toString('utf8').matchAll(ELEMENT)].map((m) => m[1]!);
        res.body = body;
        return result;
      };
    cmd.middlewareStack.addRelativeTo(readOrder, {
      relation: 'after',
      toMiddleware: 'deserializerMiddleware',
      name: 's3syncVersionsOrder',
    });
    const page = await t.send(cmd, request);
    return toPage(t, prefix, page, kinds);
  });
}

/** The page's entries in the order the store listed them, and its next markers. */
function toPage(
  t: S3Requests,
  prefix: string,
  page: ListObjectVersionsCommandOutput,
  kinds: string[] | undefined,
): VersionsPage {
  const versions = (page.Versions ?? []).map(
    (v): ObjectVersion => ({
      key: v.Key ?? '',
      versionId: v.VersionId ?? 'null',
      isLatest: v.IsLatest === true,
      lastModified: v.LastModified?.getTime() ?? 0,
      deleteMarker: false,
      size: v.Size ?? 0,
      etag: normalizeEtag(v.ETag),
      // Carried as the current listing carries it: an archived version is decided the same way.
      ...(v.StorageClass && v.StorageClass !== 'STANDARD' && { storageClass: v.StorageClass }),
    }),
  );
  const markers = (page.DeleteMarkers ?? []).map(
    (d): ObjectVersion => ({
      key: d.Key ?? '',
      versionId: d.VersionId ?? 'null',
      isLatest: d.IsLatest === true,
      lastModified: d.LastModified?.getTime() ?? 0,
      deleteMarker: true,
      size: 0,
      etag: '',
    }),
  );
  const where = `s3://${t.bucket}/${prefix}`;
  // Which of two entries of a key with the same time is newer is only in the order of the page.
  if (kinds?.length !== versions.length + markers.length)
    throw runError(`the versions listing of ${where} could not be read in its order`);
  const ordered = kinds.map((k) => (k === 'Version' ? versions.shift()! : markers.shift()!));
  if (ordered.some((v) => v === undefined || v.key === '' || v.lastModified === 0))
    throw runError(`the versions listing of ${where} has an entry without a key or a time`);
  if (page.IsTruncated !== true) return { versions: ordered };
  if (!page.NextKeyMarker || !page.NextVersionIdMarker)
    throw runError(
      `the versions listing of ${where} is truncated but names no next page (NextKeyMarker, NextVersionIdMarker)`,
    );
  return {
    versions: ordered,
    next: { keyMarker: page.NextKeyMarker, versionIdMarker: page.NextVersionIdMarker },
  };
}
