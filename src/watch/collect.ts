import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * One full garbage collection, after a walk: a watcher idles for hours, and what it keeps resident
 * should be what it holds, not the peak of the walk it just made (a tree's scan and manifest, which V8
 * otherwise keeps committed). Node exposes `gc` only behind --expose-gc; the flag is set for the new
 * context that hands it over and cleared again, as jest's leak detector does. Best effort: a runtime
 * that refuses is left as it is.
 */
export function collectGarbage(): void {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    gc?.();
  } catch {
    // no collection: the walk's memory is reused by the next one instead
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
