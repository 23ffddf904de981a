import { describe, expect, it } from 'vitest';
import { answerBounds, narrowed, offsetWithin, ServerClock, serverDate } from '../../src/s3/server-clock.js';

describe('server clock estimate', () => {
  it('one answer bounds the offset by its whole-second Date and the round trip', () => {
    // Sent at 10.200 s, answered at 10.500 s local; the server stamped 70 s (a clock 60 s ahead).
    expect(answerBounds(70_000, 10_200, 10_500)).toEqual({ min: 59_500, max: 60_800 });
  });

  it('answers narrow the bounds to their intersection', () => {
    const a = answerBounds(70_000, 10_200, 10_500); // [59.5 s, 60.8 s]
    const b = answerBounds(71_000, 10_900, 11_100); // [59.9 s, 61.1 s]
    expect(narrowed(a, b)).toEqual({ min: 59_900, max: 60_800 });
    expect(narrowed(undefined, b)).toEqual(b);
  });

  it('bounds that do not meet (a clock stepped) start again from the latest answer', () => {
    const before = { min: 59_900, max: 60_800 };
    const stepped = answerBounds(11_000, 10_900, 11_100); // [-100 ms, 1.1 s]
    expect(narrowed(before, stepped)).toEqual(stepped);
  });

  it('applies 0 while 0 is within the bounds, else the bound nearest it', () => {
    expect(offsetWithin(undefined)).toBe(0);
    expect(offsetWithin({ min: -400, max: 700 })).toBe(0);
    expect(offsetWithin({ min: 0, max: 700 })).toBe(0);
    expect(offsetWithin({ min: -700, max: 0 })).toBe(0);
    expect(offsetWithin({ min: 89_600, max: 90_300 })).toBe(89_600);
    expect(offsetWithin({ min: -120_500, max: -119_800 })).toBe(-119_800);
    // A skew of a few hundred ms is corrected too, once the bounds exclude 0.
    expect(offsetWithin({ min: 150, max: 900 })).toBe(150);
  });

  it('a clock that is right gets exactly 0, however the Date header rounds', () => {
    const clock = new ServerClock();
    // The server stamps the local time, floored to the second, between sending and answering.
    const answers: [number, number][] = [
      [1_000_950, 30],
      [1_001_020, 5],
      [1_001_990, 40],
      [1_002_400, 700],
    ];
    for (const [sent, rtt] of answers) {
      const stamped = sent + rtt / 2;
      clock.answered(Math.floor(stamped / 1000) * 1000, sent, sent + rtt);
      expect(clock.offset()).toBe(0);
    }
    const b = clock.bounds!;
    expect(b.min).toBeLessThanOrEqual(0);
    expect(b.max).toBeGreaterThanOrEqual(0);
  });

  it('a skewed clock is corrected to within the bounds, which its answers narrow', () => {
    const clock = new ServerClock();
    const skew = 90_437;
    for (const sent of [5_000_100, 5_000_700, 5_001_300, 5_001_550]) {
      const stamped = sent + 10 + skew;
      clock.answered(Math.floor(stamped / 1000) * 1000, sent, sent + 20);
    }
    const b = clock.bounds!;
    expect(b.min).toBeLessThanOrEqual(skew);
    expect(b.max).toBeGreaterThanOrEqual(skew);
    expect(b.max - b.min).toBeLessThan(1000);
    expect(Math.abs(clock.offset() - skew)).toBeLessThan(1000);
    // No Date: nothing learned.
    clock.answered(undefined, 0, 10_000_000);
    expect(clock.bounds).toEqual(b);
  });

  it('reads the Date header, none from a cache (Age)', () => {
    expect(serverDate({ date: 'Mon, 07 Dec 2026 14:35:17 GMT' })).toBe(Date.UTC(2026, 11, 7, 14, 35, 17));
    expect(serverDate({ date: 'Mon, 07 Dec 2026 14:35:17 GMT', age: '3' })).toBeUndefined();
    expect(serverDate({ date: 'soon' })).toBeUndefined();
    expect(serverDate({})).toBeUndefined();
    expect(serverDate(undefined)).toBeUndefined();
  });
});
