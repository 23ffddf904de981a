import { printable } from '../escape.js';
import type { CheckEvent } from '../sync/check.js';
import type { SyncEvent } from '../sync/events.js';
import type { PushOptions } from '../sync/options.js';
import { startupOver } from './code-cache.js';
import { CancelledError, type CliEvent, cancelWords, cliEvent, exitCodeOf } from './exit-codes.js';
import { cursorControl, fmtRequests, type Output } from './output.js';
import { fmtBytes } from './progress-view.js';

type Batch = Extract<SyncEvent, { type: 'batch' }>;

/** Per-file progress: a watch says what each batch did, in one line, instead. */
const PER_FILE = new Set(['start', 'bytes', 'hashing', 'plan', 'action', 'done']);

const clock = () => new Date().toTimeString().slice(0, 8);

/** What a batch did, in words. */
export function batchText(b: Omit<Batch, 'type' | 'outcome'>): string {
  const what =
    b.trigger === 'walk'
      ? `walk of ${b.scanned} files`
      : b.trigger === 'look'
        ? `look over ${b.scanned} files, for changes with no event`
        : `${b.paths} changed path(s)`;
  // A batch a refusal stopped, or the stop cut short, is marked as such a run's summary is: its counts
  // are not a clean result.
  const mark = b.stoppedBy !== undefined ? '[stopped] ' : b.cancelled ? '[cancelled] ' : '';
  return (
    `${mark}${what}: ${b.uploaded} uploaded, ${b.copied > 0 ? `${b.copied} copied, ` : ''}${b.recorded} recorded, ` +
    `${b.restyled > 0 ? `${b.restyled} restyled, ` : ''}${b.deleted} deleted, ${b.failed} failed; ` +
    `${fmtBytes(b.bytesTransferred)}, ${b.requestsTotal} S3 requests (${fmtRequests(b.requests)}), ` +
    `${(b.elapsedMs / 1000).toFixed(2)} s`
  );
}

/**
 * A watch's result as its words say it: stopping is how a watch ends, so one stopped with nothing left
 * failing is not marked as a cancelled run's (its summary line, a config job's line).
 */
export const watchEnded = <T extends { cancelled: boolean; outcome: string }>(r: T): T =>
  r.cancelled && r.outcome === 'ok' ? { ...r, cancelled: false } : r;

/**
 * How a watch shows itself: with --json one `batch` line per batch (besides errors, warnings and
 * notices); on a terminal one status line on stderr, rewritten in place; otherwise (a service's
 * journal) one line per batch that did something. --quiet: errors only.
 */
export function watchEvents(
  output: Output,
  destination: string,
  signal?: AbortSignal,
): { onEvent: (e: CheckEvent) => void; stop: () => void } {
  const tty = output.mode === 'human' && cursorControl(process.stderr);
  let status = '';
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[K');
    shown = false;
  };
  const draw = () => {
    if (!tty || status === '') return;
    const width = Math.max(20, (process.stderr.columns || 80) - 1);
    process.stderr.write(`\r\x1b[K${printable(status).slice(0, width)}`);
    shown = true;
  };
  // A line the output writes on its own (a signal's notice) goes above the status line, not after it.
  if (tty) output.holdStatus({ clear, draw });
  const onEvent = (e: CheckEvent) => {
    // Most of a watch's events are not the output's: a notice held for the first is said here.
    output.sayHeld();
    // The first walk's plan ends the watcher's start-up (see Output.event).
    if (e.type === 'plan') startupOver();
    if (PER_FILE.has(e.type)) return;
    if (e.type === 'batch') {
      const { outcome, ...rest } = e;
      if (output.mode === 'json') {
        // A first sync the stop cut short says the signal's code, as the watch then exits with it.
        void output.event({ ...rest, exitCode: exitCodeOf(outcome, signal?.reason) } as unknown as CliEvent);
        return;
      }
      const moved =
        e.uploaded + e.copied + e.restyled + e.deleted + e.recorded + e.failed > 0 ||
        e.stoppedBy !== undefined;
      status = `${clock()} watching -> ${destination}: ${e.pending} pending; last: ${batchText(rest)}`;
      if (tty) draw();
      else if (output.mode === 'human' && moved)
        process.stdout.write(`${printable(`${clock()} ${batchText(rest)}`)}\n`);
      return;
    }
    clear();
    // With --json the summary says `cancelled` as it is.
    void output.event(
      cliEvent(e.type === 'summary' && output.mode !== 'json' ? watchEnded(e) : e, signal?.reason),
    );
    draw();
  };
  return {
    onEvent,
    stop: () => {
      clear();
      output.stop();
    },
  };
}

/**
 * `push --watch` from the command line: runs until SIGTERM or Ctrl-C, then exits 0 when nothing is left
 * failing and the stop did not cut its first sync short.
 */
export async function runWatch(opts: PushOptions, output: Output, signal?: AbortSignal) {
  const { push } = await import('../sync/push.js');
  const view = watchEvents(output, opts.destination, signal);
  let r: Awaited<ReturnType<typeof push>>;
  try {
    r = await push({ ...opts, onEvent: view.onEvent });
  } finally {
    view.stop();
  }
  // Its first sync cut short, it ends as a push stopped the same way: the line says what comes next.
  const reason: unknown = signal?.reason;
  if (r.outcome === 'cancelled' && reason instanceof CancelledError)
    process.stderr.write(`s3sync: ${reason.message}; ${cancelWords('push', false).after}\n`);
  return r;
}
