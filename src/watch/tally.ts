/** The counts of files a watch's summary gives, pure: the loop (./watch-loop.ts) hands it what it knows. */
import type { ManifestEntry } from '../manifest/schema.js';
import { PathScope } from './scope.js';

/** What is at a path now, as the summary needs it: a file's size and mtime, a folder, or nothing. */
export type Found = { size: number; mtimeMs: number } | 'dir' | undefined;

/** A file found under the paths with events pending. */
export interface Present {
  size: number;
  mtimeMs: number;
  /** As its manifest entry says: sent as it is (by a batch the stop cut short), nothing left to do. */
  same: boolean;
}

/** How the tree is now, and how the last run saw it: what it selects, whether it deletes what is gone. */
export interface TreeView {
  /** Whether a path lies under one whose events are pending (not failing): `present` has its files. */
  covered: (rel: string) => boolean;
  /**
   * The files under those paths now, as a push's scan finds them (folders walked, links taken as it
   * takes them), whatever the filters say. An entry covered and not here is gone.
   */
  present: ReadonlyMap<string, Present>;
  /** What is at a path now: asked of failing paths, and with limits of every entry not covered. */
  found: (rel: string) => Found;
  /** Whether the filters select a path: the glob rules, the shard, the list; not s3sync's own files. */
  selected: (rel: string) => boolean;
  /** Whether the size and age limits let a file of this size and mtime through. */
  fits: (size: number, mtimeMs: number) => boolean;
  /**
   * Whether there are such limits: then every entry's file is looked at as it is now (a batch leaves
   * out a file grown past them, and its entry stays as it was).
   */
  limited: boolean;
  /** --delete: the object of a file gone is still to delete while its entry is left. */
  deletes: boolean;
}

/**
 * The tree as last known, for the watch's summary (a walk's counts alone said a file changed and sent
 * since was unchanged, and nothing of the files left unsent): the manifest as the last run saved it,
 * with the paths whose events are pending as they are now; `pending`: what the next run sends (a file
 * changed, new, or in a folder made or moved there) and, with --delete, deletes (an entry whose file is
 * gone, failing or not); `unchanged`: the files of the manifest not sent (nor recorded) since
 * `started`, nor pending, nor failing. Only the files a push with the same filters and limits would count: the manifest keeps
 * the entries of files they leave out.
 */
export function treeAsKnown(
  files: ReadonlyMap<string, ManifestEntry>,
  started: number,
  failing: ReadonlySet<string>,
  view: TreeView,
): { scanned: number; unchanged: number; pending: number } {
  const { selected, fits } = view;
  const isFile = (f: Found): f is { size: number; mtimeMs: number } => f !== undefined && f !== 'dir';
  const waiting = new Set<string>();
  for (const [rel, p] of view.present)
    if (!p.same && !failing.has(rel) && selected(rel) && fits(p.size, p.mtimeMs)) waiting.add(rel);
  const underFailing = new PathScope(failing).covers;
  const since = new Date(started).toISOString();
  let scanned = 0;
  let unchanged = 0;
  let deletes = 0;
  for (const [rel, e] of files) {
    // A failing path counts whatever the filters say now: its error is in the summary. Gone (its delete
    // refused or failed), it is no file of the tree, and with --delete its object is still to delete.
    if (failing.has(rel)) {
      if (isFile(view.found(rel))) scanned++;
      else if (view.deletes) deletes++;
      continue;
    }
    if (!selected(rel)) continue;
    // Outside the pending paths an entry stands for its file, unless limits ask how the file is now, or
    // it lies under a failing folder (one removed whole, its deletes refused): no pending path covers it.
    const now = view.covered(rel)
      ? view.present.get(rel)
      : view.limited || underFailing(rel)
        ? view.found(rel)
        : e;
    if (now === undefined || now === 'dir') {
      if (view.deletes) deletes++;
      continue;
    }
    if ('mtimeMs' in now && !fits(now.size, now.mtimeMs)) continue;
    scanned++;
    if (!waiting.has(rel) && e.syncedAt < since) unchanged++;
  }
  for (const rel of waiting) if (!files.has(rel)) scanned++;
  for (const rel of failing) if (!files.has(rel) && isFile(view.found(rel))) scanned++;
  return { scanned, unchanged, pending: waiting.size + deletes };
}
