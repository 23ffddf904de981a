import { copyFileSync, existsSync, linkSync, lstatSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../errors.js';
import { makeDirs } from '../local/make-dirs.js';
import { NOT_IN_NAME } from '../options/parse.js';
import { isS3Url } from '../s3/url.js';

/**
 * pull --backup-dir DIR: before the run replaces or deletes a local file, the file is kept at
 * DIR/<rel><suffix>. A later backup of the same rel replaces the earlier one.
 */
export interface LocalBackup {
  dir: string;
  suffix: string;
}

/** The real path of `p`, or of its deepest existing ancestor joined with the rest. */
function realish(p: string): string {
  const abs = path.resolve(p);
  if (existsSync(abs)) return realpathSync.native(abs);
  const parent = path.dirname(abs);
  return parent === abs ? abs : path.join(realish(parent), path.basename(abs));
}

const inside = (a: string, b: string) => a === b || a.startsWith(b.endsWith(path.sep) ? b : b + path.sep);

/**
 * The backup directory of a pull into `target`, checked: a local path that neither lies inside the
 * target (the next pull would delete, or the next push upload, what it keeps) nor holds it (a backup of
 * the target's files would land among them). Filters do not make an overlap safe: they change between
 * runs.
 */
export function localBackupTarget(
  backupDir: string,
  suffix: string | undefined,
  target: string,
  name = '--backup-dir',
): LocalBackup {
  if (isS3Url(backupDir)) throw usageError(`${name} of a pull must be a local directory, not '${backupDir}'`);
  const dir = realish(backupDir);
  const root = realish(target);
  if (inside(dir, root) || inside(root, dir)) {
    throw usageError(
      `${name} ${backupDir} overlaps the pull target ${target}: choose a directory outside it`,
    );
  }
  return { dir, suffix: suffix ?? '' };
}

/**
 * Keeps the regular file at `abs` (the target's `rel`) under the backup directory, as a hard link
 * (the file's content survives its replacement or deletion, and nothing is copied), or as a copy
 * across filesystems. Returns the undo, for the caller whose replacement or deletion does not happen
 * (a link would otherwise share the inode with the file kept in the target); undefined when there was
 * nothing to keep. Throws when the file cannot be kept: the caller must then leave it alone.
 */
export function backupLocalFile(b: LocalBackup, rel: string, abs: string): (() => void) | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // A link holds no content of its own, and what it leads to is not replaced.
  if (!st.isFile()) return undefined;
  const dest = path.join(b.dir, rel + b.suffix);
  // The suffix is checked as an option; a LocalBackup made otherwise must not write elsewhere either.
  if (NOT_IN_NAME.test(b.suffix) || !inside(path.dirname(dest), b.dir))
    throw new Error(`'${rel}${b.suffix}' would lead out of the backup directory`);
  const folder = path.dirname(dest);
  try {
    // A link among its folders would lead the copy anywhere, into the target too (where the next
    // pull --delete removes it): none is followed, and the folders made are checked once made.
    const link = linkOnTheWay(b.dir, folder);
    if (link !== undefined) throw keepFailed(dest, `${link} is a symbolic link (not followed)`);
    makeDirs(folder);
    if (realpathSync.native(folder) !== folder)
      throw keepFailed(dest, `a symbolic link is on the way to ${folder} (not followed)`);
    rmSync(dest, { force: true });
    try {
      linkSync(abs, dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
      copyFileSync(abs, dest);
    }
  } catch (err) {
    if (err instanceof BackupFailed) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw keepFailed(dest, WHY[code] ?? code);
  }
  return () => rmSync(dest, { force: true });
}

const keepFailed = (dest: string, why: string) =>
  new BackupFailed(`left as it is: could not keep a copy at ${dest} (--backup-dir): ${why}`);

/** The first symbolic link among the folders below `root` (a real path) down to `folder`, if any. */
function linkOnTheWay(root: string, folder: string): string | undefined {
  let p = root;
  for (const name of path.relative(root, folder).split(path.sep)) {
    if (name === '') continue;
    p = path.join(p, name);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (st.isSymbolicLink()) return p;
  }
  return undefined;
}

/** What the usual failures mean in the backup directory, for a user who reads the line once. */
const WHY: Readonly<Record<string, string>> = {
  ENOTDIR: 'a file there stands where a folder is needed (ENOTDIR)',
  EISDIR: 'a folder stands there (EISDIR)',
  ERR_FS_EISDIR: 'a folder stands there (EISDIR)',
  EACCES: 'permission denied (EACCES)',
  ENOSPC: 'no space left on its device (ENOSPC)',
  EROFS: 'its filesystem is read-only (EROFS)',
};

/** The file could not be kept under --backup-dir: it is neither replaced nor deleted. */
export class BackupFailed extends Error {}
