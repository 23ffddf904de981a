import { type BigIntStats, lstatSync, statSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import type { LocalFile, ScanIssue, ScanOptions, ScanResult } from './scan.js';

const MAX_KEY_BYTES = 1024;

/**
 * The scan of a known list of paths (--files-from): what `scanDirectory` would find at those paths,
 * reading no directory and no other file. Each listed path's directories are checked as the walk would
 * enter them (skipped by the filters, a symbolic link not followed: the path is not in the tree), then
 * the file itself is stat'ed. A path with nothing at it is simply absent (gone locally); a directory, a
 * link not followed or a special file at it is a notice, as in the walk.
 */
export function scanListed(root: string, rels: readonly string[], opts: ScanOptions = {}): ScanResult {
  const files: LocalFile[] = [];
  const errors: ScanIssue[] = [];
  const notices: ScanIssue[] = [];
  const base = root.replace(/\/+$/, '') || '';
  const keyPrefixBytes = Buffer.byteLength(opts.keyPrefix ?? '');
  // A directory's verdict, once per run: true when the walk would enter it.
  const dirs = new Map<string, boolean>();

  const stat = (abs: string, follow: boolean): BigIntStats | undefined =>
    (follow ? statSync : lstatSync)(abs, { bigint: true, throwIfNoEntry: false });

  /**
   * What the walk does with an entry that is a link: follow it (its target's stats), or why not (a
   * notice), or a broken link (an error, as in the walk).
   */
  const throughLink = (abs: string, rel: string): BigIntStats | string => {
    if (!opts.followSymlinks) return 'symbolic link skipped (use --follow-symlinks to follow)';
    const refused = opts.followLink?.(abs, rel);
    if (refused) return `${refused}: skipped`;
    try {
      return statSync(abs, { bigint: true });
    } catch (err) {
      errors.push({ rel, message: `broken symbolic link: ${errorMessage(err)}` });
      return '';
    }
  };

  const enters = (dir: string): boolean => {
    const known = dirs.get(dir);
    if (known !== undefined) return known;
    const slash = dir.lastIndexOf('/');
    let ok = slash === -1 || enters(dir.slice(0, slash));
    if (ok && opts.skipDir?.(dir)) ok = false;
    if (ok) {
      const abs = `${base}/${dir}`;
      let st: BigIntStats | string | undefined;
      try {
        st = stat(abs, false);
        if (st?.isSymbolicLink()) st = throughLink(abs, dir);
      } catch (err) {
        st = `cannot stat directory: ${errorMessage(err)}`;
      }
      if (typeof st === 'string' && st !== '') notices.push({ rel: dir, message: st });
      ok = typeof st === 'object' && st.isDirectory();
    }
    dirs.set(dir, ok);
    return ok;
  };

  for (const rel of rels) {
    const slash = rel.lastIndexOf('/');
    if (slash !== -1 && !enters(rel.slice(0, slash))) continue;
    if (opts.includeFile && !opts.includeFile(rel)) continue;
    const abs = `${base}/${rel}`;
    let st: BigIntStats | string | undefined;
    try {
      st = stat(abs, false);
      if (st?.isSymbolicLink()) st = throughLink(abs, rel);
    } catch (err) {
      // ENOTDIR: a file where a directory was expected, so nothing at the path.
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      errors.push({ rel, message: `cannot stat: ${errorMessage(err)}` });
      continue;
    }
    if (st === undefined) continue;
    if (typeof st === 'string') {
      if (st !== '') notices.push({ rel, message: st });
      continue;
    }
    if (st.isDirectory()) {
      notices.push({ rel, message: 'a directory, not a file: skipped (list the files in it)' });
      continue;
    }
    if (!st.isFile()) {
      notices.push({ rel, message: 'not a regular file (FIFO, socket or device): skipped' });
      continue;
    }
    if (keyPrefixBytes + Buffer.byteLength(rel) > MAX_KEY_BYTES) {
      errors.push({ rel, message: `key longer than S3's ${MAX_KEY_BYTES}-byte limit: skipped` });
      continue;
    }
    files.push({
      rel,
      size: Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      ctimeNs: st.ctimeNs.toString(),
      ino: st.ino.toString(),
      dev: st.dev.toString(),
    });
  }
  return { files, errors, notices };
}
