/**
 * Group commit for downloads: files are written to temp files without waiting on fsync, and flushed
 * together, off the transfers' critical path. One flush: fsync every temp file of the batch (in
 * parallel), rename each into place, fsync the directories that received them, and only then hand the
 * files to be recorded. So no partial file ever appears under its real name, even after a power loss
 * (its data is on disk before the rename), and the manifest never records a file whose data or name a
 * power loss could still take away.
 */
import { close, closeSync, fsync, open } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { whileFdsShort } from '../local/open-files.js';

const fsyncFd = promisify(fsync);
const closeFd = promisify(close);
const openPath = promisify(open);

/** A written, verified temp file waiting for its flush. */
export interface Unflushed<T> {
  rel: string;
  /**
   * Open on the temp file when its data still has to be synced; undefined when already synced. Closed
   * after `commit`, which may read the stat data of the file it put in place from it.
   */
  fd: number | undefined;
  /** Checks the destination and renames the temp file there, synchronously; returns what is recorded. */
  commit: () => { dest: string; value: T };
  /** Removes the temp file after a failure. */
  discard: () => void;
}

export interface BatchSinks<T> {
  /** Called once the file's data, its name and its directory are on disk. */
  durable: (rel: string, value: T) => void;
  failed: (rel: string, err: unknown) => void;
  /** Directories whose entries must be durable for `dest` to be: its parent and up to the root. */
  dirsOf: (dest: string) => string[];
  /** fsync of a directory; injected so a test can observe the order. */
  syncDir?: (dir: string) => Promise<void>;
  syncFile?: (fd: number) => Promise<void>;
}

/**
 * Synchronous: the data is down, so close has nothing to wait for, and a thread-pool round trip per
 * file cost more main-thread time than the call. The fd is released even when close reports an error.
 */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the fsync's result stands
  }
}

/**
 * Files queued at most, and by default open temp files held at most, queued or being flushed: a writer
 * waits for room beyond this (file descriptors are finite).
 */
export const BATCH_MAX = 256;

/** fsync of a directory: its entries (renames, new subdirectories) reach the disk. */
export async function syncDirectory(dir: string): Promise<void> {
  const fd = await openPath(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

/** The directories from `dest`'s parent up to `root` inclusive: a new one is durable once its parent is. */
export function dirsUpTo(root: string, dest: string): string[] {
  const dirs: string[] = [];
  for (let d = path.dirname(dest); ; d = path.dirname(d)) {
    dirs.push(d);
    if (d === root || !d.startsWith(`${root}/`)) break;
  }
  return dirs;
}

/**
 * Collects unflushed files and flushes them one batch at a time: while a flush runs, the next batch
 * fills, so the batch size follows the rate files arrive at with no timer.
 */
export class DurableBatch<T> {
  private queue: Unflushed<T>[] = [];
  private running: Promise<void> | undefined;
  private waiters: (() => void)[] = [];
  private error: unknown;
  /** Descriptors of the files added and not closed yet, queued or in the flush. */
  private held = 0;

  /** `maxOpen`: temp files held open at most (the run's share of its open-file limit). */
  constructor(
    private readonly sinks: BatchSinks<T>,
    private readonly maxOpen = BATCH_MAX,
  ) {}

  /** Adds a file; resolves once there is room for it (not when it is flushed). */
  async add(item: Unflushed<T>): Promise<void> {
    while (this.queue.length >= BATCH_MAX || (item.fd !== undefined && this.held >= this.maxOpen))
      await new Promise<void>((r) => this.waiters.push(r));
    if (item.fd !== undefined) this.held++;
    this.queue.push(item);
    this.running ??= this.loop();
  }

  /** Every waiting writer looks again for room: a queue emptied, or a descriptor closed. */
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private close(fd: number): void {
    closeQuietly(fd);
    this.held--;
    this.wake();
  }

  /** Resolves once every file added so far is flushed (or failed); rejects with a sink's error. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    if (this.error !== undefined) throw this.error;
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        this.wake();
        // Kept for drain: nobody awaits the loop itself, so a rejection here would go unhandled.
        await this.flush(batch).catch((err: unknown) => {
          this.error ??= err;
        });
      }
    } finally {
      this.running = undefined;
    }
  }

  private async flush(batch: Unflushed<T>[]): Promise<void> {
    const syncFile = this.sinks.syncFile ?? fsyncFd;
    const syncDir = this.sinks.syncDir ?? syncDirectory;
    const synced = await Promise.all(
      batch.map(async (item) => {
        if (item.fd === undefined) return true;
        try {
          await syncFile(item.fd);
          return true;
        } catch (err) {
          this.close(item.fd);
          this.fail(item, err);
          return false;
        }
      }),
    );
    const renamed: { rel: string; value: T }[] = [];
    const dirs = new Set<string>();
    batch.forEach((item, i) => {
      if (!synced[i]) return;
      try {
        const { dest, value } = item.commit();
        renamed.push({ rel: item.rel, value });
        for (const d of this.sinks.dirsOf(dest)) dirs.add(d);
      } catch (err) {
        this.fail(item, err);
      } finally {
        if (item.fd !== undefined) this.close(item.fd);
      }
    });
    let dirError: unknown;
    await Promise.all(
      // Descriptors short for a moment (see whileFdsShort) would fail every file of the batch.
      [...dirs].map((d) =>
        whileFdsShort(() => syncDir(d)).catch((err: unknown) => {
          dirError ??= err;
        }),
      ),
    );
    // A directory that could not be synced: its files are in place but not known durable, so not recorded.
    for (const r of renamed) {
      if (dirError === undefined) this.sinks.durable(r.rel, r.value);
      else this.sinks.failed(r.rel, dirError);
    }
  }

  private fail(item: Unflushed<T>, err: unknown): void {
    item.discard();
    this.sinks.failed(item.rel, err);
  }
}
