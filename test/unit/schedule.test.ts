/**
 * When a watch walks, looks after events and renews its subscription: the rules of WatchSchedule,
 * with the time given, not waited for.
 */
import { describe, expect, it } from 'vitest';
import {
  LOOK_GAP_MS,
  LOOK_LATEST_MS,
  LOOK_QUIET_MS,
  LOOK_SHARE,
  RENEW_EVERY_MS,
  WatchSchedule,
} from '../../src/watch/schedule.js';

const SETTLE = 300;
const HOUR = 3_600_000;
const T0 = 1_000_000;

/** A schedule whose first walk went through at T0 (the next one an hour later). */
function walkedAt(now = T0, settle = SETTLE, reconcile = HOUR): WatchSchedule {
  const s = new WatchSchedule(settle, reconcile);
  s.walkStarted();
  s.walked(now);
  return s;
}

describe('WatchSchedule: walks', () => {
  it('the first walk is due at once; the next --reconcile-every after it went through', () => {
    const s = new WatchSchedule(SETTLE, HOUR);
    expect(s.walkDue(0)).toBe(true);
    s.walked(T0);
    expect(s.walkDue(T0 + HOUR - 1)).toBe(false);
    expect(s.walkDue(T0 + HOUR)).toBe(true);
    expect(s.next()).toBe(T0 + HOUR);
  });

  it('failed walks back off, doubling, and a walk that goes through clears the error', () => {
    const s = walkedAt();
    s.walkFailed(T0, 'endpoint away');
    expect(s.walkError).toBe('endpoint away');
    expect(s.next()).toBe(T0 + 1000);
    s.walkFailed(T0, 'endpoint away');
    expect(s.next()).toBe(T0 + 2000);
    s.walkFailed(T0, 'still away');
    expect([s.next(), s.walkError]).toEqual([T0 + 4000, 'still away']);
    s.walked(T0 + 5000);
    expect([s.next(), s.walkError]).toEqual([T0 + 5000 + HOUR, undefined]);
    // The count started again: the next failure waits the first step.
    s.walkFailed(T0 + 6000, 'away again');
    expect(s.next()).toBe(T0 + 7000);
  });

  it('new ignore rules bring the walk to the settle time from now, never later than it was', () => {
    const s = walkedAt();
    s.walkAfterSettle(T0 + 10);
    expect(s.next()).toBe(T0 + 10 + SETTLE);
    s.walkNow();
    s.walkAfterSettle(T0 + 20);
    expect(s.walkDue(T0 + 20)).toBe(true);
  });
});

describe('WatchSchedule: the look after events', () => {
  it('none without events', () => {
    expect(walkedAt().lookAt()).toBe(Number.POSITIVE_INFINITY);
  });

  it('once events have stopped for the quiet time (the settle time if longer)', () => {
    const s = walkedAt(T0 - LOOK_GAP_MS);
    s.event(T0);
    s.event(T0 + 1000);
    expect(s.lookAt()).toBe(T0 + 1000 + LOOK_QUIET_MS);
    const slow = walkedAt(T0 - LOOK_GAP_MS, 8000);
    slow.event(T0);
    expect(slow.lookAt()).toBe(T0 + 8000);
  });

  it('at the latest a minute after the first event, while events go on', () => {
    const s = walkedAt(T0 - LOOK_GAP_MS);
    for (let t = T0; t < T0 + 2 * LOOK_LATEST_MS; t += 1000) s.event(t);
    expect(s.lookAt()).toBe(T0 + LOOK_LATEST_MS);
  });

  it('no sooner than the gap after the last look, nor more often than its share of the time', () => {
    const s = walkedAt(T0 - HOUR / 2);
    s.lookStarted();
    s.looked(T0, T0 + 100);
    s.event(T0 + 200);
    expect(s.lookAt()).toBe(T0 + 100 + LOOK_GAP_MS);
    // A look of 2 s: the next one at least 40 s after it.
    s.lookStarted();
    s.looked(T0 + 50_000, T0 + 52_000);
    s.event(T0 + 52_500);
    expect(s.lookAt()).toBe(T0 + 52_000 + LOOK_SHARE * 2000);
  });

  it('a look starts with the events so far: later ones call for the next', () => {
    const s = walkedAt(T0 - LOOK_GAP_MS);
    s.event(T0);
    s.lookStarted();
    expect(s.lookAt()).toBe(Number.POSITIVE_INFINITY);
    s.looked(T0 + LOOK_QUIET_MS, T0 + LOOK_QUIET_MS + 100);
    s.event(T0 + LOOK_QUIET_MS + 50);
    expect(s.lookAt()).toBe(T0 + LOOK_QUIET_MS + 100 + LOOK_GAP_MS);
  });

  it('none when the next walk comes first, and none for events before a walk', () => {
    // The walk 3 s after the event, the look would be 5 s after it.
    const s = new WatchSchedule(SETTLE, LOOK_GAP_MS + 3000);
    s.walked(T0 - LOOK_GAP_MS);
    s.event(T0);
    expect(s.lookAt()).toBe(Number.POSITIVE_INFINITY);
    expect(s.next()).toBe(T0 + 3000);
    // With the walk later than the look, the look.
    const later = new WatchSchedule(SETTLE, LOOK_GAP_MS + LOOK_QUIET_MS + 1);
    later.walked(T0 - LOOK_GAP_MS);
    later.event(T0);
    expect(later.lookAt()).toBe(T0 + LOOK_QUIET_MS);
    const t = walkedAt(T0 - LOOK_GAP_MS);
    t.event(T0);
    t.walkStarted();
    t.walked(T0 + 100);
    expect(t.lookAt()).toBe(Number.POSITIVE_INFINITY);
  });

  it('a look that fails as a whole hands over to the walk, with the walks backoff and error', () => {
    const s = walkedAt(T0 - LOOK_GAP_MS);
    s.lookStarted();
    s.lookFailed(T0, 'refused: an empty source');
    s.looked(T0 - 10, T0);
    expect([s.next(), s.walkError]).toEqual([T0 + 1000, 'refused: an empty source']);
    // Never later than a walk already due sooner.
    s.walkNow();
    s.lookFailed(T0, 'again');
    expect(s.walkDue(T0)).toBe(true);
  });
});

describe('WatchSchedule: renewing the subscription', () => {
  it('after the settle time, once for a burst, and no more often than every RENEW_EVERY_MS', () => {
    const s = walkedAt();
    expect(s.renewDue(T0 + HOUR - 1)).toBe(false);
    s.deepDir(T0);
    s.deepDir(T0 + 200);
    expect(s.renewDue(T0 + SETTLE - 1)).toBe(false);
    expect(s.renewDue(T0 + SETTLE)).toBe(true);
    expect(s.next()).toBe(T0 + SETTLE);
    s.renewed(T0 + SETTLE);
    expect(s.renewDue(T0 + HOUR - 1)).toBe(false);
    s.deepDir(T0 + SETTLE + 10);
    expect(s.next()).toBe(T0 + SETTLE + RENEW_EVERY_MS);
  });
});
