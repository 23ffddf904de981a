/**
 * withRetries and the AdaptiveLimiter as tables: which failures are asked again and how often, the
 * full-jitter backoff bounds, what a throttle does to the concurrency limit (AIMD), and cancellation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestSignals } from '../../src/s3/request-signals.js';
import { AdaptiveLimiter, type RetryPolicy, retryDelay, withRetries } from '../../src/s3/retry.js';

/** An error shaped as the SDK throws it. */
const sdkError = (name: string, status?: number) =>
  Object.assign(new Error(name), {
    name,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
  });

const throttle = () => sdkError('SlowDown', 503);
const serverError = () => sdkError('InternalError', 500);

/** fn failing with `failures` in turn, then answering 'ok'; the attempts it saw. */
function flaky(failures: Error[]) {
  const attempts: number[] = [];
  const fn = async (attempt: number) => {
    attempts.push(attempt);
    const f = failures[attempts.length - 1];
    if (f) throw f;
    return 'ok';
  };
  return { fn, attempts };
}

/** No real waiting: every backoff is a zero-length sleep. */
const instant = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retries: 3,
  baseDelayMs: 0,
  maxDelayMs: 0,
  ...p,
});

afterEach(() => vi.restoreAllMocks());

describe('withRetries: what is asked again', () => {
  it.each<[string, Error[], number, number[]]>([
    ['a success is not repeated', [], 3, [0]],
    ['a throttle (SlowDown) is retried', [throttle()], 3, [0, 1]],
    ['a 500 is retried', [serverError()], 3, [0, 1]],
    ['a 503 without a known code is retried', [sdkError('Unknown', 503)], 3, [0, 1]],
    [
      'a reset connection is retried',
      [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
      3,
      [0, 1],
    ],
    ['failures up to the last retry', [serverError(), serverError(), serverError()], 3, [0, 1, 2, 3]],
  ])('%s', async (_reason, failures, retries, attempts) => {
    const f = flaky(failures);
    await expect(withRetries(f.fn, instant({ retries }))).resolves.toBe('ok');
    expect(f.attempts).toEqual(attempts);
  });

  it.each<[string, Error[], number, number]>([
    ['one failure more than the retries', [serverError(), serverError(), serverError()], 2, 3],
    ['no retries at all', [serverError()], 0, 1],
    ['access denied: asking again gets the same', [sdkError('AccessDenied', 403)], 3, 1],
    ['a missing bucket', [sdkError('NoSuchBucket', 404)], 3, 1],
    ['a bad digest: the bytes, not the network, are wrong', [sdkError('BadDigest', 400)], 3, 1],
    ['a local file error', [Object.assign(new Error('gone'), { code: 'ENOENT' })], 3, 1],
  ])('gives up: %s', async (_reason, failures, retries, calls) => {
    const f = flaky(failures);
    await expect(withRetries(f.fn, instant({ retries }))).rejects.toBe(failures[calls - 1]);
    expect(f.attempts).toHaveLength(calls);
  });
});

describe('withRetries: backoff is full jitter under an exponential cap', () => {
  it.each<[string, number, number, number[]]>([
    ['doubles from the base', 4, 1000, [4, 8, 16, 32]],
    ['stops at the maximum', 4, 10, [4, 8, 10, 10]],
    ['a maximum below the base caps the first wait too', 8, 5, [5, 5, 5, 5]],
  ])('%s (base %i ms, max %i ms)', async (_reason, baseDelayMs, maxDelayMs, caps) => {
    // Half of each cap, so the cap itself shows; a real run draws anywhere in [0, cap).
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const delays: number[] = [];
    const f = flaky(caps.map(serverError));
    const policy = instant({ retries: caps.length, baseDelayMs, maxDelayMs });
    const attempts: number[] = [];
    policy.onRetry = (_err, attempt, delayMs) => {
      attempts.push(attempt);
      delays.push(delayMs);
    };
    await withRetries(f.fn, policy);
    expect(delays).toEqual(caps.map((c) => c / 2));
    expect(attempts).toEqual(caps.map((_c, i) => i + 1));
  });

  it.each<[string, number]>([
    ['the shortest draw waits nothing', 0],
    ['the longest draw stays under the cap', 0.999999],
  ])('%s', async (_reason, draw) => {
    vi.spyOn(Math, 'random').mockReturnValue(draw);
    const delays: number[] = [];
    const f = flaky([serverError(), serverError()]);
    await withRetries(
      f.fn,
      instant({ baseDelayMs: 2, maxDelayMs: 3, onRetry: (_e, _a, d) => delays.push(d) }),
    );
    expect(delays).toEqual([2 * draw, 3 * draw]);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(0);
    expect(delays[1]).toBeLessThan(3);
  });
});

describe('withRetries: the limiter hears of throttles and successes', () => {
  it.each<[string, Error[], number]>([
    ['a throttle halves the limit', [throttle()], 4],
    ['two throttles halve it twice', [throttle(), throttle()], 2],
    ['a 500 is retried without touching the limit', [serverError()], 8],
    ['a 429 is a throttle', [sdkError('TooManyRequests', 429)], 4],
  ])('%s', async (_reason, failures, limit) => {
    const limiter = new AdaptiveLimiter(8);
    await withRetries(flaky(failures).fn, instant({ limiter }));
    expect(limiter.limit).toBe(limit);
  });

  it('counts each success towards growing back', async () => {
    const limiter = new AdaptiveLimiter(8);
    limiter.throttled();
    for (let i = 0; i < 20; i++) await withRetries(flaky([]).fn, instant({ limiter }));
    expect(limiter.limit).toBe(5);
  });
});

/** A cancellation as withRetries is given one: the run's AbortSignal, or a request's scope over it. */
const cancellations: [string, () => { abort: () => void; signal: RetryPolicy['signal'] }][] = [
  [
    'an AbortSignal',
    () => {
      const ac = new AbortController();
      return { abort: () => ac.abort(), signal: ac.signal };
    },
  ],
  [
    "a request's scope",
    () => {
      const ac = new AbortController();
      return { abort: () => ac.abort(), signal: new RequestSignals().open([ac.signal]) };
    },
  ],
];

describe.each(cancellations)('withRetries: cancellation through %s', (_, make) => {
  it('never calls fn once the signal is aborted', async () => {
    const ac = make();
    ac.abort();
    const f = flaky([]);
    await expect(withRetries(f.fn, instant({ signal: ac.signal }))).rejects.toThrow(/abort/i);
    expect(f.attempts).toEqual([]);
  });

  it('does not retry a failure that came after the abort', async () => {
    const ac = make();
    const err = serverError();
    const fn = vi.fn(async () => {
      ac.abort();
      throw err;
    });
    await expect(withRetries(fn, instant({ signal: ac.signal }))).rejects.toBe(err);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops waiting out a backoff when aborted, and asks no more', async () => {
    const ac = make();
    const f = flaky([serverError(), serverError()]);
    const run = withRetries(f.fn, {
      retries: 5,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      signal: ac.signal,
      onRetry: () => setImmediate(() => ac.abort()),
    });
    await expect(run).rejects.toThrow(/abort/i);
    expect(f.attempts).toEqual([0]);
  });
});

describe('AdaptiveLimiter: AIMD', () => {
  it.each<[string, number, number, number]>([
    ['starts at its maximum', 8, 0, 8],
    ['a throttle halves it', 8, 1, 4],
    ['halving rounds down', 7, 1, 3],
    ['three throttles', 8, 3, 1],
    ['never below one', 8, 10, 1],
    ['one stays one', 1, 1, 1],
  ])('%s: max %i after %i throttle(s) → %i', (_reason, max, throttles, limit) => {
    const l = new AdaptiveLimiter(max);
    for (let i = 0; i < throttles; i++) l.throttled();
    expect(l.limit).toBe(limit);
  });

  it.each<[string, number, number, number]>([
    ['19 successes are not yet enough', 1, 19, 4],
    ['20 successes add one slot', 1, 20, 5],
    ['40 add two', 1, 40, 6],
    ['never above the maximum', 1, 20 * 10, 8],
    ['at the maximum nothing changes', 0, 100, 8],
  ])('%s', (_reason, throttles, successes, limit) => {
    const l = new AdaptiveLimiter(8);
    for (let i = 0; i < throttles; i++) l.throttled();
    for (let i = 0; i < successes; i++) l.succeeded();
    expect(l.limit).toBe(limit);
  });

  it('a throttle starts the count of successes again', () => {
    const l = new AdaptiveLimiter(8);
    l.throttled();
    for (let i = 0; i < 19; i++) l.succeeded();
    l.throttled();
    l.succeeded();
    expect(l.limit).toBe(2);
    for (let i = 0; i < 19; i++) l.succeeded();
    expect(l.limit).toBe(3);
  });
});

/** Whether a promise has settled by the time queued callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('AdaptiveLimiter: acquire and release', () => {
  it.each<[string, number, number]>([
    ['up to the limit at once', 3, 3],
    ['one slot', 1, 1],
  ])('%s: %i slots, the next waits', async (_reason, max, free) => {
    const l = new AdaptiveLimiter(max);
    for (let i = 0; i < free; i++) expect(await settled(l.acquire())).toBe(true);
    const next = l.acquire();
    expect(await settled(next)).toBe(false);
    l.release();
    expect(await settled(next)).toBe(true);
  });

  it('waiters get slots in the order they asked', async () => {
    const l = new AdaptiveLimiter(1);
    await l.acquire();
    const order: number[] = [];
    const waiting = [1, 2, 3].map((i) => l.acquire().then(() => order.push(i)));
    for (let i = 0; i < 3; i++) {
      l.release();
      await settled(waiting[i]!);
    }
    expect(order).toEqual([1, 2, 3]);
  });

  it('after a throttle, a release does not let in more than the new limit', async () => {
    const l = new AdaptiveLimiter(2);
    await l.acquire();
    await l.acquire();
    const next = l.acquire();
    l.throttled();
    l.release();
    expect(await settled(next)).toBe(false);
    l.release();
    expect(await settled(next)).toBe(true);
  });

  it('growing back lets a waiter in', async () => {
    const l = new AdaptiveLimiter(2);
    l.throttled();
    await l.acquire();
    const next = l.acquire();
    expect(await settled(next)).toBe(false);
    for (let i = 0; i < 20; i++) l.succeeded();
    expect(await settled(next)).toBe(true);
  });
});

describe.each(cancellations)('AdaptiveLimiter: cancellation through %s', (_, make) => {
  it('an aborted signal takes no slot, even a free one', async () => {
    const l = new AdaptiveLimiter(1);
    const ac = make();
    ac.abort();
    await expect(l.acquire(ac.signal)).rejects.toThrow(/abort/i);
    expect(await settled(l.acquire())).toBe(true);
  });

  it('a waiter aborted while waiting never takes the slot: it passes to the next waiter', async () => {
    const l = new AdaptiveLimiter(1);
    await l.acquire();
    const ac = make();
    const cancelled = l.acquire(ac.signal);
    cancelled.catch(() => {});
    const next = l.acquire();
    ac.abort();
    l.release();
    await expect(cancelled).rejects.toThrow(/abort/i);
    expect(await settled(next)).toBe(true);
    const after = l.acquire();
    expect(await settled(after)).toBe(false);
  });
});

/**
 * Growth above the start, against simulated links: `rate(limit)` is the completions per millisecond
 * a limit gives. The run always wants more than the limit (a request waits for a slot), as a push of
 * many small files does, unless `idle`.
 */
function grown(opts: {
  start: number;
  max: number;
  rate: (limit: number) => number;
  idle?: boolean;
  ms?: number;
}) {
  let now = 0;
  const l = new AdaptiveLimiter(opts.start, { max: opts.max, windowMs: 500, now: () => now });
  const seen: number[] = [];
  /** When the limit last changed, and when it first reached its end value. */
  let changedAt = 0;
  let reachedAt: Record<number, number> = {};
  let owed = 0;
  for (let t = 0; t < (opts.ms ?? 20_000); t += 10) {
    now = t;
    if (!opts.idle) while (l.waiting === 0) void l.acquire();
    owed += opts.rate(l.limit) * 10;
    for (; owed >= 1; owed--) l.succeeded();
    if (seen[seen.length - 1] !== l.limit) {
      seen.push(l.limit);
      changedAt = t;
      reachedAt = { ...reachedAt, [l.limit]: reachedAt[l.limit] ?? t };
    }
  }
  return { limit: l.limit, seen, l, changedAt, reachedAt };
}

describe('AdaptiveLimiter: growth while it pays', () => {
  const RTT = 20;
  it('a latency-bound link: grows from 16 to its maximum, doubling each window', () => {
    const g = grown({ start: 16, max: 64, rate: (n) => n / RTT });
    expect(g.limit).toBe(64);
    expect(g.seen).toEqual([16, 32, 64]);
    // Two windows of 500 ms: at 100 ms RTT a step of a quarter each window took seven.
    expect(g.reachedAt[64]).toBeLessThanOrEqual(1_000);
  });

  it.each([20, 100])('at %i ms RTT too: the rate, not the round trip, decides', (rtt) => {
    const g = grown({ start: 16, max: 64, rate: (n) => n / rtt });
    expect(g.seen).toEqual([16, 32, 64]);
    expect(g.reachedAt[64]).toBeLessThanOrEqual(1_000 + 2 * rtt);
  });

  it.each<[string, number, number, number]>([
    ['a server that is the bottleneck at the start: one step, then back', 16, 16, 16],
    ['a server that saturates at 20 in flight: one step that paid a little', 20, 20, 32],
    ['a server that saturates at 30 in flight', 30, 30, 40],
    ['a server that saturates at 45 in flight', 45, 45, 64],
  ])('%s', (_reason, saturation, atLeast, atMost) => {
    const g = grown({ start: 16, max: 64, rate: (n) => Math.min(n, saturation) / RTT });
    expect(g.limit).toBeGreaterThanOrEqual(atLeast);
    expect(g.limit).toBeLessThanOrEqual(atMost);
    // Growth stopped within a few windows: the limit settled, it does not oscillate.
    expect(g.changedAt).toBeLessThanOrEqual(3_000);
  });

  it('a step that paid less than in proportion is followed by a quarter, not a doubling', () => {
    // Up to 24 in flight the link is the bound; past it, each slot adds a fifth of what it did.
    const g = grown({ start: 16, max: 64, rate: (n) => (n <= 24 ? n : 24 + (n - 24) / 5) / RTT });
    expect(g.seen.slice(0, 3)).toEqual([16, 32, 40]);
    expect(g.changedAt).toBeLessThanOrEqual(5_000);
  });

  it('a run that does not fill its slots does not grow', () => {
    expect(grown({ start: 16, max: 64, rate: (n) => n / RTT, idle: true }).limit).toBe(16);
  });

  it('a --workers given is fixed: no growth however much it would pay', () => {
    expect(grown({ start: 16, max: 16, rate: (n) => n / RTT }).limit).toBe(16);
    expect(grown({ start: 4, max: 4, rate: (n) => n / RTT }).limit).toBe(4);
  });

  it('a throttle after growth halves the limit, and growth never again passes where it happened', () => {
    let now = 0;
    const l = new AdaptiveLimiter(16, { max: 64, windowMs: 500, now: () => now });
    // A link that rewards every step: one completion each RTT / limit milliseconds.
    const run = (completions: number) => {
      for (let i = 0; i < completions; i++) {
        if (l.waiting === 0) void l.acquire();
        now += RTT / l.limit;
        l.succeeded();
      }
    };
    run(100);
    expect(l.limit).toBe(16);
    run(500);
    const at = l.limit;
    expect(at).toBeGreaterThan(16);
    expect(at).toBeLessThan(64);
    l.throttled();
    expect(l.limit).toBe(Math.floor(at / 2));
    run(50_000);
    expect(l.limit).toBeGreaterThan(Math.floor(at / 2));
    expect(l.limit).toBeLessThanOrEqual(at);
  });

  it('after a throttle, growth is by quarters only: no doubling back into the throttling', () => {
    let now = 0;
    const l = new AdaptiveLimiter(16, { max: 64, windowMs: 500, now: () => now });
    const seen: number[] = [l.limit];
    const run = (completions: number) => {
      for (let i = 0; i < completions; i++) {
        if (l.waiting === 0) void l.acquire();
        now += RTT / l.limit;
        l.succeeded();
        if (seen[seen.length - 1] !== l.limit) seen.push(l.limit);
      }
    };
    // Slow start to 64, where the server answers SlowDown once: 32 in flight, under a ceiling of 64.
    run(1_500);
    expect(seen).toEqual([16, 32, 64]);
    l.throttled();
    seen.push(l.limit);
    // Every step pays in proportion, as before the throttle, but now each adds a quarter. The last,
    // of one slot, cannot gain a tenth: it goes back, and the growth ends there.
    run(40_000);
    expect(seen).toEqual([16, 32, 64, 32, 40, 50, 63, 64, 63]);
  });

  it('a follower keeps the same limit as it moves', () => {
    const l = new AdaptiveLimiter(8, { max: 8 });
    const f = l.follower();
    l.throttled();
    expect(f.limit).toBe(4);
    for (let i = 0; i < 20; i++) l.succeeded();
    expect(f.limit).toBe(5);
  });
});

/** A failure whose answer carried these headers, as the SDK keeps them in $response. */
const answered = (name: string, status: number, headers: Record<string, string>) =>
  Object.assign(sdkError(name, status), { $response: { statusCode: status, headers } });

describe('retryDelay: a throttle waits longer, and never less than the server asked', () => {
  const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
  const policy = { baseDelayMs: 100, throttleBaseDelayMs: 1000, maxDelayMs: 20_000 };
  it.each<[string, unknown, number, number, number]>([
    ['a server error: full jitter from the base', serverError(), 2, 0.5, 200],
    ['a server error can wait nothing', serverError(), 0, 0, 0],
    ['a throttle: at least half its cap, from the throttle base', throttle(), 0, 0, 500],
    ['a throttle: at most its cap', throttle(), 2, 0.999999, 3999.998],
    ['a 429 with no code is a throttle', sdkError('Error', 429), 1, 0, 1000],
    ['a throttle code the SDK knows', sdkError('RequestThrottled', 400), 0, 0, 500],
    ['the cap stops at the maximum', throttle(), 10, 0, 10_000],
    [
      'Retry-After in seconds, above the drawn wait',
      answered('SlowDown', 503, { 'retry-after': '3' }),
      0,
      0.5,
      3000,
    ],
    [
      'Retry-After below the drawn wait: the drawn wait',
      answered('SlowDown', 503, { 'retry-after': '1' }),
      2,
      0,
      2000,
    ],
    ['Retry-After in fractional seconds', answered('SlowDown', 503, { 'retry-after': '2.5' }), 0, 0, 2500],
    [
      'Retry-After as an HTTP date',
      answered('SlowDown', 503, { 'retry-after': new Date(NOW + 7000).toUTCString() }),
      0,
      0,
      7000,
    ],
    [
      'Retry-After as a date already past: the drawn wait',
      answered('SlowDown', 503, { 'retry-after': new Date(NOW - 7000).toUTCString() }),
      0,
      0,
      500,
    ],
    ['x-amz-retry-after in ms', answered('SlowDown', 503, { 'x-amz-retry-after': '4200' }), 0, 0, 4200],
    ['Retry-After on a server error too', answered('InternalError', 500, { 'retry-after': '2' }), 0, 0, 2000],
    [
      'Retry-After beyond the maximum: the maximum',
      answered('SlowDown', 503, { 'retry-after': '3600' }),
      0,
      0,
      20_000,
    ],
    [
      'Retry-After that is no number or date: ignored',
      answered('SlowDown', 503, { 'retry-after': 'soon' }),
      0,
      0,
      500,
    ],
  ])('%s', (_reason, err, attempt, draw, delay) => {
    expect(retryDelay(err, attempt, policy, draw, NOW)).toBeCloseTo(delay, 6);
  });

  it('without a throttle base, a throttle draws from the base', () => {
    expect(retryDelay(throttle(), 1, { baseDelayMs: 100, maxDelayMs: 1000 }, 0)).toBe(100);
  });

  it('withRetries waits what retryDelay says: the Retry-After', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const delays: number[] = [];
    const f = flaky([answered('SlowDown', 503, { 'retry-after': '0.05' })]);
    await withRetries(f.fn, instant({ maxDelayMs: 1000, onRetry: (_e, _a, d) => delays.push(d) }));
    expect(delays).toEqual([50]);
    expect(f.attempts).toEqual([0, 1]);
  });
});
