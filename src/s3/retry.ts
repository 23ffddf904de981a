import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter } from '../limiter.js';
import { isRetryable, isThrottle, retryAfterMs } from './errors.js';
import { type RequestScope, signalOf } from './request-signals.js';

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
 * A step whose throughput grew by at least this share of the limit's own growth was bound by the link
 * (latency), not the server: the next step doubles, as TCP's slow start does.
 */
const PROPORTIONAL = 0.75;

/**
 * Concurrency limit for S3 requests. It halves when the server throttles and grows back one slot per
 * 20 successes up to where it started: AIMD, as TCP does, so a store answering SlowDown gets fewer
 * requests instead of more retries. Above its start it grows only while that pays, when requests
 * queue for a slot (the run wants more than the limit), up to `growth.max`:
 * - the first step doubles the limit, and so does each step after one whose window's completions per
 *   second grew in proportion to the limit (the link's latency bounds the run: slow start, as TCP's);
 * - after a step that paid less than that, the next adds a quarter;
 * - a step whose window did not beat the one before by GAIN goes back to the limit before it, and ends
 *   the growth there; throttling ends it too, at the limit it happened at, and the limit never doubles
 *   again in the run.
 * On a high-latency link the limit climbs in a few windows to where the link, not the limit, bounds
 * the run; against a server that is already the bottleneck it comes back to where it started.
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
  /** The limit before the last step up: where a step that did not pay goes back to. */
  private before: number;
  /** Steps may double until the server first throttles (TCP's slow start until the first loss). */
  private slowStart = true;
  private readonly followers: Limiter[] = [];

  constructor(
    readonly start: number,
    growth: Growth = { max: start },
  ) {
    super(start);
    this.max = Math.max(start, growth.max);
    this.ceiling = this.max;
    this.before = start;
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
    // A window measures one limit: one that spans a change (a throttle mid-window) misleads the next step.
    this.windowStart = this.now();
    this.windowDone = 0;
  }

  throttled(): void {
    this.streak = 0;
    this.slowStart = false;
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
    if (!wanting) return;
    const last = this.lastRate;
    if (last !== undefined && rate < last * GAIN) {
      // No gain from the last step: the server bounds the run, not the limit. Back to where it was.
      this.ceiling = this.before;
      this.lastRate = undefined;
      this.setLimit(this.before);
      return;
    }
    if (this.limit >= this.ceiling) {
      // The last step paid and no other is allowed: nothing more to compare.
      this.lastRate = undefined;
      return;
    }
    // The first step, and every step after one that paid in proportion, doubles; others add a quarter.
    const proportional =
      this.slowStart &&
      (last === undefined || rate / last - 1 >= PROPORTIONAL * (this.limit / this.before - 1));
    this.lastRate = rate;
    this.before = this.limit;
    this.setLimit(Math.min(this.ceiling, proportional ? this.limit * 2 : Math.ceil(this.limit * 1.25)));
  }
}

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  /** No wait is longer, the server's Retry-After included. */
  maxDelayMs: number;
  /** The base for a throttle (SlowDown, 429 …); default baseDelayMs. */
  throttleBaseDelayMs?: number;
  limiter?: AdaptiveLimiter;
  signal?: AbortSignal | RequestScope;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * The wait after failed attempt `attempt` (0 for the first), in ms: exponential backoff with full
 * jitter, from a longer base for a throttle, which also waits at least half its cap (a short draw would
 * ask again at once a store that has just asked for fewer requests). Never shorter than the server's
 * Retry-After, within maxDelayMs.
 */
export function retryDelay(
  err: unknown,
  attempt: number,
  p: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'throttleBaseDelayMs'>,
  draw = Math.random(),
  now = Date.now(),
): number {
  const throttle = isThrottle(err);
  const base = throttle ? (p.throttleBaseDelayMs ?? p.baseDelayMs) : p.baseDelayMs;
  const cap = Math.min(p.maxDelayMs, base * 2 ** attempt);
  const drawn = throttle ? cap / 2 + (draw * cap) / 2 : draw * cap;
  const asked = retryAfterMs(err, now);
  return asked === undefined ? drawn : Math.max(drawn, Math.min(asked, p.maxDelayMs));
}

/** Runs fn, retrying transient failures with exponential backoff (see retryDelay). */
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
      const delay = retryDelay(err, attempt, p);
      p.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, undefined, { signal: signalOf(p.signal) });
    }
  }
}
