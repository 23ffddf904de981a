import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type HashResult, hashFile, hashSmallFileSync, type StreamDigest, StreamHasher } from './hash.js';
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

interface Slot {
  w: Worker;
  /** Replies still owed: the worker keeps the process alive only while someone waits on it. */
  owed: number;
}

interface Handler {
  slot: Slot;
  onReply(m: Reply): void;
  onFail(err: Error): void;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);
let built: boolean | undefined;
/** The compiled worker sits beside this module in dist/; run from TypeScript sources (tests), it does not. */
const workerBuilt = () => (built ??= existsSync(fileURLToPath(WORKER_URL)));

let slots: Slot[] = [];
let next = 0;
let seq = 0;
const handlers = new Map<number, Handler>();

function owe(slot: Slot, n = 1): void {
  if (slot.owed === 0 && n > 0) slot.w.ref();
  slot.owed += n;
}

function settle(slot: Slot, n = 1): void {
  slot.owed -= n;
  if (slot.owed === 0) slot.w.unref();
}

function post(slot: Slot, msg: WorkerRequest, transfer?: ArrayBuffer[]): void {
  slot.w.postMessage(msg, transfer);
}

/** A crashed worker fails everything it owed and leaves the pool; the next request starts a fresh one. */
function failSlot(slot: Slot, err: Error): void {
  slots = slots.filter((x) => x !== slot);
  slot.owed = 0;
  slot.w.unref();
  for (const h of [...handlers.values()]) if (h.slot === slot) h.onFail(err);
}

function pickSlot(): Slot {
  if (slots.length === 0) {
    const n = Math.max(1, Math.min(2, availableParallelism() - 1));
    slots = Array.from({ length: n }, () => {
      const slot: Slot = { w: new Worker(WORKER_URL), owed: 0 };
      slot.w.unref();
      slot.w.on('message', (m: Reply) => handlers.get(m.id)?.onReply(m));
      slot.w.on('error', (err) => failSlot(slot, err));
      slot.w.on('exit', (code) => failSlot(slot, new Error(`hash worker exited with code ${code}`)));
      return slot;
    });
  }
  return slots[next++ % slots.length]!;
}

/** A worker's error as the caller would have seen it on this thread: the class is lost in the message. */
const replyError = (e: NonNullable<Reply['error']>) =>
  e.code === UNEXPECTED_FILE
    ? new UnexpectedFileError(e.message)
    : Object.assign(new Error(e.message), { code: e.code });

/** One request to a worker and its one reply (or the worker's failure); `onRead` sees its progress. */
function ask<T>(
  request: (id: number) => WorkerRequest,
  take: (m: Reply) => T,
  onRead?: (bytes: number) => void,
): Promise<T> {
  const slot = pickSlot();
  const id = ++seq;
  return new Promise<T>((resolve, reject) => {
    handlers.set(id, {
      slot,
      onReply(m) {
        if (m.read !== undefined) {
          onRead?.(m.read);
          return;
        }
        handlers.delete(id);
        settle(slot);
        if (m.error) reject(replyError(m.error));
        else resolve(take(m));
      },
      onFail(err) {
        handlers.delete(id);
        reject(err);
      },
    });
    owe(slot);
    post(slot, request(id));
  });
}

/** Structured clone turns Buffers into Uint8Arrays. */
function revive(r: HashResult): HashResult {
  const partMd5s: Record<number, Buffer[]> = {};
  for (const [k, v] of Object.entries(r.partMd5s)) partMd5s[Number(k)] = v.map((u) => Buffer.from(u));
  return { ...r, partMd5s };
}

/**
 * hashFile, on a worker thread for large files: MD5 is synchronous CPU work, and on the main thread it
 * would stall every transfer in flight while a 64 MiB file is read. `onRead` sees the progress of files
 * from SYNC_MAX up (in steps of a few MiB from a worker); a smaller one is read in one go.
 */
export async function hashFileAsync(
  src: ReadTarget,
  size: number,
  partSizes: number[] = [],
  onRead?: (bytes: number) => void,
): Promise<HashResult> {
  if (size < SYNC_MAX) return hashSmallFileSync(src, partSizes);
  if (size < OFF_THREAD_MIN || !workerBuilt()) return hashFile(src, partSizes, onRead);
  return ask(
    (id) => ({ op: 'file', id, src, partSizes }),
    (m) => revive(m.result!),
    onRead,
  );
}

/** Whether hashing can go to a worker thread: not when run from the TypeScript sources (tests). */
export const offThreadAvailable = () => workerBuilt();

/**
 * Small files (below SYNC_MAX) hashed synchronously on a worker thread, as one message: the calling
 * thread hashes others meanwhile.
 */
export function hashSmallFilesOffThread(
  files: Array<{ src: ReadTarget; partSizes: number[] }>,
): Promise<Array<HashResult | Error>> {
  return ask(
    (id) => ({ op: 'files', id, files }),
    (m) => m.results!.map((r) => (r.error ? replyError(r.error) : revive(r.result!))),
  );
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
    handlers.set(id, this);
    post(slot, { op: 'start', id, partSizes });
  }

  async update(buf: Buffer, transfer = false): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.closed) throw new Error('stream hash already finished');
    this.expect();
    this.inFlight++;
    const ab = buf.buffer;
    if (transfer && ab instanceof ArrayBuffer && buf.byteOffset === 0 && buf.byteLength === ab.byteLength)
      post(this.slot, { op: 'data', id: this.id, buf }, [ab]);
    else post(this.slot, { op: 'data', id: this.id, buf });
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
    post(this.slot, { op: 'end', id: this.id });
    return new Promise<StreamDigest>((resolve, reject) => {
      this.done = { resolve, reject };
    });
  }

  abort(): void {
    if (!handlers.has(this.id)) return;
    post(this.slot, { op: 'abort', id: this.id });
    this.finish(new Error('stream hash aborted'));
  }

  onReply(m: Reply): void {
    if (m.error) {
      this.onFail(replyError(m.error));
      return;
    }
    this.owed--;
    settle(this.slot);
    if (m.ack) {
      this.inFlight--;
      if (this.room && this.inFlight <= MAX_IN_FLIGHT) {
        const r = this.room;
        this.room = undefined;
        r.resolve();
      }
    } else if (m.digest) {
      handlers.delete(this.id);
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
    owe(this.slot);
  }

  /** Stops waiting on the worker: replies it still owes no longer keep the process alive. */
  private finish(err: Error): void {
    handlers.delete(this.id);
    if (this.owed > 0 && slots.includes(this.slot)) settle(this.slot, this.owed);
    this.owed = 0;
    this.closed = true;
    this.room?.reject(err);
    this.done?.reject(err);
    this.room = this.done = undefined;
  }
}

/**
 * Hashes a stream of bytes as it is written, for downloads: on a worker thread from OFF_THREAD_MIN
 * bytes (when the compiled worker exists), so MD5 runs beside network reads and file writes.
 */
export function startStreamHash(partSizes: number[], size: number): StreamHash {
  if (size < OFF_THREAD_MIN || !workerBuilt()) return new InThreadStream(partSizes);
  return new WorkerStream(pickSlot(), ++seq, partSizes);
}
