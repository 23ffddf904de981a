import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { copySource, copyUnsupported } from '../../src/s3/copy.js';
import { partRanges, sourcePartSize } from '../../src/s3/copy-check.js';

const sdkError = (name: string, status: number) =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

describe('copySource', () => {
  it.each([
    ['a plain key', 'b', 'dir/a.txt', undefined, 'b/dir/a.txt'],
    [
      'each segment encoded, the slashes kept',
      'b',
      'a b/c+d/ü?#%.txt',
      undefined,
      'b/a%20b/c%2Bd/%C3%BC%3F%23%25.txt',
    ],
    ['a version', 'b', 'k', 'v1+/=', 'b/k?versionId=v1%2B%2F%3D'],
    ['an empty segment (a//b) stays one', 'b', 'a//b', undefined, 'b/a//b'],
  ])('%s', (_why, bucket, key, version, expected) => {
    expect(copySource(bucket, key, version)).toBe(expected);
  });
});

describe('partRanges', () => {
  it.each([
    [
      'an exact multiple',
      10,
      5,
      [
        { n: 1, start: 0, end: 4 },
        { n: 2, start: 5, end: 9 },
      ],
    ],
    [
      'a short last part',
      11,
      5,
      [
        { n: 1, start: 0, end: 4 },
        { n: 2, start: 5, end: 9 },
        { n: 3, start: 10, end: 10 },
      ],
    ],
    ['one part', 3, 5, [{ n: 1, start: 0, end: 2 }]],
  ])('%s', (_why, size, ps, expected) => {
    expect(partRanges(size, ps)).toEqual(expected);
  });
});

describe('copyUnsupported', () => {
  it.each([
    ['NotImplemented', sdkError('NotImplemented', 501), true],
    ['a 501 of another name', sdkError('Whatever', 501), true],
    [
      'wrapped in the one-line error',
      new S3SyncError('x', 'file', { cause: sdkError('NotImplemented', 501) }),
      true,
    ],
    ['access denied is no "cannot copy"', sdkError('AccessDenied', 403), false],
    ['a missing source neither', sdkError('NoSuchKey', 404), false],
    ['a server error neither', sdkError('InternalError', 500), false],
  ])('%s', (_why, err, expected) => {
    expect(copyUnsupported(err)).toBe(expected);
  });
});

describe('sourcePartSize', () => {
  const MiB = 1024 * 1024;
  const etag3 = `${'a'.repeat(32)}-3`;
  it.each([
    [
      'parts of part 1 size but the last, the count told',
      12 * MiB,
      etag3,
      { length: 5 * MiB, count: 3 },
      5 * MiB,
    ],
    ['the count not told (the ETag says it)', 12 * MiB, etag3, { length: 5 * MiB }, 5 * MiB],
    ['the last part exactly as big', 15 * MiB, etag3, { length: 5 * MiB }, 5 * MiB],
    ['part 1 too big for the count (not uniform)', 16 * MiB, etag3, { length: 5 * MiB }, undefined],
    ['part 1 too small for the count', 9 * MiB, etag3, { length: 5 * MiB }, undefined],
    [
      'the store answered the whole object (PartNumber ignored)',
      12 * MiB,
      etag3,
      { length: 12 * MiB },
      undefined,
    ],
    ['the store counts other parts than the ETag', 12 * MiB, etag3, { length: 5 * MiB, count: 4 }, undefined],
    ['a plain MD5', 12 * MiB, 'a'.repeat(32), { length: 5 * MiB }, undefined],
    ['no length', 12 * MiB, etag3, {}, undefined],
    [
      'a one-part upload: the whole',
      12 * MiB,
      `${'a'.repeat(32)}-1`,
      { length: 12 * MiB, count: 1 },
      12 * MiB,
    ],
    ['a one-part upload answered short', 12 * MiB, `${'a'.repeat(32)}-1`, { length: 5 * MiB }, undefined],
    ['a part under the minimum is the source’s own: kept', 3 * MiB, etag3, { length: MiB + 1 }, MiB + 1],
  ])('%s', (_why, size, etag, part, expected) => {
    expect(sourcePartSize(size, etag, part)).toBe(expected);
  });

  it('a layout past the provider’s limits is not followed', () => {
    const limits = { maxParts: 2, minPartSize: 5 * MiB, maxPartSize: 5 * 1024 * MiB };
    expect(sourcePartSize(12 * MiB, `${'a'.repeat(32)}-3`, { length: 5 * MiB }, limits)).toBeUndefined();
    const small = { maxParts: 10_000, minPartSize: MiB, maxPartSize: 4 * MiB };
    expect(sourcePartSize(12 * MiB, `${'a'.repeat(32)}-3`, { length: 5 * MiB }, small)).toBeUndefined();
  });
});
