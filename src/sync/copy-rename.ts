import { S3SyncError } from '../errors.js';
import type { LocalFile } from '../local/scan.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import type { CopyAction } from '../plan/renames.js';
import { errorCode, httpStatus, isFatal } from '../s3/errors.js';
import { etagForm } from '../s3/etag.js';
import type { S3Transport } from '../s3/transport.js';
import type { ObjectStyles } from './object-style.js';
import type { RunContext } from './run-context.js';
import { mtimeMeta } from './upload-job.js';

/**
 * Whether this run still tries server-side copies: a store that cannot copy, or credentials that may
 * write but not read (a backup user's), answer every copy the same way, so the first such answer
 * sends the rest of the run's renamed files to upload with one notice. One per run.
 */
export class CopyGate {
  closed = false;
}

const cause = (err: unknown) => (err as { cause?: unknown }).cause ?? err;

/**
 * Every copy would fail the same way: the store cannot copy, or the credentials may not read. (copy.ts
 * is loaded when a copy is made: it brings the SDK, which a run without requests never loads.)
 */
const refusedForRun = async (err: unknown) =>
  (await import('../s3/copy.js')).copyUnsupported(err) ||
  errorCode(cause(err)) === 'AccessDenied' ||
  httpStatus(cause(err)) === 403;

/**
 * Creates the object for `f` by a server-side copy of the rename's source, with the headers an upload
 * of `f` would give it. Returns the manifest entry, or undefined when the file is to be uploaded
 * instead (said in a notice): the source is gone, the store or the credentials cannot copy, the copy
 * failed otherwise, or it did not reproduce the source's ETag (the source changed since it was listed
 * or recorded; the upload then replaces what the copy wrote). Only errors that stop the run are thrown.
 */
export async function copyRenamed(
  s: RunContext,
  t: S3Transport,
  input: { a: CopyAction; f: LocalFile; gate: CopyGate; styles: ObjectStyles },
): Promise<ManifestEntry | undefined> {
  const { a, f, gate, styles } = input;
  // A library pass-through's fields are not known to a copy: the upload sets them.
  if (gate.closed || styles.passThrough) return undefined;
  // The headers an upload of the file would get, its header rule's included.
  const h = styles.headersFor(f, await s.contentTypes.of(a.rel));
  let etag: string;
  try {
    ({ etag } = await t.copy({
      sourceBucket: t.bucket,
      sourceKey: a.from.key,
      key: s.location.prefix + a.rel,
      size: a.size,
      replace: {
        contentType: h.contentType,
        metadata: { ...h.metadata, md5: a.md5, mtime: mtimeMeta(f.mtimeNs) },
        cacheControl: h.cacheControl ?? t.settings.cacheControl,
        contentEncoding: h.contentEncoding,
        contentDisposition: h.contentDisposition,
        storageClass: h.storageClass ?? t.settings.storageClass,
      },
      signal: s.opts.signal,
    }));
  } catch (err) {
    if (s.opts.signal?.aborted) throw err;
    if (await refusedForRun(err)) {
      gate.closed = true;
      s.notice(
        `server-side copies refused (${errorCode(cause(err)) || httpStatus(cause(err))}): renamed files are uploaded instead`,
      );
      return undefined;
    }
    if (errorCode(cause(err)) === 'NoSuchKey') {
      s.notice(`${a.rel}: its copy source ${a.from.rel} is gone: uploaded instead`, a.rel);
      return undefined;
    }
    // A copy only saves sending the bytes: whatever else it failed of (a store's size limit on a
    // single copy, a transient error retried out), the upload is still the way to the same object.
    if (err instanceof S3SyncError && isFatal(err)) throw err;
    s.notice(
      `${a.rel}: the copy of ${a.from.rel} failed (${(err as Error).message}): uploaded instead`,
      a.rel,
    );
    return undefined;
  }
  const from = a.from.etag;
  if (from !== '' && etag === from) {
    const partSize = etagForm(from).kind === 'multipart' ? a.from.partSize : 0;
    return manifestEntry(f, { md5: a.md5, etag, partSize, style: h.digest });
  }
  if (etag === a.md5) return manifestEntry(f, { md5: a.md5, etag, partSize: 0, style: h.digest });
  s.notice(
    `${a.rel}: the copy of ${a.from.rel} has ETag ${etag}, not ${from || a.md5}: uploaded instead`,
    a.rel,
  );
  return undefined;
}
