/** The window of the rate estimate: recent seconds count most, a burst or a pause fades over this. */
const WINDOW_MS = 15_000;

/**
 * Time not measured at the start: connections open and socket buffers fill at a rate the transfer
 * does not keep.
 */
const WARMUP_MS = 2_000;

/** Time measured before a rate is shown. */
const MEASURED_MIN_MS = 1_000;

/** Nothing moved for this long: a stalled transfer has no time left to show. */
const STALL_MS = 30_000;

/** Beyond this a time left says nothing useful. */
const MAX_ETA_S = 100 * 3600;

/**
 * The rate of a counter that only grows, as an exponentially weighted average over a window of time
 * (WINDOW_MS): every byte counts, recent ones most. Bytes often arrive in lumps (a small file's PUT, a
 * coalesced write), so each increase is spread over the time since the previous one, and a silence
 * counts against the rate only once it lasts longer than the gaps between increases usually do. The
 * weight is normalised by the time measured, so the first seconds are the plain average, not an
 * underestimate. The first WARMUP_MS are not measured, nor is time while `idle` (nothing to do, as
 * opposed to nothing done).
 */
export class RateEstimator {
  /** The weighted rate in bytes per ms, and the weight the time measured so far adds up to. */
  private rate = 0;
  private weight = 0;
  private warmedMs = 0;
  private measuredMs = 0;
  /** The usual time between increases (weighted average). */
  private gapMs = 0;
  private last?: { at: number; value: number };
  /** The last increase (or the start), and its value. */
  private moved?: { at: number; value: number };

  constructor(private readonly windowMs = WINDOW_MS) {}

  /** The counter's value at `now` (ms); `idle`: the time since the last sample is not counted. */
  sample(now: number, value: number, idle = false): void {
    const last = this.last;
    const moved = this.moved;
    if (!last || !moved) {
      this.last = this.moved = { at: now, value };
      return;
    }
    const dt = now - last.at;
    if (dt < 0) return;
    this.last = { at: now, value };
    if (value <= moved.value) {
      // Idle: the reference moves on with the clock, so this time is in no span.
      if (idle) this.moved = { at: moved.at + dt, value: moved.value };
      return;
    }
    const span = now - moved.at;
    // Two samples at one instant: the bytes count with the next span.
    if (span <= 0) return;
    this.moved = { at: now, value };
    if (this.warmedMs < WARMUP_MS) {
      this.warmedMs += span;
      return;
    }
    const keep = Math.exp(-span / this.windowMs);
    this.rate = this.rate * keep + ((value - moved.value) / span) * (1 - keep);
    this.weight = this.weight * keep + (1 - keep);
    this.measuredMs += span;
    this.gapMs = this.gapMs === 0 ? span : this.gapMs * 0.8 + span * 0.2;
  }

  /** Bytes per second at `now`, once MEASURED_MIN_MS have been measured after WARMUP_MS. */
  perSecond(now: number): number | undefined {
    if (this.measuredMs < MEASURED_MIN_MS || this.weight === 0) return undefined;
    // A silence longer than the usual gaps (and a second) counts as time at no rate.
    const over = this.silentMs(now) - (2 * this.gapMs + 1000);
    if (over <= 0) return (this.rate / this.weight) * 1000;
    const keep = Math.exp(-over / this.windowMs);
    return ((this.rate * keep) / (this.weight * keep + (1 - keep))) * 1000;
  }

  /**
   * Seconds until `remaining` more is done at the estimated rate: undefined before the estimate means
   * anything, while nothing has moved for STALL_MS, or when it would be beyond MAX_ETA_S. Between lumps
   * it counts down: up to a usual gap's worth of bytes is taken to be on its way.
   */
  etaSeconds(now: number, remaining: number): number | undefined {
    if (remaining <= 0) return 0;
    const rate = this.perSecond(now);
    const silent = this.silentMs(now);
    if (rate === undefined || rate <= 0 || silent >= STALL_MS) return undefined;
    const coming = (rate * Math.min(silent, this.gapMs)) / 1000;
    const eta = Math.max(0, remaining - coming) / rate;
    return eta > MAX_ETA_S ? undefined : eta;
  }

  private silentMs(now: number): number {
    return this.moved ? Math.max(0, now - this.moved.at) : 0;
  }
}

export type EtaUnit = 's' | 'm' | 'h';

/**
 * A time left as `42s`, `3m 20s` or `2h 05m`. The unit changes with hysteresis: up to minutes from 90 s,
 * back to seconds below 60 s (hours: from 90 min, back below 60 min), so an estimate that wavers around
 * a boundary keeps its unit instead of flapping between `59s` and `1m 01s`.
 */
export function formatEta(seconds: number, previous?: EtaUnit): { text: string; unit: EtaUnit } {
  // `0s` only once nothing is left.
  const s = seconds > 0 ? Math.max(1, Math.round(seconds)) : 0;
  let unit: EtaUnit;
  if (previous === 'h') unit = s < 3600 ? (s < 60 ? 's' : 'm') : 'h';
  else if (previous === 'm') unit = s >= 5400 ? 'h' : s < 60 ? 's' : 'm';
  else unit = s >= 5400 ? 'h' : s >= 90 ? 'm' : 's';
  if (unit === 's') return { text: `${s}s`, unit };
  if (unit === 'm') return { text: `${Math.floor(s / 60)}m ${pad(s % 60)}s`, unit };
  const m = Math.round(s / 60);
  return { text: `${Math.floor(m / 60)}h ${pad(m % 60)}m`, unit };
}

const pad = (n: number) => n.toString().padStart(2, '0');

/** A time left as shown: `--` until it means something, and a unit that does not flap (see formatEta). */
export class EtaDisplay {
  private unit?: EtaUnit;

  text(seconds: number | undefined): string {
    if (seconds === undefined) return '--';
    const f = formatEta(seconds, this.unit);
    this.unit = f.unit;
    return f.text;
  }
}
