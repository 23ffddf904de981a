import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type HashResult, hashFile, hashSmallFileSync, Scratch } from './hash.js';
import {
  InThreadStream,
  type Reply,
  replyError,
  revive,
  Slot,
  type StreamHash,
  WORKER_URL,
  WorkerStream,
} from './hash-thread.js';
import type { WorkerRequest } from './hash-worker.js';
import type { ReadTarget } from './open-file.js';

export type { StreamHash } from './hash-thread.js';

/** Below this a file is read and hashed synchronously: fewer round trips, a negligible block. */
export const SYNC_MAX = 1024 * 1024;

/** From this size a file is hashed on a worker thread: below it, the hand-off costs more than it saves. */
export const OFF_THREAD_MIN = 8 * 1024 * 1024;

/** Worker threads a pool runs: one core is left to the main thread and the server. */
export const HASH_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1));

/**
 * A run's hashing threads. The workers start on the first file large enough to need them, so a run
 * that hashes nothing, or only small files, never pays for them; idle, they do not keep the process
 * alive. close() ends them: what they still owed is rejected, and work asked of a closed pool too.
 */
export class HashPool {
  private slots: Slot[] = [];
  private next = 0;
  private seq = 0;
  private closed = false;
  private built: boolean | undefined;
  /** One buffer for this pool's synchronous hashes, which never overlap. */
  private readonly scratch = new Scratch();

  constructor(private readonly workers = HASH_THREADS) {}

  /** Worker threads running now: none until a file needs one, none after close(). */
  get threads(): number {
    return this.slots.length;
  }

  /** Whether hashing can go to a worker thread: not when run from the TypeScript sources (tests). */
  get offThread(): boolean {
    // The compiled worker sits beside this module in dist/; run from TypeScript sources, it does not.
    this.built ??= existsSync(fileURLToPath(WORKER_URL));
    return this.built;
  }

  /**
   * Starts the worker threads before there is work for them, when work is known to be coming: a
   * thread's start-up (loading its modules) then overlaps what comes before the work.
   */
  warm(): void {
    if (!this.closed && this.offThread && this.slots.length === 0) this.pickSlot();
  }

  /**
   * hashFile, on a worker thread for large files: MD5 is synchronous CPU work, and on the main thread
   * it would stall every transfer in flight while a 64 MiB file is read. `onRead` sees the progress of
   * files from SYNC_MAX up (in steps of a few MiB from a worker); a smaller one is read in one go.
   */
  async hashFile(
    src: ReadTarget,
    size: number,
    partSizes: number[] = [],
    onRead?: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<HashResult> {
    this.refuseClosed();
    signal?.throwIfAborted();
    if (size < SYNC_MAX) return hashSmallFileSync(src, partSizes, this.scratch);
    // On a worker, `signal` is not seen: abortRunning() ends the thread instead.
    if (size < OFF_THREAD_MIN || !this.offThread) return hashFile(src, partSizes, onRead, signal);
    return this.ask(
      (id) => ({ op: 'file', id, src, partSizes }),
      (m) => revive(m.result!),
      onRead,
    );
  }

  /**
   * Small files (below SYNC_MAX) hashed synchronously on a worker thread, as one message: the calling
   * thread hashes others meanwhile.
   */
  hashSmallFiles(files: Array<{ src: ReadTarget; partSizes: number[] }>): Promise<Array<HashResult | Error>> {
    return this.ask(
      (id) => ({ op: 'files', id, files }),
      (m) => m.results!.map((r) => (r.error ? replyError(r.error) : revive(r.result!))),
    );
  }

  /**
   * Hashes a stream of bytes as it is written, for downloads: on a worker thread from OFF_THREAD_MIN
   * bytes (when the compiled worker exists), so MD5 runs beside network reads and file writes.
   */
  startStreamHash(partSizes: number[], size: number): StreamHash {
    this.refuseClosed();
    if (size < OFF_THREAD_MIN || !this.offThread) return new InThreadStream(partSizes);
    return new WorkerStream(this.pickSlot(), ++this.seq, partSizes);
  }

  /**
   * Ends the workers. Hashes they were running, or that were asked of the pool after, are rejected;
   * hashes on this thread finish. Resolves once the workers have exited.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.abortRunning(new Error('hash pool closed'));
  }

  /**
   * Rejects with `reason` whatever the worker threads were hashing, and ends them (a hash cannot be
   * stopped mid-read any other way); a later hash starts fresh threads.
   */
  async abortRunning(reason: Error): Promise<void> {
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.fail(reason);
    await Promise.all(slots.map((slot) => slot.w.terminate()));
  }

  private refuseClosed(): void {
    if (this.closed) throw new Error('hash pool closed');
  }

  /** A crashed worker fails everything it owed and leaves the pool; the next request starts a fresh one. */
  private readonly failSlot = (slot: Slot, err: Error): void => {
    this.slots = this.slots.filter((x) => x !== slot);
    slot.fail(err);
  };

  private pickSlot(): Slot {
    this.refuseClosed();
    if (this.slots.length === 0)
      this.slots = Array.from({ length: this.workers }, () => new Slot(this.failSlot));
    return this.slots[this.next++ % this.slots.length]!;
  }

  /** One request to a worker and its one reply (or the worker's failure); `onRead` sees its progress. */
  private ask<T>(
    request: (id: number) => WorkerRequest,
    take: (m: Reply) => T,
    onRead?: (bytes: number) => void,
  ): Promise<T> {
    let slot: Slot;
    try {
      slot = this.pickSlot();
    } catch (err) {
      return Promise.reject(err);
    }
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      slot.handlers.set(id, {
        onReply(m) {
          if (m.read !== undefined) {
            onRead?.(m.read);
            return;
          }
          slot.handlers.delete(id);
          slot.settle();
          if (m.error) reject(replyError(m.error));
          else resolve(take(m));
        },
        onFail(err) {
          slot.handlers.delete(id);
          reject(err);
        },
      });
      slot.owe();
      slot.post(request(id));
    });
  }
}
