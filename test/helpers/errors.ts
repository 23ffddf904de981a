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

/** A CLI run refused as bad usage: exit 2, one line on stderr matching `why`, no stack trace. */
export function refusedWithOneLine(r: { code: number; stderr: string }, why: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(why);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
