import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { planPush } from '../../src/plan/push.js';
import {
  bestSource,
  type CopySource,
  copySources,
  planRenames,
  type RenameInput,
} from '../../src/plan/renames.js';
import { emptyFacts, type RemoteObject } from '../../src/plan/types.js';
import { hashOf } from './plan-fixtures.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const OLD = '1000000000000';
const WRITTEN = 2_000_000_000_000n;

const file = (rel: string, size = 100): LocalFile => ({
  rel,
  size,
  mtimeNs: OLD,
  ctimeNs: OLD,
  ino: String(rel.length),
  dev: '2049',
});
const entry = (content: string, size = 100, over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  size,
  mtimeNs: OLD,
  ctimeNs: OLD,
  ino: '1',
  md5: md5(content),
  etag: md5(content),
  partSize: 0,
  syncedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});
const object = (rel: string, etag: string, size = 100, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel,
  key: `pre/${rel}`,
  size,
  etag,
  lastModified: 0,
  ...over,
});
const upload = (rel: string, size = 100) => ({ kind: 'upload' as const, rel, reason: 'new' as const, size });
const source = (rel: string, over: Partial<CopySource> = {}): CopySource => ({
  rel,
  key: `pre/${rel}`,
  size: 100,
  md5: md5('x'),
  etag: md5('x'),
  partSize: 0,
  vanished: true,
  ...over,
});

const input = (over: Partial<RenameInput>): RenameInput => ({
  uploads: [],
  present: new Set(),
  manifest: new Map(),
  hashes: new Map(),
  keyPrefix: 'pre/',
  ...over,
});
const hashed = (rel: string, content: string, size = 100) => hashOf(file(rel, size), md5(content));

describe('copySources: what a new key may be copied from', () => {
  it.each([
    {
      why: 'a manifest entry whose file is gone, with its key under the prefix',
      over: { manifest: new Map([['old/a', entry('a')]]) },
      want: [{ rel: 'old/a', key: 'pre/old/a', vanished: true }],
    },
    {
      why: 'not an entry whose file is still here (it is no rename, and no listing vouches for it)',
      over: { manifest: new Map([['a', entry('a')]]), present: new Set(['a']) },
      want: [],
    },
    {
      why: 'not an entry whose object the listing shows missing',
      over: { manifest: new Map([['old/a', entry('a')]]), remote: new Map() },
      want: [],
    },
    {
      why: 'an entry whose object the listing shows changed: only as what the listing says it holds',
      over: {
        manifest: new Map([['old/a', entry('a')]]),
        remote: new Map([['old/a', object('old/a', md5('other'))]]),
      },
      want: [{ rel: 'old/a', md5: md5('other'), vanished: true }],
    },
    {
      why: 'a listed object of plain ETag, whose file is here: a copy of identical content',
      over: { present: new Set(['b']), remote: new Map([['b', object('b', md5('b'))]]) },
      want: [{ rel: 'b', key: 'pre/b', vanished: false, md5: md5('b') }],
    },
    {
      why: 'a listed multipart object with the MD5 s3sync stored in its metadata',
      over: { remote: new Map([['m', object('m', `${md5('m')}-3`, 100, { metaMd5: md5('mm') })]]) },
      want: [{ rel: 'm', md5: md5('mm'), etag: `${md5('m')}-3` }],
    },
    {
      why: 'not a listed object whose MD5 nothing says (multipart ETag, no metadata)',
      over: { remote: new Map([['m', object('m', `${md5('m')}-3`)]]) },
      want: [],
    },
    {
      why: 'not an empty object: nothing to gain',
      over: { remote: new Map([['e', object('e', md5(''), 0)]]) },
      want: [],
    },
    {
      why: 'not a key this run uploads to: it changes under the copy',
      over: { uploads: [upload('b')], remote: new Map([['b', object('b', md5('b'))]]) },
      want: [],
    },
  ])('$why', ({ over, want }) => {
    const got = [...copySources(input(over)).values()].flat();
    expect(got).toHaveLength(want.length);
    for (const [i, w] of want.entries()) expect(got[i]).toMatchObject(w);
  });

  it('counts a rel once when both the manifest and the listing name it (the manifest knows more)', () => {
    const got = copySources(
      input({
        manifest: new Map([['old/a', entry('a', 100, { partSize: 8 })]]),
        remote: new Map([['old/a', object('old/a', md5('a'))]]),
      }),
    );
    expect([...got.values()].flat()).toEqual([expect.objectContaining({ rel: 'old/a', partSize: 8 })]);
  });
});

describe('bestSource: ties between sources of the same content', () => {
  it.each([
    {
      why: 'a vanished file beats an object whose file is still here',
      rel: 'new/a',
      candidates: [source('b', { vanished: false }), source('z/old', { vanished: true })],
      want: 'z/old',
    },
    {
      why: 'among vanished files, the one of the same name (a moved file)',
      rel: 'new/report.pdf',
      candidates: [source('a/other.pdf'), source('z/report.pdf')],
      want: 'z/report.pdf',
    },
    {
      why: 'otherwise the first key in code-point order, whatever the input order',
      rel: 'new/x',
      candidates: [source('c'), source('a'), source('b')],
      want: 'a',
    },
    {
      why: 'same name does not beat vanished',
      rel: 'new/x',
      candidates: [source('keep/x', { vanished: false }), source('gone/y')],
      want: 'gone/y',
    },
  ])('$why', ({ rel, candidates, want }) => {
    expect(bestSource(rel, candidates)?.rel).toBe(want);
    expect(bestSource(rel, [...candidates].reverse())?.rel).toBe(want);
  });

  it('has none to choose from no candidate', () => {
    expect(bestSource('a', [])).toBeUndefined();
  });
});

describe('planRenames', () => {
  const gone = new Map([
    ['old/a', entry('a')],
    ['old/b', entry('b')],
    ['old/big', entry('big', 5000)],
  ]);

  it('asks for the hash of only the uploads whose size a source has', () => {
    const r = planRenames(input({ uploads: [upload('new/a'), upload('new/odd', 7)], manifest: gone }));
    expect(r.copies.size).toBe(0);
    expect(r.needs).toEqual([{ kind: 'hash', rel: 'new/a', size: 100, partSizes: [] }]);
  });

  it('asks for nothing when no file was renamed away (no source at all)', () => {
    const r = planRenames(input({ uploads: [upload('new/a')], manifest: new Map() }));
    expect(r).toEqual({ copies: new Map(), needs: [] });
  });

  it('copies a file whose size and MD5 match a vanished entry, from that entry key', () => {
    const r = planRenames(
      input({
        uploads: [upload('new/a')],
        manifest: gone,
        hashes: new Map([['new/a', hashed('new/a', 'a')]]),
      }),
    );
    expect(r.needs).toEqual([]);
    expect(r.copies.get('new/a')).toMatchObject({
      kind: 'copy',
      rel: 'new/a',
      reason: 'new',
      md5: md5('a'),
      from: { rel: 'old/a', key: 'pre/old/a', etag: md5('a') },
    });
  });

  it.each([
    { why: 'same size, other content', content: 'c', size: 100 },
    { why: 'same content as its name suggests, other size', content: 'big', size: 100 },
  ])('uploads a file that matches no source: $why', ({ content, size }) => {
    const r = planRenames(
      input({
        uploads: [upload('new/x', size)],
        manifest: gone,
        hashes: new Map([['new/x', hashed('new/x', content, size)]]),
      }),
    );
    expect(r.copies.size).toBe(0);
  });

  it.each([
    {
      why: 'the source is stored compressed (its object holds gzip bytes)',
      manifest: new Map([['old/a', entry('a', 100, { stored: 60 })]]),
      compressed: undefined,
    },
    {
      why: 'the new file is to be stored compressed (a copy would store it as it is)',
      manifest: new Map([['old/a', entry('a')]]),
      compressed: (rel: string) => rel.startsWith('new/'),
    },
  ])('uploads, not copies, where $why', ({ manifest, compressed }) => {
    const r = planRenames(
      input({
        uploads: [upload('new/a')],
        manifest,
        hashes: new Map([['new/a', hashed('new/a', 'a')]]),
        compressed,
      }),
    );
    expect(r).toEqual({ copies: new Map(), needs: [] });
  });

  it('uploads a file whose hash was taken while it changed', () => {
    const h = { ...hashed('new/a', 'a'), stable: false };
    const r = planRenames(
      input({ uploads: [upload('new/a')], manifest: gone, hashes: new Map([['new/a', h]]) }),
    );
    expect(r.copies.size).toBe(0);
    expect(r.needs).toEqual([]);
  });

  it('copies several files of the same content from one source (a copy does not consume it)', () => {
    const rels = ['n1/a', 'n2/a', 'n3/copy-of-a'];
    const r = planRenames(
      input({
        uploads: rels.map((rel) => upload(rel)),
        manifest: gone,
        hashes: new Map(rels.map((rel) => [rel, hashed(rel, 'a')])),
      }),
    );
    expect([...r.copies.values()].map((c) => [c.rel, c.from.rel])).toEqual(rels.map((rel) => [rel, 'old/a']));
  });

  it('never copies a key onto itself', () => {
    const r = planRenames(
      input({
        uploads: [upload('a')],
        remote: new Map([['a', object('a', md5('a'))]]),
        hashes: new Map([['a', hashed('a', 'a')]]),
      }),
    );
    expect(r.copies.size).toBe(0);
    expect(r.needs).toEqual([]);
  });
});

describe('planPush with rename tracking', () => {
  const base = {
    racyThresholdNs: WRITTEN,
    options: { trackRenames: true, keyPrefix: 'pre/' },
  };
  const moved = file('new/a');
  const manifest = new Map([['old/a', entry('a')]]);
  const remote = new Map([['old/a', object('old/a', md5('a'))]]);

  it('lists, then hashes the candidate, then copies; with --delete the old key goes', () => {
    const facts = emptyFacts();
    const plan = () =>
      planPush({ ...base, files: [moved], manifest, facts, options: { ...base.options, delete: true } });
    expect(plan().needs).toEqual([{ kind: 'listing' }]);
    facts.remote = remote;
    expect(plan().needs).toEqual([{ kind: 'hash', rel: 'new/a', size: 100, partSizes: [] }]);
    facts.hashes.set('new/a', hashed('new/a', 'a'));
    const p = plan();
    expect(p.needs).toEqual([]);
    expect(p.actions).toEqual([
      expect.objectContaining({
        kind: 'copy',
        rel: 'new/a',
        from: expect.objectContaining({ rel: 'old/a' }),
      }),
      expect.objectContaining({ kind: 'delete', rel: 'old/a', key: 'pre/old/a' }),
    ]);
  });

  it.each([
    { why: 'without --delete the old key stays', options: { ...base.options }, kinds: ['copy'] },
    { why: '--no-track-renames uploads', options: { trackRenames: false }, kinds: ['upload'] },
    {
      why: '--no-incremental uploads everything',
      options: { ...base.options, force: true },
      kinds: ['upload'],
    },
  ])('$why', ({ options, kinds }) => {
    const facts = { ...emptyFacts(), remote };
    facts.hashes.set('new/a', hashed('new/a', 'a'));
    const p = planPush({ ...base, files: [moved], manifest, facts, options });
    expect(p.actions.map((a) => a.kind)).toEqual(kinds);
  });

  it('hashes nothing and asks nothing on a run with no upload', () => {
    const here = file('a');
    const p = planPush({
      ...base,
      files: [here],
      manifest: new Map([['a', { ...entry('a'), ino: here.ino }], ...manifest]),
      facts: emptyFacts(),
    });
    expect(p).toEqual({ actions: [{ kind: 'skip', rel: 'a' }], needs: [] });
  });
});
