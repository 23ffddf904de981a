/**
 * When `push --watch` walks the whole tree, looks over it after events, and renews its subscription,
 * pure: the loop (./watch-loop.ts) says what happened and when, and asks what is due. Settling paths
 * and their retries stay with the loop (./settle.ts). Its times are the loop's monotonicNow(), never
 * the wall clock: a step of that (NTP) would hold every timer for as long as it stepped back.
 */
import { backoffMs } from './settle.js';

/** The least time between two renewals of the subscription for folders made several levels at once. */
export const RENEW_EVERY_MS = 5000;

/**
 * A look over the tree follows events: after this long with none (or the settle time, if longer), or
 * at the latest this long after the first, for files whose events the watcher dropped.
 */
export const LOOK_QUIET_MS = 5000;
export const LOOK_LATEST_MS = 60_000;
/** The least time between two looks, and their most share of the time (a look reads the whole tree). */
export const LOOK_GAP_MS = 30_000;
export const LOOK_SHARE = 20;

export class WatchSchedule {
  /** When the next full walk is due; 0: now. */
  private walkAt = 0;
  /** Walks (or looks) that failed as a whole in a row: the next walk waits for the backoff. */
  private failures = 0;
  /** Why the last walk or look failed as a whole (a delete guard, the endpoint), until a walk succeeds. */
  private error: string | undefined;
  /**
   * The first and the last event since the last look or walk: @parcel/watcher can drop an event that
   * comes as it hands a batch over (parcel-bundler/watcher#183), so events are followed by a look.
   */
  private lookSince: number | undefined;
  private lastEventAt = 0;
  /** When the last look ended, and how long it took. */
  private lookedAt = 0;
  private lookMs = 0;
  /** When the subscription is renewed for folders made several levels at once; undefined: not due. */
  private renewAt: number | undefined;
  /** The last renewal: a storm of such folders costs one renewal every RENEW_EVERY_MS, not one each. */
  private renewedAt = 0;

  constructor(
    private readonly settleMs: number,
    private readonly reconcileMs: number,
  ) {}

  /** Why the walks fail, while they do. */
  get walkError(): string | undefined {
    return this.error;
  }

  /** Events came since the last look or walk: the look they call for has not read the tree yet. */
  get lookOwed(): boolean {
    return this.lookSince !== undefined;
  }

  /** An event came: a look follows once they stop. */
  event(now: number): void {
    this.lastEventAt = now;
    this.lookSince ??= now;
  }

  /** A walk at once: the root replaced, events lost, no manifest to send on the word of. */
  walkNow(): void {
    this.walkAt = 0;
  }

  /** A walk once a file has had the settle time to be written whole (new ignore rules). */
  walkAfterSettle(now: number): void {
    this.walkAt = Math.min(this.walkAt, now + this.settleMs);
  }

  walkDue(now: number): boolean {
    return now >= this.walkAt;
  }

  /** A walk reads the whole tree: events before it need no look of their own. */
  walkStarted(): void {
    this.lookSince = undefined;
  }

  /** The walk went through: the next one comes --reconcile-every from now. */
  walked(now: number): void {
    this.failures = 0;
    this.error = undefined;
    this.walkAt = now + this.reconcileMs;
  }

  /** The walk failed as a whole: tried again after a backoff that grows with each failure. */
  walkFailed(now: number, message: string): void {
    this.failures++;
    this.walkAt = now + backoffMs(this.failures);
    this.error = message;
  }

  /**
   * When the look after the last events is due: once they have stopped (or a minute after the first),
   * no sooner than LOOK_GAP_MS after the last look nor more often than LOOK_SHARE times its length;
   * never when the next walk comes first.
   */
  lookAt(): number {
    if (this.lookSince === undefined) return Number.POSITIVE_INFINITY;
    const quiet = Math.min(
      this.lastEventAt + Math.max(LOOK_QUIET_MS, this.settleMs),
      this.lookSince + LOOK_LATEST_MS,
    );
    const at = Math.max(quiet, this.lookedAt + Math.max(LOOK_GAP_MS, LOOK_SHARE * this.lookMs));
    return at >= this.walkAt ? Number.POSITIVE_INFINITY : at;
  }

  /** A look starts: the events so far are what it looks after. */
  lookStarted(): void {
    this.lookSince = undefined;
  }

  /** A look ended (however it ended): the next waits for the gap its length sets. */
  looked(started: number, now: number): void {
    this.lookedAt = now;
    this.lookMs = now - started;
  }

  /**
   * A look failed as a whole: what it would have done is known to no path, so the walk takes it over,
   * with the walks' backoff, and is counted as theirs is.
   */
  lookFailed(now: number, message: string): void {
    this.failures++;
    this.walkAt = Math.min(this.walkAt, now + backoffMs(this.failures));
    this.error = message;
  }

  /** A folder made with folders in it: the subscription is renewed after the settle time. */
  deepDir(now: number): void {
    this.renewAt ??= Math.max(now + this.settleMs, this.renewedAt + RENEW_EVERY_MS);
  }

  renewDue(now: number): boolean {
    return this.renewAt !== undefined && now >= this.renewAt;
  }

  renewed(now: number): void {
    this.renewAt = undefined;
    this.renewedAt = now;
  }

  /** The first of the next walk, renewal and look. */
  next(): number {
    return Math.min(this.walkAt, this.renewAt ?? Number.POSITIVE_INFINITY, this.lookAt());
  }
}
