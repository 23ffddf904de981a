/**
 * Runs racing to take over one stale lock, made deterministic: the step that removes (or moves) the
 * lock is intercepted, and another run's whole takeover is played at that instant. The slower run then
 * meets a live lock where it judged a stale one, and must leave it.
 */
import * as fs from 'node:fs';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { acquireLock, processStart } from '../../src/manifest/lock.js';
import { ManifestStore } from '../../src/manifest/manifest-store.js';
import { defaultManifestPath } from '../../src/manifest/store.js';
import { deadPid, trackedDirs } from '../helpers.js';

/** Played once, just before the code under test removes or moves the file at `path`. */
const hook = vi.hoisted(() => ({
  at: undefined as string | undefined,
  run: undefined as (() => void) | undefined,
  /** Played once, as acquireLock returns. */
  afterAcquire: undefined as (() => void) | undefined,
}));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const before = (p: unknown) => {
    if (hook.run === undefined || p !== hook.at) return;
    const run = hook.run;
    hook.run = undefined;
    run();
  };
  const unlinkSync: typeof real.unlinkSync = (p) => {
    before(p);
    real.unlinkSync(p);
  };
  const renameSync: typeof real.renameSync = (from, to) => {
    before(from);
    real.renameSync(from, to);
  };
  const mocked = { ...real, unlinkSync, renameSync };
  return { ...mocked, default: mocked };
});

vi.mock('../../src/manifest/lock.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/manifest/lock.js')>();
  const acquireLock: typeof real.acquireLock = async (...args) => {
    const release = await real.acquireLock(...args);
    const after = hook.afterAcquire;
    hook.afterAcquire = undefined;
    after?.();
    return release;
  };
  return { ...real, acquireLock };
});

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);
afterEach(() => {
  hook.run = undefined;
  hook.afterAcquire = undefined;
});

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
/** A lock of this (live) process, as another library call of it writes one: its start time proves it live. */
const liveLock = () =>
  JSON.stringify({
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    pidStart: processStart('self'),
    bootId,
  });

/** Another run's takeover, done whole: the stale lock removed, its own placed (a new file). */
const otherRunTakesOver = (lockPath: string, text: string) => () => {
  fs.rmSync(lockPath, { force: true });
  writeFileSync(lockPath, text, { flag: 'wx' });
};

describe('acquireLock: another run takes the stale lock over first', () => {
  it.each<[string, () => string]>([
    ['a dead holder', () => JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: '' })],
    ['an unreadable lock', () => 'not json'],
  ])('%s: its new lock is left in place, and this run is told another holds it', async (_w, stale) => {
    const lockPath = path.join(dir('race'), 'manifest.json.lock');
    writeFileSync(lockPath, stale());
    const theirs = liveLock();
    hook.at = lockPath;
    hook.run = otherRunTakesOver(lockPath, theirs);
    const got = await acquireLock(lockPath).catch((e: unknown) => e);
    // The interleaving did happen: the code reached the removal of the lock.
    expect(hook.run).toBeUndefined();
    expect(got).toBeInstanceOf(S3SyncError);
    expect(got).toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/^another s3sync run \(pid \d+ on .+\) is syncing this destination/),
    });
    // Never two holders: the other run's lock is still at the path.
    expect(readFileSync(lockPath, 'utf8')).toBe(theirs);
  });
});

describe('acquireLock: another run removes the stale lock first, and has not placed its own yet', () => {
  it('this run takes the lock, told that the run that left it did not finish', async () => {
    const lockPath = path.join(dir('race-gone'), 'manifest.json.lock');
    writeFileSync(lockPath, JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: '' }));
    hook.at = lockPath;
    hook.run = () => fs.rmSync(lockPath);
    const notices: string[] = [];
    let tookOver = 0;
    const release = await acquireLock(lockPath, {
      notice: (m) => notices.push(m),
      tookOver: () => tookOver++,
    });
    expect(hook.run).toBeUndefined();
    expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid });
    // The other run said it took it over; this one only holds what it placed.
    expect(notices).toEqual([]);
    expect(tookOver).toBe(1);
    release();
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});

describe('ManifestStore: the lock vanishes as the run takes it', () => {
  it('a usage error saying the lock was lost, never an unexpected ENOENT', async () => {
    const root = dir('race-store');
    const destination = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };
    const lockPath = `${defaultManifestPath(root, destination)}.lock`;
    const store = new ManifestStore({
      localRoot: root,
      destination,
      write: true,
      startedAt: Date.now(),
      notice: () => {},
      warn: () => {},
      claim: () => {},
    });
    // Another run (or a hand) removes it the moment acquireLock has returned.
    hook.afterAcquire = () => fs.rmSync(lockPath);
    const err = await store.open().catch((e: unknown) => e);
    expect(hook.afterAcquire).toBeUndefined();
    expect(err).toBeInstanceOf(S3SyncError);
    expect(err).toMatchObject({
      kind: 'usage',
      message: `lost the lock on this destination: ${lockPath} was removed as this run took it; run again`,
    });
    expect(fs.existsSync(lockPath)).toBe(false);
  });
});
