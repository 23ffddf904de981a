/**
 * Deletion marks: a layout's deletions (the whole tree, or a shard I/N) make the other layouts of the
 * destination list before trusting their manifests; never the layout's own, nor a disjoint shard's.
 */
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestStore } from '../../src/manifest/manifest-store.js';
import { deletionMarkPath, readDeletionMarks, STATE_DIR } from '../../src/manifest/store.js';
import { type DeletionMark, deletedElsewhere } from '../../src/plan/push.js';
import { tempDir } from '../helpers.js';

const LISTED = '2026-12-01T12:00:00.000Z';
const before = '2026-12-01T11:00:00.000Z';
const after = '2026-12-01T13:00:00.000Z';
const done = (by: string | undefined, at: string): DeletionMark => ({ by, at, deleting: false });

describe('deletedElsewhere: whether a push lists because another layout deleted', () => {
  it('is due for a deletion by another layout after the last listing, or at its instant', () => {
    expect(deletedElsewhere(undefined, LISTED, 5, [done('0/2', after)])).toMatch(
      /^--shard 0\/2 deleted objects here at 2026-12-01T13:00:00.000Z, after this manifest's last complete listing \(2026-12-01T12:00:00.000Z\)$/,
    );
    expect(deletedElsewhere('1/3', LISTED, 5, [done(undefined, LISTED)])).toMatch(
      /^an unsharded run deleted/,
    );
    expect(deletedElsewhere('1/3', LISTED, 5, [done('0/2', after)])).toBeDefined();
  });

  it('is not due for a deletion before the last listing, for its own layout, or a disjoint shard', () => {
    expect(deletedElsewhere(undefined, LISTED, 5, [done('0/2', before)])).toBeUndefined();
    expect(deletedElsewhere('0/2', LISTED, 5, [done('0/2', after)])).toBeUndefined();
    expect(deletedElsewhere(undefined, LISTED, 5, [done(undefined, after)])).toBeUndefined();
    expect(deletedElsewhere('1/2', LISTED, 5, [done('0/2', after)])).toBeUndefined();
  });

  it('is due while another layout is deleting, and with no listing time; never with no entries', () => {
    expect(deletedElsewhere(undefined, LISTED, 5, [{ by: '2/3', deleting: true }])).toMatch(
      /^--shard 2\/3 is deleting objects here, or stopped doing so$/,
    );
    expect(deletedElsewhere(undefined, null, 5, [done('0/2', before)])).toMatch(/deleted objects here at/);
    expect(deletedElsewhere(undefined, 'garbled', 5, [done('0/2', before)])).toBeDefined();
    expect(deletedElsewhere(undefined, LISTED, 0, [{ by: '0/2', deleting: true }])).toBeUndefined();
    expect(deletedElsewhere(undefined, LISTED, 5, [])).toBeUndefined();
  });

  it('names a mark that could not be read', () => {
    const bad = { ...done('0/2', after), problem: 'not JSON' };
    expect(deletedElsewhere(undefined, LISTED, 5, [bad])).toMatch(
      /at .* \(its deletion mark not JSON\), after/,
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

describe('deletion marks on disk', () => {
  it("a layout's marks are seen by the others, not by itself, and claimed by every run", async () => {
    const root = tempDir('marks');
    const a = storeOf(root, '0/2');
    await a.store.open();
    a.store.beginDeletes();
    const file = deletionMarkPath(path.join(root, STATE_DIR), { ...dest, shard: '0/2' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ by: '0/2', deleting: true });
    a.store.endDeletes();
    a.store.close(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ by: '0/2', deleting: false });
    // Written whole, by a rename: no temp file is left.
    expect(readdirSync(path.join(root, STATE_DIR)).filter((n) => n.includes('.tmp-'))).toEqual([]);

    const whole = storeOf(root);
    await whole.store.open();
    expect(whole.store.deletionMarks).toEqual([{ by: '0/2', deleting: false, at: expect.any(String) }]);
    expect(whole.claimed).toContain(file);
    whole.store.close(true);
    const again = storeOf(root, '0/2');
    await again.store.open();
    expect(again.store.deletionMarks).toEqual([]);
    again.store.close(true);
  });

  it("a run that died among its deletions: its layout's next run ends its mark", async () => {
    const root = tempDir('marks-died');
    const a = storeOf(root);
    await a.store.open();
    a.store.beginDeletes();
    a.store.close(false);
    const other = storeOf(root, '1/3');
    await other.store.open();
    expect(other.store.deletionMarks).toEqual([{ by: undefined, deleting: true, at: expect.any(String) }]);
    other.store.close(true);
    const next = storeOf(root);
    await next.store.open();
    next.store.close(true);
    const third = storeOf(root, '1/3');
    await third.store.open();
    expect(third.store.deletionMarks).toEqual([{ by: undefined, deleting: false, at: expect.any(String) }]);
    third.store.close(true);
  });

  it("a mark that cannot be read counts from its file's time; other files are not marks", () => {
    const dir = tempDir('marks-bad');
    const own = deletionMarkPath(dir, { ...dest, shard: '3/4' });
    writeFileSync(own, 'garbage');
    utimesSync(own, new Date(LISTED), new Date(LISTED));
    writeFileSync(path.join(dir, 'deletions-0123456789ab.json'), '{}');
    writeFileSync(path.join(dir, `${path.basename(own)}.tmp-1-ab`), '{}');
    expect(readDeletionMarks(dir, dest)).toEqual([
      { file: own, mark: { by: '3/4', at: LISTED, deleting: false, problem: 'not JSON' } },
    ]);
    expect(readDeletionMarks(path.join(dir, 'none'), dest)).toEqual([]);
  });

  it('beside a --manifest, a file of its name that is not a mark is left alone', async () => {
    const dir = tempDir('marks-user');
    const mark = deletionMarkPath(dir, dest);
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
    expect(() => store.beginDeletes()).toThrow(/holds something else; it is left as it is: move it away$/);
    store.close(true);
    expect(readFileSync(mark, 'utf8')).toBe('my notes');
  });
});
