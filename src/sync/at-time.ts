import { usageError } from '../errors.js';
import { parseAtTime, stateAt } from '../plan/at-time.js';
import type { ListOptions } from '../s3/listing.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { S3Requests } from '../s3/requests.js';

/** `--at TIME` as milliseconds since the epoch, a duration counted back from `now`; a usage error if bad. */
export function resolveAt(at: string | undefined, now = Date.now()): number | undefined {
  if (at === undefined) return undefined;
  const r = parseAtTime(at, now);
  if ('error' in r) throw usageError(`--at: ${r.error}`);
  return r.ms;
}

/**
 * The objects under `prefix` as they were at `at` (ms), by rel, each with the version id that was
 * current then (GetObject and HeadObject must name it) and whether it still is: from
 * ListObjectVersions, delete markers honoured. A bucket that keeps no versions is a usage error.
 * `opts`: the listing's callbacks, as for a listing of the current objects (all pages come at once).
 */
export async function listPrefixAt(
  t: S3Requests,
  prefix: string,
  at: number,
  opts: ListOptions = {},
): Promise<Map<string, RemoteObject>> {
  // Loaded here: it loads the AWS SDK, which a run that makes no request never does.
  const { listVersions, requireVersioning } = await import('../s3/versions.js');
  await requireVersioning(t, '--at');
  opts.onRequested?.();
  const objects = stateAt(await listVersions(t, prefix), prefix, at);
  opts.onPage?.([...objects.values()]);
  return objects;
}
