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
