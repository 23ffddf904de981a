import { type BigIntStats, closeSync, constants, fstatSync, lstatSync, openSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { unreadableWhy } from '../errors.js';
import { type FileStat, statFields } from './scan.js';

/** A file to read, and the file the read must find there. */
export interface ReadSource {
  abs: string;
  /**
   * The file as the scan saw it: the open descriptor must have its device and inode. Absent only for
   * files s3sync made itself (a download's temporary file).
   */
  expect?: Pick<FileStat, 'dev' | 'ino'>;
  /** The scan followed symbolic links (--follow-symlinks): the read does too, and the identity still holds. */
  follow?: boolean;
}

/** A path alone: a file s3sync made itself, read under the same rules but with no identity to check. */
export type ReadTarget = string | ReadSource;

const sourceOf = (t: ReadTarget): ReadSource => (typeof t === 'string' ? { abs: t } : t);

/** Carried across the hash worker's message boundary, where classes are lost. */
export const UNEXPECTED_FILE = 'ES3SYNC_UNEXPECTED_FILE';

/**
 * What is at the path is not the file the scan found (a symbolic link, a FIFO, a socket, a device,
 * another inode), or not what it claims to be (a /proc-style file whose size lies). Never read on, never
 * uploaded or recorded, and not retried within the run: an error (exit 1), not a change to wait out.
 */
export class UnexpectedFileError extends Error {
  /** Raised by this machine, not by S3: the transport passes it through (see isLocalError). */
  readonly local = true;
  readonly code = UNEXPECTED_FILE;
  /** The bytes had already been sent (from the scanned file) when the path was found to name another. */
  readonly sent: boolean;
  constructor(message: string, opts: { sent?: boolean } = {}) {
    super(message);
    this.name = 'UnexpectedFileError';
    this.sent = opts.sent ?? false;
  }
}

/**
 * O_NONBLOCK: opening a FIFO (or a device that would wait for a carrier) returns at once, and fstat then
 * refuses it; it changes nothing for a regular file. O_NOCTTY: a terminal swapped in never becomes the
 * process's controlling one. O_NOFOLLOW unless the scan itself followed links.
 */
const flags = (follow: boolean | undefined) =>
  constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (follow ? 0 : constants.O_NOFOLLOW);

type Kind = Pick<BigIntStats, 'isSymbolicLink' | 'isFIFO' | 'isSocket' | 'isDirectory' | 'isBlockDevice'>;

/** What a non-regular entry is, in words. */
export function kindOf(st: Kind): string {
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isDirectory()) return 'directory';
  if (st.isBlockDevice()) return 'block device';
  return 'character device';
}

const notRegular = (st: Kind) => new UnexpectedFileError(`is no longer a regular file (${kindOf(st)})`);

/** What describePath says of a path it could not look at; `unreadable(what)` gives the reason. */
const UNREADABLE = 'unreadable: ';
export const unreadable = (what: string): string | undefined =>
  what.startsWith(UNREADABLE) ? what.slice(UNREADABLE.length) : undefined;

/**
 * The entry at the path, as the scan would see it: 'missing', 'file', what else it is, or, where it
 * cannot be looked at now (a folder on its way made unreadable), `unreadable: <why>`, which is not its
 * absence. For the failure paths only (an open refused, a file gone from a rescan).
 */
export function describePath(abs: string, follow?: boolean): 'missing' | 'file' | string {
  let st: BigIntStats | undefined;
  try {
    st = (follow ? statSync : lstatSync)(abs, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a file now where a folder on its way was, so nothing at the path.
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : `${UNREADABLE}${unreadableWhy(code, err)}`;
  }
  if (!st) return 'missing';
  return st.isFile() ? 'file' : kindOf(st);
}

/**
 * An open that failed: ELOOP is O_NOFOLLOW meeting a symbolic link, ENXIO a socket; whatever the code,
 * when the path holds something other than a regular file, that is the error to report.
 */
function openFailure(err: unknown, src: ReadSource): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return err;
  const what = describePath(src.abs, src.follow);
  return what === 'missing' || what === 'file' || unreadable(what) !== undefined
    ? err
    : new UnexpectedFileError(`is no longer a regular file (${what})`);
}

/** The open descriptor's stat data, if it is a regular file and the scanned one. */
function verify(st: BigIntStats, src: ReadSource): FileStat {
  if (!st.isFile()) throw notRegular(st);
  const stat = statFields(st);
  if (src.expect && (stat.dev !== src.expect.dev || stat.ino !== src.expect.ino)) throw replaced(src);
  return stat;
}

/** Another file at the path: said as a symbolic link when the path is one the scan did not follow. */
function replaced(src: ReadSource, opts: { sent?: boolean } = {}): UnexpectedFileError {
  const link = !src.follow && describePath(src.abs) === 'symbolic link';
  return new UnexpectedFileError(
    link ? 'was replaced by a symbolic link' : 'was replaced by another file (another inode)',
    opts,
  );
}

/**
 * Opens a file to read it, never following a link the scan did not and never blocking, and checks the
 * open descriptor: a regular file, and the scanned one (device and inode). Size and times are the
 * caller's to compare (a change in place is retried; another file never is).
 */
export function openScannedSync(target: ReadTarget): { fd: number; stat: FileStat } {
  const src = sourceOf(target);
  let fd: number;
  try {
    fd = openSync(src.abs, flags(src.follow));
  } catch (err) {
    throw openFailure(err, src);
  }
  try {
    return { fd, stat: verify(fstatSync(fd, { bigint: true }), src) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** openScannedSync, on the thread pool. */
export async function openScanned(target: ReadTarget): Promise<{ fh: FileHandle; stat: FileStat }> {
  const src = sourceOf(target);
  let fh: FileHandle;
  try {
    fh = await open(src.abs, flags(src.follow));
  } catch (err) {
    throw openFailure(err, src);
  }
  try {
    return { fh, stat: verify(await fh.stat({ bigint: true }), src) };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * The path still names the scanned file, by lstat (stat when links are followed): for after the bytes
 * were read from a descriptor, to record nothing about a path that now names something else.
 * Returns its stat data; throws UnexpectedFileError (`sent`) when it is another file or not a file.
 */
export function pathStat(src: ReadSource & { expect: Pick<FileStat, 'dev' | 'ino'> }): FileStat {
  const st = (src.follow ? statSync : lstatSync)(src.abs, { bigint: true });
  if (!st.isFile()) throw new UnexpectedFileError(notRegular(st).message, { sent: true });
  const stat = statFields(st);
  if (stat.dev !== src.expect.dev || stat.ino !== src.expect.ino) throw replaced(src, { sent: true });
  return stat;
}

/**
 * A read that disagrees with the size fstat gave before and after it: a /proc- or /sys-style file,
 * whose content is made up as it is read. `read` is 'more' when there was more than the size.
 */
export const sizeLies = (size: number, read: number | 'more') =>
  new SizeLiesError(
    `is not what it claims to be: its size is ${size} bytes but ${read === 'more' ? 'more' : read} could be read`,
  );

/** sizeLies' verdict: an UnexpectedFileError that a second read must confirm (see stable-read.ts). */
export class SizeLiesError extends UnexpectedFileError {}
