import { type BigIntStats, existsSync, lstatSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { S3SyncError, usageError } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import { FOREIGN_TMP, FOREIGN_TMP_SUFFIX, PathRefused, TargetTree } from '../local/confine.js';
import { ignoresCase, keptSpelling } from '../local/ignores-case.js';
import { makeDirs } from '../local/make-dirs.js';
import { whileFdsShort } from '../local/open-files.js';
import { type LocalFile, type SameFolder, type StatData, scanDirectoryYielding } from '../local/scan.js';
import { scanListed } from '../local/scan-listed.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { inStateDir, isStateDir, STATE_DIR, tmpFolderName } from '../manifest/store.js';
import { setting } from '../options/validate.js';
import { folderCaseClashes, isFolderMarker, otherFolderSpelling } from '../plan/keys.js';
import { downloadsAfterDeletes, type PullAction, planPull } from '../plan/pull.js';
import type { Facts, RemoteObject } from '../plan/types.js';
import { isFatal } from '../s3/errors.js';
import { resolveAt } from './at-time.js';
import { BackupFailed, backupLocalFile, type LocalBackup, localBackupTarget } from './backup-local.js';
import { enforceDeleteGuards, skipped, sourceFilesOf } from './delete-guard.js';
import {
  DiskFullError,
  diskFullOr,
  downloadObject,
  unverifiedDownloads,
  wholeFallbacks,
} from './download.js';
import { resumeName } from './download-resume.js';
import { DurableBatch, dirsUpTo, type Unflushed } from './durable-batch.js';
import type { SyncResult } from './events.js';
import { applyRecords } from './facts.js';
import type { PullOptions } from './options.js';
import { retireStalePending } from './pending.js';
import { prelude } from './prelude.js';
import { TransferProgress } from './progress.js';
import { RunContext } from './run-context.js';
import { headListed, headsInstead, localFits, remoteFits } from './selection.js';
import { checkRunOptions } from './start-checks.js';

export interface PreparedPull {
  actions: PullAction[];
  remote: Map<string, RemoteObject>;
  local: Map<string, LocalFile>;
  /**
   * What was at each path to write or delete when the run read the tree (the scan; an applied plan's
   * look at its paths): a path it lacks had no file. A download or delete acts only on that file.
   */
  found: ReadonlyMap<string, StatData>;
  /**
   * An applied plan's run: a file written to in place since it was looked at is not replaced nor
   * deleted (the plan was reviewed as the files were), where a pull acts on the file the scan found.
   */
  asPlanned?: boolean;
  facts: Facts;
  /** Temp files a killed run left beside their files (FOREIGN_TMP), as the scan found them. */
  leftovers?: readonly string[];
}

/** Download what changed under s3://bucket/prefix into a directory (created if missing). */
export async function pull(opts: PullOptions): Promise<SyncResult> {
  // Before anything is written: a bad TIME or backup location leaves no directory behind.
  checkRunOptions('pull', opts);
  const at = resolveAt(opts.at);
  const root = path.resolve(opts.destination);
  const made = missingDirs(path.join(root, STATE_DIR));
  try {
    if (statSync(root, { throwIfNoEntry: false })?.isDirectory() === false)
      throw usageError(`destination '${opts.destination}' exists and is not a directory`);
    if (!opts.dryRun) makeDirs(root);
  } catch (err) {
    if (err instanceof S3SyncError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw usageError(`cannot create destination directory '${opts.destination}' (${code})`);
  }
  if (!opts.dryRun) {
    refuseLinkedStateDir(root);
  }
  try {
    const s = await RunContext.create({ root, remote: opts.source, opts, command: 'pull', at });
    return await s.run(async () => {
      const prepared = await preparePull(s, opts);
      if (opts.dryRun) reportDryRun(s, prepared, opts);
      else await executePull(s, prepared, opts);
    });
  } finally {
    // A run that wrote nothing (a missing bucket, no credentials) leaves no empty folder it made.
    for (const dir of made) {
      try {
        rmdirSync(dir);
      } catch (err) {
        // Not empty: it holds what the run kept (a manifest, a file), and so does each folder above.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') break;
      }
    }
  }
}

/** The folders from `dir` up that do not exist yet, deepest first. */
function missingDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; !existsSync(d) && path.dirname(d) !== d; d = path.dirname(d)) out.push(d);
  return out;
}

/**
 * The manifest, its lock and the temp files live in DIR/.s3sync: a link planted there would have them
 * written wherever it points, so the run does not start.
 */
function refuseLinkedStateDir(root: string): void {
  const dir = path.join(root, STATE_DIR);
  if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink())
    throw usageError(`${dir} is a symbolic link: refusing to write s3sync's state through it (remove it)`);
}

/** A temp file beside its file that another destination's run named is left until idle this long. */
const LEFTOVER_IDLE_MS = 3_600_000;

/** Every path pull writes or deletes goes through this: see TargetTree. */
const targetTree = (s: RunContext, opts: PullOptions) =>
  new TargetTree(s.localRoot, {
    followSymlinks: opts.followSymlinks,
    isOwn: s.isOwn,
    // Each run removes its temp folder as it ends: another destination's (or shard's) is in its own.
    tmpName: tmpFolderName(s.destination),
  });

/** Lists, scans and plans; settles every file with the least hashing. */
export async function preparePull(s: RunContext, opts: PullOptions): Promise<PreparedPull> {
  // With --delete-excluded the local side is scanned whole: excluded files are candidates for deletion.
  const wholeTree = opts.delete && opts.deleteExcluded;
  const listed = s.selection.listed;
  const inList = (rel: string) => listed === undefined || listed.has(rel);
  let remote = new Map<string, RemoteObject>();
  // Every object listed or looked up, the size and age limits aside (what is there at all).
  let objects: ReadonlyMap<string, RemoteObject> | undefined;
  let local = new Map<string, LocalFile>();
  // Listed spellings of a file stored under another (reported by the scan): their objects are not
  // written, as the walk, which finds the stored name only, would refuse them.
  let aliases: Set<string> | undefined;
  // With --follow-symlinks: the tree that writes go through, and the links the scan went through.
  let tree: TargetTree | undefined;
  const followed: string[] = [];
  // Folders of the target that are one folder under two names (bind mounts): nothing is written there.
  let twins: ReadonlyMap<string, string> | undefined;
  const leftovers: string[] = [];
  let scanUnreadable: ReadonlySet<string> = new Set();
  const { plan, facts, failed } = await prelude(s, {
    // The listing goes out first; the destination is read while the server answers. A short list of
    // paths is looked up key by key instead.
    listing:
      listed && headsInstead(listed.size, s.store.files.size)
        ? { fetch: () => headListed(s, listed) }
        : { keep: s.selected },
    scan: async () => {
      if (!existsSync(s.localRoot)) return { files: [], errors: [], notices: [] };
      const links = opts.followSymlinks ? targetTree(s, opts) : undefined;
      tree = links;
      const scanOpts = {
        skipDir: (rel: string) => isStateDir(rel) || (!wholeTree && s.filter.excludesDir(rel)),
        includeFile: (rel: string) => {
          if (rel.endsWith(FOREIGN_TMP_SUFFIX) && FOREIGN_TMP.test(rel)) {
            leftovers.push(rel);
            return false;
          }
          return wholeTree ? !s.isOwn(rel) && s.inShard(rel) && inList(rel) : s.selected(rel);
        },
        own: s.isOwn,
        // What pull would write through (see TargetTree) is what it reads: links inside the target only.
        followSymlinks: opts.followSymlinks,
        followLink: links
          ? (abs: string, rel: string) => {
              const why = links.linkReason(abs, rel);
              if (why === null) followed.push(rel);
              return why;
            }
          : undefined,
      };
      // A list of paths: those are stat'ed, and no directory is read.
      if (!listed) {
        const scan = await scanDirectoryYielding(s.localRoot, scanOpts);
        twins = folderTwins(scan.sameFolders);
        return scan;
      }
      const scan = scanListed(s.localRoot, [...listed], scanOpts);
      aliases = scan.aliases;
      return scan;
    },
    notices: false,
    planning: (found) => {
      // The objects the size and age limits select are pulled; the others are still there, so the
      // local files at their paths are not deleted (unless --delete-excluded).
      const listing = found.remote!;
      objects = listing;
      remote =
        s.selection.sizeAge.active || aliases
          ? new Map([...listing].filter(([rel, r]) => remoteFits(s.selection, r) && !aliases?.has(rel)))
          : listing;
      local = new Map(found.files.map((f) => [f.rel, f]));
      caseRenamed(s.localRoot, local, remote, s.store.files);
      scanUnreadable = found.unreadable;
      // The files: the listed objects but folder markers (folders, no file's), and each local path the
      // scan could not read, as a file that failed (once only with an object it keeps back, below).
      s.result.scanned = found.scanErrors;
      for (const rel of remote.keys()) if (!isFolderMarker(rel)) s.result.scanned++;
      const input = () => ({
        remote,
        local,
        manifest: s.store.files,
        racyThresholdNs: s.store.racyThresholdNs,
        facts: found.facts,
        options: {
          force: opts.incremental === false,
          delete: opts.delete,
          // A local file the limits leave out is not deleted, unless --delete-excluded; an unlisted never.
          localSelected: opts.deleteExcluded
            ? (rel: string) => s.inShard(rel) && inList(rel)
            : (rel: string) =>
                s.selected(rel) && !listing.has(rel) && localFits(s.selection, local.get(rel)!),
          excluded: opts.deleteExcluded
            ? (rel: string) => !s.selected(rel) || !localFits(s.selection, local.get(rel)!)
            : undefined,
        },
      });
      return {
        plan: () => planPull(input()),
        files: () => local.values(),
        drop: (bad) => {
          for (const rel of bad) local.delete(rel);
        },
      };
    },
  });
  // Folder markers holding bytes: data no file name can take (the planner's rule, keys.ts).
  for (const k of plan.kept ?? []) s.notice(`${k.key}: ${k.reason}: skipped`, k.rel);
  // Said, not silent: a misspelt prefix or a time before the first version pulls nothing with exit 0;
  // folder markers alone ("Create folder") are nothing to pull either.
  if (!listed && sourceFilesOf(remote.keys()) === 0)
    s.notice(
      `nothing to pull: ${remote.size === 0 ? 'no object' : 'only folder markers'} under s3://${s.location.bucket}/${s.location.prefix}${s.at === undefined ? '' : ` at ${new Date(s.at.ms).toISOString()}`}${s.filter.active || s.selection.sizeAge.active ? ` ${remote.size === 0 ? 'is' : 'are'} selected by the filters` : ''}`,
    );
  // As push says it: listed paths with no object, and no --delete to act on that (a misspelt path).
  if (listed && !opts.delete) {
    const none = [...listed].filter((rel) => s.selected(rel) && !objects?.has(rel));
    if (none.length > 0)
      s.notice(
        `${none.length} listed path(s) have no object under s3://${s.location.bucket}/${s.location.prefix}, nothing fetched for them (first: ${none[0]}); with --delete their files would be deleted`,
      );
  }
  const shared =
    tree && followed.length > 0 ? sharedEntries(tree, followed, plan.actions, remote) : undefined;
  for (const a of plan.actions) {
    // By its path under the prefix, as every other event names a file (the reasons quote such paths).
    if (a.kind === 'reject') s.fileError(a.rel, `unsafe object key, not written: ${a.reason}`);
    // One line each, counted as a file that failed: the local tree is not a full copy (see notes).
    if (a.kind === 'archived') s.fileError(a.rel, a.reason);
    const other = shared?.get(a.rel);
    if (other?.differs)
      s.fileError(
        a.rel,
        `not written: the same file as ${JSON.stringify(other.rel)} (reached through a followed link)`,
      );
  }
  const twinOf = twins && twins.size > 0 ? (rel: string) => underTwin(rel, twins!) : undefined;
  const atTwin = new Set<string>();
  if (twinOf)
    for (const a of plan.actions) {
      if (a.kind !== 'download' && a.kind !== 'delete') continue;
      const why = twinOf(a.rel);
      if (why === undefined) continue;
      s.fileError(a.rel, `${a.kind === 'delete' ? 'not deleted' : 'not written'}: ${why}`);
      atTwin.add(a.rel);
    }
  // Folders spelt two ways but for case are one folder where case is ignored: one spelling's keys would
  // be written into the other's, recorded under a name no file has, refused on every later pull.
  const clashes = folderCaseClashes(remote.keys());
  const otherCase = new Set<string>();
  if (clashes.size > 0 && ignoresCase(s.localRoot)) {
    const kept = keptSpelling(s.localRoot);
    for (const a of plan.actions) {
      if (a.kind !== 'download') continue;
      const other = otherFolderSpelling(a.rel, clashes, kept);
      if (other === undefined) continue;
      s.fileError(
        a.rel,
        `not written: its folder '${other.folder}' is the folder '${other.kept}' of other keys here (the file system ignores case)`,
      );
      otherCase.add(a.rel);
    }
  }
  // A file the scan or a hash could not read is reported as that: not downloaded over, as a file
  // that was never there would be. A path the scan found a file at is that file's: a name not valid
  // UTF-8 reads as the valid one beside it, which is pulled as any other (never the invalid one).
  const notRead = (rel: string) => failed.has(rel) && !local.has(rel);
  const kept = plan.actions.filter(
    (a) =>
      a.kind !== 'reject' &&
      a.kind !== 'archived' &&
      !(a.kind === 'download' && (shared?.has(a.rel) || notRead(a.rel))) &&
      !atTwin.has(a.rel) &&
      !otherCase.has(a.rel),
  );
  // An object held back by a local path the scan could not read is counted once, as that path.
  for (const a of plan.actions)
    if (a.kind === 'download' && notRead(a.rel) && scanUnreadable.has(a.rel)) s.result.scanned--;
  return { actions: kept, remote, local, found: local, facts, leftovers };
}

type PullDownload = Extract<PullAction, { kind: 'download' }>;

/**
 * A rename by case upstream, on a filesystem that ignores case: the file s3sync pulled as `docs/a.txt`
 * (the manifest records it as it is) is the file of the key `Docs/a.txt` when no key names the one and
 * no file was found for the other, and the key's spelling reaches that file. Re-keyed, it is compared
 * with that object as its own file: at most a download over it, where it was a deletion and a refused
 * download on every pull. A file s3sync did not write keeps its refusal (never replaced under another
 * case); where case counts, the other spelling is not there and nothing changes.
 */
export function caseRenamed(
  root: string,
  local: Map<string, LocalFile>,
  remote: ReadonlyMap<string, unknown>,
  manifest: ReadonlyMap<string, ManifestEntry>,
): void {
  const unmatched = new Map<string, string | null>();
  for (const rel of local.keys()) {
    if (remote.has(rel)) continue;
    const folded = rel.toLowerCase();
    // Two local files of one spelling: case counts here, nothing to re-key.
    unmatched.set(folded, unmatched.has(folded) ? null : rel);
  }
  if (unmatched.size === 0) return;
  for (const key of remote.keys()) {
    if (local.has(key)) continue;
    const rel = unmatched.get(key.toLowerCase());
    if (rel === undefined || rel === null) continue;
    // Recorded under either spelling: a file s3sync never had is not taken for the key's (its content,
    // changed or not, is compared as any pulled file's is).
    if (!manifest.has(key) && !manifest.has(rel)) continue;
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(path.join(root, key), { bigint: true, throwIfNoEntry: false });
    } catch {
      continue;
    }
    const f = local.get(rel)!;
    if (!st?.isFile() || String(st.dev) !== f.dev) continue;
    // exFAT through FUSE numbers each spelling apart: there, a file's own name unlisted in its folder
    // shows the lookup found the local file. A folder's spelling is not trusted so: files reached
    // through it get new numbers on each lookup, so every later check would fail.
    const sameFolder = rel.slice(0, rel.lastIndexOf('/') + 1) === key.slice(0, key.lastIndexOf('/') + 1);
    if (String(st.ino) !== f.ino && !(sameFolder && nameUnlisted(root, key))) continue;
    local.delete(rel);
    // As the key's spelling finds it: each check of the file from here on looks it up that way.
    local.set(key, { ...f, rel: key, ino: String(st.ino) });
    unmatched.delete(key.toLowerCase());
  }
}

/** Whether `key`'s own name is missing from its folder's listing (a lookup found another spelling). */
function nameUnlisted(root: string, key: string): boolean {
  const slash = key.lastIndexOf('/');
  try {
    return !readdirSync(path.join(root, key.slice(0, slash + 1))).includes(key.slice(slash + 1));
  } catch {
    return false;
  }
}

/**
 * Each name of a folder found twice by the scan (a bind mount), with why nothing under it is written or
 * deleted: a file there is also the file under the other name, so writing one key would replace the
 * other's file, and deleting it would delete a file kept. A loop's second name only: the first is the
 * tree itself.
 */
function folderTwins(found: readonly SameFolder[] | undefined): Map<string, string> | undefined {
  if (!found || found.length === 0) return undefined;
  const twins = new Map<string, string>();
  const shown = (rel: string) => (rel === '' ? 'the root' : `'${rel}'`);
  for (const f of found) {
    // In name order: the walk's order is the filesystem's, and the same tree must read the same.
    const why = f.loop
      ? `${shown(f.rel)} is the same folder as ${shown(f.first)} (a bind mount)`
      : `${[f.first, f.rel].sort().map(shown).join(' and ')} are one folder (a bind mount)`;
    twins.set(f.rel, why);
    if (!f.loop) twins.set(f.first, why);
  }
  return twins;
}

/** Why `rel` lies in a folder of `twins`, or undefined. */
function underTwin(rel: string, twins: ReadonlyMap<string, string>): string | undefined {
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
    const why = twins.get(rel.slice(0, i));
    if (why !== undefined) return why;
  }
  return undefined;
}

/**
 * Downloads that would go through a followed link into the file of another key (`link/x`, where `link`
 * leads to `real`, and `real/x` is an object too), each with that key and whether their objects differ:
 * written, each would replace the other's file, and every later pull would swap them. The key the file
 * is stored under keeps it; where only keys through links reach it, the first listed.
 */
function sharedEntries(
  tree: TargetTree,
  followed: readonly string[],
  actions: readonly PullAction[],
  remote: ReadonlyMap<string, RemoteObject>,
): Map<string, { rel: string; differs: boolean }> {
  const links = new Set(followed);
  const throughLink = (rel: string) => {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1))
      if (links.has(rel.slice(0, i))) return true;
    return false;
  };
  // Each entry reached through a link, with the key that keeps it.
  const keeper = new Map<string, string>();
  const entryOf = new Map<string, string>();
  for (const rel of remote.keys()) {
    if (!throughLink(rel)) continue;
    const entry = tree.entryOf(rel);
    if (entry === undefined || entry === rel) continue;
    entryOf.set(rel, entry);
    if (!keeper.has(entry)) keeper.set(entry, remote.has(entry) ? entry : rel);
  }
  const shared = new Map<string, { rel: string; differs: boolean }>();
  for (const a of actions) {
    if (a.kind !== 'download') continue;
    const entry = entryOf.get(a.rel);
    const other = entry === undefined ? undefined : keeper.get(entry);
    if (other === undefined || other === a.rel) continue;
    const [mine, theirs] = [remote.get(a.rel), remote.get(other)];
    shared.set(a.rel, { rel: other, differs: mine?.etag !== theirs?.etag || mine?.size !== theirs?.size });
  }
  return shared;
}

/**
 * Why the tree as it is now refuses a download (a folder at its name, a file or link where its folder
 * goes), for a dry run or a plan: the real run fails such a file every time. Nothing is made.
 */
export function downloadRefusal(s: RunContext, opts: PullOptions): (rel: string) => string | null {
  const tree = existsSync(s.localRoot) ? targetTree(s, opts) : undefined;
  return (rel) => tree?.writeRefusal(rel) ?? null;
}

/**
 * What the run would do, deletions last behind the same guards: a refusal is the real run's refusal,
 * which comes after its downloads, so those are listed first (as push lists its uploads).
 */
function reportDryRun(s: RunContext, p: PreparedPull, opts: PullOptions): void {
  // Cancelled, it reports no more: what follows is what a cancelled run did not do.
  const report = (a: { kind: 'download' | 'delete'; rel: string; reason: string; size: number }) => {
    opts.signal?.throwIfAborted();
    s.emit({ type: 'action', action: a.kind, rel: a.rel, reason: a.reason, size: a.size, dryRun: true });
  };
  const refusalOf = downloadRefusal(s, opts);
  const deletes = p.actions.filter((a) => a.kind === 'delete');
  const after = afterDeletes(p);
  // After the deletions, as the real run: what is in their way may be only what those remove.
  const waiting: PullDownload[] = [];
  const download = (a: PullDownload, cleared: boolean) => {
    const refusal = cleared ? null : refusalOf(a.rel);
    if (refusal !== null) return s.fileError(a.rel, refusal);
    report(a);
    s.result.downloaded++;
  };
  for (const a of p.actions) {
    if (a.kind === 'skip') s.result.unchanged++;
    else if (a.kind === 'record') s.result.recorded++;
    else if (a.kind === 'download') {
      if (after.has(a.rel)) waiting.push(a);
      else download(a, false);
    }
  }
  // For a pull the destination is the local tree and the source the listing.
  let go = false;
  let refusal: unknown;
  try {
    go =
      deletes.length > 0 &&
      enforceDeleteGuards(s, deletes.length, p.local.size, sourceFilesOf(p.remote.keys()));
  } catch (err) {
    refusal = err;
  }
  if (go)
    for (const a of deletes) {
      report(a);
      s.result.deleted++;
    }
  // Refused, the real run still tries (and fails) these before it stops: so does its dry run.
  for (const a of waiting) download(a, go);
  if (refusal !== undefined) throw refusal;
}

/** The downloads that wait for the run's deletions (see downloadsAfterDeletes). */
export const afterDeletes = (p: PreparedPull): Set<string> =>
  downloadsAfterDeletes(
    p.actions.filter((a) => a.kind === 'download').map((a) => a.rel),
    p.actions.filter((a) => a.kind === 'delete').map((a) => a.rel),
    (p.local.size > 0 ? p.local : p.found).keys(),
  );

export async function executePull(s: RunContext, prepared: PreparedPull, opts: PullOptions): Promise<void> {
  const r = s.result;
  const { actions } = prepared;
  const downloads = actions.filter((a) => a.kind === 'download');
  const deletes = actions.filter((a) => a.kind === 'delete');
  s.emit({
    type: 'plan',
    total: actions.length - deletes.length,
    transfers: downloads.length,
    bytes: downloads.reduce((n, a) => n + a.size, 0),
    deletes: deletes.length,
  });
  applyRecords(s, actions, prepared.facts);
  // pull --at: a file left as it is may hold a past version (its entry predates a newer object); an
  // entry would tell the next push that the current object holds it.
  for (const a of actions)
    if (a.kind === 'skip' && prepared.remote.get(a.rel)?.isLatest === false) s.store.forget(a.rel);
  // A pull uploads nothing: multipart uploads an interrupted push left are aborted, not left billed.
  await retireStalePending(s, () => false);

  const t = downloads.length > 0 ? await s.s3() : undefined;
  // Made by pull() already; an applied plan may name a directory that is not there yet.
  makeDirs(s.localRoot);
  const tree = targetTree(s, opts);
  const backup: LocalBackup | undefined =
    opts.backupDir === undefined ? undefined : localBackupTarget(opts.backupDir, opts.suffix, s.localRoot);
  const cfg = {
    multipartThreshold: setting(opts, 'multipartThreshold'),
    partSize: setting(opts, 'partSize'),
    backup: backup && ((rel: string, abs: string) => backupLocalFile(backup, rel, abs)),
    wholeFallbacks: wholeFallbacks(),
    unverified: unverifiedDownloads(),
    resume: true,
    sparse: setting(opts, 'sparse'),
  };
  // What large downloads left unfinished, kept for this run's downloads and for no other object.
  const resumedRel = new Map(
    downloads
      .filter((a) => a.size >= cfg.multipartThreshold)
      .map((a) => [resumeName(a, cfg.partSize), a.rel] as const),
  );
  const resumable = new Set(resumedRel.keys());
  // Under the lock no earlier run of this destination is live: what a killed one left and this run
  // will not resume goes now, not at this run's end, which a run killed in turn never reaches.
  tree.removeTmp(resumable, (name, why) => {
    const rel = resumedRel.get(name)!;
    s.notice(
      `${rel}: what an earlier pull kept of it is not resumed (${why}): discarded, fetching it whole`,
      rel,
    );
  });
  for (const rel of prepared.leftovers ?? []) if (tree.isHolders(rel)) tree.removeLeftover(rel, 0);
  let diskFull: DiskFullError | undefined;
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const failed = (rel: string, err: unknown) => {
    // Under --shard another shard's run may be about to fill a folder made here (see removeEmptied).
    if (err instanceof PathRefused && !s.shard) tree.removeMadeFor(rel);
    // Cancelled mid-download, or cut short by the stop for a full disk: neither downloaded nor failed;
    // the next run fetches it. The full disk is said once, as what stopped the run.
    if (opts.signal?.aborted || (diskFull && aborted(err))) return;
    if (err instanceof DiskFullError) {
      diskFull ??= err;
      controller.abort();
    } else s.fileError(rel, unwritable(err, tree.real) ?? tempRemoved(err) ?? (err as Error).message);
  };
  const byRel = new Map(downloads.map((a) => [a.rel, a]));
  const progressOf = new Map<string, TransferProgress>();
  // Downloads run as the request limit allows, which may grow during the run (see AdaptiveLimiter).
  const slots = t?.limiter.follower();
  const downloadAll = async (list: readonly PullDownload[]) => {
    // A file is recorded only once its data, its name and its directory are on disk.
    const batch = new DurableBatch<ManifestEntry>(
      {
        durable: (rel, entry) => {
          const a = byRel.get(rel)!;
          // A past version (--at) that is no longer current: an entry would tell the next push that the
          // object holds this file's content, and it would skip the file. Without one, it compares content.
          if (a.versionId !== undefined && a.isLatest === false) s.store.forget(rel);
          else s.store.record(rel, entry);
          r.downloaded++;
          // What a kept download already held was fetched by an earlier run.
          r.bytesTransferred += a.size - (progressOf.get(rel)?.resumedTotal ?? 0);
          progressOf.delete(rel);
          s.emit({ type: 'done', action: 'download', rel, size: a.size, reason: a.reason });
        },
        failed: (rel, err) => failed(rel, diskFullOr(err, rel)),
        dirsOf: (dest) => dirsUpTo(tree.real, dest),
      },
      // Its temp files and the workers' sockets together stay under the open-file limit.
      s.fds?.batch,
    );
    try {
      await forEachLimit(
        list,
        t ? t.limiter.max : 0,
        async (a) => {
          let written: Unflushed<ManifestEntry>;
          try {
            written = await slots!.run(() => {
              s.emit({ type: 'start', action: 'download', rel: a.rel, size: a.size });
              const scanned = prepared.found.get(a.rel) ?? null;
              const progress = new TransferProgress(a.size, (e) => s.emit(e));
              progressOf.set(a.rel, progress);
              // Descriptors short for a moment: the file waits for some to close rather than failing.
              const o = { ...a, scanned, asPlanned: prepared.asPlanned };
              return whileFdsShort(() => downloadObject(s, t!, o, cfg, tree, progress), {
                limit: s.fds?.limit,
                signal,
              });
            }, signal);
          } catch (err) {
            const fatal = err instanceof S3SyncError && isFatal(err) && !(err instanceof DiskFullError);
            if (fatal && !opts.signal?.aborted) throw err;
            return failed(a.rel, err);
          }
          await batch.add(written);
        },
        signal,
      );
    } catch (err) {
      if (!diskFull) throw err;
    } finally {
      await batch.drain();
    }
  };
  // Downloads whose way this run's deletions clear wait for them (a file became a folder, ...).
  const after = afterDeletes(prepared);
  try {
    await downloadAll(after.size === 0 ? downloads : downloads.filter((a) => !after.has(a.rel)));
    if (!diskFull) {
      // For a pull the destination is the local tree and the source the listing.
      let refusal: unknown;
      try {
        if (
          deletes.length > 0 &&
          enforceDeleteGuards(s, deletes.length, prepared.local.size, sourceFilesOf(prepared.remote.keys()))
        ) {
          deleteAll(s, tree, deletes, prepared, backup);
          // Folders are not objects: one the deletions emptied would be left for ever, and in the way of
          // a file of its name. Under --shard other shards' runs make and fill folders at the same time.
          if (!s.shard) tree.removeEmptied(emptiedFolders(deletes), (rel) => prepared.remote.has(`${rel}/`));
        }
      } catch (err) {
        refusal = err;
      }
      // Refused or skipped, the deletions leave these as they were: each is tried (and refused) as before.
      if (after.size > 0) await downloadAll(downloads.filter((a) => after.has(a.rel)));
      if (refusal !== undefined) throw refusal;
    } else if (deletes.length > 0) {
      // Said as any other error's skip is: the files --delete would remove stay, and take room too.
      s.emit({
        type: 'error',
        message: `not deleting ${deletes.length} file(s): the disk filled up in this run (deletions come after the downloads): free space and pull again`,
      });
      skipped(s.result, deletes.length);
    }
  } finally {
    // A full disk wants its space back more than a resume.
    const left = tree.removeTmp(diskFull ? undefined : resumable);
    // After the run's own errors (a target remounted read-only): what is left is the next run's to remove.
    if (left) s.warn(`cannot remove the temp folder ${left.path} (${left.code}): the next pull removes it`);
    // A run of this destination left its own (under its lock none is live); a pull of another prefix
    // or shard into the tree may be writing its own now: left until idle long enough to be a killed one's.
    for (const rel of prepared.leftovers ?? [])
      tree.removeLeftover(rel, tree.isHolders(rel) ? 0 : LEFTOVER_IDLE_MS);
    cfg.wholeFallbacks.report(s);
    cfg.unverified.report(s);
  }
  if (diskFull) throw diskFull;
}

/** The folders that held the files the run deletes (paths from the root; not the root). */
function emptiedFolders(deletes: readonly { rel: string }[]): Set<string> {
  const folders = new Set<string>();
  for (const d of deletes) {
    const i = d.rel.lastIndexOf('/');
    if (i > 0) folders.add(d.rel.slice(0, i));
  }
  return folders;
}

/**
 * A download whose temp file beside its file (FOREIGN_TMP) vanished while it was written, said as that
 * rather than as the call that failed on s3sync's name: something removed it (a cleaner, or a pull of
 * another destination into the tree once it looked idle for an hour). Undefined for any other failure.
 */
export function tempRemoved(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== 'ENOENT' || e.path === undefined || !FOREIGN_TMP.test(e.path)) return undefined;
  return `not written: its temp file ${path.basename(e.path)} was removed while it was written (by another program, or another pull into this tree): pull again`;
}

/** A folder this user cannot write in: one owned by another user, or on a read-only mount. */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A file not written because its folder refused it, said as that folder (`cannot write in folder
 * 'sub' (EACCES)`) rather than as the call that failed, which names s3sync's temp file; undefined for
 * any other failure, or one in a folder outside the tree or in its state folder.
 */
export function unwritable(err: unknown, root: string): string | undefined {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!NOT_WRITABLE.has(e?.code ?? '')) return undefined;
  const target = e.dest ?? e.path;
  if (target === undefined) return undefined;
  const folder = path.relative(root, path.dirname(target)).split(path.sep).join('/');
  if (folder === '..' || folder.startsWith('../') || path.isAbsolute(folder) || inStateDir(folder))
    return undefined;
  return folder === ''
    ? `not written: cannot write in the destination folder (${e.code})`
    : `not written: cannot write in folder '${folder}' (${e.code})`;
}

/** Whether `err`, or an error it wraps, is an abort (a request or a wait for a slot cut short). */
function aborted(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++)
    if (e.name === 'AbortError') return true;
  return false;
}

/** The run's deletions of local files, each kept first under --backup-dir. */
function deleteAll(
  s: RunContext,
  tree: TargetTree,
  deletes: readonly Extract<PullAction, { kind: 'delete' }>[],
  prepared: PreparedPull,
  backup: LocalBackup | undefined,
): void {
  const r = s.result;
  const going = new Set(deletes.map((d) => d.rel));
  for (const d of deletes) {
    let undo: (() => void) | undefined;
    try {
      // Kept from the very file about to go, reached as the unlink reaches it: never one a link led to.
      const keep = backup && ((at: string) => (undo = backupLocalFile(backup, d.rel, at)));
      const found = prepared.found.get(d.rel);
      const planned = prepared.asPlanned ? found : undefined;
      const removal = tree.remove(d.rel, found?.ino, (real) => going.has(real), keep, planned);
      if (removal !== 'deleted') undo?.();
      s.store.forget(d.rel);
      // Reached through a followed link: already deleted under its other path, or kept for it.
      if (removal !== 'deleted') continue;
      r.deleted++;
      s.emit({ type: 'done', action: 'delete', rel: d.rel, size: d.size, reason: d.reason });
    } catch (err) {
      undo?.();
      if (err instanceof PathRefused || err instanceof BackupFailed) s.fileError(d.rel, err.message);
      else
        s.fileError(d.rel, `delete failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
}
