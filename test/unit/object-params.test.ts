import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKSUM_FIELDS, checkPutObjectFields } from '../../src/options/object-params.js';
import { CONTROLLED } from '../../src/sync/object-style.js';
import { repoRoot, usageErrorOf } from '../helpers.js';

const controlled = new Set(['Bucket', 'Key', 'Metadata']);

describe('objectParams fields', () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      'a field in lower case',
      { contentLanguage: 'en' },
      'objectParams returned "contentLanguage", which is no PutObject field (did you mean ContentLanguage?)',
    ],
    [
      'a field s3sync sets',
      { Bucket: 'other' },
      'objectParams may not set Bucket: s3sync sets it (or an option does)',
    ],
    [
      'a typo',
      { Taging: 'a=b' },
      'objectParams returned "Taging", which is no PutObject field (did you mean Tagging?)',
    ],
    ['a name of no field', { colour: 'red' }, 'objectParams returned "colour", which is no PutObject field'],
    [
      'a number for a string',
      { ContentLanguage: 42 },
      'objectParams field ContentLanguage must be a string, got 42',
    ],
    [
      'a string for a Date',
      { Expires: '2030-01-01' },
      'objectParams field Expires must be a Date, got "2030-01-01"',
    ],
    [
      'an invalid Date',
      { ObjectLockRetainUntilDate: new Date('x') },
      'objectParams field ObjectLockRetainUntilDate must be a Date, got null',
    ],
    [
      'a string for a boolean',
      { BucketKeyEnabled: 'true' },
      'objectParams field BucketKeyEnabled must be true or false, got "true"',
    ],
  ])('%s is refused in one line', (_why, fields, message) => {
    expect(usageErrorOf(() => checkPutObjectFields(fields, controlled)).message).toBe(message);
  });

  it('takes PutObject fields of their types, and an undefined one as none', () => {
    expect(() =>
      checkPutObjectFields(
        {
          ContentLanguage: 'en',
          Tagging: 'a=b',
          Expires: new Date('2030-01-01'),
          BucketKeyEnabled: true,
          ObjectLockEventHoldDurationDays: 3,
          WebsiteRedirectLocation: undefined,
          nothing: undefined,
        },
        controlled,
      ),
    ).not.toThrow();
  });
});

/**
 * The fields the SDK's own model gives an interface of models/*.d.ts: read from the installed
 * @aws-sdk/client-s3, so a checksum field a newer SDK adds is found here, not left to a list.
 */
function sdkFields(name: string): string[] {
  const models = path.join(repoRoot, 'node_modules/@aws-sdk/client-s3/dist-types/models');
  for (const f of readdirSync(models).filter((n) => n.endsWith('.d.ts'))) {
    const text = readFileSync(path.join(models, f), 'utf8');
    const at = text.indexOf(`export interface ${name} {`);
    if (at < 0) continue;
    const body = text.slice(at, text.indexOf('\n}', at));
    return [...body.matchAll(/^ {4}(\w+)\??:/gm)].map((m) => m[1]!);
  }
  throw new Error(`${name} is not in the SDK's models`);
}

describe('objectParams checksum fields', () => {
  const checksums = [
    ...new Set(
      ['PutObjectRequest', 'CreateMultipartUploadRequest'].flatMap((r) =>
        sdkFields(r).filter((k) => k.startsWith('Checksum')),
      ),
    ),
  ].sort();

  it("the SDK's model still has them (the reading above finds fields)", () => {
    expect(checksums).toEqual(expect.arrayContaining(['ChecksumAlgorithm', 'ChecksumCRC32', 'ChecksumType']));
  });

  it('every one the SDK knows is refused in one line, as s3sync owns the check of each body', () => {
    expect([...CHECKSUM_FIELDS].sort()).toEqual(checksums);
    for (const k of checksums)
      expect(usageErrorOf(() => checkPutObjectFields({ [k]: 'x' }, CONTROLLED)).message).toBe(
        `objectParams may not set ${k}: s3sync sets it (or an option does)`,
      );
  });
});
