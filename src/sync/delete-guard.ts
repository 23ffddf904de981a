import { usageError } from '../errors.js';
import { parseMaxDelete, setting } from '../options/validate.js';
import type { RunContext } from './run-context.js';

/** --max-delete as a number of files: '100' (files) or '25%' (of the destination's files). */
export function maxDeleteLimit(spec: number | string | undefined, destinationFiles: number): number {
  // Validated when the run started; `setting` throws for a caller that skipped the entry points.
  const limit = parseMaxDelete(setting({ maxDelete: spec }, 'maxDelete'))!;
  return 'count' in limit ? limit.count : Math.floor(limit.share * destinationFiles);
}

/**
 * Deletions are the one irreversible step, so they run last and only after a clean run, never for an
 * empty source (a failed mount looks exactly like that: aws-cli #1564), and within --max-delete.
 */
export function enforceDeleteGuards(
  s: RunContext,
  deletes: number,
  destinationFiles: number,
  sourceFiles: number,
): boolean {
  if (s.result.errors.length > 0) {
    s.emit({
      type: 'error',
      message: `not deleting ${deletes} file(s): ${s.result.errors.length} error(s) happened in this run`,
    });
    return false;
  }
  const force = s.opts.force === true;
  if (sourceFiles === 0 && !force) {
    throw usageError(
      `refusing to delete all ${deletes} file(s): the source is empty (use --force if you mean it)`,
    );
  }
  const limit = maxDeleteLimit(s.opts.maxDelete, destinationFiles);
  if (!force && deletes > limit) {
    throw usageError(
      `refusing to delete ${deletes} of ${destinationFiles} file(s): over --max-delete ${setting(s.opts, 'maxDelete')} ` +
        `(${limit}); raise it or use --force`,
    );
  }
  return true;
}
