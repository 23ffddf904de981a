/** The counts of files a watch's summary gives, pure: the loop (./watch-loop.ts) hands it what it knows. */
import type { ManifestEntry } from '../manifest/schema.js';

/**
 * The tree as last known, for the watch's summary (a walk's counts alone said a file changed and sent
 * since was unchanged, and nothing of the files left unsent): the manifest as the last run saved it,
 * plus the files changed and not yet sent (`pending`, which the next run sends); `unchanged`: the files
 * of the manifest not sent (nor recorded) since `started`, nor pending, nor failing. Only `selected`
 * paths count, as a push counts them: the manifest keeps the entries of files the filters leave out.
 */
export function treeAsKnown(
  files: ReadonlyMap<string, ManifestEntry>,
  started: number,
  unsent: { pending: Iterable<string>; failing: ReadonlySet<string> },
  known: { isFile: (rel: string) => boolean; selected: (rel: string) => boolean },
): { scanned: number; unchanged: number; pending: number } {
  const { isFile, selected } = known;
  const waiting = new Set(
    [...unsent.pending].filter((rel) => !unsent.failing.has(rel) && selected(rel) && isFile(rel)),
  );
  const since = new Date(started).toISOString();
  let scanned = 0;
  let unchanged = 0;
  for (const [rel, e] of files) {
    if (!selected(rel)) continue;
    scanned++;
    if (e.syncedAt < since && !waiting.has(rel) && !unsent.failing.has(rel)) unchanged++;
  }
  for (const rel of new Set([...waiting, ...unsent.failing])) if (!files.has(rel) && isFile(rel)) scanned++;
  return { scanned, unchanged, pending: waiting.size };
}
