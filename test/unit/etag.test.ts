import { describe, expect, it } from 'vitest';
import { candidatePartSizes, choosePartSize, etagForm, normalizeEtag } from '../../src/s3/etag.js';
import { PROVIDERS, type ProviderQuirks } from '../../src/s3/providers.js';
import { GiB, MiB } from '../helpers.js';

const TiB = 1024 * GiB;
/** S3's own part limits. */
const S3 = { maxParts: 10_000, minPartSize: 5 * MiB, maxPartSize: 5 * GiB };
const HEX = '0123456789abcdef0123456789abcdef';

describe('etagForm / normalizeEtag', () => {
  it('recognises a plain MD5, quoted or not, any case', () => {
    expect(etagForm(HEX)).toEqual({ kind: 'md5' });
    expect(etagForm(`"${HEX.toUpperCase()}"`)).toEqual({ kind: 'md5' });
    expect(normalizeEtag(`"${HEX.toUpperCase()}"`)).toBe(HEX);
    expect(normalizeEtag(undefined)).toBe('');
  });

  it('recognises the multipart form and its part count', () => {
    expect(etagForm(`${HEX}-7`)).toEqual({ kind: 'multipart', parts: 7 });
    expect(etagForm(`"${HEX}-10000"`)).toEqual({ kind: 'multipart', parts: 10000 });
  });

  it('normalises every ETag as removing all quotes and lower-casing does', () => {
    const spec = (e: string) => e.replace(/"/g, '').toLowerCase();
    const cores = [HEX, HEX.toUpperCase(), `${HEX}-7`, 'AbC', 'a"b', '"', '""', 'x/y+z=', 'É', 'İ', 'ß-', ''];
    const seen = new Set<string>();
    for (const c of cores) {
      for (const e of [c, `"${c}"`, `"${c}`, `${c}"`, `""${c}""`, ` "${c}" `, `W/"${c}"`]) {
        expect(normalizeEtag(e)).toBe(spec(e));
        seen.add(normalizeEtag(e) === e ? 'same' : 'changed');
      }
    }
    expect(seen).toEqual(new Set(['same', 'changed']));
  });

  it('calls everything else opaque', () => {
    for (const e of ['', 'abc', `${HEX}0`, `${HEX}-`, `${HEX}-x`, 'zz23456789abcdef0123456789abcdef']) {
      expect(etagForm(e)).toEqual({ kind: 'opaque' });
    }
  });
});

describe('candidatePartSizes', () => {
  it('returns only sizes that give exactly that many parts, the recorded one first', () => {
    const size = 100 * MiB;
    const c = candidatePartSizes(size, 7, 16 * MiB);
    expect(c[0]).toBe(16 * MiB);
    expect(c.length).toBeGreaterThan(0);
    expect(c.length).toBeLessThanOrEqual(4);
    for (const ps of c) expect(Math.ceil(size / ps)).toBe(7);
    expect(new Set(c).size).toBe(c.length);
  });

  it('drops a recorded size that does not fit', () => {
    const c = candidatePartSizes(100 * MiB, 7, 8 * MiB);
    expect(c).not.toContain(8 * MiB);
    expect(c).toContain(16 * MiB);
  });

  it('includes the common tool defaults that fit (aws cli 8 MiB, rclone 5 MiB)', () => {
    expect(candidatePartSizes(12 * MiB, 3)).toContain(5 * MiB);
    expect(candidatePartSizes(20 * MiB, 3)).toContain(8 * MiB);
  });

  it('falls back to an even split, rounded to a MiB and to a byte', () => {
    // 3 GiB in 1000 parts: no common size fits (3.07 MiB each), the even split does.
    const size = 3 * GiB;
    const c = candidatePartSizes(size, 1000);
    expect(c.length).toBeGreaterThan(0);
    expect(c).toContain(Math.ceil(size / 1000));
    for (const ps of c) expect(Math.ceil(size / ps)).toBe(1000);
  });

  it('is empty when nothing can produce that part count', () => {
    expect(candidatePartSizes(10, 20)).toEqual([]);
  });
});

describe('choosePartSize', () => {
  it('keeps the requested size when it fits in 10,000 parts', () => {
    expect(choosePartSize(100 * MiB, 16 * MiB)).toBe(16 * MiB);
    expect(choosePartSize(10_000 * 16 * MiB, 16 * MiB)).toBe(16 * MiB);
  });

  it('raises the size (doubling) until the object needs at most 10,000 parts', () => {
    const size = 10_000 * 16 * MiB + 1;
    const ps = choosePartSize(size, 16 * MiB);
    expect(ps).toBe(32 * MiB);
    expect(Math.ceil(size / ps)).toBeLessThanOrEqual(10_000);
    const huge = 5 * 1024 * GiB;
    const p2 = choosePartSize(huge, 16 * MiB);
    expect(Math.ceil(huge / p2)).toBeLessThanOrEqual(10_000);
    expect(Math.ceil(huge / (p2 / 2))).toBeGreaterThan(10_000);
  });

  it('honours the provider max parts and the minimum part size', () => {
    expect(choosePartSize(100 * MiB, 1 * MiB)).toBe(5 * MiB);
    expect(choosePartSize(100 * MiB, 1 * MiB, { ...S3, minPartSize: 8 * MiB })).toBe(8 * MiB);
    const ps = choosePartSize(100 * MiB, 5 * MiB, { ...S3, maxParts: 10 });
    expect(ps).toBe(10 * MiB);
    expect(Math.ceil((100 * MiB) / ps)).toBeLessThanOrEqual(10);
  });

  // Past S3's 5 GiB part limit a part is refused: the chooser stops there rather than doubling on.
  it.each([
    { size: 30 * TiB, requested: 16 * MiB, want: 4 * GiB },
    { size: 45 * TiB, requested: 16 * MiB, want: 5 * GiB },
    { size: 45 * TiB, requested: 3 * GiB, want: 5 * GiB },
    { size: 100 * TiB, requested: 16 * MiB, want: 5 * GiB },
    { size: 100 * MiB, requested: 8 * GiB, want: 5 * GiB },
    { size: 100 * MiB, requested: 64 * MiB, limits: { ...S3, maxPartSize: 32 * MiB }, want: 32 * MiB },
    {
      size: 1 * GiB,
      requested: 16 * MiB,
      limits: { ...S3, maxParts: 10, maxPartSize: 64 * MiB },
      want: 64 * MiB,
    },
  ])(
    'never goes past maxPartSize: $size bytes at $requested → $want',
    ({ size, requested, limits, want }) => {
      expect(choosePartSize(size, requested, limits)).toBe(want);
    },
  );

  // What the chooser did before it read maxPartSize: the same for every provider up to 25 TiB.
  const unbounded = (size: number, requested: number, p: ProviderQuirks) => {
    let ps = Math.max(requested, p.minPartSize);
    while (Math.ceil(size / ps) > p.maxParts) ps *= 2;
    return ps;
  };
  it.each(Object.values(PROVIDERS))('changes no part size of $name up to 25 TiB', (p) => {
    for (const size of [0, 1, 5 * MiB, 100 * MiB, 160 * GiB, 161 * GiB, 1 * TiB, 5 * TiB, 25 * TiB])
      for (const requested of [1 * MiB, 5 * MiB, 16 * MiB, 100 * MiB, 1 * GiB, 5 * GiB])
        expect(choosePartSize(size, requested, p), `${size} at ${requested}`).toBe(
          unbounded(size, requested, p),
        );
  });
});
