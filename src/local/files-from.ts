/**
 * --files-from and --files-from0: the list of paths a run is limited to.
 *
 * --files-from: one path per line; a line starting with '#' is a comment; blank lines (also of
 * spaces only) are skipped; a trailing CR and a leading byte order mark are dropped (a list written on
 * Windows). --files-from0: paths separated by NUL characters (`find -print0`, `git diff -z
 * --name-only`), taken as they are, with no comments (a name may start with '#'); empty entries are
 * skipped. In both, `-` (or `/dev/stdin`) reads standard input, and `/dev/fd/N` naming a pipe this
 * process holds (`<(cmd)`) reads that pipe. A named list must be a regular file of at most
 * FILES_FROM_MAX_BYTES, and a pipe is read to that much at most.
 *
 * Each path is relative to the sync root and is normalised like a key: a leading `./` and repeated or
 * inner `.` segments go, `\\` is an ordinary character (as in a POSIX file name). A path that would
 * leave the root (`..`) or does not name a file under it (absolute, a directory with a trailing '/',
 * nothing left once normalised, a NUL in a line, bytes that are not UTF-8) is a usage error naming its
 * line: a list with one bad line is a list someone got wrong, and syncing the rest would hide it.
 */
import { isUtf8 } from 'node:buffer';
import { fstatSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { onAbort } from '../abort-listeners.js';
import { errorMessage, usageError } from '../errors.js';
import { fmtSize } from '../options/parse.js';
import { ReadRefusal, readRegularFile } from './read-regular.js';

/**
 * The most a list may hold: past a list of a million long paths, and well below the longest string V8
 * makes (which the list becomes whole).
 */
export const FILES_FROM_MAX_BYTES = 256 * 1024 * 1024;

export interface FilesFromSource {
  /** The file to read, '-' for standard input. */
  file: string;
  /** NUL-separated (--files-from0). */
  nul: boolean;
}

/** Reads and parses a list: its paths, deduplicated, in the order given. */
export async function readFilesFrom(
  src: FilesFromSource,
  stdin: NodeJS.ReadableStream = process.stdin,
  signal?: AbortSignal,
): Promise<string[]> {
  const flag = src.nul ? '--files-from0' : '--files-from';
  const stdinNamed = src.file === '-' || isStandardInput(src.file);
  const readCapped = async (stream: NodeJS.ReadableStream, what: string): Promise<Buffer> => {
    let r: { data: Buffer; over: boolean };
    try {
      r = await readAll(stream, FILES_FROM_MAX_BYTES, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw usageError(`cannot read ${flag} ${src.file}: ${code ?? errorMessage(err)}`, err);
    }
    if (r.over)
      throw usageError(
        `${flag} ${src.file}: ${what} holds more than ${fmtSize(FILES_FROM_MAX_BYTES)}, too much for a list of paths`,
      );
    return r.data;
  };
  const pipe = stdinNamed ? undefined : inheritedPipe(src.file);
  let bytes: Buffer;
  if (stdinNamed) {
    bytes = await readCapped(stdin, 'standard input');
  } else if (pipe !== undefined) {
    bytes = await readCapped(new Socket({ fd: pipe, readable: true, writable: false }), 'the pipe');
  } else {
    try {
      bytes = readRegularFile(src.file, FILES_FROM_MAX_BYTES, 'a list of paths');
    } catch (err) {
      if (!(err instanceof ReadRefusal)) throw err;
      if (err.code === 'ENOENT') throw usageError(`${flag} file not found: ${src.file}`, err);
      // A pipe given by name (`<(cmd)`, a FIFO) could wait for ever for a writer: `-` takes a pipe.
      const hint = err.why.endsWith('(FIFO)') ? `: pipe the list to ${flag} - instead` : '';
      throw usageError(`cannot read ${flag} file ${src.file}: ${err.why}${hint}`, err);
    }
  }
  const name = src.file === '-' ? `${flag} -` : `${flag} ${src.file}`;
  if (!isUtf8(bytes)) refuseInvalidUtf8(bytes, { nul: src.nul, name });
  return parseFilesFrom(bytes.toString('utf8'), { nul: src.nul, name });
}

/**
 * `file` names what standard input is when that is not a regular file (`/dev/stdin`, `/proc/self/fd/0`
 * on a pipe): read as `-` is, from the stream, never opened anew. A regular file is read by its name.
 */
function isStandardInput(file: string): boolean {
  try {
    const st = statSync(file);
    if (st.isFile()) return false;
    const fd0 = fstatSync(0);
    return st.dev === fd0.dev && st.ino === fd0.ino;
  } catch {
    return false;
  }
}

/**
 * The descriptor `file` names when it is one of this process's own (`/dev/fd/N`, `/proc/self/fd/N`: a
 * shell's process substitution, `<(cmd)`) and a pipe: read from that descriptor, which already has its
 * writer, without a blocking open(2), as standard input is. A FIFO named elsewhere is refused unopened.
 */
function inheritedPipe(file: string): number | undefined {
  const m = /^\/(?:dev|proc\/self|proc\/(\d+))\/fd\/(\d+)$/.exec(file);
  if (!m || (m[1] !== undefined && Number(m[1]) !== process.pid)) return undefined;
  const fd = Number(m[2]);
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket() ? fd : undefined;
  } catch {
    return undefined;
  }
}

async function readAll(
  stream: NodeJS.ReadableStream,
  max: number,
  signal: AbortSignal | undefined,
): Promise<{ data: Buffer; over: boolean }> {
  const chunks: Buffer[] = [];
  let n = 0;
  // A writer that never ends its list (`<(sleep 1d)`) must not outlast Ctrl-C.
  const stop = signal ? onAbort(signal, () => (stream as Readable).destroy?.()) : () => {};
  try {
    for await (const c of stream) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      chunks.push(b);
      n += b.length;
      // Stopped here: an endless input (`yes |`) would grow the process without bound.
      if (n > max) return { data: Buffer.alloc(0), over: true };
    }
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  } finally {
    stop();
  }
  signal?.throwIfAborted();
  return { data: Buffer.concat(chunks, n), over: false };
}

/**
 * Throws for the first entry that is not valid UTF-8: decoded, it would name another path (its bytes
 * as U+FFFD), so the file it lists was silently left out, and no S3 key can name it anyway.
 */
function refuseInvalidUtf8(bytes: Buffer, opts: { nul: boolean; name: string }): void {
  const sep = opts.nul ? 0 : 0x0a;
  let start = 0;
  for (let i = 1; start <= bytes.length; i++) {
    const end = bytes.indexOf(sep, start);
    const entry = bytes.subarray(start, end === -1 ? bytes.length : end);
    // A comment is not a path, whatever its bytes.
    if (!isUtf8(entry) && (opts.nul || entry[0] !== 0x23))
      throw usageError(
        `${opts.name} ${opts.nul ? 'entry' : 'line'} ${i}: not valid UTF-8: no S3 key can name it (${JSON.stringify(entry.toString('utf8'))})`,
      );
    if (end === -1) break;
    start = end + 1;
  }
}

/** Parses a list's text (pure). `name` starts each error message, e.g. `--files-from list.txt`. */
export function parseFilesFrom(text: string, opts: { nul: boolean; name: string }): string[] {
  // A byte order mark (Notepad, PowerShell) is not part of the first path, which it would hide.
  const body = !opts.nul && text.startsWith('\uFEFF') ? text.slice(1) : text;
  const entries = opts.nul ? body.split('\0') : body.split('\n');
  const out = new Set<string>();
  entries.forEach((raw, i) => {
    const where = `${opts.name} ${opts.nul ? 'entry' : 'line'} ${i + 1}`;
    const entry = opts.nul ? raw : raw.replace(/\r$/, '');
    if (opts.nul ? entry === '' : entry.trim() === '' || entry.startsWith('#')) return;
    const rel = normalizeListed(entry);
    if (typeof rel === 'object') throw usageError(`${where}: ${rel.error} (${JSON.stringify(entry)})`);
    out.add(rel);
  });
  return [...out];
}

/** A listed path as a rel ('a/b.txt'), or why it is refused. */
export function normalizeListed(entry: string): string | { error: string } {
  if (entry.includes('\0'))
    return { error: 'a NUL character in a path (use --files-from0 for NUL-separated lists)' };
  if (entry.startsWith('/')) return { error: 'absolute path: paths are relative to the sync root' };
  if (entry.endsWith('/')) return { error: 'names a directory: list the files' };
  const parts = entry.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { error: "'..' is not allowed: paths stay inside the sync root" };
  if (parts.length === 0) return { error: 'names no file' };
  return parts.join('/');
}
