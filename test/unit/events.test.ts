import { describe, expect, it } from 'vitest';
import { fatalError, runError, S3SyncError, usageError } from '../../src/errors.js';
import { emptyResult, outcomeOf, type SyncOutcome, type SyncResult } from '../../src/sync/events.js';

const result = (over: Partial<SyncResult>): SyncResult => ({ ...emptyResult('push', false), ...over });
const oneError = [{ rel: 'a', message: 'cannot read file' }];

describe('the outcome of a run that finished', () => {
  it.each<[string, Partial<SyncResult>, SyncOutcome]>([
    ['nothing to do', {}, 'ok'],
    ['uploads, deletes, records', { uploaded: 3, deleted: 1, recorded: 2 }, 'ok'],
    ['a dry run', { dryRun: true, uploaded: 3 }, 'ok'],
    ['a failed file', { failed: 1, errors: oneError }, 'failed'],
    ['an error not counted as a failed file (a delete skipped)', { errors: oneError }, 'failed'],
    ['a count of failed files alone', { failed: 1 }, 'failed'],
    ['cancelled', { cancelled: true }, 'cancelled'],
    ['cancelled after a failure', { cancelled: true, failed: 1, errors: oneError }, 'cancelled'],
  ])('%s: %s', (_name, over, outcome) => {
    expect(outcomeOf(result(over))).toBe(outcome);
  });
});

describe('the outcome of a run an error stopped', () => {
  it.each<[string, unknown, SyncOutcome]>([
    ['a delete guard (usage)', usageError('refusing to delete'), 'usage'],
    ['credentials rejected (usage)', new S3SyncError('the S3 credentials were rejected'), 'usage'],
    ['a full disk (fatal)', fatalError('disk full'), 'fatal'],
    ['a manifest that cannot be written (file)', runError('cannot write manifest'), 'failed'],
    ['a bug', new TypeError('x is undefined'), 'failed'],
    ['a thrown string', 'oops', 'failed'],
  ])('%s: %s', (_name, error, outcome) => {
    expect(outcomeOf(result({}), { error })).toBe(outcome);
    // The error decides, whatever the counts say.
    expect(outcomeOf(result({ uploaded: 5, failed: 1, errors: oneError }), { error })).toBe(outcome);
  });
});
