import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  cancelWords,
  cliEvent,
  errorExitCode,
  exitCodeOf,
  type Outcome,
  printed,
  signalExitCode,
} from '../../src/cli/exit-codes.js';
import { fatalError, runError, S3SyncError, usageError } from '../../src/errors.js';
import { emptyResult, type SyncOutcome } from '../../src/sync/events.js';

describe('the exit code of an outcome', () => {
  it.each<[Outcome, number]>([
    ['ok', 0],
    ['failed', 1],
    ['differ', 1],
    ['fatal', 1],
    ['usage', 2],
    ['cancelled', 1],
  ])('%s: %i', (outcome, code) => {
    expect(exitCodeOf(outcome)).toBe(code);
    // A cancel reason only matters to a cancelled run.
    if (outcome !== 'cancelled') expect(exitCodeOf(outcome, new CancelledError('SIGINT'))).toBe(code);
  });

  it.each<[string, unknown, number]>([
    ['SIGINT', new CancelledError('SIGINT'), 130],
    ['SIGTERM', new CancelledError('SIGTERM'), 143],
    ['a closed stdout (SIGPIPE)', new CancelledError('SIGPIPE'), 141],
    ['an AbortController aborted with no reason', new DOMException('aborted', 'AbortError'), 1],
    ['a reason of the caller', new Error('shutting down'), 1],
    ['a string', 'SIGINT', 1],
  ])('cancelled by %s: %i', (_name, reason, code) => {
    expect(exitCodeOf('cancelled', reason)).toBe(code);
  });

  it.each<['SIGINT' | 'SIGTERM', number]>([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])("%s: the shell's code for a process it ended (128 + its number)", (signal, code) => {
    const reason = new CancelledError(signal);
    expect(signalExitCode(reason)).toBe(code);
    expect(reason.name).toBe('AbortError');
    expect(reason.message).toBe(`cancelled by ${signal}`);
  });
});

describe('the exit code of an error that ended a command', () => {
  it.each<[string, unknown, number]>([
    ['a usage error', usageError('bad flag'), 2],
    ['a usage error made with the class', new S3SyncError('bad flag'), 2],
    ['a fatal error', fatalError('disk full'), 1],
    ['a file error thrown out of a run', runError('cannot write manifest'), 1],
    ['an error that is not an S3SyncError', new TypeError('bug'), 1],
    ['something that is not an Error', 'oops', 1],
    ['undefined', undefined, 1],
  ])('%s: %i', (_name, err, code) => {
    expect(errorExitCode(err)).toBe(code);
  });
});

describe('a result as the CLI prints it', () => {
  it("has the same fields in the same order, with the exit code in the outcome's place", () => {
    const r = { ...emptyResult('push', false), failed: 2, outcome: 'failed' as const };
    const shown = printed(r);
    expect(Object.keys(shown)).toEqual(Object.keys(r).map((k) => (k === 'outcome' ? 'exitCode' : k)));
    expect(shown).not.toHaveProperty('outcome');
    expect(shown.exitCode).toBe(1);
    expect(shown.failed).toBe(2);
  });

  it.each<[string, SyncOutcome, unknown, number]>([
    ['in sync', 'ok', undefined, 0],
    ['refused by a delete guard', 'usage', undefined, 2],
    ['cancelled by SIGTERM', 'cancelled', new CancelledError('SIGTERM'), 143],
  ])('a summary event %s says exit %i', (_name, outcome, reason, code) => {
    const e = cliEvent({ type: 'summary', ...emptyResult('pull', false), outcome }, reason);
    expect(e).toMatchObject({ type: 'summary', command: 'pull', exitCode: code });
    expect(e).not.toHaveProperty('outcome');
  });

  it('a check summary says exit 1 for a difference', () => {
    const e = cliEvent({
      type: 'check-summary',
      command: 'check',
      same: 1,
      onlyLocal: ['a'],
      onlyRemote: [],
      differ: [],
      differences: [{ rel: 'a', status: 'only-local', detail: '1 bytes' }],
      unverified: [],
      errors: [],
      requests: {},
      requestsTotal: 1,
      elapsedMs: 1,
      cancelled: false,
      notCompared: 0,
      outcome: 'differ',
    });
    expect(e).toMatchObject({ type: 'check-summary', exitCode: 1 });
    expect(Object.keys(e).at(-1)).toBe('exitCode');
  });

  it('leaves every other event as the library sent it', () => {
    const events = [
      { type: 'error', message: 'x', rel: 'a' },
      { type: 'done', action: 'upload', rel: 'a', size: 1, reason: 'new' },
      { type: 'bytes', bytes: 3 },
    ] as const;
    for (const e of events) expect(cliEvent(e)).toBe(e);
  });
});

describe('what a cancelled command says it keeps', () => {
  it.each([
    ['push', false, 'the manifest is saved', 'the next run continues where this one stopped'],
    ['pull', false, 'the manifest is saved', 'the next run continues where this one stopped'],
    ['apply', false, 'the manifest is saved', 'the next run continues where this one stopped'],
    ['push', true, 'a dry run: nothing was changed', 'a dry run, nothing was changed'],
    [
      'check',
      false,
      'the summary says what was compared so far',
      'the check is incomplete: run it again to compare every file',
    ],
    ['plan push', false, 'no plan is written', 'nothing was changed and no plan written: plan again'],
    ['plan sync', false, 'no plan is written', 'nothing was changed and no plan written: plan again'],
    [
      'versions',
      false,
      'the listing stops here',
      'the listing is incomplete: run it again for every version',
    ],
    [
      'cleanup',
      false,
      'the uploads aborted so far stay aborted',
      'the next cleanup lists the uploads left and aborts those',
    ],
    ['cleanup', true, 'a dry run: nothing was changed', 'a dry run, nothing was changed'],
  ] as const)('%s (dry run: %s)', (command, dryRun, stopping, after) => {
    expect(cancelWords(command, dryRun)).toEqual({ stopping, after });
  });
});
