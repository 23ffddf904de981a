import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { RequestSignals } from '../../src/s3/request-signals.js';

describe('RequestSignals: a signal per request, one listener per source', () => {
  it('no source: no signal', () => {
    const r = new RequestSignals().open([undefined, undefined]);
    expect(r.signal).toBeUndefined();
    r.release();
  });

  it.each([1, 11, 64, 500])('%i requests in flight on one source add one listener to it', (n) => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const open = Array.from({ length: n }, () => signals.open([run.signal]));
    // What the SDK does with each request's signal: a listener of its own.
    for (const r of open) r.signal!.addEventListener('abort', () => {});
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
    expect(new Set(open.map((r) => r.signal)).size).toBe(n);
    const reason = new Error('stop');
    run.abort(reason);
    for (const r of open) {
      expect(r.signal!.aborted).toBe(true);
      expect(r.signal!.reason).toBe(reason);
    }
  });

  it('a request aborts with whichever of its sources aborts first, and only its own', () => {
    const run = new AbortController();
    const fileA = new AbortController();
    const fileB = new AbortController();
    const signals = new RequestSignals();
    const a1 = signals.open([fileA.signal, run.signal]);
    const a2 = signals.open([fileA.signal, run.signal]);
    const b = signals.open([fileB.signal, run.signal]);
    fileA.abort(new Error('file A changed'));
    expect(a1.signal!.aborted && a2.signal!.aborted).toBe(true);
    expect((a1.signal!.reason as Error).message).toBe('file A changed');
    expect(b.signal!.aborted).toBe(false);
    run.abort(new Error('cancelled'));
    expect((b.signal!.reason as Error).message).toBe('cancelled');
  });

  it('a released request is no longer aborted with its source', () => {
    const run = new AbortController();
    const signals = new RequestSignals();
    const done = signals.open([run.signal]);
    const live = signals.open([run.signal]);
    done.release();
    run.abort();
    expect(done.signal!.aborted).toBe(false);
    expect(live.signal!.aborted).toBe(true);
  });

  it('a source already aborted gives an aborted signal, with its reason', () => {
    const run = new AbortController();
    run.abort(new Error('too late'));
    const r = new RequestSignals().open([undefined, run.signal]);
    expect(r.signal!.aborted).toBe(true);
    expect((r.signal!.reason as Error).message).toBe('too late');
    r.release();
  });
});
