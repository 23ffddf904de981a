import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LANE_MAX, LANES, type LaneInput, Md5Lanes, md5LanesModule } from '../../src/local/md5-lanes.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Hashes `inputs` through the lanes, each copied into the buffer `take` gives (as a read would be). */
function viaLanes(lanes: Md5Lanes, inputs: Buffer[]): string[] {
  const out: string[] = new Array(inputs.length);
  let i = 0;
  lanes.hash((take): LaneInput | undefined => {
    if (i >= inputs.length) return undefined;
    const at = i++;
    const src = inputs[at]!;
    const buf = take(src.length + 1) ?? Buffer.allocUnsafe(src.length + 1);
    src.copy(buf);
    return { bytes: buf.subarray(0, src.length), done: (hex) => (out[at] = hex) };
  });
  return out;
}

describe('MD5 in SIMD lanes', () => {
  const lanes = Md5Lanes.create();

  it('emits a module this V8 accepts', () => {
    expect(WebAssembly.validate(md5LanesModule())).toBe(true);
    expect(lanes).toBeDefined();
  });

  it('agrees with OpenSSL at every length around the padding boundaries', () => {
    // 55/56 and 119/120: the length words fit in the last block or need one more.
    const lengths = [0, 1, 3, 54, 55, 56, 57, 63, 64, 65, 111, 119, 120, 121, 127, 128, 129, 1000, 4096];
    const inputs = lengths.map((n) => randomBytes(n));
    expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
  });

  it('agrees with OpenSSL on many inputs of mixed sizes, refilling lanes as they finish', () => {
    const inputs = Array.from({ length: 300 }, (_, i) => randomBytes((i * 7919) % 70_000));
    expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
  });

  it('agrees when one long input outlives every other lane (the tail moved to the first group)', () => {
    for (const longAt of [0, LANES - 1, LANES, 20]) {
      const inputs = Array.from({ length: 24 }, (_, i) => randomBytes(i === longAt ? 900_000 : 100 + i));
      expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
    }
  });

  it('hashes fewer inputs than lanes, one, and none', () => {
    for (const n of [0, 1, 2, 5, LANES - 1]) {
      const inputs = Array.from({ length: n }, (_, i) => randomBytes(1000 * i + 3));
      expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
    }
  });

  it('hashes the largest input a lane holds, and with OpenSSL one it cannot', () => {
    const big = randomBytes(LANE_MAX - 1);
    const bigger = randomBytes(LANE_MAX + 10);
    const inputs = [randomBytes(5), big, bigger, randomBytes(70)];
    expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
  });

  it('hashes bytes that are not in the lane at once, in order with the others', () => {
    const inputs = Array.from({ length: 12 }, (_, i) => randomBytes(500 + i));
    const out: string[] = [];
    let i = 0;
    lanes!.hash((take) => {
      if (i >= inputs.length) return undefined;
      const at = i++;
      // Every third input read elsewhere (a file too large for a lane, say).
      const buf = at % 3 === 0 ? Buffer.from(inputs[at]!) : take(inputs[at]!.length)!;
      inputs[at]!.copy(buf);
      return { bytes: buf, done: (hex) => (out[at] = hex) };
    });
    expect(out).toEqual(inputs.map(md5));
  });

  it('is reusable after a batch, and identical bytes in several lanes give identical digests', () => {
    const same = randomBytes(3000);
    const inputs = Array.from({ length: 10 }, () => same);
    expect(viaLanes(lanes!, inputs)).toEqual(inputs.map(md5));
    expect(viaLanes(lanes!, [randomBytes(10)]).length).toBe(1);
  });
});
