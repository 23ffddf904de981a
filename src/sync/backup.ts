import { errorMessage, runError, usageError } from '../errors.js';
import { Limiter } from '../limiter.js';
import { describeS3Error, errorCode, httpStatus } from '../s3/errors.js';
import type { PartLimits } from '../s3/etag.js';
import type { ProviderQuirks } from '../s3/providers.js';
import { inBucket, type S3Requests } from '../s3/requests.js';
import { s3 } from '../s3/sdk.js';
import { isS3Url, type S3Location, writableS3Url } from '../s3/url.js';

/**
 * --backup-dir for a destination in S3 (rclone's semantics): before the run overwrites or deletes an
 * object, a server-side copy of it is made at <backup prefix><rel><suffix>, in the same bucket or
 * another one on the same endpoint. A later backup of the same rel replaces the earlier one.
 */
export interface BackupTarget {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  suffix: string;
}

const overlaps = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/**
 * The backup location of a run to `destination`, checked: an s3:// URL whose prefix neither holds nor
 * lies inside the destination's (a backup inside the tree it backs up would be synced, or deleted, by
 * the next run; the destination inside the backup would be backed up into itself). `name`: how the
 * errors name it (an applied plan's comes from the plan, not from a flag).
 */
export function s3BackupTarget(
  backupDir: string,
  suffix: string | undefined,
  destination: S3Location,
  name = 'backupDir (--backup-dir)',
): BackupTarget {
  if (!isS3Url(backupDir))
    throw usageError(`${name} for an S3 destination must be an s3://bucket/prefix URL, not '${backupDir}'`);
  const loc = writableS3Url(backupDir, name);
  if (loc.bucket === destination.bucket && overlaps(loc.prefix, destination.prefix)) {
    throw usageError(
      `${name} s3://${loc.bucket}/${loc.prefix} overlaps the destination s3://${destination.bucket}/${destination.prefix}: choose a prefix outside it`,
    );
  }
  return { bucket: loc.bucket, prefix: loc.prefix, suffix: suffix ?? '' };
}

/** Errors that name the bucket: said of the backup's, not of the transport's. */
const aboutBucket = (err: unknown) =>
  errorCode(err) === 'NoSuchBucket' || errorCode(err) === 'AccessDenied' || httpStatus(err) === 403;

/** The same requests addressed to the backup's bucket, its failures said of that bucket. */
function backupBucket(t: S3Requests & { endpointId?: string }, bucket: string): S3Requests {
  return inBucket(t, bucket, async (p) => {
    try {
      return await p;
    } catch (err) {
      throw aboutBucket(err) ? describeS3Error(err, { bucket, endpoint: t.endpointId }) : err;
    }
  });
}

/** The object to keep is not there (NoSuchBucket, also a 404, is not this). */
const missing = (err: unknown) => errorCode((err as { cause?: unknown }).cause ?? err) === 'NoSuchKey';

/**
 * Copies the object at `key` (in the transport's bucket) to the backup location before it is
 * overwritten or deleted. 'absent': there was no object to keep. Any other failure is thrown: the
 * caller must then leave the object alone.
 */
export async function backupObject(
  transport: S3Requests & {
    endpointId?: string;
    provider?: ProviderQuirks;
    retries: number;
    head(key: string): Promise<unknown | null>;
  },
  obj: { rel: string; key: string; size: number; etag?: string },
  target: BackupTarget,
): Promise<'kept' | 'absent'> {
  // Loaded here: the SDK stays unloaded on a run that makes no request.
  const [{ copiesInParts, copyObject }, { copiedOther }] = await Promise.all([
    import('../s3/copy.js'),
    import('../s3/copy-check.js'),
  ]);
  const to = backupBucket(transport, target.bucket);
  const key = target.prefix + obj.rel + target.suffix;
  try {
    const got = await copyObject(to, {
      sourceBucket: transport.bucket,
      sourceKey: obj.key,
      sourceEtag: obj.etag || undefined,
      key,
      size: obj.size,
      limits: transport.provider,
      partCopyDecodesSourceTwice: transport.provider?.partCopyDecodesSourceTwice,
    });
    // A copy in parts is judged where it was made along the object's own parts (see copiedOther).
    const judged =
      obj.etag !== undefined &&
      obj.etag !== '' &&
      (got.alongSource !== undefined || !copiesInParts(obj.size, undefined, obj.key));
    if (
      judged &&
      (await copiedOther(transport, { bucket: transport.bucket, key: obj.key, listed: obj.etag!, got }))
    )
      await keptThrough(transport, to, { ...obj, etag: obj.etag! }, key, got.etag);
    return 'kept';
  } catch (err) {
    if (!missing(err)) throw err;
    // Gone since the listing, or a key the store lists but cannot copy (s3rver with `+` in it): only a
    // HEAD tells them apart, and only the first has nothing to keep.
    if ((await transport.head(obj.key)) === null) return 'absent';
    throw runError(
      'the store answered NoSuchKey to the copy of an object it has (a key it cannot copy?)',
      err,
    );
  }
}

/**
 * The backup of an object whose server-side copy the store made of another object (see copiedOther):
 * read and sent through this process, one part in memory, its bytes checked against the object's MD5.
 * Failing, it removes the wrong backup and throws, and the caller leaves the object alone: it was not
 * kept.
 */
async function keptThrough(
  transport: S3Requests & { provider?: PartLimits; retries: number },
  to: S3Requests,
  obj: { key: string; size: number; etag: string },
  key: string,
  wrong: string,
): Promise<void> {
  const { streamObject } = await import('./s3-stream.js');
  const what = `the store copied a different object (ETag ${wrong}, not ${obj.etag})`;
  try {
    await streamObject({
      src: transport,
      dst: to,
      limits: transport.provider,
      sourceKey: obj.key,
      key,
      size: obj.size,
      etag: obj.etag,
      multipartThreshold: BACKUP_PART,
      partSize: BACKUP_PART,
      budget: new Limiter(1),
    });
  } catch (err) {
    // The other object's bytes are no backup of this one: not left under its name.
    const { deleteKeys } = await import('../s3/deletes.js');
    const left = await deleteKeys(to, [key]).catch(() => undefined);
    const removed = left !== undefined && !left.has(key) ? 'removed' : 'could not be removed';
    throw runError(
      `${what}, and streaming it through failed (${errorMessage(err)}); the wrong backup ${removed}`,
      err,
    );
  }
}

/** Part size of a backup streamed through: the default --part-size. */
const BACKUP_PART = 16 * 1024 * 1024;

/**
 * A dry run's look at the backup bucket, for a run that would keep an object there: the real run's
 * first copy into a missing bucket stops it (exit 2), so the dry run must stop the same way. One
 * HeadBucket; a 403 is let through, since it needs s3:ListBucket, which the copies do not.
 */
export async function checkBackupBucket(
  t: S3Requests & { endpointId?: string },
  target: BackupTarget,
): Promise<void> {
  const there = await t.call(async (request) => {
    try {
      await t.send(new (s3().HeadBucketCommand)({ Bucket: target.bucket }), request);
      return true;
    } catch (err) {
      if (httpStatus(err) === 404) return false;
      if (httpStatus(err) === 403) return true;
      throw err;
    }
  });
  // Said as the real run's copy says it (describeS3Error of its NoSuchBucket).
  if (!there)
    throw describeS3Error(Object.assign(new Error('NoSuchBucket'), { name: 'NoSuchBucket' }), {
      bucket: target.bucket,
      endpoint: t.endpointId,
    });
}
