import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { copySource, copyUnsupported, partRanges } from '../../src/s3/copy.js';

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
