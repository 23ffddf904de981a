/** The planner's header and compression decisions: restyle (a copy), encoding-changed (an upload), rebuilds. */
import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { planCheck } from '../../src/plan/check.js';
import { decidePullObject } from '../../src/plan/pull.js';
import { decidePushFile, type PushPlanInput } from '../../src/plan/push.js';
import { emptyFacts, type Facts, type RemoteObject } from '../../src/plan/types.js';
import { hashOf } from './plan-fixtures.js';

const WRITTEN = 2_000_000_000_000n;
const OLD = '1000000000000';
const MD5 = 'a'.repeat(32);
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
  md5: MD5,
  etag: MD5,
  partSize: 0,
  syncedAt: '2024-01-01T00:00:00.000Z',
  ...over,
});
const remote = (f: LocalFile, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel: f.rel,
  key: `p/${f.rel}`,
  size: f.size,
  etag: MD5,
  lastModified: 0,
  ...over,
});
const decide = (
  f: LocalFile,
  e: ManifestEntry | undefined,
  opts: PushPlanInput['options'],
  facts: Facts = emptyFacts(),
) => decidePushFile(f, e, WRITTEN, facts, opts);
const html = (rel: string) => (rel.endsWith('.html') ? 'd-html' : undefined);

describe('header rules in the planner', () => {
  const f = file('index.html');
  it.each([
    ['no rules, no digest: skipped (an upgrade copies nothing)', undefined, {}, 'skip'],
    ['the rule as recorded: skipped', 'd-html', { styleOf: html }, 'skip'],
    ['a rule now applies: restyled', undefined, { styleOf: html }, 'restyle'],
    ['the rule changed: restyled', 'd-old', { styleOf: html }, 'restyle'],
    [
      'the rule no longer applies: restyled back to the globals',
      'd-html',
      { styleOf: () => undefined },
      'restyle',
    ],
    ['all rules removed: restyled back to the globals', 'd-html', {}, 'restyle'],
  ] as const)('%s', (_why, style, opts, kind) => {
    const d = decide(f, entryFor(f, style ? { style } : {}), opts);
    expect(d.kind).toBe(kind);
    if (d.kind === 'restyle')
      expect(d).toMatchObject({
        reason: 'headers-changed',
        md5: MD5,
        etag: MD5,
        style: html(f.rel) && (opts as PushPlanInput['options']).styleOf?.(f.rel),
      });
  });

  it('changed content is uploaded, not restyled', () => {
    const g = file('index.html', { mtimeNs: '1000000000001' });
    const facts = emptyFacts();
    facts.hashes.set(g.rel, hashOf(g, 'b'.repeat(32)));
    expect(decide(g, entryFor(f, { style: 'd-old' }), { styleOf: html }, facts)).toMatchObject({
      kind: 'upload',
      reason: 'content-changed',
    });
  });

  it('same content under new stat data with a new rule: restyled, and its entry keeps what it recorded', () => {
    const g = file('index.html', { mtimeNs: '1000000000001' });
    const facts = emptyFacts();
    facts.hashes.set(g.rel, hashOf(g, MD5));
    expect(decide(g, entryFor(f, { style: 'd-old' }), { styleOf: html }, facts)).toMatchObject({
      kind: 'restyle',
    });
    expect(
      decide(
        g,
        entryFor(f, { style: 'd-html', stored: 60 }),
        { styleOf: html, compressed: () => true },
        facts,
      ),
    ).toEqual({
      kind: 'record',
      rel: 'index.html',
      reason: 'stat-changed',
      md5: MD5,
      etag: MD5,
      partSize: 0,
      style: 'd-html',
      stored: 60,
    });
  });

  it('remote drift found by a listing is an upload before any restyle', () => {
    const facts = emptyFacts();
    facts.remote = new Map([[f.rel, remote(f, { etag: 'c'.repeat(32) })]]);
    expect(decide(f, entryFor(f), { styleOf: html }, facts)).toMatchObject({
      kind: 'upload',
      reason: 'remote-drift',
    });
  });

  it('a rebuild finds the content in place: a rule makes it a restyle, none a record', () => {
    const facts = emptyFacts();
    facts.remote = new Map([[f.rel, remote(f)]]);
    facts.hashes.set(f.rel, hashOf(f, MD5));
    expect(decide(f, undefined, { styleOf: html }, facts)).toMatchObject({
      kind: 'restyle',
      style: 'd-html',
    });
    expect(decide(f, undefined, {}, facts)).toMatchObject({ kind: 'record', reason: 'already-remote' });
  });
});

describe('compression in the planner', () => {
  const f = file('app.js');
  const gz = () => true;
  it.each([
    ['compressed and recorded so: skipped', { stored: 40 }, { compressed: gz }, 'skip', undefined],
    ['--compress added for it: uploaded compressed', {}, { compressed: gz }, 'upload', 'encoding-changed'],
    ['--compress removed: uploaded as is', { stored: 40 }, {}, 'upload', 'encoding-changed'],
  ] as const)('%s', (_why, over, opts, kind, reason) => {
    const d = decide(f, entryFor(f, over), opts);
    expect(d.kind).toBe(kind);
    if (reason) expect(d).toMatchObject({ reason });
  });

  it('a listing compares a compressed object by its stored size', () => {
    const facts = emptyFacts();
    facts.remote = new Map([[f.rel, remote(f, { size: 40, etag: 'e'.repeat(32) })]]);
    const e = entryFor(f, { stored: 40, etag: 'e'.repeat(32) });
    expect(decide(f, e, { compressed: gz, verify: true }, facts)).toEqual({ kind: 'skip', rel: 'app.js' });
    facts.remote.set(f.rel, remote(f, { size: 41, etag: 'e'.repeat(32) }));
    expect(decide(f, e, { compressed: gz, verify: true }, facts)).toMatchObject({
      kind: 'upload',
      reason: 'remote-drift',
    });
  });

  describe('a rebuild: the source MD5 in the object metadata decides, never the compressed bytes', () => {
    const facts = () => {
      const x = emptyFacts();
      x.remote = new Map([[f.rel, remote(f, { size: 40, etag: 'e'.repeat(32) })]]);
      return x;
    };
    it('asks for the hash, then a HEAD', () => {
      const x = facts();
      expect(decide(f, undefined, { compressed: gz }, x)).toMatchObject({ kind: 'hash' });
      x.hashes.set(f.rel, hashOf(f, MD5));
      expect(decide(f, undefined, { compressed: gz }, x)).toEqual({ kind: 'head', rel: 'app.js' });
    });
    it.each([
      ['the same source MD5: recorded with the stored size', MD5, 'record'],
      ['another source MD5: uploaded', 'b'.repeat(32), 'upload'],
      ['no source MD5 (not stored by s3sync compressed): uploaded', undefined, 'upload'],
    ] as const)('%s', (_why, sourceMd5, kind) => {
      const x = facts();
      x.hashes.set(f.rel, hashOf(f, MD5));
      x.heads.set(f.rel, { sourceMd5 });
      const d = decide(f, undefined, { compressed: gz }, x);
      expect(d.kind).toBe(kind);
      if (kind === 'record') expect(d).toMatchObject({ stored: 40, etag: 'e'.repeat(32), md5: MD5 });
    });
  });
});

describe('pull and check with a compressed object', () => {
  const f = file('app.js');
  const e = entryFor(f, { stored: 40, etag: 'e'.repeat(32) });
  const r = remote(f, { size: 40, etag: 'e'.repeat(32) });
  it('pull skips it by its stored size and ETag, and downloads it when either changed', () => {
    expect(decidePullObject(r, f, e, WRITTEN, emptyFacts(), false)).toEqual({ kind: 'skip', rel: 'app.js' });
    expect(decidePullObject({ ...r, size: 41 }, f, e, WRITTEN, emptyFacts(), false)).toMatchObject({
      kind: 'download',
      reason: 'remote-changed',
    });
    expect(
      decidePullObject({ ...r, etag: 'f'.repeat(32) }, f, e, WRITTEN, emptyFacts(), false),
    ).toMatchObject({
      kind: 'download',
    });
  });

  const check = (facts: Facts, full = false) =>
    planCheck({
      local: new Map([[f.rel, f]]),
      remote: new Map([[f.rel, r]]),
      manifest: new Map([[f.rel, e]]),
      racyThresholdNs: WRITTEN,
      facts,
      full,
    });
  it('check trusts the manifest for it, and with --full compares the source MD5', () => {
    expect(check(emptyFacts())).toMatchObject({ same: 1, differences: [] });
    expect(check(emptyFacts(), true).needs).toEqual([
      { kind: 'hash', rel: 'app.js', size: 100, partSizes: [] },
    ]);
    const facts = emptyFacts();
    facts.hashes.set(f.rel, hashOf(f, MD5));
    expect(check(facts, true).needs).toEqual([{ kind: 'head', rel: 'app.js' }]);
    facts.heads.set(f.rel, { sourceMd5: MD5 });
    expect(check(facts, true)).toMatchObject({ same: 1, differences: [] });
    facts.heads.set(f.rel, { sourceMd5: 'b'.repeat(32) });
    expect(check(facts, true)).toMatchObject({ same: 0, differences: [{ rel: 'app.js', status: 'differ' }] });
  });
});
