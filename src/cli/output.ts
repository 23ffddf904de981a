import { monotonicNow } from '../clock.js';
import { jsonText, printable } from '../escape.js';
import type { CheckResult } from '../sync/check.js';
import type { CleanupResult } from '../sync/cleanup.js';
import type { LockWait, SyncResult } from '../sync/events.js';
import { startupOver } from './code-cache.js';
import type { CliEvent } from './exit-codes.js';
import { fmtBytes, ProgressView } from './progress-view.js';

export type OutputMode = 'human' | 'quiet' | 'json';

export const fmtRequests = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/**
 * A check's verdict and counts; files it could not compare keep it from saying "identical", and a
 * cancelled check says it is incomplete, with what it found so far.
 */
export function checkText(r: Omit<CheckResult, 'outcome'>): string {
  const n = r.differences.length;
  const e = r.errors.length;
  const counts =
    `${r.same} same, ${r.onlyLocal.length} only local, ` +
    `${r.onlyRemote.length} only remote, ${r.differ.length} differ` +
    (r.unverified.length > 0 ? `, ${r.unverified.length} not verifiable` : '');
  const u = r.unverified.length;
  if (r.cancelled || r.stoppedBy !== undefined)
    return `[${r.cancelled ? 'cancelled' : 'stopped'}] incomplete (${r.notCompared} not compared${e > 0 ? `, ${e} error(s)` : ''}): ${counts} so far`;
  const verdict =
    n > 0
      ? `${n} difference(s)${e > 0 ? `, ${e} error(s)` : ''}`
      : e > 0 || u > 0
        ? `${[e > 0 && `${e} error(s)`, u > 0 && `${u} not verifiable`].filter(Boolean).join(', ')}, no difference found`
        : 'identical';
  return `${verdict}: ${counts}`;
}

/** A cleanup's last line; a cancelled one is marked, as a sync's summary is, and counts what it did. */
export function cleanupLine(r: Omit<CleanupResult, 'outcome'>): string {
  const mark = r.cancelled ? '[cancelled] ' : '';
  const done = r.dryRun ? ' (dry run: none aborted)' : `, ${r.aborted} aborted, ${r.failed} failed`;
  return `${mark}${r.found.length} stale multipart upload(s)${done}; ${r.requestsTotal} S3 requests (${fmtRequests(r.requests)})`;
}

export function summaryLines(r: Omit<SyncResult, 'outcome'>): string[] {
  const secs = (r.elapsedMs / 1000).toFixed(2);
  const verb = r.dryRun ? 'would be ' : '';
  const copied = r.copied > 0 ? `, ${verb}${r.copied} copied` : '';
  const moved =
    r.command === 'pull'
      ? `${r.downloaded} downloaded`
      : r.command === 'push'
        ? `${r.uploaded} uploaded${copied}`
        : r.command === 'sync'
          ? `${r.copied} copied`
          : `${r.uploaded} uploaded${copied}, ${verb}${r.downloaded} downloaded`;
  // A stopped run's counts are of work it did not finish: the line must not read as a clean result.
  const mark = r.cancelled ? '[cancelled] ' : r.stoppedBy !== undefined ? '[stopped] ' : '';
  return [
    `${mark}${r.dryRun ? '[dry run] ' : ''}${r.scanned} ${r.command === 'sync' ? 'objects' : 'files'}: ${r.unchanged} unchanged, ${verb}${moved}, ` +
      // S3 → S3 keeps no manifest: there is nothing it could record. A dry run writes none either.
      `${r.command === 'sync' ? '' : `${verb}${r.recorded} recorded, `}${r.restyled ? `${verb}${r.restyled} restyled, ` : ''}${verb}${r.deleted} deleted${r.deletesSkipped ? ` (${r.deletesSkipped} skipped after errors)` : ''}, ${r.failed} failed${r.pending ? `, ${r.pending} pending` : ''}`,
    `${fmtBytes(r.bytesTransferred)} transferred, ${r.requestsTotal} S3 requests (${fmtRequests(r.requests)}), ${secs} s`,
  ];
}

/**
 * A notice's or warning's text as a line: led by the file it is about, as an error's is, unless its
 * message already begins with it or with its key (--json keeps the file in `rel`).
 */
function about(e: { message: string; rel?: string }): string {
  if (!e.rel) return e.message;
  if (e.message.startsWith(`${e.rel}: `)) return e.message;
  // Its key: a prefix (taken as one word), then the path (which may itself hold ': ').
  const at = e.message.indexOf(`/${e.rel}: `);
  return at >= 0 && !/\s/.test(e.message.slice(0, at)) ? e.message : `${e.rel}: ${e.message}`;
}

const JSON_BATCH_BYTES = 64 * 1024;

/**
 * Whether `stream` takes a line redrawn in place (the bar, a watch's status line): a terminal, unless
 * TERM=dumb says it cannot move the cursor (Emacs' shell, some CI ptys), which then gets plain lines
 * as a pipe does. An unset TERM is not taken as dumb: Windows consoles set none and draw the bar.
 * NO_COLOR changes nothing: the bar has no colour.
 */
export const cursorControl = (stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && env.TERM !== 'dumb';

/**
 * Renders events: a progress bar on a TTY, NDJSON with --json, errors and security notices only
 * with --quiet. Every human
 * line goes out through `printable` here, so no message composed elsewhere with a path or key in it can
 * move the cursor or start a line of its own.
 */
export class Output {
  private bar?: import('cli-progress').SingleBar;
  /** Set while cli-progress loads: events keep coming meanwhile, and one bar is started. */
  private barLoading?: Promise<void>;
  /** The run ended: a bar still loading is not started (its timer would keep the process alive). */
  private ended = false;
  /** What the bar shows: on a terminal only (human mode, TTY stderr). */
  private readonly view?: ProgressView;
  private lockWait?: LockWait;
  private status?: { clear(): void; draw(): void };

  /** The run waits for another run's lock: cancelled now, it has changed nothing and saves no manifest. */
  get waitingForLock(): boolean {
    return this.lockWait === 'waiting';
  }

  constructor(
    readonly mode: OutputMode,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly err: NodeJS.WriteStream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    if (mode === 'human' && cursorControl(err, env)) this.view = new ProgressView();
  }

  /**
   * A line above the bar, or above a watch's status line: either is cleared, not left behind, and
   * drawn again below.
   */
  private line(stream: NodeJS.WriteStream, text: string) {
    this.status?.clear();
    if (this.bar) this.bar.stop();
    stream.write(`${printable(text)}\n`);
    if (this.bar) this.bar.start(1, 0);
    this.status?.draw();
  }

  /** A status line its caller keeps on stderr (a watch's): lines written here go above it. */
  holdStatus(status: { clear(): void; draw(): void }): void {
    this.status = status;
  }

  /**
   * Starts the bar once there is something to show (transfers planned, or hashing under way): a run
   * with nothing to transfer or hash never loads cli-progress. It renders the view on its own timer.
   */
  private async showBar(): Promise<void> {
    const view = this.view;
    if (!view?.active || this.bar) return;
    this.barLoading ??= (async () => {
      const { default: cliProgress } = await import('cli-progress');
      if (this.ended) return;
      this.bar = new cliProgress.SingleBar({
        format: (_options, params) => view.render(monotonicNow(), params.maxWidth),
        stream: this.err,
        hideCursor: true,
        clearOnComplete: true,
      });
      this.bar.start(1, 0);
    })();
    await this.barLoading;
  }

  /** Stops the bar and leaves its last state on screen, above what comes next. */
  private endBar(): void {
    this.ended = true;
    if (!this.bar || !this.view) return;
    // One column short of the width: a line that ends in the last column wraps on some terminals.
    const last = this.view.render(monotonicNow(), (this.err.columns || 80) - 1);
    this.bar.stop();
    this.bar = undefined;
    this.err.write(`${last}\n`);
  }

  private checkLines(r: Omit<CheckResult, 'outcome'>): string[] {
    const out: string[] = [];
    const groups: [string, CheckResult['differences']][] = [
      ['only local', r.differences.filter((d) => d.status === 'only-local')],
      ['only remote', r.differences.filter((d) => d.status === 'only-remote')],
      ['differ', r.differences.filter((d) => d.status === 'differ')],
      ['not verifiable', r.unverified],
    ];
    for (const [title, ds] of groups) {
      if (ds.length === 0) continue;
      out.push(`${title} (${ds.length}):`);
      for (const d of ds) out.push(`  ${d.rel}  (${d.detail})`);
    }
    out.push(`${checkText(r)}; ${r.requestsTotal} S3 requests, ${(r.elapsedMs / 1000).toFixed(2)} s`);
    return out;
  }

  /** A notice held for the run's first event, or its end (see sayHeld). */
  private held?: string;

  /**
   * Holds a notice until the run's first event: a run its options stop before it starts says only
   * why, in one line. A run with no event at all (a cleanup or versions with nothing to say, a quiet
   * watch) says it with sayHeld at its end, before its result.
   */
  hold(message: string): void {
    this.held = message;
  }

  /** Says the held notice, if it was not said yet: once per run. */
  sayHeld(): void {
    const message = this.held;
    if (message === undefined) return;
    this.held = undefined;
    void this.event({ type: 'notice', message });
  }

  async event(e: CliEvent): Promise<void> {
    this.sayHeld();
    // What follows the plan is the transfers: a code cache is taken with the start-up's code.
    if (e.type === 'plan') startupOver();
    if (e.type === 'notice' && e.lockWait !== undefined) this.lockWait = e.lockWait;
    if (this.mode === 'json') {
      // Progress is for the bar (and library callers): NDJSON says what happened, not how far along.
      if (e.type !== 'bytes' && e.type !== 'start' && e.type !== 'hashing') this.json(e);
      return;
    }
    switch (e.type) {
      case 'error':
        this.line(this.err, `error: ${e.message}`);
        break;
      case 'warning':
        if (this.mode !== 'quiet') this.line(this.err, `warning: ${about(e)}`);
        break;
      case 'notice':
        // A risk taken is no progress: --quiet still says it.
        if (this.mode !== 'quiet' || e.security) this.line(this.err, `notice: ${about(e)}`);
        break;
      case 'action':
        if (this.mode !== 'quiet') this.line(this.out, `(dry run) ${e.action} ${e.rel} [${e.reason}]`);
        break;
      case 'done':
        if (e.action === 'upload' || e.action === 'download' || e.action === 'copy') this.view?.fileDone();
        // Above the bar, as any line: a deletion cannot be undone, and its name is said on screen.
        if (e.action === 'delete' && this.mode !== 'quiet') this.line(this.out, `deleted ${e.rel}`);
        // cleanup: an aborted upload deleted no object, and says so.
        if (e.action === 'abort' && this.mode !== 'quiet') this.line(this.out, e.reason);
        break;
      case 'plan':
        this.view?.plan(e, monotonicNow());
        await this.showBar();
        break;
      case 'hashing':
        this.view?.hashed(e, monotonicNow());
        await this.showBar();
        break;
      case 'bytes':
        this.view?.bytes(e);
        break;
      case 'check-summary':
        this.endBar();
        if (this.mode !== 'quiet' || e.exitCode !== 0)
          for (const l of this.checkLines(e)) this.out.write(`${printable(l)}\n`);
        break;
      case 'summary':
        this.endBar();
        if (this.mode !== 'quiet') for (const l of summaryLines(e)) this.out.write(`${printable(l)}\n`);
        break;
      default:
        break;
    }
  }

  stop() {
    this.endBar();
    this.flushJson();
  }

  private jsonLines: string[] = [];
  private jsonBytes = 0;
  private jsonFlushQueued = false;

  /**
   * NDJSON lines leave in batches: one write per event costs a large run a write(2) call per file,
   * and then a wait for the pipe to drain before exit. A batch goes out when it reaches
   * JSON_BATCH_BYTES, at the next turn of the event loop, or with the summary, whichever comes first,
   * so a reader still sees each event within a turn of the loop.
   */
  private json(e: CliEvent): void {
    const line = `${jsonText(e)}\n`;
    this.jsonLines.push(line);
    this.jsonBytes += line.length;
    if (this.jsonBytes >= JSON_BATCH_BYTES || e.type === 'summary' || e.type === 'check-summary')
      this.flushJson();
    else if (!this.jsonFlushQueued) {
      this.jsonFlushQueued = true;
      setImmediate(() => this.flushJson());
    }
  }

  private flushJson(): void {
    this.jsonFlushQueued = false;
    if (this.jsonLines.length === 0) return;
    this.out.write(this.jsonLines.join(''));
    this.jsonLines = [];
    this.jsonBytes = 0;
  }
}
