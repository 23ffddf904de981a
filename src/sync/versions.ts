import { checkedBeforeRun } from '../errors.js';
import { requireTarget, validateOptions } from '../options/validate.js';
import type { ConnectionOptions } from '../s3/client-options.js';
import { endpointFor } from '../s3/client-options.js';
import { connectionNotices } from '../s3/connection-notices.js';
import type { ObjectVersion } from '../s3/remote-object.js';
import { parseS3Url } from '../s3/url.js';
import type { SyncEvent } from './events.js';

export type { ObjectVersion };

export interface VersionsOptions extends ConnectionOptions {
  /** s3://bucket/key-or-prefix: every key that starts with it, as ListObjectVersions' Prefix. */
  target: string;
  debug?: boolean;
  signal?: AbortSignal;
  /** Notices about the run (an endpoint URL's ignored user name and password). */
  onEvent?: (e: SyncEvent) => void;
  client?: import('@aws-sdk/client-s3').S3Client;
}

export interface VersionsResult {
  command: 'versions';
  /** Each key's versions and delete markers, newest first, keys in order. */
  versions: ObjectVersion[];
  keys: number;
  deleteMarkers: number;
  /** S3 requests by API name, every attempt counted, as a sync's summary has them. */
  requests: Record<string, number>;
  requestsTotal: number;
  /** Stopped by `signal`: `versions` holds what was listed before, and the listing is incomplete. */
  cancelled: boolean;
  outcome: 'ok' | 'cancelled';
}

/**
 * Lists the versions and delete markers of a key or of every key under a prefix. The target is taken
 * as written (no `/` is added: `s3://b/db/a.txt` names that key, and any longer key that starts with it).
 * A bucket that keeps no versions, or a store without versioning, is a usage error. Stopped by
 * `signal`, it resolves with the versions listed so far (`cancelled`).
 */
export async function versions(opts: VersionsOptions): Promise<VersionsResult> {
  const { bucket } = checkedBeforeRun(() => {
    validateOptions(opts, 'versions');
    requireTarget('versions', opts.target);
    return parseS3Url(opts.target);
  });
  const prefix = opts.target.slice(`s3://${bucket}`.length).replace(/^\/+/, '');
  for (const n of connectionNotices(endpointFor(opts), opts)) opts.onEvent?.({ type: 'notice', ...n });
  const { S3Transport } = await import('../s3/transport.js');
  const { listVersions, requireVersioning } = await import('../s3/versions.js');
  const t = await S3Transport.connect(
    opts,
    bucket,
    { workers: opts.workers, signal: opts.signal },
    {},
    opts.client,
  );
  // Its sockets close with the command: a library caller's process goes on.
  try {
    const list: ObjectVersion[] = [];
    let cancelled = false;
    try {
      await requireVersioning(t, 'versions');
      await listVersions(t, prefix, undefined, list);
    } catch (err) {
      // Stopped: what was listed is still said, as a cancelled check says what it compared.
      if (!opts.signal?.aborted) throw err;
      cancelled = true;
    }
    return {
      command: 'versions',
      versions: list,
      keys: new Set(list.map((v) => v.key)).size,
      deleteMarkers: list.filter((v) => v.deleteMarker).length,
      requests: { ...t.counter.counts },
      requestsTotal: t.counter.total,
      cancelled,
      outcome: cancelled ? 'cancelled' : 'ok',
    };
  } finally {
    t.close();
  }
}
