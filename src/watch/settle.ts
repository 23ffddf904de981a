/**
 * Settle detection and retry pacing for `push --watch`, pure: the loop (./watch-loop.ts) feeds it what
 * events and stats said and asks which paths are ready.
 */

/** The signature of a path that is not there. */
export const GONE = 'gone';

/** What the loop last saw of a path: its signature (size, mtime, ctime, inode; or GONE) and since when. */
export interface Observed {
  sig: string;
  since: number;
}

/**
 * A path's record after an event or a stat. The clock restarts on every event (a write that kept size
 * and mtime still means the file is being written) and on every change of signature; a stat that
 * finds the same signature keeps the clock running.
 */
export function observe(prev: Observed | undefined, sig: string, now: number, event: boolean): Observed {
  if (prev === undefined || event || prev.sig !== sig) return { sig, since: now };
  return prev;
}

/** Whether a path has stayed the same for the settle time. */
export const isSettled = (o: Observed, now: number, settleMs: number): boolean => now - o.since >= settleMs;

/** When the next of these paths may have settled; undefined when there are none. */
export function nextDue(entries: Iterable<Observed>, settleMs: number): number | undefined {
  let first: number | undefined;
  for (const o of entries) if (first === undefined || o.since < first) first = o.since;
  return first === undefined ? undefined : first + settleMs;
}

/**
 * Whether a file found by a walk was modified within the settle time: the walk holds it back (it may
 * be half-written) and hands it to settle detection instead. A file whose mtime is in the future (a
 * clock that went back, a copy that kept a bad time) is not held for ever: only the settle time from now.
 */
export function changedRecently(mtimeNs: string, now: number, settleMs: number): boolean {
  const mtimeMs = Number(BigInt(mtimeNs) / 1_000_000n);
  return mtimeMs > now - settleMs && mtimeMs <= now + settleMs;
}

/**
 * The wait before retrying after `failures` failed attempts in a row (an unreachable endpoint): doubling
 * from `baseMs`, at most `maxMs`, so an outage of hours costs a request a minute, not a storm.
 */
export function backoffMs(failures: number, baseMs = 1000, maxMs = 60_000): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}

/**
 * The first file a walk sent (uploaded or copied) that nothing had named: no event, hold, retry or stop
 * left it waiting, so the subscription missed its change (inotify's max_user_watches reached part-way
 * leaves folders made since unwatched, and says nothing). Undefined when the walk's cause explains
 * such files (the first sync, events said lost, the root replaced, new ignore rules, a manifest lost,
 * no subscription at all).
 */
export function missedChange(
  sent: Iterable<string>,
  named: (rel: string) => boolean,
  explained: boolean,
): string | undefined {
  if (explained) return undefined;
  for (const rel of sent) if (!named(rel)) return rel;
  return undefined;
}
