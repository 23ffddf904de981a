import { CANCEL_GRACE_MS } from '../abort-listeners.js';
import { Limiter } from '../limiter.js';
import type { SyncEvent } from '../sync/events.js';
import { type HashJob, HashProgress } from '../sync/progress.js';
import { type HashResult, hashSmallFilesSync, Scratch } from './hash.js';
import { HASH_THREADS, HashPool, OFF_THREAD_MIN, SYNC_MAX } from './hash-pool.js';
import { lanesOnFirstUse } from './md5-lanes.js';
import type { ReadSource } from './open-file.js';
import { absPath, type LocalFile } from './scan.js';

/** Mid-size files hashed in the background at a time (on this thread: MD5 is CPU-bound). */
const LIGHT_CONCURRENCY = 2;

/**
 * Large files (worker threads) hashed at a time: one per worker thread. On 2 cores, one at a time also
 * hands over the first file's MD5, and with it the first upload's Content-MD5, in half the time two
 * files hashed side by side would take, so the first PUT starts sooner.
 */
const HEAVY_CONCURRENCY = HASH_THREADS;

/** Hashes the plan asks for at a time (see gatherFacts): MD5 is CPU-bound and there are few cores. */
export const HASH_CONCURRENCY = 4;

/** Time given to small-file hashing per turn of the event loop. */
const SMALL_SLICE_MS = 4;

/**
 * Small files waiting from which this thread hashes them in SIMD lanes: one or two alone would use a
 * lane or two of eight, slower than OpenSSL's one stream.
 */
const LANES_FROM = 4;

/** A worker hashes small files only from a queue at least this long: a short one is done here sooner. */
export const SMALL_BATCH = 256;

/**
 * A worker's batch: a quarter of the queue, at most this many files. Large enough that the worker
 * rarely waits on this thread (busy with a listing page) for its next batch; a quarter, so that at the
 * end of the queue neither thread is left waiting long for the other's last files.
 */
const BATCH_MAX = 512;

/** Batches a worker holds at a time: the next one is there when it finishes the first. */
const BATCHES_IN_FLIGHT = 2;

/** The scan's file a hash is asked for: every read checks it opened this one. */
export type ScannedFile = Pick<LocalFile, 'rel' | 'size' | 'dev' | 'ino'>;

interface SmallJob {
  src: ReadSource;
  partSizes: number[];
  resolve(r: HashResult): void;
  reject(err: unknown): void;
}

interface Job {
  sizes: ReadonlySet<number>;
  promise: Promise<HashResult>;
}

/**
 * A run's local hashes, each file read at most once. `prefetch` starts hashing early, while the listing
 * is still arriving, for files whose hash the plan will ask for whatever the listing says; the planner
 * and the uploads then `get` the result instead of reading the file again. Prefetching changes when a
 * file is read, never what is decided: every result carries the stat data it was taken with.
 */
const noop = () => {};

/** The part sizes of a job that has none: most files, so one Set serves them all. */
const NO_PART_SIZES: ReadonlySet<number> = new Set();
const sizesOf = (partSizes: readonly number[]): ReadonlySet<number> =>
  partSizes.length === 0 ? NO_PART_SIZES : new Set(partSizes);

/**
 * Nobody may ask for a job's result (the listing can make it moot): its failure is reported only by
 * `get`. A tracked job's end already handles it, so no second handler is chained.
 */
function settleQuietly(promise: Promise<HashResult>, tracked: HashJob | undefined): void {
  if (tracked) promise.then(tracked.end, tracked.end);
  else promise.catch(noop);
}

export class HashCache {
  /** The run's worker threads, started by the first file that needs them. */
  readonly pool = new HashPool();
  private jobs = new Map<string, Job>();
  private light = new Limiter(LIGHT_CONCURRENCY);
  private heavy: Limiter;
  private readonly scratch = new Scratch();
  /** Made by the first queue of small files long enough for them. */
  private readonly lanes = lanesOnFirstUse();
  /** Small files waiting: this thread takes from the front, a worker batches from the back. */
  private small: SmallJob[] = [];
  private smallScheduled = false;
  private batchesInFlight = 0;

  private readonly follow: boolean;
  private readonly progress?: HashProgress;
  /** Aborted when a cancel's grace ends: the hashes on this thread stop between chunks. */
  private readonly stop = new AbortController();
  private grace: NodeJS.Timeout | undefined;
  private readonly graceMs: number;
  /** Set by cancel: no hash starts after it (a failed one retried would read the file anew). */
  private cancelled: { reason: unknown } | undefined;

  /** `onProgress`: the run's hashing so far, throttled (see HashProgress) by `now`'s clock. */
  constructor(
    private readonly root: string,
    opts: {
      heavyConcurrency?: number;
      followSymlinks?: boolean;
      onProgress?: (e: Extract<SyncEvent, { type: 'hashing' }>) => void;
      now?: () => number;
      cancelGraceMs?: number;
    } = {},
  ) {
    this.graceMs = opts.cancelGraceMs ?? CANCEL_GRACE_MS;
    this.heavy = new Limiter(opts.heavyConcurrency ?? HEAVY_CONCURRENCY);
    this.follow = opts.followSymlinks ?? false;
    if (opts.onProgress) this.progress = new HashProgress(opts.onProgress, opts.now);
  }

  /**
   * A downloaded file's check (its ranges in), reported with the run's hashing (see `get`). Stopped by a
   * cancel's grace as the cache's own hashes are: one asked for after it would start a thread nothing ends.
   */
  hashDownload(abs: string, size: number, partSizes: number[]): Promise<HashResult> {
    const job = this.progress?.job(size);
    return this.pool.hashFile(abs, size, partSizes, job?.read, this.stop.signal).finally(job?.end);
  }

  /** Where a file is read, and the scanned file the read must find there. */
  private source(f: ScannedFile): ReadSource {
    return { abs: absPath(this.root, f.rel), expect: { dev: f.dev, ino: f.ino }, follow: this.follow };
  }

  /** Queues a background hash; a no-op when one was already started. */
  prefetch(f: ScannedFile, partSizes: number[] = []): void {
    const { rel, size } = f;
    if (this.jobs.has(rel) || this.cancelled) return;
    const src = this.source(f);
    const tracked = this.progress?.job(size);
    const lane = size >= OFF_THREAD_MIN ? this.heavy : this.light;
    const promise =
      size < SYNC_MAX
        ? new Promise<HashResult>((resolve, reject) => this.small.push({ src, partSizes, resolve, reject }))
        : lane.run(() => this.pool.hashFile(src, size, partSizes, tracked?.read, this.stop.signal));
    settleQuietly(promise, tracked);
    this.jobs.set(rel, { sizes: sizesOf(partSizes), promise });
    if (size < SYNC_MAX) {
      this.feedWorker();
      this.scheduleSmall();
    }
  }

  /** The file's hash with multipart ETags for `partSizes`: the prefetched one if it has them. */
  get(f: ScannedFile, partSizes: number[] = []): Promise<HashResult> {
    const job = this.jobs.get(f.rel);
    if (job && partSizes.every((ps) => job.sizes.has(ps))) return job.promise;
    if (this.cancelled) return Promise.reject(this.cancelled.reason);
    const sizes = [...new Set([...(job?.sizes ?? []), ...partSizes])];
    const tracked = this.progress?.job(f.size);
    // After a read already under way for fewer sizes: one reader of a file at a time, and that read
    // (and its progress) ends before the result it could not give.
    const before = job ? job.promise.then(noop, noop) : Promise.resolve();
    const promise = before.then(() =>
      this.pool.hashFile(this.source(f), f.size, sizes, tracked?.read, this.stop.signal),
    );
    settleQuietly(promise, tracked);
    this.jobs.set(f.rel, { sizes: sizesOf(sizes), promise });
    return promise;
  }

  /** Forgets a file's hash: it changed, and the next `get` must read it again. */
  forget(rel: string): void {
    this.jobs.delete(rel);
  }

  private scheduleSmall(): void {
    if (this.smallScheduled) return;
    this.smallScheduled = true;
    setImmediate(() => this.pumpSmall());
  }

  /**
   * A few milliseconds of small-file hashing per turn of the event loop: the turns cost little, and a
   * listing page's response is still read, and the next page asked for, without waiting on the hashing.
   */
  private pumpSmall(): void {
    this.smallScheduled = false;
    const until = performance.now() + SMALL_SLICE_MS;
    let i = 0;
    hashSmallFilesSync(
      () => (i < this.small.length && performance.now() < until ? this.small[i++] : undefined),
      (job, result) => job.resolve(result),
      (job, err) => job.reject(err),
      this.small.length >= LANES_FROM ? this.lanes() : undefined,
      this.scratch,
    );
    this.small.splice(0, i);
    if (this.small.length > 0) this.scheduleSmall();
  }

  /**
   * A rebuild hashes thousands of small files: a worker takes batches from the back of the queue while
   * this thread works from the front, so two cores hash; only while the queue is long (SMALL_BATCH).
   */
  private feedWorker(): void {
    while (
      this.batchesInFlight < BATCHES_IN_FLIGHT &&
      this.small.length >= SMALL_BATCH &&
      this.pool.offThread
    ) {
      const n = Math.min(BATCH_MAX, Math.floor(this.small.length / 4));
      const batch = this.small.splice(this.small.length - n, n);
      this.batchesInFlight++;
      this.pool
        .hashSmallFiles(batch.map((j) => ({ src: j.src, partSizes: j.partSizes })))
        .then(
          (results) => {
            results.forEach((r, i) => {
              if (r instanceof Error) batch[i]!.reject(r);
              else batch[i]!.resolve(r);
            });
          },
          (err: unknown) => {
            for (const j of batch) j.reject(err);
          },
        )
        .finally(() => {
          this.batchesInFlight--;
          this.feedWorker();
        });
    }
  }

  /** Starts the worker threads now: a rebuild's hashing is on its way (see EarlyListing). */
  warm(): void {
    this.pool.warm();
  }

  /**
   * A cancelled run reads no more files: the hashes not started yet are dropped, their promises
   * rejected with `reason`; the few running get CANCEL_GRACE_MS to finish, then are rejected too.
   */
  cancel(reason: unknown): void {
    this.cancelled ??= { reason };
    this.drop(reason);
    if (this.grace !== undefined || this.stop.signal.aborted) return;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    this.grace = setTimeout(() => {
      this.stop.abort(err);
      void this.pool.abortRunning(err);
    }, this.graceMs);
  }

  private drop(reason: unknown): void {
    for (const job of this.small.splice(0)) job.reject(reason);
    this.heavy.drop(reason);
    this.light.drop(reason);
  }

  /**
   * The run is over: the hashes not started are dropped, as by `cancel`, and the worker threads end
   * (a hash one was still running for nobody, the listing having made it moot, is rejected).
   */
  async close(): Promise<void> {
    clearTimeout(this.grace);
    this.drop(new Error('hash cache closed'));
    await this.pool.close();
  }
}
