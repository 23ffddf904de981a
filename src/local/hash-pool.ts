import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type HashResult, hashFile, hashSmallFileSync } from './hash.js';

/** Below this a file is read and hashed synchronously: fewer round trips, a negligible block. */
const SYNC_MAX = 1024 * 1024;

/** From this size a file is hashed on a worker thread: below it, the hand-off costs more than it saves. */
const OFF_THREAD_MIN = 8 * 1024 * 1024;

interface Pending {
  resolve: (r: HashResult) => void;
  reject: (e: Error) => void;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);
let built: boolean | undefined;
/** The compiled worker sits beside this module in dist/; run from TypeScript sources (tests), it does not. */
const workerBuilt = () => (built ??= existsSync(fileURLToPath(WORKER_URL)));

let workers: Worker[] = [];
let next = 0;
let seq = 0;
const pending = new Map<number, Pending>();

function pool(): Worker[] {
  if (workers.length > 0) return workers;
  const n = Math.max(1, Math.min(2, availableParallelism() - 1));
  workers = Array.from({ length: n }, () => {
    const w = new Worker(WORKER_URL);
    w.unref();
    w.on('message', (m: { id: number; result?: HashResult; error?: { message: string; code?: string } }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(revive(m.result!));
    });
    w.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      workers = [];
    });
    return w;
  });
  return workers;
}

/** Structured clone turns Buffers into Uint8Arrays. */
function revive(r: HashResult): HashResult {
  const partMd5s: Record<number, Buffer[]> = {};
  for (const [k, v] of Object.entries(r.partMd5s)) partMd5s[Number(k)] = v.map((u) => Buffer.from(u));
  return { ...r, partMd5s };
}

/**
 * hashFile, on a worker thread for large files: MD5 is synchronous CPU work, and on the main thread it
 * would stall every transfer in flight while a 64 MiB file is read.
 */
export async function hashFileAsync(
  abs: string,
  size: number,
  partSizes: number[] = [],
): Promise<HashResult> {
  if (size < SYNC_MAX) return hashSmallFileSync(abs, partSizes);
  if (size < OFF_THREAD_MIN || !workerBuilt()) return hashFile(abs, partSizes);
  const ws = pool();
  const id = ++seq;
  const w = ws[next++ % ws.length]!;
  w.ref();
  return new Promise<HashResult>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.postMessage({ id, abs, partSizes });
  }).finally(() => {
    if (pending.size === 0) for (const x of workers) x.unref();
  });
}
