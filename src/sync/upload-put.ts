/** The single-PUT ways to upload a file: from memory, streamed after its hash, streamed in one pass. */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { errorMessage, runError, S3SyncError } from '../errors.js';
import { md5Hex } from '../local/hash.js';
import { SYNC_MAX } from '../local/hash-pool.js';
import {
  exactRange,
  FileChangedError,
  readWhole,
  readWholeSync,
  type Scanned,
} from '../local/stable-read.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import { errorCode } from '../s3/errors.js';
import { etagForm } from '../s3/etag.js';
import {
  assertWritten,
  checkEtag,
  countChunks,
  hashOf,
  mtimeMeta,
  objectMeta,
  readAs,
  type UploadJob,
} from './upload-job.js';

/**
 * The whole scanned file, if it held still and is as many bytes as its size says. A change since the
 * scan or during the read is retried at the end of the run; a size that lies is not. Below SYNC_MAX
 * synchronously, as the synchronous hashes: five thread-pool round trips (open, fstat, read, fstat,
 * close) cost a small file more than the read itself, and 10k of them compete with the uploads.
 */
async function readStable(src: Scanned) {
  const r =
    src.expect.size < SYNC_MAX
      ? readWholeSync(src, { since: src.expect })
      : await readWhole(src, { since: src.expect });
  if (!r.stable) throw new FileChangedError();
  return r;
}

/** From this size a body in memory is counted as it is sent; below it only its end is reported. */
export const SLICED_BODY_MIN = 1024 * 1024;
const SLICE = 256 * 1024;

/**
 * `buf` as a stream of slices, each counted as the request reads it: under --bwlimit or on a slow link
 * the bar moves as a file in memory is sent, as it does for one streamed from disk (counted a slice
 * ahead of the socket at most, as that one is counted a few chunks ahead).
 */
function countedSlices(buf: Buffer, count: (bytes: number) => void): Readable {
  let at = 0;
  return new Readable({
    highWaterMark: SLICE,
    read() {
      if (at >= buf.length) {
        this.push(null);
        return;
      }
      const slice = buf.subarray(at, at + SLICE);
      at += slice.length;
      this.push(slice);
      count(slice.length);
    },
  });
}

/**
 * A small file, read into memory once: hashed and sent from the same buffer. From SLICED_BODY_MIN the
 * buffer goes as counted slices, unless it goes direct: below it no `bytes` event (one a MiB) would go
 * out before the end anyway, and a tiny file keeps the cheapest path.
 */
export async function putFromMemory(job: UploadJob): Promise<ManifestEntry> {
  const { t, key, progress } = job;
  const { data: buf, stat } = await readStable(job.src);
  const md5 = md5Hex(buf);
  // A body sent direct goes to the socket in one write: there is nothing to count before it ends.
  const sliced = buf.length >= SLICED_BODY_MIN && !t.putsDirect(buf.length);
  const etag = await t
    .put({
      key,
      body: () => (sliced ? countedSlices(buf, progress.attempt(0, buf.length)) : buf),
      size: buf.length,
      md5Base64: Buffer.from(md5, 'hex').toString('base64'),
      contentType: job.contentType,
      metadata: objectMeta(job, { md5, mtime: mtimeMeta(stat.mtimeNs) }),
      headers: job.headers,
    })
    .catch((err: unknown) => {
      // Hashed from the very buffer sent: a digest the server refuses was damaged on the way, not a file
      // that changed (which is what uploadFile takes a BadDigest for, and retries at the end of the run).
      // A stream is not signed by its SHA-256, as a Buffer is over plain HTTP: Content-MD5 is what catches it.
      if (errorCode(err instanceof S3SyncError ? err.cause : err) === 'BadDigest')
        throw runError(errorMessage(err));
      throw err;
    });
  progress.finish();
  checkEtag(etag, [md5]);
  await assertWritten(job.src);
  return manifestEntry(stat, { md5, etag, partSize: 0 });
}

/** Hashed first (Content-MD5 and x-amz-meta-md5 go with the request), then streamed from disk. */
export async function putHashFirst(job: UploadJob): Promise<ManifestEntry> {
  const { t, f, key, progress } = job;
  const h = await hashOf(job, []);
  // A size other than the scan's would need another upload path: rescan at the end instead.
  if (!h.stable || h.size !== f.size) throw new FileChangedError();
  const src = readAs(job, h.stat);
  const transfer = new AbortController();
  const etag = await t.put({
    key,
    // Exactly the hashed length: a file that grew must not send more than Content-Length.
    body: () => exactRange(src, 0, h.size - 1, transfer, countChunks(progress.attempt(0, h.size))),
    transfer: transfer.signal,
    size: h.size,
    md5Base64: Buffer.from(h.md5, 'hex').toString('base64'),
    contentType: job.contentType,
    metadata: objectMeta(job, { md5: h.md5, mtime: mtimeMeta(h.stat.mtimeNs) }),
    headers: job.headers,
  });
  progress.finish();
  // A changed file explains a wrong ETag (on servers that ignore Content-MD5): check it first.
  await assertWritten(src);
  checkEtag(etag, [h.md5]);
  return manifestEntry(h.stat, { md5: h.md5, etag, partSize: 0 });
}

/**
 * SSE-KMS and SSE-C objects have ETags that are not their MD5: an object sent without Content-MD5 could
 * not be checked, nor later matched without x-amz-meta-md5.
 */
export const onePassAllowed = (t: { settings: { sse?: string | undefined } }) =>
  t.settings.sse === undefined || t.settings.sse === 'AES256';

/**
 * A new object, streamed from disk, is hashed as it is sent instead of before (which Content-MD5 and
 * x-amz-meta-md5 need): one read instead of two, and the first byte leaves at once, where hash-first
 * makes the later uploads of a batch wait while the hashes queue one behind the other on few cores.
 *
 * The guarantees come from elsewhere, and only because no object is there to lose:
 * - a file that changes while it is read: the last chunk is held back until the file's stat data is
 *   checked again, and a change aborts the request, so the server commits nothing (it stores a body
 *   only when all of Content-Length arrives);
 * - damage on the way: the ETag must be the MD5 of what was sent, or the object is deleted and the file
 *   reported (AWS's CRC32 checksum, sent by the SDK there, covers it as the body travels).
 * An object that exists gets the hash-first path: a bad body is then refused before it replaces it.
 */
export async function putNewInOnePass(job: UploadJob): Promise<ManifestEntry> {
  const { t, f, key, progress } = job;
  const transfer = new AbortController();
  let hash: Hash | undefined;
  const etag = await t.put({
    key,
    // Each attempt hashes its own body: the digest taken is the one of the attempt that succeeded. On
    // this thread: a worker's round trip per chunk held the streams back.
    body: () => {
      const h = createHash('md5');
      hash = h;
      const sent = progress.attempt(0, f.size);
      return exactRange(job.src, 0, f.size - 1, transfer, (chunk) => {
        h.update(chunk);
        sent(chunk.length);
      });
    },
    transfer: transfer.signal,
    size: f.size,
    contentType: job.contentType,
    metadata: objectMeta(job, { mtime: mtimeMeta(f.mtimeNs) }),
    headers: job.headers,
  });
  progress.finish();
  const md5 = hash!.digest('hex');
  await assertWritten(job.src);
  if (etagForm(etag).kind !== 'opaque' && etag !== md5) {
    await t.deleteKeys([key]);
    throw runError(`the stored object's ETag ${etag} is not the MD5 of the bytes sent (${md5}): deleted`);
  }
  return manifestEntry(f, { md5, etag, partSize: 0 });
}
