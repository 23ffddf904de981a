import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onAbort, sleep } from '../../src/abort-listeners.js';

describe('onAbort', () => {
  it('holds one listener on a signal however many wait on it, and none once they stop', () => {
    const ac = new AbortController();
    const stops = Array.from({ length: 20 }, () => onAbort(ac.signal, () => {}));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    for (const stop of stops) stop();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('calls each waiter once, in order, and none that stopped', () => {
    const ac = new AbortController();
    const calls: string[] = [];
    onAbort(ac.signal, () => calls.push('a'));
    const stopB = onAbort(ac.signal, () => calls.push('b'));
    const same = () => calls.push('c');
    onAbort(ac.signal, same);
    onAbort(ac.signal, same);
    stopB();
    ac.abort(new Error('x'));
    ac.abort(new Error('again'));
    expect(calls).toEqual(['a', 'c', 'c']);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    // Already aborted: at once.
    onAbort(ac.signal, () => calls.push('late'));
    expect(calls.at(-1)).toBe('late');
  });
});

describe('sleep', () => {
  it('rejects with an AbortError whose cause is the reason, and leaves no listener', async () => {
    const ac = new AbortController();
    const reason = new Error('stop');
    const slept = sleep(10_000, ac.signal);
    ac.abort(reason);
    await expect(slept).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    await expect(sleep(1, ac.signal)).rejects.toMatchObject({ name: 'AbortError', cause: reason });
    const other = new AbortController();
    await sleep(5, other.signal);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });
});
