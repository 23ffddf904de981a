import { abortError, CANCEL_GRACE_MS, onAbort } from '../abort-listeners.js';

/**
 * The cancellation of one request: aborted when any of its sources (the run's signal, a file's transfer
 * signal) aborts, until the request is released.
 *
 * It is no AbortSignal of its own until something asks for one (`signal`: the SDK, a timer): a request
 * sent without the SDK is stopped through `onAbort`, a plain callback: an AbortController per request,
 * and http.request's `signal` option (an EventTarget listener, and a stream-end watcher to remove it),
 * were a measurable share of a small file's CPU (docs/performance.md).
 */
export class RequestScope {
  private state: { reason: unknown } | undefined;
  private controller: AbortController | undefined;
  private hooks: ((reason: unknown) => void)[] | undefined;
  /** The sources this request is reached from, to leave on release. */
  private readonly memberOf: SourceRequests[] = [];
  /** This attempt's body has all gone to the socket (see `sent`). */
  private bodySent = false;
  /** A cancellation waiting for the answer of an attempt whose body was sent (see `cancel`). */
  private grace: { timer: NodeJS.Timeout; reason: unknown } | undefined;

  get aborted(): boolean {
    return this.state !== undefined;
  }

  get reason(): unknown {
    return this.state?.reason;
  }

  throwIfAborted(): void {
    if (this.state) throw this.state.reason;
  }

  /** An AbortSignal that follows this request, made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.state) this.controller.abort(this.state.reason);
    }
    return this.controller.signal;
  }

  /**
   * Calls fn once, with the reason, when the request is aborted (at once if it already is); never after
   * release or after the returned call removes it.
   */
  onAbort(fn: (reason: unknown) => void): () => void {
    if (this.state) {
      fn(this.state.reason);
      return () => {};
    }
    this.hooks ??= [];
    const hooks = this.hooks;
    hooks.push(fn);
    return () => {
      const i = hooks.indexOf(fn);
      if (i >= 0) hooks.splice(i, 1);
    };
  }

  /** A new attempt starts: nothing of its body is sent yet. */
  attempt(): void {
    this.bodySent = false;
  }

  /**
   * The attempt's whole body has been handed to the socket: the server may store it whatever happens
   * to the connection now, so a cancellation (`cancel`) waits a while for the answer that says so.
   */
  sent(): void {
    this.bodySent = true;
  }

  /**
   * A source was aborted: a request whose body is all sent gets CANCEL_GRACE_MS for its answer, so that
   * an object the server stored is counted and recorded rather than left for the next run's listing;
   * any other request is aborted at once, as the server stores nothing of a body it did not get whole.
   */
  cancel(reason: unknown): void {
    if (this.state || this.grace) return;
    if (this.bodySent) this.grace = { timer: setTimeout(() => this.abort(reason), CANCEL_GRACE_MS), reason };
    else this.abort(reason);
  }

  /** The attempt failed: one waited for by `cancel` is not retried, its cancellation takes effect now. */
  attemptFailed(): void {
    if (this.grace) this.abort(this.grace.reason);
  }

  abort(reason: unknown): void {
    if (this.state) return;
    clearTimeout(this.grace?.timer);
    this.state = { reason };
    this.controller?.abort(reason);
    const hooks = this.hooks;
    this.hooks = undefined;
    if (hooks) for (let i = 0; i < hooks.length; i++) hooks[i]!(reason);
  }

  /** Reached from a source through `from` until released. */
  join(from: SourceRequests): void {
    from.add(this);
    this.memberOf.push(from);
  }

  /** The request is over: its sources no longer reach it, and its hooks are dropped. */
  release(): void {
    clearTimeout(this.grace?.timer);
    for (let i = 0; i < this.memberOf.length; i++) this.memberOf[i]!.delete(this);
    this.memberOf.length = 0;
    this.hooks = undefined;
  }
}

/** The error http.request's `signal` option destroys a request with: an AbortError, the reason its cause. */
export { abortError };

/** A request's cancellation as something that waits on it needs it: an AbortSignal, made if need be. */
export const signalOf = (c: AbortSignal | RequestScope | undefined): AbortSignal | undefined =>
  c instanceof RequestScope ? c.signal : c;

/**
 * Opens a RequestScope per request, reached from each source through one 'abort' listener however
 * many requests are in flight, and none once they are all released.
 *
 * The SDK adds a listener to the signal a request is given (one for the socket, one per wait for a
 * retry token). Shared by the parts of one file, or by every request of a run, that signal had 11 of
 * them as soon as 11 requests were in flight, and Node printed MaxListenersExceededWarning. A signal
 * per request keeps each listener count at one or two; AbortSignal.any would do it too, but on Node 20
 * a long-lived source keeps a trace of every signal derived from it.
 */
export class RequestSignals {
  private readonly waiting = new WeakMap<AbortSignal, SourceRequests>();

  /** The scope of a request with these sources; undefined when it has none (it cannot be aborted). */
  open(sources: ReadonlyArray<AbortSignal | undefined>): RequestScope | undefined {
    let scope: RequestScope | undefined;
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i];
      if (source === undefined) continue;
      scope ??= new RequestScope();
      if (source.aborted) {
        scope.abort(source.reason);
        break;
      }
      let from = this.waiting.get(source);
      if (!from) {
        from = new SourceRequests(source, this.waiting);
        this.waiting.set(source, from);
      }
      scope.join(from);
    }
    return scope;
  }
}

/**
 * The requests in flight from one source, and its one 'abort' listener while there are any: the
 * source may be the caller's signal, reused call after call, which must not keep a listener per call.
 */
class SourceRequests {
  private readonly requests = new Set<RequestScope>();
  // Through the process's one listener on the source: runs at once each had their own.
  private readonly stop: () => void;

  constructor(
    private readonly source: AbortSignal,
    private readonly index: WeakMap<AbortSignal, SourceRequests>,
  ) {
    this.stop = onAbort(source, this.aborted);
  }

  private readonly aborted = () => {
    const now = [...this.requests];
    this.requests.clear();
    for (const r of now) r.cancel(this.source.reason);
  };

  add(r: RequestScope): void {
    this.requests.add(r);
  }

  delete(r: RequestScope): void {
    this.requests.delete(r);
    if (this.requests.size > 0) return;
    this.stop();
    if (this.index.get(this.source) === this) this.index.delete(this.source);
  }
}
