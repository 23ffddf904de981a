import { expect } from 'vitest';
import { S3SyncError } from '../../src/errors.js';

/** The usage error `fn` throws, checked to be one line: the form every bad input must take. */
export function usageErrorOf(fn: () => unknown): S3SyncError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(S3SyncError);
  const e = err as S3SyncError;
  expect(e.kind).toBe('usage');
  expect(e.message).not.toContain('\n');
  return e;
}
