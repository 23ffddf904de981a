import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseRate } from '../../src/options/parse.js';
import { ByteBucket, type Clock, paced, RateLimits, TokenBucket } from '../../src/s3/rate-limit.js';

/**
 * A clock that moves only when a waiter sleeps: each sleep advances it to its own end (sleepers are
 * woken in the order of their ends), so a test reads the time each take finished at, to the ms.
 */
function fakeClock() {
  let now = 0;
  const sleeps: { until: number; wake: () => void; fail: (e: unknown) => void }[] = [];
  const waited: number[] = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        waited.push(ms);
        const entry = { until: now + ms, wake: resolve, fail: reject };
        sleeps.push(entry);
        signal?.addEventListener('abort', () => {
          sleeps.splice(sleeps.indexOf(entry), 1);
          reject(signal.reason);
        });
      }),
  };
  /** Runs the earliest sleeper to its end, moving the clock there. */
  const step = async () => {
    await new Promise<void>((r) => setImmediate(r));
    sleeps.sort((a, b) => a.until - b.until);
    const next = sleeps.shift();
    if (!next) return false;
    now = Math.max(now, next.until);
    next.wake();
    await new Promise<void>((r) => setImmediate(r));
    return true;
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { clock, step, advance, waited, at: () => now };
}

/** Takes in order, each awaited: the clock's time after each. */
async function takesAt(bucket: TokenBucket, f: ReturnType<typeof fakeClock>, sizes: number[]) {
  const times: number[] = [];
  for (const n of sizes) {
    const p = bucket.take(n);
    while (
      !(await Promise.race([p.then(() => true), new Promise<false>((r) => setImmediate(() => r(false)))]))
    )
      await f.step();
    times.push(f.at());
  }
  return times;
}

describe('TokenBucket arithmetic', () => {
  it.each([
    // reason, rate/s, burst, takes, times they complete at (ms)
    [
      'a full bucket pays its burst at once, then one token per 1/rate',
      10,
      3,
      [1, 1, 1, 1, 1],
      [0, 0, 0, 100, 200],
    ],
    ['burst 1 spaces every request after the first', 4, 1, [1, 1, 1], [0, 250, 500]],
    ['a take larger than the burst waits for its debt instead of failing', 100, 10, [10, 50], [0, 500]],
    ['a take of 0 is free', 1, 1, [1, 0, 0], [0, 0, 0]],
    [
      'bytes: 2 MiB/s, 1 MiB pieces after a full burst',
      2 * 1024 * 1024,
      1,
      [1, 1024 * 1024, 1024 * 1024],
      [0, 500, 1000],
    ],
  ] as const)('%s', async (_why, rate, burst, takes, times) => {
    const f = fakeClock();
    const bucket = new TokenBucket(rate, burst, f.clock);
    expect((await takesAt(bucket, f, [...takes])).map((t) => Math.round(t))).toEqual(times);
  });

  it('idle time refills the bucket, but never past its burst', async () => {
    const f = fakeClock();
    const bucket = new TokenBucket(10, 5, f.clock);
    await takesAt(bucket, f, [5]);
    f.advance(10_000);
    // 100 s of tokens accrued are capped at 5: the sixth take waits 100 ms.
    const start = f.at();
    const times = await takesAt(bucket, f, [1, 1, 1, 1, 1, 1]);
    expect(times.map((t) => t - start)).toEqual([0, 0, 0, 0, 0, 100]);
  });

  it('takers waiting together are served in the order they came', async () => {
    const f = fakeClock();
    const bucket = new TokenBucket(10, 1, f.clock);
    const done: number[] = [];
    const all = [0, 1, 2, 3].map((i) => bucket.take(1).then(() => done.push(i)));
    while (done.length < 4) await f.step();
    await Promise.all(all);
    expect(done).toEqual([0, 1, 2, 3]);
    expect(f.at()).toBe(300);
  });

  it('a cancelled wait rejects with the signal reason at once, and gives its tokens back', async () => {
    const f = fakeClock();
    const bucket = new TokenBucket(10, 1, f.clock);
    await bucket.take(1);
    const ac = new AbortController();
    const waiting = bucket.take(50, ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    // The 50 tokens are not owed: the next take waits only for its own one.
    expect(await takesAt(bucket, f, [1])).toEqual([100]);
  });

  it('an already cancelled signal never reserves', async () => {
    const f = fakeClock();
    const bucket = new TokenBucket(10, 1, f.clock);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(bucket.take(1, ac.signal)).rejects.toThrow('stop');
    expect(await takesAt(bucket, f, [1])).toEqual([0]);
  });
});

describe('ByteBucket: pieces and burst from the rate', () => {
  it.each([
    ['a high rate: 64 KiB pieces', 10 * 1024 * 1024, 64 * 1024],
    ['a low rate: 1/16 s per piece', 16 * 1024, 1024],
    ['the lowest rate still moves a piece', 1024, 64],
  ])('%s, one second saved up at most', (_why, rate, piece) => {
    const b = new ByteBucket(rate, fakeClock().clock);
    expect(b.piece).toBe(piece);
    expect(b.burst).toBe(rate);
  });

  it('starts empty: no byte before its time, however large the burst', async () => {
    const f = fakeClock();
    const b = new ByteBucket(1000, f.clock);
    expect(await takesAt(b, f, [62, 62, 500])).toEqual([62, 124, 624]);
  });

  it('saves up one second while idle, and no more', async () => {
    const f = fakeClock();
    const b = new ByteBucket(1000, f.clock);
    f.advance(5000);
    const start = f.at();
    expect((await takesAt(b, f, [1000, 500])).map((t) => t - start)).toEqual([0, 500]);
  });
});

describe('paced: a body that passes no byte the bucket has not paid for', () => {
  const collect = async (r: Readable) => {
    const parts: Buffer[] = [];
    for await (const c of r) parts.push(c as Buffer);
    return parts;
  };

  it.each([
    ['a Buffer', () => Buffer.alloc(10_000, 7)],
    ['a stream of odd-sized chunks', () => Readable.from([Buffer.alloc(3_333, 7), Buffer.alloc(6_667, 7)])],
  ])('%s arrives whole, in pieces no larger than the piece size, at the rate', async (_why, body) => {
    const f = fakeClock();
    const bucket = new ByteBucket(16_000, f.clock);
    const out = paced(body(), bucket);
    const reading = collect(out);
    let done = false;
    void reading.then(() => {
      done = true;
    });
    while (!done) await f.step();
    const parts = await reading;
    expect(Buffer.concat(parts)).toEqual(Buffer.alloc(10_000, 7));
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(bucket.piece);
    // 10,000 bytes at 16,000/s, from an empty bucket.
    expect(f.at()).toBeCloseTo((10_000 / 16_000) * 1000, 0);
  });

  it('destroying the paced stream destroys its source', async () => {
    const source = new Readable({ read() {} });
    const out = paced(source, new ByteBucket(1024, fakeClock().clock));
    out.destroy();
    await new Promise((r) => setImmediate(r));
    expect(source.destroyed).toBe(true);
  });

  it('cancellation ends the body with the signal reason', async () => {
    const f = fakeClock();
    const ac = new AbortController();
    const out = paced(Buffer.alloc(100_000), new ByteBucket(1024, f.clock), ac.signal);
    const reading = collect(out);
    await f.step();
    ac.abort(new Error('run cancelled'));
    await expect(reading).rejects.toThrow('run cancelled');
  });
});

describe('RateLimits from the options', () => {
  it.each([
    ['no options: no limit at all', {}, { requests: false, up: false, down: false, shared: false }],
    [
      'one rate: one budget for both ways',
      { bwlimit: '10MiB' },
      { requests: false, up: true, down: true, shared: true },
    ],
    ['a number is one rate', { bwlimit: 4096 }, { requests: false, up: true, down: true, shared: true }],
    [
      'UP:DOWN: a budget each way',
      { bwlimit: '10MiB:1MiB' },
      { requests: false, up: true, down: true, shared: false },
    ],
    ['off one way', { bwlimit: 'off:1MiB' }, { requests: false, up: false, down: true, shared: false }],
    ['off', { bwlimit: 'off' }, { requests: false, up: false, down: false, shared: false }],
    ['tpslimit', { tpslimit: 5 }, { requests: true, up: false, down: false, shared: false }],
  ])('%s', (_why, opts, want) => {
    const l = new RateLimits(opts);
    expect({
      requests: l.requests !== undefined,
      up: l.up !== undefined,
      down: l.down !== undefined,
      shared: l.up !== undefined && l.up === l.down,
    }).toEqual(want);
  });

  it('the rates and burst are the ones given', () => {
    const l = new RateLimits({ bwlimit: '8MiB:512KiB', tpslimit: 7, tpslimitBurst: 3 });
    expect([l.up?.rate, l.down?.rate, l.requests?.rate, l.requests?.burst]).toEqual([
      8 * 1024 * 1024,
      512 * 1024,
      7,
      3,
    ]);
  });
});

describe('parseRate', () => {
  it.each([
    ['10MiB', { up: 10 * 1024 * 1024, down: 10 * 1024 * 1024 }],
    ['10M:1M', { up: 10 * 1024 * 1024, down: 1024 * 1024 }],
    [' 512k : off ', { up: 512 * 1024 }],
    ['off:2G', { down: 2 * 1024 * 1024 * 1024 }],
    ['OFF', {}],
    ['off:off', {}],
    [2048, { up: 2048, down: 2048 }],
  ])('%j', (v, want) => {
    expect(parseRate(v)).toEqual(want);
  });

  it.each(['fast', '', '1M:2M:3M', '-1', '10MiB/s', ':', '1M:', null, true])('%j does not parse', (v) => {
    expect(parseRate(v)).toBeUndefined();
  });
});
