/**
 * What kind of failure an error is, which decides what the run does next. The library never picks an
 * exit code: the CLI maps kinds to them (src/cli/exit-codes.ts).
 * - `usage`: the invocation or its setup is wrong: a flag, an option, a config or plan file, a path,
 *   or what the server says of the setup (the credentials, the bucket, the endpoint); or a guard the
 *   options set refuses the run (--max-delete, the lock). Every request would fail or be refused the
 *   same way: the run stops.
 * - `fatal`: the setup is right, but the run cannot go on (the disk is full): it stops.
 * - `file`: one file or object failed (or, thrown out of a run, something it could not finish, such
 *   as writing the manifest): the run counts it failed and goes on with the others.
 */
export type ErrorKind = 'usage' | 'fatal' | 'file';

/**
 * Errors the user can act on. The CLI prints `message` on one line; anything that is not an
 * S3SyncError is a bug or an unexpected fault and is reported the same way (stack only with --debug).
 */
export class S3SyncError extends Error {
  constructor(
    message: string,
    readonly kind: ErrorKind = 'usage',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'S3SyncError';
  }

  /**
   * Refused before the call's run began (its arguments, options or paths; nothing read nor sent): the
   * CLI says it as it says a bad flag, without the summary of a run that never started.
   */
  beforeRun?: true;
}

/** Marks an error as thrown before its run began (see S3SyncError.beforeRun); returns it. */
export function beforeRun(err: unknown): unknown {
  if (err instanceof S3SyncError) err.beforeRun = true;
  return err;
}

/** Runs a call's checks of its arguments; what they throw is marked as refused before the run. */
export function checkedBeforeRun<T>(checks: () => T): T {
  try {
    return checks();
  } catch (err) {
    throw beforeRun(err);
  }
}

/** Usage or configuration problem: the run stops before it does anything more. */
export const usageError = (message: string, cause?: unknown) => new S3SyncError(message, 'usage', { cause });

/** The run cannot go on, though its setup is right. */
export const fatalError = (message: string, cause?: unknown) => new S3SyncError(message, 'fatal', { cause });

/** Something in the run failed after it started: that file fails, the others go on. */
export const runError = (message: string, cause?: unknown) => new S3SyncError(message, 'file', { cause });

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Why a file could not be read, said alike by each read of it: a refusal in words, else its code. */
export const unreadableWhy = (code: string | undefined, err: unknown): string =>
  code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? errorMessage(err));
