import { describe, expect, it } from 'vitest';
import { isRetryable } from '../../src/s3/errors.js';
import { RangeIgnored, rangeIgnored, rangeMismatch } from '../../src/s3/range-answer.js';

describe('rangeMismatch', () => {
  const range = { start: 4194304, end: 8388607 };

  it('accepts a 206 with exactly the range asked for, total known or not', () => {
    expect(rangeMismatch(range, 206, 'bytes 4194304-8388607/41943040')).toBeUndefined();
    expect(rangeMismatch(range, 206, 'bytes 4194304-8388607/*')).toBeUndefined();
  });

  it('refuses a 200 (Range ignored), whatever its headers', () => {
    expect(rangeMismatch(range, 200, undefined)).toMatch(/ignores byte ranges.*HTTP 200, not 206/);
    expect(rangeMismatch(range, 200, 'bytes 4194304-8388607/41943040')).toMatch(/HTTP 200/);
  });

  it('refuses a 206 for another range, or with no Content-Range', () => {
    expect(rangeMismatch(range, 206, 'bytes 0-41943039/41943040')).toMatch(/Content-Range bytes 0-/);
    expect(rangeMismatch(range, 206, 'bytes 4194304-4194305/41943040')).toBeDefined();
    expect(rangeMismatch(range, 206, undefined)).toMatch(/Content-Range \(none\)/);
  });

  it('is not retried, and is found behind the error the transport reports', () => {
    const err = new RangeIgnored('x', 200);
    expect(isRetryable(err)).toBe(false);
    expect(rangeIgnored(new Error('wrapped', { cause: err }))).toBe(err);
    expect(rangeIgnored(new Error('other'))).toBeUndefined();
  });
});
