import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  chooseSplitPoints,
  compareKeys,
  joinProblem,
  ownedCount,
  type RangeResult,
  rangeOrderProblem,
} from './list-ranges.js';
import type { ListPage } from './list-xml.js';
import {
  advancing,
  continuation,
  type ListingProbe,
  type ListOptions,
  listPage,
  oneStream,
  remoteObject,
} from './listing.js';
import type { RemoteObject } from './remote-object.js';
import type { S3Requests } from './requests.js';

/** A listing that cannot be joined from ranges: listed again as one stream. */
class NotJoinable extends Error {}

/** One range's listing as it goes: what the joiner checks, and the objects handed on. */
interface Range extends RangeResult {
  end: string | undefined;
  keys: string[];
  /** Owned objects, in order: those handed to onPage. */
  objects: RemoteObject[];
  ended: RangeResult['ended'];
  /** Set once the listing ended, by either way. */
  done: boolean;
}

interface Run {
  t: S3Requests;
  prefix: string;
  opts: ListOptions;
  probe: ListingProbe;
  /** A range failed or the listing fell back: no more requests, no more pages handed on. */
  stopped: boolean;
  /** More than the first range was started: from then on the ranges must join. */
  split: boolean;
  /** Why the first range, still alone, could not be joined to others: it stays one stream. */
  unjoinable?: string;
  /** Called as each page arrives: the endpoint has answered. */
  answered: () => void;
}

/**
 * The prefix listed as ranges at once (see list-ranges.ts), joined into the same Map, in the same order,
 * as one stream would give. The first range starts at once, unbounded; when the split keys are known
 * (`splitFrom`, perhaps only after the tree is read), it is bounded at the first split point past what
 * it has read, and the other ranges start. A store that lists out of byte order or ignores StartAfter
 * is listed again as one stream; onPage sees each object once either way. A truncated page without a
 * new token fails the listing (see `continuation`).
 */
export async function listRanges(
  t: S3Requests,
  prefix: string,
  opts: ListOptions,
  probe: ListingProbe,
): Promise<Map<string, RemoteObject>> {
  let answered: () => void = () => {};
  const firstAnswer = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const run: Run = { t, prefix, opts, probe, stopped: false, split: false, answered };
  const ranges: Range[] = [newRange(undefined, undefined)];
  const running = [started(run, ranges[0] as Range, opts.onRequested)];
  const first = (running[0] as Promise<void>).then(
    () => undefined,
    () => undefined,
  );
  // No other range starts before the endpoint has answered once: a slow or wrong endpoint is not sent
  // a burst of requests that would hold its first answer back past --first-byte-timeout.
  await Promise.race([firstAnswer, first]);
  const known = await Promise.race([Promise.resolve(opts.splitFrom).catch(() => undefined), first]);
  const head = ranges[0] as Range;
  // Found before any split (the first page came first): the listing stays the one stream it is.
  if (known && run.unjoinable !== undefined) opts.onFallback?.(run.unjoinable);
  if (known && !head.done && !run.stopped && run.unjoinable === undefined) {
    const reached = head.keys[head.keys.length - 1];
    const rel = reached?.startsWith(prefix) ? reached.slice(prefix.length) : undefined;
    const points = chooseSplitPoints(known, Math.max(1, opts.maxRanges ?? 0), probe.maxKeys ?? 1000, rel)
      .map((p) => prefix + p)
      .filter((p) => reached === undefined || compareKeys(p, reached) > 0);
    head.end = points[0];
    run.split = points.length > 0;
    for (let i = 0; i < points.length; i++) {
      const r = newRange(points[i], points[i + 1]);
      ranges.push(r);
      running.push(started(run, r));
    }
  }
  const settled = await Promise.allSettled(running);
  let problem: string | undefined;
  for (const s of settled) {
    if (s.status === 'fulfilled') continue;
    if (!(s.reason instanceof NotJoinable)) throw s.reason;
    problem ??= s.reason.message;
  }
  // One range alone is one stream, whatever its order: nothing to join.
  if (ranges.length > 1) problem ??= joinProblem(ranges);
  if (problem === undefined) {
    const out = new Map<string, RemoteObject>();
    for (const r of ranges) for (const o of r.objects) out.set(o.rel, o);
    return out;
  }
  opts.onFallback?.(problem);
  const handedOn = new Set<string>();
  for (const r of ranges) for (const o of r.objects) handedOn.add(o.rel);
  const onPage = opts.onPage;
  return oneStream(
    t,
    prefix,
    {
      onPage: onPage && ((page) => onPage(page.filter((o) => !handedOn.has(o.rel)))),
    },
    probe,
  );
}

/**
 * A range that cannot be joined: the listing falls back to one stream once ranges are split; before,
 * the first range goes on as that one stream and no other range starts.
 */
function unjoinable(run: Run, problem: string): void {
  if (run.split) throw new NotJoinable(problem);
  run.unjoinable ??= problem;
}

function newRange(after: string | undefined, end: string | undefined): Range {
  return { after, end, keys: [], objects: [], ended: 'exhausted', done: false };
}

/** A range's listing, started; the first failure stops the others. */
function started(run: Run, r: Range, onRequested?: () => void): Promise<void> {
  const p = listRange(run, r, onRequested);
  p.catch(() => {
    run.stopped = true;
  });
  return p;
}

/** Pages of one range, until a key past its end or the end of the listing. */
async function listRange(run: Run, r: Range, onRequested?: () => void): Promise<void> {
  const { t, prefix, probe } = run;
  const tokens = new Set<string>();
  // The keys read, kept once they leave byte order: until then each key is past the last, never a repeat.
  let seen: Set<string> | undefined;
  let next: Promise<ListPage> | undefined = listPage(t, { prefix, startAfter: r.after, probe, onRequested });
  try {
    while (next) {
      const page: ListPage = await next;
      run.answered();
      next = undefined;
      if (run.stopped) return;
      const keys = page.objects.map((o) => o.key);
      const order = rangeOrderProblem(r.after, r.keys[r.keys.length - 1], keys);
      if (order) {
        unjoinable(run, order);
        seen ??= new Set(r.keys);
      }
      // Unsplit, the range goes on as one stream: a key listed again is a loop, as there (see advancing).
      if (seen) {
        const known = seen;
        advancing(t, prefix, page, (k) => known.has(k));
        for (const k of keys) known.add(k);
      }
      for (const k of keys) r.keys.push(k);
      // Read now: the first range's end is set once the split keys are known.
      const owned = ownedCount(keys, r.end);
      if (owned < keys.length) r.ended = 'passed-end';
      else if (r.end !== undefined && keys[keys.length - 1] === r.end) r.ended = 'reached-end';
      else if (page.isTruncated) {
        // A truncated page without a new token fails the listing, split or not, as one stream does.
        const token = continuation(t, prefix, page, tokens);
        next = listPage(t, { prefix, token, probe });
        // Awaited on the next turn of the loop; never an unhandled rejection meanwhile.
        next.catch(() => {});
        // Lets the next request reach the socket before this page's objects are handed on.
        await nextTurn();
        if (run.stopped) return;
      }
      const objects = page.objects.slice(0, owned).map((o) => remoteObject(prefix, o));
      for (const o of objects) r.objects.push(o);
      run.opts.onPage?.(objects);
    }
  } finally {
    r.done = true;
  }
}
