import path from 'node:path';
import type { Command } from 'commander';
import { S3SyncError, usageError } from '../errors.js';
import { controlsEscaped, jsonText, printable } from '../escape.js';
import type { EntryPoint } from '../options/table.js';
import { type ConnectionOptions, endpointFor, OPTION_ORIGINS } from '../s3/client-options.js';
import type { CheckEvent, CheckResult } from '../sync/check.js';
import type { SyncResult } from '../sync/events.js';
import { sourceConnection } from '../sync/s3-pair.js';
import { checkRunOptions, type RunOptions } from '../sync/start-checks.js';
import { type ConfigJob, jobEntry, loadConfig } from './config.js';
import { cancelWords, cliEvent, errorExitCode, exitCodeOf } from './exit-codes.js';
import { checkText, Output, summaryLines } from './output.js';
import { type Flags, type RunContext, splitOptions } from './program.js';

/** A job's result as its line says it. */
function resultText(r: SyncResult | CheckResult): string {
  return 'differences' in r ? checkText(r) : summaryLines(r)[0]!;
}

/** A job's end: its exit code and line; `cancelled`, the reason it was cancelled for, to stop the run. */
interface JobEnd {
  exitCode: number;
  text: string;
  cancelled?: unknown;
}

/** Runs one job; its exit code and result line. A job that throws fails alone. */
async function runJob(
  job: ConfigJob,
  options: Flags,
  output: Output,
  signal: AbortSignal | undefined,
): Promise<JobEnd> {
  const lib = await import('../index.js');
  // The job's line stands for its summary; --json keeps every event.
  const each = (e: CheckEvent) => {
    if (output.mode === 'json' || (e.type !== 'summary' && e.type !== 'check-summary'))
      void output.event(cliEvent(e, signal?.reason));
  };
  const watch = options.watch ? await import('./watch.js') : undefined;
  const watching = watch?.watchEvents(output, job.destination, signal);
  // Kept for a cancelled job's line: the library rejects after its summary, with no result to return.
  let summary: SyncResult | CheckResult | undefined;
  const onEvent = (e: CheckEvent) => {
    if (e.type === 'summary' || e.type === 'check-summary') summary = e;
    (watching?.onEvent ?? each)(e);
  };
  try {
    const entry = jobEntry(job);
    const call = { ...jobCall(entry, job, options), onEvent, signal };
    const r =
      entry === 'push'
        ? await lib.push(call as RunOptions['push'])
        : entry === 'pull'
          ? await lib.pull(call as RunOptions['pull'])
          : entry === 'sync s3'
            ? await lib.syncBuckets(call as RunOptions['sync s3'])
            : await lib.check(call as RunOptions['check']);
    return { exitCode: exitCodeOf(r.outcome), text: resultText(watch ? watch.watchEnded(r) : r) };
  } catch (err) {
    // Cancelled: its line says what it did, as a finished job's does; no job after it starts.
    if ((err as Error)?.name === 'AbortError')
      return {
        exitCode: exitCodeOf('cancelled', signal?.reason),
        text: summary === undefined ? (err as Error).message : resultText(summary),
        cancelled: err,
      };
    const text =
      err instanceof S3SyncError
        ? err.message
        : `unexpected error: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`;
    return { exitCode: errorExitCode(err), text };
  } finally {
    if (watching) watching.stop();
    else output.stop();
  }
}

/**
 * A bare `s3sync`: every job of the config file, in order. A failing job does not stop the others (a
 * nightly run backs up what it can); each job prints one line with its result (on stderr when its exit
 * code is not 0; with --json also as a `job` object on stdout, after the job's events; with --quiet
 * only the failures), and the exit code is the worst. Global flags apply to every job they apply to:
 * `s3sync --dry-run` dry-runs the pushes and pulls (a check changes nothing anyway). `signal` cancels
 * the job running, and no other starts; a job cancelled prints its line (marked cancelled) and says
 * what its own command leaves behind.
 */
export async function runJobs(globals: Flags, program: Command, ctx: RunContext): Promise<number> {
  const { signal } = ctx;
  const cfg = loadConfig();
  if (cfg.jobs.length === 0) {
    // On stderr, as the error it explains: stdout stays for results (NDJSON with --json, nothing with --quiet).
    program.outputHelp({ error: true });
    // The file read, as S3SYNC_CONFIG may name another; or none found, and where it was looked for.
    const why =
      cfg.path === undefined
        ? `no s3sync.config.json in ${printable(process.cwd())}`
        : `no jobs in ${printable(cfg.path)}`;
    process.stderr.write(`\ns3sync: no command given and ${why}\n`);
    return 2;
  }
  // A sync job takes the options of what it runs (defaults and global flags of the others are not its).
  const split = cfg.jobs.map((job) => splitOptions(jobEntry(job), [cfg.defaults, job.options, globals]));
  // Options that conflict, and an endpoint, region or profile that cannot be used, are refused for the
  // whole file before its first job changes anything (resolved from the options and the AWS config
  // files, without a request).
  for (const [i, job] of cfg.jobs.entries()) {
    const entry = jobEntry(job);
    const profile =
      globals.profile !== undefined
        ? '--profile'
        : job.options.profile !== undefined
          ? `"profile" in the config file's job ${i + 1}`
          : `"profile" in the config file's defaults`;
    const problem = refusal(split[i]!.options, entry, job, profile);
    if (problem === undefined) continue;
    // The flags (or the environment) alone give the same refusal: theirs, not the file's job's.
    const alone = refusal(splitOptions(entry, [globals]).options, entry, job, '--profile', false);
    throw usageError(alone === problem ? problem : `config file ${cfg.path}: job ${i + 1}: ${problem}`);
  }
  // Standard input holds one list: the first job to read it took it all, and each later one ran on none.
  const readers = split.flatMap(({ options }, i) =>
    [options.filesFrom ?? options.filesFrom0 ?? []].flat().includes('-') ? [i + 1] : [],
  );
  if (readers.length > 1) throw usageError(stdinReaders(readers));
  const shared = sharedManifest(cfg.jobs.map((job, i) => ({ ...job, manifest: split[i]!.options.manifest })));
  if (shared !== undefined) throw usageError(`config file ${cfg.path}: ${shared}`);
  const tally: RunTally = { jobs: cfg.jobs.length, ok: 0, failed: 0, cancelled: 0, exitCode: 0 };
  // Watch jobs run until the signal, side by side: the others run in order meanwhile, as without them.
  const watches: Promise<void>[] = [];
  let cancelled: unknown;
  try {
    try {
      for (const [i, job] of cfg.jobs.entries()) {
        const { options, mode } = split[i]!;
        if (signal?.aborted) break;
        const output = new Output(mode);
        const release = ctx.onOutput?.(output, cancelWords(jobEntry(job), options.dryRun === true));
        const report = (r: JobEnd) => {
          const code = reportJob(cfg.jobs.length, i, job, mode, r);
          tally.exitCode = Math.max(tally.exitCode, code);
          if (r.cancelled !== undefined) tally.cancelled++;
          else if (code === 0) tally.ok++;
          else tally.failed++;
          // After its line (and the run's): runCli says how the run was cancelled, and exits with the signal's code.
          if (r.cancelled !== undefined) {
            cancelled = r.cancelled;
            throw r.cancelled;
          }
        };
        const ran = runJob(job, options, output, signal).finally(release);
        if (options.watch) watches.push(ran.then(report));
        else report(await ran);
      }
    } finally {
      await Promise.all(watches);
    }
  } catch (err) {
    if (cancelled === undefined) throw err;
  }
  // Jobs' own modes may differ (a job's "quiet"): NDJSON if any job writes it, text if any job does.
  const modes = split.map((s) => s.mode);
  reportRun(tally, modes.includes('json') ? 'json' : modes.includes('human') ? 'human' : 'quiet');
  if (cancelled !== undefined) throw cancelled;
  return tally.exitCode;
}

/** A config run's end: its jobs, those that ended with exit 0, the others, and its exit code. */
interface RunTally {
  jobs: number;
  ok: number;
  failed: number;
  cancelled: number;
  exitCode: number;
}

/**
 * The run's last line, after the jobs' (a reader of the last line alone, cron mail or a script, sees
 * how the whole run ended): with --json a `jobs-summary` object; on stderr when the exit code is not 0,
 * else on stdout unless --quiet. Jobs a cancellation kept from starting are counted as not run.
 */
function reportRun(t: RunTally, mode: Output['mode']): void {
  const notRun = t.jobs - t.ok - t.failed - t.cancelled;
  const { exitCode, ...counts } = t;
  if (mode === 'json')
    process.stdout.write(`${jsonText({ type: 'jobs-summary', ...counts, notRun, exitCode })}\n`);
  const more = `${t.cancelled > 0 ? `, ${t.cancelled} cancelled` : ''}${notRun > 0 ? `, ${notRun} not run` : ''}`;
  const text = `${t.jobs} job(s): ${t.ok} ok, ${t.failed} failed${more}`;
  if (t.exitCode !== 0) process.stderr.write(`s3sync: ${text} (exit ${t.exitCode})\n`);
  else if (mode === 'human') process.stdout.write(`${text}\n`);
}

/** A job's options with its ends, as its library call takes them (a check's are local and remote). */
function jobCall(entry: EntryPoint, job: ConfigJob, options: Flags): Flags {
  const { source, destination } = job;
  return entry === 'check'
    ? { ...options, local: source, remote: destination }
    : { ...options, source, destination };
}

/**
 * Why a job's options cannot run (conflicting options, an endpoint, region or profile that cannot be
 * used), resolved without a request; undefined when they can. `profile`: where its profile was named.
 * `own`: the job's options and ends are checked as its command checks them as it starts (else only its
 * connection, to tell a refusal the flags or the environment alone cause).
 */
function refusal(
  options: Flags,
  entry: EntryPoint,
  job: ConfigJob,
  profile: string,
  own = true,
): string | undefined {
  try {
    const origins = { ...(options as ConnectionOptions)[OPTION_ORIGINS], profile };
    const conn = { ...options, [OPTION_ORIGINS]: origins };
    if (own) checkRunOptions(entry as keyof RunOptions, jobCall(entry, job, conn) as never);
    endpointFor(conn);
    if (entry === 'sync s3')
      endpointFor(sourceConnection({ ...conn, source: job.source, destination: job.destination }));
    return undefined;
  } catch (err) {
    if (!(err instanceof S3SyncError)) throw err;
    return err.message;
  }
}

/** Jobs (numbered from 1) that all read standard input, refused: in words for two of them as for more. */
export function stdinReaders(jobs: readonly number[]): string {
  const [all, others] = jobs.length === 2 ? ['both', 'other'] : ['all', 'others'];
  return `jobs ${jobs.slice(0, -1).join(', ')} and ${jobs.at(-1)} ${all} read their list from standard input (files-from '-'): only one job can; give the ${others} a file`;
}

/**
 * Two jobs (numbered from 1) whose one manifest would serve other ends, in words; undefined when none
 * do. A manifest records one destination: each job would find it another's, distrust it and list
 * the whole destination again, on every run.
 */
export function sharedManifest(
  jobs: readonly { source: string; destination: string; manifest?: unknown }[],
): string | undefined {
  const first = new Map<string, number>();
  for (const [i, job] of jobs.entries()) {
    if (typeof job.manifest !== 'string') continue;
    const file = path.resolve(job.manifest);
    const j = first.get(file);
    if (j === undefined) first.set(file, i);
    else if (jobs[j]!.source !== job.source || jobs[j]!.destination !== job.destination)
      return `jobs ${j + 1} and ${i + 1} share the manifest ${file} for other ends (${jobs[j]!.source} -> ${jobs[j]!.destination}, ${job.source} -> ${job.destination}): give each its own "manifest"`;
  }
  return undefined;
}

/** Prints a job's line (and with --json its `job` object); returns its exit code. */
function reportJob(jobs: number, i: number, job: ConfigJob, mode: Output['mode'], r: JobEnd): number {
  const label = `job ${i + 1}/${jobs} ${job.command} ${job.source} -> ${job.destination}`;
  if (mode === 'json') {
    const { command, source, destination } = job;
    const obj = { type: 'job', job: i + 1, jobs, command, source, destination };
    process.stdout.write(`${jsonText({ ...obj, exitCode: r.exitCode, result: r.text })}\n`);
  }
  if (r.exitCode !== 0)
    process.stderr.write(`s3sync: ${printable(label)}: ${controlsEscaped(r.text)} (exit ${r.exitCode})\n`);
  else if (mode === 'human') process.stdout.write(`${printable(`${label}: ${r.text}`)}\n`);
  return r.exitCode;
}
