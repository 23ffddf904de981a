import { describe, expect, it } from 'vitest';
import type { ListPage } from '../../src/s3/list-xml.js';
import { advancing } from '../../src/s3/listing.js';
import type { S3Requests } from '../../src/s3/requests.js';

const t = { bucket: 'b' } as S3Requests;
const page = (...keys: string[]): ListPage => ({
  objects: keys.map((key) => ({ key, size: 1, etag: '"0"', lastModified: 0 })),
  isTruncated: true,
  nextToken: 'next',
});

describe('advancing', () => {
  it.each([
    ['a key of an earlier page', page('p/c', 'p/a'), ['p/a', 'p/b'], 'p/a'],
    ['a key twice on one page', page('p/c', 'p/c'), [], 'p/c'],
    ['a key with a line break, escaped', page('p/\n'), ['p/\n'], 'p/\\n'],
  ])('stops the listing at %s', (_reason, p, before, shown) => {
    const listed = new Set(before);
    expect(() => advancing(t, 'p/', p, (k) => listed.has(k))).toThrow(
      `the listing of s3://b/p/ stopped early: the server listed "${shown}" a second time, so the listing does not advance; nothing was decided from it`,
    );
  });

  it.each([
    ['new keys in order', page('p/c', 'p/d')],
    // A store that lists in another order (a collation) still never names a key twice.
    ['new keys out of byte order', page('p/z', 'p/c')],
    ['an empty page', page()],
  ])('lets %s through', (_reason, p) => {
    const listed = new Set(['p/a', 'p/b']);
    expect(() => advancing(t, 'p/', p, (k) => listed.has(k))).not.toThrow();
  });
});
