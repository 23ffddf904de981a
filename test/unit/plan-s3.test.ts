import { describe, expect, it } from 'vitest';
import type { RemoteObject } from '../../src/s3/remote-object.js';
import { type BucketPlannedAction, bucketActionVerdict } from '../../src/sync/plan-s3.js';

const obj = (etag: string, size = 5): RemoteObject => ({ rel: 'a', key: `q/a`, size, etag, lastModified: 0 });

/** A copy of source ETag `new` (5 bytes) planned onto `old` (or onto nothing). */
const copy = (destination: { etag: string; size: number } | null): BucketPlannedAction => ({
  kind: 'copy',
  rel: 'a',
  reason: 'content-changed',
  sourceKey: 'p/a',
  size: 5,
  etag: 'new',
  destination,
});
const del: BucketPlannedAction = {
  kind: 'delete',
  rel: 'a',
  reason: 'no-source-object',
  key: 'q/a',
  etag: 'old',
  size: 5,
};
const OLD = { etag: 'old', size: 5 };

describe('bucketActionVerdict: what an apply does with one action of an S3 → S3 plan', () => {
  it.each([
    ['a copy with both sides as planned goes', copy(OLD), obj('new'), obj('old'), 'go'],
    ['a copy onto nothing, still nothing, goes', copy(null), obj('new'), undefined, 'go'],
    ['a copy whose destination holds the planned source was done', copy(OLD), obj('new'), obj('new'), 'done'],
    ['a copy onto nothing, made since, was done', copy(null), obj('new'), obj('new'), 'done'],
    ['a plan as at a time (no source listed) resumes too', copy(OLD), null, obj('new'), 'done'],
    [
      'the same ETag with another size is something else',
      copy(OLD),
      obj('new'),
      obj('new', 6),
      'destination-changed',
    ],
    [
      'a destination holding a third content is refused',
      copy(OLD),
      obj('new'),
      obj('other'),
      'destination-changed',
    ],
    ['a destination gone since is refused', copy(OLD), obj('new'), undefined, 'destination-changed'],
    [
      'a changed source is refused, whatever the destination holds',
      copy(OLD),
      obj('newer'),
      obj('new'),
      'source-changed',
    ],
    ['a source gone since is refused, as gone', copy(OLD), undefined, obj('old'), 'source-gone'],
    ['a deletion of the object as planned goes', del, undefined, obj('old'), 'go'],
    ['a deletion whose object is gone was done', del, undefined, undefined, 'done'],
    [
      'a deletion of an object rewritten since is refused',
      del,
      undefined,
      obj('other'),
      'destination-changed',
    ],
  ] as const)('%s', (_why, action, source, destination, verdict) => {
    expect(bucketActionVerdict(action, source, destination)).toBe(verdict);
  });
});
