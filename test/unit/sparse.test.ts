import { describe, expect, it } from 'vitest';
import { allZero, dataSpans, sparseBlock, zeroSpans } from '../../src/sync/sparse.js';

/** A buffer of `length` zeros with 0xff at each of `at`. */
function bytes(length: number, ...at: number[]): Buffer {
  const b = Buffer.alloc(length);
  for (const i of at) b[i] = 0xff;
  return b;
}

const B = { block: 8 };

describe('dataSpans', () => {
  it.each<[string, Buffer, number, [number, number][]]>([
    ['no zero block: one span of all of it', Buffer.alloc(32, 1), 0, [[0, 32]]],
    ['all zeros: nothing written', bytes(32), 0, []],
    ['empty: nothing written', bytes(0), 0, []],
    [
      'leading, middle and trailing zero blocks skipped',
      bytes(48, 9, 30),
      0,
      [
        [8, 16],
        [24, 32],
      ],
    ],
    ['adjacent blocks with data: one write', bytes(32, 7, 8), 0, [[0, 16]]],
    // At file offset 5 the grid cuts the buffer at 3, 11, 19, ...: blocks line up with the file's.
    [
      'a chunk off the grid: cut where the file blocks are',
      bytes(27, 0, 12),
      5,
      [
        [0, 3],
        [11, 19],
      ],
    ],
    ['off the grid, a zero head and tail skipped', bytes(27, 12), 5, [[11, 19]]],
    ['off the grid, the last partial block with data', bytes(27, 26), 5, [[19, 27]]],
    ['shorter than a block, with data: written whole', bytes(5, 2), 1, [[0, 5]]],
    ['shorter than a block, all zeros: skipped', bytes(5), 1, []],
    ['straddling one block boundary, a byte each side', bytes(4, 1, 2), 6, [[0, 4]]],
  ])('%s', (_why, buf, pos, spans) => {
    expect(dataSpans(buf, pos, B)).toEqual(spans);
  });

  it('without --sparse, all of it in one span, zeros too', () => {
    expect(dataSpans(bytes(32), 0, undefined)).toEqual([[0, 32]]);
    expect(dataSpans(bytes(0), 0, undefined)).toEqual([]);
  });

  it('the spans written and those skipped together give back the buffer', () => {
    // Random data with zero runs, in random chunks at random offsets on a real block size.
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const file = Buffer.alloc(256 * 1024);
    for (let at = 0; at < file.length; at += 1 + rnd(20000)) {
      const len = rnd(9000);
      for (let i = at; i < Math.min(file.length, at + len); i++) file[i] = 1 + rnd(255);
    }
    const out = Buffer.alloc(file.length);
    for (let pos = 0; pos < file.length; ) {
      const chunk = file.subarray(pos, Math.min(file.length, pos + 1 + rnd(40000)));
      const spans = dataSpans(chunk, pos, { block: 4096 });
      for (const [s, e] of spans) chunk.copy(out, pos + s, s, e);
      for (const [s, e] of zeroSpans(chunk.length, spans)) expect(allZero(chunk, s, e)).toBe(true);
      pos += chunk.length;
    }
    expect(out.equals(file)).toBe(true);
  });
});

describe('zeroSpans', () => {
  it.each<[string, number, [number, number][], [number, number][]]>([
    ['nothing written: all of it', 10, [], [[0, 10]]],
    ['all written: none', 10, [[0, 10]], []],
    [
      'gaps before, between and after',
      20,
      [
        [2, 5],
        [8, 12],
      ],
      [
        [0, 2],
        [5, 8],
        [12, 20],
      ],
    ],
  ])('%s', (_why, length, data, gaps) => {
    expect(zeroSpans(length, data)).toEqual(gaps);
  });
});

describe('sparseBlock', () => {
  it.each([
    ['the common block', 4096, 4096],
    ['a larger power of two', 65536, 65536],
    ['a sector-sized one: raised to the page size', 512, 4096],
    ['none reported', 0, 4096],
    ['not a power of two', 6000, 4096],
    ['huge: capped', 64 * 1024 * 1024, 1024 * 1024],
  ])('%s', (_why, blksize, block) => {
    expect(sparseBlock(blksize)).toBe(block);
  });
});

describe('allZero', () => {
  it('looks at the range given only, beyond the zero buffer too', () => {
    const b = bytes(3 * 1024 * 1024, 10, 3 * 1024 * 1024 - 1);
    expect(allZero(b)).toBe(false);
    expect(allZero(b, 11, b.length - 1)).toBe(true);
    expect(allZero(b, 11)).toBe(false);
    expect(allZero(b, 0, 0)).toBe(true);
  });
});
