import type { HashResult } from '../local/hash.js';
import { hashFileAsync } from '../local/hash-pool.js';
import { absPath } from '../local/scan.js';

/** Background hashing runs this many files at a time: MD5 is CPU-bound, and the server shares the cores. */
const PREFETCH_CONCURRENCY = 2;

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
export class HashCache {
  private jobs = new Map<string, Job>();
  private queue: Array<() => void> = [];
  private running = 0;

  constructor(private readonly root: string) {}

  /** Queues a background hash; a no-op when one was already started. */
  prefetch(rel: string, size: number, partSizes: number[] = []): void {
    if (this.jobs.has(rel)) return;
    const promise = new Promise<HashResult>((resolve, reject) => {
      this.queue.push(() => {
        this.running++;
        hashFileAsync(absPath(this.root, rel), size, partSizes)
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            // Small files hash synchronously: a chain of them in microtasks would hold back the
            // listing's next request until the whole page is hashed. Let I/O in between.
            setImmediate(() => this.pump());
          });
      });
    });
    // Nobody may ask for it (the listing can make it moot): its failure is reported only by `get`.
    promise.catch(() => {});
    this.jobs.set(rel, { sizes: new Set(partSizes), promise });
    this.pump();
  }

  /** The file's hash with multipart ETags for `partSizes`: the prefetched one if it has them. */
  get(rel: string, size: number, partSizes: number[] = []): Promise<HashResult> {
    const job = this.jobs.get(rel);
    if (job && partSizes.every((ps) => job.sizes.has(ps))) return job.promise;
    const sizes = [...new Set([...(job?.sizes ?? []), ...partSizes])];
    const promise = hashFileAsync(absPath(this.root, rel), size, sizes);
    promise.catch(() => {});
    this.jobs.set(rel, { sizes: new Set(sizes), promise });
    return promise;
  }

  /** Forgets a file's hash: it changed, and the next `get` must read it again. */
  forget(rel: string): void {
    this.jobs.delete(rel);
  }

  private pump(): void {
    while (this.running < PREFETCH_CONCURRENCY && this.queue.length > 0) this.queue.shift()!();
  }
}
