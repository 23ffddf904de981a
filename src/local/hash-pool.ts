import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type HashResult,
  hashFile,
  hashSmallFileSync,
  Scratch,
  type StreamDigest,
  StreamHasher,
} from './hash.js';
import type { WorkerRequest } from './hash-worker.js';
import { type ReadTarget, UNEXPECTED_FILE, UnexpectedFileError } from './open-file.js';

/** Below this a file is read and hashed synchronously: fewer round trips, a negligible block. */
export const SYNC_MAX = 1024 * 1024;

/** From this size a file is hashed on a worker thread: below it, the hand-off costs more than it saves. */
export const OFF_THREAD_MIN = 8 * 1024 * 1024;

/** Chunks a stream may have queued at its worker: bounds memory when MD5 falls behind the network. */
const MAX_IN_FLIGHT = 8;

interface Reply {
  id: number;
  result?: HashResult;
  results?: Array<{ result?: HashResult; error?: { message: string; code?: string } }>;
  ack?: true;
  /** Progress of a file's hash: bytes read since the last such message (not a reply). */
  read?: number;
  digest?: StreamDigest;
  error?: { message: string; code?: string };
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

/** Worker threads a pool runs: one core is left to the main thread and the server. */
export const HASH_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1));

/** A worker that answers requests by id: what it owes and whom it owes it to. */
interface Handler {
  onReply(m: Reply): void;
  onFail(err: Error): void;
}

class Slot {
  readonly w = new Worker(WORKER_URL);
  /** Replies still owed: the worker keeps the process alive only while someone waits on it. */
  private owed = 0;
  readonly handlers = new Map<number, Handler>();
  /** Crashed, or its pool closed: owes nothing any more. */
  dead = false;

  constructor(onFail: (slot: Slot, err: Error) => void) {
    this.w.unref();
    this.w.on('message', (m: Reply) => this.handlers.get(m.id)?.onReply(m));
    this.w.on('error', (err) => onFail(this, err));
    this.w.on('exit', (code) => onFail(this, new Error(`hash worker exited with code ${code}`)));
  }

  owe(n = 1): void {
    if (this.dead) return;
    if (this.owed === 0 && n > 0) this.w.ref();
    this.owed += n;
  }

  settle(n = 1): void {
    if (this.dead) return;
    this.owed -= n;
    if (this.owed === 0) this.w.unref();
  }

  post(msg: WorkerRequest, transfer?: ArrayBuffer[]): void {
    this.w.postMessage(msg, transfer);
  }

  /** Fails everything it owed; the worker no longer keeps the process alive. */
  fail(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    this.owed = 0;
    this.w.unref();
    for (const h of [...this.handlers.values()]) h.onFail(err);
    this.handlers.clear();
  }
}

/** A worker's error as the caller would have seen it on this thread: the class is lost in the message. */
const replyError = (e: NonNullable<Reply['error']>) =>
  e.code === UNEXPECTED_FILE
    ? new UnexpectedFileError(e.message)
    : Object.assign(new Error(e.message), { code: e.code });

/** Structured clone turns Buffers into Uint8Arrays. */
function revive(r: HashResult): HashResult {
  const partMd5s: Record<number, Buffer[]> = {};
  for (const [k, v] of Object.entries(r.partMd5s)) partMd5s[Number(k)] = v.map((u) => Buffer.from(u));
  return { ...r, partMd5s };
}

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
   * hashFile, on a worker thread for large files: MD5 is synchronous CPU work, and on the main thread
   * it would stall every transfer in flight while a 64 MiB file is read. `onRead` sees the progress of
   * files from SYNC_MAX up (in steps of a few MiB from a worker); a smaller one is read in one go.
   */
  async hashFile(
    src: ReadTarget,
    size: number,
    partSizes: number[] = [],
    onRead?: (bytes: number) => void,
  ): Promise<HashResult> {
    this.refuseClosed();
    if (size < SYNC_MAX) return hashSmallFileSync(src, partSizes, this.scratch);
    if (size < OFF_THREAD_MIN || !this.offThread) return hashFile(src, partSizes, onRead);
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
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.fail(new Error('hash pool closed'));
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

/** MD5 and multipart ETags of bytes fed in order; see startStreamHash. */
export interface StreamHash {
  /**
   * Feeds the next bytes. With `transfer`, a Buffer that alone spans its ArrayBuffer is moved to the
   * worker rather than copied, and is unusable afterwards. Resolves once the caller may send more.
   */
  update(buf: Buffer, transfer?: boolean): Promise<void>;
  digest(): Promise<StreamDigest>;
  /** Drops the hash; safe to call at any time, including after digest. */
  abort(): void;
}

class InThreadStream implements StreamHash {
  private h: StreamHasher | undefined;
  constructor(partSizes: number[]) {
    this.h = new StreamHasher(partSizes);
  }
  async update(buf: Buffer): Promise<void> {
    if (!this.h) throw new Error('stream hash already finished');
    this.h.update(buf);
  }
  async digest(): Promise<StreamDigest> {
    if (!this.h) throw new Error('stream hash already finished');
    const d = this.h.digest();
    this.h = undefined;
    return d;
  }
  abort(): void {
    this.h = undefined;
  }
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

class WorkerStream implements StreamHash, Handler {
  /** Chunks sent and not yet acknowledged. */
  private inFlight = 0;
  private owed = 0;
  private failed: Error | undefined;
  private closed = false;
  private room: Waiter<void> | undefined;
  private done: Waiter<StreamDigest> | undefined;

  constructor(
    readonly slot: Slot,
    private readonly id: number,
    partSizes: number[],
  ) {
    slot.handlers.set(id, this);
    slot.post({ op: 'start', id, partSizes });
  }

  async update(buf: Buffer, transfer = false): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('stream hash already finished');
    this.expect();
    this.inFlight++;
    const ab = buf.buffer;
    if (transfer && ab instanceof ArrayBuffer && buf.byteOffset === 0 && buf.byteLength === ab.byteLength)
      this.slot.post({ op: 'data', id: this.id, buf }, [ab]);
    else this.slot.post({ op: 'data', id: this.id, buf });
    if (this.inFlight > MAX_IN_FLIGHT)
      await new Promise<void>((resolve, reject) => {
        this.room = { resolve, reject };
      });
  }

  digest(): Promise<StreamDigest> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('stream hash already finished'));
    this.closed = true;
    this.expect();
    this.slot.post({ op: 'end', id: this.id });
    return new Promise<StreamDigest>((resolve, reject) => {
      this.done = { resolve, reject };
    });
  }

  abort(): void {
    if (!this.slot.handlers.has(this.id)) return;
    this.slot.post({ op: 'abort', id: this.id });
    this.finish(new Error('stream hash aborted'));
  }

  onReply(m: Reply): void {
    if (m.error) {
      this.onFail(replyError(m.error));
      return;
    }
    this.owed--;
    this.slot.settle();
    if (m.ack) {
      this.inFlight--;
      if (this.room && this.inFlight <= MAX_IN_FLIGHT) {
        const r = this.room;
        this.room = undefined;
        r.resolve();
      }
    } else if (m.digest) {
      this.slot.handlers.delete(this.id);
      this.done?.resolve(m.digest);
      this.done = undefined;
    }
  }

  onFail(err: Error): void {
    this.failed = err;
    this.finish(err);
  }

  private expect(): void {
    this.owed++;
    this.slot.owe();
  }

  /** Stops waiting on the worker: replies it still owes no longer keep the process alive. */
  private finish(err: Error): void {
    this.slot.handlers.delete(this.id);
    if (this.owed > 0) this.slot.settle(this.owed);
    this.owed = 0;
    this.closed = true;
    this.room?.reject(err);
    this.done?.reject(err);
    this.room = this.done = undefined;
  }
}
