import { type BigIntStats, lstatSync, readdirSync, statSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import {
  folderFailure,
  type LocalFile,
  type ScanIssue,
  type ScanOptions,
  type ScanResult,
  tooLargeForStore,
} from './scan.js';

const MAX_KEY_BYTES = 1024;

/**
 * The scan of a known list of paths (--files-from): what `scanDirectory` would find at those paths,
 * reading no other file and no directory (but the folders of paths listed in two spellings). Each
 * listed path's directories are checked as the walk would enter them (skipped by the filters, a
 * symbolic link not followed: the path is not in the tree), then the file itself is stat'ed. A path
 * with nothing at it is simply absent (gone locally); a directory, a link not followed or a special
 * file at it is a notice, as in the walk.
 *
 * On a filesystem that ignores case, `Readme` and `README` look up one file, which the walk finds under
 * the one name it is stored as. Listed spellings that differ only in case are settled as the walk
 * would: the spelling stored is kept, each other one is an error, never a second path to write or
 * upload.
 */
export function scanListed(root: string, rels: readonly string[], opts: ScanOptions = {}): ScanResult {
  const files: LocalFile[] = [];
  const errors: ScanIssue[] = [];
  const notices: ScanIssue[] = [];
  const base = root.replace(/\/+$/, '') || '';
  const keyPrefixBytes = Buffer.byteLength(opts.keyPrefix ?? '');
  // A directory's verdict, once per run: true when the walk would enter it.
  const dirs = new Map<string, boolean>();
  const twins = foldedTwins(rels);
  // The twins that found a file.
  const foundTwins = new Set<string>();

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
        st = folderFailure('cannot stat directory', err);
      }
      if (typeof st === 'string' && st !== '') notices.push({ rel: dir, message: st });
      ok = typeof st === 'object' && st.isDirectory();
    }
    dirs.set(dir, ok);
    return ok;
  };

  for (const rel of rels) {
    // Filtered out first: a link on the way to a path the filters leave out is not said to be skipped.
    if (opts.includeFile && !opts.includeFile(rel)) continue;
    const slash = rel.lastIndexOf('/');
    if (slash !== -1 && !enters(rel.slice(0, slash))) continue;
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
    const tooLarge = tooLargeForStore(Number(st.size), opts.maxObjectSize);
    if (tooLarge) {
      errors.push({ rel, message: tooLarge });
      continue;
    }
    if (twins.size > 0 && twins.has(folded(rel))) foundTwins.add(rel);
    files.push({
      rel,
      size: Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      ctimeNs: st.ctimeNs.toString(),
      ino: st.ino.toString(),
      dev: st.dev.toString(),
    });
  }
  const aliases = foundTwins.size > 1 ? settleAliases(base, twins, foundTwins, files, errors) : undefined;
  return aliases ? { files, errors, notices, aliases } : { files, errors, notices };
}

const NON_ASCII = /[^\x00-\x7f]/;

/** A spelling as a filesystem that ignores case (and, on macOS, Unicode normalisation) compares it. */
const folded = (name: string) => (NON_ASCII.test(name) ? name.normalize('NFC') : name).toLowerCase();

/** The listed paths whose folded spelling another listed path shares, by that spelling. */
function foldedTwins(rels: readonly string[]): Map<string, string[]> {
  const byFold = new Map<string, string | string[]>();
  const twins = new Map<string, string[]>();
  for (const rel of rels) {
    const f = folded(rel);
    const seen = byFold.get(f);
    if (seen === undefined) byFold.set(f, rel);
    else if (typeof seen === 'string') {
      const group = [seen, rel];
      byFold.set(f, group);
      twins.set(f, group);
    } else seen.push(rel);
  }
  return twins;
}

/**
 * Of the twins that found a file, keeps those spelled as their folders store them (read from the
 * folders: a filesystem that ignores case finds a file under any case, and some FUSE ones give each
 * spelling its own inode number) and makes each other one an error. Returns the paths refused.
 */
function settleAliases(
  base: string,
  twins: Map<string, string[]>,
  foundTwins: Set<string>,
  files: LocalFile[],
  errors: ScanIssue[],
): Set<string> | undefined {
  const listings = new Map<string, string[] | undefined>();
  const refused = new Set<string>();
  for (const group of twins.values()) {
    const found = group.filter((rel) => foundTwins.has(rel));
    if (found.length < 2) continue;
    for (const rel of found) {
      const stored = storedSpelling(base, rel, listings);
      if (stored === rel) continue;
      refused.add(rel);
      const other = found.find((r) => r !== rel);
      errors.push({
        rel,
        message:
          stored === undefined
            ? `cannot be told from ${JSON.stringify(other)} (its folder cannot be read, and the filesystem may ignore case): skipped`
            : `this is the file stored as ${JSON.stringify(stored)} (the filesystem ignores case): skipped`,
      });
    }
  }
  if (refused.size === 0) return undefined;
  let n = 0;
  for (const f of files) if (!refused.has(f.rel)) files[n++] = f;
  files.length = n;
  return refused;
}

/** The path `rel` reaches as its folders store it, each name read from its folder; undefined if unread. */
function storedSpelling(base: string, rel: string, listings: Map<string, string[] | undefined>) {
  let dir = '';
  for (const name of rel.split('/')) {
    let names = listings.get(dir);
    if (!listings.has(dir)) {
      try {
        names = readdirSync(dir === '' ? base || '/' : `${base}/${dir}`);
      } catch {
        names = undefined;
      }
      listings.set(dir, names);
    }
    const f = folded(name);
    const stored = names?.includes(name) ? name : names?.find((n) => folded(n) === f);
    if (stored === undefined) return undefined;
    dir = dir === '' ? stored : `${dir}/${stored}`;
  }
  return dir;
}
