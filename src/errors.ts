/**
 * Errors the user can act on. The CLI prints `message` on one line and exits with `exitCode`;
 * anything that is not an S3SyncError is a bug or an unexpected fault and is reported the same
 * way (stack only with --debug).
 */
export class S3SyncError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'S3SyncError';
  }
}

/** Usage or configuration problem: exit code 2. */
export const usageError = (message: string, cause?: unknown) => new S3SyncError(message, 2, { cause });

/** Something in the run failed after it started: exit code 1. */
export const runError = (message: string, cause?: unknown) => new S3SyncError(message, 1, { cause });

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * The reason the CLI aborts a run with on SIGINT or SIGTERM. Its exit code is the shell's for a process
 * ended by that signal (128 + its number: 130, 143), which the summary of the cancelled run carries too.
 * Named AbortError, as every cancellation is.
 */
export class CancelledError extends Error {
  readonly exitCode: number;
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`cancelled by ${signal}`);
    this.name = 'AbortError';
    this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}

/** The exit code of a run cancelled with this reason: the signal's for CancelledError, else 1. */
export const cancelledExitCode = (reason: unknown): number =>
  reason instanceof CancelledError ? reason.exitCode : 1;
