import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, read, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { errorMessage, runError, S3SyncError } from '../errors.js';
import { type HashResult, md5Hex } from '../local/hash.js';
import { SYNC_MAX } from '../local/hash-pool.js';
import {
  openScanned,
  openScannedSync,
  pathStat,
  type ReadSource,
  sizeLies,
  UnexpectedFileError,
} from '../local/open-file.js';
import { absPath, type FileStat, type LocalFile, sameStat, statFields } from '../local/scan.js';
import { type ManifestEntry, manifestEntry, type PendingUpload } from '../manifest/schema.js';
import { errorCode, isFatal } from '../s3/errors.js';
import { choosePartSize, etagForm } from '../s3/etag.js';
import type { S3Transport } from '../s3/transport.js';
import { contentType } from './content-type.js';
import { retirePending, sweepStrays } from './pending.js';
import { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';

/** Below this a file is read into memory once: hashed and sent from the same buffer. */
export const STREAMED_UPLOAD_MIN = 8 * 1024 * 1024;

/**
 * Read size of upload bodies. The stream default (64 KiB) costs a 256 MiB upload 4,096 reads and as
 * many buffers to collect, CPU taken from a machine the server shares. Larger is not better either:
 * with 1 MiB chunks the one-pass MD5 holds this thread long enough at a time to slow the other streams,
 * and 256 KiB measured faster against both servers for a little more CPU (see docs/performance.md).
 */
const READ_CHUNK = 256 * 1024;

/** The file changed while it was read or uploaded: not recorded, retried at the end of the run. */
export class FileChangedError extends Error {
  /** Raised by this machine, not by S3: the transport passes it through (see isLocalError). */
  readonly local = true;
  constructor() {
    super('file changed while it was being uploaded');
  }
}

/** A file read for an upload: its path, and the stat data the scan (or the hash) found there. */
type Scanned = ReadSource & { expect: FileStat };

const scannedAt = (s: RunContext, abs: string, expect: FileStat): Scanned => ({
  abs,
  expect,
  follow: s.followsSymlinks,
});

/**
 * A request body of exactly [start, end] of the scanned file. The file is opened here, before the
 * request is made, and must be the scanned one with the scan's stat data (see openScannedSync); each
 * attempt, and each part, opens and checks it again. The last chunk is held back until fstat of the
 * descriptor shows the file as it was opened, so a server, which stores a body only when all of
 * Content-Length arrives, never commits a changed one; a file that ends early aborts the request
 * rather than leave it waiting for the stall timeout on every attempt. `tap` sees every chunk as it is
 * handed on to be sent, the last one once the file is known to have held still.
 */
function exactRange(
  src: Scanned,
  start: number,
  end: number,
  transfer: AbortController,
  tap?: (chunk: Buffer) => void,
): Readable {
  const { fd, stat } = openScannedSync(src);
  if (!sameStat(stat, src.expect)) {
    closeSync(fd);
    throw new FileChangedError();
  }
  let pos = start;
  // A read in flight keeps the descriptor open until it returns, even past a destroy: a number closed
  // under it could be reused by another open.
  let reading = false;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    closeSync(fd);
  };
  // Failures travel through the transfer's AbortSignal, which stops the request and is what the
  // transport reports; an 'error' event here could outlive the request's listeners and go unhandled.
  const fail = (reason: Error) => {
    transfer.abort(reason);
    body.destroy();
  };
  // The end of the range: the descriptor must show the file as it was opened before the last bytes go.
  const finish = (last?: Buffer) => {
    if (!sameStat(statFields(fstatSync(fd, { bigint: true })), stat)) return fail(new FileChangedError());
    if (last) {
      body.push(last);
      tap?.(last);
    }
    body.push(null);
  };
  const body = new Readable({
    // Three chunks read ahead: the socket need not wait on the disk.
    highWaterMark: 3 * READ_CHUNK,
    read() {
      if (pos > end) return finish();
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, end + 1 - pos));
      reading = true;
      read(fd, buf, 0, buf.length, pos, (err, got) => {
        reading = false;
        if (body.destroyed) return close();
        if (err) return fail(err);
        if (got === 0) return fail(new FileChangedError());
        const chunk = got === buf.length ? buf : buf.subarray(0, got);
        pos += got;
        if (pos > end) return finish(chunk);
        body.push(chunk);
        tap?.(chunk);
      });
    },
    destroy(err, cb) {
      if (!reading) close();
      cb(err);
    },
  });
  return body;
}

export interface UploadConfig {
  multipartThreshold: number;
  partSize: number;
}

/** `x-amz-meta-mtime` in rclone's format: seconds with a nanosecond fraction. */
export const mtimeMeta = (mtimeNs: string) => {
  const ns = BigInt(mtimeNs);
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
};

/** The server's ETag must be what the bytes we hashed produce; opaque ETags (SSE-KMS, R2) cannot be checked. */
function checkEtag(etag: string, expected: string[], rel: string): void {
  if (etagForm(etag).kind === 'opaque' || expected.includes(etag)) return;
  throw runError(
    `${rel}: the stored object's ETag ${etag} does not match the local content (${expected[0]})`,
  );
}

/**
 * What a whole read of the scanned file found: the bytes, if the file held still and they are as many
 * as its size says. A change since the scan or during the read is retried at the end of the run; a
 * size that lies (the same stat data before and after, and another number of bytes) is not.
 */
function readResult(before: FileStat, after: FileStat, buf: Buffer, n: number) {
  if (!sameStat(before, after)) throw new FileChangedError();
  if (n !== after.size) throw sizeLies(after.size, n === buf.length ? 'more' : n);
  return { buf: buf.subarray(0, n), stat: after };
}

/**
 * For files below SYNC_MAX, as the synchronous hashes: five thread-pool round trips (open, fstat, read,
 * fstat, close) cost a small file more than the read itself, and 10k of them compete with the uploads.
 */
function readStableSync(src: Scanned): { buf: Buffer; stat: FileStat } {
  const { fd, stat: before } = openScannedSync(src);
  try {
    if (!sameStat(before, src.expect)) throw new FileChangedError();
    // One byte more than expected: a file that grew, or lies, shows itself as a longer read.
    const buf = Buffer.allocUnsafe(before.size + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    return readResult(before, statFields(fstatSync(fd, { bigint: true })), buf, n);
  } finally {
    closeSync(fd);
  }
}

async function readStable(src: Scanned): Promise<{ buf: Buffer; stat: FileStat }> {
  if (src.expect.size < SYNC_MAX) return readStableSync(src);
  const { fh, stat: before } = await openScanned(src);
  try {
    if (!sameStat(before, src.expect)) throw new FileChangedError();
    const buf = Buffer.allocUnsafe(before.size + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r)
      r = (await fh.read(buf, n, buf.length - n, null)).bytesRead;
    return readResult(before, statFields(await fh.stat({ bigint: true })), buf, n);
  } finally {
    await fh.close();
  }
}

/** The run's hash of the file (often taken during the listing), if it is of the file as scanned. */
async function hashOf(s: RunContext, f: LocalFile, partSizes: number[]): Promise<HashResult> {
  const h = await s.hashes.get(f, partSizes);
  if (h.stable && sameStat(h.stat, f)) return h;
  s.hashes.forget(f.rel);
  const again = await s.hashes.get(f, partSizes);
  // The same file (the hash checked), changed in place since the scan: retried with fresh stat data.
  if (!again.stable || !sameStat(again.stat, f)) throw new FileChangedError();
  return again;
}

/**
 * After the upload the path must still name the file as read; otherwise the object may mix versions,
 * or its entry describe another file.
 */
async function assertUnchanged(src: Scanned): Promise<void> {
  // One lstat: synchronous costs less than a thread-pool round trip.
  if (!sameStat(pathStat(src), src.expect)) throw new FileChangedError();
}

/** The one line for a file that is not, or no longer, the scanned one. */
const unexpected = (err: UnexpectedFileError, sent = err.sent) =>
  runError(sent ? `${err.message} while it was uploaded: not recorded` : `${err.message}: not uploaded`);

/**
 * Uploads one file and returns the manifest entry that now describes it. Content-MD5 goes with every
 * PUT and part, so a body that differs from what was hashed is rejected by the server itself; the one
 * exception is a new object sent in one pass (see putNewInOnePass). `isNew`: this run's listing shows
 * no object at the key. `progress` reports the bytes as they are sent; a failed upload takes back what
 * it reported, unless the run was cancelled.
 */
export async function uploadFile(
  s: RunContext,
  t: S3Transport,
  f: LocalFile,
  cfg: UploadConfig,
  isNew = false,
  progress = new TransferProgress(f.size, (e) => s.emit(e)),
): Promise<ManifestEntry> {
  const abs = absPath(s.localRoot, f.rel);
  const scanned = scannedAt(s, abs, f);
  const key = s.location.prefix + f.rel;
  const type = await contentType(f.rel);
  const entry = (
    stat: ReturnType<typeof statFields>,
    md5: string,
    etag: string,
    partSize: number,
  ): ManifestEntry => manifestEntry(stat, { md5, etag, partSize });

  try {
    if (f.size < Math.min(STREAMED_UPLOAD_MIN, cfg.multipartThreshold)) {
      const { buf, stat } = await readStable(scanned);
      const md5 = md5Hex(buf);
      const etag = await t.put({
        key,
        body: () => buf,
        size: buf.length,
        md5Base64: Buffer.from(md5, 'hex').toString('base64'),
        contentType: type,
        metadata: { md5, mtime: mtimeMeta(stat.mtimeNs) },
      });
      progress.finish();
      checkEtag(etag, [md5], f.rel);
      await assertUnchanged(scanned);
      return entry(stat, md5, etag, 0);
    }

    if (f.size < cfg.multipartThreshold) {
      if (isNew && onePassAllowed(t)) return await putNewInOnePass(t, f, scanned, key, type, entry, progress);
      const h = await hashOf(s, f, []);
      // A size other than the scan's would need another upload path: rescan at the end instead.
      if (!h.stable || h.size !== f.size) throw new FileChangedError();
      const transfer = new AbortController();
      const etag = await t.put({
        key,
        // Exactly the hashed length: a file that grew must not send more than Content-Length.
        body: () =>
          exactRange(
            scannedAt(s, abs, h.stat),
            0,
            h.size - 1,
            transfer,
            countChunks(progress.attempt(0, h.size)),
          ),
        transfer: transfer.signal,
        size: h.size,
        md5Base64: Buffer.from(h.md5, 'hex').toString('base64'),
        contentType: type,
        metadata: { md5: h.md5, mtime: mtimeMeta(h.stat.mtimeNs) },
      });
      progress.finish();
      // A changed file explains a wrong ETag (on servers that ignore Content-MD5): check it first.
      await assertUnchanged(scannedAt(s, abs, h.stat));
      checkEtag(etag, [h.md5], f.rel);
      return entry(h.stat, h.md5, etag, 0);
    }

    return await uploadMultipart(s, t, f, abs, key, type, cfg, entry, progress);
  } catch (err) {
    if (!s.opts.signal?.aborted) progress.fail();
    if (err instanceof UnexpectedFileError) throw unexpected(err);
    // BadDigest: the bytes sent were not the bytes hashed, i.e. the file changed in between.
    if (errorCode(err instanceof S3SyncError ? err.cause : err) === 'BadDigest') throw new FileChangedError();
    if (err instanceof FileChangedError) throw err;
    // Whatever went wrong, a file that changed meanwhile is the explanation to act on: retry it later;
    // another file at the path is reported as such.
    let now: FileStat | undefined;
    try {
      now = pathStat(scanned);
    } catch (e) {
      if (e instanceof UnexpectedFileError) throw unexpected(e, false);
    }
    if (now && !sameStat(now, f)) throw new FileChangedError();
    if (err instanceof S3SyncError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw runError('file disappeared before it could be uploaded');
    if (code === 'EACCES' || code === 'EPERM') throw runError(`cannot read file: permission denied`);
    throw runError(errorMessage(err), err);
  }
}

/**
 * SSE-KMS and SSE-C objects have ETags that are not their MD5: an object sent without Content-MD5 could
 * not be checked, nor later matched without x-amz-meta-md5.
 */
const onePassAllowed = (t: S3Transport) => t.settings.sse === undefined || t.settings.sse === 'AES256';

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
async function putNewInOnePass(
  t: S3Transport,
  f: LocalFile,
  src: Scanned,
  key: string,
  type: string,
  entry: EntryOf,
  progress: TransferProgress,
): Promise<ManifestEntry> {
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
      return exactRange(src, 0, f.size - 1, transfer, (chunk) => {
        h.update(chunk);
        sent(chunk.length);
      });
    },
    transfer: transfer.signal,
    size: f.size,
    contentType: type,
    metadata: { mtime: mtimeMeta(f.mtimeNs) },
  });
  progress.finish();
  const md5 = hash!.digest('hex');
  await assertUnchanged(src);
  if (etagForm(etag).kind !== 'opaque' && etag !== md5) {
    await t.deleteKeys([key]);
    throw runError(`the stored object's ETag ${etag} is not the MD5 of the bytes sent (${md5}): deleted`);
  }
  return entry(f, md5, etag, 0);
}

/** A tap (see exactRange) that counts the bytes of each chunk. */
const countChunks =
  (count: (bytes: number) => void) =>
  (chunk: Buffer): void =>
    count(chunk.length);

type EntryOf = (
  stat: ReturnType<typeof statFields>,
  md5: string,
  etag: string,
  partSize: number,
) => ManifestEntry;

async function uploadMultipart(
  s: RunContext,
  t: S3Transport,
  f: LocalFile,
  abs: string,
  key: string,
  type: string,
  cfg: UploadConfig,
  entry: EntryOf,
  progress: TransferProgress,
): Promise<ManifestEntry> {
  const ps = choosePartSize(f.size, cfg.partSize, t.provider);
  const h = await hashOf(s, f, [ps]);
  if (!h.stable || h.size !== f.size) throw new FileChangedError();
  const resumed = await resumablePending(s, t, f.rel, key, h, ps);
  const send = (from: typeof resumed) =>
    sendParts(s, t, { rel: f.rel, abs, key, type, h, ps, resumed: from, entry, progress });
  try {
    return await send(resumed);
  } catch (err) {
    // The resumed upload vanished under us (aborted by cleanup, expired): start over, once.
    if (!resumed || errorCode(err instanceof S3SyncError ? err.cause : err) !== 'NoSuchUpload') throw err;
    s.notice('the interrupted multipart upload is gone on the server: starting it again', f.rel);
    // The parts counted as already there are not.
    progress.fail();
    return await send(undefined);
  }
}

/** The pending upload an earlier run left for exactly this content, with the parts known to be done. */
async function resumablePending(
  s: RunContext,
  t: S3Transport,
  rel: string,
  key: string,
  h: HashResult,
  ps: number,
): Promise<{ uploadId: string; done: Map<number, string> } | undefined> {
  const pending = s.store.pending[rel];
  if (!pending) return undefined;
  const same =
    pending.uploadId !== '' &&
    pending.md5 === h.md5 &&
    pending.size === h.size &&
    pending.partSize === ps &&
    pending.key === key;
  if (!same) {
    // Another content, or an upload whose creation was never answered: aborted (with any strays) first.
    await retirePending(s, t, rel);
    return undefined;
  }
  if (!(await sweepStrays(s, t, rel, pending))) throw strayLookupFailed(key);
  const listed = await t.listParts({ key, uploadId: pending.uploadId });
  const partMd5s = h.partMd5s[ps]!;
  const done = new Map<number, string>();
  // Only parts whose ETag is the MD5 of the bytes we have now.
  const keep = (n: number, etag: string) => {
    if (etag === partMd5s[n - 1]?.toString('hex')) done.set(n, etag);
  };
  if (listed instanceof Map) {
    for (const [n, p] of listed) keep(n, p.etag);
  } else if (listed === 'unsupported') {
    // No ListParts here: the parts recorded in the manifest are the evidence; the ETag check after
    // Complete catches a server that lost one.
    for (const [n, etag] of Object.entries(pending.parts)) keep(Number(n), etag);
  }
  if (listed === 'gone') {
    s.notice('the interrupted multipart upload is gone on the server: starting it again', rel);
    s.store.endUpload(rel);
    return undefined;
  }
  s.notice(`resuming multipart upload: ${done.size}/${partMd5s.length} parts already uploaded`, rel);
  return { uploadId: pending.uploadId, done };
}

/** One multipart upload to send: the file, its hashes at part size `ps`, and any parts already done. */
interface PartsJob {
  rel: string;
  abs: string;
  key: string;
  type: string;
  h: HashResult;
  ps: number;
  resumed: { uploadId: string; done: Map<number, string> } | undefined;
  entry: EntryOf;
  progress: TransferProgress;
}

async function sendParts(s: RunContext, t: S3Transport, job: PartsJob): Promise<ManifestEntry> {
  const { rel, abs, key, type, h, ps, resumed, entry, progress } = job;
  const partMd5s = h.partMd5s[ps]!;
  const done = new Map(resumed?.done);
  const partBytes = (n: number) => Math.min(h.size, n * ps) - (n - 1) * ps;
  progress.resumed([...done.keys()].reduce((sum, n) => sum + partBytes(n), 0));
  const id = resumed?.uploadId ?? (await createUpload(s, t, rel, key, type, h, ps));
  const record = s.store.pending[rel]!;
  const transfer = new AbortController();
  const upload = async (n: number) => {
    const start = (n - 1) * ps;
    const end = start + partBytes(n) - 1;
    const etag = await t.uploadPart({
      key,
      uploadId: id,
      partNumber: n,
      body: () =>
        exactRange(
          scannedAt(s, abs, h.stat),
          start,
          end,
          transfer,
          countChunks(progress.attempt(n, end - start + 1)),
        ),
      size: end - start + 1,
      md5Base64: partMd5s[n - 1]!.toString('base64'),
      transfer: transfer.signal,
    });
    done.set(n, etag);
    s.store.partDone(rel, n, etag);
  };
  const expected = [h.multipart[ps]!, h.md5];
  try {
    // A retried CreateMultipartUpload may have left uploads beside this one: aborted before any part.
    if (!(await sweepStrays(s, t, rel, record))) throw strayLookupFailed(key);
    // Parts share the transport's concurrency budget with every other transfer. allSettled: on a
    // failure, the other parts finish before the abort rather than race it.
    const todo = partMd5s.map((_, i) => i + 1).filter((n) => !done.has(n));
    const failed = (await Promise.allSettled(todo.map(upload))).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await assertUnchanged(scannedAt(s, abs, h.stat));
    const parts = [...done].sort((a, b) => a[0] - b[0]).map(([n, e]) => ({ n, etag: e }));
    let etag: string;
    try {
      etag = await t.completeMultipart({ key, uploadId: id, parts });
    } catch (err) {
      // The server may have completed it and the answer been lost: then the retry says NoSuchUpload
      // (or 500). The object itself tells.
      const head = await t.head(key);
      if (!head || head.size !== h.size || !(head.metadata.md5 === h.md5 || expected.includes(head.etag)))
        throw err;
      etag = head.etag;
    }
    // RGW answers CompleteMultipartUpload with an empty ETag: the object's HEAD has the real one.
    if (!etag) etag = (await t.head(key))?.etag ?? '';
    // Where the ETag is no MD5 of the part MD5s (R2, B2, GCS) it can never match: each part's
    // Content-MD5 was checked by the server instead.
    if (t.provider.multipartEtagIsMd5OfParts) checkEtag(etag, expected, rel);
    s.store.endUpload(rel);
    progress.finish();
    return entry(h.stat, h.md5, etag, ps);
  } catch (err) {
    // Cancelled (Ctrl-C): the upload stays pending with its completed parts, saved with the manifest,
    // for the next run to resume, as after a kill.
    if (s.opts.signal?.aborted) throw err;
    // A run that is alive to see the failure aborts, so no orphaned parts are left to be billed; only a
    // killed or cancelled run leaves the upload pending, for the next run to resume. The record goes
    // once nothing it names can remain: an abort that failed, or strays not yet looked for, are the
    // next run's to settle.
    s.store.abortTried(rel, (await t.abortMultipart({ key, uploadId: id })) !== 'failed');
    throw err;
  }
}

const strayLookupFailed = (key: string) =>
  runError(
    `could not look for multipart uploads a lost answer may have left at ${key}: tried again next run`,
  );

/**
 * CreateMultipartUpload, recorded so that no upload it makes goes unaccounted for (see pending.ts): the
 * record is on disk before the request goes out, and with the id before the first part is sent.
 */
async function createUpload(
  s: RunContext,
  t: S3Transport,
  rel: string,
  key: string,
  type: string,
  h: HashResult,
  ps: number,
): Promise<string> {
  const record: PendingUpload = {
    uploadId: '',
    key,
    size: h.size,
    mtimeNs: h.stat.mtimeNs,
    md5: h.md5,
    partSize: ps,
    parts: {},
    startedAt: new Date().toISOString(),
    create: { sentAt: Date.now() },
  };
  // Nothing is sent if this cannot be saved: nothing to look for later.
  s.store.beginUpload(rel, record);
  let attempts = 0;
  let uploadId: string;
  try {
    uploadId = await t.createMultipart({
      key,
      contentType: type,
      metadata: { md5: h.md5, mtime: mtimeMeta(h.stat.mtimeNs) },
      onAttempt: () => {
        attempts++;
      },
    });
  } catch (err) {
    s.store.createEnded(rel);
    // An attempt that failed may still have created an upload (its answer lost): looked for now, and
    // by the next run if the server cannot be asked now. A refusal (exit 2) created nothing.
    const fatal = err instanceof S3SyncError && isFatal(err);
    if (attempts === 0 || fatal || (await sweepStrays(s, t, rel, record).catch(() => false)))
      s.store.endUpload(rel);
    throw err;
  }
  // One attempt, one answer: no other upload can exist. More: the sweep in sendParts looks for them.
  try {
    s.store.uploadCreated(rel, uploadId, attempts > 1);
  } catch (err) {
    // Not on disk, so not sent a part: aborted while this run still knows its id.
    if ((await t.abortMultipart({ key, uploadId })) !== 'failed' && !record.create) s.store.endUpload(rel);
    throw err;
  }
  return uploadId;
}
