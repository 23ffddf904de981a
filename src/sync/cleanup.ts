import { usageError } from '../errors.js';
import { configuredEndpoint } from '../s3/client-options.js';
import { parseS3Url } from '../s3/url.js';
import type { CommonOptions } from './options.js';

export interface CleanupOptions extends CommonOptions {
  /** s3://bucket/prefix */
  target: string;
  /** Abort uploads initiated longer ago than this (ms). Default 24 h, as rclone cleanup. */
  olderThanMs?: number;
}

export interface CleanupResult {
  command: 'cleanup';
  dryRun: boolean;
  found: { key: string; uploadId: string; initiated: string }[];
  aborted: number;
  failed: number;
  exitCode: 0 | 1;
}

/** Parses 24h, 90m, 2d, 3600s (or plain milliseconds). */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m) throw usageError(`invalid duration '${v}' (e.g. 24h, 90m, 2d)`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
  return Number(m[1]) * mult;
}

/** Aborts (or with dryRun lists) multipart uploads under the prefix that were started long ago. */
export async function cleanup(opts: CleanupOptions): Promise<CleanupResult> {
  const loc = parseS3Url(opts.target);
  configuredEndpoint(opts);
  const { S3Transport } = await import('../s3/transport.js');
  const t = await S3Transport.connect(
    opts,
    loc.bucket,
    { workers: opts.workers, signal: opts.signal },
    {},
    opts.client,
  );
  const cutoff = Date.now() - (opts.olderThanMs ?? 86_400_000);
  const uploads = (await t.listMultipartUploads(loc.prefix)).filter((u) => u.initiated.getTime() < cutoff);
  const result: CleanupResult = {
    command: 'cleanup',
    dryRun: !!opts.dryRun,
    found: uploads.map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: u.initiated.toISOString() })),
    aborted: 0,
    failed: 0,
    exitCode: 0,
  };
  for (const u of uploads) {
    // Cancelled: no further abort starts (each one is retried, and ignores the signal on purpose).
    opts.signal?.throwIfAborted();
    const what = `${u.key} (upload ${u.uploadId.slice(0, 12)}…, started ${u.initiated.toISOString()})`;
    if (opts.dryRun) {
      opts.onEvent?.({
        type: 'action',
        action: 'delete',
        rel: u.key,
        reason: 'stale multipart upload',
        size: 0,
        dryRun: true,
      });
      continue;
    }
    if (await t.abortMultipart(u.key, u.uploadId)) {
      result.aborted++;
      opts.onEvent?.({
        type: 'done',
        action: 'delete',
        rel: u.key,
        size: 0,
        reason: `aborted stale multipart upload ${what}`,
      });
    } else {
      result.failed++;
      opts.onEvent?.({ type: 'error', rel: u.key, message: `could not abort multipart upload ${what}` });
    }
  }
  result.exitCode = result.failed > 0 ? 1 : 0;
  return result;
}
