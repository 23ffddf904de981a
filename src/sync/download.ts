import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsync,
  futimesSync,
  lstatSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, lutimes, open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { runError, S3SyncError } from '../errors.js';
import type { TargetTree } from '../local/confine.js';
import { type StreamDigest, StreamHasher } from '../local/hash.js';
import { type HashPool, SYNC_MAX } from '../local/hash-pool.js';
import { statFields } from '../local/scan.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import { candidatePartSizes, etagForm } from '../s3/etag.js';
import type { S3Transport } from '../s3/transport.js';
import { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';

/** Transient: the body ended early or did not hash to its ETag; the retry loop fetches it again. */
class IncompleteBody extends Error {
  override name = 'IncompleteBody';
}

/** The disk is full: every further write would fail the same way, so the run stops. */
export class DiskFullError extends S3SyncError {}

/**
 * Below this an object is gathered in memory, hashed and checked before anything is written, and
 * written with synchronous calls: one thread-pool round trip (the fsync) instead of eight. A pull of
 * 10k small files spent more CPU handing those calls to the thread pool than making them.
 */
const SMALL_OBJECT_MAX = SYNC_MAX;

const fsyncFd = promisify(fsync);

/**
 * Temp files are opened without following a link at their name (one planted there is refused, never
 * written through), and truncated: a retried body starts again from the first byte.
 */
const TMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/** A download's temp file: its path, the temp folder checked anew each time it is asked for. */
type TempPath = () => string;

/** `x-amz-meta-mtime` (seconds with a fraction) → seconds for utimes; else the object's LastModified. */
const mtimeSeconds = (meta: string | undefined, lastModified: number) => {
  const n = meta !== undefined ? Number(meta) : Number.NaN;
  return Number.isFinite(n) && n > 0 ? n : lastModified / 1000;
};

/** Which content hash the object's ETag or metadata vouch for; undefined when neither can be checked. */
function verifyContent(
  etag: string,
  md5: string,
  multipart: Record<number, string>,
  metaMd5?: string,
): boolean | undefined {
  const form = etagForm(etag);
  if (form.kind === 'md5') return etag === md5 || metaMd5 === md5;
  if (form.kind === 'multipart') {
    if (Object.values(multipart).includes(etag) || metaMd5 === md5) return true;
    return metaMd5 !== undefined ? false : undefined;
  }
  return metaMd5 === undefined ? undefined : metaMd5 === md5;
}

interface Target {
  rel: string;
  key: string;
  size: number;
  etag: string;
  lastModified: number;
}

/**
 * Downloads one object to a temp file beside the manifest, fsyncs it, sets its mtime and renames it
 * into place: a crash or a full disk never leaves a partial file under the real name. Every path is
 * taken through `tree`, checked right before it is used: nothing outside the target is written. Returns
 * the manifest entry for the file as written. `progress` reports the bytes as they arrive; a failed
 * download takes back what it reported, unless the run was cancelled.
 */
export async function downloadObject(
  s: RunContext,
  t: S3Transport,
  o: Target,
  cfg: { multipartThreshold: number; partSize: number },
  tree: TargetTree,
  progress = new TransferProgress(o.size, (e) => s.emit(e)),
): Promise<ManifestEntry> {
  const name = `${randomBytes(8).toString('hex')}.part`;
  // The temp folder is in the target too: its path is checked again at each use.
  const tmp: TempPath = () => path.join(tree.tmpDir(), name);
  try {
    // Refused before a byte is fetched when the way is already blocked; checked again before the rename.
    tree.destination(o.rel, false);
    const small = o.size < SMALL_OBJECT_MAX && o.size < cfg.multipartThreshold;
    const form = etagForm(o.etag);
    const partSizes = form.kind === 'multipart' ? candidatePartSizes(o.size, form.parts) : [];
    const partSize = form.kind === 'multipart' ? (partSizes[0] ?? 0) : 0;
    let md5: string;
    let meta: Record<string, string> = {};
    let verified: boolean | undefined;
    if (small) {
      ({ md5, verified } = await t.get({ key: o.key }, async (body, info) => {
        const buf = await gather(body, o.size);
        const h = new StreamHasher(partSizes);
        h.update(buf);
        const r = h.digest();
        const ok = verifyContent(o.etag, r.md5, r.multipart, info.metadata.md5);
        if (ok === false) throw new IncompleteBody('downloaded bytes do not match the object ETag');
        await writeSmall(tmp, buf, mtimeSeconds(info.metadata.mtime, o.lastModified));
        return { md5: r.md5, verified: ok };
      }));
    } else if (o.size < cfg.multipartThreshold) {
      ({ md5, meta, verified } = await t.get({ key: o.key }, async (body, info) => {
        const r = await writeStream(s.hashes.pool, body, tmp, o.size, partSizes, progress.attempt(0, o.size));
        const ok = verifyContent(o.etag, r.md5, r.multipart, info.metadata.md5);
        if (ok === false) throw new IncompleteBody('downloaded bytes do not match the object ETag');
        return { md5: r.md5, meta: info.metadata, verified: ok };
      }));
    } else {
      ({ md5, meta, verified } = await downloadVerifiedRanges(
        s,
        t,
        o,
        tmp,
        cfg.partSize,
        partSizes,
        progress,
      ));
    }
    if (verified === undefined && s.opts.debug)
      s.notice(`${o.rel}: ETag is opaque; content not verified`, o.rel);
    // writeSmall set the mtime before its fsync.
    if (!small) {
      const secs = mtimeSeconds(meta.mtime, o.lastModified);
      await lutimes(tmp(), secs, secs);
    }
    // Checked again, and renamed in the same synchronous step: the tree may have changed meanwhile.
    const dest = tree.destination(o.rel);
    renameSync(tmp(), dest);
    const st = statFields(lstatSync(dest, { bigint: true }));
    progress.finish();
    return manifestEntry(st, { md5, etag: o.etag, partSize });
  } catch (err) {
    if (!s.opts.signal?.aborted) progress.fail();
    removeTmpFile(tmp);
    const code =
      (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new DiskFullError(
        `disk full while writing ${o.rel} (${code}): stopped; no partial file was left`,
        'fatal',
      );
    }
    throw err;
  }
}

/** Written bytes between background flushes. */
const FLUSH_EVERY = 8 * 1024 * 1024;

/**
 * Starts writeback while the body is still arriving (one fdatasync at a time, never awaited in the
 * loop), so the fsync before the rename finds little left to write instead of stalling the file's
 * finish on all of it. A writeback error (EIO, ENOSPC on some filesystems) is raised by `sync`.
 */
class Flusher {
  private unflushed = 0;
  private inFlight: Promise<void> | undefined;
  private error: unknown;

  constructor(private readonly fh: FileHandle) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.inFlight || this.unflushed < FLUSH_EVERY) return;
    this.unflushed = 0;
    this.inFlight = this.fh
      .datasync()
      .catch((err: unknown) => {
        this.error ??= err;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  async sync(): Promise<void> {
    await this.inFlight;
    if (this.error) throw this.error;
    await this.fh.sync();
  }
}

/** A write that makes no progress: near a full disk write(2) may write less than asked, with no error. */
const noProgress = () => Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });

/** Loops until every byte is down: see noProgress. */
async function writeFully(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    if (bytesWritten === 0) throw noProgress();
    off += bytesWritten;
  }
}

/**
 * Network chunks (~16-64 KiB) gathered into 1 MiB writes: far fewer thread-pool round trips. `owned`:
 * the buffer is a fresh concatenation nothing else holds, so it may be handed to a worker without a copy.
 */
async function* coalesce(body: Readable): AsyncGenerator<{ buf: Buffer; owned: boolean }> {
  const WRITE_SIZE = 1024 * 1024;
  let pending: Buffer[] = [];
  let bytes = 0;
  const take = () => {
    const out =
      pending.length === 1
        ? { buf: pending[0]!, owned: false }
        : { buf: Buffer.concat(pending, bytes), owned: true };
    pending = [];
    bytes = 0;
    return out;
  };
  for await (const chunk of body) {
    pending.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes >= WRITE_SIZE) yield take();
  }
  if (bytes > 0) yield take();
}

/** A small body, whole; more or fewer bytes than the listing said is a transfer to retry. */
async function gather(body: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    n += (chunk as Buffer).length;
    if (n > size) {
      body.destroy();
      throw new IncompleteBody(`response body is longer than the ${size} bytes listed`);
    }
  }
  if (n !== size) throw new IncompleteBody(`response body ended after ${n} of ${size} bytes`);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
}

/** Writes a small file with its mtime, then fsyncs it: data and mtime are on disk before the rename. */
async function writeSmall(tmp: TempPath, buf: Buffer, mtimeSecs: number): Promise<void> {
  const fd = openSync(tmp(), TMP_FLAGS);
  try {
    for (let off = 0; off < buf.length; ) {
      const n = writeSync(fd, buf, off, buf.length - off, off);
      if (n === 0) throw noProgress();
      off += n;
    }
    futimesSync(fd, mtimeSecs, mtimeSecs);
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the body while it is hashed, off the main thread for large bodies; `wrote` counts each write. */
async function writeStream(
  pool: HashPool,
  body: Readable,
  tmp: TempPath,
  size: number,
  partSizes: number[],
  wrote: (bytes: number) => void,
): Promise<StreamDigest> {
  const fh = await open(tmp(), TMP_FLAGS);
  const flusher = new Flusher(fh);
  const hash = pool.startStreamHash(partSizes, size);
  let written = 0;
  try {
    for await (const { buf, owned } of coalesce(body)) {
      await writeFully(fh, buf, written);
      written += buf.length;
      flusher.wrote(buf.length);
      wrote(buf.length);
      // After the write: a transferred buffer is detached.
      await hash.update(buf, owned);
    }
    if (written !== size) throw new IncompleteBody(`response body ended after ${written} of ${size} bytes`);
    const [, digest] = await Promise.all([flusher.sync(), hash.digest()]);
    return digest;
  } finally {
    hash.abort();
    await fh.close();
  }
}

/** A temp file is removed only from a temp folder checked now, never through a link put there. */
function removeTmpFile(tmp: TempPath): void {
  try {
    rmSync(tmp(), { force: true });
  } catch {
    // No safe temp folder any more: what is left there is left alone.
  }
}

/**
 * A large object's integrity can only be checked once all of its ranges are in (its ETag covers the
 * whole object): a failed check fetches every range again, as many times as a request is tried. The
 * bytes fetched again are not counted again.
 */
async function downloadVerifiedRanges(
  s: RunContext,
  t: S3Transport,
  o: Target,
  tmp: TempPath,
  partSize: number,
  partSizes: number[],
  progress: TransferProgress,
): Promise<{ md5: string; meta: Record<string, string>; verified: boolean | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const meta = await downloadRanges(t, o, tmp, partSize, progress);
    const job = s.hashes.track(o.size);
    const h = await s.hashes.pool.hashFile(tmp(), o.size, partSizes, job?.read).finally(job?.end);
    const verified = verifyContent(o.etag, h.md5, h.multipart, meta.md5);
    if (verified !== false) return { md5: h.md5, meta, verified };
    if (attempt > t.retries)
      throw runError('downloaded bytes do not match the object ETag (on every attempt)');
    if (s.opts.debug)
      s.notice(`${o.rel}: downloaded bytes do not match the object ETag: fetching it again`, o.rel);
  }
}

/** Large objects: byte ranges fetched in parallel, each written at its offset and counted by `progress`. */
async function downloadRanges(
  t: S3Transport,
  o: Target,
  tmp: TempPath,
  partSize: number,
  progress: TransferProgress,
): Promise<Record<string, string>> {
  const fh = await open(tmp(), TMP_FLAGS);
  const flusher = new Flusher(fh);
  let meta: Record<string, string> = {};
  try {
    await fh.truncate(o.size);
    const n = Math.ceil(o.size / partSize);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const start = i * partSize;
        const end = Math.min(o.size, start + partSize) - 1;
        await t.get({ key: o.key, range: { start, end } }, async (body, info) => {
          if (info.etag && info.etag !== o.etag) throw runError('the object changed while it was downloaded');
          meta = info.metadata;
          const wrote = progress.attempt(i, end - start + 1);
          let pos = start;
          for await (const { buf } of coalesce(body)) {
            await writeFully(fh, buf, pos);
            flusher.wrote(buf.length);
            wrote(buf.length);
            pos += buf.length;
          }
          if (pos !== end + 1)
            throw new IncompleteBody(`range ended after ${pos - start} of ${end - start + 1} bytes`);
        });
      }),
    );
    await flusher.sync();
  } finally {
    await fh.close();
  }
  return meta;
}
