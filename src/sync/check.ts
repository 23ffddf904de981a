import { scanDirectoryYielding } from '../local/scan.js';
import { scanListed } from '../local/scan-listed.js';
import { STATE_DIR } from '../manifest/store.js';
import { checkEnds, validateOptions } from '../options/validate.js';
import { type CheckDifference, planCheck } from '../plan/check.js';
import type { RequestCounts } from '../s3/request-counter.js';
import { resolveAt } from './at-time.js';
import type { FileError, SyncEvent } from './events.js';
import type { CheckOptions } from './options.js';
import { prelude, within } from './prelude.js';
import { RunContext, requireDirectory } from './run-context.js';
import { fitting, headListed, headsInstead, remoteFits } from './selection.js';

export interface CheckResult {
  command: 'check';
  same: number;
  onlyLocal: string[];
  onlyRemote: string[];
  differ: string[];
  differences: CheckDifference[];
  errors: FileError[];
  requests: RequestCounts;
  requestsTotal: number;
  elapsedMs: number;
  /** `ok` identical; `differ` a difference; `failed` some files could not be compared. */
  outcome: 'ok' | 'differ' | 'failed';
}

export type CheckEvent =
  | SyncEvent
  | ({ type: 'difference' } & CheckDifference)
  | ({ type: 'check-summary' } & CheckResult);

/**
 * Verifies that a directory and a prefix hold the same files and content, like `rclone check`.
 * Read-only: it takes no lock and writes no manifest.
 */
export async function check(opts: CheckOptions): Promise<CheckResult> {
  validateOptions(opts, 'check');
  checkEnds('check', opts.local, opts.remote);
  const root = requireDirectory(opts.local, 'local directory');
  const at = resolveAt(opts.at);
  // The counters are those of a push (local → remote); check reports its own result below.
  const s = await RunContext.create({
    root,
    remote: opts.remote,
    opts,
    command: 'push',
    writeManifest: false,
    at,
  });
  await s.store.open();
  const emit = (e: CheckEvent) => opts.onEvent?.(e);
  const listed = s.selection.listed;
  try {
    const { plan } = await prelude(s, {
      // The listing goes out first; the tree is read while the server answers. A short list of paths is
      // looked up key by key instead.
      listing:
        listed && headsInstead(listed.size, s.store.files.size)
          ? { fetch: () => headListed(s, listed) }
          : { keep: (rel) => s.selected(rel) && rel !== '' && !rel.endsWith('/') },
      scan: () => {
        const scanOpts = {
          followSymlinks: opts.followSymlinks,
          skipDir: (rel: string) => rel === STATE_DIR || s.filter.excludesDir(rel),
          includeFile: s.selected,
        };
        return listed ? scanListed(root, [...listed], scanOpts) : scanDirectoryYielding(root, scanOpts);
      },
      notices: false,
      planning: (found) => {
        // Selected as a push selects: a local file by its size and mtime (compared with its object
        // whatever the object's), an object with no local file by its own size and LastModified.
        const local = new Map(fitting(s.selection, found.files).map((f) => [f.rel, f]));
        const scanned = new Set(found.files.map((f) => f.rel));
        // An object whose file the scan could not stat (or whose folder it could not read) is not
        // compared: it was reported as an error, and is not "only remote".
        const { active } = s.selection.sizeAge;
        const remote =
          active || found.unreadable.size > 0
            ? new Map(
                [...found.remote!].filter(
                  ([rel, r]) =>
                    !within(found.unreadable, rel) &&
                    (!active || local.has(rel) || (!scanned.has(rel) && remoteFits(s.selection, r))),
                ),
              )
            : found.remote!;
        const input = () => ({
          local,
          remote,
          manifest: s.store.files,
          racyThresholdNs: s.store.racyThresholdNs,
          facts: found.facts,
          full: opts.full,
        });
        return {
          plan: () => planCheck(input()),
          files: () => local.values(),
          // A file that could not be read is reported as such, and compared neither way (not only-remote).
          drop: (bad) => {
            for (const rel of bad) {
              local.delete(rel);
              remote.delete(rel);
            }
          },
        };
      },
    });
    for (const d of plan.differences) emit({ type: 'difference', ...d });
    const base = await s.close(true);
    const of = (status: CheckDifference['status']) =>
      plan.differences.filter((d) => d.status === status).map((d) => d.rel);
    const result: CheckResult = {
      command: 'check',
      same: plan.same,
      onlyLocal: of('only-local'),
      onlyRemote: of('only-remote'),
      differ: of('differ'),
      differences: plan.differences,
      errors: base.errors,
      requests: base.requests,
      requestsTotal: base.requestsTotal,
      elapsedMs: base.elapsedMs,
      outcome: base.errors.length > 0 ? 'failed' : plan.differences.length > 0 ? 'differ' : 'ok',
    };
    emit({ type: 'check-summary', ...result });
    return result;
  } catch (err) {
    await s.close(false);
    throw err;
  }
}
