/**
 * A header change without a content change: a metadata-only server-side copy of the object onto
 * itself (MetadataDirective REPLACE) with the headers of the rule now in force, and s3sync's own
 * metadata written back, since REPLACE drops whatever it is not given.
 */
import { S3SyncError } from '../errors.js';
import type { LocalFile } from '../local/scan.js';
import { manifestEntry } from '../manifest/schema.js';
import type { PushAction } from '../plan/push.js';
import type { Facts } from '../plan/types.js';
import { errorCode, httpStatus } from '../s3/errors.js';
import { etagForm } from '../s3/etag.js';
import type { S3Transport } from '../s3/transport.js';
import { type ObjectStyles, SOURCE_MD5_META, SOURCE_SIZE_META } from './object-style.js';
import type { RunContext } from './run-context.js';
import { mtimeMeta } from './upload-job.js';

export type Restyle = Extract<PushAction, { kind: 'restyle' }>;

/**
 * The copy cannot stand in for an upload: the store refuses server-side copies, or the object is not
 * the one recorded (gone, or written behind s3sync's back). The caller uploads the file instead.
 */
export class CopyRefused extends Error {}

/**
 * Copies the object onto itself with its new headers and records the result. The file's stat data is
 * the hash's when the plan hashed it (its stat data had changed), else the scan's (they matched the
 * entry, so the content is the entry's).
 */
export async function restyleObject(
  s: RunContext,
  t: S3Transport,
  a: Restyle,
  ctx: { f: LocalFile; styles: ObjectStyles; facts: Facts },
): Promise<void> {
  const { f, styles, facts } = ctx;
  const h = styles.headersFor(f, await s.contentTypes.of(f.rel));
  const own: Record<string, string> =
    a.stored === undefined
      ? { md5: a.md5 }
      : { [SOURCE_MD5_META]: a.md5, [SOURCE_SIZE_META]: String(a.size) };
  const hashed = facts.hashes.get(f.rel);
  const stat = hashed?.stable ? hashed.stat : f;
  own.mtime = mtimeMeta(stat.mtimeNs);
  let etag: string;
  try {
    ({ etag } = await t.copy({
      sourceBucket: t.bucket,
      sourceKey: s.location.prefix + f.rel,
      // Only the object recorded: one overwritten since must not get this file's MD5 as its own.
      sourceIfMatch: a.etag || undefined,
      key: s.location.prefix + f.rel,
      size: a.stored ?? a.size,
      replace: {
        contentType: h.contentType,
        metadata: { ...h.metadata, ...own },
        cacheControl: h.cacheControl ?? t.settings.cacheControl,
        contentEncoding: h.contentEncoding,
        contentDisposition: h.contentDisposition,
        storageClass: h.storageClass ?? t.settings.storageClass,
      },
      signal: s.opts.signal,
    }));
  } catch (err) {
    // Loaded here: src/s3/copy.ts loads the SDK, which a run that makes no request never does.
    const { copyUnsupported } = await import('../s3/copy.js');
    const e = err instanceof S3SyncError ? err.cause : err;
    if (copyUnsupported(e) || errorCode(e) === 'NoSuchKey' || httpStatus(e) === 412) throw new CopyRefused();
    throw err;
  }
  // A store that ignores the condition: a single-part object copied keeps its ETag, or it was another.
  if (etagForm(a.etag).kind === 'md5' && etag !== a.etag) throw new CopyRefused();
  // A copy of a single-PUT object keeps its MD5 ETag; a copied multipart object becomes one part.
  const partSize = etag === a.etag ? a.partSize : 0;
  s.store.record(
    a.rel,
    manifestEntry(stat, { md5: a.md5, etag, partSize, style: a.style, stored: a.stored }),
  );
}
