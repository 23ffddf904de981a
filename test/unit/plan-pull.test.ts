import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { isFolderMarker } from '../../src/plan/keys.js';
import {
  decidePullObject,
  downloadsAfterDeletes,
  type PullPlanInput,
  planPull,
} from '../../src/plan/pull.js';
import { emptyFacts, type Facts, type RemoteObject } from '../../src/plan/types.js';
import { MiB } from '../helpers.js';
import { hashOf } from './plan-fixtures.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** The manifest was written at t = 2,000 s; files older than that are not racy. */
const WRITTEN = 2_000_000_000_000n;
const OLD = '1000000000000';

const file = (rel: string, over: Partial<LocalFile> = {}): LocalFile => ({
  rel,
  size: 100,
  mtimeNs: OLD,
  ctimeNs: OLD,
  ino: '42',
  dev: '2049',
  ...over,
});

const obj = (rel: string, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel,
  key: `pre/${rel}`,
  size: 100,
  etag: md5(`remote ${rel}`),
  lastModified: 1_700_000_000_000,
  ...over,
});

const entryFor = (f: LocalFile, r: RemoteObject, over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  size: f.size,
  mtimeNs: f.mtimeNs,
  ctimeNs: f.ctimeNs,
  ino: f.ino,
  md5: r.etag,
  etag: r.etag,
  partSize: 0,
  syncedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});

const decide = (
  r: RemoteObject,
  f?: LocalFile,
  e?: ManifestEntry,
  facts: Facts = emptyFacts(),
  force = false,
) => decidePullObject(r, f, e, WRITTEN, facts, force);

const input = (over: Partial<PullPlanInput>): PullPlanInput => ({
  remote: new Map(),
  local: new Map(),
  manifest: new Map(),
  racyThresholdNs: WRITTEN,
  facts: emptyFacts(),
  options: {},
  ...over,
});

const byRel = <T extends { rel: string }>(...xs: T[]) => new Map(xs.map((x) => [x.rel, x]));

describe('decidePullObject', () => {
  it('downloads an object with no local file as new, with what the download needs', () => {
    const r = obj('a.txt');
    expect(decide(r)).toEqual({
      kind: 'download',
      rel: 'a.txt',
      key: 'pre/a.txt',
      reason: 'new',
      size: 100,
      etag: r.etag,
      lastModified: r.lastModified,
    });
  });

  it('skips from stat data alone when the manifest vouches for the file and the ETag is unchanged', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    expect(decide(r, f, entryFor(f, r))).toEqual({ kind: 'skip', rel: 'a.txt' });
  });

  it('downloads remote-changed when the object changed but the local file did not', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    const e = entryFor(f, r);
    expect(decide({ ...r, etag: md5('other') }, f, e)).toMatchObject({
      kind: 'download',
      reason: 'remote-changed',
    });
    expect(decide({ ...r, size: 101 }, f, e)).toMatchObject({ kind: 'download', reason: 'remote-changed' });
  });

  it('forced downloads ignore the manifest', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    expect(decide(r, f, entryFor(f, r), emptyFacts(), true)).toMatchObject({
      kind: 'download',
      reason: 'forced',
    });
  });

  it('a racily clean file is not trusted: its content is compared', () => {
    const r = obj('a.txt');
    const f = file('a.txt', { mtimeNs: WRITTEN.toString() });
    expect(decide(r, f, entryFor(f, r))).toEqual(
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
    );
  });

  it('an entry without an ETag (adopted legacy manifest) does not vouch for the object', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    expect(decide(r, f, entryFor(f, r, { etag: '' }))).toEqual(
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
    );
  });

  it('a local file of another size is overwritten without hashing', () => {
    const r = obj('a.txt');
    expect(decide(r, file('a.txt', { size: 7 }))).toMatchObject({ kind: 'download', reason: 'size-changed' });
  });

  it('same size, changed stat: hashes, then downloads content-changed or records stat-changed', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    const e = entryFor(f, r, { mtimeNs: '999' });
    expect(decide(r, f, e)).toEqual(expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }));
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, md5('local edit')));
    // The object is as the last sync left it: the download replaces a local edit, and says so.
    expect(decide(r, f, e, facts)).toMatchObject({ kind: 'download', reason: 'local-changed' });
    expect(decide(r, { ...f, size: 7 }, e, facts)).toMatchObject({
      kind: 'download',
      reason: 'local-changed',
    });
    // Both changed (or no manifest entry): the content differs, no side to blame.
    const both = { ...r, etag: md5('remote edit') };
    expect(decide(both, f, e, facts)).toMatchObject({ kind: 'download', reason: 'content-changed' });
    expect(decide(both, { ...f, size: 7 }, e, facts)).toMatchObject({
      kind: 'download',
      reason: 'size-changed',
    });
    expect(decide(r, f, undefined, facts)).toMatchObject({ kind: 'download', reason: 'content-changed' });
    expect(decide(r, f, { ...e, etag: '' }, facts)).toMatchObject({
      kind: 'download',
      reason: 'content-changed',
    });
    facts.hashes.set('a.txt', hashOf(f, r.etag));
    expect(decide(r, f, e, facts)).toEqual({
      kind: 'record',
      rel: 'a.txt',
      reason: 'stat-changed',
      md5: r.etag,
      etag: r.etag,
      partSize: 0,
    });
  });

  it('records an untracked local file that already holds the content as already-local', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, r.etag));
    expect(decide(r, f, undefined, facts)).toMatchObject({ kind: 'record', reason: 'already-local' });
  });

  it('does not trust a hash of another file than the one scanned (its path was swapped in between)', () => {
    const r = obj('a.txt');
    const f = file('a.txt');
    for (const e of [undefined, entryFor(f, r, { mtimeNs: '999' })]) {
      const facts = emptyFacts();
      // Same content as the object, but read from inode 43 where the scan found 42.
      facts.hashes.set('a.txt', { ...hashOf(f, r.etag), stat: { ...hashOf(f, r.etag).stat, ino: '43' } });
      expect(decide(r, f, e, facts)).toMatchObject({
        kind: 'download',
        reason: e ? 'local-changed' : 'content-changed',
      });
      facts.hashes.set('a.txt', hashOf(f, r.etag));
      expect(decide(r, f, e, facts)).toMatchObject({ kind: 'record' });
    }
  });

  it('asks for the multipart part sizes a multipart ETag needs, and records the matching one', () => {
    const r = obj('big.bin', { size: 12 * MiB, etag: `${md5('parts')}-3` });
    const f = file('big.bin', { size: 12 * MiB });
    const need = decide(r, f);
    expect(need).toMatchObject({ kind: 'hash', rel: 'big.bin' });
    const sizes = (need as { partSizes: number[] }).partSizes;
    expect(sizes).toContain(5 * MiB);
    const facts = emptyFacts();
    facts.hashes.set(
      'big.bin',
      hashOf(f, md5('whole'), Object.fromEntries(sizes.map((ps) => [ps, ps === 5 * MiB ? r.etag : 'x-3']))),
    );
    expect(decide(r, f, undefined, facts)).toMatchObject({ kind: 'record', partSize: 5 * MiB });
  });
});

describe('planPull', () => {
  it('rejects hostile keys and file/directory conflicts, skips directory markers', () => {
    const remote = byRel(
      obj('../escape'),
      obj('/abs'),
      obj('a/../../b'),
      obj('a'),
      obj('a/b'),
      obj('back\\slash'),
      obj('dir/'),
      obj(''),
      obj('good.txt'),
    );
    const plan = planPull(input({ remote }));
    expect(plan.needs).toEqual([]);
    const rejected = plan.actions.filter((a) => a.kind === 'reject').map((a) => a.rel);
    expect(rejected.sort()).toEqual(['../escape', '/abs', 'a', 'a/../../b', 'a/b', 'back\\slash']);
    const downloads = plan.actions.filter((a) => a.kind === 'download').map((a) => a.rel);
    expect(downloads).toEqual(['good.txt']);
  });

  it.each([
    ['a zero-byte folder marker', obj('a/', { size: 0 })],
    ['a folder marker holding bytes (never written, said)', obj('a/', { size: 5 })],
    ['a key refused as unsafe', obj('a/back\\slash')],
    ['a key with an empty segment', obj('a//b')],
  ])('a file beside %s is downloaded: only keys that may be written conflict', (_why, other) => {
    const plan = planPull(input({ remote: byRel(obj('a'), other) }));
    expect(plan.actions.find((a) => a.rel === 'a')).toMatchObject({ kind: 'download', reason: 'new' });
    expect(plan.actions.filter((a) => a.kind === 'reject').map((a) => a.rel)).toEqual(
      isFolderMarker(other.rel) ? [] : [other.rel],
    );
  });

  it('a file beside a real object under its name is still refused, both ways', () => {
    const plan = planPull(input({ remote: byRel(obj('a'), obj('a/'), obj('a/x.txt')) }));
    expect(plan.actions.map((a) => [a.kind, a.rel, a.kind === 'reject' && a.reason])).toEqual([
      ['reject', 'a', "is a file but also the directory of 'a/x.txt'"],
      ['reject', 'a/x.txt', "is below 'a', which is also a file"],
    ]);
  });

  it('with delete: local files without an object are deleted, unselected ones kept', () => {
    const r = obj('keep.txt');
    const kept = file('keep.txt');
    const local = byRel(kept, file('stray.txt', { size: 5 }), file('notes.log'));
    const base = {
      remote: byRel(r),
      local,
      manifest: new Map(Object.entries({ 'keep.txt': entryFor(kept, r) })),
    };
    expect(planPull(input({ ...base })).actions).toEqual([{ kind: 'skip', rel: 'keep.txt' }]);
    const selected = (rel: string) => !rel.endsWith('.log');
    const plan = planPull(input({ ...base, options: { delete: true, localSelected: selected } }));
    expect(plan.actions).toEqual([
      { kind: 'skip', rel: 'keep.txt' },
      { kind: 'delete', rel: 'stray.txt', reason: 'no-remote-object', size: 5 },
    ]);
    const all = planPull(input({ ...base, options: { delete: true } }));
    expect(all.actions.filter((a) => a.kind === 'delete').map((a) => a.rel)).toEqual([
      'stray.txt',
      'notes.log',
    ]);
    // Told what the filters leave out, each delete says why: no object, or excluded.
    const said = planPull(input({ ...base, options: { delete: true, excluded: (rel) => !selected(rel) } }));
    expect(said.actions.filter((a) => a.kind === 'delete').map((a) => [a.rel, a.reason])).toEqual([
      ['stray.txt', 'no-remote-object'],
      ['notes.log', 'excluded'],
    ]);
  });

  it('collects the hashes it needs and settles once they are given', () => {
    const r1 = obj('one.txt');
    const r2 = obj('two.txt');
    const f1 = file('one.txt');
    const f2 = file('two.txt');
    const facts = emptyFacts();
    const inp = input({ remote: byRel(r1, r2), local: byRel(f1, f2), facts });
    expect(planPull(inp).needs).toEqual([
      expect.objectContaining({ kind: 'hash', rel: 'one.txt', partSizes: [] }),
      expect.objectContaining({ kind: 'hash', rel: 'two.txt', partSizes: [] }),
    ]);
    facts.hashes.set('one.txt', hashOf(f1, r1.etag));
    facts.hashes.set('two.txt', hashOf(f2, md5('different')));
    const plan = planPull(inp);
    expect(plan.needs).toEqual([]);
    expect(plan.actions.map((a) => [a.kind, a.rel])).toEqual([
      ['record', 'one.txt'],
      ['download', 'two.txt'],
    ]);
  });
});

describe('planPull: archive tiers', () => {
  const heads = (restore?: string): Facts => ({ ...emptyFacts(), heads: new Map([['c.txt', { restore }]]) });
  it.each(['GLACIER', 'DEEP_ARCHIVE'])(
    'a %s object to download: HEADed, then skipped unless restored',
    (cls) => {
      const remote = byRel(obj('c.txt', { storageClass: cls }));
      expect(planPull(input({ remote })).needs).toEqual([{ kind: 'head', rel: 'c.txt' }]);
      for (const restore of [undefined, 'ongoing-request="true"']) {
        expect(planPull(input({ remote, facts: heads(restore) })).actions).toEqual([
          { kind: 'archived', rel: 'c.txt', key: 'pre/c.txt', reason: expect.stringContaining(`in ${cls}`) },
        ]);
      }
      const done = planPull(input({ remote, facts: heads('ongoing-request="false", expiry-date="x"') }));
      expect(done.actions).toMatchObject([{ kind: 'download', rel: 'c.txt', reason: 'new' }]);
    },
  );

  it('an archived object the local file already matches: skipped from stat data, no HEAD', () => {
    const r = obj('c.txt', { storageClass: 'GLACIER' });
    const f = file('c.txt');
    const plan = planPull(
      input({ remote: byRel(r), local: byRel(f), manifest: new Map([['c.txt', entryFor(f, r)]]) }),
    );
    expect(plan).toEqual({ actions: [{ kind: 'skip', rel: 'c.txt' }], needs: [] });
  });

  it('GLACIER_IR is downloaded as any object', () => {
    const plan = planPull(input({ remote: byRel(obj('c.txt', { storageClass: 'GLACIER_IR' })) }));
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toMatchObject([{ kind: 'download', rel: 'c.txt' }]);
  });
});

describe('downloadsAfterDeletes', () => {
  const held = (downloads: string[], deletes: string[], local: string[]) =>
    [...downloadsAfterDeletes(downloads, deletes, local)].sort();

  it('holds a download under a deleted file: a file became a folder', () => {
    expect(held(['a/x', 'a/y/z', 'b'], ['a'], ['a', 'c'])).toEqual(['a/x', 'a/y/z']);
    // The file is not deleted (no --delete, or kept): nothing waits.
    expect(held(['a/x'], ['c'], ['a', 'c'])).toEqual([]);
  });

  it('holds a download at a folder only when every local file in it is deleted', () => {
    expect(held(['a'], ['a/x', 'a/y/z'], ['a/x', 'a/y/z', 'b'])).toEqual(['a']);
    // One file stays (filtered out of the deletes, or its object is kept): the folder stays too.
    expect(held(['a'], ['a/x'], ['a/x', 'a/keep'])).toEqual([]);
    expect(held(['a/y'], ['a/y/z'], ['a/y/z', 'a/x'])).toEqual(['a/y']);
  });

  it('does not hold a download whose name differs from a deleted one only in case', () => {
    // Where case is ignored the two are one file, re-keyed before planning (caseRenamed).
    expect(held(['Readme'], ['README'], ['README'])).toEqual([]);
  });

  it('holds nothing without downloads or deletes', () => {
    expect(held([], ['a'], ['a'])).toEqual([]);
    expect(held(['a/x'], [], ['a'])).toEqual([]);
  });
});
