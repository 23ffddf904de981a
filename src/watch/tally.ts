/** The counts of files a watch's summary gives, pure: the loop (./watch-loop.ts) hands it what it knows. */
import type { ManifestEntry } from '../manifest/schema.js';

/** What is at a path now, as the summary needs it: a file's size and mtime, a folder, or nothing. */
export type Found = { size: number; mtimeMs: number } | 'dir' | undefined;

/** How the last run saw the tree: what it selects, and whether it deletes what is gone. */
export interface TreeView {
  /** What is at a path now (asked of pending and failing paths only). */
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
 * plus the files changed and not yet sent (`pending`, which the next run sends); `unchanged`: the files
 * of the manifest not sent (nor recorded) since `started`, nor pending, nor failing. Only the files a
 * push with the same filters and limits would count: the manifest keeps the entries of files they
 * leave out, and of files gone whose events are pending (with --delete, each a delete still pending).
 */
export function treeAsKnown(
  files: ReadonlyMap<string, ManifestEntry>,
  started: number,
  unsent: { pending: Iterable<string>; failing: ReadonlySet<string> },
  view: TreeView,
): { scanned: number; unchanged: number; pending: number } {
  const { selected, fits } = view;
  const { failing } = unsent;
  const waiting = new Set<string>();
  const gone = new Set<string>();
  // Pending files the limits leave out as they are now: their entries (of before) are not counted.
  const leftOut = new Set<string>();
  for (const rel of unsent.pending) {
    if (failing.has(rel)) continue;
    const f = view.found(rel);
    if (f === undefined) gone.add(rel);
    else if (f !== 'dir') (selected(rel) && fits(f.size, f.mtimeMs) ? waiting : leftOut).add(rel);
  }
  const isGone = (rel: string) => {
    if (gone.size === 0) return false;
    if (gone.has(rel)) return true;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1))
      if (gone.has(rel.slice(0, i))) return true;
    return false;
  };
  const since = new Date(started).toISOString();
  let scanned = 0;
  let unchanged = 0;
  let deletes = 0;
  for (const [rel, e] of files) {
    // A failing path counts whatever the filters say now: its error is in the summary.
    if (failing.has(rel)) scanned++;
    else if (!selected(rel) || leftOut.has(rel)) continue;
    else if (waiting.has(rel)) scanned++;
    else if (isGone(rel)) {
      if (view.deletes) deletes++;
    } else {
      const f = view.limited ? view.found(rel) : undefined;
      if (view.limited && f === undefined) {
        if (view.deletes) deletes++;
      } else if (f === undefined || (f !== 'dir' && fits(f.size, f.mtimeMs))) {
        scanned++;
        if (e.syncedAt < since) unchanged++;
      }
    }
  }
  for (const rel of new Set([...waiting, ...failing])) {
    if (files.has(rel)) continue;
    const f = view.found(rel);
    if (f !== undefined && f !== 'dir') scanned++;
  }
  return { scanned, unchanged, pending: waiting.size + deletes };
}
