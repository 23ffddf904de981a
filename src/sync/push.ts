import { sleep } from '../abort-listeners.js';
import { errorMessage, S3SyncError, usageError } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import { hashAhead } from '../local/hash-ahead.js';
import { whileFdsShort } from '../local/open-files.js';
import {
  holdsAnything,
  type LocalFile,
  type ScanOptions,
  scanDirectory,
  scanDirectoryYielding,
} from '../local/scan.js';
import { scanListed } from '../local/scan-listed.js';
import { FileChangedError } from '../local/stable-read.js';
import { isStateDir, STATE_DIR } from '../manifest/store.js';
import { shown } from '../options/parse.js';
import { fmtDuration, requireOptionsObject, setting } from '../options/validate.js';
import { changedElsewhere, listingDue, type PushAction, planPush } from '../plan/push.js';
import type { Facts, RemoteObject } from '../plan/types.js';
import { isFatal } from '../s3/errors.js';
import { objectSizeLimit, type ProviderQuirks } from '../s3/providers.js';
import type { S3Transport } from '../s3/transport.js';
import { formatShard } from '../shard.js';
import { checkBackupBucket, s3BackupTarget } from './backup.js';
import { CopyGate } from './copy-rename.js';
import { enforceDeleteGuards } from './delete-guard.js';
import type { ActionKind, SyncResult } from './events.js';
import { applyRecords } from './facts.js';
import { createObjectStyles, type ObjectStyles } from './object-style.js';
import type { PushOptions } from './options.js';
import { retireStalePending } from './pending.js';
import { prelude } from './prelude.js';
import { TransferProgress } from './progress.js';
import { copiedFrom, Keeper, runCopy } from './push-copies.js';
import { existsOnDisk, goneWarning, rescanned } from './push-rescan.js';
import { CopyRefused, restyleObject } from './restyle.js';
import { RunContext, type RunSetup, requireDirectory } from './run-context.js';
import { fitting, headListed, headsInstead, remoteFits } from './selection.js';
import { checkRunOptions, refuseWatchOptions } from './start-checks.js';
import { uploadFile } from './upload.js';
import { metadataOverLimit, ownMetaSized } from './upload-job.js';

const CHANGED_FILE_SETTLE_MS = 1000;

type Upload = Extract<PushAction, { kind: 'upload' }>;
type Delete = Extract<PushAction, { kind: 'delete' }>;
type Copy = Extract<PushAction, { kind: 'copy' }>;
type Restyle = Extract<PushAction, { kind: 'restyle' }>;

export interface PreparedPush {
  actions: PushAction[];
  /** The files to upload, by rel (not every file: a no-change run would build a huge Map for nothing). */
  files: Map<string, LocalFile>;
  /** Files in the plan. */
  fileCount: number;
  facts: Facts;
  /** Files in the source, for the empty-source delete guard. */
  sourceFiles: number;
  /** Per-pattern headers and compression; absent (a plan applied): none. */
  styles?: ObjectStyles;
  /** Objects at the destination, for --max-delete, when no listing counted them (a watch batch). */
  destinationFiles?: number;
  /** Files that would have been uploaded but were held back (`hold`): still being written. */
  held?: LocalFile[];
  /**
   * Where a file caught changing mid-upload goes instead of a retry in this run (a watch batch: back to
   * settle detection, which sends it once it has settled).
   */
  handBack?: (f: LocalFile) => void;
  /**
   * The actions are a reviewed plan's (apply): a file caught changing mid-upload is refused as one
   * changed before the run is, not scanned again and sent with content the plan never saw.
   */
  asPlanned?: boolean;
}

/** Upload a directory to s3://bucket/prefix, transferring only what changed. */
export async function push(opts: PushOptions): Promise<SyncResult> {
  requireOptionsObject(opts, 'push');
  checkRunOptions('push', opts);
  // Watching runs pushes until cancelled (src/watch/); loaded only then, with its native watcher.
  if (opts.watch) return (await import('../watch/watch-loop.js')).watch(opts);
  const s = await pushContext(opts);
  return s.run(async () => {
    const prepared = await preparePush(s, opts);
    applyRecords(s, prepared.actions, prepared.facts);
    if (opts.dryRun) await reportDryRun(s, prepared, opts);
    else await executePush(s, prepared, opts);
  });
}

// Plan refuses them too, with its own reason.
export { refuseWatchOptions };

/**
 * A push's run context (not yet run), its options checked by checkRunOptions (push() does, before a
 * watch starts); a watch passes what it said of its connection, and the connection its runs share.
 */
export async function pushContext(
  opts: PushOptions,
  connectionSaid?: RunSetup['connectionSaid'],
  connection?: RunSetup['connection'],
): Promise<RunContext> {
  const root = requireDirectory(opts.source, 'source directory');
  return RunContext.create({
    root,
    remote: opts.destination,
    opts,
    command: 'push',
    settings: opts,
    connectionSaid,
    connection,
  });
}

/**
 * Whether this push verifies the destination: --verify, the last run died (its stale lock taken over),
 * the manifest was copied or restored in, or its last complete listing is older than --verify-interval
 * (said in a notice).
 */
function verifies(s: RunContext, opts: PushOptions): boolean {
  if (opts.verify) return true;
  // The dead run may have overwritten objects after its last checkpoint: an entry proves nothing until
  // a listing, even on a run over a list of paths (the listing settles every entry, listed or not).
  if (s.store.lastRunUnfinished) {
    const lock = s.store.writes ? 'stale lock taken over' : 'its lock is left behind';
    s.notice(
      `the last run on this destination did not finish (${lock}): listing the destination to check what it left`,
    );
    return true;
  }
  // A manifest from a backup vouches for what the destination held then; a run over a list of paths
  // lists whole too, as its save makes the manifest look saved here again.
  const moved = s.store.movedSinceSave;
  if (moved !== undefined) {
    s.notice(`${moved}: listing the destination once to check it`);
    return true;
  }
  // Another layout's changes leave this manifest vouching for objects that are gone or hold other
  // bytes: a run over a list of paths checks those too (by HEADs, for a short list).
  const st = s.store;
  const changed = changedElsewhere(s.destination.shard, st.listedAt, st.files.size, st.changeMarks);
  if (changed !== undefined) {
    s.notice(`listing the destination before trusting the manifest: ${changed}`);
    return true;
  }
  // A run over a list of paths is there not to list the destination: the next full run verifies.
  if (s.selection.listed) return false;
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
 * A rule whose metadata, with s3sync's own at its smallest (an MD5 and a one-digit mtime), is more
 * than the provider takes fails every file it matches: a usage error before anything runs. Here, not
 * with the options: the provider is known only once the run's endpoint is.
 */
function refuseOversizedMetadata(s: RunContext, opts: PushOptions): void {
  if (s.endpoint.provider.maxMetadataBytes === undefined) return;
  const least = ownMetaSized({ size: 0, mtimeNs: '0' }, false);
  for (const rule of setting(opts, 'headers') ?? []) {
    if (!rule.metadata) continue;
    const over = metadataOverLimit({ ...rule.metadata, ...least }, s.endpoint.provider);
    if (over)
      throw usageError(
        `--header-for ${shown(rule.match)}: ${over.replace(/: not uploaded$/, '')}, on every file it matches`,
      );
  }
}

/** The destination's object size limit as the scan takes it; none where the limit is past any file. */
export function maxObjectSizeOf(p: ProviderQuirks): ScanOptions['maxObjectSize'] {
  const bytes = objectSizeLimit(p);
  return Number.isFinite(bytes) ? { bytes, store: p.title } : undefined;
}

/**
 * Scans and plans: the planner asks for the cheapest missing facts until every file is settled. `hold`:
 * files it says are still being written are not uploaded (a watch's walk hands them to settle detection).
 */
export async function preparePush(
  s: RunContext,
  opts: PushOptions,
  hold?: (f: LocalFile) => boolean,
  noticed?: Set<string>,
): Promise<PreparedPush> {
  const styles = createObjectStyles(opts);
  refuseOversizedMetadata(s, opts);
  const verify = verifies(s, opts);
  const scanOpts = {
    followSymlinks: opts.followSymlinks,
    skipDir: (rel: string) => isStateDir(rel) || s.filter.excludesDir(rel),
    includeFile: s.selected,
    own: s.isOwn,
    keyPrefix: s.location.prefix,
    // Known once the provider is: refused before a hash, not by CompleteMultipartUpload hours later.
    maxObjectSize: maxObjectSizeOf(s.endpoint.provider),
  };
  let files: LocalFile[] = [];
  // Every scanned file the path filters select, also those the size and age limits leave out; as a Set
  // only when asked (a no-change run of a large tree would build it for nothing).
  let scanned: LocalFile[] = [];
  // Listed spellings of a file stored under another (an error each, from the scan): a file is there.
  let aliases: Set<string> | undefined;
  // Listed paths the scan already spoke of (a directory, a link, an error): not said again as absent.
  let spoken: Set<string> | undefined;
  const listedScan = (paths: ReadonlySet<string>) => {
    const scan = scanListed(s.localRoot, [...paths], scanOpts);
    aliases = scan.aliases;
    spoken = new Set([...scan.notices, ...scan.errors].map((i) => i.rel));
    return scan;
  };
  let presentSet: Set<string> | undefined;
  const present = () => {
    presentSet ??= new Set(scanned.map((f) => f.rel));
    return presentSet;
  };
  let sourceFiles = 0;
  const listed = s.selection.listed;
  // A short list of paths is looked up key by key where the plan needs the destination's objects.
  const lookup =
    listed &&
    !s.store.lastRunUnfinished &&
    s.store.movedSinceSave === undefined &&
    headsInstead(listed.size, s.store.files.size)
      ? // --delete-excluded deletes the listed objects the filters leave out: they are looked up too.
        () => headListed(s, listed, opts.delete === true && opts.deleteExcluded === true)
      : undefined;
  const { plan, unreadable, facts } = await prelude(s, {
    // With no manifest (a first push, a rebuild) every file needs the listing: it is asked for first,
    // and the tree is read while the server answers. Never on a run that may need no request at all.
    listing:
      !lookup &&
      s.store.files.size === 0 &&
      s.store.adopted.size === 0 &&
      holdsAnything(s.localRoot, STATE_DIR)
        ? 'ahead'
        : 'asked',
    // A list of paths: those are stat'ed, and no directory is read.
    scan: (yielding) =>
      listed
        ? listedScan(listed)
        : yielding
          ? scanDirectoryYielding(s.localRoot, scanOpts)
          : scanDirectory(s.localRoot, scanOpts),
    notices: noticed ?? true,
    fileGlobs: styles,
    planning: (found) => {
      scanned = found.files;
      files = fitting(s.selection, scanned);
      sourceFiles = files.length;
      // Each path the scan could not read is one of the files, the one that failed: the counts add up.
      s.result.scanned = sourceFiles + found.scanErrors;
      const input = () => ({
        files,
        folders: found.folders,
        manifest: s.store.files,
        vanished: s.store.vanished,
        racyThresholdNs: s.store.racyThresholdNs,
        facts: found.facts,
        options: {
          force: opts.incremental === false,
          verify,
          delete: opts.delete,
          // Never deleted: an object whose path has a local file, left out by the size or age limits
          // (it is not "gone"), nor one the limits leave out; unless --delete-excluded. Never one not listed,
          // nor one listed in another spelling of a local file. s3sync's own names are no filter's to
          // lift: pull never deletes its local `.s3syncignore`, so push keeps the remote one too.
          remoteSelected: opts.deleteExcluded
            ? (rel: string) =>
                !s.isOwn(rel) &&
                s.inShard(rel) &&
                (listed === undefined || listed.has(rel)) &&
                !aliases?.has(rel)
            : (rel: string, r: RemoteObject) =>
                s.selected(rel) && !present().has(rel) && !aliases?.has(rel) && remoteFits(s.selection, r),
          excluded: opts.deleteExcluded
            ? (rel: string, r: RemoteObject) => !s.selected(rel) || !remoteFits(s.selection, r)
            : undefined,
          adopted: s.store.adopted,
          trackRenames: setting(opts, 'trackRenames'),
          keyPrefix: s.location.prefix,
          ...styles.plan,
        },
      });
      return {
        plan: () => planPush(input()),
        files: () => files,
        drop: (bad) => {
          files = files.filter((f) => !bad.has(f.rel));
        },
        early: { ...hashAhead(s, input(), opts), lookup },
      };
    },
  });
  // Objects --delete keeps as no file can stand for them (the planner's rule, keys.ts): said once each.
  for (const k of plan.kept ?? []) s.notice(`${k.key}: ${k.reason}: kept`, k.rel);
  // Said, not silent: a folder not mounted or misspelt pushes nothing with exit 0. With --delete the
  // empty-source guard speaks instead; a watch waits for files; an error already says why.
  const deletes = opts.delete && plan.actions.some((a) => a.kind === 'delete');
  if (files.length === 0 && !listed && !deletes && hold === undefined && s.result.failed === 0) {
    const why = s.filter.active || s.selection.sizeAge.active ? ' is selected by the filters' : '';
    const shard = s.shard === undefined ? '' : ` is in shard ${formatShard(s.shard)}`;
    s.notice(`nothing to push: no file under ${s.localRoot}${why || shard}`);
  }
  // Listed paths with no file, and no --delete to act on that: said once, as a misspelt path would
  // otherwise send nothing with exit 0 (rsync stops on it; a path deleted since is as likely).
  if (listed && !opts.delete && hold === undefined) {
    const none = [...listed].filter((rel) => s.selected(rel) && !present().has(rel) && !spoken?.has(rel));
    if (none.length > 0)
      s.notice(
        `${none.length} listed path(s) have no file under ${s.localRoot}, nothing sent for them (first: ${none[0]}); with --delete their objects would be deleted`,
      );
  }

  // Manifest hygiene: entries for files that are gone describe nothing. When every entry has its file
  // (the usual case), there is nothing to look for. A run over a list of paths knows nothing of the
  // others. Files the size or age limits leave out are still there, and so are those the filters leave
  // out: their entries are kept, as their objects are, so a later run without the filter still knows
  // what it stored there (its headers, its encoding) instead of taking it from a listing. Nor those
  // whose object this run deletes: forgotten once it is, so a run stopped or refused before keeps the
  // entry of an object still there (the only word for a key pull never writes, see withDeletes). Its
  // object stays, so the store keeps that word for the key apart from the entries (`vanish`).
  const manifest = s.store.files;
  const known = listed ? [...listed].filter((rel) => manifest.has(rel)) : undefined;
  let withEntry = 0;
  for (const f of scanned) if (manifest.has(f.rel)) withEntry++;
  if (withEntry !== (known?.length ?? manifest.size)) {
    const deleting = new Set(plan.actions.filter((a) => a.kind === 'delete').map((a) => a.rel));
    for (const rel of known ?? manifest.keys()) {
      if (!present().has(rel) && !unreadable.has(rel) && !deleting.has(rel) && s.selected(rel))
        s.store.vanish(rel);
    }
  }
  const uploads = new Set(
    plan.actions
      .filter((a) => a.kind === 'upload' || a.kind === 'copy' || a.kind === 'restyle')
      .map((a) => a.rel),
  );
  const toUpload = new Map<string, LocalFile>();
  if (uploads.size > 0) for (const f of files) if (uploads.has(f.rel)) toUpload.set(f.rel, f);
  const held = hold ? [...toUpload.values()].filter(hold) : [];
  for (const f of held) toUpload.delete(f.rel);
  // Every action that reads a held file waits with it (a copy for a renamed one, too): none runs without it.
  const waits = new Set(held.map((f) => f.rel));
  return {
    actions: held.length > 0 ? plan.actions.filter((a) => !waits.has(a.rel)) : plan.actions,
    files: toUpload,
    fileCount: files.length,
    facts,
    sourceFiles,
    styles,
    held,
  };
}

/** What the run would do, deletions last behind the same guards: a refusal is the real run's refusal. */
async function reportDryRun(s: RunContext, p: PreparedPush, opts: PushOptions): Promise<void> {
  // Cancelled, it reports no more: what follows is what a cancelled run did not do.
  const report = (a: { kind: ActionKind; rel: string; reason: string; size: number }, reason = a.reason) => {
    opts.signal?.throwIfAborted();
    s.emit({ type: 'action', action: a.kind, rel: a.rel, reason, size: a.size, dryRun: true });
  };
  for (const a of p.actions) {
    if (a.kind === 'copy') {
      report(a, copiedFrom(a));
      s.result.copied++;
    } else if (a.kind === 'upload') {
      report(a);
      s.result.uploaded++;
    } else if (a.kind === 'restyle') {
      report(a);
      s.result.restyled++;
    }
  }
  // What the real run keeps under --backup-dir first: an object overwritten, then the deletions.
  const backup =
    opts.backupDir === undefined ? undefined : s3BackupTarget(opts.backupDir, opts.suffix, s.location);
  const overwrites = p.actions.some((a) => (a.kind === 'upload' || a.kind === 'copy') && a.reason !== 'new');
  if (backup && overwrites) await checkBackupBucket(await s.s3(), backup);
  const deletes = p.actions.filter((a) => a.kind === 'delete');
  if (deletes.length === 0) return;
  if (!enforceDeleteGuards(s, deletes.length, destinationCount(s, p, deletes.length), p.sourceFiles)) return;
  if (backup && !overwrites) await checkBackupBucket(await s.s3(), backup);
  for (const a of deletes) {
    report(a);
    s.result.deleted++;
  }
}

/** Objects at the destination for --max-delete: counted by the listing, else told, else the deletions. */
const destinationCount = (s: RunContext, p: PreparedPush, deletes: number): number =>
  p.destinationFiles ?? (p.facts.remote ? [...p.facts.remote.keys()].filter(s.selected).length : deletes);

const asUpload = (a: Restyle): Upload => ({
  kind: 'upload',
  rel: a.rel,
  reason: 'headers-changed',
  size: a.size,
});

/**
 * Uploads, then header copies, then (only after a clean run, within the guards) deletes, between the
 * two writes of this layout's change mark, so that the other layouts' runs (another shard count, the
 * whole tree) list before trusting their manifests: an object this run overwrote is one their entries
 * may still vouch for. The first write failing stops no upload (warned of) but every delete; the
 * second failing leaves the mark saying the changes go on, which costs the other layouts a listing
 * each, never an object, and is warned of. Interrupted, the mark stays so: a request sent may yet
 * land, and this layout's next run ends it. A run with nothing to change writes no mark.
 */
export async function executePush(s: RunContext, p: PreparedPush, opts: PushOptions): Promise<void> {
  await changePush(s, p, opts);
  if (opts.signal?.aborted) return;
  try {
    s.store.endChanges();
  } catch (err) {
    s.warn(
      `${errorMessage(err)}; the other layouts' runs of this destination list until this one's next run`,
    );
  }
}

async function changePush(s: RunContext, p: PreparedPush, opts: PushOptions): Promise<void> {
  const r = s.result;
  const styles = p.styles ?? createObjectStyles(opts);
  const restyles = p.actions.filter((a): a is Restyle => a.kind === 'restyle');
  // A library pass-through sets fields no copy carries: its objects get new headers by an upload.
  const uploads = p.actions
    .filter((a): a is Upload => a.kind === 'upload')
    .concat(styles.passThrough ? restyles.splice(0).map(asUpload) : []);
  // A pass-through that refuses a file (a field s3sync sets) is a usage error before the first upload.
  if (styles.passThrough) for (const a of uploads) styles.headersFor(p.files.get(a.rel)!, '');
  const deletes = p.actions.filter((a): a is Delete => a.kind === 'delete');
  const copies = p.actions.filter((a): a is Copy => a.kind === 'copy');
  const keeper =
    opts.backupDir === undefined
      ? undefined
      : new Keeper(s, s3BackupTarget(opts.backupDir, opts.suffix, s.location), p.facts);
  s.emit({
    type: 'plan',
    total: p.fileCount,
    transfers: uploads.length + copies.length,
    bytes: uploads.reduce((n, a) => n + a.size, 0),
    deletes: deletes.length,
  });
  const cfg = {
    multipartThreshold: setting(opts, 'multipartThreshold'),
    partSize: setting(opts, 'partSize'),
    styles,
  };
  // Uploads earlier runs left for files this run will not send as the same multipart upload (gone,
  // excluded, smaller now, compressed now: one PUT) are aborted now; the others are resumed or aborted
  // as each file's turn comes.
  await retireStalePending(s, (rel, rec) => {
    const f = p.files.get(rel);
    return (
      f !== undefined && f.size === rec.size && f.size >= cfg.multipartThreshold && !styles.compressed(rel)
    );
  });
  // Before the first request that writes a key: copies, uploads and restyles (deletes mark their own).
  if (uploads.length + copies.length + restyles.length > 0) markWrites(s);
  const changed: Upload[] = [];
  const runUpload = async (a: Upload, lastTry: boolean) => {
    const f = p.files.get(a.rel)!;
    const t = await s.s3();
    // The object this upload overwrites is kept first (--backup-dir), or the file is not uploaded.
    if (a.reason !== 'new' && keeper && !(await keeper.beforeChange(t, a.rel))) return;
    s.emit({ type: 'start', action: 'upload', rel: a.rel, size: f.size });
    const progress = new TransferProgress(f.size, (e) => s.emit(e));
    try {
      // Descriptors short for a moment: the file waits for some to close rather than failing.
      const entry = await whileFdsShort(() => uploadFile(s, t, f, cfg, a.reason === 'new', progress), {
        limit: s.fds?.limit,
        signal: opts.signal,
      });
      s.store.record(a.rel, entry);
      r.uploaded++;
      // Parts an interrupted run left on the server were not sent by this one; a compressed file
      // (--compress) sent its stored bytes, not its own.
      r.bytesTransferred += (entry.stored ?? f.size) - progress.resumedTotal;
      s.emit({ type: 'done', action: 'upload', rel: a.rel, size: f.size, reason: a.reason });
    } catch (err) {
      // Cancelled mid-upload: neither uploaded nor failed; the next run sends it.
      if (opts.signal?.aborted) return;
      if (err instanceof FileChangedError && p.asPlanned)
        s.fileError(a.rel, 'refused: the local file changed since the plan was made');
      else if (err instanceof FileChangedError && !lastTry) changed.push(a);
      else if (err instanceof FileChangedError && !existsOnDisk(s, a.rel)) goneWarning(s, a.rel);
      else if (err instanceof S3SyncError && isFatal(err)) throw err;
      else s.fileError(a.rel, (err as Error).message);
    }
  };
  const workers = setting(opts, 'workers');
  const gate = new CopyGate();
  await forEachLimit(
    copies,
    workers,
    async (a) => {
      const fallback = await runCopy(s, { a, f: p.files.get(a.rel)!, gate, keeper, styles });
      // Renamed files a copy could not create are uploaded with the others.
      if (fallback) uploads.push(fallback);
    },
    opts.signal,
  );
  // Jobs run as the request limit allows, which may grow during the run (see AdaptiveLimiter).
  const limiter = uploads.length > 0 ? (await s.s3()).limiter : undefined;
  const lanes = limiter ? limiter.max : 0;
  const slots = limiter?.follower();
  const inSlot = (a: Upload, lastTry: boolean) =>
    slots ? slots.run(() => runUpload(a, lastTry), opts.signal) : runUpload(a, lastTry);
  await forEachLimit(uploads, lanes, (a) => inSlot(a, false), opts.signal);
  if (p.handBack) for (const a of changed.splice(0)) p.handBack(p.files.get(a.rel)!);
  // Files that changed mid-upload get one more try, with fresh stat data, once everything else is done
  // and after a pause: a file caught changing is usually still being written, and the server may still
  // be winding down the aborted request for the same key.
  if (changed.length > 0) await sleep(CHANGED_FILE_SETTLE_MS, opts.signal);
  const retry = changed.splice(0).filter((a) => rescanned(s, p.files, a.rel));
  await forEachLimit(retry, lanes, (a) => inSlot(a, true), opts.signal);
  await forEachLimit(
    restyles,
    workers,
    async (a) => {
      const t = await s.s3();
      const f = p.files.get(a.rel)!;
      s.emit({ type: 'start', action: 'restyle', rel: a.rel, size: 0 });
      try {
        await restyleObject(s, t, a, { f, styles, facts: p.facts });
        r.restyled++;
        s.emit({ type: 'done', action: 'restyle', rel: a.rel, size: 0, reason: a.reason });
      } catch (err) {
        if (opts.signal?.aborted) return;
        // A store without server-side copy: the same bytes are sent again, with the new headers.
        if (err instanceof CopyRefused) await runUpload(asUpload(a), true);
        else if (err instanceof S3SyncError && isFatal(err)) throw err;
        else s.fileError(a.rel, (err as Error).message);
      }
    },
    opts.signal,
  );

  if (
    deletes.length > 0 &&
    enforceDeleteGuards(s, deletes.length, destinationCount(s, p, deletes.length), p.sourceFiles)
  ) {
    const t = await s.s3();
    const kept = keeper ? await keeper.deleted(t, deletes, setting(opts, 'workers')) : deletes;
    const byKey = new Map(kept.map((d) => [d.key, d]));
    if (byKey.size > 0) await deleteMarked(s, t, byKey);
  }
}

/**
 * Marks the writes about to start (see executePush). A mark that cannot be written (a full disk beside
 * the manifest) does not hold the files back: getting them to the destination matters more than telling
 * the other layouts, which is warned of. Deletes still wait for their mark (deleteMarked).
 */
function markWrites(s: RunContext): void {
  try {
    s.store.beginChanges();
  } catch (err) {
    s.warn(
      `${errorMessage(err)}; the uploads go on, and the other layouts of this destination learn of them at their next --verify-interval listing`,
    );
  }
}

/** Deletes the keys, this layout's change mark saying so first (see executePush). */
async function deleteMarked(s: RunContext, t: S3Transport, byKey: Map<string, Delete>): Promise<void> {
  const r = s.result;
  s.store.beginChanges();
  // Counted batch by batch: a run cancelled before the last still says what it deleted.
  await t.deleteKeys([...byKey.keys()], (keys, failed) => {
    for (const key of keys) {
      const d = byKey.get(key)!;
      const code = failed.get(key);
      if (code) s.fileError(d.rel, `delete failed: ${code}`);
      else {
        // No entry may vouch for an object that is gone (an applied plan did not forget it earlier).
        s.store.forget(d.rel);
        r.deleted++;
        s.emit({ type: 'done', action: 'delete', rel: d.rel, size: d.size, reason: d.reason });
      }
    }
  });
}
