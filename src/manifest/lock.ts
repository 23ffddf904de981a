import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { usageError } from '../errors.js';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
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
 * An exclusive lock file beside the manifest (O_EXCL create). A lock left by a dead process on this host
 * is taken over with a notice; a live one fails the run, or is waited for with `wait`.
 */
export async function acquireLock(
  lockPath: string,
  opts: { wait?: boolean; waitTimeoutMs?: number; notice?: (msg: string) => void; signal?: AbortSignal } = {},
): Promise<() => void> {
  const deadline = Date.now() + (opts.waitTimeoutMs ?? 3_600_000);
  for (;;) {
    try {
      // Written whole to a temp file, then linked into place: the lock never exists half-written.
      const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
      const tmp = `${lockPath}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w');
      writeSync(fd, JSON.stringify(info));
      closeSync(fd);
      try {
        linkSync(tmp, lockPath);
      } finally {
        unlinkSync(tmp);
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        try {
          unlinkSync(lockPath);
        } catch {
          // already gone: nothing to release
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw usageError(`cannot create lock file ${lockPath}: ${(err as Error).message}`);
      }
    }
    let holder: LockInfo | undefined;
    try {
      holder = JSON.parse(readFileSync(lockPath, 'utf8')) as LockInfo;
    } catch {
      // Unreadable or half-written: written by a process that died mid-write, or being written now.
    }
    if (holder && holder.host === hostname() && !alive(holder.pid)) {
      opts.notice?.(`taking over a stale lock left by process ${holder.pid} (no longer running)`);
      try {
        unlinkSync(lockPath);
      } catch {
        // another process took it over first; loop and try again
      }
      continue;
    }
    if (!holder) {
      // Locks are linked into place whole, so an unparsable one is damage, not a writer mid-write.
      opts.notice?.('removing an unreadable lock file');
      try {
        unlinkSync(lockPath);
      } catch {
        // gone already
      }
      continue;
    }
    if (!opts.wait) {
      throw usageError(
        `another s3sync run (pid ${holder.pid} on ${holder.host}) is syncing this destination; ` +
          'wait for it or use --wait-lock',
      );
    }
    if (Date.now() > deadline) throw usageError('timed out waiting for the lock on this destination');
    // A cancelled run stops waiting.
    await sleep(250, undefined, { signal: opts.signal });
  }
}
