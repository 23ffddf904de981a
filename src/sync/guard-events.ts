/**
 * A public call whose `onEvent` callback throws (or, async, rejects) stops as a cancelled run stops:
 * nothing new starts, transfers in flight end, the manifest keeps what finished. The call then rejects
 * with what the callback threw. The callback is not called again, and the run never sees the throw:
 * a file whose event threw went, and is not counted as a file that failed. The call settles only once
 * every promise the callback returned has: one rejecting after the run ended fails the call all the same.
 */
export function guardEvents<F extends (opts: never) => Promise<unknown>>(fn: F): F {
  const call = async (opts: unknown) => {
    const given = opts as { onEvent?: unknown; signal?: unknown } | null | undefined;
    const onEvent = given?.onEvent;
    const signal = given?.signal;
    // A value of the wrong type is left for the call's own check to refuse, with its message.
    if (typeof onEvent !== 'function' || (signal !== undefined && !(signal instanceof AbortSignal)))
      return fn(opts as never);
    const stop = new AbortController();
    let threw: { value: unknown } | undefined;
    const pending = new Set<Promise<unknown>>();
    const fail = (err: unknown) => {
      if (threw !== undefined) return;
      threw = { value: err };
      stop.abort(err);
    };
    const guarded = (e: unknown) => {
      if (threw !== undefined) return;
      try {
        const r: unknown = onEvent(e);
        // Any thenable, as await takes one; kept until settled, since its rejection may come after the run.
        if (typeof (r as { then?: unknown } | null)?.then === 'function') {
          const p: Promise<unknown> = Promise.resolve(r).catch(fail);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
      } catch (err) {
        fail(err);
      }
    };
    const linked = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
    // Waits out the callback's promises, those its last events returned while these were awaited too.
    const settled = async () => {
      while (pending.size > 0) await Promise.all(pending);
    };
    let result: unknown;
    try {
      result = await fn({ ...given, onEvent: guarded, signal: linked } as never);
    } catch (err) {
      await settled();
      throw threw === undefined ? err : threw.value;
    }
    await settled();
    // A run that ends as a cancelled one does (cleanup, watch) resolves: the callback's error still wins.
    if (threw !== undefined) throw threw.value;
    return result;
  };
  return call as unknown as F;
}
