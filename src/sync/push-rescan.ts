import { describePath, unreadable } from '../local/open-file.js';
import type { LocalFile } from '../local/scan.js';
import { absPath, scanDirectory } from '../local/scan.js';
import type { RunContext } from './run-context.js';

/**
 * Whether a file caught changing mid-upload gets its one more try: scanned again, it is the same file
 * (same device and inode) changed in place, as a file still being written is; `files` then holds its
 * fresh stat data. Another file at the path, or something the scan would now skip (a link, a FIFO), is
 * not the file planned (an error); gone is a warning.
 */
export function rescanned(s: RunContext, files: Map<string, LocalFile>, rel: string): boolean {
  const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
  const fresh = scanDirectory(s.localRoot, {
    followSymlinks: s.followsSymlinks,
    includeFile: (r) => r === rel,
    skipDir: (d) => !(dir === d || dir.startsWith(`${d}/`)),
  }).files[0];
  const was = files.get(rel)!;
  if (fresh) {
    const same = fresh.dev === was.dev && fresh.ino === was.ino;
    if (same) files.set(rel, fresh);
    else s.fileError(rel, 'was replaced by another file (another inode): not uploaded');
    return same;
  }
  const now = describePath(absPath(s.localRoot, rel), s.followsSymlinks);
  const why = unreadable(now);
  if (why !== undefined) s.fileError(rel, `cannot be looked at now (${why}): not uploaded`);
  else if (now === 'missing') goneWarning(s, rel);
  else if (now !== 'file') s.fileError(rel, `is no longer a regular file (${now}): not uploaded`);
  else s.fileError(rel, 'changed during the run and could not be scanned again: not uploaded');
  return false;
}

/** A file gone from its path mid-run: nothing is left to send, and the next run sees it gone. */
export const goneWarning = (s: RunContext, rel: string) => s.warn(`${rel}: disappeared during the run`, rel);

/** Whether something is at a file's path (a file gone on the last try is a warning, not an error). */
export const existsOnDisk = (s: RunContext, rel: string) =>
  describePath(absPath(s.localRoot, rel), s.followsSymlinks) !== 'missing';
