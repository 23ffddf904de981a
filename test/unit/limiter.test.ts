import { describe, expect, it } from 'vitest';
import { forEachLimit, Limiter } from '../../src/limiter.js';
import { AdaptiveLimiter } from '../../src/s3/retry.js';

/** A task the test finishes by hand. */
function gate() {
  let open!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { done, open, fail };
}

/** Lets every promise callback queued so far run. */
const settled = () => new Promise<void>((r) => setImmediate(r));

/**
 * Starts `tasks` tasks through `run`, each held open until the test finishes it: records the order they
 * started in and the most that ran at once.
 */
function harness(tasks: number) {
  const gates = Array.from({ length: tasks }, gate);
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const task = async (i: number) => {
    started.push(i);
    most = Math.max(most, ++running);
    try {
      await gates[i]!.done;
    } finally {
      running--;
    }
  };
  const finished = new Set<number>();
  /** Finishes the running tasks one at a time, oldest first, until none is left. */
  const drain = async () => {
    for (;;) {
      await settled();
      const next = started.find((i) => !finished.has(i));
      if (next === undefined) return;
      finished.add(next);
      gates[next]!.open();
    }
  };
  return { task, gates, started, drain, finished, most: () => most, running: () => running };
}

describe.each([
  ['Limiter', (n: number) => new Limiter(n)],
  ['AdaptiveLimiter', (n: number) => new AdaptiveLimiter(n)],
])('%s', (_name, make) => {
  it.each([
    { limit: 1, tasks: 5 },
    { limit: 2, tasks: 5 },
    { limit: 4, tasks: 4 },
    { limit: 8, tasks: 3 },
    { limit: 3, tasks: 0 },
  ])(
    'limit $limit, $tasks tasks: at most the limit run, started in arrival order',
    async ({ limit, tasks }) => {
      const l = make(limit);
      const h = harness(tasks);
      const all = Promise.all(Array.from({ length: tasks }, (_, i) => l.run(() => h.task(i))));
      await settled();
      expect(h.running()).toBe(Math.min(limit, tasks));
      expect(l.waiting).toBe(Math.max(0, tasks - limit));
      await h.drain();
      await all;
      expect(h.most()).toBe(Math.min(limit, tasks));
      expect(h.started).toEqual(Array.from({ length: tasks }, (_, i) => i));
      expect(l.running).toBe(0);
    },
  );

  it('takes a free slot synchronously: a caller that does not await holds it', () => {
    const l = make(1);
    void l.acquire();
    expect(l.running).toBe(1);
    void l.acquire();
    expect(l.running).toBe(1);
    expect(l.waiting).toBe(1);
  });

  it('a newcomer never overtakes a waiter: a released slot goes to the first in line', async () => {
    const l = make(1);
    await l.acquire();
    const order: string[] = [];
    const first = l.acquire().then(() => order.push('waiter'));
    l.release();
    const late = l.acquire().then(() => order.push('newcomer'));
    await first;
    expect(order).toEqual(['waiter']);
    l.release();
    await late;
    expect(order).toEqual(['waiter', 'newcomer']);
  });

  it('a failing task gives its slot back', async () => {
    const l = make(1);
    const boom = new Error('boom');
    await expect(l.run(() => Promise.reject(boom))).rejects.toBe(boom);
    expect(l.running).toBe(0);
    await expect(l.run(async () => 'next')).resolves.toBe('next');
  });

  it.each([
    ['before asking, with a slot free', 0, true],
    ['before asking, with none free', 1, true],
    ['while waiting', 1, false],
  ])('cancelled %s: rejects with the reason and holds no slot', async (_when, busy, abortFirst) => {
    const l = make(1);
    for (let i = 0; i < busy; i++) await l.acquire();
    const ac = new AbortController();
    const reason = new Error('cancelled');
    if (abortFirst) ac.abort(reason);
    const p = l.acquire(ac.signal);
    // A waiter behind the cancelled one gets the slot it was handed.
    const behind = busy > 0 ? l.acquire() : undefined;
    if (!abortFirst) ac.abort(reason);
    if (busy > 0) l.release();
    await expect(p).rejects.toBe(reason);
    await behind;
    expect(l.running).toBe(busy > 0 ? 1 : 0);
    expect(l.waiting).toBe(0);
  });

  it('drop rejects the waiting tasks with the reason; the running ones finish', async () => {
    const l = make(2);
    const h = harness(5);
    const outcomes = Array.from({ length: 5 }, (_, i) =>
      l
        .run(() => h.task(i))
        .then(
          () => 'done',
          (err: unknown) => err,
        ),
    );
    await settled();
    const reason = new Error('run cancelled');
    l.drop(reason);
    await h.drain();
    expect(await Promise.all(outcomes)).toEqual(['done', 'done', reason, reason, reason]);
    expect(h.started).toEqual([0, 1]);
  });
});

describe('AdaptiveLimiter: halves when throttled, grows back by one per 20 successes', () => {
  it.each([
    { max: 16, throttles: 1, limit: 8 },
    { max: 16, throttles: 2, limit: 4 },
    { max: 5, throttles: 1, limit: 2 },
    { max: 3, throttles: 5, limit: 1 },
    { max: 1, throttles: 1, limit: 1 },
  ])('max $max, throttled $throttles times: limit $limit', ({ max, throttles, limit }) => {
    const l = new AdaptiveLimiter(max);
    for (let i = 0; i < throttles; i++) l.throttled();
    expect(l.limit).toBe(limit);
  });

  it.each([
    { successes: 19, limit: 2 },
    { successes: 20, limit: 3 },
    { successes: 40, limit: 4 },
    { successes: 1000, limit: 4 },
  ])('from 2 of 4, $successes successes: limit $limit', ({ successes, limit }) => {
    const l = new AdaptiveLimiter(4);
    l.throttled();
    for (let i = 0; i < successes; i++) l.succeeded();
    expect(l.limit).toBe(limit);
  });

  it('a throttle resets the streak', () => {
    const l = new AdaptiveLimiter(4);
    l.throttled();
    for (let i = 0; i < 19; i++) l.succeeded();
    l.throttled();
    l.succeeded();
    expect(l.limit).toBe(1);
  });

  it('lets no one in above a lowered limit, and wakes a waiter when it grows back', async () => {
    const l = new AdaptiveLimiter(2);
    await l.acquire();
    await l.acquire();
    l.throttled(); // limit 1, two running
    let waiterIn = false;
    const waiter = l.acquire().then(() => {
      waiterIn = true;
    });
    l.release(); // one running: at the limit
    await settled();
    expect(waiterIn).toBe(false);
    for (let i = 0; i < 20; i++) l.succeeded(); // limit 2
    await waiter;
    expect(l.running).toBe(2);
  });
});

describe('forEachLimit', () => {
  it.each([
    { limit: 1, items: 4 },
    { limit: 3, items: 7 },
    { limit: 16, items: 5 },
    { limit: 2, items: 0 },
  ])(
    'limit $limit over $items items: every item once, in order, at most the limit at a time',
    async ({ limit, items }) => {
      const h = harness(items);
      const all = forEachLimit(
        Array.from({ length: items }, (_, i) => i),
        limit,
        (i) => h.task(i),
      );
      await h.drain();
      await all;
      expect(h.started).toEqual(Array.from({ length: items }, (_, i) => i));
      expect(h.most()).toBe(Math.min(limit, items));
    },
  );

  it.each([0, 1, 3])(
    'aborted after %i finished: takes no new item, lets those running finish, then rejects',
    async (before) => {
      const h = harness(8);
      const ac = new AbortController();
      const reason = new Error('SIGINT');
      let outcome: unknown = 'pending';
      const all = forEachLimit([0, 1, 2, 3, 4, 5, 6, 7], 2, (i) => h.task(i), ac.signal).then(
        () => {
          outcome = 'resolved';
        },
        (err: unknown) => {
          outcome = err;
        },
      );
      await settled();
      for (let i = 0; i < before; i++) {
        h.finished.add(i);
        h.gates[i]!.open();
        await settled();
      }
      ac.abort(reason);
      const running = h.started.filter((i) => !h.finished.has(i));
      expect(running).toHaveLength(2);
      await settled();
      expect(outcome).toBe('pending');
      await h.drain();
      await all;
      expect(outcome).toBe(reason);
      expect(h.started).toEqual(Array.from({ length: before + 2 }, (_, i) => i));
    },
  );

  it('a failing item rejects the whole', async () => {
    const boom = new Error('fatal');
    await expect(
      forEachLimit([1, 2, 3], 2, async (i) => {
        if (i === 2) throw boom;
      }),
    ).rejects.toBe(boom);
  });
});
