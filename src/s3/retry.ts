import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter } from '../limiter.js';
import { isRetryable, isThrottle } from './errors.js';

/** How far the request limit may grow on its own (see AdaptiveLimiter). */
export interface Growth {
  /** Never above this. */
  max: number;
  /** Throughput is compared over windows at least this long. */
  windowMs?: number;
  now?: () => number;
}

/** A window's throughput must beat the last by this factor for the limit to grow again. */
const GAIN = 1.1;

/**
 * Concurrency limit for S3 requests. It halves when the server throttles and grows back one slot per
 * 20 successes up to where it started: AIMD, as TCP does, so a store answering SlowDown gets fewer
 * requests instead of more retries. Above its start it grows only while that pays: when requests
 * queue for a slot (the run wants more than the limit) and the completions per second of a window beat
 * those of the window before by GAIN, the limit grows by a quarter, up to `growth.max`; the first
 * window that gains nothing ends the growth, and so does throttling, at the limit it happened at. On a
 * high-latency link the limit climbs to where the link, not the limit, bounds the run; against a
 * server that is already the bottleneck it stays where it started.
 */
export class AdaptiveLimiter extends Limiter {
  private streak = 0;
  readonly max: number;
  private ceiling: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private windowStart: number;
  private windowDone = 0;
  private lastRate: number | undefined;
  private readonly followers: Limiter[] = [];

  constructor(
    readonly start: number,
    growth: Growth = { max: start },
  ) {
    super(start);
    this.max = Math.max(start, growth.max);
    this.ceiling = this.max;
    this.windowMs = growth.windowMs ?? 500;
    this.now = growth.now ?? (() => performance.now());
    this.windowStart = this.now();
  }

  /** A Limiter whose limit is always this one's: work that makes one request at a time, bounded alike. */
  follower(): Limiter {
    const l = new Limiter(this.limit);
    this.followers.push(l);
    return l;
  }

  private setLimit(limit: number): void {
    this.resize(limit);
    for (const f of this.followers) f.resize(limit);
  }

  throttled(): void {
    this.streak = 0;
    this.ceiling = Math.max(this.start, Math.min(this.ceiling, this.limit));
    this.lastRate = undefined;
    this.setLimit(Math.max(1, Math.floor(this.limit / 2)));
  }

  succeeded(): void {
    if (this.limit < this.start) {
      if (++this.streak >= 20) {
        this.streak = 0;
        this.setLimit(this.limit + 1);
      }
      return;
    }
    this.windowDone++;
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs || this.windowDone < this.limit) return;
    const rate = this.windowDone / elapsed;
    const wanting = this.waiting > 0 || this.followers.some((f) => f.waiting > 0);
    this.windowStart = now;
    this.windowDone = 0;
    if (!wanting || this.limit >= this.ceiling) return;
    if (this.lastRate !== undefined && rate < this.lastRate * GAIN) {
      // No gain from the last step: the link or the server bounds the run, not the limit.
      this.ceiling = this.limit;
      return;
    }
    this.lastRate = rate;
    this.setLimit(Math.min(this.ceiling, Math.ceil(this.limit * 1.25)));
  }
}

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  limiter?: AdaptiveLimiter;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs fn, retrying transient failures with exponential backoff and full jitter. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, p: RetryPolicy): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    p.signal?.throwIfAborted();
    try {
      const out = await fn(attempt);
      p.limiter?.succeeded();
      return out;
    } catch (err) {
      if (p.signal?.aborted) throw err;
      if (attempt >= p.retries || !isRetryable(err)) throw err;
      if (isThrottle(err)) p.limiter?.throttled();
      const cap = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** attempt);
      const delay = Math.random() * cap;
      p.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, undefined, { signal: p.signal });
    }
  }
}
