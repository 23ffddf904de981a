import { checkedBeforeRun } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import { requireTarget, setting, validateOptions } from '../options/validate.js';
import { endpointFor } from '../s3/client-options.js';
import { connectionNotices } from '../s3/connection-notices.js';
import type { AbortOutcome } from '../s3/multipart.js';
import { parseS3Url } from '../s3/url.js';
import type { CommonOptions } from './options.js';

export interface CleanupOptions extends CommonOptions {
  /** s3://bucket/prefix */
  target: string;
  /** Abort uploads initiated longer ago than this: '2d', or milliseconds. Default 24h, as rclone cleanup. */
  olderThan?: string | number;
  /** @deprecated Use olderThan (milliseconds as a number, or a duration such as '24h'). */
  olderThanMs?: number;
}

export interface CleanupResult {
  command: 'cleanup';
  dryRun: boolean;
  found: { key: string; uploadId: string; initiated: string }[];
  aborted: number;
  failed: number;
  /** S3 requests by API name, every attempt counted, as a sync's summary has them. */
  requests: Record<string, number>;
  requestsTotal: number;
  /** Cancelled through its AbortSignal after the listing: what it did is counted, as a sync's summary. */
  cancelled: boolean;
  /** `failed`: some uploads could not be aborted; `cancelled` wins over it. */
  outcome: 'ok' | 'failed' | 'cancelled';
}

/** Aborts (or with dryRun lists) multipart uploads under the prefix that were started long ago. */
export async function cleanup(opts: CleanupOptions): Promise<CleanupResult> {
  const loc = checkedBeforeRun(() => {
    validateOptions(opts, 'cleanup');
    requireTarget('cleanup', opts.target);
    return parseS3Url(opts.target);
  });
  for (const n of connectionNotices(endpointFor(opts), opts)) opts.onEvent?.({ type: 'notice', ...n });
  const { S3Transport } = await import('../s3/transport.js');
  const t = await S3Transport.connect(
    opts,
    loc.bucket,
    { workers: opts.workers, signal: opts.signal },
    {},
    opts.client,
  );
  // Its sockets close with the command: a library caller's process goes on.
  try {
    const listed = await t.uploadsUnder(loc.prefix);
    // Initiated is the server's time: ages are counted on its clock, at the earliest the run's answers
    // allow (ServerClock's bounds), so this machine's clock running ahead never makes an upload in
    // progress look stale.
    // --older-than 0s is every upload listed, the last second's too (Date has whole seconds).
    const olderThan = setting(opts, 'olderThan');
    const cutoff =
      olderThan === 0 ? Number.POSITIVE_INFINITY : Date.now() + listed.clockOffset.min - olderThan;
    const uploads = listed.uploads.filter((u) => u.initiated.getTime() < cutoff);
    const result: CleanupResult = {
      command: 'cleanup',
      dryRun: !!opts.dryRun,
      found: uploads.map((u) => ({ key: u.key, uploadId: u.uploadId, initiated: u.initiated.toISOString() })),
      aborted: 0,
      failed: 0,
      requests: {},
      requestsTotal: 0,
      cancelled: false,
      outcome: 'ok',
    };
    const counted = () => {
      result.requests = { ...t.counter.counts };
      result.requestsTotal = t.counter.total;
      return result;
    };
    const label = (u: (typeof uploads)[number]) => {
      const upload = `upload ${u.uploadId.slice(0, 12)}…, started ${u.initiated.toISOString()}`;
      return { upload, what: `${u.key} (${upload})` };
    };
    // Cancelled (the dry run's loop, or forEachLimit below): the summary still counts what was done.
    const stopped = (err: unknown) => {
      if (!opts.signal?.aborted) throw err;
      result.cancelled = true;
      result.outcome = 'cancelled';
      return counted();
    };
    if (opts.dryRun) {
      for (const u of uploads) {
        if (opts.signal?.aborted) return stopped(opts.signal.reason);
        opts.onEvent?.({
          type: 'action',
          action: 'abort',
          rel: u.key,
          reason: `stale multipart ${label(u).upload}`,
          size: 0,
          dryRun: true,
        });
      }
      return counted();
    }
    const report = (u: (typeof uploads)[number], outcome: AbortOutcome) => {
      const { what } = label(u);
      if (outcome === 'aborted' || outcome === 'gone') {
        // 'gone': finished or aborted by someone else meanwhile; either way nothing is left to bill.
        if (outcome === 'aborted') result.aborted++;
        opts.onEvent?.({
          type: 'done',
          action: 'abort',
          rel: u.key,
          size: 0,
          reason: `${outcome === 'aborted' ? 'aborted' : 'already gone:'} stale multipart upload ${what}`,
        });
      } else {
        result.failed++;
        const why = outcome === 'refused' ? ': the server or the credentials do not allow it' : '';
        opts.onEvent?.({
          type: 'error',
          rel: u.key,
          message: `could not abort multipart upload ${what}${why}`,
        });
      }
    };
    // Aborts run as the request limit allows (--workers, growing and shrinking as the server answers),
    // each attempt paced by --tpslimit in the transport. Outcomes are reported in listing order, each
    // once all before it are known, so the lines are the same whatever order the answers come in.
    const outcomes: (AbortOutcome | undefined)[] = [];
    let reported = 0;
    const slots = t.limiter.follower();
    // Cancelled: no further abort starts; those in flight end (an abort ignores the signal on purpose)
    // and are reported before the cancellation is thrown.
    try {
      await forEachLimit(
        uploads.map((_, i) => i),
        t.limiter.max,
        async (i) => {
          // The aborts are this command's work: retried as --retries says, as any request of a run.
          outcomes[i] = await slots.run(() => t.abortMultipart(uploads[i]!, t.retries));
          for (; reported < uploads.length && outcomes[reported] !== undefined; reported++)
            report(uploads[reported]!, outcomes[reported]!);
        },
        opts.signal,
      );
    } catch (err) {
      return stopped(err);
    }
    result.outcome = result.failed > 0 ? 'failed' : 'ok';
    return counted();
  } finally {
    t.close();
  }
}
