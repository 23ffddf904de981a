import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { beforeRun, errorMessage, fatalError, S3SyncError, usageError } from '../errors.js';
import { jsonText } from '../escape.js';
import { forEachLimit } from '../limiter.js';
import { TargetTree } from '../local/confine.js';
import { kindOf } from '../local/open-file.js';
import { safeJoin, unsafeKeyReason } from '../local/safe-path.js';
import { absPath, type FileStat, sameStat, statFields } from '../local/scan.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import { inStateDir, replaceWhole } from '../manifest/store.js';
import { fmtSize, shown } from '../options/parse.js';
import {
  checkEnds,
  FROM_DEFAULTS,
  requireOptionsObject,
  setting,
  suffixOk,
  validateOptions,
} from '../options/validate.js';
import { matchedPartSize, UNPROVEN_CTIME } from '../plan/compare.js';
import type { PullAction } from '../plan/pull.js';
import type { PushAction } from '../plan/push.js';
import type { CopyAction } from '../plan/renames.js';
import { emptyFacts } from '../plan/types.js';
import { readCapped } from '../read-capped.js';
import { redactUrl } from '../s3/endpoint-url.js';
import { choosePartSize, normalEtagForm, normalizeEtag } from '../s3/etag.js';
import { formatS3Url, parseS3Url, writableS3Url } from '../s3/url.js';
import { formatShard, isShard, parseShard, type Shard, shardOf } from '../shard.js';
import { checkBackupBucket, s3BackupTarget } from './backup.js';
import { localBackupTarget } from './backup-local.js';
import { enforceDeleteGuards, sourceFilesOf } from './delete-guard.js';
import type { FileError, SyncResult } from './events.js';
import type { CommonOptions, PullOptions, PushOptions } from './options.js';
import type { S3SyncOptions } from './options-s3.js';
import { checkOutFolder } from './plan-out.js';
import {
  applyBuckets,
  type BucketPlanDocument,
  type BucketPlanOptions,
  checkBucketPlan,
  isSize,
  isText,
  PLAN_BACKUP,
  planBuckets,
  planHeadProblem,
  plannedErrors,
  plannedErrorsOk,
  reportPlannedErrors,
} from './plan-s3.js';
import { afterDeletes, downloadRefusal, executePull, preparePull } from './pull.js';
import { executePush, preparePush, refuseWatchOptions } from './push.js';
import { copiedFrom } from './push-copies.js';
import { RunContext, requireDirectory } from './run-context.js';
import { headListed, headsInstead } from './selection.js';
import { mtimeMeta } from './upload-job.js';

type Stat = { size: number; mtimeNs: string; ctimeNs: string; ino: string };

/** One reviewable step, with what must still be true when it is applied. */
export interface PlannedAction {
  kind: 'upload' | 'copy' | 'download' | 'delete-remote' | 'delete-local';
  rel: string;
  reason: string;
  size: number;
  /** Local stat data at planning time; null: the file must not exist. */
  local: Stat | null;
  /** The object's ETag and size at planning time; null: it must not exist. */
  remote: { etag: string; size: number } | null;
  /** A copy's source (a rename): applied as an upload if it is gone or changed by then. */
  from?: { rel: string; key: string; md5: string; etag: string; partSize: number };
}

export interface PlanDocument {
  s3syncPlan: 1;
  direction: 'push' | 'pull';
  createdAt: string;
  /** Absolute local directory. */
  local: string;
  /** s3://bucket/prefix */
  remote: string;
  /**
   * The store the plan was made against (ResolvedEndpoint.id: never with credentials), with the provider,
   * profile and region used: `apply` connects to it unless told otherwise. Absent in older plans.
   */
  endpoint?: string;
  provider?: string;
  profile?: string | null;
  region?: string;
  /** The shard the plan was made for (`I/N`): apply records it in that shard's manifest. */
  shard?: string;
  /** --backup-dir and --suffix of the plan: apply keeps what it overwrites or deletes there. */
  backupDir?: string;
  suffix?: string;
  /**
   * --follow-symlinks of the plan: apply stats and reads through the links it planned through (a pull's
   * only inside its target, as pull's). Absent in older plans and when not given: not followed.
   */
  followSymlinks?: boolean;
  /** --manifest of the plan, as an absolute path: apply reads and records that one. Absent: the default. */
  manifest?: string;
  actions: PlannedAction[];
  /**
   * Files the plan could not cover, with why (absent when none): `plan` exits 1, and `apply` reports
   * them again, since they did not move.
   */
  errors?: FileError[];
}

export type PlanOptions = (PushOptions & { direction: 'push' }) | (PullOptions & { direction: 'pull' });

/**
 * How apply looks at a planned path's file as it is now. A push reads any name its scan found (a
 * backslash, a tab, `C:x`), so its path is joined as push joins it (checked inside the directory by
 * outsideReason); a pull writes only names safe on every filesystem, so its path goes through pull's
 * rule. Where the plan followed links, so does the look: a push's anywhere, as its scan and reads do; a
 * pull's only where its writes would go through them (TargetTree: links inside the target).
 */
function localStatter(
  root: string,
  direction: 'push' | 'pull',
  follow: boolean,
  isOwn: (rel: string) => boolean,
): (rel: string) => FileStat | null {
  const fileAt = (abs: string, through: boolean) => {
    const st = (through ? statSync : lstatSync)(abs, { bigint: true });
    return st.isFile() ? statFields(st) : null;
  };
  const guard = (look: (rel: string) => FileStat | null) => (rel: string) => {
    try {
      return look(rel);
    } catch {
      return null;
    }
  };
  if (direction === 'push') return guard((rel) => fileAt(absPath(root, rel), follow));
  if (!follow) return guard((rel) => fileAt(safeJoin(root, rel), false));
  // A target not made yet has no file to find.
  let tree: TargetTree | undefined;
  try {
    tree = new TargetTree(root, { followSymlinks: true, isOwn });
  } catch {
    return () => null;
  }
  const t = tree;
  return guard((rel) => {
    safeJoin(root, rel);
    const entry = t.entryOf(rel);
    if (entry === undefined) return null;
    const abs = path.join(t.real, entry);
    if (!lstatSync(abs).isSymbolicLink()) return fileAt(abs, false);
    return t.linkReason(abs, rel) === null ? fileAt(abs, true) : null;
  });
}

/**
 * Plans a push, a pull or an S3 → S3 sync without changing anything and returns the plan (written to
 * `out` if given): `s3sync plan push ./dir s3://b/p --out plan.json`, reviewed, then `s3sync apply plan.json`.
 */
export async function plan(opts: BucketPlanOptions): Promise<BucketPlanDocument>;
export async function plan(opts: PlanOptions & { out?: string }): Promise<PlanDocument>;
export async function plan(
  opts: (PlanOptions & { out?: string }) | BucketPlanOptions,
): Promise<PlanDocument | BucketPlanDocument> {
  const doc = await makePlan(opts);
  savePlan(opts, doc);
  return doc;
}

/**
 * Ends a plan made by makePlan: written to `out` only now, once the call is known to succeed, so that a
 * plan file that exists is one a call returned. Cancelled by then (its events were being delivered),
 * the call rejects as a cancelled run does, and writes nothing.
 */
export function savePlan(
  opts: { out?: string; signal?: AbortSignal },
  doc: PlanDocument | BucketPlanDocument,
) {
  if (opts.signal?.aborted) throw opts.signal.reason;
  if (opts.out) writePlanFile(opts.out, `${jsonText(doc, 2)}\n`);
}

/** Runs a check of the call itself (nothing read nor sent yet); its refusal is marked as such. */
function upFront(check: () => void): void {
  try {
    check();
  } catch (err) {
    throw beforeRun(err);
  }
}

/**
 * A push or pull plan's call checked and its context made, before anything is read or sent: the
 * options, the directory, and where the plan is to be written (not over what it plans, nor its state).
 */
async function openPlan(opts: PlanOptions & { out?: string }) {
  if (opts.direction !== 'push' && opts.direction !== 'pull')
    throw usageError(
      `plan: direction must be push, pull or sync, not ${shown((opts as { direction?: unknown }).direction)}`,
    );
  validateOptions(opts, `plan ${opts.direction}`);
  refuseWatchOptions(opts, 'does not apply to plan: a plan is made once');
  const push = opts.direction === 'push';
  if (push) checkEnds('push', opts.source, opts.destination);
  else checkEnds('pull', opts.destination, opts.source);
  const localDir = push ? requireDirectory(opts.source, 'source directory') : path.resolve(opts.destination);
  const remoteUrl = push ? opts.destination : opts.source;
  // Planning changes nothing: the manifest is read, never locked nor written.
  const s = await RunContext.create({
    root: localDir,
    remote: remoteUrl,
    opts,
    command: push ? 'push' : 'pull',
    settings: opts as PushOptions,
    writeManifest: false,
  });
  if (opts.out !== undefined) {
    const manifest = s.store.path;
    try {
      checkPlanOut(opts.out, localDir, [manifest, `${manifest}.lock`]);
    } catch (err) {
      await s.close(false);
      throw err;
    }
  }
  return { s, localDir, push };
}

/** A plan as plan() returns it, not written: the library's plan writes it after its events settled. */
export async function makePlan(
  opts: (PlanOptions & { out?: string }) | BucketPlanOptions,
): Promise<PlanDocument | BucketPlanDocument> {
  requireOptionsObject(opts, 'plan');
  // Before any request: a plan that cannot be written is known now, not after the listing.
  const out = opts.out;
  if (typeof out === 'string' && out !== '') upFront(() => checkOutFolder(out));
  if (opts.direction === 'sync') {
    if (opts.out !== undefined) upFront(() => checkPlanOut(opts.out!, undefined, []));
    return planBuckets(opts);
  }
  const { s, localDir, push } = await openPlan(opts).catch((err: unknown) => {
    throw beforeRun(err);
  });
  await s.store.open();
  let actions: PlannedAction[] = [];
  try {
    if (push) {
      const p = await preparePush(s, opts as PushOptions);
      // Each action records its object as planned: a short --files-from list looks its keys up instead.
      const listed = s.selection.listed;
      const remote =
        p.facts.remote ??
        (listed && headsInstead(listed.size, s.store.files.size)
          ? await headListed(s, listed)
          : await s.list());
      for (const a of p.actions) {
        if (a.kind !== 'upload' && a.kind !== 'delete' && a.kind !== 'copy') continue;
        const r = remote.get(a.rel);
        actions.push({
          kind: a.kind === 'delete' ? 'delete-remote' : a.kind,
          rel: a.rel,
          reason: a.kind === 'copy' ? copiedFrom(a) : a.reason,
          size: a.size,
          local: a.kind === 'delete' ? null : statOf(p.files.get(a.rel)!),
          remote: r ? { etag: r.etag, size: r.size } : null,
          ...(a.kind === 'copy' && { from: copySource(a) }),
        });
      }
      const restyles = p.actions.filter((a) => a.kind === 'restyle').length;
      // Not yet in plan files (apply has no header rules to set): said, never silently dropped.
      if (restyles > 0)
        s.warn(
          `${restyles} object${restyles === 1 ? '' : 's'} need new headers (a header rule changed): plan files do not carry header changes; a push applies them`,
        );
      const deletes = actions.filter((a) => a.kind === 'delete-remote').length;
      // A deletion the guards skip now (after an error) is left out: applying the plan must not do it.
      if (
        deletes > 0 &&
        !enforceDeleteGuards(s, deletes, [...remote.keys()].filter(s.selected).length, p.sourceFiles)
      )
        actions = actions.filter((a) => a.kind !== 'delete-remote');
      // As a dry run: apply would stop at its first backup copy into a bucket that is not there.
      if (opts.backupDir !== undefined && actions.some((a) => a.remote !== null))
        await checkBackupBucket(await s.s3(), s3BackupTarget(opts.backupDir, opts.suffix, s.location));
    } else {
      const p = await preparePull(s, opts as PullOptions);
      const refusalOf = downloadRefusal(s, opts as PullOptions);
      const after = afterDeletes(p);
      // Refused now, but in the way is only what the plan deletes first: said only if those stay.
      const waiting: [string, string][] = [];
      for (const a of p.actions) {
        if (a.kind !== 'download' && a.kind !== 'delete') continue;
        // Planned all the same (it may be cleared before apply), and said: applied now, it would fail.
        const refusal = a.kind === 'download' ? refusalOf(a.rel) : null;
        if (refusal !== null && after.has(a.rel)) waiting.push([a.rel, refusal]);
        else if (refusal !== null)
          s.warn(`${a.rel}: ${refusal}: apply fails it unless that is cleared first`, a.rel);
        const r = p.remote.get(a.rel);
        const f = p.local.get(a.rel);
        actions.push({
          kind: a.kind === 'download' ? 'download' : 'delete-local',
          rel: a.rel,
          reason: a.reason,
          size: a.size,
          local: f ? statOf(f) : null,
          remote: r ? { etag: r.etag, size: r.size } : null,
        });
      }
      const deletes = actions.filter((a) => a.kind === 'delete-local').length;
      const go = deletes > 0 && enforceDeleteGuards(s, deletes, p.local.size, sourceFilesOf(p.remote.keys()));
      if (!go) actions = actions.filter((a) => a.kind !== 'delete-local');
      for (const [rel, refusal] of go ? [] : waiting)
        s.warn(`${rel}: ${refusal}: apply fails it unless that is cleared first`, rel);
    }
  } finally {
    await s.close(false);
  }
  for (const a of actions) {
    s.emit({
      type: 'action',
      action: a.kind.startsWith('delete') ? 'delete' : (a.kind as 'upload' | 'copy'),
      rel: a.rel,
      reason: a.reason,
      size: a.size,
      dryRun: true,
    });
  }
  const doc: PlanDocument = {
    s3syncPlan: 1,
    direction: opts.direction,
    createdAt: new Date().toISOString(),
    local: localDir,
    remote: formatS3Url(s.location),
    endpoint: s.endpoint.id,
    provider: s.endpoint.provider.name,
    profile: s.endpoint.profile ?? null,
    region: s.endpoint.region,
    shard: s.destination.shard,
    ...(opts.backupDir !== undefined && { backupDir: opts.backupDir, suffix: opts.suffix }),
    // Where the plan read its state and how it read the files: apply does the same.
    ...(opts.followSymlinks === true && { followSymlinks: true }),
    ...(opts.manifest !== undefined && { manifest: s.store.path }),
    actions,
    ...plannedErrors(s.result.errors),
  };
  return doc;
}

/** The real path `p` names, when it does not exist yet too: its nearest existing folder's, and the rest. */
function realPathOf(p: string): string {
  const abs = path.resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realPathOf(parent), path.basename(abs));
  }
}

/** A plan file, by its first field: what `plan` writes, and an earlier plan it may overwrite. */
function isPlanFile(file: string): boolean {
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(4096);
      const n = readSync(fd, head, 0, head.length, 0);
      return /^\uFEFF?\s*\{\s*"s3syncPlan"\s*:/.test(head.subarray(0, n).toString('utf8'));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

/**
 * Where a plan may be written, refused in one line before anything is planned: not inside the synced
 * directory (over a file the plan lists, or into `.s3sync`), not over the manifest or its lock, not over
 * a file that is not a plan (an empty one, as mktemp makes, is taken). `-` is refused rather than
 * written as a file of that name: a plan's human output shares standard output.
 */
function checkPlanOut(out: string, local: string | undefined, state: string[]): void {
  if (out === '-')
    throw usageError(
      '--out -: a plan is written to a file: name one (--out /dev/stdout --quiet writes it to standard output)',
    );
  const real = realPathOf(out);
  if (state.some((f) => realPathOf(f) === real))
    throw usageError(`--out ${out} is s3sync's manifest or its lock: write the plan elsewhere`);
  if (local !== undefined) {
    const rel = path.relative(realPathOf(local), real);
    if (rel === '' || !(rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)))
      throw usageError(
        `--out ${out} is inside the synced directory ${local}: the plan would be written over what it syncs; write it elsewhere`,
      );
  }
  refuseOddOut(out);
  const st = statSync(real, { throwIfNoEntry: false });
  if (st?.isFile() && st.size > 0 && !isPlanFile(real))
    throw usageError(
      `--out ${out} exists and is not an s3sync plan: not overwritten; remove it or name another file`,
    );
}

/**
 * Refuses an `out` that is there and neither a regular file nor what standard output or error writes to
 * (`/dev/stdout`, a pipe or a terminal): written, a FIFO nobody reads blocked the run for ever.
 */
function refuseOddOut(out: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(out, { throwIfNoEntry: false });
  } catch {
    return;
  }
  if (st && !st.isFile() && !st.isDirectory() && standardFdOf(st) === undefined)
    throw usageError(
      `--out ${out} is not a regular file (${kindOf(st)}): name a file, or /dev/stdout for standard output`,
    );
}

/**
 * Writes a plan whole or not at all (a temp file beside it, fsync, rename), as the manifest is: written
 * in place, a full disk or a kill left a truncated plan under its name, instead of the one there before.
 * A link is followed, as for the manifest; what standard output or error writes to, not a regular file
 * (`/dev/stdout` on a pipe or a terminal), is written to as it is, since renaming over it would replace
 * it; anything else but a regular file is refused (refuseOddOut). The file standard output or error is
 * redirected to (`--out /dev/stdout > plan.json`) is written through that descriptor, at its place:
 * renamed over, it would lose what is written to the descriptor later, and opened anew it would be
 * written over by it.
 */
function writePlanFile(out: string, text: string): void {
  try {
    const st = statSync(out, { throwIfNoEntry: false });
    // A socket (standard output as a Node parent's 'pipe' makes it) cannot be opened anew by its name
    // (ENXIO): it is written through the descriptor too.
    const fd = st?.isFile() || st?.isSocket() ? standardFdOf(st) : undefined;
    if (fd !== undefined) {
      writeAllSync(fd, Buffer.from(text));
      return;
    }
    if (st && !st.isFile()) refuseOddOut(out);
    // A dangling link too: the rename would put a file in its place, where writing creates its target.
    if (st ? !st.isFile() : lstatSync(out, { throwIfNoEntry: false })) {
      writeFileSync(out, text);
      return;
    }
    replaceWhole(st ? realpathSync(out) : out, (to) => to(text));
  } catch (err) {
    if (err instanceof S3SyncError) throw err;
    throw fatalError(`cannot write plan ${out}: ${errorMessage(err)}`, err);
  }
}

/** All of `bytes` to `fd`; a full non-blocking descriptor (libuv may have made it so) is waited out. */
function writeAllSync(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(fd, bytes, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/** The standard output or error descriptor open on the file `st` describes, if either is. */
export function standardFdOf(st: { dev: number; ino: number }): 1 | 2 | undefined {
  for (const fd of [1, 2] as const) {
    try {
      const f = fstatSync(fd);
      if (f.dev === st.dev && f.ino === st.ino) return fd;
    } catch {
      // Closed: not where the plan goes.
    }
  }
  return undefined;
}

/** What a plan file records of a copy's source. */
const copySource = (a: CopyAction): NonNullable<PlannedAction['from']> => ({
  rel: a.from.rel,
  key: a.from.key,
  md5: a.md5,
  etag: a.from.etag,
  partSize: a.from.partSize,
});

/**
 * A planned copy as the push executes it. The reason it was planned for is not kept: `new` when no
 * object was at the key, else `content-changed`, which is what --backup-dir looks at.
 */
function copyAction(a: PlannedAction, from: NonNullable<PlannedAction['from']>, prefix: string): CopyAction {
  const { rel, key, md5, etag, partSize } = from;
  return {
    kind: 'copy',
    rel: a.rel,
    reason: a.remote === null ? 'new' : 'content-changed',
    size: a.size,
    md5,
    from: { rel, key: key || prefix + rel, size: a.size, md5, etag, partSize, vanished: false },
  };
}

/**
 * The planned copies whose source holds the file's content now: the file's MD5 (read again, as a plan
 * file can be edited) is the source's, and the source object is the one the plan named, with that MD5
 * by its ETag or by the manifest's entry. The others are uploaded, with a notice.
 */
async function provenCopies(
  s: RunContext,
  actions: PlannedAction[],
  found: Map<string, FileStat>,
  remote: Map<string, { etag: string; size: number }>,
): Promise<Set<string>> {
  const proven = new Set<string>();
  const check = async (a: PlannedAction) => {
    const from = a.from;
    const f = found.get(a.rel);
    if (a.kind !== 'copy' || !from || !f) return;
    const object = remote.get(from.rel);
    const entry = s.store.files.get(from.rel);
    const vouched =
      object !== undefined &&
      object.etag === from.etag &&
      object.size === a.size &&
      (from.etag === from.md5 || (entry?.etag === from.etag && entry.md5 === from.md5));
    // Unreadable now: the upload reports it.
    const md5 = vouched
      ? await s.hashes.get({ rel: a.rel, size: f.size, dev: f.dev, ino: f.ino }).then(
          (h) => h.md5,
          () => undefined,
        )
      : undefined;
    if (md5 === from.md5) proven.add(a.rel);
    else
      s.notice(
        `${a.rel}: the plan's copy source ${from.rel} does not hold this file's content: uploaded instead`,
        a.rel,
      );
  };
  await Promise.all(actions.map(check));
  return proven;
}

const statOf = (f: Stat): Stat => ({ size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, ino: f.ino });

/**
 * The most a plan file may hold: below the longest string V8 makes (about 512 MiB), which JSON.parse
 * needs whole, and far beyond a plan of a million actions.
 */
const PLAN_MAX_BYTES = 500 * 1024 * 1024;

/** A plan file's text: a file too large to be a plan is refused by its size, or once that much was read. */
async function planText(file: string): Promise<string> {
  const tooLarge = () =>
    usageError(`${file} is too large to be an s3sync plan (over ${fmtSize(PLAN_MAX_BYTES)})`);
  let data: Buffer;
  try {
    // Without blocking, and a regular file only: a FIFO with no writer held a pool thread for ever, and
    // with it the process, whatever signal came.
    const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const st = await fh.stat();
      if (!st.isFile())
        throw usageError(
          `cannot read plan ${file}: ${st.isDirectory() ? 'it is a directory' : `not a regular file (${kindOf(st)})`}`,
        );
      if (st.size > PLAN_MAX_BYTES) throw tooLarge();
      const r = await readCapped(fh.createReadStream({ autoClose: false }), PLAN_MAX_BYTES);
      if (r.over) throw tooLarge();
      data = r.data;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof S3SyncError) throw err;
    throw usageError(`cannot read plan ${file}: ${errorMessage(err)}`);
  }
  // A byte order mark, as some Windows editors write one, is not part of the JSON.
  return data.toString('utf8').replace(/^\uFEFF/, '');
}

export async function readPlan(file: string): Promise<PlanDocument | BucketPlanDocument> {
  const json = await planText(file);
  let doc: PlanDocument;
  try {
    doc = JSON.parse(json) as PlanDocument;
  } catch (err) {
    throw usageError(`cannot read plan ${file}: ${errorMessage(err)}`);
  }
  const sync = doc as unknown as BucketPlanDocument;
  if (sync?.s3syncPlan === 1 && sync.direction === 'sync' && Array.isArray(sync.actions))
    return checkBucketPlan(sync, file);
  if (doc?.s3syncPlan !== 1 || !Array.isArray(doc.actions) || !['push', 'pull'].includes(doc.direction)) {
    throw usageError(`${file} is not an s3sync plan (made by 's3sync plan … --out FILE')`);
  }
  return checkPlanDocument(doc, file);
}

/** The fields of a push or pull plan (PlanDocument). */
const PLAN_FIELDS: ReadonlySet<string> = new Set([
  's3syncPlan',
  'direction',
  'createdAt',
  'local',
  'remote',
  'endpoint',
  'provider',
  'profile',
  'region',
  'shard',
  'backupDir',
  'suffix',
  'followSymlinks',
  'manifest',
  'actions',
  'errors',
]);

const KINDS = { push: ['upload', 'copy', 'delete-remote'], pull: ['download', 'delete-local'] };
const isStat = (v: unknown): boolean => {
  const o = v as Stat;
  return (
    typeof o === 'object' &&
    o !== null &&
    isSize(o.size) &&
    isText(o.mtimeNs) &&
    isText(o.ctimeNs) &&
    isText(o.ino)
  );
};

/** Why a path would not name a file inside the directory (absolute, `..`, `.`, empty segments). */
function outsideReason(rel: string): string | null {
  if (rel === '' || rel.startsWith('/')) return rel === '' ? 'empty path' : 'absolute path';
  // No file's name holds one: such a path was edited in, and no file can be read by it.
  if (rel.includes('\0')) return 'contains a NUL character';
  const bad = rel.split('/').find((seg) => seg === '' || seg === '.' || seg === '..');
  return bad === undefined
    ? null
    : bad === ''
      ? 'contains an empty path segment'
      : `contains a '${bad}' segment`;
}

/** Why an action of a push or pull plan cannot be applied as it stands (an edited plan), or undefined. */
function planActionProblem(a: PlannedAction, direction: 'push' | 'pull', prefix: string): string | undefined {
  if (typeof a !== 'object' || a === null) return 'an action is not an object';
  if (!isText(a.rel)) return 'an action has no rel';
  // A pull writes only what it would write for a listed key; a push reads any name a scan can find,
  // but only inside its directory; a zero-byte folder marker it deletes names its folder ('a/b/').
  const marker = a.kind === 'delete-remote' && a.reason === 'no-local-folder' && a.size === 0;
  const rel = marker && a.rel.endsWith('/') ? a.rel.slice(0, -1) : a.rel;
  const unsafe = direction === 'pull' ? unsafeKeyReason(a.rel) : outsideReason(rel);
  if (unsafe !== null) return `the action for ${JSON.stringify(a.rel)} names an unsafe path (${unsafe})`;
  if (inStateDir(a.rel)) return `the action for ${a.rel} names s3sync's own state`;
  if (!KINDS[direction].includes(a.kind))
    return `a ${direction} plan has no action of kind ${JSON.stringify(a.kind)}`;
  if (!isText(a.reason)) return `the action for ${a.rel} has no reason`;
  if (typeof a.size !== 'number') return `the action for ${a.rel} has no size`;
  if (!isSize(a.size)) return `the action for ${a.rel} has a size (${a.size}) that is not a byte count`;
  if (a.local !== null && !isStat(a.local)) return `the action for ${a.rel} has bad local stat data`;
  const r = a.remote;
  if (r !== null && (typeof r !== 'object' || !isText(r?.etag) || !isSize(r?.size)))
    return `the action for ${a.rel} has a bad remote object`;
  // What each kind acts on must have been there when it was planned.
  const needs = {
    upload: 'local',
    copy: 'local',
    'delete-local': 'local',
    download: 'remote',
    'delete-remote': 'remote',
  } as const;
  if (a[needs[a.kind]] === null)
    return `the ${a.kind} of ${a.rel} names no ${needs[a.kind]} ${needs[a.kind] === 'local' ? 'file' : 'object'}`;
  // A download reads the object the plan names, as many bytes as it recorded for that object; an
  // upload or a copy sends the file it names, as many bytes as it recorded for that file.
  if (a.kind === 'download' && a.size !== a.remote?.size)
    return `the download of ${a.rel} has a size (${a.size}) other than its object's (${a.remote?.size})`;
  if ((a.kind === 'upload' || a.kind === 'copy') && a.size !== a.local?.size)
    return `the ${a.kind} of ${a.rel} has a size (${a.size}) other than its file's (${a.local?.size})`;
  const f = a.from;
  if (f !== undefined) {
    if (a.kind !== 'copy') return `the ${a.kind} of ${a.rel} has a copy source`;
    if (typeof f !== 'object' || f === null || !isText(f.rel) || outsideReason(f.rel) !== null)
      return `the copy of ${a.rel} has a bad source`;
    if (f.key !== prefix + f.rel || !isText(f.md5) || !isText(f.etag) || !isSize(f.partSize))
      return `the copy of ${a.rel} reads another key than its source's`;
  }
  return undefined;
}

/**
 * Why a path is outside the plan's shard, or undefined. Checked here, since apply lists only the shard:
 * another shard's object would look absent, so an upload would overwrite it and a deletion seem done.
 */
function shardProblem(rel: string, shard: Shard | undefined): string | undefined {
  if (shard === undefined) return undefined;
  const own = shardOf(rel, shard.count);
  if (own === shard.index) return undefined;
  return `the action for ${rel} is not in the plan's shard ${formatShard(shard)} (its path is in shard ${own}/${shard.count})`;
}

/**
 * A push or pull plan, its settings and each of its actions checked before anything is applied (exit 2
 * on the first bad one), from a file or from a library caller alike.
 */
function checkPlanDocument(doc: PlanDocument, file: string): PlanDocument {
  const bad = (why: string) => usageError(`${file} is not a valid s3sync plan: ${why}`);
  const head = planHeadProblem(doc, PLAN_FIELDS);
  if (head !== undefined) throw bad(head);
  if (doc.followSymlinks !== undefined && typeof doc.followSymlinks !== 'boolean')
    throw bad('its followSymlinks is not true or false');
  if (doc.manifest !== undefined && (!isText(doc.manifest) || !path.isAbsolute(doc.manifest)))
    throw bad(`its manifest ${shown(doc.manifest)} is not an absolute path`);
  const text = (v: unknown) => v === undefined || typeof v === 'string';
  const parsed = typeof doc.shard === 'string' ? parseShard(doc.shard) : undefined;
  const shard = parsed !== undefined && isShard(parsed) ? parsed : undefined;
  if (doc.shard !== undefined && shard === undefined)
    throw usageError(
      `${file} is not a valid s3sync plan: its shard ${shown(doc.shard)} is not I/N with I below N`,
    );
  if (
    !text(doc.endpoint) ||
    !text(doc.provider) ||
    !text(doc.region) ||
    !(doc.backupDir === undefined || (isText(doc.backupDir) && doc.backupDir.trim() !== '')) ||
    !suffixOk(doc.suffix) ||
    !(text(doc.profile) || doc.profile === null)
  ) {
    throw usageError(
      `${file}: its endpoint, provider, profile, region, backup directory or suffix is not valid`,
    );
  }
  let prefix: string;
  try {
    prefix = parseS3Url(isText(doc.remote) ? doc.remote : '').prefix;
  } catch {
    throw usageError(`${file} is not a valid s3sync plan: its remote is not an s3://bucket/prefix URL`);
  }
  // A push plan writes under its remote: refused as push refuses such a destination (a `..` the server
  // resolves writes elsewhere). A pull plan reads it, and pull takes any source prefix.
  if (doc.direction === 'push')
    try {
      writableS3Url(doc.remote, 'its remote');
    } catch (err) {
      throw usageError(`${file} is not a valid s3sync plan: ${errorMessage(err)}`);
    }
  if (!isText(doc.local) || doc.local === '')
    throw usageError(`${file} is not a valid s3sync plan: its local directory is not named`);
  if (!plannedErrorsOk(doc.errors))
    throw usageError(`${file} is not a valid s3sync plan: its errors are not a list of {rel, message}`);
  // The planners give a path one action at most (a rename's copy replaces its upload; a deletion is
  // of a path the other side lacks), so a second one is an edit, which would run and count it twice.
  const seen = new Set<string>();
  for (const a of doc.actions) {
    const why =
      planActionProblem(a, doc.direction, prefix) ??
      shardProblem(a.rel, shard) ??
      (seen.has(a.rel) ? `${a.rel} has more than one action` : undefined);
    if (why) throw usageError(`${file} is not a valid s3sync plan: ${why}`);
    seen.add(a.rel);
  }
  return doc;
}

/**
 * The store an apply talks to: the one the plan was made against (a reviewed plan is not applied to
 * whatever AWS_ENDPOINT_URL or AWS_PROFILE say today), each setting overridden by its own option.
 */
function planConnection<T extends CommonOptions>(doc: PlanDocument, opts: T): T {
  if (doc.endpoint === undefined) return opts;
  return {
    ...opts,
    endpointUrl: opts.endpointUrl ?? doc.endpoint,
    provider: opts.provider ?? doc.provider,
    profile: opts.profile ?? doc.profile ?? undefined,
    region: opts.region ?? doc.region,
  };
}

/**
 * Whether an action no longer matching its plan was done already, by an apply cut short: the file and
 * the object are the ones the manifest recorded after the transfer, or what was deleted is gone on
 * both sides. So applying a plan again resumes it instead of refusing what it did.
 */
function doneBefore(
  a: PlannedAction,
  now: FileStat | null,
  r: { etag: string; size: number } | undefined,
  e: ManifestEntry | undefined,
  unchanged: { local: boolean; remote: boolean },
): 'done' | 'not' | 'hash' {
  // An excluded path's deletion left the other side as it was.
  // The manifest's entry does not count: a run killed after the deletion was sent kept it.
  if (a.reason === 'excluded' && (a.kind === 'delete-remote' || a.kind === 'delete-local'))
    return (a.kind === 'delete-remote' ? r === undefined : now === null) ? 'done' : 'not';
  if (a.kind === 'delete-remote' || a.kind === 'delete-local')
    return now === null && r === undefined ? 'done' : 'not';
  // The side the transfer read from is as planned: it moved what was reviewed.
  const source = a.kind === 'download' ? unchanged.remote : unchanged.local;
  if (!source || now === null || r === undefined || e === undefined) return 'not';
  if (e.etag !== r.etag || e.size !== r.size) return 'not';
  if (sameStat(now, e)) return 'done';
  // Recorded while its mtime's tick was open (racy): its content, not its stat data, proves it.
  return e.ctimeNs === UNPROVEN_CTIME && sameStat(now, { ...e, ctimeNs: now.ctimeNs }) ? 'hash' : 'not';
}

/** The part size behind `etag` the file's hashes reproduce (0: a plain MD5), or the copy's; -1: none. */
function landedPartSize(
  etag: string,
  h: { md5: string; multipart: Readonly<Record<number, string>> },
  source: { md5: string; partSize: number } | undefined,
): number {
  const form = normalEtagForm(etag);
  if (source && h.md5 === source.md5) return form.kind === 'multipart' ? source.partSize : 0;
  if (form.kind === 'md5') return etag === h.md5 ? 0 : -1;
  return form.kind === 'multipart' ? matchedPartSize(h.multipart, etag) || -1 : -1;
}

/**
 * The planned uploads and copies whose object holds what they would send, though the manifest does not
 * say so: their PUT or CopyObject completed on the server while the apply was cancelled or killed. The
 * file is as planned, the object's ETag is the file's MD5 (or its multipart ETag at the part size apply
 * uses, or the manifest recorded), or for a copy the planned source's ETag with the file's MD5 the
 * source's (a store may keep a multipart ETag through a copy, at the source's part size), and its
 * metadata is what s3sync sends with it (the MD5 and the mtime; the mtime alone on a plain ETag that
 * is the file's MD5, as a one-pass upload leaves it). Each is recorded as uploaded, with the ETag it
 * matched; any other object in the way is still refused.
 */
async function uploadsLanded(
  s: RunContext,
  candidates: { a: PlannedAction; now: FileStat; r: { etag: string; size: number } }[],
  opts: CommonOptions & Partial<PushOptions>,
): Promise<Set<string>> {
  const landed = new Set<string>();
  if (candidates.length === 0) return landed;
  const t = await s.s3();
  const requested = setting(opts, 'partSize');
  await forEachLimit(candidates, setting(opts, 'workers'), async ({ a, now, r }) => {
    const etag = normalizeEtag(r.etag);
    const form = normalEtagForm(etag);
    // The copy's ETag, as copyRenamed takes it: the plan vouched that the source's ETag is its MD5.
    const source = a.kind === 'copy' && a.from && etag === normalizeEtag(a.from.etag) ? a.from : undefined;
    if (form.kind === 'opaque' && !source) return;
    const recorded = s.store.files.get(a.rel)?.partSize ?? 0;
    const sizes =
      form.kind === 'multipart' && !source ? [choosePartSize(now.size, requested, t.provider), recorded] : [];
    const partSizes = [...new Set(sizes.filter((ps) => ps > 0))];
    const h = await s.hashes.get({ rel: a.rel, ...now }, partSizes).catch(() => undefined);
    if (!h?.stable || h.size !== now.size) return;
    const partSize = landedPartSize(etag, h, source);
    if (partSize < 0) return;
    const head = await t.head(s.location.prefix + a.rel);
    if (!head || head.etag !== etag || head.size !== now.size) return;
    if (head.metadata.mtime !== mtimeMeta(now.mtimeNs)) return;
    // A one-pass upload (putNewInOnePass) sends no MD5, not knowing it before the body: its plain ETag,
    // which the server computed from the bytes it stored, is the proof it checked, and is here.
    const onePass = head.metadata.md5 === undefined && !source && form.kind === 'md5' && etag === h.md5;
    if (head.metadata.md5 !== h.md5 && !onePass) return;
    s.store.record(a.rel, manifestEntry(h.stat, { md5: h.md5, etag, partSize }));
    landed.add(a.rel);
  });
  return landed;
}

/**
 * --sparse shapes the files a pull writes: given for a plan of another direction it would do nothing, so
 * it is refused, as push refuses it; one from the config file's defaults is left out (see FROM_DEFAULTS).
 */
function pullOnlyOptions<O extends { sparse?: boolean }>(opts: O, direction: unknown): O {
  // A plan of no known direction is refused as such further on.
  if ((direction !== 'push' && direction !== 'sync') || opts.sparse === undefined) return opts;
  const defaulted = (opts as { [FROM_DEFAULTS]?: readonly string[] })[FROM_DEFAULTS] ?? [];
  if (defaulted.includes('sparse')) return { ...opts, sparse: undefined };
  const flag = opts.sparse === false ? '--no-sparse' : '--sparse';
  throw usageError(`${flag} (option sparse) applies to a pull plan only: this plan is a ${direction} plan`);
}

/**
 * Executes exactly the actions of a plan. Each action runs only if what it was planned against still
 * holds (local stat data, remote ETag); otherwise it is refused and reported, and the rest go on.
 */
export async function apply(
  opts: CommonOptions & { plan: PlanDocument | BucketPlanDocument | string } & Partial<PushOptions> &
    Pick<PullOptions, 'sparse'> &
    // For an S3 → S3 plan whose source another set of keys reaches (never written in a plan).
    Pick<S3SyncOptions, 'sourceCredentials'>,
): Promise<SyncResult> {
  validateOptions(opts, 'apply');
  const doc = typeof opts.plan === 'string' ? await readPlan(opts.plan) : opts.plan;
  if (typeof doc !== 'object' || doc === null) throw usageError('the plan is not an s3sync plan');
  opts = pullOnlyOptions(opts, doc.direction);
  if (doc.direction === 'sync') return applyBuckets(opts, checkBucketPlan(doc, 'the plan'));
  if (typeof opts.plan !== 'string') {
    if (!Array.isArray(doc.actions) || !['push', 'pull'].includes(doc.direction))
      throw usageError('the plan is not an s3sync plan');
    checkPlanDocument(doc, 'the plan');
  }
  // Checked as its run would check --backup-dir, but before the listing, and named as the plan's.
  if (doc.backupDir !== undefined) {
    if (doc.direction === 'push')
      s3BackupTarget(doc.backupDir, doc.suffix, parseS3Url(doc.remote), PLAN_BACKUP);
    else localBackupTarget(doc.backupDir, doc.suffix, path.resolve(doc.local), PLAN_BACKUP);
  }
  const push = doc.direction === 'push';
  const localDir = push ? requireDirectory(doc.local, 'source directory') : doc.local;
  // How the plan read the files and where it kept their state: --manifest given to apply still wins.
  const followSymlinks = doc.followSymlinks === true;
  const manifest = opts.manifest ?? doc.manifest;
  // The delete guards ran when the plan was made; applying it is the reviewed decision.
  const s = await RunContext.create({
    root: localDir,
    remote: doc.remote,
    opts: {
      ...planConnection(doc, opts),
      force: true,
      followSymlinks,
      manifest,
      ...(doc.shard !== undefined && { shard: doc.shard }),
    },
    command: 'apply',
    settings: opts,
    // The plan chose the paths: filters were applied when it was made.
    unfiltered: true,
  });
  if (doc.endpoint !== undefined && s.endpoint.id !== doc.endpoint) {
    s.notice(
      `applying the plan to ${s.endpoint.id} (${s.endpoint.where}), not to ${redactUrl(doc.endpoint)} where it was made`,
    );
  }
  if (doc.manifest !== undefined && s.store.path !== doc.manifest)
    s.notice(`applying the plan with the manifest ${s.store.path}, not ${doc.manifest} it was made with`);
  const localStat = localStatter(localDir, doc.direction, followSymlinks, s.isOwn);
  return s.run(async () => {
    reportPlannedErrors(doc, (rel, message) => s.fileError(rel, message));
    const listedAt = new Date();
    const remote = await s.list();
    // A complete listing, as a push's or a pull's: it settles the manifest, so that after an apply (one
    // that took over a killed run's lock too) a run with nothing to do asks the store nothing.
    s.listed(listedAt, remote);
    // The files as found now (the plan's stat data, checked below, and the device every read checks).
    const found = new Map<string, FileStat>();
    let doneCount = 0;
    const valid: PlannedAction[] = [];
    // Uploads and copies planned onto an object that changed since, as a run cut short leaves them.
    const candidates: Parameters<typeof uploadsLanded>[1] = [];
    const nows = new Map<PlannedAction, FileStat | null>();
    for (const a of doc.actions) {
      const now = localStat(a.rel);
      nows.set(a, now);
      const r = remote.get(a.rel);
      const planned = (a.kind === 'upload' || a.kind === 'copy') && a.local !== null;
      if (!planned || !now || !sameStat(now, a.local!) || !r || r.size !== a.size) continue;
      if (a.remote !== null && r.etag === a.remote.etag) continue;
      // Recorded by the run that uploaded it: doneBefore settles it without a HEAD.
      const e = s.store.files.get(a.rel);
      if (e?.etag !== r.etag || !sameStat(now, e)) candidates.push({ a, now, r });
    }
    const landed = await uploadsLanded(s, candidates, opts);
    for (const a of doc.actions) {
      const now = nows.get(a) ?? null;
      if (now) found.set(a.rel, now);
      // An excluded path's deletion (--delete-excluded) does not depend on the other side: a file
      // kept out of a push, an object kept out of a pull, is there as it may be. Any other action
      // planned onto no file, a download too, is refused over one made since: it is someone's work.
      const excluded = a.reason === 'excluded';
      const localOk =
        a.local === null
          ? now === null || (excluded && a.kind === 'delete-remote')
          : now !== null && sameStat(now, a.local);
      const r = remote.get(a.rel);
      const remoteOk =
        a.remote === null
          ? r === undefined || (excluded && a.kind === 'delete-local')
          : r !== undefined && r.etag === a.remote.etag && r.size === a.remote.size;
      const e = s.store.files.get(a.rel);
      let done = landed.has(a.rel) ? 'done' : doneBefore(a, now, r, e, { local: localOk, remote: remoteOk });
      // A deletion done, by a run killed before it saved the manifest: its entry goes.
      if (done === 'done' && a.kind.startsWith('delete') && e && !(localOk && remoteOk))
        s.store.forget(a.rel);
      if (done === 'hash' && now) {
        const h = await s.hashes.get({ rel: a.rel, ...now }).catch(() => undefined);
        done = h?.md5 === e?.md5 ? 'done' : 'not';
      }
      // A download planned onto no file finds one holding the object's bytes (a pull since, or an apply
      // cut short before its manifest was saved): done, not someone's work. A plain ETag is the MD5.
      if (
        done === 'not' &&
        !localOk &&
        remoteOk &&
        a.kind === 'download' &&
        now &&
        r &&
        now.size === r.size
      ) {
        if (/^[0-9a-f]{32}$/.test(r.etag)) {
          const h = await s.hashes.get({ rel: a.rel, ...now }).catch(() => undefined);
          if (h?.md5 === r.etag) done = 'done';
          // Recorded as a pull's download would be: the next run decides from stat data, not a hash.
          if (h?.md5 === r.etag && h.stable && h.size === r.size)
            s.store.record(a.rel, manifestEntry(h.stat, { md5: h.md5, etag: r.etag, partSize: 0 }));
        }
      }
      if (localOk && remoteOk) valid.push(a);
      else if (done === 'done') {
        doneCount++;
        s.result.unchanged++;
      } else
        s.fileError(
          a.rel,
          `refused: the ${localOk ? 'remote object' : 'local file'} changed since the plan was made`,
        );
    }
    if (doneCount > 0)
      s.notice(
        `${doneCount} action(s) of the plan were done by an earlier apply (the manifest records them, or the file holds its object): skipped`,
      );
    s.result.scanned = doc.actions.length;
    const facts = emptyFacts();
    facts.remote = remote;
    // What the plan overwrites or deletes is kept where the plan said, as the run planned would have.
    const applyOpts = {
      ...opts,
      backupDir: doc.backupDir,
      suffix: doc.suffix,
      followSymlinks,
    } as PushOptions & PullOptions;
    if (push) {
      const files = new Map(
        valid.filter((a) => a.local).map((a) => [a.rel, { rel: a.rel, ...found.get(a.rel)! }]),
      );
      const copies = await provenCopies(s, valid, found, remote);
      const actions: PushAction[] = valid.map((a) =>
        a.kind === 'copy' && a.from && copies.has(a.rel)
          ? copyAction(a, a.from, s.location.prefix)
          : a.kind === 'upload' || a.kind === 'copy'
            ? { kind: 'upload', rel: a.rel, reason: a.reason as 'new', size: a.size }
            : {
                kind: 'delete',
                rel: a.rel,
                key: s.location.prefix + a.rel,
                // A folder marker's delete, and an excluded object's, keep the reason they were planned for.
                reason:
                  a.reason === 'no-local-folder' || a.reason === 'excluded' ? a.reason : 'no-local-file',
                size: a.size,
              },
      );
      await executePush(
        s,
        {
          actions,
          files,
          fileCount: files.size,
          facts,
          sourceFiles: Number.POSITIVE_INFINITY,
          asPlanned: true,
        },
        applyOpts,
      );
    } else {
      const actions: PullAction[] = valid.map((a) =>
        a.kind === 'download'
          ? {
              kind: 'download',
              rel: a.rel,
              key: s.location.prefix + a.rel,
              reason: a.reason as 'new',
              size: a.size,
              etag: a.remote!.etag,
              lastModified: remote.get(a.rel)?.lastModified ?? 0,
            }
          : {
              kind: 'delete',
              rel: a.rel,
              reason: a.reason === 'excluded' ? 'excluded' : 'no-remote-object',
              size: a.size,
            },
      );
      await executePull(s, { actions, remote, local: new Map(), found, asPlanned: true, facts }, applyOpts);
    }
  });
}
