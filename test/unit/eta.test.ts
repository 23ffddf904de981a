import { describe, expect, it } from 'vitest';
import { EtaDisplay, formatEta, RateEstimator } from '../../src/cli/eta.js';

const MB = 1_000_000;

/** Drives an estimator: `rate(t)` bytes/s from t (seconds), sampled every `step` ms as a renderer would. */
function simulate(opts: {
  seconds: number;
  rate: (t: number) => number;
  total?: number;
  step?: number;
  /** Bytes arrive in lumps of this size (a part, a small file), not as a smooth stream. */
  lump?: number;
}) {
  const step = opts.step ?? 100;
  const r = new RateEstimator();
  const d = new EtaDisplay();
  let arrived = 0;
  let counted = 0;
  const out: { t: number; rate?: number; eta?: number; text: string; done: number }[] = [];
  for (let ms = 0; ms <= opts.seconds * 1000; ms += step) {
    arrived += (opts.rate(ms / 1000) * step) / 1000;
    counted = opts.lump ? Math.floor(arrived / opts.lump) * opts.lump : arrived;
    r.sample(ms, counted);
    const remaining = (opts.total ?? Number.POSITIVE_INFINITY) - counted;
    const eta = r.etaSeconds(ms, remaining);
    out.push({ t: ms / 1000, rate: r.perSecond(ms), eta, text: d.text(eta), done: counted });
  }
  return out;
}

describe('RateEstimator', () => {
  it('shows nothing until it has seen enough, then the steady rate', () => {
    const s = simulate({ seconds: 30, rate: () => 10 * MB, total: 1000 * MB });
    expect(s.filter((x) => x.t < 2).every((x) => x.rate === undefined && x.text === '--')).toBe(true);
    for (const x of s.filter((x) => x.t >= 4)) {
      expect(x.rate! / (10 * MB)).toBeCloseTo(1, 2);
      // (total - done) / rate, within a second.
      expect(Math.abs(x.eta! - (1000 * MB - x.done) / (10 * MB))).toBeLessThan(1);
    }
  });

  it.each([
    ['a smooth stream', undefined],
    ['16 MB lumps (parts completing)', 16 * MB],
    ['8 MB lumps at 2 MB/s (one every 4 s)', 8 * MB],
  ])('with bytes arriving as %s, the time left only goes down at a steady rate', (_n, lump) => {
    const rate = lump === 8 * MB ? 2 * MB : 20 * MB;
    const total = rate * 120;
    const s = simulate({ seconds: 100, rate: () => rate, total, lump });
    const shown = s.filter((x) => x.t >= 20 && x.eta !== undefined);
    expect(shown.length).toBeGreaterThan(500);
    // A countdown: down by the 0.1 s between samples, give or take a little, also across a lump.
    for (let i = 1; i < shown.length; i++) {
      const d = shown[i]!.eta! - shown[i - 1]!.eta!;
      expect(d).toBeLessThan(0.2);
      expect(d).toBeGreaterThan(-0.4);
    }
    // And it is right: within 10% of the truth.
    for (const x of shown) expect(Math.abs(x.eta! - (total - x.done) / rate)).toBeLessThan(0.1 * x.eta! + 2);
  });

  it('a short burst moves the estimate a little, not to the burst rate', () => {
    const base = 10 * MB;
    const s = simulate({
      seconds: 60,
      rate: (t) => (t >= 30 && t < 31 ? 10 * base : base),
      total: 2000 * MB,
    });
    const before = s.find((x) => x.t === 29.9)!;
    const peak = Math.max(...s.filter((x) => x.t >= 30 && x.t < 40).map((x) => x.rate!));
    expect(peak / base).toBeLessThan(1.8);
    expect(peak / base).toBeGreaterThan(1.2);
    // Fading over the window: back within 10% of the base rate 30 s later.
    expect(s.at(-1)!.rate! / base).toBeLessThan(1.1);
    expect(before.eta).toBeDefined();
  });

  it('a lasting change of rate is followed within the window', () => {
    const s = simulate({ seconds: 90, rate: (t) => (t < 30 ? 10 * MB : 2 * MB), total: 10_000 * MB });
    expect(s.find((x) => x.t === 29.9)!.rate! / (10 * MB)).toBeCloseTo(1, 2);
    expect(s.find((x) => x.t === 75)!.rate! / (2 * MB)).toBeCloseTo(1, 0);
    expect(s.at(-1)!.rate! / (2 * MB)).toBeLessThan(1.1);
  });

  it('a stall: the time left grows, then shows -- rather than a number', () => {
    const s = simulate({ seconds: 80, rate: (t) => (t < 20 ? 10 * MB : 0), total: 1000 * MB });
    const at = (t: number) => s.find((x) => Math.abs(x.t - t) < 1e-9)!;
    expect(at(19.9).eta).toBeDefined();
    expect(at(30).eta!).toBeGreaterThan(at(19.9).eta!);
    expect(at(45).eta!).toBeGreaterThan(at(30).eta!);
    // 30 s without a byte: no estimate.
    expect(at(50.1).text).toBe('--');
    expect(at(80).text).toBe('--');
    expect(s.every((x) => x.eta === undefined || (Number.isFinite(x.eta) && x.eta >= 0))).toBe(true);
  });

  it('comes back after a stall once bytes move again', () => {
    const s = simulate({
      seconds: 120,
      rate: (t) => (t < 20 || t >= 60 ? 10 * MB : 0),
      total: 100_000 * MB,
    });
    expect(s.find((x) => x.t === 59.9)!.text).toBe('--');
    expect(s.find((x) => x.t === 61)!.eta).toBeDefined();
  });

  it('time while idle (nothing queued) does not pull the rate down', () => {
    const r = new RateEstimator();
    let v = 0;
    for (let ms = 0; ms <= 10_000; ms += 100) {
      v += MB / 10;
      r.sample(ms, v);
    }
    const before = r.perSecond(10_000)!;
    for (let ms = 10_100; ms <= 40_000; ms += 100) r.sample(ms, v, true);
    expect(r.perSecond(40_000)).toBeCloseTo(before, 6);
    expect(r.etaSeconds(40_000, 10 * MB)).toBeCloseTo(10, 1);
  });

  it('is done at 0 s left, whatever the rate', () => {
    const r = new RateEstimator();
    expect(r.etaSeconds(0, 0)).toBe(0);
    r.sample(0, 0);
    expect(r.etaSeconds(1000, 0)).toBe(0);
    expect(r.etaSeconds(1000, 1)).toBeUndefined();
  });
});

describe('formatEta and EtaDisplay', () => {
  it.each([
    [0, '0s'],
    [0.3, '1s'],
    [42.4, '42s'],
    [89, '89s'],
    [90, '1m 30s'],
    [200, '3m 20s'],
    [5399, '89m 59s'],
    [5400, '1h 30m'],
    [7500, '2h 05m'],
    [360_000, '100h 00m'],
  ])('%d s is %s from scratch', (s, text) => {
    expect(formatEta(s).text).toBe(text);
  });

  it('does not flap between units for an estimate wavering around a boundary', () => {
    const d = new EtaDisplay();
    const texts = [95, 58.6, 61, 59.4, 62, 57, 60.2].map((s) => d.text(s));
    // Minutes from 95 s until it is clearly below a minute.
    expect(texts).toEqual(['1m 35s', '59s', '61s', '59s', '62s', '57s', '60s']);
    const m = new EtaDisplay();
    expect([100, 85, 70, 61, 59].map((s) => m.text(s))).toEqual([
      '1m 40s',
      '1m 25s',
      '1m 10s',
      '1m 01s',
      '59s',
    ]);
    const h = new EtaDisplay();
    expect([5500, 5300, 3700, 3500].map((s) => h.text(s))).toEqual(['1h 32m', '1h 28m', '1h 02m', '58m 20s']);
  });

  it('shows -- while there is no estimate, and keeps its unit across it', () => {
    const d = new EtaDisplay();
    expect(d.text(undefined)).toBe('--');
    expect(d.text(120)).toBe('2m 00s');
    expect(d.text(undefined)).toBe('--');
    expect(d.text(75)).toBe('1m 15s');
  });
});
