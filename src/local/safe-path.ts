import path from 'node:path';
import { runError } from '../errors.js';
import type { StatData } from './scan.js';

/**
 * Checks used by `pull` before it writes an S3 key (with the prefix stripped) under the target
 * directory. Keys are attacker-controlled as far as the local filesystem is concerned: anyone who
 * can write to the bucket must not be able to write outside the target directory.
 */

/**
 * A name FAT, exFAT or NTFS (as Windows writes it) may refuse: one of `? * : " < > |`, a device name
 * (`CON`, `nul.txt`, `COM1`), or a trailing dot or space. Linux file systems take all of these.
 */
export const mayBeRefusedName = (name: string): boolean =>
  /[?*:"<>|]/.test(name) ||
  /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?$/i.test(name) ||
  /[. ]$/.test(name);

/** The longest name Linux's own file systems take, in bytes (NAME_MAX). */
const NAME_MAX_BYTES = 255;

/** Said of a path the system refuses for its whole length (ENAMETOOLONG with no name too long). */
export const PATH_TOO_LONG = 'the path is longer than the system allows';

/**
 * Why `name` could not be made in a folder that exists, when the file system refuses the name: too
 * long (ENAMETOOLONG; the whole path when the name is short enough), or one mayBeRefusedName fits failed as such file systems fail it (exFAT through
 * FUSE answers ENOENT, fusefat EPERM, the kernel's vfat and ntfs-3g EINVAL); null for any other failure.
 * The file system is not named: the error does not say which one it is.
 */
export function refusedNameReason(what: 'file' | 'folder', name: string, err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const named = what === 'file' ? 'this name' : `the folder name '${name}'`;
  if (code === 'ENAMETOOLONG') {
    const bytes = Buffer.byteLength(name, 'utf8');
    // A name within NAME_MAX failed for the whole path's length (PATH_MAX), which no name fixes.
    if (bytes <= NAME_MAX_BYTES) return PATH_TOO_LONG;
    return `the file system refuses ${named}: too long (${bytes} bytes)`;
  }
  if ((code !== 'ENOENT' && code !== 'EINVAL' && code !== 'EPERM') || !mayBeRefusedName(name)) return null;
  return `the file system refuses ${named}`;
}

/** Reason for keys ending in '/' ("folder" placeholders made by consoles): callers skip them silently. */
export const DIRECTORY_MARKER = 'directory marker';

/**
 * The longest name any file system gives a file or folder: exFAT and NTFS take 255 UTF-16 units (400
 * bytes of `é`), Linux's own 255 UTF-8 bytes, which are never fewer units. A longer one the file system
 * at hand refuses is its own error (ENAMETOOLONG, refusedNameReason).
 */
export const MAX_SEGMENT_UNITS = 255;

/** Whether a path segment is longer than any file's or folder's name can be. */
export const segmentTooLong = (seg: string): boolean => seg.length > MAX_SEGMENT_UNITS;

/** Said of a key with a segment too long for any name (segmentTooLong). */
export const SEGMENT_TOO_LONG = `has a path segment longer than any file system takes (over ${MAX_SEGMENT_UNITS} UTF-16 units)`;

/**
 * Whether names are Windows' here: a leading `c:` names a drive, and some names are silently changed
 * rather than refused; elsewhere each is a file name like any other.
 */
const WINDOWS = process.platform === 'win32';

/** A device name, whatever its extension (`nul.txt` is the device NUL), in Windows' namespace. */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/**
 * Why Windows would write `seg` somewhere other than a file of that name, without an error that
 * nameRefusal could see: a trailing dot or space is stripped (`.s3sync.` is the state folder, `a.` is
 * `a`), a `:` names a stream of another file, a device name opens the device.
 */
function windowsSegmentReason(seg: string): string | null {
  if (seg.endsWith('.') || seg.endsWith(' '))
    return 'has a name ending in a dot or space, which Windows drops';
  if (seg.includes(':')) return "contains ':', which Windows reads as a file's stream";
  if (WINDOWS_DEVICE.test(seg)) return `has the Windows device name '${seg}'`;
  return null;
}

/**
 * Returns null if safe, else a short reason like "contains a '..' segment". `windows`: refuse a leading
 * drive prefix (`C:x.txt`, a path on drive C) and the names Windows changes (windowsSegmentReason), on
 * Windows only by default.
 */
export function unsafeKeyReason(rel: string, windows = WINDOWS): string | null {
  if (rel === '') return 'empty path';
  if (/[\x00-\x1f]/.test(rel)) return 'contains a control character';
  if (rel.includes('\\')) return 'contains a backslash';
  if (rel.startsWith('/')) return 'absolute path';
  if (windows && /^[A-Za-z]:/.test(rel)) return 'starts with a Windows drive prefix';
  if (rel.endsWith('/')) return DIRECTORY_MARKER;
  for (const seg of rel.split('/')) {
    if (seg === '') return 'contains an empty path segment';
    if (seg === '..') return "contains a '..' segment";
    if (seg === '.') return "contains a '.' segment";
    if (segmentTooLong(seg)) return SEGMENT_TOO_LONG;
    const w = windows ? windowsSegmentReason(seg) : null;
    if (w !== null) return w;
  }
  return null;
}

/**
 * Given all relative keys to be written, returns the keys that conflict because one is a file and
 * also a "directory" of another (`a` and `a/b`): both are reported, each with a reason. Runs in
 * O(total length of the keys).
 */
export function fileDirConflicts(rels: Iterable<string>): Map<string, string> {
  const all = new Set(rels);
  const out = new Map<string, string>();
  for (const rel of all) {
    // Walk the ancestors of rel: 'a/b/c' -> 'a', 'a/b'.
    let i = rel.indexOf('/');
    while (i !== -1) {
      const dir = rel.slice(0, i);
      if (all.has(dir)) {
        if (!out.has(dir)) out.set(dir, `is a file but also the directory of '${rel}'`);
        if (!out.has(rel)) out.set(rel, `is below '${dir}', which is also a file`);
      }
      i = rel.indexOf('/', i + 1);
    }
  }
  return out;
}

/**
 * Joins root and rel ('/'-separated) safely; throws if rel is unsafe (see unsafeKeyReason) or if the
 * resolved path is not strictly inside root (defence in depth).
 */
export function safeJoin(root: string, rel: string): string {
  const reason = unsafeKeyReason(rel);
  // rel as it is: the CLI escapes what it prints, and --json and library callers get it exact.
  if (reason !== null) throw runError(`refusing to write '${rel}' under ${root}: ${reason}`);
  const base = path.resolve(root);
  const full = path.resolve(base, ...rel.split('/'));
  if (relInside(base, full) === null) {
    throw runError(`refusing to write '${rel}': it resolves outside ${root}`);
  }
  return full;
}

/**
 * `p` relative to `root` ('/'-separated) if `p` is strictly below `root`, else null (the root itself,
 * a sibling, an ancestor). Lexical only: for what the file system resolves, pass real paths.
 */
export function relInside(root: string, p: string): string | null {
  const back = path.relative(path.resolve(root), path.resolve(p));
  if (back === '' || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) return null;
  return back.split(path.sep).join('/');
}

/*
 * Decisions pull makes about what it finds on disk on the way to a path it writes or deletes, so that
 * nothing outside the target is ever created, replaced or deleted. The I/O is in confine.ts.
 */

/** What lstat found at a path ('link': a symbolic link, not followed). */
export type EntryKind = 'missing' | 'dir' | 'file' | 'link' | 'other';

/** Where a symbolic link leads: its real path and what is there (followed), or null when it is broken. */
export type LinkTarget = { real: string; kind: EntryKind } | null;

/**
 * Whether a symbolic link `name` may be gone through: only to a path strictly inside the target
 * (`realRoot`, a real path), never to the target itself (a loop) nor into s3sync's own files. Null if
 * it may, else why not. Whether links are followed at all (--follow-symlinks) is the caller's to ask.
 */
export function linkReason(
  name: string,
  realRoot: string,
  target: LinkTarget,
  isOwn: (rel: string) => boolean,
): string | null {
  if (target === null) return `'${name}' is a broken symbolic link`;
  if (path.resolve(target.real) === path.resolve(realRoot))
    return `'${name}' is a symbolic link to the target directory itself`;
  const rel = relInside(realRoot, target.real);
  if (rel === null) return `'${name}' is a symbolic link to a path outside the target`;
  if (isOwn(rel)) return `'${name}' is a symbolic link into s3sync's own files`;
  return null;
}

/**
 * Whether a directory on the way to a written or deleted path may be gone through: a real directory,
 * or (`follow` 'yes') a symbolic link that linkReason allows to a directory; 'never' for s3sync's own
 * folder. `link`: where the link leads, looked up by the caller only for one it may follow. Null if it
 * may, else why not.
 */
export function parentReason(
  name: string,
  kind: EntryKind,
  follow: 'yes' | 'no' | 'never',
  link?: { realRoot: string; target: LinkTarget; isOwn: (rel: string) => boolean },
): string | null {
  if (kind === 'dir') return null;
  if (kind === 'missing') return `'${name}' does not exist`;
  if (kind === 'file') return `'${name}' is a file, not a directory`;
  if (kind === 'other') return `'${name}' is a special file, not a directory`;
  if (follow === 'never') return `'${name}' is a symbolic link`;
  if (follow === 'no' || !link)
    return `'${name}' is a symbolic link (followed only with --follow-symlinks, and only inside the target)`;
  const reason = linkReason(name, link.realRoot, link.target, link.isOwn);
  if (reason !== null) return reason;
  return link.target?.kind === 'dir' ? null : `'${name}' is a symbolic link to a file, not to a directory`;
}

/**
 * Whether a downloaded file may be renamed onto what is at its final name. rename(2) replaces a
 * symbolic link itself and never writes where it points; a link to a directory is refused as the
 * directory would be. Null if it may, else why not.
 */
export function replaceReason(kind: EntryKind, linkKind?: EntryKind): string | null {
  if (kind === 'missing' || kind === 'file') return null;
  if (kind === 'dir') return 'a directory is in the way';
  if (kind === 'other') return 'a special file is in the way';
  return linkKind === 'dir' ? 'a symbolic link to a directory is in the way' : null;
}

/**
 * A download replaces only the file the scan found at its name (`scanned`; null for none): one that
 * appeared or was replaced since is someone's newer data, and on a filesystem that ignores case or
 * Unicode form it may be another key's file (`Readme` written, then `README` would replace it). A
 * file with another inode but the same size and times is taken as the scanned one: some FUSE
 * filesystems (exfat-fuse, sshfs without use_ino) number a file anew after the kernel forgets it.
 */
export function unscannedReason(scanned: StatData | null, now: StatData, asPlanned = false): string | null {
  if (scanned === null)
    return "a file the scan did not see is here now (made since, or another key's file on a filesystem that ignores case)";
  const untouched =
    scanned.size === now.size && scanned.mtimeNs === now.mtimeNs && scanned.ctimeNs === now.ctimeNs;
  // An applied plan was reviewed as the files were: one written to in place since is someone's edit too.
  if (asPlanned)
    return untouched ? null : 'the file changed since the plan was made (written to during the apply)';
  return scanned.ino === now.ino || untouched ? null : 'the file at this name was replaced since the scan';
}

export type DeleteDecision = { act: 'unlink' } | { act: 'gone' } | { act: 'refuse'; reason: string };

/**
 * What pull --delete does with what is at a path it planned to delete: only the file it scanned there
 * (`sameAsScanned`: same inode) is removed. A symbolic link is unlinked itself, never what it points
 * to, and only under --follow-symlinks, where the scan went through it. `changed`: why the file is not
 * as an applied plan found it (see unscannedReason), null when it is or when no plan holds it.
 */
export function deleteDecision(
  kind: EntryKind,
  follow: boolean,
  sameAsScanned: boolean,
  changed: string | null = null,
): DeleteDecision {
  if (kind === 'missing') return { act: 'gone' };
  if (kind === 'dir') return { act: 'refuse', reason: 'it is a directory now' };
  if (kind === 'other') return { act: 'refuse', reason: 'it is not a regular file' };
  if (kind === 'link' && !follow) return { act: 'refuse', reason: 'it is a symbolic link now' };
  if (!sameAsScanned) return { act: 'refuse', reason: 'it changed since it was scanned' };
  if (changed !== null) return { act: 'refuse', reason: changed };
  return { act: 'unlink' };
}
