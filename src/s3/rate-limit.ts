/**
 * The run's rate limits (--bwlimit, --tpslimit): token buckets that every request and every body byte
 * of one transport passes through, so the limits hold across all workers together. Each belongs to
 * the transport of one run; nothing here is shared between runs.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseRate } from '../options/parse.js';
import { setting } from '../options/validate.js';
import type { RequestScope } from './request-signals.js';

/** Time as the buckets see it: milliseconds, and a wait that the run's signal cuts short. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = Object.freeze({
  now: () => performance.now(),
  sleep: (ms: number, signal?: AbortSignal) => sleep(ms, undefined, { signal }),
});

/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up while nobody takes them. A taker
 * reserves its tokens at once, the bucket going into debt, and waits until the debt is paid: takers
 * are served in the order they came, and a request larger than the burst is allowed (it waits the
 * longer) rather than refused or split by the bucket.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  /** `empty`: the bucket starts with nothing saved up, so no more than `rate` × the time since passes. */
  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly clock: Clock = realClock,
    empty = false,
  ) {
    this.tokens = empty ? 0 : burst;
    this.at = clock.now();
  }

  /** Resolves when `n` tokens are paid for; a cancelled wait gives its tokens back. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (n <= 0) return;
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    this.tokens -= n;
    if (this.tokens >= 0) return;
    try {
      await this.clock.sleep((-this.tokens * 1000) / this.rate, signal);
    } catch (err) {
      this.tokens = Math.min(this.burst, this.tokens + n);
      throw signal?.aborted ? signal.reason : err;
    }
  }
}

/**
 * A byte bucket: at most 1/16 s of the rate per piece (64 KiB at most), so a body moves in steady small
 * steps and the workers in flight share the rate piece by piece. It starts empty and saves up one
 * second of the rate at most (rclone saves 4 MiB): enough to cover the gaps between one request and
 * the next, so the rate achieved over a run is the limit, and never more than it from the start.
 */
export class ByteBucket extends TokenBucket {
  readonly piece: number;

  constructor(rate: number, clock: Clock = realClock) {
    const piece = Math.max(1, Math.min(64 * 1024, Math.floor(rate / 16)));
    super(rate, Math.max(piece, rate), clock, true);
    this.piece = piece;
  }
}

/**
 * `body` as a stream that passes no piece before the bucket has paid for it. Reading pulls from
 * the source only as fast as the bucket allows, so a download's socket is paused (TCP slows the
 * sender) and an upload's file is read no faster than it is sent. Destroying the paced stream
 * destroys the source.
 */
export function paced(
  body: Buffer | Uint8Array | Readable,
  bucket: ByteBucket,
  signal?: AbortSignal,
): Readable {
  async function* pieces(): AsyncGenerator<Buffer> {
    const source = body instanceof Readable ? body : [body];
    for await (const data of source) {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array);
      for (let at = 0; at < buf.length; at += bucket.piece) {
        const piece = buf.subarray(at, at + bucket.piece);
        await bucket.take(piece.length, signal);
        yield piece;
      }
    }
  }
  const out = Readable.from(pieces(), { objectMode: false, highWaterMark: bucket.piece });
  if (body instanceof Readable) out.once('close', () => body.readableEnded || body.destroy());
  // The SDK pipes a request body without listening for its errors, and the signal that ends a wait
  // here aborts the request itself: a reader of a response body still gets the error.
  out.on('error', () => {});
  return out;
}

const isBody = (v: unknown): v is Buffer | Uint8Array | Readable =>
  v instanceof Readable || v instanceof Uint8Array;

/**
 * The limits of one transport: a request bucket (--tpslimit) and a byte bucket each way (--bwlimit).
 * `around` is the whole of it for a request: one token per attempt, the request's body paced going
 * out and the response's body coming in.
 */
export class RateLimits {
  readonly requests?: TokenBucket;
  readonly up?: ByteBucket;
  readonly down?: ByteBucket;

  constructor(opts: object, clock: Clock = realClock) {
    const tps = setting(opts, 'tpslimit');
    if (tps !== undefined) this.requests = new TokenBucket(tps, setting(opts, 'tpslimitBurst'), clock);
    const given = setting(opts, 'bwlimit');
    const rates = parseRate(given ?? 'off') ?? {};
    // One rate for both ways is one budget, as rclone's: "10MiB" is 10 MiB/s in all, whichever way.
    const shared = typeof given === 'number' || !given?.includes(':');
    if (rates.up !== undefined) this.up = new ByteBucket(rates.up, clock);
    if (rates.down !== undefined) this.down = shared ? this.up : new ByteBucket(rates.down, clock);
  }

  async around<O>(input: object, request: RequestScope | undefined, send: () => Promise<O>): Promise<O> {
    // request.signal is made only where a limit waits on it.
    await this.requests?.take(1, request?.signal);
    const out = input as { Body?: unknown };
    if (this.up && isBody(out.Body)) out.Body = paced(out.Body, this.up, request?.signal);
    const r = await send();
    const got = r as { Body?: unknown };
    if (this.down && got.Body instanceof Readable) got.Body = paced(got.Body, this.down, request?.signal);
    return r;
  }
}
