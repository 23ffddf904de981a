import { statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mtimeOf } from '../../src/sync/meta-mtime.js';
import { tempDir } from '../helpers/files.js';

/** The time a file gets from mtimeOf(meta), in nanoseconds, as utimes sets it. */
function landed(meta: string): bigint {
  const f = path.join(tempDir('meta-mtime'), 'f');
  writeFileSync(f, '');
  const t = mtimeOf(meta, 0);
  utimesSync(f, t, t);
  return statSync(f, { bigint: true }).mtimeNs;
}

describe('x-amz-meta-mtime to a file time', () => {
  it.each([
    ['the last nanosecond of a second stays in it', '1772953199.999999999', 1772953199_999999000n],
    ['the last microsecond of a second', '1772953199.999999', 1772953199_999999000n],
    ['nanoseconds are cut, not rounded', '1700000000.000000999', 1700000000_000000000n],
    ['a microsecond a double holds just below', '1700000000.000001', 1700000000_000001000n],
    ['the last nanosecond of a later second', '4102444799.999999999', 4102444799_999999000n],
    ['whole seconds', '1700000000', 1700000000_000000000n],
    ['the epoch', '0.000000000', 0n],
  ])('%s', (_, meta, ns) => {
    expect(landed(meta)).toBe(ns);
  });

  it('lands every microsecond of a second on itself', () => {
    const f = path.join(tempDir('meta-mtime'), 'f');
    writeFileSync(f, '');
    const wrong: string[] = [];
    for (let us = 0; us < 1_000_000; us += 997) {
      const meta = `1772953199.${String(us).padStart(6, '0')}123`;
      const t = mtimeOf(meta, 0);
      utimesSync(f, t, t);
      if (statSync(f, { bigint: true }).mtimeNs !== 1772953199_000000000n + BigInt(us) * 1000n)
        wrong.push(meta);
    }
    expect(wrong).toEqual([]);
  });

  it('floors a time before 1970 to the millisecond a Date holds', () => {
    expect(mtimeOf('-1.5', 0)).toEqual(new Date(-1500));
    expect(mtimeOf('-0.000000001', 0)).toEqual(new Date(-1));
    expect(mtimeOf('-1.0009999', 0)).toEqual(new Date(-1001));
    expect(landed('-0')).toBe(0n);
  });

  it.each(['1e9', '0x10', '1.', 'abc', '', '253402300800', '-2147483648.000001'])(
    'falls back to LastModified for %j',
    (meta) => {
      expect(mtimeOf(meta, 1_700_000_000_250)).toBe(1_700_000_000.25);
    },
  );

  it('takes the last second of 9999 and the first of 32-bit time', () => {
    expect(mtimeOf('253402300799.999999999', 0)).toBeLessThan(253402300800);
    expect(mtimeOf('-2147483648', 0)).toEqual(new Date(-2147483648000));
  });
});
