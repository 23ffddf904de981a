import { type ErrorKind, S3SyncError } from '../errors.js';
import type { CheckEvent, CheckResult } from '../sync/check.js';
import type { CleanupResult } from '../sync/cleanup.js';
import type { SyncOutcome } from '../sync/events.js';

/**
 * The reason the CLI aborts a run with on SIGINT, SIGTERM or SIGHUP. Named AbortError, as every cancellation
 * is.
 */
export class CancelledError extends Error {
  constructor(readonly signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGPIPE') {
    // Node ignores SIGPIPE: a closed stdout arrives as EPIPE, so the message says what happened.
    super(signal === 'SIGPIPE' ? 'cancelled by SIGPIPE (its output was closed)' : `cancelled by ${signal}`);
    this.name = 'AbortError';
  }
}

/** What a cancelled command says of its work: in the notice when the signal comes, and in its last line. */
export interface CancelWords {
  stopping: string;
  after: string;
}

/**
 * The cancel wording of a command: only push, pull and apply save a manifest to resume from; a dry run
 * changes nothing, a check compares afresh, an S3 → S3 sync lists both sides again, a plan writes no
 * file, versions lists afresh, and cleanup lists what is left.
 */
export function cancelWords(command: string, dryRun: boolean): CancelWords {
  if (command === 'check')
    return {
      stopping: 'the summary says what was compared so far',
      after: 'the check is incomplete: run it again to compare every file',
    };
  if (dryRun) return { stopping: 'a dry run: nothing was changed', after: 'a dry run, nothing was changed' };
  // A plan is written whole at its end, or not at all.
  if (command.startsWith('plan '))
    return { stopping: 'no plan is written', after: 'nothing was changed and no plan written: plan again' };
  if (command === 'versions')
    return {
      stopping: 'the listing stops here',
      after: 'the listing is incomplete: run it again for every version',
    };
  if (command === 'cleanup')
    return {
      stopping: 'the uploads aborted so far stay aborted',
      after: 'the next cleanup lists the uploads left and aborts those',
    };
  if (command === 'sync s3')
    return {
      stopping: 'S3 to S3 keeps no manifest: the objects copied so far stay',
      after: 'the next run lists both prefixes again and copies only what is still missing or different',
    };
  return { stopping: 'the manifest is saved', after: 'the next run continues where this one stopped' };
}

/** The cancel wording of a run still waiting for another run's lock (waitLock): it has nothing to save. */
export const LOCK_WAIT_WORDS: CancelWords = Object.freeze({
  stopping: 'it was waiting for the lock: nothing was changed',
  after: 'nothing was changed: it was still waiting for the lock',
});

/** Every outcome a library result can have. */
export type Outcome = SyncOutcome | CheckResult['outcome'] | CleanupResult['outcome'];

/**
 * The exit codes, here only: the library says what kind of thing happened. 2 a usage or configuration
 * error (nothing could be done as asked); 1 a failure (files failed, check found a difference, the run
 * could not go on); 130 / 143 / 129 / 141 the shell's for a process ended by SIGINT / SIGTERM / SIGHUP /
 * SIGPIPE (128 + the number).
 */
const OUTCOME_EXIT: Readonly<Record<Outcome, number>> = Object.freeze({
  ok: 0,
  differ: 1,
  // Not proven identical.
  unverified: 1,
  failed: 1,
  fatal: 1,
  usage: 2,
  // Cancelled for a reason that is not one of the CLI's signals.
  cancelled: 1,
});
const KIND_EXIT: Readonly<Record<ErrorKind, number>> = Object.freeze({ usage: 2, fatal: 1, file: 1 });
const SIGNAL_EXIT: Readonly<Record<CancelledError['signal'], number>> = Object.freeze({
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
  SIGPIPE: 141,
});

/** The exit code for a signal the CLI was cancelled by. */
export const signalExitCode = (reason: CancelledError) => SIGNAL_EXIT[reason.signal];

/** The exit code for an outcome; a cancelled run exits with its signal's code when the CLI cancelled it. */
export function exitCodeOf(outcome: Outcome, cancelReason?: unknown): number {
  if (outcome === 'cancelled' && cancelReason instanceof CancelledError) return signalExitCode(cancelReason);
  return OUTCOME_EXIT[outcome];
}

/** The exit code for an error that ended a command: its kind's, or 1 for one that is not an S3SyncError. */
export const errorExitCode = (err: unknown): number => (err instanceof S3SyncError ? KIND_EXIT[err.kind] : 1);

/** A result as the CLI prints it: with the exit code it exits with, in place of the library's outcome. */
export type Printed<R extends { outcome: Outcome }> = Omit<R, 'outcome'> & { exitCode: number };

/** Same fields, same order: the exit code ends the object, as the outcome (every result's last field) did. */
export function printed<R extends { outcome: Outcome }>(r: R, cancelReason?: unknown): Printed<R> {
  const { outcome, ...rest } = r;
  return { ...rest, exitCode: exitCodeOf(outcome, cancelReason) };
}

type Summary = Extract<CheckEvent, { type: 'summary' }>;
type CheckSummary = Extract<CheckEvent, { type: 'check-summary' }>;

/** An event as the CLI shows it: a summary says the exit code; the others are the library's. */
export type CliEvent = Exclude<CheckEvent, Summary | CheckSummary> | Printed<Summary> | Printed<CheckSummary>;

export function cliEvent(e: CheckEvent, cancelReason?: unknown): CliEvent {
  if (e.type === 'summary') return printed(e, cancelReason);
  if (e.type === 'check-summary') return printed(e, cancelReason);
  return e;
}
