/** Writing a download's temp file: every byte down, written back as it arrives, synced before the rename. */
import { closeSync, constants, fstat, ftruncate, futimes, open as openCb, rmSync, write } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { StreamDigest } from '../local/hash.js';
import type { HashPool } from '../local/hash-pool.js';
import { coalesce, IncompleteBody } from './download-body.js';
import { dataSpans, type SparseWrite, sparseBlock, zeros } from './sparse.js';

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

/** What a file system that cannot set a file's length answers ftruncate with (fusefat: EPERM). */
const NO_LENGTH = new Set(['EPERM', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/** The code of a growing ftruncate, or a write past the end, that the file system refuses; else undefined. */
export function lengthRefusal(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NO_LENGTH.has(code) ? code : undefined;
}

/**
 * The file systems (by device: a target's folders may be other mounts) where a run found that a file
 * cannot be grown but by writing at its end: no length set, no hole left (FAT through fusefat). Learnt
 * from the first refusal and kept by the run (RunContext), so its later downloads there write in order
 * and every byte from the start instead of being refused again.
 */
export class FileLengths {
  private readonly refused = new Set<number>();

  constructor(private readonly learnt?: (message: string) => void) {}

  refuses(dev: number): boolean {
    return this.refused.has(dev);
  }

  learn(dev: number, code: string): void {
    if (this.refused.has(dev)) return;
    this.refused.add(dev);
    this.learnt?.(
      `this file system cannot set a file's length nor keep holes (${code}): its downloads are written in order, every byte`,
    );
  }
}

/** A temp file as written in order: by a descriptor (a small file, on the thread pool) or a handle. */
interface FileOps {
  write(buf: Buffer, pos: number): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ dev: number; blksize: number }>;
}

const handleOps = (fh: FileHandle): FileOps => ({
  write: (buf, pos) => writeFully(fh, buf, pos),
  truncate: (length) => fh.truncate(length),
  stat: () => fh.stat(),
});

const fdOps = (fd: number): FileOps => ({
  async write(buf, pos) {
    for (let off = 0; off < buf.length; ) {
      const n = await writeFd(fd, buf, off, buf.length - off, pos + off);
      if (n === 0) throw noProgress();
      off += n;
    }
  },
  truncate: (length) => ftruncateFd(fd, length),
  stat: () => fstatFd(fd),
});

/**
 * A temp file written from its start in order (a body streamed whole, a small file, a decompressed
 * one), created empty. --sparse: its zero blocks are skipped, left as holes (see sparse.ts); where the
 * file system refuses the write past the end that follows one, or the length that covers trailing ones,
 * the zeros are written instead, the file's remaining blocks too, and the run's `lengths` learns it.
 */
export class InOrder {
  /** The end of what is written, or left as a hole the file system keeps. */
  private end = 0;

  private constructor(
    private readonly f: FileOps,
    private how: SparseWrite | undefined,
    private readonly dev: number,
    private readonly lengths: FileLengths | undefined,
  ) {}

  /** `sparse`: --sparse, unless `lengths` knows the file's file system keeps no holes. */
  static async of(fh: FileHandle | number, sparse?: boolean, lengths?: FileLengths): Promise<InOrder> {
    const f = typeof fh === 'number' ? fdOps(fh) : handleOps(fh);
    // Without --sparse every write is at the end: nothing to learn, no stat.
    if (!sparse) return new InOrder(f, undefined, 0, undefined);
    const { dev, blksize } = await f.stat();
    return new InOrder(f, lengths?.refuses(dev) ? undefined : { block: sparseBlock(blksize) }, dev, lengths);
  }

  /** `buf` at `pos`, the end of the previous one; returns the bytes written (zeros included). */
  async write(buf: Buffer, pos: number): Promise<number> {
    let written = 0;
    for (const [start, end] of dataSpans(buf, pos, this.how)) {
      const at = pos + start;
      const data = buf.subarray(start, end);
      try {
        await this.f.write(data, at);
      } catch (err) {
        const code = at > this.end ? lengthRefusal(err) : undefined;
        if (code === undefined) throw err;
        // Refused past the end: a refused write may have grown the file by a few bytes of its own.
        written += await this.zerosTo(at, code);
        await this.f.write(data, at);
      }
      written += end - start;
      this.end = pos + end;
    }
    return written;
  }

  /** After the last write: the trailing zeros skipped made a hole up to `size`; returns bytes written. */
  async finish(size: number): Promise<number> {
    // The last block held data: no length to set (fusefat refuses even the length the file has).
    if (this.end >= size) return 0;
    try {
      await this.f.truncate(size);
      return 0;
    } catch (err) {
      const code = lengthRefusal(err);
      if (code === undefined) throw err;
      return this.zerosTo(size, code);
    }
  }

  private async zerosTo(to: number, code: string): Promise<number> {
    this.lengths?.learn(this.dev, code);
    this.how = undefined;
    const from = this.end;
    while (this.end < to) {
      const z = zeros(to - this.end);
      await this.f.write(z, this.end);
      this.end += z.length;
    }
    return to - from;
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
 * on the main thread that wait stalled every transfer. `sparse`: its zero blocks are left as holes where
 * the file system keeps them (see InOrder); `lengths`: the run's file systems that do not.
 */
export async function writeSmall(
  tmp: TempPath,
  buf: Buffer,
  mtime: number | Date,
  sparse?: boolean,
  lengths?: FileLengths,
): Promise<number> {
  const fd = await openFd(tmp(), TMP_FLAGS);
  try {
    const out = await InOrder.of(fd, sparse, lengths);
    await out.write(buf, 0);
    await out.finish(buf.length);
    await futimesFd(fd, mtime, mtime);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Writes the body while it is hashed, off the main thread for large bodies; `wrote` counts each write.
 * `sparse`, `lengths`: as writeSmall's (the hash still sees every byte received).
 */
export async function writeStream(
  pool: HashPool,
  body: Readable,
  tmp: TempPath,
  size: number,
  partSizes: number[],
  wrote: (bytes: number) => void,
  sparse?: boolean,
  lengths?: FileLengths,
): Promise<StreamDigest> {
  // Made anew, not reopened truncated: fusefat refuses the writes to a file it truncated, and its
  // removal then may never return (a body tried again after a cut, a whole fetch after ranges).
  removeTmpFile(tmp);
  const fh = await open(tmp(), TMP_FLAGS);
  const flusher = new Flusher(fh);
  const hash = pool.startStreamHash(partSizes, size);
  let written = 0;
  try {
    // Empty when opened: what is not written reads as zeros.
    const out = await InOrder.of(fh, sparse, lengths);
    for await (const { buf, owned } of coalesce(body)) {
      flusher.wrote(await out.write(buf, written));
      written += buf.length;
      wrote(buf.length);
      // After the write: a transferred buffer is detached.
      await hash.update(buf, owned);
    }
    if (written !== size) throw new IncompleteBody(`response body ended after ${written} of ${size} bytes`);
    // The trailing zeros skipped are a hole up to the length; synced with the data below.
    flusher.wrote(await out.finish(size));
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
