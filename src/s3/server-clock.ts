/**
 * The server's clock against this one's, NTP-style, from the Date header of the answers: a Date has
 * whole seconds and was stamped between the request's sending and its answer, so each answer bounds the
 * offset (server - local, ms) to [Date - answeredAt, Date + 1000 - sentAt]. The run's answers together
 * bound it to their intersection; an empty one (the server's or this clock stepped) starts again from the
 * latest answer, which tells the clocks as they are now.
 */

/** Bounds on (server clock - this machine's clock), in ms. */
export interface OffsetBounds {
  min: number;
  max: number;
}

/** What one answer tells of the offset: `dateMs` its Date header, on a request sent and answered then. */
export function answerBounds(dateMs: number, sentAt: number, answeredAt: number): OffsetBounds {
  return { min: dateMs - answeredAt, max: dateMs + 1000 - sentAt };
}

/** `known` narrowed by `next`; `next` alone where they do not meet (a clock stepped in between). */
export function narrowed(known: OffsetBounds | undefined, next: OffsetBounds): OffsetBounds {
  if (!known) return next;
  const min = Math.max(known.min, next.min);
  const max = Math.min(known.max, next.max);
  return min <= max ? { min, max } : next;
}

/**
 * The offset to move a local time onto the server's clock by: 0 where the bounds allow it, so a clock
 * that is right is never moved by the Date header's rounding; else the bound nearest 0, the smallest
 * correction the answers require.
 */
export function offsetWithin(bounds: OffsetBounds | undefined): number {
  if (!bounds || (bounds.min <= 0 && bounds.max >= 0)) return 0;
  return bounds.min > 0 ? bounds.min : bounds.max;
}

/**
 * A Date header as ms since the epoch; undefined where there is none, it does not parse, or the answer
 * came from a cache (an Age header), which says nothing of the server's clock now.
 */
export function serverDate(
  headers: Record<string, string | string[] | undefined> | undefined,
): number | undefined {
  if (!headers || headers.age !== undefined) return undefined;
  const date = headers.date;
  const ms = typeof date === 'string' ? Date.parse(date) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

/** One connection's estimate of the server's clock, fed every answer it gets (see the module's comment). */
export class ServerClock {
  private known: OffsetBounds | undefined;

  /** An answer with Date `dateMs` (undefined: none to read) to a request sent at `sentAt`, answered at `answeredAt`. */
  answered(dateMs: number | undefined, sentAt: number, answeredAt: number): void {
    if (dateMs === undefined) return;
    this.known = narrowed(this.known, answerBounds(dateMs, sentAt, answeredAt));
  }

  /** The bounds the answers so far allow; undefined before the first answer with a Date. */
  get bounds(): OffsetBounds | undefined {
    return this.known && { ...this.known };
  }

  /** The offset to apply (offsetWithin): 0 before any answer, and while 0 is within the bounds. */
  offset(): number {
    return offsetWithin(this.known);
  }
}
