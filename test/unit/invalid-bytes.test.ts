import { describe, expect, it } from 'vitest';
import { invalidBytes } from '../../src/local/scan.js';

const b = (...bytes: number[]) => Buffer.from(bytes);

describe('invalidBytes', () => {
  it('names each byte that is not UTF-8 by its offset, and skips whole valid characters', () => {
    // "é" (2 bytes), "€" (3), "😀" (4) are valid and counted in the offsets.
    expect(invalidBytes(Buffer.concat([Buffer.from('é€😀'), b(0xff)]))).toBe('0xFF at 9');
    expect(invalidBytes(b(0x66, 0xff, 0x67, 0xfe))).toBe('0xFF at 1, 0xFE at 3');
  });

  it('overlong forms, surrogates and a sequence cut short are not UTF-8', () => {
    expect(invalidBytes(b(0xc0, 0xaf))).toBe('0xC0 at 0, 0xAF at 1');
    expect(invalidBytes(b(0xed, 0xa0, 0x80))).toBe('0xED at 0, 0xA0 at 1, 0x80 at 2');
    expect(invalidBytes(b(0x61, 0xe2, 0x82))).toBe('0xE2 at 1, 0x82 at 2');
  });

  it('says the first four of many', () => {
    expect(invalidBytes(b(0x80, 0x81, 0x82, 0x83, 0x84, 0x85))).toBe(
      '0x80 at 0, 0x81 at 1, 0x82 at 2, 0x83 at 3, …',
    );
  });

  it('finds nothing to say of a valid name', () => {
    expect(invalidBytes(Buffer.from('plain.txt'))).toBe('');
  });
});
