import { S3SyncError } from '../errors.js';
import { parseMaxDelete, setting } from '../options/validate.js';
import { isFolderMarker } from '../plan/keys.js';
import type { SyncResult } from './events.js';
import type { RunContext } from './run-context.js';

/** --max-delete as a number of files: '100' (files) or '25%' (of the destination's files). */
export function maxDeleteLimit(spec: number | string | undefined, destinationFiles: number): number {
  // Validated when the run started; `setting` throws for a caller that skipped the entry points.
  const limit = parseMaxDelete(setting({ maxDelete: spec }, 'maxDelete'))!;
  return 'count' in limit ? limit.count : Math.floor(limit.share * destinationFiles);
}

/**
 * The source's files among its listed keys, for the empty-source guard: a folder marker is counted
 * out, since a prefix holding only "Create folder" placeholders has nothing to sync from.
 */
export function sourceFilesOf(keys: Iterable<string>): number {
  let n = 0;
  for (const rel of keys) if (!isFolderMarker(rel)) n++;
  return n;
}

/** What the guards say about a run's deletions: go ahead, skip them (reported), or refuse the run. */
export type DeleteVerdict = { go: true } | { go: false; skip: string } | { go: false; refuse: string };

/**
 * Deletions are the one irreversible step, so they run last and only after a clean run, never for an
 * empty source (a failed mount looks exactly like that: aws-cli #1564), and within --max-delete.
 * Pure, so the arithmetic can be pinned by a table.
 */
export function deleteVerdict(c: {
  deletes: number;
  destinationFiles: number;
  sourceFiles: number;
  errors: number;
  force: boolean;
  maxDelete?: number | string;
}): DeleteVerdict {
  if (c.errors > 0)
    return {
      go: false,
      skip: `not deleting ${c.deletes} file(s): ${c.errors} error(s) happened in this run`,
    };
  if (c.sourceFiles === 0 && !c.force) {
    return {
      go: false,
      refuse: `refusing to delete all ${c.deletes} file(s): the source is empty (use --force if you mean it)`,
    };
  }
  const limit = maxDeleteLimit(c.maxDelete, c.destinationFiles);
  if (!c.force && c.deletes > limit) {
    return {
      go: false,
      refuse:
        `refusing to delete ${c.deletes} of ${c.destinationFiles} file(s): over --max-delete ${setting({ maxDelete: c.maxDelete }, 'maxDelete')} ` +
        `(${limit}); raise it or use --force`,
    };
  }
  return { go: true };
}

/**
 * A guard refused the run's deletions (a usage error, as any refusal): its own class so that a watch
 * can keep them refused for the rest of its life rather than retry them until a threshold lets them by.
 */
export class DeletesRefused extends S3SyncError {
  constructor(message: string) {
    super(message, 'usage');
  }
}

/** The guards applied to a run: a skip is reported as an error event, a refusal is a usage error. */
export function enforceDeleteGuards(
  s: RunContext,
  deletes: number,
  destinationFiles: number,
  sourceFiles: number,
): boolean {
  const v = deleteVerdict({
    deletes,
    destinationFiles,
    sourceFiles,
    errors: s.result.errors.length,
    force: s.opts.force === true,
    maxDelete: s.opts.maxDelete,
  });
  if ('skip' in v) {
    s.emit({ type: 'error', message: v.skip });
    skipped(s.result, deletes);
  }
  if ('refuse' in v) throw new DeletesRefused(v.refuse);
  return v.go;
}

/** Counts deletions a guard skipped into the run's summary: its last line says so, not an event alone. */
export function skipped(result: SyncResult, deletes: number): void {
  result.deletesSkipped = (result.deletesSkipped ?? 0) + deletes;
}
