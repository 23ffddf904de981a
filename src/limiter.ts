/**
 * How s3sync bounds work, in one place: a Limiter lets at most `limit` tasks run at a time and queues
 * the rest in arrival order; forEachLimit is the same bound over a list known in advance. The AIMD
 * limiter for S3 requests (src/s3/retry.ts) is a Limiter whose limit moves.
 */
export class Limiter {
  protected active = 0;
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];

  constructor(public limit: number) {}

  /** Tasks holding a slot. */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Takes a slot, at once if one is free (synchronously: a caller that does not await still holds it),
   * else when it is handed over. Rejects, holding none, if `signal` aborted before the slot was had.
   */
  async acquire(signal?: Pick<AbortSignal, 'aborted' | 'throwIfAborted'>): Promise<void> {
    signal?.throwIfAborted();
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (signal?.aborted) {
      // Cancelled while waiting: no work starts, and the slot this waiter was handed passes on.
      this.release();
      signal.throwIfAborted();
    }
  }

  release(): void {
    this.active--;
    this.wake();
  }

  /** A new bound: more slots are handed out at once; fewer, as running tasks end. */
  resize(limit: number): void {
    this.limit = limit;
    this.wake();
  }

  /** Hands free slots to the waiters in order: a newcomer never overtakes one already waiting. */
  protected wake(): void {
    while (this.active < this.limit && this.waiters.length > 0) {
      this.active++;
      this.waiters.shift()!.resolve();
    }
  }

  /** Runs fn in a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Drops every task still waiting for a slot, rejecting it with `reason`; the running ones go on. */
  drop(reason: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(reason);
  }
}

/**
 * Runs fn over items in order with at most `limit` in flight. After the first failure, or once the
 * signal aborts, no new item is taken; the items in flight are waited for (their work completes and is
 * recorded, rather than going on unseen after the caller has moved on), and then the first failure, or
 * the signal's reason, is thrown.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  // A lane per slot, each taking the next item: as a Limiter would, without a waiting task per item.
  const lane = async () => {
    while (next < items.length && !signal?.aborted && !failure) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.err;
  signal?.throwIfAborted();
}
