/**
 * The delete guards as a table: a run deletes only after a clean run, never for an empty source, and
 * within --max-delete (a count, or a share of the destination rounded down); --force lifts the last two.
 */
import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { deleteVerdict, maxDeleteLimit, sourceFilesOf } from '../../src/sync/delete-guard.js';

describe('maxDeleteLimit: --max-delete as a number of files', () => {
  it.each<[string, number | string | undefined, number, number]>([
    ['the default is half the destination', undefined, 10, 5],
    ['a share is rounded down', '25%', 10, 2],
    ['a share of a one-file destination rounds to nothing', undefined, 1, 0],
    ['a fractional share', '33.3%', 10, 3],
    ['all of it', '100%', 7, 7],
    ['none of it', '0%', 1000, 0],
    ['a count is a count, whatever the destination holds', '100', 10, 100],
    ['a count as a number (the library)', 7, 10, 7],
    ['a count of zero', 0, 10, 0],
    ['spaces around a count', ' 12 ', 3, 12],
  ])('%s: %j of %i files → %i', (_reason, spec, destinationFiles, limit) => {
    expect(maxDeleteLimit(spec, destinationFiles)).toBe(limit);
  });

  it.each<[string, number | string]>([
    ['not a number', 'abc'],
    ['over 100%', '101%'],
    ['negative', -1],
    ['a fraction of a file', 1.5],
    ['a negative share', '-5%'],
  ])('%s (%j) is a usage error, never a limit', (_reason, spec) => {
    expect(() => maxDeleteLimit(spec, 10)).toThrow(S3SyncError);
  });
});

type Case = {
  deletes: number;
  destinationFiles: number;
  sourceFiles: number;
  errors?: number;
  force?: boolean;
  maxDelete?: number | string;
};
const verdict = (c: Case) => deleteVerdict({ errors: 0, force: false, ...c });

describe('deleteVerdict: whether a run deletes', () => {
  it.each<[string, Case]>([
    ['within the default half', { deletes: 5, destinationFiles: 10, sourceFiles: 5 }],
    ['exactly at a count', { deletes: 100, destinationFiles: 1000, sourceFiles: 900, maxDelete: '100' }],
    [
      'exactly at a share, rounded down',
      { deletes: 2, destinationFiles: 10, sourceFiles: 8, maxDelete: '25%' },
    ],
    [
      'everything, when 100% is allowed',
      { deletes: 10, destinationFiles: 10, sourceFiles: 1, maxDelete: '100%' },
    ],
    ['over the limit with --force', { deletes: 9, destinationFiles: 10, sourceFiles: 1, force: true }],
    ['an empty source with --force', { deletes: 10, destinationFiles: 10, sourceFiles: 0, force: true }],
    [
      'over a zero limit with --force',
      { deletes: 1, destinationFiles: 10, sourceFiles: 9, maxDelete: 0, force: true },
    ],
  ])('goes ahead: %s', (_reason, c) => {
    expect(verdict(c)).toEqual({ go: true });
  });

  it.each<[string, Case, string]>([
    [
      'one error in the run',
      { deletes: 1, destinationFiles: 10, sourceFiles: 9, errors: 1 },
      'not deleting 1 file(s): 1 error(s) happened in this run',
    ],
    [
      'errors, even with --force',
      { deletes: 3, destinationFiles: 10, sourceFiles: 9, errors: 2, force: true },
      'not deleting 3 file(s): 2 error(s) happened in this run',
    ],
    [
      'errors and an empty source: the errors come first',
      { deletes: 10, destinationFiles: 10, sourceFiles: 0, errors: 1 },
      'not deleting 10 file(s): 1 error(s) happened in this run',
    ],
  ])('skips the deletions (reported, the run goes on): %s', (_reason, c, skip) => {
    expect(verdict(c)).toEqual({ go: false, skip });
  });

  it.each<[string, Case, string]>([
    [
      'an empty source (a failed mount looks like that)',
      { deletes: 10, destinationFiles: 10, sourceFiles: 0, maxDelete: '100%' },
      'refusing to delete all 10 file(s): the source is empty (use --force if you mean it)',
    ],
    [
      'one over the default half',
      { deletes: 6, destinationFiles: 10, sourceFiles: 4 },
      'refusing to delete 6 of 10 file(s): over --max-delete 50% (5); raise it or use --force',
    ],
    [
      'the one file of a one-file destination (half of one rounds to none)',
      { deletes: 1, destinationFiles: 1, sourceFiles: 1 },
      'refusing to delete 1 of 1 file(s): over --max-delete 50% (0); raise it or use --force',
    ],
    [
      'one over a count',
      { deletes: 101, destinationFiles: 1000, sourceFiles: 899, maxDelete: '100' },
      'refusing to delete 101 of 1000 file(s): over --max-delete 100 (100); raise it or use --force',
    ],
    [
      'any deletion under a zero limit',
      { deletes: 1, destinationFiles: 10, sourceFiles: 9, maxDelete: 0 },
      'refusing to delete 1 of 10 file(s): over --max-delete 0 (0); raise it or use --force',
    ],
    [
      'one over a share',
      { deletes: 3, destinationFiles: 10, sourceFiles: 7, maxDelete: '25%' },
      'refusing to delete 3 of 10 file(s): over --max-delete 25% (2); raise it or use --force',
    ],
  ])('refuses the run (usage error): %s', (_reason, c, refuse) => {
    expect(verdict(c)).toEqual({ go: false, refuse });
  });
});

describe('sourceFilesOf: the files the empty-source guard counts', () => {
  it.each<[string, string[], number]>([
    ['nothing listed', [], 0],
    ['only a folder marker', ['dir/'], 0],
    ['the prefix itself and nested markers', ['', 'a/', 'a/b/'], 0],
    ['files beside markers', ['a/', 'a/x.txt', 'y.txt'], 2],
  ])('%s', (_name, keys, n) => {
    expect(sourceFilesOf(keys)).toBe(n);
  });
});
