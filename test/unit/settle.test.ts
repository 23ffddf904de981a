/**
 * Settle detection for `push --watch` as tables: a path is ready once it has stayed the same for the
 * settle time, every event restarts its clock, a walk holds back what changed within the settle time,
 * and failed attempts back off up to a ceiling.
 */
import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  changedRecently,
  GONE,
  isSettled,
  missedChange,
  nextDue,
  observe,
} from '../../src/watch/settle.js';

const SETTLE = 2000;
const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

describe('observe: when a path’s clock restarts', () => {
  const seen = { sig: '10:5', since: 1000 };
  it.each<[string, { sig: string; since: number } | undefined, string, boolean, number]>([
    ['a path seen for the first time starts now', undefined, '10:5', false, 4000],
    [
      'an event restarts the clock even with the same signature (a write that kept size and mtime)',
      seen,
      '10:5',
      true,
      4000,
    ],
    ['a stat with another signature restarts it (still being written)', seen, '11:6', false, 4000],
    ['a file that vanished restarts it (gone is a signature of its own)', seen, GONE, false, 4000],
    ['a stat with the same signature keeps it running', seen, '10:5', false, 1000],
  ])('%s', (_reason, prev, sig, event, since) => {
    const o = observe(prev, sig, 4000, event);
    expect(o).toEqual({ sig, since });
  });

  it('a stat that finds nothing new returns the same record (the loop tells settled from changed by it)', () => {
    expect(observe(seen, '10:5', 9000, false)).toBe(seen);
  });
});

describe('isSettled and nextDue', () => {
  it.each<[string, number, boolean]>([
    ['just changed', 1000, false],
    ['one millisecond short of the settle time', 2999, false],
    ['exactly the settle time', 3000, true],
    ['long after', 60_000, true],
  ])('%s', (_reason, now, settled) => {
    expect(isSettled({ sig: 'x', since: 1000 }, now, SETTLE)).toBe(settled);
  });

  it('the next wake-up is the oldest record’s settle time; none for no records', () => {
    expect(
      nextDue(
        [
          { sig: 'a', since: 5000 },
          { sig: 'b', since: 3000 },
          { sig: 'c', since: 4000 },
        ],
        SETTLE,
      ),
    ).toBe(5000);
    expect(nextDue([], SETTLE)).toBeUndefined();
  });
});

describe('changedRecently: what a walk holds back as possibly half-written', () => {
  const now = 1_000_000;
  it.each<[string, number, boolean]>([
    ['modified just now', now, true],
    ['modified within the settle time', now - 1999, true],
    ['modified exactly the settle time ago', now - SETTLE, false],
    ['modified long ago', now - 3_600_000, false],
    ['an mtime a little ahead (coarse or skewed clocks): still held', now + 500, true],
    ['an mtime far in the future (a bad copy, a clock gone back): not held for ever', now + 3_600_000, false],
  ])('%s', (_reason, mtimeMs, held) => {
    expect(changedRecently(ns(mtimeMs), now, SETTLE)).toBe(held);
  });
});

describe('backoffMs: retries after failures in a row', () => {
  it.each<[string, number, number]>([
    ['no failure: no wait', 0, 0],
    ['the first failure waits the base', 1, 1000],
    ['then doubles', 2, 2000],
    ['and doubles', 5, 16_000],
    ['up to the ceiling', 7, 60_000],
    ['an outage of hours stays at the ceiling (no overflow)', 5000, 60_000],
  ])('%s', (_reason, failures, ms) => {
    expect(backoffMs(failures)).toBe(ms);
  });
});

describe('missedChange: a walk that sent what no event named', () => {
  const named = (rel: string) => rel === 'seen.txt' || rel === 'held.txt';
  it.each<[string, string[], boolean, string | undefined]>([
    ['nothing sent: nothing missed', [], false, undefined],
    [
      'only what events named (or holds, retries) was sent: nothing missed',
      ['seen.txt', 'held.txt'],
      false,
      undefined,
    ],
    [
      'a file no event named: the first such is said',
      ['seen.txt', 'x/y/new.txt', 'x/y/z.txt'],
      false,
      'x/y/new.txt',
    ],
    [
      'a walk whose cause explains it (the first sync, events lost): nothing said',
      ['x/y/new.txt'],
      true,
      undefined,
    ],
  ])('%s', (_what, sent, explained, want) => {
    expect(missedChange(sent, named, explained)).toBe(want);
  });
});
