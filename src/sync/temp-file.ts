/** Writing a download's temp file: every byte down, written back as it arrives, synced before the rename. */
import { closeSync, constants, fstat, ftruncate, futimes, open as openCb, rmSync, write } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { runError } from '../errors.js';
import type { StreamDigest } from '../local/hash.js';
import type { HashPool } from '../local/hash-pool.js';
import { coalesce, IncompleteBody } from './download-body.js';
import { dataSpans, type SparseWrite, sparseBlock } from './sparse.js';

/**
 * Temp files are opened without following a link at their name (one planted there is refused, never
 * written through), and truncated: a retried body starts again from the first byte.
 */
export const TMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/**
 * A kept download's temp file (see download-resume.ts): as TMP_FLAGS, but what it holds is kept, and
 * readable, as a --sparse download checks what it holds where it skips a zero block.
 */
export const KEEP_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;

/** A download's temp file: its path, the temp folder checked anew each time it is asked for. */
export type TempPath = () => string;

const openFd = promisify(openCb);
const writeFd = (fd: number, buf: Buffer, off: number, len: number, pos: number) =>
  new Promise<number>((resolve, reject) =>
    write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))),
  );
const futimesFd = promisify(futimes);
const fstatFd = promisify(fstat);
const ftruncateFd = promisify(ftruncate);

/** Written bytes between background flushes. */
const FLUSH_EVERY = 8 * 1024 * 1024;

/**
 * Starts writeback while the body is still arriving (one fdatasync at a time, never awaited in the
 * loop), so the fsync before the rename finds little left to write instead of stalling the file's
 * finish on all of it. A writeback error (EIO, ENOSPC on some filesystems) is raised by `sync`.
 */
export class Flusher {
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
export async function writeFully(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    if (bytesWritten === 0) throw noProgress();
    off += bytesWritten;
  }
}

/**
 * `buf` written at `pos` but for its zero blocks under --sparse (see sparse.ts), into a file that reads
 * as zeros wherever it is not written; returns the bytes written.
 */
export async function writeData(
  fh: FileHandle,
  buf: Buffer,
  pos: number,
  sparse: SparseWrite | undefined,
): Promise<number> {
  let written = 0;
  for (const [start, end] of dataSpans(buf, pos, sparse)) {
    await writeFully(fh, buf.subarray(start, end), pos + start);
    written += end - start;
  }
  return written;
}

/** What a file system that cannot set a file's length answers ftruncate with (fusefat: EPERM). */
const NO_LENGTH = new Set(['EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Sets the length of a --sparse download after its last write, for the trailing zeros skipped; not
 * where the file has it already (its last block held data): fusefat refuses every ftruncate that does
 * not shrink, even to the length there. Where the length is needed and refused: one line saying so.
 */
export async function setLength(fh: FileHandle | number, size: number): Promise<void> {
  const now = typeof fh === 'number' ? (await fstatFd(fh)).size : (await fh.stat()).size;
  if (now === size) return;
  try {
    await (typeof fh === 'number' ? ftruncateFd(fh, size) : fh.truncate(size));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !NO_LENGTH.has(code)) throw err;
    throw runError(`this file system cannot set a file's length (ftruncate: ${code}): pull without --sparse`);
  }
}

/** The block a --sparse download of the file judges by (see sparse.ts); undefined without --sparse. */
export async function sparseWrite(
  fh: FileHandle,
  sparse: boolean | undefined,
): Promise<SparseWrite | undefined> {
  return sparse ? { block: sparseBlock((await fh.stat()).blksize) } : undefined;
}

/**
 * Writes a small file with its mtime and returns it still open, unsynced: its fsync is batched with
 * others' (see DurableBatch) instead of waiting here, before the rename. Closed here on failure only.
 * On the thread pool: creating a file waits for the journal while other files' fsyncs commit it, and
 * on the main thread that wait stalled every transfer. `sparse`: its zero blocks are left as holes,
 * its length set after the last write.
 */
export async function writeSmall(
  tmp: TempPath,
  buf: Buffer,
  mtime: number | Date,
  sparse?: boolean,
): Promise<number> {
  const fd = await openFd(tmp(), TMP_FLAGS);
  try {
    const how = sparse ? { block: sparseBlock((await fstatFd(fd)).blksize) } : undefined;
    for (const [start, end] of dataSpans(buf, 0, how)) {
      for (let off = start; off < end; ) {
        const n = await writeFd(fd, buf, off, end - off, off);
        if (n === 0) throw noProgress();
        off += n;
      }
    }
    // The trailing zeros skipped are a hole up to the length.
    if (how) await setLength(fd, buf.length);
    await futimesFd(fd, mtime, mtime);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Writes the body while it is hashed, off the main thread for large bodies; `wrote` counts each write.
 * `sparse`: its zero blocks are left as holes (the hash still sees every byte received).
 */
export async function writeStream(
  pool: HashPool,
  body: Readable,
  tmp: TempPath,
  size: number,
  partSizes: number[],
  wrote: (bytes: number) => void,
  sparse?: boolean,
): Promise<StreamDigest> {
  const fh = await open(tmp(), TMP_FLAGS);
  const flusher = new Flusher(fh);
  const hash = pool.startStreamHash(partSizes, size);
  let written = 0;
  try {
    // Truncated when opened: what is not written reads as zeros.
    const how = await sparseWrite(fh, sparse);
    for await (const { buf, owned } of coalesce(body)) {
      flusher.wrote(await writeData(fh, buf, written, how));
      written += buf.length;
      wrote(buf.length);
      // After the write: a transferred buffer is detached.
      await hash.update(buf, owned);
    }
    if (written !== size) throw new IncompleteBody(`response body ended after ${written} of ${size} bytes`);
    // The trailing zeros skipped are a hole up to the length; synced with the data below.
    if (how) await setLength(fh, size);
    const [, digest] = await Promise.all([flusher.sync(), hash.digest()]);
    return digest;
  } finally {
    hash.abort();
    await fh.close();
  }
}

/** A temp file is removed only from a temp folder checked now, never through a link put there. */
export function removeTmpFile(tmp: TempPath): void {
  try {
    rmSync(tmp(), { force: true });
  } catch {
    // No safe temp folder any more: what is left there is left alone.
  }
}
