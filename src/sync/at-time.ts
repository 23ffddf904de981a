import { usageError } from '../errors.js';
import { parseAtTime, replacedSince, stateAt } from '../plan/at-time.js';
import type { ListOptions } from '../s3/listing.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { S3Requests } from '../s3/requests.js';

/** `--at TIME` as milliseconds since the epoch, a duration counted back from `now`; a usage error if bad. */
export function resolveAt(at: string | undefined, now = Date.now()): number | undefined {
  if (at === undefined) return undefined;
  const r = parseAtTime(at, now);
  if ('error' in r) throw usageError(`at (--at): ${r.error}`);
  return r.ms;
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
  at: number,
  selected: (rel: string) => boolean,
  opts: ListOptions = {},
): Promise<Map<string, RemoteObject>> {
  // Loaded here: it loads the AWS SDK, which a run that makes no request never does.
  const { listVersions, requireVersioning } = await import('../s3/versions.js');
  await requireVersioning(t, '--at');
  opts.onRequested?.();
  const versions = await listVersions(t, prefix);
  const lost = replacedSince(versions, prefix, at).filter(selected);
  if (lost.length > 0)
    throw usageError(
      `--at ${new Date(at).toISOString()}: what ${lost.length} key(s) held then is gone, replaced by a write made while versioning was off or suspended (its version id is null, and each such write replaces the last), first s3://${t.bucket}/${prefix}${lost[0]}: leave them out (--exclude) or pick a time after that write`,
    );
  const objects = stateAt(versions, prefix, at);
  opts.onPage?.([...objects.values()]);
  return objects;
}
