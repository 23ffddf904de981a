import { usageError } from '../errors.js';
import { parseDuration } from '../options/parse.js';
import { inFuture, parseAtTime, replacedSince, stateAt } from '../plan/at-time.js';
import { spanText } from '../s3/errors.js';
import type { ListOptions } from '../s3/listing.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { S3Requests } from '../s3/requests.js';

/**
 * `--at TIME`: `ms` since the epoch. A duration is counted back from `now` on this machine's clock at
 * first, and moved onto the server's (onServerClock) once its answers have told how far off this one
 * is: a clock 2 minutes behind must not make `--at 1m` three minutes ago. A date is judged on the
 * server's clock too: one in this clock's future may be in the server's past, and the reverse.
 */
export class AtTime {
  constructor(
    public ms: number,
    private relative: boolean,
    /** TIME as given, for the message that refuses it. */
    private readonly text = '',
  ) {}

  /**
   * The instant on the server's clock, `offsetMs` (server - local) added to a duration's, once; a
   * date later than the server's now (this clock's `now` moved by the offset) is a usage error.
   */
  onServerClock(offsetMs: number, now = Date.now()): number {
    if (this.relative) {
      this.ms += offsetMs;
      this.relative = false;
      return this.ms;
    }
    this.checkDate(offsetMs, now);
    return this.ms;
  }

  /** Refuses a date later than the server's now (this clock's `now` moved by `offsetMs`); a duration passes. */
  checkDate(offsetMs: number, now = Date.now()): void {
    if (this.relative) return;
    const serverNow = now + offsetMs;
    if (this.ms > serverNow) {
      const local =
        Math.abs(offsetMs) < 1000
          ? ''
          : `, this machine's clock ${spanText(offsetMs)} ${offsetMs > 0 ? 'behind' : 'ahead of'} it`;
      throw usageError(
        `at (--at): ${inFuture(this.text)}: the server's clock reads ${new Date(serverNow).toISOString()}${local}`,
      );
    }
  }
}

/**
 * `--at TIME` resolved, a duration counted back from `now`; a usage error if bad. A date after `now` is
 * refused only once the server has told its time (onServerClock).
 */
export function resolveAt(at: string | undefined, now = Date.now()): AtTime | undefined {
  if (at === undefined) return undefined;
  const r = parseAtTime(at, now, true);
  if ('error' in r) throw usageError(`at (--at): ${r.error}`);
  return new AtTime(r.ms, typeof parseDuration(at.trim()) === 'number', at);
}

/**
 * The objects under `prefix` as they were at `at` (ms), by rel, each with the version id that was
 * current then (GetObject and HeadObject must name it) and whether it still is: from
 * ListObjectVersions, delete markers honoured. A bucket that keeps no versions is a usage error, and so
 * is a key the run selects (`selected`) whose state at `at` a later unversioned write replaced: a
 * restore must not be told it has that state when it has an older one.
 * `opts`: the listing's callbacks, as for a listing of the current objects (all pages come at once).
 */
export async function listPrefixAt(
  t: S3Requests,
  prefix: string,
  atTime: AtTime,
  selected: (rel: string) => boolean,
  opts: ListOptions = {},
): Promise<Map<string, RemoteObject>> {
  // Loaded here: it loads the AWS SDK, which a run that makes no request never does.
  const { listVersions, requireVersioning } = await import('../s3/versions.js');
  // A date in the server's future is refused at its first answer, before the bucket is judged or listed.
  await requireVersioning(t, '--at', () => atTime.checkDate(t.clockOffset?.() ?? 0));
  opts.onRequested?.();
  const versions = await listVersions(t, prefix);
  // After the answers: the last of them tells the clock offset at its best.
  const at = atTime.onServerClock(t.clockOffset?.() ?? 0);
  const lost = replacedSince(versions, prefix, at).filter(selected);
  if (lost.length > 0)
    throw usageError(
      `--at ${new Date(at).toISOString()}: what ${lost.length} key(s) held then is gone, replaced by a write made while versioning was off or suspended (its version id is null, and each such write replaces the last), first s3://${t.bucket}/${prefix}${lost[0]}: leave them out (--exclude) or pick a time after that write`,
    );
  const objects = stateAt(versions, prefix, at);
  opts.onPage?.([...objects.values()]);
  return objects;
}
