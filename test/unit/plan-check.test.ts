import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { HashResult } from '../../src/local/hash.js';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { planCheck } from '../../src/plan/check.js';
import { emptyFacts, type Facts, type Head, type RemoteObject } from '../../src/plan/types.js';
import { candidatePartSizes } from '../../src/s3/etag.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const WRITTEN = 2_000_000_000_000n;
const OLD = '1000000000000';

const file = (rel: string, over: Partial<LocalFile> = {}): LocalFile => ({
  rel,
  size: 10,
  mtimeNs: OLD,
  ctimeNs: OLD,
  ino: '7',
  dev: '2049',
  ...over,
});

const obj = (rel: string, over: Partial<RemoteObject> = {}): RemoteObject => ({
  rel,
  key: `p/${rel}`,
  size: 10,
  etag: md5(rel),
  lastModified: 0,
  ...over,
});

const entry = (f: LocalFile, etag: string): ManifestEntry => ({
  size: f.size,
  mtimeNs: f.mtimeNs,
  ctimeNs: f.ctimeNs,
  ino: f.ino,
  md5: etag,
  etag,
  partSize: 0,
  syncedAt: '2024-01-01T00:00:00.000Z',
});

const hashOf = (f: LocalFile, hex: string): HashResult => ({
  md5: hex,
  size: f.size,
  multipart: {},
  partMd5s: {},
  stat: { size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, ino: f.ino, dev: f.dev },
  stable: true,
});

const byRel = <T extends { rel: string }>(...xs: T[]) => new Map(xs.map((x) => [x.rel, x]));

const run = (
  local: LocalFile[],
  remote: RemoteObject[],
  manifest: Record<string, ManifestEntry> = {},
  facts: Facts = emptyFacts(),
  full = false,
) =>
  planCheck({
    local: byRel(...local),
    remote: byRel(...remote),
    manifest: new Map(Object.entries(manifest)),
    racyThresholdNs: WRITTEN,
    facts,
    full,
  });

describe('planCheck', () => {
  it('classifies only-local, only-remote and size differences; with no entry a HEAD first', () => {
    const local = [file('only-local.txt', { size: 3 }), file('size.txt', { size: 11 })];
    const remote = [obj('only-remote.txt', { size: 4 }), obj('size.txt'), obj('dir/')];
    // No entry says how size.txt was stored: it may hold the file compressed (--compress).
    expect(run(local, remote).needs).toEqual([{ kind: 'head', rel: 'size.txt' }]);
    const facts = emptyFacts();
    facts.heads.set('size.txt', {});
    const plan = run(local, remote, {}, facts);
    expect(plan.needs).toEqual([]);
    expect(plan.same).toBe(0);
    expect(plan.differences).toEqual([
      { rel: 'size.txt', status: 'differ', detail: 'size 11 locally, 10 remotely' },
      { rel: 'only-local.txt', status: 'only-local', detail: '3 bytes' },
      { rel: 'only-remote.txt', status: 'only-remote', detail: '4 bytes' },
    ]);
  });

  it('with no entry, an object stored compressed is compared by its source MD5, not its size', () => {
    const f = file('index.html', { size: 17 });
    const r = obj('index.html', { size: 33 });
    const facts = emptyFacts();
    facts.heads.set('index.html', { sourceMd5: md5('the page') });
    expect(run([f], [r], {}, facts).needs).toEqual([
      expect.objectContaining({ kind: 'hash', rel: 'index.html' }),
    ]);
    facts.hashes.set('index.html', hashOf(f, md5('the page')));
    expect(run([f], [r], {}, facts)).toEqual({ same: 1, differences: [], needs: [] });
    facts.hashes.set('index.html', hashOf(f, md5('another page')));
    expect(run([f], [r], {}, facts).differences).toEqual([
      { rel: 'index.html', status: 'differ', detail: "content differs from the compressed object's source" },
    ]);
    // With an entry of a file stored as it is, the sizes decide: no HEAD.
    expect(run([f], [r], { 'index.html': entry(file('index.html', { size: 33 }), r.etag) }).needs).toEqual(
      [],
    );
  });

  it('trusts the manifest where stat data and ETag both match, else asks for a hash', () => {
    const f = file('a.txt');
    const r = obj('a.txt');
    expect(run([f], [r], { 'a.txt': entry(f, r.etag) })).toEqual({ same: 1, differences: [], needs: [] });
    // The object changed since the manifest entry: content must be compared.
    expect(run([f], [r], { 'a.txt': entry(f, md5('older')) }).needs).toEqual([
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
    ]);
    // --full never trusts the manifest.
    expect(run([f], [r], { 'a.txt': entry(f, r.etag) }, emptyFacts(), true).needs).toEqual([
      expect.objectContaining({ kind: 'hash', rel: 'a.txt', partSizes: [] }),
    ]);
    // A racily clean file is not trusted either.
    const racy = file('a.txt', { mtimeNs: WRITTEN.toString() });
    expect(run([racy], [r], { 'a.txt': entry(racy, r.etag) }).needs).toHaveLength(1);
  });

  it('decides same or different from the hash', () => {
    const f = file('a.txt');
    const g = file('b.txt');
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, md5('a.txt')));
    facts.hashes.set('b.txt', hashOf(g, md5('something else')));
    const plan = run([f, g], [obj('a.txt'), obj('b.txt')], {}, facts);
    expect(plan.needs).toEqual([]);
    expect(plan.same).toBe(1);
    expect(plan.differences).toEqual([
      { rel: 'b.txt', status: 'differ', detail: 'same size, different content' },
    ]);
  });

  it('asks for a HEAD when an opaque ETag cannot be compared, then uses x-amz-meta-md5', () => {
    const f = file('a.txt');
    const r = obj('a.txt', { etag: 'opaque-etag-from-kms' });
    const facts = emptyFacts();
    facts.hashes.set('a.txt', hashOf(f, md5('content')));
    expect(run([f], [r], {}, facts).needs).toEqual([{ kind: 'head', rel: 'a.txt' }]);
    facts.heads.set('a.txt', { metaMd5: md5('content') });
    expect(run([f], [r], {}, facts)).toEqual({ same: 1, differences: [], needs: [] });
    facts.heads.set('a.txt', { metaMd5: md5('other') });
    expect(run([f], [r], {}, facts).differences).toHaveLength(1);
    // No x-amz-meta-md5: nothing can compare the content, which is not said to differ.
    facts.heads.set('a.txt', {});
    expect(run([f], [r], {}, facts).differences).toEqual([
      expect.objectContaining({
        rel: 'a.txt',
        status: 'unverified',
        detail: expect.stringMatching(/an ETag that is not an MD5/),
      }),
    ]);
  });

  describe('a multipart ETag of a part size no guess finds: part 1 told by the HEAD', () => {
    // 40 MiB in 17 MiB parts (aws-cli's multipart_chunksize = 17MB): 3 parts, where the guesses for
    // 3 parts are 16 MiB and an even split, not 17 MiB.
    const MiB = 1024 * 1024;
    const size = 40 * MiB;
    const f = file('big.bin', { size });
    const r = obj('big.bin', { size, etag: `${md5('x')}-3` });
    const withParts = (sizes: Record<number, string>): HashResult => ({
      ...hashOf(f, md5('content')),
      multipart: sizes,
    });
    const guesses = Object.fromEntries(
      candidatePartSizes(size, 3).map((ps) => [ps, `${md5(`guess ${ps}`)}-3`]),
    );
    it.each<[string, Head, Record<number, string>, string]>([
      ['the told size hashes to the ETag: same', { firstPartSize: 17 * MiB }, { [17 * MiB]: r.etag }, 'same'],
      [
        'the told size hashes to another ETag, no x-amz-meta-md5: different',
        { firstPartSize: 17 * MiB },
        { [17 * MiB]: `${md5('y')}-3` },
        'differ',
      ],
      [
        'the told size hashes to another ETag, x-amz-meta-md5 the content: same (an ETag not of the bytes, SSE-KMS)',
        { firstPartSize: 17 * MiB, metaMd5: md5('content') },
        { [17 * MiB]: `${md5('y')}-3` },
        'same',
      ],
      [
        'a told size that does not give 3 parts (uneven parts): not used, not verifiable',
        { firstPartSize: 10 * MiB },
        {},
        'unverified',
      ],
      [
        'no size told (a store that ignores partNumber, Ceph RGW): not verifiable, not "different"',
        {},
        {},
        'unverified',
      ],
    ])('%s', (_why, head, told, verdict) => {
      const facts = emptyFacts();
      facts.hashes.set('big.bin', withParts(guesses));
      expect(run([f], [r], {}, facts).needs).toEqual([{ kind: 'head', rel: 'big.bin' }]);
      facts.heads.set('big.bin', head);
      const asked = run([f], [r], {}, facts).needs;
      if (head.firstPartSize === 17 * MiB) {
        expect(asked).toEqual([
          {
            kind: 'hash',
            rel: 'big.bin',
            size,
            partSizes: [...candidatePartSizes(size, 3), 17 * MiB],
          },
        ]);
        facts.hashes.set('big.bin', withParts({ ...guesses, ...told }));
      }
      const plan = run([f], [r], {}, facts);
      expect(plan.needs).toEqual([]);
      expect(plan.same).toBe(verdict === 'same' ? 1 : 0);
      expect(plan.differences.map((d) => d.status)).toEqual(verdict === 'same' ? [] : [verdict]);
      if (verdict === 'unverified')
        expect(plan.differences[0]?.detail).toMatch(
          /^same size, content not verifiable: a multipart ETag of a part size not found, and no MD5 in its metadata; reading the object settles it/,
        );
    });
  });
});
