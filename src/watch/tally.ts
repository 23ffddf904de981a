/** The counts of files a watch's summary gives, pure: the loop (./watch-loop.ts) hands it what it knows. */
import type { ManifestEntry } from '../manifest/schema.js';

/**
 * The tree as last known, for the watch's summary (a walk's counts alone said a file changed and sent
 * since was unchanged, and nothing of the files left unsent): the manifest as the last run saved it,
 * plus the files changed and not yet sent (`pending`, which the next run sends); `unchanged`: the files
 * of the manifest not sent (nor recorded) since `started`, nor pending, nor failing.
 */
export function treeAsKnown(
  files: ReadonlyMap<string, ManifestEntry>,
  started: number,
  unsent: { pending: Iterable<string>; failing: ReadonlySet<string> },
  isFile: (rel: string) => boolean,
): { scanned: number; unchanged: number; pending: number } {
  const waiting = new Set([...unsent.pending].filter((rel) => !unsent.failing.has(rel) && isFile(rel)));
  const since = new Date(started).toISOString();
  let unchanged = 0;
  for (const [rel, e] of files)
    if (e.syncedAt < since && !waiting.has(rel) && !unsent.failing.has(rel)) unchanged++;
  let unknown = 0;
  for (const rel of new Set([...waiting, ...unsent.failing])) if (!files.has(rel) && isFile(rel)) unknown++;
  return { scanned: files.size + unknown, unchanged, pending: waiting.size };
}
