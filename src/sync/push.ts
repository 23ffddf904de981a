import { S3SyncError } from '../errors.js';
import { scanDirectory } from '../local/scan.js';
import { STATE_DIR } from '../manifest/store.js';
import { type PushAction, planPush } from '../plan/push.js';
import { emptyFacts, type Facts } from '../plan/types.js';
import { isFatal } from '../s3/errors.js';
import { enforceDeleteGuards } from './delete-guard.js';
import type { SyncResult } from './events.js';
import { gatherFacts } from './facts.js';
import {
  DEFAULT_MULTIPART_THRESHOLD,
  DEFAULT_PART_SIZE,
  DEFAULT_WORKERS,
  type PushOptions,
} from './options.js';
import { forEachLimit } from './pool.js';
import { requireDirectory, Session } from './session.js';
import { FileChangedError, uploadFile } from './upload.js';

/** Upload a directory to s3://bucket/prefix, transferring only what changed. */
export async function push(opts: PushOptions): Promise<SyncResult> {
  const root = requireDirectory(opts.source, 'source directory');
  const s = new Session(root, opts.destination, opts, 'push', opts);
  await s.loadFilter();
  await s.openManifest();
  let completed = false;
  try {
    await runPush(s, opts);
    completed = true;
  } finally {
    await s.close(completed);
  }
  s.emit({ type: 'summary', ...s.result });
  return s.result;
}

async function runPush(s: Session, opts: PushOptions): Promise<void> {
  const r = s.result;
  const scan = scanDirectory(s.localRoot, {
    followSymlinks: opts.followSymlinks,
    skipDir: (rel) => rel === STATE_DIR || s.filter.excludesDir(rel),
    includeFile: s.selected,
    keyPrefix: s.location.prefix,
  });
  for (const n of scan.notices) s.notice(`${n.rel}: ${n.message}`, n.rel);
  for (const e of scan.errors) s.fileError(e.rel, e.message);
  r.scanned = scan.files.length;

  // Decide: the planner asks for the cheapest missing facts until every file is settled.
  const facts = emptyFacts();
  const unreadable = new Set<string>();
  let files = scan.files;
  let plan = planPush(input());
  function input() {
    return {
      files,
      manifest: s.manifest.files,
      racyThresholdNs: s.loaded.racyThresholdNs,
      facts,
      options: {
        force: opts.incremental === false,
        verify: opts.verify,
        delete: opts.delete,
        remoteSelected: opts.deleteExcluded ? undefined : s.selected,
      },
    };
  }
  for (let round = 0; plan.needs.length > 0 && round < 5; round++) {
    await gatherFacts(s, plan.needs, facts, unreadable);
    if (unreadable.size > 0) files = files.filter((f) => !unreadable.has(f.rel));
    plan = planPush(input());
  }
  if (plan.needs.length > 0) throw new S3SyncError('internal error: the push plan did not settle', 1);

  const byRel = new Map(files.map((f) => [f.rel, f]));
  const uploads = plan.actions.filter((a) => a.kind === 'upload');
  const deletes = plan.actions.filter((a) => a.kind === 'delete');
  s.emit({
    type: 'plan',
    total: files.length,
    transfers: uploads.length,
    bytes: uploads.reduce((n, a) => n + a.size, 0),
    deletes: deletes.length,
  });

  // Manifest hygiene: entries for files that are gone (or now filtered out) describe nothing.
  for (const rel of Object.keys(s.manifest.files)) {
    if (!byRel.has(rel) && !unreadable.has(rel)) {
      delete s.manifest.files[rel];
      s.markDirty();
    }
  }

  for (const a of plan.actions) {
    if (a.kind === 'skip') r.unchanged++;
    else if (a.kind === 'record') recordAction(s, a, facts);
  }
  if (s.opts.dryRun) {
    for (const a of [...uploads, ...deletes]) {
      s.emit({ type: 'action', action: a.kind, rel: a.rel, reason: a.reason, size: a.size, dryRun: true });
    }
    r.uploaded = uploads.length;
    r.deleted = deletes.length;
    return;
  }

  const cfg = {
    multipartThreshold: opts.multipartThreshold ?? DEFAULT_MULTIPART_THRESHOLD,
    partSize: opts.partSize ?? DEFAULT_PART_SIZE,
  };
  const changed: PushAction[] = [];
  const runUpload = async (a: Extract<PushAction, { kind: 'upload' }>, lastTry: boolean) => {
    const f = byRel.get(a.rel)!;
    const t = await s.s3();
    s.emit({ type: 'start', action: 'upload', rel: a.rel, size: f.size });
    try {
      s.manifest.files[a.rel] = await uploadFile(s, t, f, cfg, facts.hashes.get(a.rel));
      s.markDirty();
      r.uploaded++;
      r.bytesTransferred += f.size;
      s.emit({ type: 'done', action: 'upload', rel: a.rel, size: f.size, reason: a.reason });
    } catch (err) {
      if (err instanceof FileChangedError && !lastTry) changed.push(a);
      else if (err instanceof S3SyncError && isFatal(err)) throw err;
      else s.fileError(a.rel, (err as Error).message);
    }
  };
  const workers = opts.workers ?? DEFAULT_WORKERS;
  await forEachLimit(uploads, workers, (a) => runUpload(a, false), opts.signal);
  // Files that changed mid-upload get one more try, once everything else is done.
  if (changed.length > 0) {
    const retry = changed.splice(0) as Extract<PushAction, { kind: 'upload' }>[];
    for (const a of retry) {
      const fresh = scanDirectory(s.localRoot, {
        includeFile: (rel) => rel === a.rel,
        skipDir: (d) => !a.rel.startsWith(`${d}/`),
      });
      const f = fresh.files[0];
      if (!f) {
        s.warn(`${a.rel}: disappeared during the run`, a.rel);
        continue;
      }
      byRel.set(a.rel, f);
    }
    await forEachLimit(
      retry.filter((a) => byRel.has(a.rel)),
      workers,
      (a) => runUpload(a, true),
      opts.signal,
    );
  }

  if (deletes.length > 0) {
    const destination = [...(facts.remote?.keys() ?? [])].filter(s.selected).length;
    enforceDeleteGuards(s, deletes.length, destination, scan.files.length);
    const t = await s.s3();
    const failed = await t.deleteKeys(deletes.map((d) => (d as { key: string }).key));
    for (const d of deletes) {
      const key = (d as { key: string }).key;
      const code = failed.get(key);
      if (code) s.fileError(d.rel, `delete failed: ${code}`);
      else {
        r.deleted++;
        s.emit({ type: 'done', action: 'delete', rel: d.rel, size: d.size, reason: d.reason });
      }
    }
  }
}

function recordAction(s: Session, a: Extract<PushAction, { kind: 'record' }>, facts: Facts): void {
  const h = facts.hashes.get(a.rel);
  // The hash belongs to the stat seen while reading: record that, and only if it held still.
  if (!h?.stable) return;
  s.manifest.files[a.rel] = {
    ...h.stat,
    md5: a.md5,
    etag: a.etag,
    partSize: a.partSize,
    syncedAt: new Date().toISOString(),
  };
  s.markDirty();
  s.result.recorded++;
  s.emit({ type: 'done', action: 'record', rel: a.rel, size: h.size, reason: a.reason });
}
