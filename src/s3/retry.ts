import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter } from '../limiter.js';
import { isRetryable, isThrottle } from './errors.js';

/**
 * Concurrency limit that halves when the server throttles and grows back one slot per 20 successes:
 * AIMD, as TCP does, so a store answering SlowDown gets fewer requests instead of more retries.
 */
export class AdaptiveLimiter extends Limiter {
  private streak = 0;

  constructor(readonly max: number) {
    super(max);
  }

  throttled(): void {
    this.streak = 0;
    this.limit = Math.max(1, Math.floor(this.limit / 2));
  }

  succeeded(): void {
    if (this.limit >= this.max) return;
    if (++this.streak >= 20) {
      this.streak = 0;
      this.limit++;
      this.wake();
    }
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
