import { describe, expect, it } from 'vitest';
import { tempRemoved } from '../../src/sync/pull.js';

const errno = (code: string, p?: string) =>
  Object.assign(new Error(`${code}: no such file or directory, lutime '${p}'`), { code, path: p });

describe('tempRemoved', () => {
  it.each([
    ['a beside temp file gone', errno('ENOENT', '/t/sub/.eea87a761a34afce-0.s3sync.part'), true],
    ['another ENOENT', errno('ENOENT', '/t/sub/big.bin'), false],
    ['a beside temp file, another code', errno('EACCES', '/t/sub/.eea87a761a34afce-0.s3sync.part'), false],
    ['no path', errno('ENOENT'), false],
    ['not an error', 'x', false],
  ])('%s', (_why, err, said) => {
    const m = tempRemoved(err);
    if (!said) return expect(m).toBeUndefined();
    expect(m).toBe(
      'not written: its temp file .eea87a761a34afce-0.s3sync.part was removed while it was written (by another program, or another pull into this tree): pull again',
    );
    expect(m).not.toContain('\n');
  });
});
