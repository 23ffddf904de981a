import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compareObjects,
  decideS3Object,
  type HeadFact,
  planS3Sync,
  type S3SyncPlanInput,
} from '../../src/plan/s3-to-s3.js';
import type { RemoteObject } from '../../src/s3/remote-object.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const T = 1_700_000_000_000;

const obj = (rel: string, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel,
  key: `src/${rel}`,
  size: 100,
  etag: md5(rel),
  lastModified: T,
  ...over,
});

const noHeads = () => ({ source: new Map<string, HeadFact>(), destination: new Map<string, HeadFact>() });

function input(
  source: RemoteObject[],
  destination: RemoteObject[],
  over: Partial<Pick<S3SyncPlanInput, 'heads' | 'options'>> = {},
): S3SyncPlanInput {
  return {
    source: new Map(source.map((o) => [o.rel, o])),
    destination: new Map(destination.map((o) => [o.rel, { ...o, key: `dst/${o.rel}` }])),
    heads: over.heads ?? noHeads(),
    options: over.options ?? {},
  };
}

const mp = (s: string, parts: number) => `${md5(s)}-${parts}`;

describe('compareObjects', () => {
  const heads = (src?: HeadFact, dst?: HeadFact) => ({
    source: new Map(src ? [['a', src]] : []),
    destination: new Map(dst ? [['a', dst]] : []),
  });
  it.each([
    [
      'sizes differ: nothing else is asked',
      obj('a'),
      obj('a', { size: 101 }),
      heads(),
      { differ: 'size-changed' },
    ],
    ['equal MD5 ETags: one content', obj('a'), obj('a'), heads(), { same: 'same-etag' }],
    [
      'two MD5 ETags that differ: two contents',
      obj('a'),
      obj('a', { etag: md5('x') }),
      heads(),
      { differ: 'content-changed' },
    ],
    [
      'equal multipart ETags: the same parts',
      obj('a', { etag: mp('p', 3) }),
      obj('a', { etag: mp('p', 3) }),
      heads(),
      { same: 'same-etag' },
    ],
    [
      'multipart against MD5: the multipart side HEADed, not the other',
      obj('a', { etag: mp('p', 3) }),
      obj('a'),
      heads(),
      [{ kind: 'head', side: 'source', rel: 'a' }],
    ],
    [
      'two multipart layouts: both HEADed',
      obj('a', { etag: mp('p', 3) }),
      obj('a', { etag: mp('q', 2) }),
      heads(),
      [
        { kind: 'head', side: 'source', rel: 'a' },
        { kind: 'head', side: 'destination', rel: 'a' },
      ],
    ],
    [
      "the HEAD's md5 equals the other side's ETag: same",
      obj('a', { etag: mp('p', 3) }),
      obj('a', { etag: md5('content') }),
      heads({ metaMd5: md5('content') }),
      { same: 'same-md5' },
    ],
    [
      "the HEADs' md5s differ: copied",
      obj('a', { etag: mp('p', 3) }),
      obj('a', { etag: mp('q', 2) }),
      heads({ metaMd5: md5('one') }, { metaMd5: md5('two') }),
      { differ: 'content-changed' },
    ],
    [
      'no checksum on one side, destination newer: left (aws s3 sync rule)',
      obj('a', { etag: mp('p', 3) }),
      obj('a', { etag: mp('q', 2), lastModified: T + 1 }),
      heads({}, { metaMd5: md5('two') }),
      { same: 'not-newer' },
    ],
    [
      'no checksum on one side, source newer: copied',
      obj('a', { etag: mp('p', 3), lastModified: T + 1 }),
      obj('a', { etag: mp('q', 2) }),
      heads({}, {}),
      { differ: 'source-newer' },
    ],
    [
      'no checksum on one side, a past version (sync --at): copied, however old it is',
      obj('a', { etag: mp('p', 3), versionId: 'v1', isLatest: false }),
      obj('a', { etag: mp('q', 2), lastModified: T + 1 }),
      heads({}, {}),
      { differ: 'past-version-unverified' },
    ],
    [
      'no checksum on one side, the version current at that time still current: the time rule',
      obj('a', { etag: mp('p', 3), versionId: 'v1', isLatest: true }),
      obj('a', { etag: mp('q', 2), lastModified: T + 1 }),
      heads({}, {}),
      { same: 'not-newer' },
    ],
    [
      'opaque ETags (SSE-C, another provider): HEADs decide',
      obj('a', { etag: 'opaque-tag' }),
      obj('a', { etag: 'other-tag' }),
      heads({ metaMd5: md5('x').toUpperCase() }, { metaMd5: md5('x') }),
      { same: 'same-md5' },
    ],
  ])('%s', (_why, s, d, h, expected) => {
    expect(compareObjects(s, d, h)).toEqual(expected);
  });
});

describe('decideS3Object: archive tiers', () => {
  const cold = (cls: string) => obj('a', { storageClass: cls });
  const withRestore = (restore?: string) => ({
    source: new Map<string, HeadFact>([['a', { restore }]]),
    destination: new Map<string, HeadFact>(),
  });
  it.each(['GLACIER', 'DEEP_ARCHIVE'])('a new %s object: HEADed, then skipped unless restored', (cls) => {
    expect(decideS3Object(cold(cls), undefined, input([], []))).toEqual([
      { kind: 'head', side: 'source', rel: 'a' },
    ]);
    for (const restore of [undefined, 'ongoing-request="true"']) {
      expect(
        decideS3Object(cold(cls), undefined, input([], [], { heads: withRestore(restore) })),
      ).toMatchObject({
        kind: 'archived',
        rel: 'a',
        message: expect.stringContaining(cls),
      });
    }
    const done = 'ongoing-request="false", expiry-date="Fri, 21 Dec 2040 00:00:00 GMT"';
    expect(decideS3Object(cold(cls), undefined, input([], [], { heads: withRestore(done) }))).toMatchObject({
      kind: 'copy',
      reason: 'new',
    });
  });

  it('an archived object the destination holds already: skipped, no HEAD', () => {
    expect(decideS3Object(cold('GLACIER'), obj('a'), input([], []))).toEqual({
      kind: 'skip',
      rel: 'a',
      reason: 'same-etag',
    });
  });

  it.each(['GLACIER_IR', 'STANDARD_IA', 'INTELLIGENT_TIERING'])('%s is read as any object', (cls) => {
    expect(decideS3Object(cold(cls), undefined, input([], []))).toMatchObject({
      kind: 'copy',
      reason: 'new',
    });
  });
});

describe('planS3Sync', () => {
  it('one action per object with its reason; no request for an unchanged object', () => {
    const plan = planS3Sync(
      input([obj('same'), obj('new'), obj('grown', { size: 5 })], [obj('same'), obj('grown'), obj('gone')]),
    );
    expect(plan.needs).toEqual([]);
    expect(plan.actions).toEqual([
      { kind: 'skip', rel: 'same', reason: 'same-etag' },
      { kind: 'copy', rel: 'new', key: 'src/new', size: 100, etag: md5('new'), reason: 'new' },
      { kind: 'copy', rel: 'grown', key: 'src/grown', size: 5, etag: md5('grown'), reason: 'size-changed' },
    ]);
  });

  it('--delete: destination objects the source lacks, within the filters; --no-incremental copies all', () => {
    const plan = planS3Sync(
      input([obj('kept')], [obj('kept'), obj('gone'), obj('excluded.tmp')], {
        options: { delete: true, destinationSelected: (rel) => !rel.endsWith('.tmp') },
      }),
    );
    expect(plan.actions).toEqual([
      { kind: 'skip', rel: 'kept', reason: 'same-etag' },
      { kind: 'delete', rel: 'gone', key: 'dst/gone', size: 100, reason: 'no-source-object' },
    ]);
    const forced = planS3Sync(input([obj('kept')], [obj('kept')], { options: { force: true } }));
    expect(forced.actions).toMatchObject([{ kind: 'copy', reason: 'forced' }]);
  });
});

describe('a source listed as at a past time (--at)', () => {
  it('a copy names the version the listing chose; a current listing names none', () => {
    const past = obj('a', { versionId: 'v1', isLatest: false });
    const [copy] = planS3Sync(input([past], [])).actions;
    expect(copy).toMatchObject({ kind: 'copy', rel: 'a', versionId: 'v1', reason: 'new' });
    const [today] = planS3Sync(input([obj('a')], [])).actions;
    expect(today).not.toHaveProperty('versionId');
  });

  it('a past version the destination already holds is not copied again', () => {
    const past = obj('a', { versionId: 'v1', isLatest: false });
    expect(planS3Sync(input([past], [obj('a')])).actions).toEqual([
      { kind: 'skip', rel: 'a', reason: 'same-etag' },
    ]);
  });
});
