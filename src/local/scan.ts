import { isUtf8 } from 'node:buffer';
import { type BigIntStats, type Dirent, lstatSync, opendirSync, readdirSync, statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import { PATH_TOO_LONG } from './safe-path.js';

/**
 * Why a folder could not be read: a path over the system's limit says so and that its subtree is
 * skipped, without Node's message, which repeats the whole (over-long) absolute path.
 */
export function folderFailure(what: string, err: unknown): string {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENAMETOOLONG')
    return `${PATH_TOO_LONG}: skipped, with everything under it`;
  return `${what}: ${errorMessage(err)}`;
}

/**
 * A regular file found by the scan. Times, inode and device are decimal strings: nanoseconds overflow
 * doubles. Device and inode are what every later read checks it opened (never written to the manifest).
 */
export interface LocalFile {
  /** Path relative to the root, '/'-separated: the object key minus the prefix. */
  rel: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  dev: string;
}

export interface ScanIssue {
  rel: string;
  message: string;
}

export interface ScanOptions {
  followSymlinks?: boolean;
  /** Directory (rel, no trailing slash) that can be skipped whole. */
  skipDir?: (rel: string) => boolean;
  /** File filter (rel). */
  includeFile?: (rel: string) => boolean;
  /** Prefix prepended to rel to form the key, for the 1,024-byte key limit. */
  keyPrefix?: string;
  /** With followSymlinks: null to follow the link at `abs`, else why it is skipped (a notice). */
  followLink?: (abs: string, rel: string) => string | null;
  /**
   * s3sync's own files (its state, the ignore file), never synced: a link at one is left out without a
   * notice, as a file there is.
   */
  own?: (rel: string) => boolean;
  /**
   * The largest file the destination can store as one object (a push's, see objectSizeLimit), and the
   * store's name: a larger file is an error before it is hashed, not a failed upload at its end.
   */
  maxObjectSize?: { bytes: number; store: string };
}

/** `6.0 TiB`: one decimal from KiB up. */
const binarySize = (n: number): string => {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
};

/** Why a file of `size` bytes is skipped, or undefined when the store takes an object that large. */
export function tooLargeForStore(size: number, limit: ScanOptions['maxObjectSize']): string | undefined {
  if (limit === undefined || size <= limit.bytes) return undefined;
  return `${binarySize(size)} (${size} bytes), larger than the largest object ${limit.store} takes (${binarySize(limit.bytes)}): skipped`;
}

export interface ScanResult {
  files: LocalFile[];
  /** Problems that make the run incomplete (exit code 1): unreadable entries, invalid names. */
  errors: ScanIssue[];
  /** Things skipped on purpose (symlinks not followed, special files). */
  notices: ScanIssue[];
  /** Listed paths that are another spelling of a listed file (an error each): nothing is written there. */
  aliases?: Set<string>;
  /**
   * The folders the walk found (rel, no trailing '/'), entered or left out by the filters: a folder
   * marker of one of them stands for a folder that exists. Absent for a list of paths.
   */
  folders?: string[];
  /**
   * Folders reached again under another name, not through a link (a bind mount): each with the name it
   * was first walked under, and whether it holds itself (`loop`: not walked, an error).
   */
  sameFolders?: SameFolder[];
}

/** A folder the walk found a second time (see ScanResult.sameFolders). */
export interface SameFolder {
  rel: string;
  /** The name it was walked under first ('' for the root). */
  first: string;
  loop: boolean;
}

export const statFields = (st: BigIntStats) => ({
  size: Number(st.size),
  mtimeNs: st.mtimeNs.toString(),
  ctimeNs: st.ctimeNs.toString(),
  ino: st.ino.toString(),
  dev: st.dev.toString(),
});

/** A file's stat data as s3sync keeps it in memory. */
export type FileStat = ReturnType<typeof statFields>;

/** What a scan keeps of a file to tell it from another one at its path. */
export type StatData = Pick<LocalFile, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino'>;

export const sameStat = (a: StatData, b: StatData) =>
  a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;

const MAX_KEY_BYTES = 1024;

/**
 * Walks the tree synchronously: readdir(withFileTypes) + lstat per file, no promises. On a cached tree
 * this is the floor the no-change push is measured against, so it must stay lean.
 */
export function scanDirectory(root: string, opts: ScanOptions = {}): ScanResult {
  const w = walker(root, opts);
  while (!w.steps.next().done);
  return w.result;
}

/** Time the yielding scan reads the tree before it gives the event loop a turn. */
const SCAN_SLICE_MS = 4;

/**
 * The same walk, giving the event loop a turn every few milliseconds: for a run with a listing under
 * way, whose requests go out and whose pages are read while the tree is.
 */
export async function scanDirectoryYielding(root: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const w = walker(root, opts);
  let until = performance.now() + SCAN_SLICE_MS;
  while (!w.steps.next().done) {
    if (performance.now() < until) continue;
    await nextTurn();
    until = performance.now() + SCAN_SLICE_MS;
  }
  return w.result;
}

/**
 * Whether the filters leave out a link the walk does not follow: as a folder (with all below it), or
 * as a file when it does not lead to a folder (one that does may hold paths the filters take in).
 */
function linkExcluded(opts: ScanOptions, abs: string, rel: string): boolean {
  if (opts.skipDir?.(rel)) return true;
  if (!opts.includeFile || opts.includeFile(rel)) return false;
  try {
    return statSync(abs, { throwIfNoEntry: false })?.isDirectory() !== true;
  } catch {
    return true;
  }
}

/** The walk, one step per directory: `result` is complete once `steps` is done. */
function walker(root: string, opts: ScanOptions): { steps: Generator<void>; result: ScanResult } {
  const files: LocalFile[] = [];
  const errors: ScanIssue[] = [];
  const notices: ScanIssue[] = [];
  const folders: string[] = [];
  const keyPrefixBytes = Buffer.byteLength(opts.keyPrefix ?? '');
  // dev:ino of the directories on the current path, to refuse cycles (of links, or of bind mounts).
  const ancestors = new Set<string>();
  // dev:ino of each folder walked, by the name it was walked under first, links aside.
  const folderNames = new Map<string, string>();
  const sameFolders: SameFolder[] = [];

  let lastDev: bigint | undefined;
  let lastDevText = '';

  // `linked`: reached through a followed link, where a folder's second name is the link's doing.
  const walk = function* (absDir: string, relDir: string, linked = false): Generator<void> {
    let entries: Dirent[];
    try {
      entries = readdirSync(absDir, { withFileTypes: true });
    } catch (err) {
      errors.push({ rel: relDir || '.', message: folderFailure('cannot read directory', err) });
      return;
    }
    let validWithFffd: NamesWithFffd | undefined;
    for (const ent of entries) {
      const name = ent.name;
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = `${absDir}/${name}`;
      if (name.includes('\uFFFD')) {
        validWithFffd ??= validNamesWithFffd(absDir);
        if (!takeValid(validWithFffd.valid, name)) {
          // A name the filters leave out is never synced, so it is no error: else an ignored file
          // failed every run and, through the error, blocked every --delete.
          const excluded = ent.isDirectory()
            ? opts.skipDir?.(rel)
            : opts.includeFile !== undefined && !opts.includeFile(rel);
          if (excluded) continue;
          // A link not followed or a special file is never synced, whatever its name: it gets its
          // notice below, not an error that fails every run and blocks every --delete.
          const neverSynced = ent.isSymbolicLink()
            ? !opts.followSymlinks
            : !ent.isDirectory() && !ent.isFile();
          if (!neverSynced) {
            const bytes = validWithFffd.invalid.get(name)?.shift();
            errors.push({
              rel,
              message: `file name is not valid UTF-8${bytes === undefined ? '' : ` (byte${bytes.includes(',') ? 's' : ''} ${bytes})`}: skipped`,
            });
            continue;
          }
        }
      }
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      let st: BigIntStats | undefined;
      if (ent.isSymbolicLink()) {
        // A shared .s3syncignore linked in is read through the link: "skipped" would say it is not.
        if (opts.own?.(rel)) continue;
        if (!opts.followSymlinks) {
          if (!linkExcluded(opts, abs, rel))
            notices.push({ rel, message: 'symbolic link skipped (use --follow-symlinks to follow)' });
          continue;
        }
        const refused = opts.followLink?.(abs, rel);
        if (refused) {
          if (!linkExcluded(opts, abs, rel)) notices.push({ rel, message: `${refused}: skipped` });
          continue;
        }
        try {
          st = statSync(abs, { bigint: true });
        } catch (err) {
          if (!linkExcluded(opts, abs, rel))
            errors.push({ rel, message: `broken symbolic link: ${errorMessage(err)}` });
          continue;
        }
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) {
        folders.push(rel);
        if (opts.skipDir?.(rel)) continue;
        // One stat per folder: a bind mount shows a folder under a second name, which no name tells.
        let dst: BigIntStats;
        try {
          dst = st ?? statSync(abs, { bigint: true });
        } catch (err) {
          errors.push({ rel, message: folderFailure('cannot stat directory', err) });
          continue;
        }
        const id = `${dst.dev}:${dst.ino}`;
        const viaLink = linked || st !== undefined;
        const first = viaLink ? undefined : folderNames.get(id);
        if (ancestors.has(id)) {
          if (first === undefined) errors.push({ rel, message: 'symbolic link loop: skipped' });
          else {
            sameFolders.push({ rel, first, loop: true });
            const holder = first === '' ? 'the root' : `'${first}'`;
            errors.push({
              rel,
              message: `the same folder as ${holder}, which holds it (a bind mount): skipped`,
            });
          }
          continue;
        }
        if (first !== undefined) sameFolders.push({ rel, first, loop: false });
        else if (!viaLink) folderNames.set(id, rel);
        ancestors.add(id);
        yield* walk(abs, rel, viaLink);
        ancestors.delete(id);
        continue;
      }
      // A path the filters leave out is not looked at, nor said to be skipped.
      if (opts.includeFile && !opts.includeFile(rel)) continue;
      if (!isFile) {
        notices.push({ rel, message: 'not a regular file (FIFO, socket or device): skipped' });
        continue;
      }
      // A UTF-16 unit is at most 3 UTF-8 bytes: most names need no byte count at all.
      if (
        keyPrefixBytes + rel.length * 3 > MAX_KEY_BYTES &&
        keyPrefixBytes + Buffer.byteLength(rel) > MAX_KEY_BYTES
      ) {
        errors.push({ rel, message: `key longer than S3's ${MAX_KEY_BYTES}-byte limit: skipped` });
        continue;
      }
      try {
        st ??= lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      } catch (err) {
        errors.push({ rel, message: `cannot stat: ${errorMessage(err)}` });
        continue;
      }
      // Deleted between readdir and lstat: not an error worth failing the run for.
      if (!st) continue;
      const tooLarge = opts.maxObjectSize && tooLargeForStore(Number(st.size), opts.maxObjectSize);
      if (tooLarge) {
        errors.push({ rel, message: tooLarge });
        continue;
      }
      // One object per file, built whole (no spread of statFields): this loop runs 100k times. A
      // BigInt's decimal string is made once where it repeats: the device of the whole tree, and a
      // ctime equal to the mtime (a file last changed by a write).
      const mtimeNs = st.mtimeNs.toString();
      if (st.dev !== lastDev) {
        lastDev = st.dev;
        lastDevText = st.dev.toString();
      }
      files.push({
        rel,
        size: Number(st.size),
        mtimeNs,
        ctimeNs: st.ctimeNs === st.mtimeNs ? mtimeNs : st.ctimeNs.toString(),
        ino: st.ino.toString(),
        dev: lastDevText,
      });
    }
    yield;
  };

  try {
    const rs = statSync(root, { bigint: true });
    ancestors.add(`${rs.dev}:${rs.ino}`);
    folderNames.set(`${rs.dev}:${rs.ino}`, '');
  } catch {
    // Unreadable: the walk's readdir says so.
  }
  return { steps: walk(scanBase(root) || '/', ''), result: { files, errors, notices, folders, sameFolders } };
}

/**
 * How many names in dir that hold U+FFFD are valid UTF-8, by name: readdir turns each invalid byte into
 * U+FFFD, so only the bytes tell a name written with that character from a mangled one.
 */
function validNamesWithFffd(dir: string): NamesWithFffd {
  const valid = new Map<string, number>();
  const invalid = new Map<string, string[]>();
  let raw: Buffer[];
  try {
    raw = readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return { valid, invalid };
  }
  for (const bytes of raw) {
    const name = bytes.toString('utf8');
    if (!isUtf8(bytes)) invalid.set(name, [...(invalid.get(name) ?? []), invalidBytes(bytes)]);
    else if (name.includes('\uFFFD')) valid.set(name, (valid.get(name) ?? 0) + 1);
  }
  return { valid, invalid };
}

/**
 * The names of a folder that read with U+FFFD: the valid ones (counted), and where the invalid ones'
 * bytes are not UTF-8, by the name they read as.
 */
interface NamesWithFffd {
  valid: Map<string, number>;
  invalid: Map<string, string[]>;
}

/**
 * Where a name's bytes are not UTF-8 ("0xFF at 0, 0xFE at 1"; the first four): the decoded name shows
 * U+FFFD for each, which does not say which bytes to look for.
 */
export function invalidBytes(bytes: Buffer): string {
  const bad: string[] = [];
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    const len = lead < 0x80 ? 1 : lead >> 5 === 6 ? 2 : lead >> 4 === 14 ? 3 : lead >> 3 === 30 ? 4 : 0;
    if (len > 0 && i + len <= bytes.length && isUtf8(bytes.subarray(i, i + len))) {
      i += len;
      continue;
    }
    bad.push(`0x${lead.toString(16).toUpperCase().padStart(2, '0')} at ${i}`);
    i++;
  }
  return bad.length > 4 ? `${bad.slice(0, 4).join(', ')}, …` : bad.join(', ');
}

/**
 * Whether this entry counts as one of the valid names: when a mangled name reads the same as a valid
 * one, the two entries cannot be told apart, but the path (the valid name's bytes) opens the valid file,
 * so the first is taken as it and the other reported.
 */
function takeValid(valid: Map<string, number>, name: string): boolean {
  const n = valid.get(name) ?? 0;
  if (n > 0) valid.set(name, n - 1);
  return n > 0;
}

/** Whether a directory holds anything besides `ignore` (s3sync's state folder); false if unreadable. */
export function holdsAnything(dir: string, ignore: string): boolean {
  try {
    const d = opendirSync(dir);
    try {
      for (let e = d.readSync(); e; e = d.readSync()) if (e.name !== ignore) return true;
      return false;
    } finally {
      d.closeSync();
    }
  } catch {
    return false;
  }
}

/** Entries holdsAFile reads at most: a few milliseconds, whatever the tree. */
const LOOK_BUDGET = 10_000;

/**
 * Whether a tree holds a file `wanted` selects, for the empty-source guard where no scan covers the
 * tree: empty folders are no source. Depth first, it stops at the first file, and after `budget`
 * entries read it answers true (as holdsAnything would), so a batch never pays for a whole walk.
 * An unreadable folder or a broken link counts as nothing: the run's own scan reports those.
 */
export function holdsAFile(
  root: string,
  opts: {
    skipDir: (rel: string) => boolean;
    wanted: (rel: string) => boolean;
    followSymlinks?: boolean;
    budget?: number;
  },
): boolean {
  let budget = opts.budget ?? LOOK_BUDGET;
  const stack = [''];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let d: ReturnType<typeof opendirSync>;
    try {
      d = opendirSync(dir === '' ? root : absPath(root, dir));
    } catch {
      continue;
    }
    try {
      for (let e = d.readSync(); e; e = d.readSync()) {
        if (--budget < 0) return true;
        const rel = dir === '' ? e.name : `${dir}/${e.name}`;
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          if (!opts.followSymlinks) continue;
          const st = statSync(absPath(root, rel), { throwIfNoEntry: false });
          // The budget bounds a loop of links, as it bounds the walk.
          isDir = st?.isDirectory() === true;
          isFile = st?.isFile() === true;
        }
        if (isFile && opts.wanted(rel)) return true;
        if (isDir && !opts.skipDir(rel)) stack.push(rel);
      }
    } catch {
      // Unreadable partway: what was read is what is known.
    } finally {
      d.closeSync();
    }
  }
  return false;
}

/** The root as the scan joins names to it: without trailing slashes ('' for '/'). */
const scanBase = (root: string) => (root.endsWith('/') ? root.replace(/\/+$/, '') : root);

/**
 * A scanned file's path: the string the scan stat'ed, built the same way. `rel` is one the scan made
 * (names joined by '/', none empty, '.' or '..'), so no normalising is needed: path.join's was a
 * visible share of a rebuild's main thread, once per file.
 */
export const absPath = (root: string, rel: string) => `${scanBase(root)}/${rel}`;
