/**
 * The destination lock as a table: a free lock is taken, a live holder stops the run (or is waited
 * for), a dead holder on this host is taken over with a notice, and what is not an s3sync lock is
 * removed only when s3sync chose the path (never with `strict`, a path the user gave).
 */
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { acquireLock } from '../../src/manifest/lock.js';
import { deadPid, trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** A usage error: the whole run cannot go on, and the CLI exits 2. */
const isUsageError = (err: unknown) => err instanceof S3SyncError && err.kind === 'usage';

const lockJson = (pid: number, host = hostname()) =>
  JSON.stringify({ pid, host, startedAt: new Date().toISOString() });

/** A lock path, with `content` already there when given. */
function lockAt(content?: string): string {
  const file = path.join(dir('lock'), 'manifest.json.lock');
  if (content !== undefined) writeFileSync(file, content);
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
    const release = await acquireLock(file, { strict, notice: (m) => notices.push(m) });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(notices).toEqual(notice ? [expect.stringMatching(notice)] : []);
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
      /^another s3sync run \(pid \d+ on .+\) is syncing this destination; wait for it or use --wait-lock$/,
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

describe('acquireLock: waiting (--wait-lock)', () => {
  it('waits for a live holder to let go, then takes the lock', async () => {
    const file = lockAt(lockJson(process.pid));
    let taken = false;
    const waiting = acquireLock(file, { wait: true }).then((release) => {
      taken = true;
      return release;
    });
    await new Promise((r) => setTimeout(r, 400));
    expect(taken).toBe(false);
    unlinkSync(file);
    const release = await waiting;
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid });
    release();
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
