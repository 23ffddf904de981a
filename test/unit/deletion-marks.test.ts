/**
 * Change marks: a layout's changes (uploads, copies, deletions; the whole tree, or a shard I/N) make
 * the other layouts of the destination list before trusting their manifests; never the layout's own,
 * nor a disjoint shard's.
 */
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestStore } from '../../src/manifest/manifest-store.js';
import { changeMarkPath, readChangeMarks, STATE_DIR } from '../../src/manifest/store.js';
import { type ChangeMark, changedElsewhere } from '../../src/plan/push.js';
import { tempDir } from '../helpers.js';

const LISTED = '2026-12-01T12:00:00.000Z';
const before = '2026-12-01T11:00:00.000Z';
const after = '2026-12-01T13:00:00.000Z';
const done = (by: string | undefined, at: string): ChangeMark => ({ by, at, changing: false });

describe('changedElsewhere: whether a push lists because another layout changed objects', () => {
  it('is due for a change by another layout after the last listing, or at its instant', () => {
    expect(changedElsewhere(undefined, LISTED, 5, [done('0/2', after)])).toMatch(
      /^--shard 0\/2 changed objects here at 2026-12-01T13:00:00.000Z, after this manifest's last complete listing \(2026-12-01T12:00:00.000Z\)$/,
    );
    expect(changedElsewhere('1/3', LISTED, 5, [done(undefined, LISTED)])).toMatch(
      /^an unsharded run changed/,
    );
    expect(changedElsewhere('1/3', LISTED, 5, [done('0/2', after)])).toBeDefined();
  });

  it('is not due for a change before the last listing, for its own layout, or a disjoint shard', () => {
    expect(changedElsewhere(undefined, LISTED, 5, [done('0/2', before)])).toBeUndefined();
    expect(changedElsewhere('0/2', LISTED, 5, [done('0/2', after)])).toBeUndefined();
    expect(changedElsewhere(undefined, LISTED, 5, [done(undefined, after)])).toBeUndefined();
    expect(changedElsewhere('1/2', LISTED, 5, [done('0/2', after)])).toBeUndefined();
  });

  it('is due while another layout is changing, and with no listing time; never with no entries', () => {
    expect(changedElsewhere(undefined, LISTED, 5, [{ by: '2/3', changing: true }])).toMatch(
      /^--shard 2\/3 is changing objects here, or stopped doing so$/,
    );
    expect(changedElsewhere(undefined, null, 5, [done('0/2', before)])).toMatch(/changed objects here at/);
    expect(changedElsewhere(undefined, 'garbled', 5, [done('0/2', before)])).toBeDefined();
    expect(changedElsewhere(undefined, LISTED, 0, [{ by: '0/2', changing: true }])).toBeUndefined();
    expect(changedElsewhere(undefined, LISTED, 5, [])).toBeUndefined();
  });

  it('is due across shard counts: a shard of 2 overlaps two of 4, and the whole tree every one', () => {
    expect(changedElsewhere('1/4', LISTED, 5, [done('1/2', after)])).toMatch(/^--shard 1\/2 changed/);
    expect(changedElsewhere('1/2', LISTED, 5, [done('3/4', after)])).toMatch(/^--shard 3\/4 changed/);
    expect(changedElsewhere('2/4', LISTED, 5, [done(undefined, after)])).toMatch(/^an unsharded run changed/);
    // Only another shard of its own N never holds its keys.
    expect(changedElsewhere('1/4', LISTED, 5, [done('0/4', after), done('3/4', after)])).toBeUndefined();
    expect(changedElsewhere('1/4', LISTED, 5, [done('0/4', after), done('0/2', after)])).toMatch(/0\/2/);
  });

  it('names a mark that could not be read', () => {
    const bad = { ...done('0/2', after), problem: 'not JSON' };
    expect(changedElsewhere(undefined, LISTED, 5, [bad])).toMatch(
      /at .* \(its change mark not JSON\), after/,
    );
  });
});

const dest = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };

function storeOf(root: string, shard?: string) {
  const claimed: string[] = [];
  const store = new ManifestStore({
    localRoot: root,
    destination: { ...dest, ...(shard && { shard }) },
    write: true,
    startedAt: Date.now(),
    notice: () => {},
    warn: () => {},
    claim: (f) => claimed.push(f),
  });
  return { store, claimed };
}

describe('change marks on disk', () => {
  it("a layout's marks are seen by the others, not by itself, and claimed by every run", async () => {
    const root = tempDir('marks');
    const a = storeOf(root, '0/2');
    await a.store.open();
    a.store.beginChanges();
    const file = changeMarkPath(path.join(root, STATE_DIR), { ...dest, shard: '0/2' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ by: '0/2', deleting: true });
    a.store.endChanges();
    a.store.close(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ by: '0/2', deleting: false });
    // Written whole, by a rename: no temp file is left.
    expect(readdirSync(path.join(root, STATE_DIR)).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const whole = storeOf(root);
    await whole.store.open();
    expect(whole.store.changeMarks).toEqual([{ by: '0/2', changing: false, at: expect.any(String) }]);
    expect(whole.claimed).toContain(file);
    whole.store.close(true);
    const again = storeOf(root, '0/2');
    await again.store.open();
    expect(again.store.changeMarks).toEqual([]);
    again.store.close(true);
  });

  it('a run that changes nothing writes no mark; one that changes writes it once each way', async () => {
    const root = tempDir('marks-none');
    const file = changeMarkPath(path.join(root, STATE_DIR), dest);
    const a = storeOf(root);
    await a.store.open();
    a.store.endChanges();
    a.store.close(true);
    expect(readdirSync(path.join(root, STATE_DIR)).filter((n) => n.startsWith('deletions-'))).toEqual([]);
    const b = storeOf(root);
    await b.store.open();
    b.store.beginChanges();
    const first = readFileSync(file, 'utf8');
    // Begun once: a second begin (the deletions after the uploads) keeps the first instant.
    await new Promise((r) => setTimeout(r, 5));
    b.store.beginChanges();
    expect(readFileSync(file, 'utf8')).toBe(first);
    b.store.endChanges();
    const ended = readFileSync(file, 'utf8');
    b.store.endChanges();
    expect(readFileSync(file, 'utf8')).toBe(ended);
    b.store.close(true);
    // The fields the deletion marks of earlier versions had, and only those: they read it as theirs.
    expect(Object.keys(JSON.parse(ended)).sort()).toEqual(['at', 'by', 'deleting', 'schema']);
    expect(JSON.parse(ended)).toMatchObject({
      schema: 's3sync-deletions',
      by: 'whole tree',
      deleting: false,
    });
  });

  it('a deletion mark an earlier version wrote is read as a change mark', () => {
    const dir = tempDir('marks-old');
    const file = changeMarkPath(dir, { ...dest, shard: '1/2' });
    writeFileSync(file, `{"schema":"s3sync-deletions","by":"1/2","deleting":true,"at":"${LISTED}"}\n`);
    expect(readChangeMarks(dir, dest)).toEqual([{ file, mark: { by: '1/2', at: LISTED, changing: true } }]);
  });

  it("a run that died among its deletions: its layout's next run ends its mark", async () => {
    const root = tempDir('marks-died');
    const a = storeOf(root);
    await a.store.open();
    a.store.beginChanges();
    a.store.close(false);
    const other = storeOf(root, '1/3');
    await other.store.open();
    expect(other.store.changeMarks).toEqual([{ by: undefined, changing: true, at: expect.any(String) }]);
    other.store.close(true);
    const next = storeOf(root);
    await next.store.open();
    next.store.close(true);
    const third = storeOf(root, '1/3');
    await third.store.open();
    expect(third.store.changeMarks).toEqual([{ by: undefined, changing: false, at: expect.any(String) }]);
    third.store.close(true);
  });

  it("a mark that cannot be read counts from its file's time; other files are not marks", () => {
    const dir = tempDir('marks-bad');
    const own = changeMarkPath(dir, { ...dest, shard: '3/4' });
    writeFileSync(own, 'garbage');
    utimesSync(own, new Date(LISTED), new Date(LISTED));
    writeFileSync(path.join(dir, 'deletions-0123456789ab.json'), '{}');
    writeFileSync(path.join(dir, `${path.basename(own)}.tmp-1-ab`), '{}');
    expect(readChangeMarks(dir, dest)).toEqual([
      { file: own, mark: { by: '3/4', at: LISTED, changing: false, problem: 'not JSON' } },
    ]);
    expect(readChangeMarks(path.join(dir, 'none'), dest)).toEqual([]);
  });

  it('beside a --manifest, a file of its name that is not a mark is left alone', async () => {
    const dir = tempDir('marks-user');
    const mark = changeMarkPath(dir, dest);
    writeFileSync(mark, 'my notes');
    const store = new ManifestStore({
      localRoot: tempDir('marks-src'),
      destination: dest,
      path: path.join(dir, 'm.json'),
      write: true,
      startedAt: Date.now(),
      notice: () => {},
      warn: () => {},
      claim: () => {},
    });
    await store.open();
    expect(() => store.beginChanges()).toThrow(/holds something else; it is left as it is: move it away$/);
    store.close(true);
    expect(readFileSync(mark, 'utf8')).toBe('my notes');
  });
});
