/**
 * --files-from and --files-from0: the list of paths a run is limited to.
 *
 * --files-from: one path per line; a line starting with '#' is a comment; blank lines (also of
 * spaces only) are skipped; a trailing CR and a leading byte order mark are dropped (a list written on
 * Windows). --files-from0: paths separated by NUL characters (`find -print0`, `git diff -z
 * --name-only`), taken as they are, with no comments (a name may start with '#'); empty entries are
 * skipped. In both, `-` reads standard input.
 *
 * Each path is relative to the sync root and is normalised like a key: a leading `./` and repeated or
 * inner `.` segments go, `\\` is an ordinary character (as in a POSIX file name). A path that would
 * leave the root (`..`) or does not name a file under it (absolute, a directory with a trailing '/',
 * nothing left once normalised, a NUL in a line, bytes that are not UTF-8) is a usage error naming its
 * line: a list with one bad line is a list someone got wrong, and syncing the rest would hide it.
 */
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { errorMessage, usageError } from '../errors.js';

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
): Promise<string[]> {
  const flag = src.nul ? '--files-from0' : '--files-from';
  let bytes: Buffer;
  try {
    bytes = src.file === '-' ? await readAll(stdin) : await readFile(src.file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw usageError(`${flag} file not found: ${src.file}`, err);
    throw usageError(`cannot read ${flag} file ${src.file}: ${code ?? errorMessage(err)}`, err);
  }
  const name = src.file === '-' ? `${flag} -` : `${flag} ${src.file}`;
  if (!isUtf8(bytes)) refuseInvalidUtf8(bytes, { nul: src.nul, name });
  return parseFilesFrom(bytes.toString('utf8'), { nul: src.nul, name });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
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
