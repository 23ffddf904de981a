import { describe, expect, it } from 'vitest';
import { checkPutObjectFields } from '../../src/options/object-params.js';
import { usageErrorOf } from '../helpers.js';

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
