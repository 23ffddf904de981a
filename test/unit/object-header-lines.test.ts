import { describe, expect, it } from 'vitest';
import { objectHeaderLines, objectParams, paramsDigest } from '../../src/s3/requests.js';

describe('objectHeaderLines (the headers of a PutObject sent without the SDK)', () => {
  it('maps every field s3sync sets to the header the SDK sends, metadata names in lower case', () => {
    const params = objectParams(
      {
        storageClass: 'STANDARD_IA',
        sse: 'aws:kms',
        sseKmsKeyId: 'key-1',
        cacheControl: 'max-age=60',
        acl: 'private',
      },
      'text/html; charset=utf-8',
      { md5: 'abc', Owner: 'web team' },
      { contentEncoding: 'gzip', contentDisposition: 'attachment; filename="a b.txt"' },
    );
    expect(objectHeaderLines(params)).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'x-amz-meta-md5': 'abc',
      'x-amz-meta-owner': 'web team',
      'x-amz-storage-class': 'STANDARD_IA',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'key-1',
      'cache-control': 'max-age=60',
      'content-encoding': 'gzip',
      'content-disposition': 'attachment; filename="a b.txt"',
      'x-amz-acl': 'private',
    });
    // A rule's storage class and cache control over the run's.
    const own = objectParams(
      { storageClass: 'GLACIER', cacheControl: 'no-cache' },
      'a/b',
      {},
      {
        storageClass: 'STANDARD',
        cacheControl: 'max-age=1',
      },
    );
    expect(objectHeaderLines(own)).toEqual({
      'content-type': 'a/b',
      'x-amz-storage-class': 'STANDARD',
      'cache-control': 'max-age=1',
    });
  });

  it('declines what it cannot send as the SDK would: pass-through fields, non-ASCII or control characters', () => {
    const base = (metadata: Record<string, string>, extra?: Record<string, unknown>, type = 'text/plain') =>
      objectHeaderLines(objectParams({}, type, metadata, extra ? { extra } : {}));
    expect(base({ md5: 'abc' })).toEqual({ 'content-type': 'text/plain', 'x-amz-meta-md5': 'abc' });
    for (const [what, v] of [
      ['a pass-through field', base({}, { Tagging: 'a=b' })],
      ['another one, even undefined-free', base({}, { ContentLanguage: 'fr' })],
      ['a non-ASCII metadata value', base({ note: 'café' })],
      ['a control character in a value', base({ note: 'a\nb' })],
      ['a metadata name that is no header token', base({ 'a b': 'x' })],
      ['a non-ASCII name', base({ nöte: 'x' })],
      ['a non-ASCII content type', base({}, undefined, 'text/plain; x=é')],
    ] as const)
      expect(v, what).toBeUndefined();
    // A pass-through field left undefined is no field at all.
    expect(base({}, { Tagging: undefined })).toEqual({ 'content-type': 'text/plain' });
  });
});

describe('paramsDigest (what a resumed multipart upload must have been created with)', () => {
  const base = () =>
    objectParams({ acl: 'private', cacheControl: 'max-age=60' }, 'text/plain', {
      md5: 'abc',
      b: '2',
      a: '1',
    });

  it('is the same for the same headers, whatever the order of fields and metadata', () => {
    const reordered = objectParams({ cacheControl: 'max-age=60', acl: 'private' }, 'text/plain', {
      a: '1',
      md5: 'abc',
      b: '2',
    });
    expect(paramsDigest(reordered)).toBe(paramsDigest(base()));
    expect(paramsDigest(base())).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs when any header or metadata value differs', () => {
    const digests = new Set([
      paramsDigest(base()),
      paramsDigest({ ...base(), ACL: 'public-read' }),
      paramsDigest({ ...base(), StorageClass: 'STANDARD_IA' }),
      paramsDigest({ ...base(), CacheControl: 'max-age=999' }),
      paramsDigest({ ...base(), ContentType: 'text/html' }),
      paramsDigest({ ...base(), Metadata: { md5: 'abc', a: '1', b: '3' } }),
      paramsDigest({ ...base(), Metadata: { md5: 'abc', a: '1', b: '2', mtime: '1.0' } }),
      paramsDigest({ ...base(), ServerSideEncryption: 'AES256' }),
    ]);
    expect(digests.size).toBe(8);
  });

  it("takes a library pass-through's values of any kind without throwing", () => {
    const extra = { Expires: new Date(0), Tagging: 'a=b', Odd: 10n, Fn: () => 1 } as Record<string, unknown>;
    const p = objectParams({}, 'text/plain', {}, { extra });
    expect(paramsDigest(p)).toMatch(/^[0-9a-f]{64}$/);
    expect(paramsDigest(p)).not.toBe(paramsDigest(objectParams({}, 'text/plain', {}, {})));
  });
});
