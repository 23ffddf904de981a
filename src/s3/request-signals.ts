/** A signal for one request, and the call that unlinks it from its sources once the request is over. */
export interface RequestSignal {
  signal: AbortSignal | undefined;
  release: () => void;
}

const NONE: RequestSignal = { signal: undefined, release: () => {} };

/**
 * Gives each request its own AbortSignal, aborted when any of its sources (the run's signal, a file's
 * transfer signal) aborts, through one 'abort' listener per source however many requests are in flight.
 *
 * The SDK adds a listener to the signal a request is given (one for the socket, one per wait for a
 * retry token). Shared by the parts of one file, or by every request of a run, that signal had 11 of
 * them as soon as 11 requests were in flight, and Node printed MaxListenersExceededWarning. A signal
 * per request keeps each listener count at one or two; AbortSignal.any would do it too, but on Node 20
 * a long-lived source keeps a trace of every signal derived from it.
 */
export class RequestSignals {
  private readonly waiting = new WeakMap<AbortSignal, Set<AbortController>>();

  open(sources: ReadonlyArray<AbortSignal | undefined>): RequestSignal {
    const present = sources.filter((s): s is AbortSignal => s !== undefined);
    if (present.length === 0) return NONE;
    const own = new AbortController();
    const sets: Set<AbortController>[] = [];
    for (const source of present) {
      if (source.aborted) {
        own.abort(source.reason);
        break;
      }
      const set = this.requestsOf(source);
      set.add(own);
      sets.push(set);
    }
    return {
      signal: own.signal,
      release: () => {
        for (const set of sets) set.delete(own);
      },
    };
  }

  private requestsOf(source: AbortSignal): Set<AbortController> {
    let set = this.waiting.get(source);
    if (!set) {
      const requests = new Set<AbortController>();
      source.addEventListener(
        'abort',
        () => {
          for (const c of requests) c.abort(source.reason);
          requests.clear();
        },
        { once: true },
      );
      this.waiting.set(source, requests);
      set = requests;
    }
    return set;
  }
}
