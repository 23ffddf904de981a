/**
 * `s3sync plan sync s3://A s3://B --out plan.json` and its `apply`: an S3 → S3 sync written down for
 * review, then executed action by action, each only if what it was planned against still holds (the
 * source object's ETag, the destination's ETag or absence). The plan names both stores by their ids,
 * never by credentials.
 */
import { usageError } from '../errors.js';
import { shown } from '../options/parse.js';
import { suffixOk, validateOptions } from '../options/validate.js';
import type { S3SyncAction } from '../plan/s3-to-s3.js';
import { type ConnectionOptions, endpointFor } from '../s3/client-options.js';
import { redactUrl } from '../s3/endpoint-url.js';
import type { RemoteObject } from '../s3/remote-object.js';
import { formatS3Url, isS3Url, parseS3Url } from '../s3/url.js';
import { resolveAt } from './at-time.js';
import { checkBackupBucket } from './backup.js';
import { deleteVerdict, sourceFilesOf } from './delete-guard.js';
import type { FileError, SyncResult } from './events.js';
import type { CommonOptions } from './options.js';
import type { S3SyncOptions } from './options-s3.js';
import { S3PairRun, sourceConnection } from './s3-pair.js';
import { copyAll, deleteAll, prepare } from './s3-to-s3.js';

/** One step of an S3 → S3 plan, with what must still be true when it is applied. */
export type BucketPlannedAction =
  | {
      kind: 'copy';
      rel: string;
      reason: string;
      /** The source object (its key, ETag and size as planned; the version with --at). */
      sourceKey: string;
      size: number;
      etag: string;
      versionId?: string;
      /** The destination object as planned; null: it must not exist. */
      destination: { etag: string; size: number } | null;
    }
  | { kind: 'delete'; rel: string; reason: string; key: string; etag: string; size: number };

/** An endpoint as a plan records it: its id, provider, profile name and region. */
interface PlannedStore {
  endpoint: string;
  provider: string;
  profile: string | null;
  region: string;
}

export interface BucketPlanDocument {
  s3syncPlan: 1;
  direction: 'sync';
  createdAt: string;
  /** s3://bucket/prefix */
  source: string;
  destination: string;
  /** The destination's store (apply connects to it unless told otherwise). */
  store: PlannedStore;
  /** The source's store: the same as `store` when the copies stay inside one store. */
  sourceStore: PlannedStore;
  /** --at as an instant (ISO 8601): the source as it was then; each copy names its version. */
  at?: string;
  /** --backup-dir and --suffix: apply keeps what it overwrites or deletes there. */
  backupDir?: string;
  suffix?: string;
  actions: BucketPlannedAction[];
  /** Objects the plan could not cover, with why (absent when none): apply reports them again. */
  errors?: FileError[];
}

export type BucketPlanOptions = S3SyncOptions & { direction: 'sync'; out?: string };

const planned = (opts: ConnectionOptions): PlannedStore => {
  const e = endpointFor(opts);
  return { endpoint: e.id, provider: e.provider.name, profile: e.profile ?? null, region: e.region };
};

/** The plan's actions from the planner's: copies and deletes, each with the objects as listed. */
function plannedActions(
  actions: S3SyncAction[],
  destination: ReadonlyMap<string, RemoteObject>,
): BucketPlannedAction[] {
  const out: BucketPlannedAction[] = [];
  for (const a of actions) {
    const d = destination.get(a.rel);
    if (a.kind === 'copy')
      out.push({
        kind: 'copy',
        rel: a.rel,
        reason: a.reason,
        sourceKey: a.key,
        size: a.size,
        etag: a.etag,
        ...(a.versionId !== undefined && { versionId: a.versionId }),
        destination: d ? { etag: d.etag, size: d.size } : null,
      });
    else if (a.kind === 'delete' && d)
      out.push({ kind: 'delete', rel: a.rel, reason: a.reason, key: a.key, etag: d.etag, size: d.size });
  }
  return out;
}

/** Plans an S3 → S3 sync without changing anything (`plan` writes it to `out`). */
export async function planBuckets(opts: BucketPlanOptions): Promise<BucketPlanDocument> {
  validateOptions(opts, 'plan sync');
  const { direction: _direction, out: _out, ...sync } = opts;
  if (!isS3Url(sync.source) || !isS3Url(sync.destination))
    throw usageError(
      'plan sync takes two s3://bucket/prefix URLs: for a local directory use plan push or plan pull',
    );
  const at = resolveAt(sync.at);
  const run = new S3PairRun({ ...sync, dryRun: true });
  let actions: BucketPlannedAction[] = [];
  await run.run(async () => {
    const { src, dst } = await run.connect();
    const { plan, source, destination } = await prepare(run, { src, dst }, at);
    for (const a of plan.actions) {
      if (a.kind === 'skip') run.result.unchanged++;
      else if (a.kind === 'archived') run.fileError(a.rel, a.message);
    }
    actions = plannedActions(plan.actions, destination);
    const deletes = actions.filter((a) => a.kind === 'delete').length;
    // No deletion planned, none to guard: an empty source copies nothing, as sync does (exit 0).
    const v: ReturnType<typeof deleteVerdict> =
      deletes === 0
        ? { go: true }
        : deleteVerdict({
            deletes,
            destinationFiles: destination.size,
            sourceFiles: sourceFilesOf(source.keys()),
            errors: run.result.errors.length,
            force: sync.force === true,
            maxDelete: sync.maxDelete,
          });
    if ('refuse' in v) throw usageError(v.refuse);
    // A deletion the guards skip now is left out: applying the plan must not do it either.
    if ('skip' in v) {
      run.emit({ type: 'error', message: v.skip });
      actions = actions.filter((a) => a.kind !== 'delete');
    }
    // As a dry run: apply would stop at its first backup copy into a bucket that is not there.
    if (run.backup && actions.some((a) => a.kind === 'delete' || a.destination !== null))
      await checkBackupBucket(dst, run.backup);
    for (const a of actions) {
      run.emit({ type: 'action', action: a.kind, rel: a.rel, reason: a.reason, size: a.size, dryRun: true });
      if (a.kind === 'copy') run.result.copied++;
      else run.result.deleted++;
    }
  });
  const doc: BucketPlanDocument = {
    s3syncPlan: 1,
    direction: 'sync',
    createdAt: new Date().toISOString(),
    source: formatS3Url(run.from),
    destination: formatS3Url(run.to),
    store: planned(sync),
    sourceStore: planned(sourceConnection(sync)),
    ...(at !== undefined && { at: new Date(at.ms).toISOString() }),
    ...(sync.backupDir !== undefined && { backupDir: sync.backupDir, suffix: sync.suffix }),
    actions,
    ...plannedErrors(run.result.errors),
  };
  return doc;
}

/** What a plan records of its run's file errors: nothing when there were none. */
export const plannedErrors = (errors: FileError[]): { errors?: FileError[] } =>
  errors.length > 0 ? { errors: errors.map(({ rel, message }) => ({ rel, message })) } : {};

/** A plan's `errors`: absent, or a list of files each with its rel and message. */
export const plannedErrorsOk = (v: unknown): boolean =>
  v === undefined ||
  (Array.isArray(v) &&
    v.every(
      (e: Partial<FileError> | null) =>
        typeof e === 'object' && e !== null && isText(e.rel) && isText(e.message),
    ));

/**
 * A plan's file errors, reported again by its apply: what the plan left out did not move, so applying
 * it is not a clean run either (exit 1), and the guards skip any deletion it holds.
 */
export function reportPlannedErrors(
  doc: { errors?: FileError[] },
  fileError: (rel: string, message: string) => void,
): void {
  for (const e of doc.errors ?? []) fileError(e.rel, `left out of the plan: ${e.message}`);
}

export const isText = (v: unknown): v is string => typeof v === 'string';

/**
 * Why a plan's own fields cannot be taken (a field this s3sync does not know, a createdAt not a time),
 * or undefined. Fields are added to plans without a new version, as optional ones an older plan lacks:
 * one this s3sync does not know may change what apply does, so it is refused, never ignored.
 */
export function planHeadProblem(doc: object, known: ReadonlySet<string>): string | undefined {
  const unknown = Object.keys(doc).find((k) => !known.has(k));
  if (unknown !== undefined)
    return `it has a field ${JSON.stringify(unknown)} this s3sync does not know (made by a newer version?)`;
  const at = (doc as { createdAt?: unknown }).createdAt;
  if (!isText(at) || Number.isNaN(Date.parse(at))) return `its createdAt ${shown(at)} is not a time`;
  return undefined;
}

/** The fields of an S3 → S3 plan (BucketPlanDocument). */
const BUCKET_PLAN_FIELDS: ReadonlySet<string> = new Set([
  's3syncPlan',
  'direction',
  'createdAt',
  'source',
  'destination',
  'store',
  'sourceStore',
  'at',
  'backupDir',
  'suffix',
  'actions',
  'errors',
]);

/** How apply names a plan's backup location: it is the plan's, not a flag apply takes. */
export const PLAN_BACKUP = "the plan's backupDir";
export const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function storeOk(s: unknown): s is PlannedStore {
  const o = s as PlannedStore | undefined;
  return (
    typeof o === 'object' &&
    o !== null &&
    isText(o.endpoint) &&
    isText(o.provider) &&
    isText(o.region) &&
    (isText(o.profile) || o.profile === null)
  );
}

/**
 * What is wrong with an action of the plan, if anything: each key must be its rel under the plan's own
 * prefix, so a plan edited to copy from or delete elsewhere is refused as a whole, before any request.
 */
function actionProblem(
  a: BucketPlannedAction,
  from: string,
  to: string,
  at: string | undefined,
): string | undefined {
  if (typeof a !== 'object' || a === null) return 'an action is not an object';
  if (!isText(a.rel) || a.rel === '' || !isText(a.reason)) return 'an action has no rel or reason';
  if (!isText(a.etag) || !isSize(a.size)) return `the action for ${a.rel} has no ETag or size`;
  if (a.kind === 'copy') {
    if (a.sourceKey !== from + a.rel) return `the copy of ${a.rel} reads another key than its own`;
    if (a.versionId !== undefined && !isText(a.versionId)) return `the copy of ${a.rel} has a bad version id`;
    // apply checks no version against a listing: a plan as at a time names one for every copy, and
    // only such a plan does (else today's object would be copied unchecked, or a version unasked).
    if ((a.versionId === undefined) !== (at === undefined))
      return `the copy of ${a.rel} ${at === undefined ? 'names a version, but the plan has no "at"' : 'names no version, but the plan is as at a time'}`;
    const d = a.destination;
    if (d !== null && (typeof d !== 'object' || !isText(d?.etag) || !isSize(d?.size)))
      return `the copy of ${a.rel} has a bad destination`;
    return undefined;
  }
  if (a.kind === 'delete')
    return a.key === to + a.rel ? undefined : `the delete of ${a.rel} names another key`;
  return `unknown action kind ${JSON.stringify((a as { kind?: unknown }).kind)}`;
}

/** The document checked through: a usage error naming the file and the first problem. */
export function checkBucketPlan(doc: BucketPlanDocument, file: string): BucketPlanDocument {
  const bad = (why: string) => usageError(`${file} is not a valid s3sync plan: ${why}`);
  const head = planHeadProblem(doc, BUCKET_PLAN_FIELDS);
  if (head !== undefined) throw bad(head);
  if (!isText(doc.source) || !isS3Url(doc.source) || !isText(doc.destination) || !isS3Url(doc.destination))
    throw bad('its source and destination must be s3://bucket/prefix URLs');
  if (!storeOk(doc.store) || !storeOk(doc.sourceStore)) throw bad('its stores are not described');
  if (doc.at !== undefined && (!isText(doc.at) || Number.isNaN(Date.parse(doc.at))))
    throw bad('its "at" is not a time');
  if (!(doc.backupDir === undefined || isText(doc.backupDir)) || !suffixOk(doc.suffix))
    throw bad('its backup directory or suffix is not valid');
  if (!plannedErrorsOk(doc.errors)) throw bad('its errors are not a list of {rel, message}');
  const from = parseS3Url(doc.source).prefix;
  const to = parseS3Url(doc.destination).prefix;
  for (const a of doc.actions) {
    const why = actionProblem(a, from, to, doc.at);
    if (why) throw bad(why);
  }
  return doc;
}

/**
 * The connection an apply uses: the plan's stores (not whatever AWS_ENDPOINT_URL says today), each
 * destination setting overridden by its own option; a source in another store keeps the plan's.
 */
function planConnection(doc: BucketPlanDocument, opts: CommonOptions): Partial<S3SyncOptions> {
  const s = doc.store;
  const src = doc.sourceStore;
  const otherStore = src.endpoint !== s.endpoint;
  return {
    endpointUrl: opts.endpointUrl ?? s.endpoint,
    provider: opts.provider ?? s.provider,
    profile: opts.profile ?? s.profile ?? undefined,
    region: opts.region ?? s.region,
    ...(otherStore && { sourceEndpointUrl: src.endpoint, sourceProvider: src.provider }),
    ...(src.region !== s.region && { sourceRegion: src.region }),
    ...(src.profile !== s.profile && src.profile !== null && { sourceProfile: src.profile }),
  };
}

/** Whether a listed object is the one planned (same ETag and size), or absent as planned. */
const asPlanned = (o: RemoteObject | undefined, p: { etag: string; size: number } | null) =>
  p === null ? o === undefined : o !== undefined && o.etag === p.etag && o.size === p.size;

/**
 * What an apply does with one action, given the objects listed now (`source` undefined: not listed, a
 * plan as at a time). An action an earlier apply of the plan made is done, not changed: a copy whose
 * destination holds the planned source's ETag and size, a deletion whose object is gone. So applying a
 * plan again resumes it, as a push plan does, instead of refusing what it did.
 */
export function bucketActionVerdict(
  a: BucketPlannedAction,
  source: RemoteObject | undefined | null,
  destination: RemoteObject | undefined,
): 'go' | 'done' | 'source-changed' | 'source-gone' | 'destination-changed' {
  if (a.kind === 'delete')
    return asPlanned(destination, a) ? 'go' : destination === undefined ? 'done' : 'destination-changed';
  // The source as planned first: only then is a destination holding its ETag what was reviewed.
  if (source === undefined) return 'source-gone';
  if (source !== null && !asPlanned(source, a)) return 'source-changed';
  if (asPlanned(destination, a.destination)) return 'go';
  return asPlanned(destination, a) ? 'done' : 'destination-changed';
}

/**
 * Applies an S3 → S3 plan: both prefixes listed once (the source only when the plan copies today's
 * objects; a version named by --at cannot change), each action refused with one line, and counted as
 * failed, if its objects changed since; then the copies and the deletions, which the guards skip after
 * any failure. Each copy also carries CopySourceIfMatch, which closes the gap between the listing and
 * the copy on AWS; s3rver and Ceph RGW ignore it, so the listing is the check that holds everywhere.
 */
export async function applyBuckets(
  opts: CommonOptions & Partial<S3SyncOptions>,
  doc: BucketPlanDocument,
): Promise<SyncResult> {
  const { plan: _plan, ...rest } = opts as typeof opts & { plan?: unknown };
  const sync: S3SyncOptions = {
    ...rest,
    ...planConnection(doc, opts),
    source: doc.source,
    destination: doc.destination,
    // What the plan overwrites or deletes is kept where the plan said.
    backupDir: doc.backupDir,
    suffix: doc.suffix,
    // The delete guards ran when the plan was made; applying it is the reviewed decision.
    force: true,
  };
  const run = new S3PairRun(sync, PLAN_BACKUP);
  const made = endpointFor(sync).id;
  if (made !== doc.store.endpoint)
    run.notice(`applying the plan to ${made}, not to ${redactUrl(doc.store.endpoint)} where it was made`);
  return run.run(async () => {
    reportPlannedErrors(doc, (rel, message) => run.fileError(rel, message));
    const { src, dst } = await run.connect();
    const [source, destination] = await Promise.all([
      doc.at === undefined ? src.list(run.from.prefix) : undefined,
      dst.list(run.to.prefix),
    ]);
    run.result.scanned = doc.actions.length;
    const copies: Extract<S3SyncAction, { kind: 'copy' }>[] = [];
    const deletes: Extract<S3SyncAction, { kind: 'delete' }>[] = [];
    let done = 0;
    for (const a of doc.actions) {
      const verdict = bucketActionVerdict(a, source ? source.get(a.rel) : null, destination.get(a.rel));
      if (verdict === 'done') {
        done++;
        run.result.unchanged++;
      } else if (verdict !== 'go')
        run.fileError(
          a.rel,
          verdict === 'source-gone'
            ? 'refused: the source object no longer exists (deleted since the plan was made)'
            : `refused: the ${verdict === 'source-changed' ? 'source' : 'destination'} object changed since the plan was made`,
        );
      else if (a.kind === 'delete') deletes.push({ ...a, reason: 'no-source-object' });
      else
        copies.push({
          kind: 'copy',
          rel: a.rel,
          key: a.sourceKey,
          size: a.size,
          etag: a.etag,
          versionId: a.versionId,
          reason: a.reason as 'new',
        });
    }
    if (done > 0)
      run.notice(
        `${done} action(s) of the plan were done by an earlier apply (the destination holds what they planned): skipped`,
      );
    run.emit({
      type: 'plan',
      total: copies.length,
      transfers: copies.length,
      bytes: run.same ? 0 : copies.reduce((n, a) => n + a.size, 0),
      deletes: deletes.length,
    });
    run.destinationObjects = destination;
    await copyAll(run, { src, dst }, copies, true);
    await deleteAll(run, dst, deletes, { source: Number.POSITIVE_INFINITY, destination: destination.size });
  });
}
