import { createHash, randomBytes } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { S3SyncError } from '../errors.js';
import { inStateDir, STATE_DIR } from '../manifest/store.js';
import {
  deleteDecision,
  type EntryKind,
  type LinkTarget,
  linkReason,
  mayBeRefusedName,
  parentReason,
  refusedNameReason,
  replaceReason,
  unscannedReason,
} from './safe-path.js';
import { type StatData, statFields } from './scan.js';

/** A path pull will not write or delete: reported for that file, and the run goes on. */
export class PathRefused extends S3SyncError {
  constructor(message: string) {
    super(message, 'file');
  }
}

/** The end of a temp file's name written beside its file (TargetTree.besideName). */
export const FOREIGN_TMP_SUFFIX = '.s3sync.part';
/** A whole such name: `.<16 hex>-<count>.s3sync.part`. */
export const FOREIGN_TMP = /(?:^|\/)\.[0-9a-f]{16}-[0-9a-z]+\.s3sync\.part$/;

/**
 * Why a kept download's file at `abs` is not one an earlier run wrote for this one to resume: not a
 * regular file (a folder, a link: never opened through), another name's too (a hard link, which a
 * write would change), or another user's; undefined when it may be resumed, or is gone.
 */
function keptFileFault(abs: string): string | undefined {
  let st: BigIntStats | undefined;
  try {
    st = lstatSync(abs, { bigint: true });
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (!st.isFile()) return 'not a regular file';
  if (st.nlink !== 1n) return 'a file with other hard links';
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== BigInt(uid)) return "another user's file";
  return undefined;
}

/** Mount points from /proc/self/mountinfo (Linux); none elsewhere, where st_dev alone tells mounts apart. */
function readMountPoints(): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((m): m is string => m !== undefined && m !== '')
      .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  } catch {
    return [];
  }
}

const kindOf = (st: BigIntStats | undefined): EntryKind => {
  if (!st) return 'missing';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return st.isSymbolicLink() ? 'link' : 'other';
};

/** lstat: what is at `abs` itself; a failure other than ENOENT is refused with its code. */
function look(abs: string, shown: string, what: 'file' | 'folder'): BigIntStats | undefined {
  try {
    return lstatSync(abs, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    // A name too long for this file system fails its lookup already: said as the name, not the call.
    const refusal = refusedNameReason(what, abs.slice(abs.lastIndexOf('/') + 1), err);
    throw new PathRefused(
      refusal ?? `cannot inspect '${shown}': ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
}

/** Where a symbolic link leads, followed to the end; null when it is broken or unreadable. */
function linkTarget(abs: string): LinkTarget {
  try {
    const real = realpathSync(abs);
    return { real, kind: kindOf(lstatSync(real, { bigint: true })) };
  } catch {
    return null;
  }
}

/**
 * Pull's only way to create, replace and delete under its target, so that it never does any of these
 * outside it. Every path is checked right before the operation: walked from the target's real path one
 * component at a time with lstat, creating missing directories one mkdir at a time (or, for a directory
 * walked before in the run, one realpath that must give back exactly its path). A symbolic link or a
 * non-directory in the way is never followed by accident (what openat with O_NOFOLLOW gives; Node has
 * no openat). With --follow-symlinks a link to a directory strictly inside the target is gone through
 * (and the walk goes on from its real path); never one to anywhere else, nor into s3sync's own files.
 * The operation itself (a rename, an unlink, an rmdir, a mkdir) then goes through descriptors of the
 * real folders, opened one at a time from the root without following a link (see anchored): on Linux
 * a folder swapped for a link after the check fails the operation instead of leading it out. Where
 * /proc/self/fd cannot be used (other systems), a swap in the few system calls between the check and
 * the operation can still lead it through the link.
 */
export class TargetTree {
  readonly real: string;
  private readonly follow: boolean;
  private readonly isOwn: (rel: string) => boolean;
  /**
   * Directories walked and found safe this run (rel → real path). Used again only while realpath still
   * gives exactly that path, i.e. no component of it has become a link: one call instead of a walk.
   */
  private readonly safeDirs = new Map<string, string>();
  /** Folders (paths from the root) this run made: a refused download's are removed again (removeMadeFor). */
  private readonly made = new Set<string>();
  /** Whether operations can go through folder descriptors here (see anchored); asked once per tree. */
  private procFds?: boolean;
  private safeTmp: string | undefined;
  /** The temp folder opened (see tmpPath), held until the run's end (removeTmp). */
  private readonly heldTmp = new HeldFolder();
  /** DIR/.s3sync/<tmpName>: each lock holder's own (pulls into one tree at once), removed at its end. */
  private readonly tmp: string;
  /**
   * Temp file names: an id per run, then a count; fresh random bytes per file were a cost per file. The
   * id's first half names the lock holder (tmpName's), its second is random: a temp file beside its
   * file is told to be this destination's, left by a killed run of it, or another's, maybe live.
   */
  private readonly tmpId: string;
  /** The lock holder's half of tmpId. */
  private readonly holderTag: string;
  /** Per folder of the target (rel), whether downloads into it are written beside (writesBeside). */
  private readonly foreignDirs = new Map<string, boolean>();
  /** Per real folder, the group a file created in it gets (groupIn). */
  private readonly groups = new Map<string, number>();
  /** The system's mount points, read on the first writesBeside that needs them. */
  private mounts: string[] | undefined;
  private tmpCount = 0;

  constructor(
    root: string,
    opts: { followSymlinks?: boolean; isOwn?: (rel: string) => boolean; tmpName?: string } = {},
  ) {
    this.real = realpathSync(root);
    this.tmp = `${STATE_DIR}/${opts.tmpName ?? 'tmp'}`;
    this.holderTag = createHash('sha256').update(this.tmp).digest('hex').slice(0, 8);
    this.tmpId = `${this.holderTag}${randomBytes(4).toString('hex')}`;
    this.follow = opts.followSymlinks === true;
    const own = opts.isOwn ?? (() => false);
    this.isOwn = (rel) => inStateDir(rel) || own(rel);
  }

  /** For the scan under --follow-symlinks: null if the link at `abs` may be followed, else why not. */
  linkReason(abs: string, name: string): string | null {
    return linkReason(name, this.real, linkTarget(abs), this.isOwn);
  }

  /**
   * The entry `rel` names, as a path from the real root once the links in its folders are followed as
   * a write would follow them; undefined where a folder is missing or would be refused.
   */
  entryOf(rel: string): string | undefined {
    let dir: string | undefined;
    try {
      dir = this.parentDir(rel, false);
    } catch (err) {
      if (err instanceof PathRefused) return undefined;
      throw err;
    }
    if (dir === undefined) return undefined;
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return dir === this.real ? name : (this.relOf(`${dir}/${name}`) ?? undefined);
  }

  /**
   * The real directory that holds `rel`, each parent checked; missing ones are made when `create`,
   * else undefined is returned for one. `own`: s3sync's folder, never gone through a link.
   */
  private parentDir(rel: string, create: boolean, own = false): string | undefined {
    const names = rel.split('/');
    names.pop();
    let dir = this.real;
    let shown = '';
    for (const name of names) {
      shown = shown ? `${shown}/${name}` : name;
      const abs = `${dir}/${name}`;
      let st = look(abs, shown, 'folder');
      if (!st && create) {
        try {
          this.anchored(abs, (at) => mkdirSync(at));
          this.made.add(shown);
        } catch (err) {
          if (err instanceof PathRefused) throw err;
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'EEXIST')
            throw new PathRefused(
              (existsSync(dir) && refusedNameReason('folder', name, err)) ||
                `cannot create the directory '${shown}': ${code ?? err}`,
            );
        }
        st = look(abs, shown, 'folder');
      }
      const kind = kindOf(st);
      if (kind === 'dir') {
        dir = abs;
        continue;
      }
      if (kind === 'missing' && !create) return undefined;
      const follow = own ? 'never' : this.follow ? 'yes' : 'no';
      const target = kind === 'link' && follow === 'yes' ? linkTarget(abs) : undefined;
      const link = target === undefined ? undefined : { realRoot: this.real, target, isOwn: this.isOwn };
      const reason = parentReason(shown, kind, follow, link);
      if (reason !== null) throw new PathRefused(reason);
      dir = target!.real;
    }
    return dir;
  }

  /**
   * `abs` relative to the real root: every path here is built from it, real paths and checked names
   * (no '.' or '..'), so a prefix is enough.
   */
  private relOf(abs: string): string | null {
    const prefix = this.real.endsWith('/') ? this.real : `${this.real}/`;
    return abs.startsWith(prefix) && abs.length > prefix.length ? abs.slice(prefix.length) : null;
  }

  /** `abs` (below the real root) must not be one of s3sync's files, reached through a link. */
  private notOwn(abs: string): void {
    const rel = this.relOf(abs);
    if (rel === null || this.isOwn(rel)) throw new PathRefused(`it is s3sync's own file '${rel}'`);
  }

  /**
   * The real directory that holds `rel` (parentDir, missing ones made). `recheck` false: one found safe
   * before is taken as it is, for an early check that a later one repeats.
   */
  private dirFor(rel: string, recheck: boolean): string {
    const relDir = rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
    if (relDir === '') return this.real;
    const known = this.safeDirs.get(relDir);
    if (known !== undefined && (!recheck || unchanged(known))) return known;
    const dir = this.parentDir(rel, true)!;
    this.safeDirs.set(relDir, dir);
    return dir;
  }

  /** The temp folder DIR/.s3sync/tmp, made if missing, checked now. */
  tmpDir(): string {
    if (this.safeTmp !== undefined && unchanged(this.safeTmp)) return this.safeTmp;
    this.safeTmp = refused(
      'not written: no safe temp folder',
      () => this.parentDir(`${this.tmp}/x`, true, true)!,
    );
    return this.safeTmp;
  }

  /**
   * The path of the temp file `name`, its folder checked now (tmpDir): `/proc/self/fd/<fd>/<name>`, `fd`
   * the temp folder opened from the root without following a link (see anchored), so that DIR/.s3sync
   * or its temp folder swapped for a link after the check is never gone through; a folder moved away
   * whole is still the one written in, as for anchored. Its checked path where /proc/self/fd does not
   * work, or a folder on the way cannot be read.
   */
  tmpPath(name: string): string {
    return this.heldPath(this.heldTmp, this.tmpDir(), this.tmp, name, 'not written: no safe temp folder');
  }

  /**
   * As tmpPath, for a temp file beside `rel`'s file (writesBeside) in its folder, checked now (folderOf):
   * `held` is the download's, which closes it once no operation on the file is under way.
   */
  besidePath(rel: string, name: string, held: HeldFolder): string {
    const dir = this.folderOf(rel);
    return this.heldPath(held, dir, this.relOf(dir) ?? '.', name, 'not written');
  }

  /**
   * The path of `name` in the real folder `dir` through `held`: the folder opened before while it is
   * still there (moved or not), else the one at `dir` opened now. `shown`: `dir` from the root.
   */
  private heldPath(held: HeldFolder, dir: string, shown: string, name: string, what: string): string {
    // Asked each time: another folder moved onto its name removes it, which leaves its path as it was.
    if (held.fd !== undefined && !removedFolder(held.fd)) return `${PROC_FD}${held.fd}/${name}`;
    const fd = refused(what, () => (dir === this.real ? this.openRoot() : this.openBelow(dir, shown)));
    if (fd === undefined) return `${dir}/${name}`;
    held.hold(fd, dir);
    return `${PROC_FD}${fd}/${name}`;
  }

  /** The real folder `dir` below the root opened through anchored; undefined where it falls back to paths. */
  private openBelow(dir: string, shown: string): number | undefined {
    return this.anchored(dir, (at) => {
      if (!at.startsWith(PROC_FD)) return undefined;
      try {
        return openSync(at, DIR_FLAGS | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Short of descriptors: thrown as it is, for the caller to wait for some (whileFdsShort).
        if (code !== 'ELOOP' && code !== 'ENOTDIR' && code !== 'ENOENT') throw err;
        throw new PathRefused(swappedReason(shown, code));
      }
    });
  }

  /** The root opened, as anchored opens it (by its real path); undefined where anchored would not. */
  private openRoot(): number | undefined {
    this.procFds ??= procFdsWork(this.real);
    if (!this.procFds) return undefined;
    try {
      return openSync(this.real, DIR_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return undefined;
      throw err;
    }
  }

  /**
   * `err` (from an operation on a path tmpPath() or besidePath() gave) as if it had named the folder,
   * not the descriptor's path: what reports it names the folder the user knows.
   */
  realPathsIn(err: unknown, held?: HeldFolder): unknown {
    this.heldTmp.realPathsIn(err);
    return held === undefined ? err : held.realPathsIn(err);
  }

  /**
   * Why the file system refuses the name of `rel`'s file, learnt by making (and removing) a file of
   * that name in tmpDir(), which is on the same file system unless writesBeside(rel); null if it takes
   * it. Only a name mayBeRefusedName fits is tried: no call for any other, and no GET for a refused one.
   */
  nameRefusal(rel: string): string | null {
    const name = baseName(rel);
    if (!mayBeRefusedName(name)) return null;
    const probe = this.tmpPath(name);
    try {
      closeSync(
        openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW),
      );
    } catch (err) {
      // Another download's probe of the same name: the file system took it.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
      return refusedNameReason('file', name, err);
    }
    rmSync(probe, { force: true });
    return null;
  }

  /** A name no other temp file of this run has had, for a file in tmpDir(). */
  tmpFileName(suffix: string): string {
    return `${this.tmpId}-${(this.tmpCount++).toString(36)}${suffix}`;
  }

  /**
   * Whether the download of `rel` must be written beside it rather than in tmpDir(): its folder is on
   * another mount (a filesystem mounted in the target, a bind mount, a container's volume), where a
   * rename from tmpDir() fails with EXDEV; or it is a setgid folder whose group this process cannot
   * give a file (not one of its groups), which only a file created in that folder gets. Told once per
   * folder; a folder on the way refused now is this download's refusal, and one that cannot be told
   * now (a folder gone for a moment) is written beside, each asked again by the next download.
   */
  writesBeside(rel: string): boolean {
    const relDir = rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
    const known = this.foreignDirs.get(relDir);
    if (known !== undefined) return known;
    let foreign: boolean;
    try {
      const dir = refused('not written', () => this.dirFor(rel, false));
      const tmp = this.tmpDir();
      // lstat: a folder swapped for a link since its check is not taken for where the link leads.
      foreign = lstatSync(dir).dev !== lstatSync(tmp).dev || this.mountPoint(dir) !== this.mountPoint(tmp);
      const group = this.groupFor(dir);
      foreign ||= group !== undefined && !canGiveGroup(group);
      // Told while a folder was swapped: this download's answer only, asked again by the next.
      if (!unchanged(dir) || !unchanged(tmp)) return foreign;
    } catch (err) {
      // A folder refused now (a swap, as a rename through it would meet): the download is refused
      // here, not written to the temp folder for a rename across mounts to fail.
      if (err instanceof PathRefused) throw err;
      // Not told (a folder gone for a moment): beside its file, which a rename never fails for.
      return true;
    }
    this.foreignDirs.set(relDir, foreign);
    return foreign;
  }

  /**
   * The group to give a file written in tmpDir() before it is renamed into the real folder `dir`: the
   * one a file created in `dir` gets (a setgid folder's, as a shared folder wants), where that differs
   * from the one it got; undefined when there is nothing to change, or it cannot be told.
   */
  groupFor(dir: string): number | undefined {
    const want = this.groupIn(dir);
    // The folder checked by the caller's tmp() already: not walked again for each file.
    const have = this.groupIn(this.safeTmp ?? this.tmpDir());
    return want !== undefined && have !== undefined && want !== have ? want : undefined;
  }

  /**
   * The group a file created in the real folder `dir` gets: the folder's where it is setgid (always,
   * on BSD and macOS), else the process's. Asked once per folder.
   */
  private groupIn(dir: string): number | undefined {
    const known = this.groups.get(dir);
    if (known !== undefined) return known;
    let gid: number | undefined;
    try {
      const st = statSync(dir);
      gid = BSD_GROUPS || (st.mode & S_ISGID) !== 0 ? st.gid : process.getegid?.();
    } catch {
      gid = undefined;
    }
    if (gid !== undefined) this.groups.set(dir, gid);
    return gid;
  }

  /** A temp file's name beside the file it becomes (writesBeside): hidden, and s3sync's own (FOREIGN_TMP). */
  besideName(): string {
    return `.${this.tmpId}-${(this.tmpCount++).toString(36)}${FOREIGN_TMP_SUFFIX}`;
  }

  /**
   * Runs `op` on the real path `abs` below the root (one destination() gave; or a tmpPath()) through the
   * descriptors of its folders (see anchored); a folder that is no longer one is refused: `what` says
   * what was not done ('not written').
   */
  at<T>(abs: string, what: string, op: (at: string) => T): T {
    // A tmpPath() or besidePath() path goes through its folder's descriptor already.
    if (abs.startsWith(PROC_FD))
      try {
        return op(abs);
      } catch (err) {
        throw this.realPathsIn(err);
      }
    let reached = false;
    try {
      return this.anchored(abs, (at) => {
        reached = true;
        return op(at);
      });
    } catch (err) {
      // `op`'s own refusals say what they are already.
      if (!reached && err instanceof PathRefused) throw new PathRefused(`${what}: ${err.message}`);
      throw err;
    }
  }

  /**
   * Runs `op` on the real path `abs` below the root by `/proc/self/fd/<fd>/<name>`, `fd` the folder
   * that holds it, opened one component at a time from the root with O_NOFOLLOW: the kernel resolves
   * that link to the very folder opened (openat's semantics, which Node lacks), so a component swapped
   * for a link after it was checked fails with ELOOP or ENOTDIR, refused, instead of being followed.
   * A folder moved away whole is still the one opened: what goes in it goes where it went. `abs` as it
   * is where /proc/self/fd does not work, or a folder cannot be opened for reading (no read permission).
   */
  private anchored<T>(abs: string, op: (at: string) => T): T {
    const rel = this.relOf(abs);
    if (rel === null) throw new PathRefused(`'${abs}' is not inside the target`);
    const names = rel.split('/');
    const name = names.pop()!;
    this.procFds ??= procFdsWork(this.real);
    if (!this.procFds) return op(abs);
    let fd: number;
    try {
      fd = openSync(this.real, DIR_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return op(abs);
      throw err;
    }
    try {
      let walked = '';
      for (const n of names) {
        walked = walked ? `${walked}/${n}` : n;
        let next: number;
        try {
          next = openSync(`${PROC_FD}${fd}/${n}`, DIR_FLAGS | constants.O_NOFOLLOW);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EACCES') return op(abs);
          throw new PathRefused(swappedReason(walked, code ?? String(err)));
        }
        closeSync(fd);
        fd = next;
      }
      const via = `${PROC_FD}${fd}/`;
      try {
        return op(`${via}${name}`);
      } catch (err) {
        throw realPathsIn(err, via, abs.slice(0, abs.length - name.length));
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The real folder `rel` goes in, checked now (made if missing). */
  folderOf(rel: string): string {
    return refused('not written', () => this.dirFor(rel, true));
  }

  /** The mount point holding the real path `dir` (the longest that is a prefix), '' where unknown. */
  private mountPoint(dir: string): string {
    this.mounts ??= readMountPoints();
    let best = '';
    for (const m of this.mounts)
      if (m.length > best.length && (dir === m || dir.startsWith(m.endsWith('/') ? m : `${m}/`))) best = m;
    return best;
  }

  /**
   * Removes the temp folder, unless what is there now is not s3sync's own folder. `keep`: the kept
   * downloads (download-resume.ts) that stay, with the folder; their files are `<name>.<ext>`. A kept
   * download with a file that is not one this run could have written (see keptFileFault) goes, both
   * its files, and `discarded` is told its name and why. Returns why what is left could not be removed
   * (a target remounted read-only): the caller says so, and the next run removes it; undefined when it was.
   */
  removeTmp(
    keep: ReadonlySet<string> = new Set(),
    discarded?: (name: string, why: string) => void,
  ): { path: string; code: string } | undefined {
    // Called before the downloads and after them: no operation through the descriptors is under way.
    this.heldTmp.close();
    let dir: string | undefined;
    try {
      dir = this.parentDir(`${this.tmp}/x`, false, true);
    } catch {
      return undefined;
    }
    this.safeTmp = undefined;
    if (dir === undefined) return undefined;
    let names: string[] = [];
    try {
      if (keep.size > 0) names = readdirSync(dir);
    } catch {
      // Unreadable: removed whole, as before there were kept downloads.
    }
    const stem = (n: string) => n.slice(0, n.lastIndexOf('.'));
    const faults = new Map<string, string>();
    for (const n of names) {
      if (!keep.has(stem(n)) || faults.has(stem(n))) continue;
      const fault = keptFileFault(`${dir}/${n}`);
      if (fault !== undefined) faults.set(stem(n), `${n} is ${fault}`);
    }
    const kept = (n: string) => keep.has(stem(n)) && !faults.has(stem(n));
    try {
      if (!names.some(kept)) {
        rmSync(dir, { recursive: true, force: true });
      } else {
        // In the folder checked above, which is no link: a link is removed, never followed.
        for (const n of names) if (!kept(n)) rmSync(`${dir}/${n}`, { recursive: true, force: true });
      }
    } catch (err) {
      // force only ignores a missing path: EROFS, EPERM or EIO still throw.
      return { path: this.tmp, code: (err as NodeJS.ErrnoException).code ?? String(err) };
    } finally {
      for (const [name, why] of faults) discarded?.(name, why);
    }
    return undefined;
  }

  /**
   * Where the download of `rel` is renamed to, checked now: its parents (made if missing) and what is at
   * its name (see replaceReason); a folder there that holds no file is removed (see clearFolder). Call
   * it right before the rename; `recheck` false for an early check, which removes nothing.
   * `scanned`: the file the scan found at `rel`, or null for none; a regular file there must be that
   * one (see unscannedReason). Undefined: held to nothing (a caller that did not look at the tree).
   */
  destination(rel: string, recheck = true, scanned?: StatData | null, asPlanned = false): string {
    return refused('not written', () =>
      this.checkedAt(this.dirFor(rel, recheck), rel, recheck ? 'remove' : 'keep', scanned, asPlanned),
    );
  }

  /**
   * Why the download of `rel` would be refused, checked as destination() checks it but with nothing
   * made or removed (a dry run); null: it would be written, its missing folders made.
   */
  writeRefusal(rel: string): string | null {
    try {
      refused('not written', () => {
        const dir = this.parentDir(rel, false);
        if (dir !== undefined) this.checkedAt(dir, rel, 'keep');
      });
      return null;
    } catch (err) {
      if (err instanceof PathRefused) return err.message;
      throw err;
    }
  }

  /**
   * `rel`'s path in the real directory `dir`, if what is at its name may be replaced (see destination).
   * A folder there that holds no file is no refusal: `clear` 'remove' removes it, 'keep' (an early
   * check, a dry run) leaves it for the rename's check.
   */
  private checkedAt(
    dir: string,
    rel: string,
    clear: 'remove' | 'keep',
    scanned?: StatData | null,
    asPlanned = false,
  ): string {
    const dest = `${dir}/${baseName(rel)}`;
    this.notOwn(dest);
    let st = look(dest, rel, 'file');
    let kind = kindOf(st);
    if (kind === 'dir' && this.holdsNoFile(dest)) {
      if (clear === 'keep') return dest;
      this.clearFolder(dest);
      // Whatever appeared meanwhile kept its folder, which is refused below as any folder is.
      st = look(dest, rel, 'file');
      kind = kindOf(st);
    }
    const reason =
      replaceReason(kind, kind === 'link' ? linkTarget(dest)?.kind : undefined) ??
      (kind === 'file' && scanned !== undefined
        ? unscannedReason(scanned, statFields(st!), asPlanned)
        : null);
    if (reason !== null) throw new PathRefused(reason);
    return dest;
  }

  /**
   * Whether the folder at the real path `abs` holds no file at all: only folders, each as empty, none
   * of them s3sync's own. Anything else keeps it, whatever the filters say of it: a file (hidden or
   * excluded too), a link, a special file, a folder that cannot be read.
   */
  private holdsNoFile(abs: string): boolean {
    const rel = this.relOf(abs);
    if (rel === null || this.isOwn(rel)) return false;
    try {
      // withFileTypes tells a link from a folder without following it.
      for (const e of readdirSync(abs, { withFileTypes: true }))
        if (!e.isDirectory() || !this.holdsNoFile(`${abs}/${e.name}`)) return false;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Removes the folder at the real path `abs` and the folders in it, deepest first, with rmdir only:
   * one that something entered meanwhile stays, and so does each above it. A folder whose path has
   * come to go through a link is left, so that nothing outside the target is touched.
   */
  private clearFolder(abs: string): void {
    try {
      if (!unchanged(abs)) return;
      for (const e of readdirSync(abs, { withFileTypes: true }))
        if (e.isDirectory()) this.clearFolder(`${abs}/${e.name}`);
      if (unchanged(abs)) this.anchored(abs, (at) => rmdirSync(at));
    } catch {
      // Not empty, or gone: the caller looks again.
    }
  }

  /**
   * After pull --delete: removes each folder of `folders` (paths from the root) that the deletions left
   * empty, deepest first, and then each folder above it left empty in turn, up to (never) the target
   * root; rmdir only, so a folder holding anything stays, and so does each above it. `keep`: a folder
   * the remote names (a folder marker). One reached through a link, or s3sync's own, is left.
   */
  removeEmptied(folders: Iterable<string>, keep: (rel: string) => boolean): void {
    const all = new Set<string>();
    for (const rel of folders)
      for (let i = rel.length; i > 0; i = rel.lastIndexOf('/', i - 1)) all.add(rel.slice(0, i));
    // Deepest first: a folder can only be empty once those in it are gone.
    const order = [...all].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const rel of order) {
      if (keep(rel) || this.isOwn(rel)) continue;
      try {
        const dir = this.parentDir(rel, false);
        if (dir === undefined) continue;
        const abs = `${dir}/${baseName(rel)}`;
        // Its real path must be its own: a folder through a followed link is another path's.
        if (this.relOf(abs) !== rel || !lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) continue;
        if (!unchanged(abs)) continue;
        this.anchored(abs, (at) => rmdirSync(at));
      } catch {
        // Not empty (what the run kept, or what appeared), or refused on the way: it stays.
      }
    }
  }

  /**
   * The download of `rel` was refused: the folders this run made on its way there and that are still
   * empty are removed (see removeEmptied), so that a refused key leaves no trace; never a folder that
   * was there before the run. One another download wants again is made again by its own checks.
   */
  removeMadeFor(rel: string): void {
    const dir = rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
    if (dir === '' || this.made.size === 0) return;
    this.removeEmptied([dir], (r) => !this.made.has(r));
    for (let i = dir.length; i > 0; i = dir.lastIndexOf('/', i - 1)) {
      const r = dir.slice(0, i);
      if (!this.made.has(r) || existsSync(`${this.real}/${r}`)) continue;
      this.made.delete(r);
      this.safeDirs.delete(r);
    }
  }

  /**
   * Whether a temp file beside its file (FOREIGN_TMP) was named by a run of this lock holder: under
   * its lock no other run of it is live, so a killed one left it.
   */
  isHolders(rel: string): boolean {
    return baseName(rel).startsWith(`.${this.holderTag}`);
  }

  /**
   * Removes a temp file that a killed run left beside its file (FOREIGN_TMP), as the scan found it: only
   * a regular file, through no link the tree would not follow, untouched for `idleMs`. Whatever cannot
   * be removed is left for a later run.
   */
  removeLeftover(rel: string, idleMs: number): void {
    try {
      const dir = this.parentDir(rel, false);
      if (dir === undefined || !FOREIGN_TMP.test(baseName(rel))) return;
      this.anchored(`${dir}/${baseName(rel)}`, (at) => {
        const st = lstatSync(at, { throwIfNoEntry: false });
        if (st?.isFile() && Date.now() - st.ctimeMs >= idleMs) unlinkSync(at);
      });
    } catch {
      // A folder turned into a link, or the file gone: nothing of the user's is touched.
    }
  }

  /**
   * Deletes `rel` if it is still the file the scan found (inode `ino`, when known; `planned`, the file as
   * an applied plan found it: also its size and times): see deleteDecision.
   * Through a followed link the file has another path, its real one: it is deleted only if `alsoGoes`
   * says that path is to be deleted as well (an object kept under that name keeps the file). `keep`
   * (--backup-dir) is given the file's path through the same folder descriptors, right before it goes.
   */
  remove(
    rel: string,
    ino: string | undefined,
    alsoGoes: (realRel: string) => boolean,
    keep?: (at: string) => void,
    planned?: StatData,
  ): Removal {
    return refused('not deleted', () => {
      const dir = this.parentDir(rel, false);
      if (dir === undefined) return 'gone';
      const abs = `${dir}/${baseName(rel)}`;
      this.notOwn(abs);
      const realRel = this.relOf(abs)!;
      if (realRel !== rel && !alsoGoes(realRel)) return 'kept';
      // Looked at and unlinked in the folder checked, even if a link has taken its name since.
      return this.anchored(abs, (at): Removal => {
        const st = look(at, rel, 'file');
        const kind = kindOf(st);
        // What the scan saw: the file itself, or under --follow-symlinks the file a link leads to.
        const seen = kind === 'link' ? followed(at) : st;
        const same = seen !== undefined && (ino === undefined || seen.ino.toString() === ino);
        const changed =
          planned !== undefined && seen !== undefined
            ? unscannedReason(planned, statFields(seen), true)
            : null;
        const d = deleteDecision(kind, this.follow, same, changed);
        if (d.act === 'refuse') throw new PathRefused(d.reason);
        if (d.act === 'gone') return 'gone';
        keep?.(at);
        unlinkSync(at);
        return 'deleted';
      });
    });
  }
}

/** The set-group-ID bit of a mode (not in Node's fs.constants). */
const S_ISGID = 0o2000;

/** BSD and macOS give a new file its folder's group whatever the folder's mode; Linux only in a setgid one. */
const BSD_GROUPS = process.platform === 'darwin' || process.platform.endsWith('bsd');

/** Whether this process may give a file it owns the group `gid`: root, or one of its own groups. */
function canGiveGroup(gid: number): boolean {
  if (process.geteuid?.() === 0) return true;
  try {
    return process.getegid?.() === gid || (process.getgroups?.() ?? []).includes(gid);
  } catch {
    return false;
  }
}

/** 'gone': nothing was there any more; 'kept': the file is also another path's, which stays. */
export type Removal = 'deleted' | 'gone' | 'kept';

const baseName = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

/** A folder opened only to be gone through (see TargetTree.anchored). */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

/** Where a descriptor's path starts (see TargetTree.anchored). */
const PROC_FD = '/proc/self/fd/';

/** Folders a HeldFolder opens again after the one it had was removed. */
const MAX_OLD_HELD = 16;

/**
 * A folder of the target opened from the root without following a link (see TargetTree.anchored),
 * whose files are made through `/proc/self/fd/<fd>/<name>` (see TargetTree.tmpPath). One opened before
 * and removed since keeps its descriptor until close(), not closed at once: an operation begun through
 * it may still be under way, and must not reach whatever that number opens next.
 */
export class HeldFolder {
  fd: number | undefined;
  /** The real path `fd` was opened at: what errors name. */
  private dir = '';
  private readonly old: { fd: number; dir: string }[] = [];

  /** `fd`, opened at the real path `dir`, replaces the folder held (which was removed). */
  hold(fd: number, dir: string): void {
    if (this.fd !== undefined) {
      // Each removed by someone during the run keeps a descriptor until its end: a bound, not a leak.
      if (this.old.length >= MAX_OLD_HELD) {
        closeSync(fd);
        throw new PathRefused(`not written: the folder '${dir}' was removed too many times during the run`);
      }
      this.old.push({ fd: this.fd, dir: this.dir });
    }
    this.fd = fd;
    this.dir = dir;
  }

  /** `err` as if it had named the folders held, not their descriptors' paths. */
  realPathsIn(err: unknown): unknown {
    const all = this.fd === undefined ? this.old : [{ fd: this.fd, dir: this.dir }, ...this.old];
    for (const h of all) realPathsIn(err, `${PROC_FD}${h.fd}/`, `${h.dir}/`);
    return err;
  }

  /** Closes what it holds: no operation through it is under way any more. */
  close(): void {
    const all = this.fd === undefined ? this.old : [{ fd: this.fd, dir: this.dir }, ...this.old];
    for (const h of all)
      try {
        closeSync(h.fd);
      } catch {
        // Closed already: nothing held.
      }
    this.old.length = 0;
    this.fd = undefined;
  }
}

/**
 * Whether the folder opened as `fd` was removed (no name any more): the kernel says so of its
 * descriptor's path, and of its link count where the file system keeps one.
 */
function removedFolder(fd: number): boolean {
  try {
    return fstatSync(fd).nlink === 0 || readlinkSync(`${PROC_FD}${fd}`).endsWith(' (deleted)');
  } catch {
    return true;
  }
}

/** Whether /proc/self/fd/<fd>/ leads to the folder opened as fd (Linux with /proc). */
function procFdsWork(dir: string): boolean {
  if (process.platform !== 'linux') return false;
  let fd: number | undefined;
  try {
    fd = openSync(dir, DIR_FLAGS);
    const opened = fstatSync(fd, { bigint: true });
    const seen = statSync(`${PROC_FD}${fd}/.`, { bigint: true });
    return opened.dev === seen.dev && opened.ino === seen.ino;
  } catch {
    // No /proc (a chroot, a container without it): checked paths only, as on other systems.
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * An operation's error as if it had named the real folder, not the descriptor's path it went through:
 * what reports it names the folder the user knows (and unwritable() finds it below the root).
 */
function realPathsIn(err: unknown, via: string, real: string): unknown {
  const e = err as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (typeof e !== 'object' || e === null) return err;
  const back = (p: string) => p.split(via).join(real);
  if (typeof e.path === 'string') e.path = back(e.path);
  if (typeof e.dest === 'string') e.dest = back(e.dest);
  if (typeof e.message === 'string') e.message = back(e.message);
  return err;
}

/** Why a folder checked on the way could not be gone through when the operation came (see anchored). */
function swappedReason(shown: string, code: string): string {
  if (code === 'ELOOP') return `'${shown}' is a symbolic link (put there during the run; not followed)`;
  if (code === 'ENOTDIR') return `'${shown}' is no longer a directory`;
  if (code === 'ENOENT') return `'${shown}' does not exist any more`;
  return `cannot open the directory '${shown}': ${code}`;
}

/** `dir` (a real path) still is one: no component of it is a link now. */
function unchanged(dir: string): boolean {
  try {
    return realpathSync.native(dir) === dir;
  } catch {
    return false;
  }
}

/** stat (following links); undefined if it cannot be. */
function followed(abs: string): BigIntStats | undefined {
  try {
    return statSync(abs, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Runs `fn`, prefixing a refusal's reason with `what` ('not written'). */
function refused<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PathRefused) throw new PathRefused(`${what}: ${err.message}`);
    throw err;
  }
}
