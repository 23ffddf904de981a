import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable, isThrottle } from './errors.js';

/**
 * Concurrency limit that halves when the server throttles and grows back one slot per 20 successes:
 * AIMD, as TCP does, so a store answering SlowDown gets fewer requests instead of more retries.
 */
export class AdaptiveLimiter {
  private active = 0;
  private waiters: Array<() => void> = [];
  private streak = 0;
  limit: number;

  constructor(readonly max: number) {
    this.limit = max;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    while (this.active >= this.limit) {
      signal?.throwIfAborted();
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (signal?.aborted) {
      // Cancelled while waiting: no request goes out, and the slot this waiter was woken for passes on.
      this.wake();
      signal.throwIfAborted();
    }
    this.active++;
  }

  release(): void {
    this.active--;
    this.wake();
  }

  private wake(): void {
    // Woken waiters re-check the limit themselves.
    for (let free = this.limit - this.active; free > 0 && this.waiters.length > 0; free--)
      this.waiters.shift()!();
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
