import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PartHasher } from '../../src/local/hash.js';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { matchedPartSize } from '../../src/plan/compare.js';
import { decidePushFile, type PushPlanInput, planPush } from '../../src/plan/push.js';
import { emptyFacts, type Facts, type RemoteObject } from '../../src/plan/types.js';
import { MiB } from '../helpers.js';
import { hashOf } from './plan-fixtures.js';

const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex');

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

const entryFor = (f: LocalFile, over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  size: f.size,
  mtimeNs: f.mtimeNs,
  ctimeNs: f.ctimeNs,
  ino: f.ino,
  md5: md5(`content of ${f.rel}`),
  etag: md5(`content of ${f.rel}`),
  partSize: 0,
  syncedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});

const remoteOf = (f: LocalFile, etag: string, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel: f.rel,
  key: `pre/${f.rel}`,
  size: f.size,
  etag,
  lastModified: 0,
  ...over,
});

const listing = (...objs: RemoteObject[]) => new Map(objs.map((o) => [o.rel, o]));

/** The S3 multipart ETag of `data` for a part size, computed independently of the planner. */
function multipartEtag(data: Buffer, partSize: number): string {
  const h = new PartHasher(partSize);
  h.update(data);
  return h.finish();
}

const decide = (
  f: LocalFile,
  e: ManifestEntry | undefined,
  facts: Facts = emptyFacts(),
  opts: PushPlanInput['options'] = {},
) => decidePushFile(f, e, WRITTEN, facts, opts);

describe('decidePushFile with a manifest entry', () => {
  it('skips an unchanged file without asking for anything', () => {
    const f = file('a.txt');
    expect(decide(f, entryFor(f))).toEqual({ kind: 'skip', rel: 'a.txt' });
    const plan = planPush({
      files: [f],
      manifest: new Map(Object.entries({ 'a.txt': entryFor(f) })),
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: {},
    });
    expect(plan).toEqual({ actions: [{ kind: 'skip', rel: 'a.txt' }], needs: [] });
  });

  it('asks for a hash when the stat data changed but the size did not', () => {
    const f = file('a.txt');
    const e = entryFor(f, { mtimeNs: '999' });
    expect(decide(f, e)).toEqual({ kind: 'hash', rel: 'a.txt', size: f.size, partSizes: [] });
    // A changed ctime or inode alone (content rewritten, mtime restored; file replaced) is a change too.
    expect(decide(f, entryFor(f, { ctimeNs: '999' }))).toMatchObject({ kind: 'hash' });
    expect(decide(f, entryFor(f, { ino: '7' }))).toMatchObject({ kind: 'hash' });
  });

  it('records (no upload) when the hash equals the manifest md5', () => {
    const f = file('a.txt');
    const e = entryFor(f, { mtimeNs: '999', etag: 'abc-2', partSize: 5 * MiB });
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, e.md5));
    expect(decide(f, e, facts)).toEqual({
      kind: 'record',
      rel: 'a.txt',
      reason: 'stat-changed',
      md5: e.md5,
      etag: 'abc-2',
      partSize: 5 * MiB,
    });
  });

  it('uploads content-changed when the hash differs from the manifest md5', () => {
    const f = file('a.txt');
    const e = entryFor(f, { mtimeNs: '999' });
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, md5('something else')));
    expect(decide(f, e, facts)).toEqual({
      kind: 'upload',
      rel: 'a.txt',
      reason: 'content-changed',
      size: 100,
    });
  });

  it('uploads size-changed without hashing', () => {
    const f = file('a.txt', { size: 101 });
    const e = entryFor(file('a.txt'));
    expect(decide(f, e)).toEqual({ kind: 'upload', rel: 'a.txt', reason: 'size-changed', size: 101 });
  });

  it('hashes a racily clean file even though its stat data matches', () => {
    // mtime at (or after) the manifest's write: the file may have changed again in the same tick.
    for (const mtimeNs of [WRITTEN.toString(), (WRITTEN + 1n).toString()]) {
      const f = file('racy.txt', { mtimeNs });
      expect(decide(f, entryFor(f))).toEqual(
        expect.objectContaining({ kind: 'hash', rel: 'racy.txt', partSizes: [] }),
      );
    }
    // One nanosecond older than the write is not racy.
    const older = file('ok.txt', { mtimeNs: (WRITTEN - 1n).toString() });
    expect(decide(older, entryFor(older))).toEqual({ kind: 'skip', rel: 'ok.txt' });
  });

  it('uploads a racy file whose content changed, records one whose content did not', () => {
    const f = file('racy.txt', { mtimeNs: WRITTEN.toString() });
    const e = entryFor(f);
    const same = emptyFacts();
    same.hashes.set(f.rel, hashOf(f, e.md5));
    expect(decide(f, e, same)).toMatchObject({ kind: 'record', reason: 'unproven' });
    const changed = emptyFacts();
    changed.hashes.set(f.rel, hashOf(f, md5('new')));
    expect(decide(f, e, changed)).toMatchObject({ kind: 'upload', reason: 'content-changed' });
  });
});

describe('decidePushFile without a manifest entry', () => {
  it('asks for the listing, once for the whole plan', () => {
    const a = file('a.txt');
    const b = file('b.txt');
    expect(decide(a, undefined)).toEqual({ kind: 'listing' });
    const plan = planPush({
      files: [a, b],
      manifest: new Map(),
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: {},
    });
    expect(plan).toEqual({ actions: [], needs: [{ kind: 'listing' }] });
  });

  it('a watch batch (the manifest vouches for the destination) uploads it as new, with no listing', () => {
    const a = file('a.txt');
    const e = entryFor(file('b.txt'));
    expect(decide(a, undefined, emptyFacts(), { vouched: true })).toEqual({
      kind: 'upload',
      rel: 'a.txt',
      reason: 'new',
      size: 100,
    });
    const plan = planPush({
      files: [a, file('b.txt')],
      manifest: new Map([['b.txt', e]]),
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: { vouched: true },
    });
    // The file the manifest has is still decided by its entry: unchanged, it is skipped.
    expect(plan).toEqual({
      actions: [
        { kind: 'upload', rel: 'a.txt', reason: 'new', size: 100 },
        { kind: 'skip', rel: 'b.txt' },
      ],
      needs: [],
    });
  });

  it('uploads new when the listing does not have it, size-changed when sizes differ', () => {
    const f = file('a.txt');
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(file('other'), md5('x')));
    expect(decide(f, undefined, facts)).toEqual({ kind: 'upload', rel: 'a.txt', reason: 'new', size: 100 });
    facts.remote = listing(remoteOf(f, md5('x'), { size: 99 }));
    expect(decide(f, undefined, facts)).toMatchObject({ kind: 'upload', reason: 'size-changed' });
  });

  it('hashes against a plain MD5 ETag and records already-remote when it matches', () => {
    const f = file('a.txt');
    const hex = md5('the content');
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(f, hex));
    expect(decide(f, undefined, facts)).toEqual(
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
    );
    facts.hashes.set('a.txt', hashOf(f, hex));
    expect(decide(f, undefined, facts)).toEqual({
      kind: 'record',
      rel: 'a.txt',
      reason: 'already-remote',
      md5: hex,
      etag: hex,
      partSize: 0,
    });
    // Quoted, upper-case ETags from a listing are normalised.
    facts.remote = listing(remoteOf(f, `"${hex.toUpperCase()}"`));
    expect(decide(f, undefined, facts)).toMatchObject({ kind: 'record', etag: hex });
  });

  it('uploads content-changed when the MD5 ETag differs', () => {
    const f = file('a.txt');
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(f, md5('remote')));
    facts.hashes.set('a.txt', hashOf(f, md5('local')));
    expect(decide(f, undefined, facts)).toMatchObject({ kind: 'upload', reason: 'content-changed' });
  });

  it('hashes with candidate part sizes for a multipart ETag, then records with the matching part size', () => {
    const data = Buffer.alloc(12 * MiB, 7);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    const f = file('big.bin', { size: data.length });
    const etag = multipartEtag(data, 5 * MiB);
    expect(etag).toMatch(/-3$/);
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(f, etag));
    const need = decide(f, undefined, facts);
    expect(need).toMatchObject({ kind: 'hash', rel: 'big.bin' });
    const sizes = (need as { partSizes: number[] }).partSizes;
    expect(sizes).toContain(5 * MiB);
    for (const ps of sizes) expect(Math.ceil(data.length / ps)).toBe(3);

    const multipart = Object.fromEntries(sizes.map((ps) => [ps, multipartEtag(data, ps)]));
    facts.hashes.set('big.bin', hashOf(f, md5(data), multipart));
    expect(decide(f, undefined, facts)).toEqual({
      kind: 'record',
      rel: 'big.bin',
      reason: 'already-remote',
      md5: md5(data),
      etag,
      partSize: 5 * MiB,
    });
  });

  it('asks for a HEAD when a multipart ETag matches no candidate, then trusts x-amz-meta-md5', () => {
    const f = file('big.bin', { size: 12 * MiB });
    const etag = `${md5('unknown parts')}-3`;
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(f, etag));
    const need = decide(f, undefined, facts) as { partSizes: number[] };
    const multipart = Object.fromEntries(need.partSizes.map((ps) => [ps, `${md5(String(ps))}-3`]));
    facts.hashes.set('big.bin', hashOf(f, md5('local'), multipart));
    expect(decide(f, undefined, facts)).toEqual({ kind: 'head', rel: 'big.bin' });
    facts.heads.set('big.bin', { metaMd5: md5('local') });
    expect(decide(f, undefined, facts)).toMatchObject({ kind: 'record', reason: 'already-remote' });
    facts.heads.set('big.bin', { metaMd5: md5('other') });
    expect(decide(f, undefined, facts)).toMatchObject({ kind: 'upload', reason: 'content-changed' });
  });
});

describe('decidePushFile: a file other than its entry, its object rewritten since (another layout)', () => {
  // The entry records v1; the file holds v2 now, of the same size.
  const f = file('a.txt', { mtimeNs: '1500000000000' });
  const e = entryFor(file('a.txt'), { md5: md5('v1'), etag: md5('v1') });
  const v2 = () => {
    const facts = emptyFacts();
    facts.hashes.set(f.rel, hashOf(f, md5('v2')));
    return facts;
  };

  it('records an object the listing proves holds the file (its MD5 ETag), with no upload', () => {
    const facts = v2();
    facts.remote = listing(remoteOf(f, `"${md5('v2')}"`));
    expect(decide(f, e, facts)).toEqual({
      kind: 'record',
      rel: 'a.txt',
      reason: 'already-remote',
      md5: md5('v2'),
      etag: md5('v2'),
      partSize: 0,
    });
    // And in a plan: nothing to send.
    const plan = planPush({
      files: [f],
      manifest: new Map([[f.rel, e]]),
      racyThresholdNs: WRITTEN,
      facts,
      options: { verify: true },
    });
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toMatchObject([{ kind: 'record', rel: 'a.txt', reason: 'already-remote' }]);
  });

  it('uploads as before when the object is still what the entry records, or gone, or other bytes', () => {
    const facts = v2();
    const sent = { kind: 'upload', rel: 'a.txt', reason: 'content-changed', size: 100 };
    // Still the entry's object: it holds v1, no further fact is asked for.
    facts.remote = listing(remoteOf(f, md5('v1')));
    expect(decide(f, e, facts)).toEqual(sent);
    facts.remote = listing();
    expect(decide(f, e, facts)).toEqual(sent);
    facts.remote = listing(remoteOf(f, md5('v3')));
    expect(decide(f, e, facts)).toEqual(sent);
    facts.remote = listing(remoteOf(f, md5('v2'), { size: 99 }));
    expect(decide(f, e, facts)).toEqual(sent);
  });

  it('a file of another size: hashed only when the object has its size and is not the entry’s', () => {
    const big = file('a.txt', { size: 120 });
    const sent = { kind: 'upload', rel: 'a.txt', reason: 'size-changed', size: 120 };
    const facts = emptyFacts();
    expect(decide(big, e, facts)).toEqual(sent);
    facts.remote = listing(remoteOf(big, md5('v1'), { size: 100 }));
    expect(decide(big, e, facts)).toEqual(sent);
    facts.remote = listing(remoteOf(big, md5('v2')));
    expect(decide(big, e, facts)).toEqual({ kind: 'hash', rel: 'a.txt', size: 120, partSizes: [] });
    facts.hashes.set(big.rel, hashOf(big, md5('v2')));
    expect(decide(big, e, facts)).toMatchObject({
      kind: 'record',
      reason: 'already-remote',
      etag: md5('v2'),
    });
    facts.hashes.set(big.rel, hashOf(big, md5('v3')));
    expect(decide(big, e, facts)).toEqual(sent);
  });

  it('a multipart ETag: hashed for its part sizes, then a HEAD; uploaded unless x-amz-meta-md5 proves it', () => {
    const g = file('big.bin', { size: 12 * MiB, mtimeNs: '1500000000000' });
    const ge = entryFor(file('big.bin', { size: 12 * MiB }), { md5: md5('v1'), etag: `${md5('v1')}-3` });
    const facts = emptyFacts();
    facts.hashes.set(g.rel, hashOf(g, md5('v2')));
    facts.remote = listing(remoteOf(g, `${md5('someone')}-3`));
    const need = decide(g, ge, facts) as { kind: string; partSizes: number[] };
    expect(need.kind).toBe('hash');
    expect(need.partSizes.length).toBeGreaterThan(0);
    const multipart = Object.fromEntries(need.partSizes.map((ps) => [ps, `${md5(String(ps))}-3`]));
    facts.hashes.set(g.rel, hashOf(g, md5('v2'), multipart));
    expect(decide(g, ge, facts)).toEqual({ kind: 'head', rel: 'big.bin' });
    facts.heads.set(g.rel, {});
    expect(decide(g, ge, facts)).toEqual({
      kind: 'upload',
      rel: 'big.bin',
      reason: 'content-changed',
      size: g.size,
    });
    facts.heads.set(g.rel, { metaMd5: md5('v2') });
    expect(decide(g, ge, facts)).toMatchObject({ kind: 'record', reason: 'already-remote', md5: md5('v2') });
  });

  it('uploads as before where a header rule applies now or applied at the entry’s upload', () => {
    const facts = v2();
    facts.remote = listing(remoteOf(f, md5('v2')));
    const sent = { kind: 'upload', rel: 'a.txt', reason: 'content-changed', size: 100 };
    expect(decide(f, e, facts, { styleOf: () => 'rule' })).toEqual(sent);
    expect(decide(f, { ...e, style: 'rule' }, facts, { styleOf: () => undefined })).toEqual(sent);
  });

  it('a file stored compressed: the source MD5 of a HEAD decides, as on a rebuild', () => {
    const facts = v2();
    const ce = { ...e, stored: 60 };
    facts.remote = listing(remoteOf(f, md5('gz v2'), { size: 70 }));
    const opts = { compressed: () => true };
    expect(decide(f, ce, facts, opts)).toEqual({ kind: 'head', rel: 'a.txt' });
    facts.heads.set(f.rel, { sourceMd5: md5('v2') });
    expect(decide(f, ce, facts, opts)).toEqual({
      kind: 'record',
      rel: 'a.txt',
      reason: 'already-remote',
      md5: md5('v2'),
      etag: md5('gz v2'),
      partSize: 0,
      stored: 70,
    });
    facts.heads.set(f.rel, { sourceMd5: md5('v1') });
    expect(decide(f, ce, facts, opts)).toEqual({
      kind: 'upload',
      rel: 'a.txt',
      reason: 'content-changed',
      size: 100,
    });
  });
});

describe('planPush options', () => {
  const a = file('a.txt');
  const b = file('dir/b.txt', { size: 5 });
  const manifest = new Map(Object.entries({ 'a.txt': entryFor(a), 'dir/b.txt': entryFor(b) }));

  it('force uploads every file, without a listing or hashes', () => {
    const plan = planPush({
      files: [a, b],
      manifest,
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: { force: true },
    });
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toEqual([
      { kind: 'upload', rel: 'a.txt', reason: 'forced', size: 100 },
      { kind: 'upload', rel: 'dir/b.txt', reason: 'forced', size: 5 },
    ]);
  });

  it('verify needs the listing even when the manifest vouches for every file', () => {
    const input: PushPlanInput = {
      files: [a, b],
      manifest,
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: { verify: true },
    };
    expect(planPush(input)).toEqual({ actions: [], needs: [{ kind: 'listing' }] });
  });

  it('verify re-uploads an object missing (or changed) remotely and skips the ones in place', () => {
    const facts = emptyFacts();
    facts.remote = listing(remoteOf(a, manifest.get('a.txt')!.etag));
    const plan = planPush({
      files: [a, b],
      manifest,
      racyThresholdNs: WRITTEN,
      facts,
      options: { verify: true },
    });
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toEqual([
      { kind: 'skip', rel: 'a.txt' },
      { kind: 'upload', rel: 'dir/b.txt', reason: 'remote-drift', size: 5 },
    ]);
    // Same size but another ETag: replaced behind the tool's back.
    facts.remote = listing(remoteOf(a, md5('replaced')), remoteOf(b, manifest.get('dir/b.txt')!.etag));
    const drift = planPush({
      files: [a, b],
      manifest,
      racyThresholdNs: WRITTEN,
      facts,
      options: { verify: true },
    });
    expect(drift.actions).toEqual([
      { kind: 'upload', rel: 'a.txt', reason: 'remote-drift', size: 100 },
      { kind: 'skip', rel: 'dir/b.txt' },
    ]);
  });

  it('delete needs the listing, then deletes remote-only objects within the filters', () => {
    const input: PushPlanInput = {
      files: [a],
      manifest: new Map(Object.entries({ 'a.txt': entryFor(a) })),
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: { delete: true, remoteSelected: (rel) => !rel.endsWith('.keep') },
    };
    expect(planPush(input).needs).toEqual([{ kind: 'listing' }]);
    input.facts.remote = listing(
      remoteOf(a, manifest.get('a.txt')!.etag),
      remoteOf(file('gone.txt', { size: 3 }), md5('g')),
      remoteOf(file('excluded.keep'), md5('k')),
    );
    const plan = planPush(input);
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toEqual([
      { kind: 'skip', rel: 'a.txt' },
      { kind: 'delete', rel: 'gone.txt', key: 'pre/gone.txt', reason: 'no-local-file', size: 3 },
    ]);
    // Without a filter (--delete-excluded), the excluded object goes too.
    const all = planPush({ ...input, options: { delete: true } });
    expect(all.actions.filter((x) => x.kind === 'delete').map((x) => x.rel)).toEqual([
      'gone.txt',
      'excluded.keep',
    ]);
    // Told what the filters leave out, each delete says why: gone, or excluded.
    const said = planPush({ ...input, options: { delete: true, excluded: (rel) => rel.endsWith('.keep') } });
    expect(said.actions.filter((x) => x.kind === 'delete').map((x) => [x.rel, x.reason])).toEqual([
      ['gone.txt', 'no-local-file'],
      ['excluded.keep', 'excluded'],
    ]);
  });

  it('collects hash needs for every undecided file in one round', () => {
    const c = file('c.txt');
    const plan = planPush({
      files: [a, b, c],
      manifest: new Map(
        Object.entries({
          'a.txt': entryFor(a, { mtimeNs: '1' }),
          'dir/b.txt': entryFor(b),
          'c.txt': entryFor(c, { ctimeNs: '1' }),
        }),
      ),
      racyThresholdNs: WRITTEN,
      facts: emptyFacts(),
      options: {},
    });
    expect(plan.needs).toEqual([
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
      expect.objectContaining({ kind: 'hash', rel: 'c.txt', partSizes: [] }),
    ]);
    expect(plan.actions).toEqual([{ kind: 'skip', rel: 'dir/b.txt' }]);
  });
});

describe('matchedPartSize', () => {
  it('gives the part size whose ETag matched, the smallest first; 0 when none did', () => {
    const multipart = { [16 * MiB]: 'b-2', [8 * MiB]: 'a-4', [5 * MiB]: 'a-4' };
    expect(matchedPartSize(multipart, 'a-4')).toBe(5 * MiB);
    expect(matchedPartSize(multipart, 'b-2')).toBe(16 * MiB);
    expect(matchedPartSize(multipart, 'c-1')).toBe(0);
    expect(matchedPartSize({}, 'a-4')).toBe(0);
  });
});
