import type { LocalFile } from '../local/scan.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { archivedMessage, isArchived, restoreDone } from './archive.js';
import { compareContent, isRacy, matchedPartSize, recordReason, statMatches } from './compare.js';
import { isFolderMarker, type KeptObject, keyForm, refusedKeys } from './keys.js';
import type { DownloadReason, Facts, Need, RemoteObject } from './types.js';

export type PullAction =
  | { kind: 'skip'; rel: string }
  /** The local file already holds the object's content: only the manifest changes. */
  | {
      kind: 'record';
      rel: string;
      reason: 'stat-changed' | 'unproven' | 'already-local';
      md5: string;
      etag: string;
      partSize: number;
    }
  | {
      kind: 'download';
      rel: string;
      key: string;
      reason: DownloadReason;
      size: number;
      etag: string;
      lastModified: number;
      /** pull --at: the version current at that time, and whether it still is (see RemoteObject). */
      versionId?: string;
      isLatest?: boolean;
    }
  /** `excluded`: outside the filters or limits, deleted under --delete-excluded whatever the remote holds. */
  | { kind: 'delete'; rel: string; reason: 'no-remote-object' | 'excluded'; size: number }
  /** A key that must never be written locally (`../x`, `/abs`, `a` and `a/b` …). */
  | { kind: 'reject'; rel: string; key: string; reason: string }
  /** To download, but in an archive tier and not restored: skipped, with its one line. */
  | { kind: 'archived'; rel: string; key: string; reason: string };

export interface PullPlanInput {
  remote: Map<string, RemoteObject>;
  local: Map<string, LocalFile>;
  manifest: ReadonlyMap<string, ManifestEntry>;
  racyThresholdNs: bigint;
  facts: Facts;
  options: {
    force?: boolean;
    delete?: boolean;
    localSelected?: (rel: string) => boolean;
    /** --delete-excluded: whether a local file is outside the filters or limits (its delete's reason). */
    excluded?: (rel: string) => boolean;
  };
}

export interface PullPlan {
  actions: PullAction[];
  needs: Need[];
  /** Folder markers holding bytes: no file can have their names, so they are skipped, and said. */
  kept?: KeptObject[];
}

export function decidePullObject(
  r: RemoteObject,
  f: LocalFile | undefined,
  e: ManifestEntry | undefined,
  racyThresholdNs: bigint,
  facts: Facts,
  force: boolean | undefined,
): PullAction | Need {
  const download = (reason: DownloadReason): PullAction => ({
    kind: 'download',
    rel: r.rel,
    key: r.key,
    reason,
    size: r.size,
    etag: r.etag,
    lastModified: r.lastModified,
    ...(r.versionId !== undefined && { versionId: r.versionId, isLatest: r.isLatest }),
  });
  if (!f) return download('new');
  if (force) return download('forced');
  // An entry with no ETag (adopted from the Python script's manifest) cannot vouch for the object.
  if (e && e.etag !== '' && statMatches(f, e) && !isRacy(f, racyThresholdNs)) {
    // The local file is exactly what the last sync left: the object alone says whether anything changed.
    // A compressed object (--compress) is as large as its stored bytes, the file as its original ones.
    return r.size === (e.stored ?? e.size) && r.etag === e.etag
      ? { kind: 'skip', rel: r.rel }
      : download('remote-changed');
  }
  // The object is what the last sync left, so a difference is an edit of the local file: said as such,
  // as it is the edit that the download replaces.
  const remoteAsSynced =
    e !== undefined && e.etag !== '' && r.size === (e.stored ?? e.size) && r.etag === e.etag;
  const differs = (otherwise: DownloadReason) => download(remoteAsSynced ? 'local-changed' : otherwise);
  if (f.size !== r.size) return differs('size-changed');
  // Changed locally (or never synced): compare content before overwriting anything.
  const hash = facts.hashes.get(r.rel);
  // The hash was taken of another file than the one scanned (its path changed in between, maybe through
  // a link swapped in): it says nothing about this one.
  if (hash && hash.stat.ino !== f.ino) return differs('content-changed');
  const verdict = compareContent(f.size, r, hash, facts.heads.get(r.rel), e?.partSize);
  if (verdict === 'same') {
    // A past version (pull --at) that is no longer current: the manifest records only what the
    // current object holds, so the file is left as it is and nothing is recorded.
    if (r.versionId !== undefined && r.isLatest === false) return { kind: 'skip', rel: r.rel };
    return {
      kind: 'record',
      rel: r.rel,
      reason: e ? recordReason(f, e, racyThresholdNs) : 'already-local',
      md5: hash!.md5,
      etag: r.etag,
      partSize: matchedPartSize(hash!.multipart, r.etag),
    };
  }
  // Not provably the same: fetched again, and the download checks its bytes as it can.
  if (verdict === 'different' || verdict === 'unverifiable') return differs('content-changed');
  if (verdict.need === 'hash')
    return { kind: 'hash', rel: r.rel, size: f.size, partSizes: verdict.partSizes };
  return { kind: 'head', rel: r.rel };
}

/** Plans a pull: pure, like planPush; hostile keys become 'reject' actions and are never written. */
export function planPull(input: PullPlanInput): PullPlan {
  const { remote, local, manifest, racyThresholdNs, facts, options } = input;
  const actions: PullAction[] = [];
  const needs: Need[] = [];
  const kept: KeptObject[] = [];
  // Only keys that may be written stand in one another's way: a folder marker or a key refused as
  // unsafe is never written, so `a/` or `a/back\slash` must not keep the file `a` from every pull.
  const { unsafe, conflicts } = refusedKeys(remote.keys());
  for (const r of remote.values()) {
    // A folder marker is no file to write: a zero-byte one is skipped in silence, one with bytes said.
    if (isFolderMarker(r.rel)) {
      const form = keyForm(r);
      if (form.kind === 'no-file') kept.push({ rel: r.rel, key: r.key, size: r.size, reason: form.reason });
      continue;
    }
    const reason = unsafe.get(r.rel) ?? conflicts.get(r.rel);
    if (reason) {
      actions.push({ kind: 'reject', rel: r.rel, key: r.key, reason });
      continue;
    }
    const d = decidePullObject(
      r,
      local.get(r.rel),
      manifest.get(r.rel),
      racyThresholdNs,
      facts,
      options.force,
    );
    if (d.kind === 'hash' || d.kind === 'head') needs.push(d);
    else if (d.kind === 'download' && isArchived(r)) {
      // Only an object to download is looked at: a GET fails until it is restored, which its HEAD says.
      const h = facts.heads.get(r.rel);
      if (!h) needs.push({ kind: 'head', rel: r.rel });
      else if (restoreDone(h.restore)) actions.push(d);
      else actions.push({ kind: 'archived', rel: r.rel, key: r.key, reason: archivedMessage(r) });
    } else if (d.kind !== 'listing') actions.push(d);
  }
  if (options.delete) {
    for (const f of local.values()) {
      if (remote.has(f.rel)) continue;
      if (options.localSelected && !options.localSelected(f.rel)) continue;
      const reason = options.excluded?.(f.rel) ? 'excluded' : 'no-remote-object';
      actions.push({ kind: 'delete', rel: f.rel, reason, size: f.size });
    }
  }
  return kept.length > 0 ? { actions, needs, kept } : { actions, needs };
}

/**
 * The downloads whose way the run's own deletions may have to clear first, so they run after them:
 * a deleted file at one of their folders (`a` for `a/x`: a file became a folder), or a folder of
 * local files all deleted at their name (`a/x` for `a`: a folder became a file). Else each would be
 * refused on every pull, the refusal skipping the very deletion that clears it. `local`: every file
 * the scan found.
 */
export function downloadsAfterDeletes(
  downloads: readonly string[],
  deletes: readonly string[],
  local: Iterable<string>,
): Set<string> {
  const after = new Set<string>();
  if (downloads.length === 0 || deletes.length === 0) return after;
  const gone = new Set(deletes);
  // Per folder, how many local files it holds and how many of them go.
  const held = new Map<string, number>();
  const going = new Map<string, number>();
  const count = (rel: string, into: Map<string, number>) => {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      const dir = rel.slice(0, i);
      into.set(dir, (into.get(dir) ?? 0) + 1);
    }
  };
  for (const rel of local) count(rel, held);
  for (const rel of deletes) count(rel, going);
  for (const rel of downloads) {
    let parentGoes = false;
    for (let i = rel.indexOf('/'); i !== -1 && !parentGoes; i = rel.indexOf('/', i + 1))
      parentGoes = gone.has(rel.slice(0, i));
    const folderGoes = going.has(rel) && going.get(rel) === held.get(rel);
    if (parentGoes || folderGoes) after.add(rel);
  }
  return after;
}
