/**
 * The process's open-file limit (RLIMIT_NOFILE), and how a run shares it out. Node raises the soft
 * limit to the hard one at start, so a low limit is a hard one (a container's, or a systemd unit's
 * LimitNOFILE=): sockets, files being read or written and the temp files that wait for the group
 * commit's fsync all hold a descriptor, and past the limit every open fails with EMFILE.
 */
import { readFileSync } from 'node:fs';
import { sleep } from '../abort-listeners.js';

/**
 * The soft "Max open files" of /proc/self/limits, or undefined where there is none (not Linux) or it is
 * unlimited: then nothing is capped.
 */
export function openFileLimit(read = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return m?.[1] !== undefined && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
}

/**
 * Descriptors one request slot may hold: its sockets (the pool keeps twice the request limit, see
 * createS3Client) and the file it reads or writes.
 */
export const FDS_PER_WORKER = 3;

/** Below this, even one worker may find no descriptor: the run stops and says so. */
export const MIN_OPEN_FILES = 32;

/** How a run with `limit` open files at most shares them out. */
export interface FdBudget {
  /** The process's limit, for messages. */
  limit: number;
  /** Request slots at most (workers, and so sockets). */
  workers: number;
  /** Temp files the group commit holds open at most. */
  batch: number;
}

/**
 * Half the limit for the workers and the group commit together, shared half and half; the other half is
 * left for what the run opens besides (Node's own, listing, hashing, the manifest and its lock).
 */
export function fdBudget(limit: number | undefined): FdBudget | undefined {
  if (limit === undefined) return undefined;
  const half = Math.floor(limit / 2);
  const workers = Math.max(1, Math.floor(half / 2 / FDS_PER_WORKER));
  return { limit, workers, batch: Math.max(1, half - workers * FDS_PER_WORKER) };
}

/** EMFILE (this process's limit) or ENFILE (the system's): descriptors short for now. */
export function isFdShortage(err: unknown): boolean {
  // Already retried for as long as allowed: an outer retry would only multiply the wait.
  if (err instanceof FdShortageError) return false;
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (code === 'EMFILE' || code === 'ENFILE') return true;
    // A socket's connect failure reaches some callers only as text ("connect EMFILE 127.0.0.1:9000").
    if (typeof message === 'string' && /\bE[MN]FILE\b/.test(message)) return true;
    e = cause;
  }
  return false;
}

/** Waits before each retry: the descriptors other work holds are closed as it ends. */
const SHORTAGE_DELAYS_MS = [50, 100, 200, 400, 800, 1600, 3200];

/** The line for descriptors still short after every retry. */
export const fdShortageMessage = (limit: number | undefined) =>
  `too many open files (EMFILE): raise ulimit -n${limit === undefined ? '' : ` (now ${limit})`} or lower --workers`;

/**
 * Runs fn, and again after a growing wait while it fails for want of descriptors (bounded: about 6 s in
 * all), so that a brief shortage delays files rather than failing each at once. Still short, it fails
 * with one line naming the limit.
 */
export async function whileFdsShort<T>(
  fn: () => Promise<T>,
  opts: { limit?: number; signal?: AbortSignal; delaysMs?: readonly number[] } = {},
): Promise<T> {
  const delays = opts.delaysMs ?? SHORTAGE_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isFdShortage(err) || opts.signal?.aborted) throw err;
      const delay = delays[attempt];
      if (delay === undefined) throw new FdShortageError(fdShortageMessage(opts.limit), { cause: err });
      await sleep(delay, opts.signal);
    }
  }
}

/** Descriptors still short after every retry: `code` keeps it a local failure (see isLocalError). */
export class FdShortageError extends Error {
  readonly code = 'EMFILE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FdShortageError';
  }
}
