/** 1901-12-13 (the start of 32-bit time) to 9999-12-31: outside, not a file's time; far outside, EINVAL. */
const EARLIEST_US = -(2n ** 31n) * 1_000_000n;
const LATEST_US = 253_402_300_799n * 1_000_000n;

/** Decimal seconds only, as rclone and s3sync write them: Number() would also read 0x10 or 1e9. */
const DECIMAL_SECONDS = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * `x-amz-meta-mtime` (seconds with a fraction) → the time for utimes; else the object's LastModified.
 * Metadata is anyone's to write: a value no file can have falls back too, so it never fails a pull.
 * Cut to whole microseconds (as finely as Node's utimes sets them), never rounded up: a double of
 * …59.999999999 is the next second. Seconds past 1970; a Date before, which Node's utimes takes as
 * given where it takes a negative number as now.
 */
export function mtimeOf(meta: string | undefined, lastModified: number): number | Date {
  const us = meta === undefined ? undefined : microseconds(meta.trim());
  if (us === undefined || us < EARLIEST_US || us > LATEST_US) {
    const secs = lastModified / 1000;
    return secs < 0 ? new Date(lastModified) : secs;
  }
  // A Date holds milliseconds: floored, so the time stays within its own second.
  if (us < 0n) return new Date(Number(floorDiv(us, 1000n)));
  const sec = us / 1_000_000n;
  // utimes cuts the double's fraction to microseconds: half a microsecond over lands on the one meant
  // however the double rounds, and a double that reaches the next second is stepped back below it.
  const t = Number(sec) + (Number(us % 1_000_000n) + 0.5) / 1e6;
  return t < Number(sec) + 1 ? t : below(Number(sec) + 1);
}

/** The value in whole microseconds, floored; undefined if it is not decimal seconds. */
function microseconds(text: string): bigint | undefined {
  const m = DECIMAL_SECONDS.exec(text);
  if (!m) return undefined;
  const [, sign, whole, frac = ''] = m;
  const abs = BigInt(whole!) * 1_000_000n + BigInt(frac.slice(0, 6).padEnd(6, '0'));
  if (sign === '') return abs;
  // Negative: digits cut past the sixth make the value later, so one microsecond earlier floors it.
  return -abs - (/[1-9]/.test(frac.slice(6)) ? 1n : 0n);
}

const floorDiv = (a: bigint, b: bigint) => (a % b < 0n ? a / b - 1n : a / b);

/** The largest double below a positive x. */
function below(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) - 1n);
  return view.getFloat64(0);
}
