import { isAscii } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { errorMessage, runError, S3SyncError, usageError } from '../errors.js';
import { makeDirs } from '../local/make-dirs.js';
import { ReadRefusal, readRegularFile } from '../local/read-regular.js';
import { racyThreshold } from '../plan/compare.js';
import type { ChangeMark } from '../plan/push.js';
import { notLegacyReason } from './legacy.js';
import {
  type Destination,
  emptyManifest,
  encodeManifestTo,
  MANIFEST_SCHEMA,
  type ManifestData,
  ManifestDecoder,
  salvagePending,
} from './schema.js';

/** Folder inside the synced directory that holds manifests and locks; never synced itself. */
export const STATE_DIR = '.s3sync';

// In any case (`iu`: Unicode's simple folding, as sameName): a file system that ignores case opens
// the folder by any spelling, so `.S3SYNC/x` is a file in it.
const STATE_DIR_LAST = /(?:^|\/)\.s3sync$/iu;
const STATE_DIR_SEGMENT = /(?:^|\/)\.s3sync(?:\/|$)/iu;

/**
 * Whether a rel path is an s3sync state folder, in any case: the tree's own, or one of a tree inside
 * it (another destination's manifest and lock, which mean nothing in a copy and a stale lock in
 * another tree).
 */
export const isStateDir = (rel: string): boolean => STATE_DIR_LAST.test(rel);

/** Whether a rel path is in an s3sync state folder, or is one (see isStateDir). */
export const inStateDir = (rel: string): boolean => STATE_DIR_SEGMENT.test(rel);

export function defaultManifestPath(localRoot: string, dest: Destination): string {
  const safeBucket = dest.bucket.replace(/[^a-zA-Z0-9.-]/g, '_');
  return path.join(localRoot, STATE_DIR, `manifest-${safeBucket}-${destinationTag(dest)}.json`);
}

/**
 * The folder in DIR/.s3sync where a destination's pulls write their temp files: its own, as its lock
 * is, so two pulls of other prefixes into one tree never remove each other's files as they end.
 */
export function tmpFolderName(dest: Destination): string {
  return `tmp-${destinationTag(dest)}`;
}

/** A destination's short id in file names; a shard's own, and so its own lock: N runs never contend. */
function destinationTag(dest: Destination): string {
  return `${storeId(dest)}${layoutTag(dest.shard)}`;
}

/** The id of the endpoint, bucket and prefix, whatever the shard: every layout's files share it. */
function storeId(dest: Destination): string {
  return createHash('sha256')
    .update(`${dest.endpoint}\n${dest.bucket}\n${dest.prefix}`)
    .digest('hex')
    .slice(0, 12);
}

const layoutTag = (shard: string | undefined): string =>
  shard === undefined ? '' : `-shard-${shard.replace('/', '-of-')}`;

export interface LoadedManifest {
  data: ManifestData;
  /** Set when a manifest existed but could not be trusted: say it in one line, then rebuild. */
  warning?: string;
  /** Raw JSON of the Python script's manifest, which s3sync adopts (reads, never writes over). */
  foreign?: unknown;
  /** Entries whose mtime tick was still open at this instant (ns) may hide a change: hash them. */
  racyThresholdNs: bigint;
  /** Why the manifest's file looks copied, restored or moved in since its last save (see movedSinceSave). */
  moved?: string;
}

/**
 * How far apart a manifest's change time and write time may be and still be a save's: a save writes
 * its temp file, fsyncs and renames it (the rename stamps the change time), so only a slow fsync lies
 * between them. Far more than that, yet less than the time a backup is usually kept.
 */
export const MOVED_MARGIN_NS = 30_000_000_000n;

const isoNs = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

/**
 * Why a manifest's file is not as s3sync's last save left it, judged by its own times as git judges
 * its index: a copy, a restore or a move (cp -a, rsync -a, tar x, a CI cache) keeps the write time and
 * takes a new change time, so the manifest may be an older one than the destination has moved past.
 * Undefined: the two times are a save's, or one is missing (a filesystem with no change time of its
 * own, as FAT's, gives no signal rather than a listing every run).
 */
export function movedSinceSave(mtimeNs: bigint, ctimeNs: bigint): string | undefined {
  if (mtimeNs <= 0n || ctimeNs <= 0n) return undefined;
  const gap = ctimeNs - mtimeNs;
  if (gap <= MOVED_MARGIN_NS && gap >= -MOVED_MARGIN_NS) return undefined;
  return `the manifest was copied, restored or moved in since its last save (its file changed at ${isoNs(ctimeNs)}, written at ${isoNs(mtimeNs)})`;
}

export interface ManifestPathOptions {
  /**
   * The user chose the path (`--manifest`): only an s3sync manifest there (or nothing, or an empty
   * file) is s3sync's to write over. In s3sync's own folder anything at the path is a damaged manifest.
   */
  explicit?: boolean;
  /** How messages name the path (the link the user gave, for one that was followed). */
  shownAs?: string;
  /** The run writes no manifest (check, a dry run): a damaged one is gone by, not rebuilt. */
  readOnly?: boolean;
}

/** How every s3sync manifest begins (`encodeManifestTo` writes the schema first). */
const HEADER_START = `{"schema":"${MANIFEST_SCHEMA}"`;

/** The header is ours even if the rest is damaged: such a manifest is rebuilt, as s3sync's own. */
function hasOurHeader(text: string): boolean {
  if (text.startsWith(HEADER_START)) return true;
  const nl = text.indexOf('\n');
  try {
    const header = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { schema?: unknown } | null;
    return typeof header === 'object' && header !== null && header.schema === MANIFEST_SCHEMA;
  } catch {
    return false;
  }
}

const refusal = (file: string, what: string, explicit: boolean | undefined) =>
  usageError(
    explicit
      ? `manifest (--manifest) ${file} ${what}; it is left as it is: give a path that is new or holds an s3sync manifest`
      : `manifest ${file} ${what}; it is left as it is: move it away`,
  );

/** More than a string can hold: a manifest read whole is capped only by that. */
const WHOLE_MAX_BYTES = 512 * 1024 * 1024;

/**
 * The manifest's text read whole (readRegularFile): a FIFO put in its place must not hang the run, and
 * one that is no regular file is refused as loadManifest refuses it, left as it is.
 */
export function readManifestWhole(file: string, shown: string, explicit: boolean | undefined): string {
  try {
    return readRegularFile(file, WHOLE_MAX_BYTES, 'a manifest').toString('utf8');
  } catch (err) {
    if (err instanceof ReadRefusal && /^(not a regular file|it is a directory)/.test(err.why))
      throw refusal(shown, err.why.startsWith('it') ? 'is a directory' : `is ${err.why}`, explicit);
    throw err;
  }
}

/**
 * The path to use for a manifest: a symbolic link is followed to its target, so that writing the
 * manifest replaces the target, never the link; a link to nothing is refused.
 */
export function resolveManifestPath(file: string): string {
  try {
    if (!lstatSync(file).isSymbolicLink()) return file;
  } catch {
    return file; // nothing there (or unreachable: said when it is read)
  }
  try {
    return realpathSync(file);
  } catch (err) {
    let target = '?';
    try {
      target = readlinkSync(file);
    } catch {
      // gone meanwhile: the message names the link only
    }
    throw usageError(
      `manifest ${file} is a symbolic link to ${target}, which cannot be used (${errorMessage(err)})`,
    );
  }
}

export function loadManifest(
  file: string,
  dest: Destination,
  opts: ManifestPathOptions = {},
): LoadedManifest {
  const shown = opts.shownAs ?? file;
  const instead = opts.readOnly
    ? 'going by the remote listing instead (this run writes no manifest)'
    : 'rebuilding it from the remote listing';
  let read: { decoded: ManifestData | string; mtimeNs: bigint; ctimeNs: bigint; empty: boolean };
  try {
    // Looked at before it is opened: opening a FIFO would wait forever, a directory cannot be replaced.
    const st = statSync(file, { bigint: true });
    if (st.isDirectory()) throw refusal(shown, 'is a directory', opts.explicit);
    if (!st.isFile()) throw refusal(shown, 'is not a regular file', opts.explicit);
    read = readDecoded(file, dest);
  } catch (err) {
    if (err instanceof S3SyncError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { data: emptyManifest(dest), racyThresholdNs: 0n };
    }
    // What cannot be read cannot be told from a user's file.
    if (opts.explicit) throw refusal(shown, `cannot be read (${errorMessage(err)})`, true);
    return {
      data: emptyManifest(dest),
      warning: `manifest ${file} is unreadable (${errorMessage(err)}): ${instead}`,
      racyThresholdNs: 0n,
    };
  }
  const { decoded, mtimeNs, ctimeNs } = read;
  // At a path the user chose, an empty file is a place made for the manifest (`mktemp`, `touch`); in
  // s3sync's own folder, where saves never leave one, it is a manifest a crash emptied.
  if (read.empty)
    return {
      data: emptyManifest(dest),
      racyThresholdNs: 0n,
      ...(!opts.explicit && { warning: `manifest ${file} is empty: ${instead}` }),
    };
  if (typeof decoded === 'string') {
    const rebuild = {
      data: emptyManifest(dest),
      warning: `manifest ${file} cannot be trusted (${decoded}): ${instead}`,
      racyThresholdNs: 0n,
    };
    // Not ours, or damaged: read whole, to tell which (and to adopt the Python script's manifest).
    let text: string;
    try {
      text = readManifestWhole(file, shown, opts.explicit);
    } catch (err) {
      if (err instanceof S3SyncError) throw err;
      if (opts.explicit) throw refusal(shown, `cannot be read (${errorMessage(err)})`, true);
      return rebuild;
    }
    if (hasOurHeader(text)) {
      const nl = text.indexOf('\n');
      const pending = salvagePending(nl < 0 ? text : text.slice(0, nl), dest);
      const n = Object.keys(pending).length;
      if (n === 0) return rebuild;
      rebuild.data.pending = pending;
      // Kept so that this run resumes or aborts them, as it would with the manifest whole.
      rebuild.warning += ` (keeping the ${n === 1 ? 'multipart upload' : `${n} multipart uploads`} it records as unfinished)`;
      return rebuild;
    }
    let json: unknown;
    let why = 'not JSON';
    try {
      json = JSON.parse(text);
      why = notLegacyReason(json) ?? '';
    } catch {
      // neither ours nor JSON
    }
    // The Python script's manifest: read for adoption, never written over.
    if (why === '') return { ...rebuild, warning: undefined, foreign: json };
    if (opts.explicit) throw refusal(shown, `is not an s3sync manifest (${why})`, true);
    return rebuild;
  }
  const moved = movedSinceSave(mtimeNs, ctimeNs);
  return {
    data: decoded,
    racyThresholdNs: racyThreshold(BigInt(decoded.writtenAtNs), mtimeNs),
    ...(moved !== undefined && { moved }),
  };
}

/** How much of the manifest is read at a time: large enough for few reads, small enough to stay cached. */
const READ_PIECE = 1 << 20;

/**
 * Reads and decodes the manifest piece by piece, each piece cut after a line break: the whole file as
 * one buffer and one string touches twice its size in fresh memory, which costs more than the decoding
 * at 100k entries (docs/performance.md). A piece of ASCII is made a string as Latin-1, with no UTF-8
 * decoding to do; a line break is never inside a UTF-8 sequence, so the pieces decode as the whole
 * would. The times are those of the file that was read, from its open descriptor.
 */
function readDecoded(
  file: string,
  dest: Destination,
): { decoded: ManifestData | string; mtimeNs: bigint; ctimeNs: bigint; empty: boolean } {
  // Non-blocking: a FIFO put in the file's place since it was looked at must not hang the open.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) throw new Error('not a regular file');
    const decoder = new ManifestDecoder(dest);
    let buf = Buffer.allocUnsafeSlow(READ_PIECE);
    let have = 0;
    let first = true;
    let why: string | undefined;
    for (;;) {
      if (have === buf.length) {
        // A line longer than the buffer (none of s3sync's is: a key is at most 1,024 bytes): grown to
        // hold it, so that the line is judged whole.
        const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, null);
      const end = have + n;
      const cut = n === 0 ? end : buf.lastIndexOf(10, end - 1) + 1;
      if (cut === 0) {
        if (n === 0) break;
        have = end;
        continue;
      }
      const piece = buf.subarray(0, cut);
      const text = isAscii(piece) ? piece.toString('latin1') : piece.toString('utf8');
      if (first) {
        first = false;
        const nl = text.indexOf('\n');
        why =
          decoder.head(nl < 0 ? text : text.slice(0, nl)) ??
          decoder.lines(text, nl < 0 ? text.length : nl + 1);
      } else why = decoder.lines(text, 0);
      if (why !== undefined || n === 0) break;
      buf.copyWithin(0, cut, end);
      have = end - cut;
    }
    return { decoded: why ?? decoder.finish(), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, empty: first };
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `<base><random>` that did not exist (O_EXCL): a temp file never truncates or replaces a
 * file that happens to have its name.
 */
export function createFresh(base: string, suffix = ''): { file: string; fd: number } {
  for (;;) {
    const file = `${base}${randomBytes(4).toString('hex')}${suffix}`;
    try {
      return { file, fd: openSync(file, 'wx') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * Writes strings to `fd` through one buffer, reused: a new buffer per chunk is fresh memory each time,
 * which cost a 100k-entry save more than its encoding (docs/performance.md).
 */
function writerTo(fd: number): (chunk: string) => void {
  let buf = Buffer.allocUnsafeSlow(1 << 18);
  return (chunk) => {
    const bytes = Buffer.byteLength(chunk, 'utf8');
    if (bytes > buf.length) buf = Buffer.allocUnsafeSlow(bytes);
    buf.write(chunk, 0, 'utf8');
    // writeSync may write less than all of it (a full disk says so with an error, not here).
    for (let done = 0; done < bytes; ) done += writeSync(fd, buf, done, bytes - done);
  };
}

/**
 * True when `tmp` is free for a save: absent, or a save's own leftover (empty, or begun with our
 * header), which a kill before the rename leaves and only the next save under the lock can remove.
 * Anything else there is not ours and stays.
 */
function reclaimed(tmp: string): boolean {
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  try {
    if (!fstatSync(fd).isFile()) return false;
    const head = Buffer.alloc(HEADER_START.length);
    const n = readSync(fd, head, 0, head.length, 0);
    // A kill can cut even the header short: any part of it is ours.
    if (!HEADER_START.startsWith(head.toString('utf8', 0, n))) return false;
  } finally {
    closeSync(fd);
  }
  try {
    unlinkSync(tmp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
  }
  return true;
}

/**
 * Atomic replace: temp file beside `file`, `write`'s strings, fsync, rename, fsync the directory. A
 * crash or a full disk leaves the old file or the new one, never a part.
 */
export function replaceWhole(
  file: string,
  write: (to: (chunk: string) => void) => void,
  owned?: string,
): void {
  const { file: tmp, fd } =
    owned !== undefined && reclaimed(owned)
      ? { file: owned, fd: openSync(owned, 'wx') }
      : createFresh(`${file}.tmp-${process.pid}-`);
  try {
    try {
      write(writerTo(fd));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // renamed, or never written: nothing of ours left there
    }
    throw err;
  }
  const dfd = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Where a save of `file` writes before its rename. */
const savingPath = (file: string): string => `${file}.saving`;

/** Saves the manifest whole (see replaceWhole); only with the manifest's lock held. */
export function saveManifest(file: string, data: ManifestData): void {
  try {
    makeDirs(path.dirname(file));
    data.writtenAtNs = (BigInt(Date.now()) * 1_000_000n).toString();
    // One temp name per manifest, ours under its lock: a save killed before its rename leaves it, and
    // the next save reuses it, where a fresh name per save would pile up and need a folder read to find.
    replaceWhole(file, (to) => encodeManifestTo(data, to), savingPath(file));
  } catch (err) {
    throw runError(`cannot write manifest ${file}: ${errorMessage(err)}`, err);
  }
}

/*
 * Change marks: a push that changes objects (uploads, copies, header copies, deletions) says so beside
 * its manifest, one file per layout of the destination (the whole tree, or a shard I/N), so that the
 * runs of the other layouts, whose manifests may vouch for what it changed, list before they trust
 * them (src/plan/push.ts, changedElsewhere). A file per layout, not one shared: each is written only
 * under its own layout's lock, where a shared one would be read and rewritten by concurrent shards and
 * lose a mark. The names and fields are those of the deletion marks of earlier versions, which only
 * deletions wrote: an earlier version reading a mark of changes lists for it as for deletions, which
 * is as safe (`deleting` means "changing", its JSON name kept for them).
 */

const DELETIONS_SCHEMA = 's3sync-deletions';
const DELETIONS_FILE = /^deletions-([0-9a-f]{12})(?:-shard-(\d{1,9})-of-(\d{1,9}))?\.json$/;

/** The change mark of the destination's layout (its shard, or the whole tree), in folder `dir`. */
export function changeMarkPath(dir: string, dest: Destination): string {
  return path.join(dir, `deletions-${destinationTag(dest)}.json`);
}

/** A found change mark and its file. */
export interface FoundChangeMark {
  file: string;
  mark: ChangeMark;
}

/**
 * Every layout's change mark of the destination in `dir`. One that cannot be read or decoded is taken
 * as made at its file's mtime (a mark is written after the changes it records, so no later than
 * that), with the problem said; one gone meanwhile is none.
 */
export function readChangeMarks(dir: string, dest: Destination): FoundChangeMark[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    // Nothing known of what other layouts changed: as if one were changing objects now.
    const problem = `the folder cannot be read (${errorMessage(err)})`;
    return [{ file: dir, mark: { changing: true, problem } }];
  }
  const id = storeId(dest);
  const found: FoundChangeMark[] = [];
  for (const name of names) {
    const m = DELETIONS_FILE.exec(name);
    if (!m || m[1] !== id) continue;
    const file = path.join(dir, name);
    const by = m[2] === undefined ? undefined : `${m[2]}/${m[3]}`;
    const mark = readChangeMark(file, by);
    if (mark) found.push({ file, mark });
  }
  return found;
}

function readChangeMark(file: string, by: string | undefined): ChangeMark | undefined {
  let problem: string;
  try {
    const json = JSON.parse(readCapped(file)) as Record<string, unknown> | null;
    const at = json?.at;
    if (json?.schema !== DELETIONS_SCHEMA) problem = 'not a change mark';
    else if (typeof json.deleting !== 'boolean') problem = "no 'deleting'";
    else if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) problem = "no readable 'at'";
    else return { by, at, changing: json.deleting };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    problem = err instanceof SyntaxError ? 'not JSON' : errorMessage(err);
  }
  try {
    return { by, at: statSync(file).mtime.toISOString(), changing: false, problem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { by, changing: true, problem: `${problem}; ${errorMessage(err)}` };
  }
}

/** A mark is a line; anything much longer is not one, and is not read whole. */
function readCapped(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the layout's change mark (see replaceWhole); only with its manifest's lock held. `changing`:
 * before the changes (a run that dies among them leaves it so), else after them, at `at`. Beside a
 * manifest the user placed (--manifest), a file of that name that is not a mark is theirs: refused.
 */
export function writeChangeMark(file: string, by: string | undefined, changing: boolean, at: Date): void {
  const json = { schema: DELETIONS_SCHEMA, by: by ?? 'whole tree', deleting: changing, at: at.toISOString() };
  if (path.basename(path.dirname(file)) !== STATE_DIR && !markOrNothing(file))
    throw runError(`change mark ${file} holds something else; it is left as it is: move it away`);
  try {
    makeDirs(path.dirname(file));
    replaceWhole(file, (to) => to(`${JSON.stringify(json)}\n`));
  } catch (err) {
    throw runError(`cannot write the change mark ${file}: ${errorMessage(err)}`, err);
  }
}

function markOrNothing(file: string): boolean {
  try {
    return (JSON.parse(readCapped(file)) as { schema?: unknown } | null)?.schema === DELETIONS_SCHEMA;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
