import { type ScanResult, scanDirectoryYielding } from '../local/scan.js';
import { scanListed } from '../local/scan-listed.js';
import { isStateDir } from '../manifest/store.js';
import { type CheckDifference, type CheckPlan, planCheck } from '../plan/check.js';
import type { RequestCounts } from '../s3/request-counter.js';
import { resolveAt } from './at-time.js';
import { type FileError, outcomeOf, type SyncEvent, type SyncResult, stoppedMessage } from './events.js';
import type { CheckOptions } from './options.js';
import { prelude, within } from './prelude.js';
import { RunContext, requireDirectory } from './run-context.js';
import { fitting, headListed, headsInstead, remoteFits } from './selection.js';
import { checkRunOptions } from './start-checks.js';

export interface CheckResult {
  command: 'check';
  same: number;
  onlyLocal: string[];
  onlyRemote: string[];
  differ: string[];
  differences: CheckDifference[];
  /**
   * Files of the object's size whose content neither its ETag nor its metadata can compare (a multipart
   * ETag of a part size not found, SSE-KMS): not proven identical, not shown to differ; counted apart.
   */
  unverified: CheckDifference[];
  errors: FileError[];
  requests: RequestCounts;
  requestsTotal: number;
  elapsedMs: number;
  /**
   * Cancelled through its AbortSignal: the counts and differences are those found so far, and
   * `notCompared` files were not compared (all of them when the listing was not complete).
   */
  cancelled: boolean;
  notCompared: number;
  /**
   * The error that stopped the check before its end (a missing bucket, denied access), as the CLI's
   * last line says it: the counts are of a check that did not finish. Absent otherwise.
   */
  stoppedBy?: string;
  /**
   * `ok` identical; `differ` a difference; `unverified` no difference, but some content could not be
   * compared (see `unverified`); `failed` some files could not be compared; `cancelled` the
   * comparison stopped before its end; `usage` or `fatal` an error of that kind stopped it.
   */
  outcome: 'ok' | 'differ' | 'unverified' | 'failed' | 'cancelled' | 'usage' | 'fatal';
}

export type CheckEvent =
  | SyncEvent
  | ({ type: 'difference' } & CheckDifference)
  | ({ type: 'unverified' } & CheckDifference)
  | ({ type: 'check-summary' } & CheckResult);

/**
 * Verifies that a directory and a prefix hold the same files and content, like `rclone check`.
 * Read-only: it takes no lock and writes no manifest.
 */
export async function check(opts: CheckOptions): Promise<CheckResult> {
  checkRunOptions('check', opts);
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
  const emitDifference = (d: CheckDifference) =>
    emit(d.status === 'unverified' ? { type: 'unverified', ...d } : { type: 'difference', ...d });
  const listed = s.selection.listed;
  // What a cancelled check can still say: the tree as read, and the plan over the facts gathered so far.
  let scanned: ScanResult | undefined;
  let partial: (() => CheckPlan) | undefined;
  const summarise = (
    plan: Omit<CheckPlan, 'needs'>,
    notCompared: number,
    base: SyncResult,
    stopped?: { error: unknown },
  ) => {
    const of = (status: CheckDifference['status']) =>
      plan.differences.filter((d) => d.status === status).map((d) => d.rel);
    const differences = plan.differences.filter((d) => d.status !== 'unverified');
    const unverified = plan.differences.filter((d) => d.status === 'unverified');
    const result: CheckResult = {
      command: 'check',
      same: plan.same,
      onlyLocal: of('only-local'),
      onlyRemote: of('only-remote'),
      differ: of('differ'),
      differences,
      unverified,
      errors: base.errors,
      requests: base.requests,
      requestsTotal: base.requestsTotal,
      elapsedMs: base.elapsedMs,
      cancelled: base.cancelled,
      notCompared,
      ...(stopped && { stoppedBy: stoppedMessage(stopped.error) }),
      outcome: stopped
        ? (outcomeOf(base, stopped) as 'usage' | 'fatal' | 'failed')
        : base.cancelled
          ? 'cancelled'
          : base.errors.length > 0
            ? 'failed'
            : differences.length > 0
              ? 'differ'
              : unverified.length > 0
                ? 'unverified'
                : 'ok',
    };
    emit({ type: 'check-summary', ...result });
    return result;
  };
  let ended: CheckResult;
  try {
    const { plan } = await prelude(s, {
      // The listing goes out first; the tree is read while the server answers. A short list of paths is
      // looked up key by key instead.
      listing:
        listed && headsInstead(listed.size, s.store.files.size)
          ? { fetch: () => headListed(s, listed) }
          : { keep: (rel) => s.selected(rel) },
      scan: async () => {
        const scanOpts = {
          followSymlinks: opts.followSymlinks,
          skipDir: (rel: string) => isStateDir(rel) || s.filter.excludesDir(rel),
          includeFile: s.selected,
          own: s.isOwn,
        };
        scanned = await (listed
          ? scanListed(root, [...listed], scanOpts)
          : scanDirectoryYielding(root, scanOpts));
        return scanned;
      },
      // Said as a push says them: a check reading "identical" must not hide what it did not compare.
      notices: true,
      planning: (found) => {
        // Selected as a push selects: a local file by its size and mtime (compared with its object
        // whatever the object's), an object with no local file by its own size and LastModified.
        const local = new Map(fitting(s.selection, found.files).map((f) => [f.rel, f]));
        const scanned = new Set(found.files.map((f) => f.rel));
        // An object whose file the scan could not stat (or whose folder it could not read) is not
        // compared: it was reported as an error, and is not "only remote". One the scan found a file
        // for is compared: a name not valid UTF-8 reads as the valid one beside it, that file's.
        const { active } = s.selection.sizeAge;
        const remote =
          active || found.unreadable.size > 0
            ? new Map(
                [...found.remote!].filter(
                  ([rel, r]) =>
                    (scanned.has(rel) || !within(found.unreadable, rel)) &&
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
        partial = () => planCheck(input());
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
    for (const k of plan.kept ?? []) s.notice(`${k.key}: ${k.reason}: not compared`, k.rel);
    for (const d of plan.differences) emitDifference(d);
    // Said as a push says it: "identical" over nothing compared would read as a tree in sync.
    const filtered = s.filter.active || s.selection.sizeAge.active;
    if (filtered && plan.same === 0 && plan.differences.length === 0 && s.result.failed === 0)
      s.notice(
        `nothing to check: no file under ${root} nor object under s3://${s.location.bucket}/${s.location.prefix} is selected by the filters`,
      );
    // Aborted as it reported (its events need no request a signal interrupts): cancelled all the same.
    const base = await s.close(opts.signal?.aborted !== true);
    ended = summarise(plan, 0, base);
  } catch (err) {
    const base = await s.close(false);
    // Cancelled or stopped by an error: what was compared so far, the rest counted as not compared,
    // then the signal's reason or the error (a check-summary ends every check, as a summary every push).
    const sofar = partial?.();
    if (sofar) for (const d of sofar.differences) emitDifference(d);
    const unlisted = scanned ? fitting(s.selection, scanned.files).length : 0;
    const stopped = base.cancelled ? undefined : { error: err };
    summarise(sofar ?? { same: 0, differences: [] }, sofar ? sofar.needs.length : unlisted, base, stopped);
    throw base.cancelled ? opts.signal!.reason : err;
  }
  // Outside the try: its summary is said, and the catch would say another.
  if (ended.cancelled) throw opts.signal!.reason;
  return ended;
}
