import { parseDuration } from '../options/parse.js';
import type { ObjectVersion, RemoteObject } from '../s3/remote-object.js';

/**
 * `--at TIME`: an ISO 8601 date or date and time, or a duration back from now (`2d`, `90m`).
 * A date alone is local midnight and a time without a zone is local time, as date(1) reads them: a
 * local time the clocks skipped (the spring-forward hour) is refused, as date(1) refuses it; one they
 * went through twice (the hour after falling back) is the earlier, where date(1) takes either by zone.
 */
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * TIME as milliseconds since the epoch, or why it is refused: a calendar date that does not exist
 * (2026-02-30), or, unless `future` allows it, a time after `now` (see inFuture). A run judges that on
 * the server's clock once it has answered (AtTime.onServerClock), so it parses with `future` true.
 */
export function parseAtTime(text: string, now: number, future = false): { ms: number } | { error: string } {
  const v = text.trim();
  const ago = parseDuration(v);
  if (typeof ago === 'number') return { ms: now - ago };
  const m = ISO.exec(v);
  if (!m)
    return {
      error: `'${text}' is neither an ISO 8601 date or time (2026-11-30, 2026-11-30T14:00:00Z) nor a duration back from now (2d, 90m)`,
    };
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac.slice(0, 4)}${zoneText(zone)}`);
  const back = new Date(Number(y), Number(mo) - 1, Number(d));
  // Date.parse rolls 2026-02-30 over to March, and takes 24:00 as the next day: refused instead, as
  // date(1) refuses them.
  if (
    Number.isNaN(ms) ||
    back.getMonth() !== Number(mo) - 1 ||
    back.getDate() !== Number(d) ||
    Number(h) > 23
  )
    return { error: `'${text}' is not a valid date or time` };
  // Date.parse moves a local time the clocks skipped past the gap: refused, naming the gap.
  if (zone === undefined && !showsAs(ms, [y, mo, d, h, mi, s].map(Number))) {
    const gap = gapAround(ms);
    if (!gap) return { error: `'${text}' is not a valid date or time` };
    return {
      error: `'${text}' is not a time in this time zone (${zoneName()}): on ${y}-${mo}-${d} its clocks went from ${gap[0]} straight to ${gap[1]}; give an offset (…Z, …-05:00) or another time`,
    };
  }
  if (!future && ms > now) return { error: inFuture(text) };
  return { ms };
}

/**
 * Why TIME after now is refused: no state of the future is known, and a mistyped year would otherwise
 * quietly give the current state.
 */
export const inFuture = (text: string) => `'${text}' is in the future`;

/** Whether `ms` reads as these local year, month, day, hours, minutes and seconds. */
function showsAs(ms: number, [y, mo, d, h, mi, s]: number[]): boolean {
  const t = new Date(ms);
  return (
    t.getFullYear() === y &&
    t.getMonth() === mo! - 1 &&
    t.getDate() === d &&
    t.getHours() === h &&
    t.getMinutes() === mi &&
    t.getSeconds() === s
  );
}

/** The local clock's jump within a day of `ms`, as HH:MM before and after; undefined if none. */
function gapAround(ms: number): [string, string] | undefined {
  const DAY = 86_400_000;
  const offset = (t: number) => new Date(t).getTimezoneOffset();
  let lo = ms - DAY;
  let hi = ms + DAY;
  const before = offset(lo);
  const after = offset(hi);
  if (before <= after) return undefined;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offset(mid) === before) lo = mid;
    else hi = mid;
  }
  // The local time at the jump, on the offset before it and on the one after.
  const wall = (off: number) => new Date(hi - off * 60_000).toISOString().slice(11, 16);
  return [wall(before), wall(after)];
}

const zoneName = () => Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'local';

/** The zone as Date.parse takes it: none means local time; +0100 becomes +01:00. */
const zoneText = (zone: string | undefined) =>
  zone === undefined || zone.toUpperCase() === 'Z' ? (zone ?? '') : `${zone.slice(0, 3)}:${zone.slice(-2)}`;

/** Why a version is or is not the one current at TIME, for one key. */
function newerAt(a: ObjectVersion & { order: number }, b: ObjectVersion & { order: number }): boolean {
  if (a.lastModified !== b.lastModified) return a.lastModified > b.lastModified;
  // The same time (RGW stamps whole seconds): the one still current is the newer, else the one the
  // store lists first (S3 lists each key's versions newest first).
  if (a.isLatest !== b.isLatest) return a.isLatest;
  return a.order < b.order;
}

/**
 * The rels under `prefix` whose state at `at` is gone: a key with a `null` version or delete marker
 * written after `at`. Writes while versioning is suspended (or was never on) share that one version id,
 * each replacing the last, so a `null` version current at `at` may have been overwritten since, and the
 * newest entry left at or before `at` would then not be what the key held. Pure, in the listing's order.
 */
export function replacedSince(versions: readonly ObjectVersion[], prefix: string, at: number): string[] {
  const rels = new Set<string>();
  for (const v of versions)
    if (v.versionId === 'null' && v.lastModified > at && v.key.startsWith(prefix))
      rels.add(v.key.slice(prefix.length));
  return [...rels];
}

/**
 * The objects under `prefix` as they were at `at` (ms): for each key, its newest version written at or
 * before `at`; a key whose newest entry then is a delete marker, or that had no version yet, is absent.
 * Pure: `versions` is the store's listing, in its order. rel is the key minus the prefix.
 */
export function stateAt(
  versions: readonly ObjectVersion[],
  prefix: string,
  at: number,
): Map<string, RemoteObject> {
  const chosen = new Map<string, ObjectVersion & { order: number }>();
  versions.forEach((v, order) => {
    if (v.lastModified > at || !v.key.startsWith(prefix)) return;
    const seen = chosen.get(v.key);
    const entry = { ...v, order };
    if (!seen || newerAt(entry, seen)) chosen.set(v.key, entry);
  });
  const out = new Map<string, RemoteObject>();
  for (const v of [...chosen.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    if (v.deleteMarker) continue;
    const rel = v.key.slice(prefix.length);
    out.set(rel, {
      rel,
      key: v.key,
      size: v.size,
      etag: v.etag,
      lastModified: v.lastModified,
      ...(v.storageClass !== undefined && { storageClass: v.storageClass }),
      versionId: v.versionId,
      isLatest: v.isLatest,
    });
  }
  return out;
}
