import { scanDirectoryYielding } from '../local/scan.js';
import { STATE_DIR } from '../manifest/store.js';
import { checkEnds, validateOptions } from '../options/validate.js';
import { type CheckDifference, planCheck } from '../plan/check.js';
import { emptyFacts } from '../plan/types.js';
import type { RequestCounts } from '../s3/request-counter.js';
import type { FileError, SyncEvent } from './events.js';
import { EarlyListing, settle } from './facts.js';
import type { CheckOptions } from './options.js';
import { requireDirectory, Session } from './session.js';

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
  const s = new Session(root, opts.remote, { ...opts, dryRun: true }, 'push');
  await s.loadFilter();
  await s.openManifest();
  const emit = (e: CheckEvent) => opts.onEvent?.(e);
  try {
    // The listing goes out first; the tree is read while the server answers.
    const listing = await EarlyListing.start(s);
    const scan = await scanDirectoryYielding(root, {
      followSymlinks: opts.followSymlinks,
      skipDir: (rel) => rel === STATE_DIR || s.filter.excludesDir(rel),
      includeFile: s.selected,
    });
    const remote = new Map(
      [...(await listing.follow())].filter(([rel]) => s.selected(rel) && rel !== '' && !rel.endsWith('/')),
    );
    for (const e of scan.errors) s.fileError(e.rel, e.message);
    const local = new Map(scan.files.map((f) => [f.rel, f]));
    const facts = emptyFacts();
    facts.remote = remote;
    const input = () => ({
      local,
      remote,
      manifest: s.manifest.files,
      racyThresholdNs: s.loaded.racyThresholdNs,
      facts,
      full: opts.full,
    });
    const { plan } = await settle(
      s,
      facts,
      () => local.values(),
      () => planCheck(input()),
      // A file that could not be read is reported as such, and compared neither way (not only-remote).
      (bad) => {
        for (const rel of bad) {
          local.delete(rel);
          remote.delete(rel);
        }
      },
    );
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
