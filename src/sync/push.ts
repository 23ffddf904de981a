import { setTimeout as sleep } from 'node:timers/promises';
import { S3SyncError, usageError } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import { hashAhead } from '../local/hash-ahead.js';
import { describePath } from '../local/open-file.js';
import {
  absPath,
  holdsAnything,
  type LocalFile,
  scanDirectory,
  scanDirectoryYielding,
} from '../local/scan.js';
import { FileChangedError } from '../local/stable-read.js';
import { STATE_DIR } from '../manifest/store.js';
import { OPTIONS } from '../options/table.js';
import { checkEnds, fmtDuration, setting, validateOptions } from '../options/validate.js';
import { listingDue, type PushAction, planPush } from '../plan/push.js';
import type { Facts } from '../plan/types.js';
import { isFatal } from '../s3/errors.js';
import { enforceDeleteGuards } from './delete-guard.js';
import type { SyncResult } from './events.js';
import { applyRecords } from './facts.js';
import type { PushOptions } from './options.js';
import { retireStalePending } from './pending.js';
import { prelude } from './prelude.js';
import { TransferProgress } from './progress.js';
import { RunContext, requireDirectory } from './run-context.js';
import { uploadFile } from './upload.js';

const CHANGED_FILE_SETTLE_MS = 1000;

type Upload = Extract<PushAction, { kind: 'upload' }>;
type Delete = Extract<PushAction, { kind: 'delete' }>;

export interface PreparedPush {
  actions: PushAction[];
  /** The files to upload, by rel (not every file: a no-change run would build a huge Map for nothing). */
  files: Map<string, LocalFile>;
  /** Files in the plan. */
  fileCount: number;
  facts: Facts;
  /** Files in the source, for the empty-source delete guard. */
  sourceFiles: number;
  /** Objects at the destination, for --max-delete, when no listing counted them (a watch batch). */
  destinationFiles?: number;
  /** Files that would have been uploaded but were held back (`hold`): still being written. */
  held?: LocalFile[];
  /**
   * Where a file caught changing mid-upload goes instead of a retry in this run (a watch batch: back to
   * settle detection, which sends it once it has settled).
   */
  handBack?: (f: LocalFile) => void;
}

/** Upload a directory to s3://bucket/prefix, transferring only what changed. */
export async function push(opts: PushOptions): Promise<SyncResult> {
  // Watching runs pushes until cancelled (src/watch/); loaded only then, with its native watcher.
  if (opts.watch) return (await import('../watch/watch-loop.js')).watch(opts);
  refuseWatchOptions(opts, 'applies to --watch only');
  const s = await pushContext(opts);
  return s.run(async () => {
    const prepared = await preparePush(s, opts);
    applyRecords(s, prepared.actions, prepared.facts);
    if (opts.dryRun) reportDryRun(s, prepared.actions);
    else await executePush(s, prepared, opts);
  });
}

/** The watch's options outside a watch (a push without --watch, a plan) would do nothing: refused. */
export function refuseWatchOptions(opts: Partial<PushOptions>, why: string): void {
  for (const name of ['watch', 'settle', 'reconcileEvery'] as const)
    if (opts[name] !== undefined && opts[name] !== false) throw usageError(`${OPTIONS[name].flag} ${why}`);
}

/** A push's checked options and its run context (not yet run). */
export async function pushContext(opts: PushOptions): Promise<RunContext> {
  validateOptions(opts, 'push');
  checkEnds('push', opts.source, opts.destination);
  const root = requireDirectory(opts.source, 'source directory');
  return RunContext.create({ root, remote: opts.destination, opts, command: 'push', settings: opts });
}

/**
 * Whether this push verifies the destination: --verify, or its last complete listing is older than
 * --verify-interval (said in a notice).
 */
function verifies(s: RunContext, opts: PushOptions): boolean {
  if (opts.verify) return true;
  const interval = setting(opts, 'verifyInterval');
  const why = listingDue(s.store.listedAt, s.store.files.size, interval, Date.now());
  if (why !== undefined) {
    s.notice(
      `listing the destination for objects changed or deleted behind s3sync's back: ${why} (--verify-interval ${fmtDuration(interval)})`,
    );
  }
  return why !== undefined;
}

/**
 * Scans and plans: the planner asks for the cheapest missing facts until every file is settled. `hold`:
 * files it says are still being written are not uploaded (a watch's walk hands them to settle detection).
 */
export async function preparePush(
  s: RunContext,
  opts: PushOptions,
  hold?: (f: LocalFile) => boolean,
): Promise<PreparedPush> {
  const verify = verifies(s, opts);
  const scanOpts = {
    followSymlinks: opts.followSymlinks,
    skipDir: (rel: string) => rel === STATE_DIR || s.filter.excludesDir(rel),
    includeFile: s.selected,
    keyPrefix: s.location.prefix,
  };
  let files: LocalFile[] = [];
  let sourceFiles = 0;
  const { plan, unreadable, facts } = await prelude(s, {
    // With no manifest (a first push, a rebuild) every file needs the listing: it is asked for first,
    // and the tree is read while the server answers. Never on a run that may need no request at all.
    listing:
      s.store.files.size === 0 && s.store.adopted.size === 0 && holdsAnything(s.localRoot, STATE_DIR)
        ? 'ahead'
        : 'asked',
    scan: (yielding) =>
      yielding ? scanDirectoryYielding(s.localRoot, scanOpts) : scanDirectory(s.localRoot, scanOpts),
    notices: true,
    planning: (found) => {
      files = found.files;
      sourceFiles = files.length;
      s.result.scanned = sourceFiles;
      const input = () => ({
        files,
        manifest: s.store.files,
        racyThresholdNs: s.store.racyThresholdNs,
        facts: found.facts,
        options: {
          force: opts.incremental === false,
          verify,
          delete: opts.delete,
          remoteSelected: opts.deleteExcluded ? s.inShard : s.selected,
          adopted: s.store.adopted,
        },
      });
      return {
        plan: () => planPush(input()),
        files: () => files,
        drop: (bad) => {
          files = files.filter((f) => !bad.has(f.rel));
        },
        early: hashAhead(s, input(), opts),
      };
    },
  });

  // Manifest hygiene: entries for files that are gone (or now filtered out) describe nothing. When
  // every entry has its file (the usual case), there is nothing to look for.
  const manifest = s.store.files;
  let withEntry = 0;
  for (const f of files) if (manifest.has(f.rel)) withEntry++;
  if (withEntry !== manifest.size) {
    const present = new Set(files.map((f) => f.rel));
    for (const rel of manifest.keys()) {
      if (!present.has(rel) && !unreadable.has(rel)) s.store.forget(rel);
    }
  }
  const uploads = new Set(plan.actions.filter((a) => a.kind === 'upload').map((a) => a.rel));
  const toUpload = new Map<string, LocalFile>();
  if (uploads.size > 0) for (const f of files) if (uploads.has(f.rel)) toUpload.set(f.rel, f);
  const held = hold ? [...toUpload.values()].filter(hold) : [];
  for (const f of held) toUpload.delete(f.rel);
  return {
    actions:
      held.length > 0 ? plan.actions.filter((a) => a.kind !== 'upload' || toUpload.has(a.rel)) : plan.actions,
    files: toUpload,
    fileCount: files.length,
    facts,
    sourceFiles,
    held,
  };
}

function reportDryRun(s: RunContext, actions: PushAction[]): void {
  for (const a of actions) {
    if (a.kind !== 'upload' && a.kind !== 'delete') continue;
    s.emit({ type: 'action', action: a.kind, rel: a.rel, reason: a.reason, size: a.size, dryRun: true });
    if (a.kind === 'upload') s.result.uploaded++;
    else s.result.deleted++;
  }
}

/** Uploads, then (only after a clean run, within the guards) deletes. */
export async function executePush(s: RunContext, p: PreparedPush, opts: PushOptions): Promise<void> {
  const r = s.result;
  const uploads = p.actions.filter((a): a is Upload => a.kind === 'upload');
  const deletes = p.actions.filter((a): a is Delete => a.kind === 'delete');
  s.emit({
    type: 'plan',
    total: p.fileCount,
    transfers: uploads.length,
    bytes: uploads.reduce((n, a) => n + a.size, 0),
    deletes: deletes.length,
  });
  const cfg = {
    multipartThreshold: setting(opts, 'multipartThreshold'),
    partSize: setting(opts, 'partSize'),
  };
  // Uploads earlier runs left for files this run will not send as the same multipart upload (gone,
  // excluded, smaller now) are aborted now; the others are resumed or aborted as each file's turn comes.
  await retireStalePending(s, (rel, rec) => {
    const f = p.files.get(rel);
    return f !== undefined && f.size === rec.size && f.size >= cfg.multipartThreshold;
  });
  const changed: Upload[] = [];
  const runUpload = async (a: Upload, lastTry: boolean) => {
    const f = p.files.get(a.rel)!;
    const t = await s.s3();
    s.emit({ type: 'start', action: 'upload', rel: a.rel, size: f.size });
    const progress = new TransferProgress(f.size, (e) => s.emit(e));
    try {
      s.store.record(a.rel, await uploadFile(s, t, f, cfg, a.reason === 'new', progress));
      r.uploaded++;
      // Parts an interrupted run left on the server were not sent by this one.
      r.bytesTransferred += f.size - progress.resumedTotal;
      s.emit({ type: 'done', action: 'upload', rel: a.rel, size: f.size, reason: a.reason });
    } catch (err) {
      // Cancelled mid-upload: neither uploaded nor failed; the next run sends it.
      if (opts.signal?.aborted) return;
      if (err instanceof FileChangedError && !lastTry) changed.push(a);
      else if (err instanceof S3SyncError && isFatal(err)) throw err;
      else s.fileError(a.rel, (err as Error).message);
    }
  };
  const workers = setting(opts, 'workers');
  await forEachLimit(uploads, workers, (a) => runUpload(a, false), opts.signal);
  if (p.handBack) for (const a of changed.splice(0)) p.handBack(p.files.get(a.rel)!);
  // Files that changed mid-upload get one more try, with fresh stat data, once everything else is done
  // and after a pause: a file caught changing is usually still being written, and the server may still
  // be winding down the aborted request for the same key.
  if (changed.length > 0) await sleep(CHANGED_FILE_SETTLE_MS, undefined, { signal: opts.signal });
  const retry = changed.splice(0).filter((a) => {
    const dir = a.rel.includes('/') ? a.rel.slice(0, a.rel.lastIndexOf('/')) : '';
    const fresh = scanDirectory(s.localRoot, {
      followSymlinks: s.followsSymlinks,
      includeFile: (rel) => rel === a.rel,
      skipDir: (d) => !(dir === d || dir.startsWith(`${d}/`)),
    }).files[0];
    const was = p.files.get(a.rel)!;
    // Retried: the same file changed in place (it was being written). Another file at the path, or
    // something the scan would now skip (a link, a FIFO), is not the file planned; gone is a warning.
    if (fresh) {
      const same = fresh.dev === was.dev && fresh.ino === was.ino;
      if (same) p.files.set(a.rel, fresh);
      else s.fileError(a.rel, 'was replaced by another file (another inode): not uploaded');
      return same;
    }
    const now = describePath(absPath(s.localRoot, a.rel), s.followsSymlinks);
    if (now === 'missing') s.warn(`${a.rel}: disappeared during the run`, a.rel);
    else if (now !== 'file') s.fileError(a.rel, `is no longer a regular file (${now}): not uploaded`);
    else s.fileError(a.rel, 'changed during the run and could not be scanned again: not uploaded');
    return false;
  });
  await forEachLimit(retry, workers, (a) => runUpload(a, true), opts.signal);

  const destination =
    p.destinationFiles ??
    (p.facts.remote ? [...p.facts.remote.keys()].filter(s.selected).length : deletes.length);
  if (deletes.length > 0 && enforceDeleteGuards(s, deletes.length, destination, p.sourceFiles)) {
    const t = await s.s3();
    const failed = await t.deleteKeys(deletes.map((d) => d.key));
    for (const d of deletes) {
      const code = failed.get(d.key);
      if (code) s.fileError(d.rel, `delete failed: ${code}`);
      else {
        r.deleted++;
        s.emit({ type: 'done', action: 'delete', rel: d.rel, size: d.size, reason: d.reason });
      }
    }
  }
}
