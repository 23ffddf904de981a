/**
 * Reading a file and proving it held still: every read of a scanned file for a hash or an upload goes
 * through here. The file is opened as openScanned does (the scanned one, never through a link the scan
 * did not follow, never blocking), and its stat data taken from the descriptor before and after the
 * read must agree: a change is a file to retry later (`stable` false, or FileChangedError), while a
 * file whose stat data held still and whose bytes disagree with its size lies (sizeLies): once a second
 * read of a whole file agrees, it is never retried.
 */
import { closeSync, fstatSync, read, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  openScanned,
  openScannedSync,
  type ReadSource,
  type ReadTarget,
  SizeLiesError,
  sizeLies,
} from './open-file.js';
import { type FileStat, sameStat, statFields } from './scan.js';

/** The file changed while it was read or uploaded: not recorded, retried at the end of the run. */
export class FileChangedError extends Error {
  /** Raised by this machine, not by S3: the transport passes it through (see isLocalError). */
  readonly local = true;
  constructor() {
    super('file changed while it was being uploaded');
  }
}

/** A scanned file to read: its path, and the stat data the scan (or the hash) found there. */
export type Scanned = ReadSource & { expect: FileStat };

/** What a whole read found: the stat data after it, and whether it matched the stat data before. */
export interface StableRead {
  stat: FileStat;
  stable: boolean;
}

/**
 * The verdict on a whole read of `n` bytes: held still or not. Stat data that held still with another
 * number of bytes than its size is a size that lies (`more`: the read was cut off past the size).
 */
function settle(before: FileStat, after: FileStat, n: number, more: boolean): StableRead {
  const stable = sameStat(before, after);
  if (stable && after.size !== n) throw sizeLies(after.size, more ? 'more' : n);
  return { stat: after, stable };
}

export interface WholeReadOptions {
  /** The buffer to read into, of `n` bytes (a caller's reused scratch); a fresh one by default. */
  take?: (n: number) => Buffer;
  /** The scan's stat data: a file changed since is FileChangedError, before a byte is read. */
  since?: FileStat;
}

function opened(before: FileStat, opts: WholeReadOptions): Buffer {
  if (opts.since && !sameStat(before, opts.since)) throw new FileChangedError();
  // One byte more than its size: a file that grew, or lies, shows itself as a longer read.
  const n = before.size + 1;
  return opts.take ? opts.take(n) : Buffer.allocUnsafe(n);
}

/**
 * `read`, and once more if it finds a size that lies. A file truncated and rewritten while it is read
 * can show the same stat data before and after the read (truncated again within one tick of the file
 * system's clock) with bytes of its next version in between: rare, but seen under load. A file that
 * lies does so again; a rewritten one, read anew, shows a change or holds still.
 */
export function confirmingLies<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof SizeLiesError)) throw err;
    return read();
  }
}

/** confirmingLies for a read on the thread pool. */
export async function confirmingLiesAsync<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof SizeLiesError)) throw err;
    return read();
  }
}

/**
 * The whole file in memory, synchronously: for small files, where the thread-pool round trips of open,
 * fstat, read, fstat and close cost more than the read itself.
 */
export function readWholeSync(
  target: ReadTarget,
  opts: WholeReadOptions = {},
): StableRead & { data: Buffer } {
  return confirmingLies(() => readWholeOnceSync(target, opts));
}

function readWholeOnceSync(target: ReadTarget, opts: WholeReadOptions): StableRead & { data: Buffer } {
  const { fd, stat: before } = openScannedSync(target);
  try {
    const buf = opened(before, opts);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    const after = statFields(fstatSync(fd, { bigint: true }));
    return { ...settle(before, after, n, n === buf.length), data: buf.subarray(0, n) };
  } finally {
    closeSync(fd);
  }
}

/** readWholeSync on the thread pool. */
export function readWhole(
  target: ReadTarget,
  opts: WholeReadOptions = {},
): Promise<StableRead & { data: Buffer }> {
  return confirmingLiesAsync(() => readWholeOnce(target, opts));
}

async function readWholeOnce(
  target: ReadTarget,
  opts: WholeReadOptions,
): Promise<StableRead & { data: Buffer }> {
  const { fh, stat: before } = await openScanned(target);
  try {
    const buf = opened(before, opts);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r)
      r = (await fh.read(buf, n, buf.length - n, null)).bytesRead;
    const after = statFields(await fh.stat({ bigint: true }));
    return { ...settle(before, after, n, n === buf.length), data: buf.subarray(0, n) };
  } finally {
    await fh.close();
  }
}

const CHUNK = 1024 * 1024;

/**
 * The whole file in chunks, to the end, each handed to `onChunk` (which must use it before it returns:
 * the buffer is reused). A file that grows is read on; it is unstable. `size`: the bytes read.
 */
export async function readChunks(
  target: ReadTarget,
  onChunk: (chunk: Buffer) => void,
): Promise<StableRead & { size: number }> {
  const { fh, stat: before } = await openScanned(target);
  try {
    // Sized to the file: a 1 MiB buffer for each of 10k small files is mostly garbage collection.
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, before.size + 1));
    let size = 0;
    let grew = false;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      onChunk(buf.subarray(0, bytesRead));
      size += bytesRead;
      // Past its size: a file that grows is read on (it is unstable); one whose stat data held still is
      // lying, and may never end.
      if (size > before.size && !grew) {
        if (sameStat(before, await fstatOf(fh))) throw sizeLies(before.size, 'more');
        grew = true;
      }
    }
    return { ...settle(before, await fstatOf(fh), size, false), size };
  } finally {
    await fh.close();
  }
}

const fstatOf = async (fh: FileHandle) => statFields(await fh.stat({ bigint: true }));

/**
 * Read size of upload bodies. The stream default (64 KiB) costs a 256 MiB upload 4,096 reads and as
 * many buffers to collect, CPU taken from a machine the server shares. Larger is not better either:
 * with 1 MiB chunks the one-pass MD5 holds this thread long enough at a time to slow the other streams,
 * and 256 KiB measured faster against both servers for a little more CPU (see docs/performance.md).
 */
const READ_CHUNK = 256 * 1024;

/**
 * A request body of exactly [start, end] of the scanned file. The file is opened here, before the
 * request is made, and must be the scanned one with the scan's stat data (see openScannedSync); each
 * attempt, and each part, opens and checks it again. The last chunk is held back until fstat of the
 * descriptor shows the file as it was opened, so a server, which stores a body only when all of
 * Content-Length arrives, never commits a changed one; a file that ends early aborts the request
 * rather than leave it waiting for the stall timeout on every attempt. `tap` sees every chunk as it is
 * handed on to be sent, the last one once the file is known to have held still.
 */
export function exactRange(
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
