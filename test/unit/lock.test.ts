/**
 * The destination lock as a table: a free lock is taken, a live holder stops the run (or is waited
 * for), a dead holder on this host (its pid gone or now another process's, or a reboot since) or one
 * that stopped refreshing its lock is taken over with a notice, and what is not an s3sync lock is
 * removed only when s3sync chose the path (never with `strict`, a path the user gave).
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  acquireLock,
  LOCK_HEARTBEAT_MS,
  lockLeftBehind,
  processStart,
  STALE_LOCK_MS,
} from '../../src/manifest/lock.js';
import { deadPid, trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** A usage error: the whole run cannot go on, and the CLI exits 2. */
const isUsageError = (err: unknown) => err instanceof S3SyncError && err.kind === 'usage';

const lockJson = (pid: number, host = hostname(), more: { pidStart?: string; bootId?: string } = {}) =>
  JSON.stringify({ pid, host, startedAt: new Date().toISOString(), ...more });

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
/** This process's lock as this s3sync writes it: its start time and the boot id recorded. */
const ownLock = () => lockJson(process.pid, hostname(), { pidStart: processStart('self')!, bootId });
/** PID 1 (always alive) recorded with another start time: a container's s3sync, killed, its pid now another's. */
const pid1Lock = () => lockJson(1, hostname(), { pidStart: `${Number(processStart(1)) + 1}`, bootId });

const STALE_AGO_MS = STALE_LOCK_MS + 60_000;

/** A lock path, with `content` already there when given, last refreshed `agoMs` ago. */
function lockAt(content?: string, agoMs = 0): string {
  const file = path.join(dir('lock'), 'manifest.json.lock');
  if (content !== undefined) writeFileSync(file, content);
  if (content !== undefined && agoMs > 0) {
    const t = new Date(Date.now() - agoMs);
    utimesSync(file, t, t);
  }
  return file;
}

describe('acquireLock: taking the lock', () => {
  it.each<[string, () => string | undefined, boolean, RegExp | undefined]>([
    ['no lock yet', () => undefined, false, undefined],
    [
      'a dead process on this host left it',
      () => lockJson(deadPid()),
      false,
      /^taking over a stale lock left by process \d+ \(no longer running\)$/,
    ],
    [
      'a dead holder, with strict: it is an s3sync lock',
      () => lockJson(deadPid()),
      true,
      /^taking over a stale lock/,
    ],
    [
      'PID 1 with another start time (a killed run that was PID 1 of a container)',
      pid1Lock,
      false,
      /^taking over a stale lock left by process 1 \(no longer running: pid 1 is another process now\)$/,
    ],
    [
      'a live pid, written before the machine restarted',
      () => lockJson(1, hostname(), { pidStart: processStart(1)!, bootId: 'another-boot' }),
      false,
      /^taking over a stale lock left by process 1 \(no longer running: the machine restarted since\)$/,
    ],
    ['unparsable text', () => 'not json', false, /^removing an unreadable lock file$/],
    ['JSON that is not a lock', () => '{"pid":"12"}', false, /^removing an unreadable lock file$/],
    ['empty (created in place, never written)', () => '', false, /^removing an unreadable lock file$/],
    [
      'zeros (its write never reached the disk)',
      () => '\0\0\0\0',
      false,
      /^removing an unreadable lock file$/,
    ],
    ['empty, with strict: blank is never a user file', () => '', true, /^removing an unreadable lock file$/],
  ])('%s', async (_reason, content, strict, notice) => {
    const file = lockAt(content());
    const notices: string[] = [];
    let tookOver = 0;
    const release = await acquireLock(file, {
      strict,
      notice: (m) => notices.push(m),
      tookOver: () => tookOver++,
    });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(notices).toEqual(notice ? [expect.stringMatching(notice)] : []);
    // A lock removed on the way was left by a run that did not finish: the caller is told, once.
    expect(tookOver).toBe(notice ? 1 : 0);
    release();
    expect(existsSync(file)).toBe(false);
    // Releasing twice is harmless, and leaves a lock taken meanwhile by another run alone.
    writeFileSync(file, lockJson(process.pid));
    release();
    expect(existsSync(file)).toBe(true);
  });
});

describe('acquireLock: a lock it does not take', () => {
  it.each<[string, () => string, { strict?: boolean }, RegExp, boolean]>([
    [
      'a live holder (this very process), without --wait-lock',
      () => lockJson(process.pid),
      {},
      /^another s3sync run \(pid \d+ on .+\) is syncing this destination; wait for it or use waitLock \(--wait-lock\); if that run is known dead, remove \/.+\/manifest\.json\.lock$/,
      true,
    ],
    [
      'a live holder recorded with its start time (another library call of this process)',
      ownLock,
      {},
      /^another s3sync run \(pid \d+ on .+\) is syncing this destination; wait for it or use waitLock \(--wait-lock\)/,
      true,
    ],
    [
      'a dead pid on another host: it may be alive there',
      () => lockJson(deadPid(), 'some-other-host.example'),
      {},
      /^another s3sync run \(pid \d+ on some-other-host\.example\)/,
      true,
    ],
    [
      'not an s3sync lock, at a path the user chose (strict)',
      () => 'my notes',
      { strict: true },
      /is not an s3sync lock file; it is left as it is: move it away or give another --manifest$/,
      true,
    ],
  ])('%s: a usage error, the file left as it was', async (_reason, content, opts, message, keeps) => {
    const text = content();
    const file = lockAt(text);
    const notices: string[] = [];
    const err = await acquireLock(file, { ...opts, notice: (m) => notices.push(m) }).catch((e: unknown) => e);
    expect(isUsageError(err)).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect(notices).toEqual([]);
    expect(existsSync(file) && readFileSync(file, 'utf8') === text).toBe(keeps);
  });

  it.each<[string, (file: string) => void, RegExp]>([
    ['its folder does not exist', () => {}, /^cannot create lock file .*: ENOENT/],
    ['a directory stands at its path', (file) => mkdirSync(file), /^cannot use lock file .*: /],
  ])('%s: a usage error naming the lock', async (_reason, prepare, message) => {
    const file = path.join(dir('lock-bad'), 'missing-or-dir', 'x.lock');
    if (prepare.length > 0) {
      mkdirSync(path.dirname(file));
      prepare(file);
    }
    const err = await acquireLock(file).catch((e: unknown) => e);
    expect(isUsageError(err)).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});

describe('acquireLock: a lock not refreshed (the heartbeat)', () => {
  it.each<[string, () => string, number, RegExp | undefined]>([
    [
      'another host, not refreshed for 11 min: stale wherever it ran',
      () => lockJson(deadPid(), 'some-other-host.example'),
      STALE_AGO_MS,
      /^taking over a stale lock left by process \d+ \(on some-other-host\.example, not refreshed for 11 min\)$/,
    ],
    [
      'another host, refreshed 9 min ago: it may be running there',
      () => lockJson(1, 'x.example'),
      9 * 60_000,
      undefined,
    ],
    [
      'a live pid in a lock with no start time (an older s3sync), not refreshed for 11 min',
      () => lockJson(1),
      STALE_AGO_MS,
      /^taking over a stale lock left by process 1 \(on .+, not refreshed for 11 min\)$/,
    ],
    ['a holder proven live by its start time, however old its mtime', ownLock, STALE_AGO_MS, undefined],
  ])('%s', async (_reason, content, agoMs, notice) => {
    const text = content();
    const file = lockAt(text, agoMs);
    const notices: string[] = [];
    const got = await acquireLock(file, { notice: (m) => notices.push(m) }).catch((e: unknown) => e);
    if (notice) {
      expect(notices).toEqual([expect.stringMatching(notice)]);
      (got as () => void)();
    } else {
      expect((got as Error).message).toMatch(/^another s3sync run .* is syncing this destination/);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  it('the holder refreshes its mtime while it holds the lock, and not after', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const file = lockAt();
      const release = await acquireLock(file);
      const written = JSON.parse(readFileSync(file, 'utf8'));
      expect(written).toMatchObject({ pidStart: processStart('self'), bootId });
      const old = new Date(Date.now() - STALE_AGO_MS);
      utimesSync(file, old, old);
      vi.advanceTimersByTime(LOCK_HEARTBEAT_MS);
      expect(Date.now() - statSync(file).mtimeMs).toBeLessThan(5000);
      // A lock taken over meanwhile is another run's: neither refreshed nor removed.
      writeFileSync(file, ownLock());
      utimesSync(file, old, old);
      vi.advanceTimersByTime(LOCK_HEARTBEAT_MS);
      expect(Math.abs(statSync(file).mtimeMs - old.getTime())).toBeLessThan(1);
      release();
      expect(existsSync(file)).toBe(true);
      unlinkSync(file);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('acquireLock: waiting (--wait-lock)', () => {
  it('waits for a live holder to let go, then takes the lock', async () => {
    const file = lockAt(lockJson(process.pid));
    let taken = false;
    const notices: [string, string | undefined][] = [];
    const notice = (m: string, lockWait?: string) => notices.push([m, lockWait]);
    const waiting = acquireLock(file, { wait: true, notice }).then((release) => {
      taken = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(taken).toBe(false);
    unlinkSync(file);
    const release = await waiting;
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid });
    // The wait's start and end, marked: a run cancelled in between has nothing to save.
    expect(notices).toEqual([
      [expect.stringMatching(/^waiting for another s3sync run \(pid \d+ on .+\) to finish/), 'waiting'],
      ['the other s3sync run let go of this destination: going on', 'over'],
    ]);
    release();
  });

  it('keeps waiting when the wall clock steps past its timeout: the wait is timed on a clock that only moves forward', async () => {
    const file = lockAt(lockJson(process.pid));
    const waiting = acquireLock(file, { wait: true, waitTimeoutMs: 60_000 });
    // Past the timeout, short of the age that makes a lock stale (judged by its file's time, rightly).
    const real = Date.now();
    const step = vi.spyOn(Date, 'now').mockImplementation(() => real + STALE_LOCK_MS / 2);
    try {
      await new Promise((r) => setTimeout(r, 400));
      unlinkSync(file);
      const release = await waiting;
      expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid });
      release();
    } finally {
      step.mockRestore();
    }
  });

  it.each<[string, { waitTimeoutMs?: number; abort?: boolean }, RegExp]>([
    [
      'gives up after its timeout',
      { waitTimeoutMs: 0 },
      /^timed out waiting for the lock on this destination$/,
    ],
    ['stops when the run is cancelled', { abort: true }, /abort/i],
  ])('%s, leaving the holder its lock', async (_reason, c, message) => {
    const text = lockJson(process.pid);
    const file = lockAt(text);
    const ac = new AbortController();
    const p = acquireLock(file, { wait: true, waitTimeoutMs: c.waitTimeoutMs, signal: ac.signal });
    if (c.abort) setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toThrow(message);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});

describe('lockLeftBehind: a run that writes no manifest reads the lock, and leaves it', () => {
  it.each<[string, () => string | undefined, number, boolean]>([
    ['no lock', () => undefined, 0, false],
    ['a live holder (this process)', ownLock, 0, false],
    ['a live holder on another host, refreshed lately', () => lockJson(1, 'elsewhere'), 0, false],
    ['a dead process on this host', () => lockJson(deadPid()), 0, true],
    ['pid 1 is another process now', pid1Lock, 0, true],
    ['another host, not refreshed for too long', () => lockJson(1, 'elsewhere'), STALE_AGO_MS, true],
    ['a machine restarted since', () => lockJson(1, hostname(), { bootId: 'another-boot' }), 0, true],
    ['damaged: not a lock run writes', () => 'not json', 0, true],
    ['blank: one being created in place', () => '', 0, false],
  ])('%s: %s', (_why, content, agoMs, left) => {
    const text = content();
    const file = lockAt(text, agoMs);
    expect(lockLeftBehind(file)).toBe(left);
    expect(existsSync(file)).toBe(text !== undefined);
    if (text !== undefined) expect(readFileSync(file, 'utf8')).toBe(text);
  });
});
