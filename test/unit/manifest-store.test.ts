import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/manifest/lock.js';
import { ManifestStore, type ManifestStoreOptions } from '../../src/manifest/manifest-store.js';
import { decodeManifest, type ManifestEntry, type PendingUpload } from '../../src/manifest/schema.js';
import { defaultManifestPath, STATE_DIR } from '../../src/manifest/store.js';
import { UNPROVEN_CTIME } from '../../src/plan/compare.js';
import type { RemoteObject } from '../../src/plan/types.js';
import { deadPid, tempDir } from '../helpers.js';

const destination = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };
const MD5 = 'e243bb39c844b3543a7726576c869caf';

const entry = (over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  size: 7,
  mtimeNs: '1700000000000000000',
  ctimeNs: '1700000000000000001',
  ino: '42',
  md5: MD5,
  etag: MD5,
  partSize: 0,
  syncedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const REL = 'big.bin';

/** A listed object of the content of `entry()` when its size is 7. */
const object = (rel: string, size: number): RemoteObject => ({
  rel,
  key: `p/${rel}`,
  size,
  etag: MD5,
  lastModified: 0,
});

const pendingRecord = (over: Partial<PendingUpload> = {}): PendingUpload => ({
  uploadId: '',
  key: 'p/big.bin',
  size: 100,
  mtimeNs: '1',
  md5: MD5,
  partSize: 50,
  parts: {},
  startedAt: '2026-01-01T00:00:00.000Z',
  create: { sentAt: 1000 },
  ...over,
});

/** The record once no upload other than its own can exist at its key. */
const settled = (over: Partial<PendingUpload>): PendingUpload => {
  const { create: _, ...rec } = pendingRecord(over);
  return rec;
};
const closedWindow = { create: { sentAt: 1000, endedAt: expect.any(Number) } };

/** A store over a fresh directory; `said` collects its notices and warnings. */
function storeIn(root = tempDir('store'), over: Partial<ManifestStoreOptions> = {}) {
  const said: string[] = [];
  const claimed: string[] = [];
  const store = new ManifestStore({
    localRoot: root,
    destination,
    write: true,
    startedAt: Date.now(),
    notice: (m) => said.push(m),
    warn: (m) => said.push(m),
    claim: (f) => claimed.push(f),
    ...over,
  });
  return { store, root, said, claimed, file: defaultManifestPath(root, destination) };
}

/** The manifest as saved on disk. */
function onDisk(file: string) {
  const m = decodeManifest(readFileSync(file, 'utf8'), destination);
  if (typeof m === 'string') throw new Error(m);
  return m;
}

/** Every path under `dir`, relative: what a run left there. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('ManifestStore mutations', () => {
  it('records an entry as given, or unproven when its mtime tick may reach past the run start', async () => {
    const { store } = storeIn();
    await store.open();
    store.record('old.txt', entry());
    // mtime now: written within the tick the run's first reads may share, so its stat data proves nothing.
    const fresh = entry({ mtimeNs: (BigInt(Date.now()) * 1_000_000n).toString() });
    store.record('fresh.txt', fresh);
    expect(store.files.get('old.txt')).toEqual(entry());
    expect(store.files.get('fresh.txt')).toEqual({ ...fresh, ctimeNs: UNPROVEN_CTIME });
    store.forget('old.txt');
    expect([...store.files.keys()]).toEqual(['fresh.txt']);
    store.close(true);
  });

  type Step = (s: ManifestStore) => void;
  const begin: Step = (s) => s.beginUpload(REL, pendingRecord());
  const created =
    (retried = false): Step =>
    (s) =>
      s.uploadCreated(REL, 'u1', retried);
  it.each<[string, Step[], PendingUpload | undefined]>([
    ['begun: kept with no id, its creation window open', [begin], pendingRecord()],
    ['created in one attempt: the id, no creation window', [begin, created()], settled({ uploadId: 'u1' })],
    [
      'created after retries: the id, and the window closed at the answer',
      [begin, created(true)],
      pendingRecord({ uploadId: 'u1', ...closedWindow }),
    ],
    [
      'whose creation failed: the window closed, kept for the sweep',
      [begin, (s) => s.createEnded(REL)],
      pendingRecord(closedWindow),
    ],
    [
      'with parts done, by part number',
      [begin, created(), (s) => s.partDone(REL, 2, 'e2'), (s) => s.partDone(REL, 1, 'e1')],
      settled({ uploadId: 'u1', parts: { 1: 'e1', 2: 'e2' } }),
    ],
    [
      'with strays settled: the window goes, the record stays',
      [begin, created(true), (s) => s.straysSettled(REL)],
      settled({ uploadId: 'u1' }),
    ],
    [
      'aborted with no strays possible: forgotten',
      [begin, created(), (s) => s.abortTried(REL, true)],
      undefined,
    ],
    [
      'aborted while strays may remain: kept without its id for the sweep',
      [begin, created(true), (s) => s.abortTried(REL, true)],
      pendingRecord(closedWindow),
    ],
    [
      'whose abort failed: kept with its id for the next run',
      [begin, created(), (s) => s.abortTried(REL, false)],
      settled({ uploadId: 'u1' }),
    ],
    ['ended (completed, gone): forgotten', [begin, (s) => s.endUpload(REL)], undefined],
  ])('a pending upload %s, in memory and once saved', async (_what, steps, expected) => {
    const { store, file } = storeIn();
    await store.open();
    for (const step of steps) step(store);
    expect(store.pending[REL]).toEqual(expected);
    store.close(false);
    expect(onDisk(file).pending[REL]).toEqual(expected);
  });

  it('saves a begun upload, and its id, before returning (durable before the request goes out)', async () => {
    const { store, file } = storeIn();
    await store.open();
    store.beginUpload(REL, pendingRecord());
    expect(onDisk(file).pending[REL]).toEqual(pendingRecord());
    store.uploadCreated(REL, 'u1', false);
    expect(onDisk(file).pending[REL]).toEqual(settled({ uploadId: 'u1' }));
    store.close(false);
  });

  it('drops a begun upload whose record cannot be saved, and says why', async () => {
    const { store, root } = storeIn();
    await store.open();
    // A directory where the temp file's rename must land: the save fails.
    mkdirSync(defaultManifestPath(root, destination));
    expect(() => store.beginUpload(REL, pendingRecord())).toThrow(/cannot write manifest/);
    expect(store.pending[REL]).toBeUndefined();
    store.close(false);
  });
});

describe('ManifestStore saves', () => {
  it('checkpoints only when something changed since the last save', async () => {
    const { store, file } = storeIn();
    await store.open();
    store.checkpoint();
    expect(existsSync(file)).toBe(false);
    store.record('a.txt', entry());
    store.checkpoint();
    const first = onDisk(file).writtenAtNs;
    const ino = statSync(file).ino;
    store.checkpoint();
    expect(onDisk(file).writtenAtNs).toBe(first);
    expect(statSync(file).ino).toBe(ino);
    store.close(false);
  });

  it.each<[string, boolean, boolean]>([
    ['completed with changes: stamped and saved', true, true],
    ['completed without changes: not written', true, false],
    ['interrupted with changes: saved, not stamped', false, true],
  ])('closes %s', async (_what, completed, change) => {
    const { store, file } = storeIn();
    await store.open();
    if (change) store.record('a.txt', entry());
    store.close(completed);
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(existsSync(file)).toBe(change);
    if (change) {
      const m = onDisk(file);
      expect(m.files.has('a.txt')).toBe(true);
      expect(m.lastSync === null).toBe(!completed);
    }
  });

  it.each<[string, boolean, string[]]>([
    ['a completed run forgets the entries its listing contradicts and records its time', true, ['same']],
    ['an interrupted run keeps them and no listing time', false, ['changed', 'gone', 'same']],
  ])('%s', async (_what, completed, kept) => {
    const { store, file } = storeIn();
    await store.open();
    // Synced before the listing began: an entry it contradicts is stale.
    for (const rel of ['same', 'changed', 'gone'])
      store.record(rel, entry({ syncedAt: '2000-01-01T00:00:00.000Z' }));
    const listing = new Map([
      ['same', object('same', 7)],
      ['changed', object('changed', 8)],
    ]);
    const startedAt = new Date();
    store.listed(startedAt, listing);
    store.close(completed);
    const m = onDisk(file);
    expect([...m.files.keys()].sort()).toEqual(kept);
    expect(m.listedAt).toBe(completed ? startedAt.toISOString() : null);
  });
});

describe('ManifestStore: keys whose files vanished here, their objects kept (push without --delete)', () => {
  it('keeps each across runs until its object is deleted, a listing lacks it, or its file is back', async () => {
    const { store, root, file } = storeIn();
    await store.open();
    for (const rel of ['gone', 'deleted', 'unlisted', 'back', 'kept']) store.record(rel, entry());
    for (const rel of ['gone', 'deleted', 'unlisted', 'back']) store.vanish(rel);
    store.vanish('never-recorded');
    expect([...store.files.keys()]).toEqual(['kept']);
    store.close(true);
    // Saved in the header: a later run (the one with --delete) still knows them.
    expect([...onDisk(file).vanished].sort()).toEqual(['back', 'deleted', 'gone', 'unlisted']);
    const next = storeIn(root);
    await next.store.open();
    expect([...next.store.vanished].sort()).toEqual(['back', 'deleted', 'gone', 'unlisted']);
    next.store.forget('deleted');
    next.store.record('back', entry());
    next.store.listed(
      new Date(),
      new Map(['gone', 'back', 'kept'].map((rel) => [rel, object(rel, 7)] as const)),
    );
    next.store.close(true);
    const m = onDisk(file);
    expect([...m.vanished]).toEqual(['gone']);
    expect([...m.files.keys()].sort()).toEqual(['back', 'kept']);
  });

  it('writes no vanished field when there is none: the header reads as before', async () => {
    const { store, file } = storeIn();
    await store.open();
    store.record('a', entry());
    store.close(true);
    expect(readFileSync(file, 'utf8').split('\n')[0]).not.toContain('vanished');
    expect(onDisk(file).vanished.size).toBe(0);
  });
});

describe('ManifestStore after a run that died holding the lock', () => {
  it.each<[string, boolean]>([
    ['a run that completes a listing trusts the manifest again', true],
    ['a run that ends before one leaves no listing time: the next push lists', false],
  ])('%s', async (_what, listsAll) => {
    const { store, root, file } = storeIn();
    await store.open();
    store.record('a', entry());
    const listedBefore = new Date('2026-01-01T00:00:00.000Z');
    store.listed(listedBefore, new Map([['a', object('a', 7)]]));
    store.close(true);
    expect(onDisk(file).listedAt).toBe(listedBefore.toISOString());
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: '' }));
    const next = storeIn(root);
    await next.store.open();
    expect(next.said).toEqual([expect.stringMatching(/^taking over a stale lock/)]);
    expect(next.store.lastRunUnfinished).toBe(true);
    const startedAt = new Date();
    if (listsAll) next.store.listed(startedAt, new Map([['a', object('a', 7)]]));
    expect(next.store.lastRunUnfinished).toBe(!listsAll);
    next.store.close(listsAll);
    expect(onDisk(file).listedAt).toBe(listsAll ? startedAt.toISOString() : null);
    const third = storeIn(root);
    await third.store.open();
    expect(third.store.lastRunUnfinished).toBe(false);
    third.store.close(true);
  });
});

describe('ManifestStore read-only (a dry run, check, plan)', () => {
  it('never locks nor writes, whatever the run changes in memory', async () => {
    const { store, root, claimed } = storeIn(undefined, { write: false });
    await store.open();
    store.record('a.txt', entry());
    store.beginUpload(REL, pendingRecord());
    store.uploadCreated(REL, 'u1', true);
    store.partDone(REL, 1, 'e1');
    store.forget('a.txt');
    store.listed(new Date(), new Map());
    store.checkpoint();
    store.close(true);
    expect(tree(root)).toEqual([]);
    expect(store.pending[REL]?.parts).toEqual({ 1: 'e1' });
    expect(store.listedAt).toBeNull();
    // Its paths are still s3sync's own: a dry run does not sync them either.
    expect(claimed).toContain(defaultManifestPath(root, destination));
  });

  it('opens while another run holds the lock, and reads what that run saved', async () => {
    const root = tempDir('store');
    const writer = storeIn(root);
    await writer.store.open();
    writer.store.record('a.txt', entry());
    writer.store.checkpoint();
    const before = tree(root);
    const reader = storeIn(root, { write: false });
    await reader.store.open();
    expect([...reader.store.files.keys()]).toEqual(['a.txt']);
    reader.store.close(true);
    expect(tree(root)).toEqual(before);
    writer.store.close(true);
  });
});

describe('ManifestStore lock', () => {
  it.each<[string, string | undefined]>([
    ['its default place', undefined],
    ['a path the user chose', 'chosen.json'],
  ])(
    'at %s: a second writer is refused while the first holds it, and gets it once released',
    async (_w, chosen) => {
      const root = tempDir('store');
      const at = chosen && path.join(root, chosen);
      const first = storeIn(root, { path: at });
      await first.store.open();
      const second = storeIn(root, { path: at });
      await expect(second.store.open()).rejects.toThrow(
        /another s3sync run \(pid \d+ on .*\) is syncing this destination/,
      );
      first.store.close(true);
      await second.store.open();
      expect(existsSync(`${second.store.path}.lock`)).toBe(true);
      second.store.close(true);
      expect(existsSync(`${second.store.path}.lock`)).toBe(false);
    },
  );

  it('a loss the checkpoint timer finds with changes unsaved still ends the run with it, saving nothing', async () => {
    const { store, file } = storeIn();
    await store.open();
    store.record('a.txt', entry());
    store.checkpoint();
    store.record('b.txt', entry());
    // Removed by hand (or taken over): the timer finds it, and says nothing itself.
    rmSync(`${file}.lock`);
    (store as unknown as { timedCheckpoint(): void }).timedCheckpoint();
    expect(() => store.close(true)).toThrow(
      /^lost the lock on this destination .*: stopped; nothing after this point was recorded/,
    );
    expect([...onDisk(file).files.keys()]).toEqual(['a.txt']);
  });

  it('waits for a held lock with waitLock, and stops waiting when cancelled', async () => {
    const { store, root, file } = storeIn();
    mkdirSync(path.dirname(file), { recursive: true });
    const release = await acquireLock(`${file}.lock`);
    const ac = new AbortController();
    const waiting = storeIn(root, { waitLock: true, signal: ac.signal });
    const opened = waiting.store.open();
    setTimeout(() => ac.abort(new Error('stop')), 100);
    await expect(opened).rejects.toThrow(/stop|abort/i);
    release();
    await store.open();
    store.close(true);
  });

  it.each([
    ['a writer takes it from the lock file (the filesystem clock), earlier: unproven', true, UNPROVEN_CTIME],
    ['a reader takes no lock and keeps its own clock: proven', false, '1'],
  ])("the run's start, ahead of the files' clock: %s", async (_what, write, ctimeNs) => {
    // This machine's clock an hour ahead of the filesystem's; a file written half an hour "ago".
    const { store } = storeIn(undefined, { write, startedAt: Date.now() + 3_600_000 });
    await store.open();
    const mtimeNs = (BigInt(Date.now() + 1_800_000) * 1_000_000n).toString();
    store.record('later.txt', entry({ mtimeNs, ctimeNs: '1' }));
    expect(store.files.get('later.txt')?.ctimeNs).toBe(ctimeNs);
    store.close(false);
  });
});

describe('ManifestStore adoption', () => {
  it("adopts the Python script's manifest under the prefix, and keeps its own at the default place", async () => {
    const root = tempDir('store');
    const legacy = path.join(root, '.s3_sync_manifest.json');
    const files = {
      'p/a.sql': { local_path: 'database/a.sql', size: 3, md5: MD5 },
      'other/b.sql': { local_path: 'database/b.sql', size: 4, md5: MD5 },
    };
    writeFileSync(legacy, JSON.stringify({ version: '1.0', files }));
    const { store, said, file } = storeIn(root, { path: legacy });
    await store.open();
    expect([...store.adopted]).toEqual([['a.sql', expect.objectContaining({ size: 3, md5: MD5 })]]);
    expect(store.path).toBe(file);
    expect(said.join('\n')).toMatch(/adopting the Python script's manifest .*: 1 entry under this prefix/);
    store.record('a.sql', entry());
    store.close(true);
    expect(JSON.parse(readFileSync(legacy, 'utf8'))).toEqual({ version: '1.0', files });
    expect(onDisk(file).files.has('a.sql')).toBe(true);
    expect(tree(path.join(root, STATE_DIR))).toEqual([path.basename(file)]);
  });
});
