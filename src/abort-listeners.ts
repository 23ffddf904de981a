/**
 * A caller's AbortSignal reached through one 'abort' listener per signal for the whole process, however
 * many runs use it at once. Each run held its own listeners on it (its hashing, its requests, a wait
 * for a lock), so more than a few runs sharing one signal passed Node's limit of 10 and printed
 * MaxListenersExceededWarning into the host application's output.
 *
 * Process-wide state, unlike the rest of s3sync's: the signal is the caller's, shared across runs. Kept
 * by signal in a WeakMap, and the listener removed once nothing waits, so a signal reused call after
 * call keeps nothing of ours.
 */
interface Waiting {
  readonly fns: Set<() => void>;
  readonly fire: () => void;
}

const bySignal = new WeakMap<AbortSignal, Waiting>();

/**
 * Calls `fn` once when `signal` aborts (at once if it has); returns what stops that. Callbacks run in
 * the order they were added, as an EventTarget's listeners do.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  let w = bySignal.get(signal);
  if (!w) {
    const fns = new Set<() => void>();
    const fire = () => {
      bySignal.delete(signal);
      const now = [...fns];
      fns.clear();
      for (const f of now) f();
    };
    w = { fns, fire };
    bySignal.set(signal, w);
    signal.addEventListener('abort', fire, { once: true });
  }
  // A wrapper per call: one function added twice is two waits, each stopped on its own.
  const entry = () => fn();
  const { fns, fire } = w;
  fns.add(entry);
  return () => {
    if (!fns.delete(entry) || fns.size > 0) return;
    signal.removeEventListener('abort', fire);
    if (bySignal.get(signal) === w) bySignal.delete(signal);
  };
}

/**
 * How long a cancelled run lets work already under way go on (a hash running, a request whose body is
 * all sent): one that ends soon is recorded, one of a file of many GiB would hold the exit for minutes
 * (past systemd's 90 s before it kills).
 */
export const CANCEL_GRACE_MS = 3000;

/** The error a wait cut short by a signal rejects with, as Node's own (its cause the signal's reason). */
export function abortError(reason: unknown): Error {
  return Object.assign(new Error('The operation was aborted', { cause: reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/** timers/promises' setTimeout(ms, undefined, { signal }), through onAbort. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise((resolve, reject) => {
    let stop = () => {};
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
    if (signal)
      stop = onAbort(signal, () => {
        clearTimeout(timer);
        reject(abortError(signal.reason));
      });
  });
}
