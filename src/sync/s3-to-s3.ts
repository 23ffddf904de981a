/**
 * `sync s3://… s3://…`: the destination prefix made like the source prefix. Decided from the two
 * listings (src/plan/s3-to-s3.ts); copied inside the store when both sides are one store and one set
 * of credentials, else streamed through with bounded memory (s3-stream.ts); deletions last, behind
 * the delete guards.
 */
import { errorMessage, runError, S3SyncError, usageError } from '../errors.js';
import { forEachLimit, Limiter } from '../limiter.js';
import { setting } from '../options/validate.js';
import { type HeadFact, planS3Sync, type S3SyncAction, type S3SyncPlan } from '../plan/s3-to-s3.js';
import {
  type CopyResult,
  copiesInParts,
  copyUnsupported,
  noSource,
  SOURCE_DELETED,
  sourceDeleted,
} from '../s3/copy.js';
import { copiedOther, headObject } from '../s3/copy-check.js';
import { httpStatus, isFatal } from '../s3/errors.js';
import type { StraysOutcome } from '../s3/multipart.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { S3Transport } from '../s3/transport.js';
import { type AtTime, listPrefixAt, resolveAt } from './at-time.js';
import { backupObject, checkBackupBucket } from './backup.js';
import { deleteVerdict, skipped, sourceFilesOf } from './delete-guard.js';
import type { SyncResult } from './events.js';
import type { S3SyncOptions } from './options-s3.js';
import { S3PairRun } from './s3-pair.js';
import { streamObject } from './s3-stream.js';
import { checkRunOptions } from './start-checks.js';

export type { S3SyncOptions };

type Copy = Extract<S3SyncAction, { kind: 'copy' }>;

/** Makes the destination prefix hold what the source prefix holds. */
export async function syncBuckets(opts: S3SyncOptions): Promise<SyncResult> {
  checkRunOptions('sync s3', opts);
  // Read before any request: a bad TIME is refused at once; a duration counts back from the start
  // (moved onto the server's clock by the listing, see AtTime).
  const at = resolveAt(opts.at);
  const run = new S3PairRun(opts);
  return run.run(async () => {
    const { src, dst } = await run.connect();
    const { plan, source, destination } = await prepare(run, { src, dst }, at);
    const copies = plan.actions.filter((a): a is Copy => a.kind === 'copy');
    const deletes = plan.actions.filter((a) => a.kind === 'delete');
    run.emit({
      type: 'plan',
      total: plan.actions.length - deletes.length,
      transfers: copies.length,
      // The bytes that pass through s3sync: none for copies inside the store.
      bytes: run.same ? 0 : copies.reduce((n, a) => n + a.size, 0),
      deletes: deletes.length,
    });
    for (const a of plan.actions) {
      if (a.kind === 'skip') run.result.unchanged++;
      // One line each, counted as a file that failed: the destination is not a full copy.
      else if (a.kind === 'archived') run.fileError(a.rel, a.message);
    }
    // The source's files, for the empty-source guard: its folder markers are none.
    const counts = { source: sourceFilesOf(source.keys()), destination: destination.size };
    if (opts.dryRun) return reportDryRun(run, { dst, destination }, plan, counts);
    run.destinationObjects = destination;
    await copyAll(run, { src, dst }, copies);
    await deleteAll(run, dst, deletes, counts);
  });
}

/**
 * Both listings (the source's as it was at `at`, with the version current then, when given), then the
 * HEADs the plan asks for, until every object is decided.
 */
export async function prepare(run: S3PairRun, t: { src: S3Transport; dst: S3Transport }, at?: AtTime) {
  const { src, dst } = t;
  const filter = await run.filter();
  const keep = (m: Map<string, RemoteObject>, selected: (rel: string) => boolean) => {
    // The prefix itself as a key has no name under the other prefix.
    for (const rel of m.keys()) if (rel === '' || !selected(rel)) m.delete(rel);
    return m;
  };
  const [sourceAll, destinationAll] = await Promise.all([
    at === undefined
      ? src.list(run.from.prefix)
      : listPrefixAt(src, run.from.prefix, at, (rel) => rel !== '' && filter.includes(rel)),
    dst.list(run.to.prefix),
  ]);
  const source = keep(sourceAll, filter.includes);
  // --delete-excluded lifts the filters from the destination's side: what they leave out is deleted.
  const destination = keep(destinationAll, run.opts.deleteExcluded ? () => true : filter.includes);
  run.result.scanned = source.size;
  // Said, not silent: a misspelt prefix or a time before the first version copies nothing with exit 0.
  // With deletions to make, the empty-source guard speaks instead.
  if (source.size === 0 && (!run.opts.delete || destination.size === 0))
    run.notice(
      `nothing to sync: no object under s3://${run.from.bucket}/${run.from.prefix}${at === undefined ? '' : ` at ${new Date(at.ms).toISOString()}`}${filter.active ? ' is selected by the filters' : ''}`,
    );
  const heads = { source: new Map<string, HeadFact>(), destination: new Map<string, HeadFact>() };
  const input = () => ({
    source,
    destination,
    heads,
    options: { force: run.opts.incremental === false, delete: run.opts.delete },
  });
  let plan: S3SyncPlan = planS3Sync(input());
  // Each need is asked once; a second round only for archived objects found to differ.
  for (let round = 0; plan.needs.length > 0 && round < 3; round++) {
    await forEachLimit(plan.needs, setting(run.opts, 'workers'), async (n) => {
      const [t, loc, map] =
        n.side === 'source' ? [src, run.from, heads.source] : [dst, run.to, heads.destination];
      // The source's HEAD names the version the listing chose (--at), else it would read today's.
      const versionId = n.side === 'source' ? source.get(n.rel)?.versionId : undefined;
      const h = await headObject(t, {
        bucket: loc.bucket,
        key: loc.prefix + n.rel,
        versionId,
        signal: run.opts.signal,
      });
      map.set(n.rel, { metaMd5: h?.metadata.md5, restore: h?.restore });
    });
    plan = planS3Sync(input());
  }
  return { plan, source, destination };
}

/** What the run would do, deletions behind the same guards: a refusal is the real run's refusal. */
async function reportDryRun(
  run: S3PairRun,
  at: { dst: S3Transport; destination: ReadonlyMap<string, RemoteObject> },
  plan: S3SyncPlan,
  counts: { source: number; destination: number },
): Promise<void> {
  const report = (a: Extract<S3SyncAction, { kind: 'copy' | 'delete' }>) =>
    run.emit({ type: 'action', action: a.kind, rel: a.rel, reason: a.reason, size: a.size, dryRun: true });
  // The copies first, as the real run makes them before its deletions are refused.
  for (const a of plan.actions) {
    if (a.kind !== 'copy') continue;
    report(a);
    run.result.copied++;
  }
  // What the real run keeps under --backup-dir first (see kept): an object overwritten, then the deletions.
  const overwrites = plan.actions.some((a) => a.kind === 'copy' && at.destination.has(a.rel));
  if (run.backup && overwrites) await checkBackupBucket(at.dst, run.backup);
  const deletes = plan.actions.filter((a) => a.kind === 'delete');
  if (!deletesGo(run, deletes.length, counts)) return;
  if (run.backup && !overwrites) await checkBackupBucket(at.dst, run.backup);
  for (const a of deletes) {
    report(a);
    run.result.deleted++;
  }
}

/** Every copy under --workers; a per-object failure is reported and the others go on. */
export async function copyAll(
  run: S3PairRun,
  t: { src: S3Transport; dst: S3Transport },
  copies: Copy[],
  pin = false,
) {
  const opts = run.opts;
  const cfg = {
    multipartThreshold: setting(opts, 'multipartThreshold'),
    partSize: setting(opts, 'partSize'),
  };
  // The parts held in memory by streamed copies, all objects together.
  const budget = new Limiter(setting(opts, 'workers'));
  // Inside the store while it can: a store may copy whole objects and not parts (s3rver).
  const serverSide = { whole: run.same, parts: run.same };
  // Once the store refuses ListMultipartUploads (s3rver), no later copy asks again.
  const lookLeft: { refused: boolean; first?: Promise<unknown> } = { refused: false };
  await forEachLimit(
    copies,
    setting(opts, 'workers'),
    async (a) => {
      run.emit({ type: 'start', action: 'copy', rel: a.rel, size: a.size });
      // Counted once the object is copied, as a push counts an upload: a failed copy's parts are aborted.
      let sent = 0;
      const onStrays = (r: StraysOutcome) => {
        for (const line of straysNotices(r)) run.notice(line, a.rel);
      };
      // Read through this process, a NoSuchKey is the source's: gone since the listing, or not.
      const stream = () =>
        streamObject({
          ...t,
          ...cfg,
          limits: t.dst.provider,
          sourceKey: a.key,
          key: run.to.prefix + a.rel,
          size: a.size,
          etag: a.etag,
          versionId: a.versionId,
          budget,
          signal: opts.signal,
          onStrays,
          onBytes: (n) => {
            sent += n;
            run.emit({ type: 'bytes', bytes: n });
          },
        }).catch(async (err: unknown) => {
          if (errorMessage(err) === SOURCE_DELETED) throw err;
          if (noSource(err) && !(await sourceThere(run, t.src, a))) throw sourceDeleted(err);
          throw err;
        });
      const mode = copiesInParts(a.size, cfg.multipartThreshold, a.key) ? 'parts' : 'whole';
      try {
        if (!(await kept(run, t.dst, a.rel))) return;
        if (serverSide[mode]) {
          let copied: CopyResult | undefined;
          try {
            copied = await t.dst.copy({
              sourceBucket: run.from.bucket,
              sourceKey: a.key,
              sourceVersionId: a.versionId,
              // apply: the object planned, not one written since (a store that honours it answers 412).
              sourceIfMatch: pin ? a.etag : undefined,
              sourceEtag: a.etag,
              key: run.to.prefix + a.rel,
              size: a.size,
              signal: opts.signal,
              onStrays,
              ...cfg,
            });
          } catch (err) {
            if (noSource(err)) {
              await uncopiable(run, t.src, a, err);
              await stream();
            } else {
              if (!copyUnsupported(err)) throw err;
              // Said once: every later object of this kind streams at once.
              if (serverSide[mode])
                run.notice(
                  mode === 'parts'
                    ? 'this store cannot copy in parts (UploadPartCopy): streaming large objects through'
                    : 'this store cannot copy server-side: streaming the objects through',
                );
              serverSide[mode] = false;
              await stream();
            }
          }
          if (copied) await unlessOther(run, t, a, copied, stream);
        } else await stream();
        run.result.copied++;
        run.result.bytesTransferred += sent;
        run.emit({ type: 'done', action: 'copy', rel: a.rel, size: a.size, reason: a.reason });
        if (mode === 'parts') await sayUploadsLeft(run, t.dst, a.rel, lookLeft);
      } catch (err) {
        if (opts.signal?.aborted) return;
        if (err instanceof S3SyncError && isFatal(err)) throw err;
        const cause = err instanceof S3SyncError && err.cause !== undefined ? err.cause : err;
        run.fileError(
          a.rel,
          httpStatus(cause) === 412
            ? 'not copied: the source object changed since it was listed (412 Precondition Failed)'
            : (err as Error).message,
        );
      }
    },
    opts.signal,
  );
}

/** Whether the source object is still there: one HEAD, made only once a request said it is not. */
async function sourceThere(run: S3PairRun, src: S3Transport, a: Copy): Promise<boolean> {
  const bucket = run.from.bucket;
  const signal = run.opts.signal;
  return (await headObject(src, { bucket, key: a.key, versionId: a.versionId, signal })) !== null;
}

/**
 * A server-side copy answered NoSuchKey: its source was deleted since the listing (the item fails,
 * nothing written), or it is there and the store cannot copy its key (s3rver with `+` in it), which
 * is then said and the caller streams it through. Only a HEAD tells them apart.
 */
async function uncopiable(run: S3PairRun, src: S3Transport, a: Copy, err: unknown): Promise<void> {
  // A copy in parts found it gone already, by its own HEAD.
  if (errorMessage(err) === SOURCE_DELETED) throw err;
  if (!(await sourceThere(run, src, a))) throw sourceDeleted(err);
  run.notice(
    `the store answered NoSuchKey to the copy of ${a.key}, which it has (a key it cannot copy?): streamed through instead`,
    a.rel,
  );
}

/**
 * A copy the store made of another object than its source (see copiedOther) is replaced by the object
 * streamed through, whose bytes are checked against the source's MD5, with a notice. Should that fail
 * too, the wrong copy is removed: the key must not hold bytes the source never had.
 */
async function unlessOther(
  run: S3PairRun,
  t: { src: S3Transport; dst: S3Transport },
  a: Copy,
  copied: CopyResult,
  stream: () => Promise<unknown>,
): Promise<void> {
  const signal = run.opts.signal;
  const source = { bucket: run.from.bucket, key: a.key, versionId: a.versionId, signal };
  if (!(await copiedOther(t.src, { ...source, listed: a.etag, got: copied }))) return;
  const key = run.to.prefix + a.rel;
  const what = `the store copied a different object to ${key} (ETag ${copied.etag}, not the source's ${copied.alongSource?.etag ?? a.etag})`;
  run.notice(`${what}: streamed through instead`, a.rel);
  try {
    await stream();
  } catch (err) {
    if (signal?.aborted || (err instanceof S3SyncError && isFatal(err))) throw err;
    const left = await t.dst.deleteKeys([key]).catch(() => undefined);
    const removed = left !== undefined && !left.has(key);
    throw runError(
      `not copied: ${what}, and streaming it through failed (${errorMessage(err).replace(/^not copied: /, '')}); ${removed ? 'the wrong copy was removed' : 'the wrong copy could not be removed'}`,
      err,
    );
  }
}

const short = (id: string) => `${id.slice(0, 12)}…`;

/**
 * After a copy in parts: the incomplete uploads still at its key (a run killed or cancelled before
 * this one, or another writer) are said, with what aborts them, since no S3 → S3 run comes back to
 * them. Said, not aborted: S3 names no owner, and one may be another writer's live upload. Only for
 * keys copied in parts, where one more request is small beside the copy's own, so a run that copies
 * nothing in parts (a no-change run) makes none. A failed look is no failure of the copy.
 */
async function sayUploadsLeft(
  run: S3PairRun,
  dst: S3Transport,
  rel: string,
  lookLeft: { refused: boolean; first?: Promise<unknown> },
): Promise<void> {
  // Until the store has answered one look, the others wait for it: copies finishing together would
  // each ask a store that refuses.
  if (lookLeft.first) await lookLeft.first.catch(() => undefined);
  if (lookLeft.refused || run.opts.signal?.aborted) return;
  const key = run.to.prefix + rel;
  const look = dst.uploadsAt(key).catch((err: unknown) => {
    if (err instanceof S3SyncError && isFatal(err)) throw err;
    return undefined;
  });
  lookLeft.first ??= look;
  const found = await look;
  if (found === 'refused') lookLeft.refused = true;
  if (!found || found === 'refused' || found.uploads.length === 0) return;
  const n = found.uploads.length;
  run.notice(
    `${n} incomplete multipart upload${n === 1 ? '' : 's'} at ${key} (left by a killed run, or another ` +
      `writer's): billed until aborted; 's3sync cleanup s3://${run.to.bucket}/${key}' aborts ${n === 1 ? 'it' : 'them'} ` +
      'once a day old (--older-than)',
    rel,
  );
}

/**
 * What a run that keeps no manifest says of the uploads a CreateMultipartUpload without an answer may
 * have left: no next run will come back to them, so each one not aborted is named with what can.
 */
export function straysNotices(r: StraysOutcome): string[] {
  const cleanup = "'s3sync cleanup' (or a lifecycle rule) can abort it";
  if ('notListed' in r)
    return [
      r.notListed === 'refused'
        ? `the server cannot list multipart uploads here: an upload a lost CreateMultipartUpload answer may have left at ${r.key} cannot be looked for; ${cleanup}`
        : `could not look for multipart uploads a lost CreateMultipartUpload answer may have left at ${r.key} (${errorMessage(r.notListed.error)}); ${cleanup}`,
    ];
  return [
    ...r.aborted.map(
      (id) => `aborted multipart upload ${short(id)} left at ${r.key} by a lost CreateMultipartUpload answer`,
    ),
    ...r.notAborted.map(
      (id) =>
        `could not abort multipart upload ${short(id)} left at ${r.key} by a lost CreateMultipartUpload answer; ${cleanup}`,
    ),
  ];
}

/** The guards' verdict on `deletes` deletions: a skip is reported, a refusal thrown as a usage error. */
function deletesGo(
  run: S3PairRun,
  deletes: number,
  counts: { source: number; destination: number },
): boolean {
  if (deletes === 0) return false;
  const v = deleteVerdict({
    deletes,
    destinationFiles: counts.destination,
    sourceFiles: counts.source,
    errors: run.result.errors.length,
    force: run.opts.force === true,
    maxDelete: run.opts.maxDelete,
  });
  if ('skip' in v) {
    run.emit({ type: 'error', message: v.skip });
    skipped(run.result, deletes);
  }
  if ('refuse' in v) throw usageError(v.refuse);
  return v.go;
}

/** The deletions, last, behind the same guards as push and pull. */
export async function deleteAll(
  run: S3PairRun,
  dst: S3Transport,
  deletes: Extract<S3SyncAction, { kind: 'delete' }>[],
  counts: { source: number; destination: number },
) {
  if (!deletesGo(run, deletes.length, counts)) return;
  const keep = new Set<string>();
  await forEachLimit(deletes, setting(run.opts, 'workers'), async (d) => {
    if (await kept(run, dst, d.rel)) keep.add(d.rel);
  });
  const going = deletes.filter((d) => keep.has(d.rel));
  const byKey = new Map(going.map((d) => [d.key, d]));
  // Counted batch by batch: a run cancelled before the last still says what it deleted.
  await dst.deleteKeys([...byKey.keys()], (keys, failed) => {
    for (const key of keys) {
      const d = byKey.get(key)!;
      const code = failed.get(key);
      if (code) {
        run.fileError(d.rel, `delete failed: ${code}`);
        continue;
      }
      run.result.deleted++;
      run.emit({ type: 'done', action: 'delete', rel: d.rel, size: d.size, reason: d.reason });
    }
  });
}

/**
 * --backup-dir: the destination object at `rel`, if there is one, copied to the backup location before
 * it is overwritten or deleted. False: it could not be kept, so it is left alone (one error line); a
 * missing backup bucket or a refused access stops the run, as on push.
 */
async function kept(run: S3PairRun, dst: S3Transport, rel: string): Promise<boolean> {
  const o = run.destinationObjects.get(rel);
  if (!run.backup || !o) return true;
  try {
    await backupObject(dst, { rel, key: o.key, size: o.size, etag: o.etag }, run.backup);
    return true;
  } catch (err) {
    if (run.opts.signal?.aborted) return false;
    if (err instanceof S3SyncError && isFatal(err)) throw err;
    run.fileError(
      rel,
      `not changed: could not keep the object under --backup-dir: ${(err as Error).message}`,
    );
    return false;
  }
}
