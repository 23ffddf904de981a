/**
 * A file the user names (a list, a rule file, a CA bundle, the config file) read whole, only if it is a
 * regular file of at most a given size: opened without blocking and checked by its descriptor.
 *
 * Opened as a plain read, a FIFO with no writer blocks in open(2): on the main thread no signal handler
 * runs, and on a libuv pool thread process.exit() never returns, so neither Ctrl-C nor SIGTERM ends the
 * run. O_NONBLOCK makes that open return at once (and a serial line not wait for its carrier), fstat
 * then refuses it; /dev/zero, a character device, would never end and is refused the same way.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { fmtSize } from '../options/parse.js';
import { kindOf } from './open-file.js';

/** Why a file was not read: `why` completes "cannot read … FILE: "; `code` is the errno's, if any. */
export class ReadRefusal extends Error {
  constructor(
    readonly why: string,
    readonly code?: string,
  ) {
    super(why);
  }
}

/**
 * The bytes of `file`, at most `max` of them; `what` names the kind of file in the size refusal ("a
 * config file"). Throws a ReadRefusal: ENOENT/EACCES…, `it is a directory`, `not a regular file
 * (FIFO)`, or too large (by its size, or once more than `max` bytes were read from a file that grew).
 */
export function readRegularFile(file: string, max: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ReadRefusal(e.code ?? e.message, e.code);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ReadRefusal('it is a directory', 'EISDIR');
    if (!st.isFile()) throw new ReadRefusal(`not a regular file (${kindOf(st)})`);
    const tooLarge = (size: number) =>
      new ReadRefusal(`${fmtSize(size)} is too large for ${what} (over ${fmtSize(max)})`);
    if (st.size > max) throw tooLarge(st.size);
    // Read to its end, not to its size: a file that grows (or /proc's, of size 0) is capped all the same.
    let buf = Buffer.allocUnsafe(Math.min(max + 1, Math.max(st.size + 1, 64 * 1024)));
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > max) throw tooLarge(n);
        const next = Buffer.allocUnsafe(Math.min(max + 1, buf.length * 2));
        buf.copy(next, 0, 0, n);
        buf = next;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > max) throw tooLarge(n);
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof ReadRefusal) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ReadRefusal(e.code ?? e.message, e.code);
  } finally {
    closeSync(fd);
  }
}
