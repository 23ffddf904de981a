import { randomBytes } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { sleep } from '../abort-listeners.js';
import { monotonicNow } from '../clock.js';
import { errorMessage, fatalError, S3SyncError, unreadableWhy, usageError } from '../errors.js';
import { kindOf } from '../local/open-file.js';
import { formatAge } from '../plan/push.js';
import type { LockWait } from '../sync/events.js';
import { createFresh } from './store.js';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  /** The shard (`I/N`) the holder syncs; absent for the whole tree. */
  shard?: string;
  /**
   * The holder's start time (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot): a pid now
   * held by another process (PID 1 of a new container) has another. Absent without /proc, or in a lock
   * written before it was recorded.
   */
  pidStart?: string;
  /** The kernel's boot id: a lock from before a reboot names no running process. */
  bootId?: string;
}

/** The lock a run wrote, or undefined for anything else. */
function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo> | null;
    return typeof v === 'object' && v !== null && typeof v.pid === 'number' && typeof v.host === 'string'
      ? (v as LockInfo)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Empty or zeros: a lock whose bytes never reached the disk before a crash, or one being created. */
const blank = (text: string) => /^\0*$/.test(text);

/** Far longer than the one write that fills a lock created in place. */
const BLANK_LOCK_GRACE_MS = 200;

/**
 * How often the holder refreshes its lock's mtime, and the age at which a lock not refreshed is stale
 * from any host: far apart, so that a run slowed down (a busy disk, a stalled event loop) keeps its lock.
 */
export const LOCK_HEARTBEAT_MS = 60_000;
export const STALE_LOCK_MS = 10 * 60_000;

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined without /proc (macOS) or without the process. */
export function processStart(pid: number | 'self'): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and ')': the fields after it follow its last ')'.
    const field = text
      .slice(text.lastIndexOf(')') + 2)
      .trim()
      .split(' ')[19];
    return field !== undefined && /^\d+$/.test(field) ? field : undefined;
  } catch {
    return undefined;
  }
}

/** The kernel's boot id (Linux), or undefined where there is none. */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Why the holder of a lock refreshed `ageMs` ago is known to be gone, or undefined if it may still run.
 * On the holder's host its process is checked: a pid with the start time recorded is proof either way
 * (so the same process, two library calls, is live), and a lock from an older s3sync or a holder without
 * /proc has only its pid. Otherwise (another host, or a pid that only may be the holder's) a lock not
 * refreshed for STALE_LOCK_MS is stale, as only a live holder refreshes it.
 */
function goneBecause(holder: LockInfo, ageMs: number): string | undefined {
  const stale = `on ${holder.host}, not refreshed for ${formatAge(ageMs)}`;
  if (holder.host !== hostname()) return ageMs >= STALE_LOCK_MS ? stale : undefined;
  const boot = bootId();
  if (holder.bootId !== undefined && boot !== undefined && holder.bootId !== boot)
    return 'no longer running: the machine restarted since';
  if (!alive(holder.pid)) return 'no longer running';
  const start = holder.pidStart !== undefined ? processStart(holder.pid) : undefined;
  if (start !== undefined && start !== holder.pidStart)
    return `no longer running: pid ${holder.pid} is another process now`;
  if (start !== undefined) return undefined;
  return ageMs >= STALE_LOCK_MS ? stale : undefined;
}

/**
 * Whether a lock at `lockPath` was left by a run that did not finish (its holder gone, or the lock
 * damaged), read without taking or removing it: a run that writes no manifest takes no lock, yet must
 * judge the manifest as the next locked run will.
 */
export function lockLeftBehind(lockPath: string): boolean {
  let seen: SeenLock | undefined;
  try {
    seen = readLock(lockPath);
  } catch {
    return false;
  }
  if (seen === undefined) return false;
  closeSync(seen.fd);
  const { text, ageMs } = seen;
  const holder = parseLock(text);
  // A blank lock may be one being created in place; an unparsable one is damage, removed by the next run.
  if (!holder) return !blank(text);
  return goneBecause(holder, ageMs) !== undefined;
}

/** The lock at a path as one file: read, and its mtime and identity taken, through one descriptor. */
interface SeenLock {
  /** Open until the lock is judged: the file's inode number is then no other file's. */
  fd: number;
  stat: BigIntStats;
  text: string;
  ageMs: number;
}

/**
 * A descriptor for the file at `lockPath` if it is a regular file: opened without blocking, as a FIFO
 * put there would hold a plain open (and the run) for ever. Throws NotALockFile for a FIFO, device or socket.
 */
function openLockFile(lockPath: string): { fd: number; stat: BigIntStats } {
  const fd = openSync(lockPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = fstatSync(fd, { bigint: true });
    // A folder fails its read with EISDIR, as before.
    if (!stat.isFile() && !stat.isDirectory()) throw new NotALockFile(kindOf(stat));
    return { fd, stat };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** A FIFO, a device or a socket where the lock goes: no run wrote it, so none removes it. */
class NotALockFile extends Error {
  constructor(kind: string) {
    super(`it is not a regular file (${kind}) and is left as it is: move it away or give another --manifest`);
  }
}

/** The lock at `lockPath`, or undefined when there is none (released meanwhile). */
function readLock(lockPath: string): SeenLock | undefined {
  let opened: { fd: number; stat: BigIntStats };
  try {
    opened = openLockFile(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const { fd, stat } = opened;
  try {
    const text = readFileSync(fd, 'utf8');
    return { fd, stat, text, ageMs: Date.now() - Number(stat.mtimeMs) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Removes the lock judged left behind (`seen`, still open) if it is the file at `lockPath` yet: another
 * run may have taken it over meanwhile and placed its own, which is live. Nothing removes a path only if
 * it holds a given file, so the lock is moved aside (rename moves one file, whichever is there, and to
 * one mover only), and the file moved is then known by its inode (the open descriptor keeps that number
 * from being reused). A live lock moved so is put back at once. 'removed' when the one judged was;
 * 'gone' when the path was empty (another run moved it first); 'live' when a live lock was put back.
 *
 * What remains: a run that places its lock in the moment a live one is aside succeeds; the live one
 * then replaces it (the older run keeps the lock), and the newcomer, which checks its lock right after
 * placing it, most likely sees that and tries again; one already past that check runs alongside.
 */
function removeIfSame(lockPath: string, seen: SeenLock): 'removed' | 'gone' | 'live' {
  const aside = `${lockPath}.${process.pid}-${randomBytes(4).toString('hex')}.old`;
  try {
    renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const moved = statSync(aside, { bigint: true });
  if (moved.ino === seen.stat.ino && moved.dev === seen.stat.dev) {
    unlinkSync(aside);
    return 'removed';
  }
  // rename, not link: a lock placed in the moment is replaced, so the older holder keeps its lock.
  renameSync(aside, lockPath);
  return 'live';
}

/** A run that found the lock moved away waits this long before placing its own: a live one may be put back. */
const MOVED_ASIDE_PAUSE_MS = 20;

/** link(2) errors of filesystems without hard links (FAT, some network filesystems). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates the lock, failing with EEXIST if there is one. Written whole to a temp file of a new name,
 * then linked into place (link never replaces a file): the lock never exists half-written, and no file
 * of the user's is truncated or removed. Without hard links it is created in place (O_EXCL) instead,
 * and may be seen empty for the moment before its one write.
 */
function placeLock(lockPath: string, text: string): void {
  const { file: tmp, fd } = createFresh(`${lockPath}.${process.pid}-`, '.tmp');
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, lockPath);
    } catch (err) {
      if (!NO_HARD_LINKS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      const lfd = openSync(lockPath, 'wx');
      try {
        writeSync(lfd, text);
      } finally {
        closeSync(lfd);
      }
    }
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * A lock this run holds: called, it releases it. `ours` says whether the lock at the path is still this
 * run's (another run may have taken it over); `takenBy` is the clause that names who holds it instead.
 */
export type HeldLock = (() => void) & { ours: () => boolean; takenBy: () => string };

/** Who holds the lock at `lockPath` now, as a message names them after "lost the lock …". */
function takenBy(lockPath: string): string {
  let seen: SeenLock | undefined;
  try {
    seen = readLock(lockPath);
  } catch {
    seen = undefined;
  }
  if (seen === undefined) return ', removed by another run (since finished) or by hand';
  closeSync(seen.fd);
  const holder = parseLock(seen.text);
  return holder
    ? ` to process ${holder.pid} on ${holder.host}`
    : ', replaced by a file that is no s3sync lock';
}

/**
 * The release of each lock this process holds, all run by one 'exit' listener: a listener per lock
 * passed Node's limit of 10 with more runs at once (MaxListenersExceededWarning). Process-wide, as the
 * exit it answers is.
 */
const heldLocks = new Set<() => void>();
const releaseHeld = () => {
  for (const release of [...heldLocks]) release();
};

/**
 * An exclusive lock file beside the manifest (O_EXCL create). A lock left by a dead process on this host
 * (its pid gone or reused, or the machine restarted), or one not refreshed for STALE_LOCK_MS by any
 * host, is taken over with a notice; a live one fails the run, or is waited for with `wait`. The holder
 * refreshes its lock's mtime every LOCK_HEARTBEAT_MS until released. With `strict`
 * (a path the user chose) a file at the lock's path that is not an s3sync lock is never removed: the
 * run stops instead.
 */
export async function acquireLock(
  lockPath: string,
  opts: {
    wait?: boolean;
    waitTimeoutMs?: number;
    /** `lockWait` marks the notices that start and end a wait for another run's lock. */
    notice?: (msg: string, lockWait?: LockWait) => void;
    strict?: boolean;
    signal?: AbortSignal;
    /** The shard this run syncs (`I/N`): a holder of another shard shares a --manifest by mistake. */
    shard?: string;
    /** Whether the file may be shared by shards after all (the Python script's, read by each). */
    sharable?: () => boolean;
    /** Told when the lock taken replaces one a run left behind (stale, or unreadable): it did not finish. */
    tookOver?: () => void;
    /** Told, once, when the heartbeat finds the lock no longer ours: another run took it over. */
    lost?: () => void;
  } = {},
): Promise<HeldLock> {
  // A wait's length, not a time of day: a step of the wall clock must not end or stretch it.
  const deadline = monotonicNow() + (opts.waitTimeoutMs ?? 3_600_000);
  let blankSince: number | undefined;
  // Asked once: the answer reads the whole file, and a wait asks at every turn.
  let sharable: boolean | undefined;
  const isSharable = () => (sharable ??= opts.sharable?.() === true);
  let said = false;
  // Whether a lock left behind was removed on the way: the run that left it did not finish.
  let tookOver = false;
  for (;;) {
    try {
      const info: LockInfo = {
        pid: process.pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
        ...(opts.shard !== undefined && { shard: opts.shard }),
      };
      const pidStart = processStart('self');
      const boot = bootId();
      if (pidStart !== undefined) info.pidStart = pidStart;
      if (boot !== undefined) info.bootId = boot;
      const text = JSON.stringify(info);
      placeLock(lockPath, text);
      // Held for the run: it pins our lock's inode, so a lock at the path with that inode is ours, known
      // without opening anything when the run is short of descriptors (EMFILE) at its end.
      let held: number | undefined;
      try {
        held = openSync(lockPath, 'r');
      } catch {
        held = undefined;
      }
      const sameFile = () => {
        if (held === undefined) return false;
        const a = fstatSync(held);
        const b = statSync(lockPath);
        return a.ino === b.ino && a.dev === b.dev;
      };
      // Another run may take over a lock not refreshed in time (this one suspended): its lock is not ours.
      const ours = () => {
        try {
          const { fd } = openLockFile(lockPath);
          try {
            return readFileSync(fd, 'utf8') === text;
          } finally {
            closeSync(fd);
          }
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // A folder on its way unreadable for now (a chmod): whose the lock is cannot be told, which is
          // not its loss; the caller's next look, or its save, finds out.
          if (code === 'EACCES' || code === 'EPERM')
            throw fatalError(`cannot look at the lock file ${lockPath}: ${unreadableWhy(code, err)}`);
          try {
            return (code === 'EMFILE' || code === 'ENFILE') && sameFile();
          } catch {
            return false;
          }
        }
      };
      // A run taking over a lock it judged stale puts back a live one it moved in the same moment,
      // replacing ours: then ours was never held (see removeIfSame), and the lock is tried again.
      if (!ours()) {
        if (held !== undefined) closeSync(held);
        continue;
      }
      if (tookOver) opts.tookOver?.();
      if (said) opts.notice?.('the other s3sync run let go of this destination: going on', 'over');
      const heartbeat = setInterval(() => {
        let still: boolean;
        try {
          still = ours();
          if (still) utimesSync(lockPath, new Date(), new Date());
        } catch {
          // a refresh missed is made up by the next one
          return;
        }
        // Taken over (judged stale from another host, or removed by hand): the run must stop, not
        // go on writing beside the run that holds it now.
        if (!still) {
          clearInterval(heartbeat);
          opts.lost?.();
        }
      }, LOCK_HEARTBEAT_MS);
      // The heartbeat never keeps the process alive by itself.
      heartbeat.unref();
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        clearInterval(heartbeat);
        heldLocks.delete(release);
        if (heldLocks.size === 0) process.removeListener('exit', releaseHeld);
        try {
          if (ours()) unlinkSync(lockPath);
        } catch {
          // already gone: nothing to release
        } finally {
          if (held !== undefined) closeSync(held);
        }
      };
      if (heldLocks.size === 0) process.once('exit', releaseHeld);
      heldLocks.add(release);
      return Object.assign(release, {
        ours: () => released || ours(),
        takenBy: () => takenBy(lockPath),
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        // The path the call named (the lock's temp file beside it) is s3sync's own, not the user's to see.
        const why = (err as Error).message.replace(/, \w+ '.*'$/s, '');
        throw usageError(`cannot create lock file ${lockPath}: ${why}`, err);
      }
    }
    let seen: SeenLock | undefined;
    try {
      seen = readLock(lockPath);
    } catch (err) {
      throw usageError(`cannot use lock file ${lockPath}: ${errorMessage(err)}`);
    }
    if (seen === undefined) continue; // released meanwhile
    const { text, ageMs } = seen;
    const holder = parseLock(text);
    // Empty, it may be one being created in place (no hard links): a moment later it is not.
    const mayBeCreated = !holder && blank(text) && blankSince === undefined;
    const gone = holder && goneBecause(holder, ageMs);
    // Locks are written whole, so an unparsable one is damage, not a writer mid-write.
    const leftBehind = holder ? gone !== undefined : !mayBeCreated;
    let removed: ReturnType<typeof removeIfSame> | undefined;
    try {
      if (!holder && opts.strict && !blank(text)) {
        throw usageError(
          `${lockPath} exists and is not an s3sync lock file; it is left as it is: move it away or give another --manifest`,
        );
      }
      if (leftBehind) removed = removeIfSame(lockPath, seen);
    } catch (err) {
      if (err instanceof S3SyncError) throw err;
      throw usageError(`cannot take over lock file ${lockPath}: ${errorMessage(err)}`);
    } finally {
      closeSync(seen.fd);
    }
    if (mayBeCreated) {
      blankSince = Date.now();
      await sleep(BLANK_LOCK_GRACE_MS);
      continue;
    }
    // Said by the run that removed it only: one that another beat to it says what it meets next.
    if (removed === 'removed')
      opts.notice?.(
        holder
          ? `taking over a stale lock left by process ${holder.pid} (${gone})`
          : 'removing an unreadable lock file',
      );
    // Whoever removed it, the run that left it did not finish: known here even if the remover loses the lock.
    if (removed !== undefined) tookOver = true;
    if (removed === 'gone') await sleep(MOVED_ASIDE_PAUSE_MS);
    if (removed !== undefined || !holder) continue;
    // Waiting would not help: the next run of the other shard takes it again, and each rebuilds the manifest.
    if ((holder.shard ?? '') !== (opts.shard ?? '') && !isSharable()) {
      const of = (shard: string | undefined) => (shard === undefined ? 'the whole tree' : `shard ${shard}`);
      throw usageError(
        `another s3sync run (pid ${holder.pid} on ${holder.host}) holds this manifest for ${of(holder.shard)}, ` +
          `and this run is ${of(opts.shard)}: give each shard its own --manifest, or none`,
      );
    }
    if (!opts.wait) {
      throw usageError(
        `another s3sync run (pid ${holder.pid} on ${holder.host}) is syncing this destination; ` +
          `wait for it or use waitLock (--wait-lock); if that run is known dead, remove ${lockPath}`,
      );
    }
    if (monotonicNow() > deadline) throw usageError('timed out waiting for the lock on this destination');
    // Said once, so a run that waits is not mistaken for one that hangs.
    if (!said)
      opts.notice?.(
        `waiting for another s3sync run (pid ${holder.pid} on ${holder.host}) to finish with this destination`,
        'waiting',
      );
    said = true;
    // A cancelled run stops waiting.
    await sleep(250, opts.signal);
  }
}
