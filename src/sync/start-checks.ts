/**
 * The refusals a run's options decide alone: one function that each command runs as it starts, and
 * that a bare `s3sync` runs for every job of its config file before the first one starts.
 */
import path from 'node:path';
import { usageError } from '../errors.js';
import { OPTIONS } from '../options/table.js';
import { checkEnds, validateOptions } from '../options/validate.js';
import { parseS3Url } from '../s3/url.js';
import { resolveAt } from './at-time.js';
import { s3BackupTarget } from './backup.js';
import { localBackupTarget } from './backup-local.js';
import type { CheckOptions, PullOptions, PushOptions } from './options.js';
import type { S3SyncOptions } from './options-s3.js';
import { pairTargets } from './s3-pair.js';

/** Each command's options, by the name the options table gives the command. */
export interface RunOptions {
  push: PushOptions;
  pull: PullOptions;
  check: CheckOptions;
  'sync s3': S3SyncOptions;
}

/** The watch's options outside a watch (a push without --watch, a plan) would do nothing: refused. */
export function refuseWatchOptions(opts: Partial<PushOptions>, why: string): void {
  for (const name of ['watch', 'settle', 'settleMax', 'reconcileEvery'] as const)
    if (opts[name] !== undefined && opts[name] !== false)
      throw usageError(`${name} (${OPTIONS[name].flag}) ${why}`);
}

/**
 * Checks a run's options without a request or a write: the options table's checks, its ends, then
 * the conflicts only the command knows (a watch's dry run, a backup location that overlaps what the
 * run writes or reads, an --at time). A conflict found only as a config file's job 2 started would
 * come after job 1 had changed data.
 */
export function checkRunOptions<E extends keyof RunOptions>(entry: E, opts: RunOptions[E]): void {
  validateOptions(opts, entry);
  if (entry === 'push') {
    const o = opts as PushOptions;
    checkEnds('push', o.source, o.destination);
    // A watch sends as files change: a dry run of it would show nothing it does.
    if (o.watch && o.dryRun)
      throw usageError(
        'watch (--watch) does not take dryRun (--dry-run): a plain push with dryRun shows what it would send',
      );
    if (!o.watch) refuseWatchOptions(o, 'applies to watch (--watch) only');
    if (o.backupDir !== undefined) s3BackupTarget(o.backupDir, o.suffix, parseS3Url(o.destination));
  } else if (entry === 'pull') {
    const o = opts as PullOptions;
    checkEnds('pull', o.destination, o.source);
    resolveAt(o.at);
    if (o.backupDir !== undefined) localBackupTarget(o.backupDir, o.suffix, path.resolve(o.destination));
  } else if (entry === 'check') {
    const o = opts as CheckOptions;
    checkEnds('check', o.local, o.remote);
    resolveAt(o.at);
  } else {
    const o = opts as S3SyncOptions;
    resolveAt(o.at);
    pairTargets(o);
  }
}
