import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { CANCEL_GRACE_MS } from '../../src/abort-listeners.js';
import { abortError, RequestScope, RequestSignals, signalOf } from '../../src/s3/request-signals.js';

/** A scope that the test knows was opened (a source was given). */
const opened = (r: RequestScope | undefined): RequestScope => {
  expect(r).toBeInstanceOf(RequestScope);
  return r!;
};

describe('RequestSignals: a scope per request, one listener per source', () => {
  it('no source: no scope', () => {
    expect(new RequestSignals().open([undefined, undefined])).toBeUndefined();
  });

  it.each([1, 11, 64, 500])('%i requests in flight on one source add one listener to it', (n) => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const open = Array.from({ length: n }, () => opened(signals.open([run.signal])));
    // What the SDK does with each request's signal: a listener of its own.
    for (const r of open) r.signal.addEventListener('abort', () => {});
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
    expect(new Set(open.map((r) => r.signal)).size).toBe(n);
    const reason = new Error('stop');
    run.abort(reason);
    for (const r of open) {
      expect(r.aborted).toBe(true);
      expect(r.reason).toBe(reason);
      expect(r.signal.aborted).toBe(true);
      expect(r.signal.reason).toBe(reason);
    }
  });

  it('a request aborts with whichever of its sources aborts first, and only its own', () => {
    const run = new AbortController();
    const fileA = new AbortController();
    const fileB = new AbortController();
    const signals = new RequestSignals();
    const a1 = opened(signals.open([fileA.signal, run.signal]));
    const a2 = opened(signals.open([fileA.signal, run.signal]));
    const b = opened(signals.open([fileB.signal, run.signal]));
    fileA.abort(new Error('file A changed'));
    expect(a1.aborted && a2.aborted).toBe(true);
    expect((a1.reason as Error).message).toBe('file A changed');
    expect(() => a2.throwIfAborted()).toThrow('file A changed');
    expect(b.aborted).toBe(false);
    expect(() => b.throwIfAborted()).not.toThrow();
    run.abort(new Error('cancelled'));
    expect((b.reason as Error).message).toBe('cancelled');
    // The first reason stays: the later source changes nothing.
    expect((a1.reason as Error).message).toBe('file A changed');
  });

  it('a released request is no longer aborted with its source, and its hooks are not called', () => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const done = opened(signals.open([run.signal]));
    const live = opened(signals.open([run.signal]));
    const calls: string[] = [];
    done.onAbort(() => calls.push('done'));
    live.onAbort(() => calls.push('live'));
    done.release();
    run.abort();
    expect(done.aborted).toBe(false);
    expect(done.signal.aborted).toBe(false);
    expect(live.aborted).toBe(true);
    expect(calls).toEqual(['live']);
  });

  it('a source already aborted gives an aborted scope, with its reason, and a hook called at once', () => {
    const run = new AbortController();
    run.abort(new Error('too late'));
    const r = opened(new RequestSignals().open([undefined, run.signal]));
    expect(r.aborted).toBe(true);
    expect((r.reason as Error).message).toBe('too late');
    expect(r.signal.aborted).toBe(true);
    const seen: unknown[] = [];
    r.onAbort((reason) => seen.push(reason));
    expect(seen).toEqual([r.reason]);
    r.release();
  });

  it('no AbortSignal is made until one is asked for; one asked for after the abort is aborted', () => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const r = opened(signals.open([run.signal]));
    expect(Reflect.get(r, 'controller')).toBeUndefined();
    const reason = new Error('stop');
    run.abort(reason);
    expect(Reflect.get(r, 'controller')).toBeUndefined();
    expect(r.signal.aborted).toBe(true);
    expect(r.signal.reason).toBe(reason);
    // The same signal each time it is asked for.
    expect(r.signal).toBe(r.signal);
  });

  it('hooks: each called once with the reason, in order; one removed is not called', () => {
    const run = new AbortController();
    const r = opened(new RequestSignals().open([run.signal]));
    const calls: [string, unknown][] = [];
    r.onAbort((reason) => calls.push(['first', reason]));
    const off = r.onAbort((reason) => calls.push(['removed', reason]));
    r.onAbort((reason) => calls.push(['last', reason]));
    off();
    off();
    const reason = new Error('stop');
    run.abort(reason);
    r.abort(new Error('again'));
    expect(calls).toEqual([
      ['first', reason],
      ['last', reason],
    ]);
  });

  it('a hook that releases other requests of the same source does not stop theirs from aborting', () => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const rs = Array.from({ length: 5 }, () => opened(signals.open([run.signal])));
    rs[0]!.onAbort(() => {
      for (const r of rs.slice(1)) r.release();
    });
    run.abort(new Error('stop'));
    // Every request open when the source aborted is aborted, whatever the hooks do meanwhile.
    expect(rs.map((r) => r.aborted)).toEqual([true, true, true, true, true]);
  });

  it('signalOf: an AbortSignal as it is, a scope through its own signal, none as none', () => {
    const c = new AbortController();
    expect(signalOf(c.signal)).toBe(c.signal);
    expect(signalOf(undefined)).toBeUndefined();
    const r = opened(new RequestSignals().open([c.signal]));
    expect(signalOf(r)).toBe(r.signal);
  });

  it('abortError: the error http.request gives a request its signal aborted, the reason as cause', () => {
    const reason = new Error('stop');
    const e = abortError(reason) as Error & { code?: string };
    expect(e.name).toBe('AbortError');
    expect(e.code).toBe('ABORT_ERR');
    expect(e.cause).toBe(reason);
  });
});

describe('RequestScope: a cancelled request whose body was sent gets a grace for its answer', () => {
  const scopeOf = (run: AbortController) => opened(new RequestSignals().open([run.signal]));

  it('not sent: aborted at once', () => {
    const run = new AbortController();
    const r = scopeOf(run);
    r.attempt();
    run.abort(new Error('stop'));
    expect(r.aborted).toBe(true);
  });

  it('sent: aborted only once CANCEL_GRACE_MS has passed without an answer', () => {
    vi.useFakeTimers();
    try {
      const run = new AbortController();
      const r = scopeOf(run);
      const seen: unknown[] = [];
      r.onAbort((reason) => seen.push(reason));
      r.attempt();
      r.sent();
      const reason = new Error('stop');
      run.abort(reason);
      expect(r.aborted).toBe(false);
      vi.advanceTimersByTime(CANCEL_GRACE_MS - 1);
      expect(seen).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(r.aborted).toBe(true);
      expect(seen).toEqual([reason]);
      expect(r.signal.aborted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answered within the grace (released): never aborted', () => {
    vi.useFakeTimers();
    try {
      const run = new AbortController();
      const r = scopeOf(run);
      r.attempt();
      r.sent();
      run.abort(new Error('stop'));
      r.release();
      vi.advanceTimersByTime(CANCEL_GRACE_MS * 2);
      expect(r.aborted).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an attempt that fails within the grace is not retried: aborted at once', () => {
    vi.useFakeTimers();
    try {
      const run = new AbortController();
      const r = scopeOf(run);
      r.attempt();
      r.sent();
      run.abort(new Error('stop'));
      r.attemptFailed();
      expect(r.aborted).toBe(true);
      expect(() => r.throwIfAborted()).toThrow('stop');
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failed attempt outside a cancellation changes nothing; a new attempt has sent nothing yet', () => {
    const run = new AbortController();
    const r = scopeOf(run);
    r.attempt();
    r.sent();
    r.attemptFailed();
    expect(r.aborted).toBe(false);
    r.attempt();
    run.abort(new Error('stop'));
    expect(r.aborted).toBe(true);
  });
});
