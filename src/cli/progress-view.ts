import type { SyncEvent } from '../sync/events.js';
import { EtaDisplay, RateEstimator } from './eta.js';

export const fmtBytes = (n: number) => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
};

type Hashing = Extract<SyncEvent, { type: 'hashing' }>;

const BAR_MIN = 10;
const BAR_MAX = 30;

/**
 * What the progress bar shows, from the run's events: the transfers once they are planned (files, bytes
 * done of the plan's, bytes resumed, the rate of what is actually sent, time left), and local hashing
 * while it goes on: on its own until the first byte moves (a rebuild, a large file hashed before it is
 * sent), then beside the transfers. Rates and times left
 * come from RateEstimator, sampled at each render. Pure but for that: `now` is given.
 */
export class ProgressView {
  private planned?: { files: number; bytes: number };
  private files = 0;
  /** Bytes done: sent, received, or found already there (resumed). */
  private done = 0;
  /** Bytes this run actually moved: the rate is theirs. */
  private moved = 0;
  private resumed = 0;
  private hashing?: Hashing;
  private readonly moveRate = new RateEstimator();
  private readonly hashRate = new RateEstimator();
  private readonly moveEta = new EtaDisplay();
  private readonly hashEta = new EtaDisplay();

  plan(e: Extract<SyncEvent, { type: 'plan' }>, now: number): void {
    this.planned = { files: e.transfers, bytes: e.bytes };
    this.moveRate.sample(now, this.moved);
  }

  bytes(e: Extract<SyncEvent, { type: 'bytes' }>): void {
    this.done += e.bytes;
    if (e.resumed) this.resumed += e.bytes;
    else this.moved += e.bytes;
  }

  hashed(e: Hashing, now: number): void {
    if (!this.hashing) this.hashRate.sample(now, 0);
    this.hashing = e;
  }

  fileDone(): void {
    this.files++;
  }

  /** Whether there is anything to show: transfers planned, or hashing under way. */
  get active(): boolean {
    return (this.planned?.files ?? 0) > 0 || this.hashing !== undefined;
  }

  /**
   * The line for a terminal `width` columns wide, never wider: the bar, then the figures; the figures
   * alone (cut to the width) where the bar would not fit beside them.
   */
  render(now: number, width: number): string {
    const h = this.hashing;
    const hashingNow = h !== undefined && h.bytes < h.totalBytes;
    if (h) this.hashRate.sample(now, h.bytes, !hashingNow);
    const p = this.planned;
    let fraction: number;
    let fields: string[];
    if (p && p.files > 0) this.moveRate.sample(now, this.moved);
    // Hashing is what goes on until the first byte moves (a large file is hashed before it is sent).
    if (p && p.files > 0 && !(hashingNow && this.done === 0)) {
      fraction = p.bytes > 0 ? this.done / p.bytes : this.files / p.files;
      const resumed = this.resumed > 0 ? `, ${fmtBytes(this.resumed)} resumed` : '';
      fields = [
        `${this.files}/${p.files} files`,
        `${fmtBytes(this.done)} of ${fmtBytes(p.bytes)}${resumed}`,
        this.rate(this.moveRate, now),
        `${this.moveEta.text(this.moveRate.etaSeconds(now, p.bytes - this.done))} left`,
      ];
      if (hashingNow) fields.push(`hashing ${percent(h.bytes / h.totalBytes)}`);
    } else if (h) {
      fraction = h.totalBytes > 0 ? h.bytes / h.totalBytes : 1;
      fields = [
        `hashing ${h.files}/${h.totalFiles} files`,
        `${fmtBytes(h.bytes)} of ${fmtBytes(h.totalBytes)}`,
        this.rate(this.hashRate, now),
        `${this.hashEta.text(this.hashRate.etaSeconds(now, h.totalBytes - h.bytes))} left`,
      ];
    } else {
      return '';
    }
    const text = `${percent(fraction).padStart(4)} | ${fields.join(' | ')}`;
    const room = width - text.length - 3;
    if (room >= BAR_MIN) return ` ${bar(fraction, room)} ${text}`;
    // Too narrow for both: the figures matter more than the bar, and a line wider than the terminal
    // wraps over several rows once the bar has stopped (autowrap is back on).
    return ` ${text}`.slice(0, Math.max(0, width));
  }

  private rate(r: RateEstimator, now: number): string {
    const perSecond = r.perSecond(now);
    return perSecond === undefined ? '-- /s' : `${fmtBytes(perSecond)}/s`;
  }
}

const clamp01 = (f: number) => (Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : 0);

const percent = (f: number) => `${Math.floor(clamp01(f) * 100)}%`;

function bar(fraction: number, room: number): string {
  const width = Math.min(BAR_MAX, Math.max(BAR_MIN, room));
  const full = Math.round(clamp01(fraction) * width);
  return '\u2588'.repeat(full) + '\u2591'.repeat(width - full);
}
