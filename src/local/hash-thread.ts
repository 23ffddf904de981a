import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { type HashResult, type StreamDigest, StreamHasher } from './hash.js';
import type { WorkerRequest } from './hash-worker.js';
import { UNEXPECTED_FILE, UnexpectedFileError } from './open-file.js';

// One hash worker thread, as the pool (hash-pool.ts) sees it: the requests it owes replies to, and the
// stream hashes it runs for downloads.

/** Chunks a stream may have queued at its worker: bounds memory when MD5 falls behind the network. */
const MAX_IN_FLIGHT = 8;

export interface Reply {
  id: number;
  result?: HashResult;
  results?: Array<{ result?: HashResult; error?: { message: string; code?: string } }>;
  ack?: true;
  /** Progress of a file's hash: bytes read since the last such message (not a reply). */
  read?: number;
  digest?: StreamDigest;
  error?: { message: string; code?: string };
}

// Through the parent directory: the same file from dist/local/ and from the CLI bundle in dist/cli/.
// worker_threads loads with the first worker: a run that hashes nothing off the main thread (a no-change
// push) never needs it.
const require = createRequire(import.meta.url);
const workerThreads = () => require('node:worker_threads') as typeof import('node:worker_threads');

export const WORKER_URL = new URL('../local/hash-worker.js', import.meta.url);

/** Who waits on a worker's replies to one request id. */
export interface Handler {
  onReply(m: Reply): void;
  onFail(err: Error): void;
}

/** One worker thread of a pool, and the replies it owes. */
export class Slot {
  readonly w: Worker = new (workerThreads().Worker)(WORKER_URL);
  /** Replies still owed: the worker keeps the process alive only while someone waits on it. */
  private owed = 0;
  readonly handlers = new Map<number, Handler>();
  /** Crashed, or its pool closed: owes nothing any more. */
  dead = false;

  constructor(onFail: (slot: Slot, err: Error) => void) {
    this.w.on('message', (m: Reply) => this.handlers.get(m.id)?.onReply(m));
    this.w.on('error', (err) => onFail(this, err));
    this.w.on('exit', (code) => onFail(this, new Error(`hash worker exited with code ${code}`)));
    // After the listeners: a 'message' listener refs the worker's port again.
    this.w.unref();
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
export const replyError = (e: NonNullable<Reply['error']>) =>
  e.code === UNEXPECTED_FILE
    ? new UnexpectedFileError(e.message)
    : Object.assign(new Error(e.message), { code: e.code });

/** Structured clone turns Buffers into Uint8Arrays. */
export function revive(r: HashResult): HashResult {
  const partMd5s: Record<number, Buffer[]> = {};
  for (const [k, v] of Object.entries(r.partMd5s)) partMd5s[Number(k)] = v.map((u) => Buffer.from(u));
  return { ...r, partMd5s };
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

export class InThreadStream implements StreamHash {
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

export class WorkerStream implements StreamHash, Handler {
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
