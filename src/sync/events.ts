import { S3SyncError } from '../errors.js';
import type { RequestCounts } from '../s3/request-counter.js';

/** 'abort': a multipart upload aborted (cleanup), which deletes no object. */
/** 'copy': an object created by a server-side copy of another (a rename); 'restyle': new headers only. */
export type ActionKind = 'upload' | 'download' | 'copy' | 'record' | 'delete' | 'skip' | 'abort' | 'restyle';

/** Where a run is in a wait for another run's lock. */
export type LockWait = 'waiting' | 'over';

/** One line of --json output, and what library callers receive through onEvent. */
export type SyncEvent =
  /**
   * `lockWait`: the notice that the run waits for another run's lock (`waiting`, waitLock), and the one
   * that it took it (`over`): in between, the run has changed nothing and holds no manifest to save.
   * `security`: a risk the run takes (--no-verify-ssl), which the CLI prints under --quiet too.
   */
  | { type: 'notice'; message: string; rel?: string; lockWait?: LockWait; security?: true }
  | { type: 'warning'; message: string; rel?: string }
  | { type: 'error'; message: string; rel?: string }
  /**
   * What the run decided, before it acts: `total` files (objects, S3 → S3; a plan's copies, apply) it
   * decided on, deletions apart; `transfers` of them to move, `bytes` their size; `deletes` to make.
   */
  | { type: 'plan'; total: number; transfers: number; bytes: number; deletes: number }
  | { type: 'action'; action: ActionKind; rel: string; reason: string; size: number; dryRun: boolean }
  | { type: 'start'; action: ActionKind; rel: string; size: number }
  /**
   * Progress of transfers: bytes sent or received since the last event, each byte counted once
   * however often a request is retried. `resumed`: bytes the other end already held (the parts of an
   * interrupted multipart upload), done but not transferred. Negative when an upload that failed is
   * taken back: the file is sent again from its first byte, or not at all. Their sum over a run is the
   * `plan` event's `bytes` when every transfer succeeds (and no file changed size meanwhile).
   */
  | { type: 'bytes'; bytes: number; resumed?: boolean }
  /**
   * Progress of local hashing (a rebuild, a large changed file), as totals so far: bytes and files
   * hashed out of those queued, a queue that grows as work is found. At most every 100 ms or 16 MiB,
   * and nothing for hashing that takes less; the last event of a spell has `bytes` = `totalBytes`.
   */
  | { type: 'hashing'; bytes: number; totalBytes: number; files: number; totalFiles: number }
  | { type: 'done'; action: ActionKind; rel: string; size: number; reason: string }
  /**
   * `push --watch`: one batch ended, run over the paths that changed (`change`, `paths` of them) or
   * over the whole tree (`walk`: the first sync and each reconciliation); `pending` paths wait to settle,
   * and for a batch the stop cut short, the transfers and deletes it left undone too.
   */
  | ({ type: 'batch'; trigger: 'change' | 'walk' | 'look'; paths: number; pending: number } & SyncResult)
  | ({ type: 'summary' } & SyncResult);

export interface FileError {
  rel: string;
  message: string;
}

export interface SyncResult {
  command: 'push' | 'pull' | 'apply' | 'sync';
  dryRun: boolean;
  /**
   * Files considered (after filters) by a push or pull: the source's, those its scan could not read
   * included, and for a pull the local paths its scan could not read; a folder marker is no file. In a
   * run that ends, each ends in one of `unchanged`, the transfers, `recorded`, `restyled` or `failed`,
   * so those add up to it; `deleted` counts the destination's extra files apart, and a failed deletion
   * is in `failed` only.
   */
  scanned: number;
  /** Left alone: nothing changed. */
  unchanged: number;
  uploaded: number;
  /** Created by a server-side copy of an object of the same content (renames). */
  copied: number;
  downloaded: number;
  /** Manifest updated without a transfer (stat-only change, content found already in place). */
  recorded: number;
  /** Objects whose headers were set by a server-side copy, their content unchanged (a header rule changed). */
  restyled: number;
  deleted: number;
  failed: number;
  bytesTransferred: number;
  /** S3 requests by API name, every attempt counted. */
  requests: RequestCounts;
  requestsTotal: number;
  elapsedMs: number;
  errors: FileError[];
  /**
   * The run was cancelled through its AbortSignal before it finished: what it did is counted, and the
   * rest is left for the next run.
   */
  cancelled: boolean;
  /**
   * `push --watch` only: files changed and not yet sent when the watch stopped, and with --delete the
   * removed files whose objects are still there (the next run sends or deletes them). Its `scanned` is
   * then the tree as last known, `unchanged` the files not sent during the watch.
   */
  pending?: number;
  /**
   * Deletions the run planned and did not make: a delete guard skipped them because files failed in
   * this run (or a pull filled the disk); the next clean run makes them. Absent when none were skipped.
   */
  deletesSkipped?: number;
  /**
   * The error that stopped the run before its end, as the CLI's last line says it (a missing bucket, a
   * delete guard's refusal): its counts are then of a run that did not finish. Absent otherwise.
   */
  stoppedBy?: string;
  outcome: SyncOutcome;
}

/**
 * How a run ended: `ok` all in sync; `failed` some files failed or were skipped with an error (or the
 * run stopped on an error of kind `file`, or one that is not an S3SyncError); `usage` or `fatal` it was
 * stopped by an error of that kind (a delete guard's refusal is `usage`); `cancelled` through its
 * AbortSignal. A watch ends only through its signal: `ok` when nothing is left failing (`cancelled`
 * true all the same), `failed` otherwise, `cancelled` when the stop cut its first sync short (the tree
 * was never brought in sync).
 */
export type SyncOutcome = 'ok' | 'failed' | 'usage' | 'fatal' | 'cancelled';

/** The outcome of a run from its counts, or from the error that stopped it when there is one. */
export function outcomeOf(r: SyncResult, stoppedBy?: { error: unknown }): SyncOutcome {
  if (stoppedBy) {
    const { error } = stoppedBy;
    return error instanceof S3SyncError && error.kind !== 'file' ? error.kind : 'failed';
  }
  if (r.cancelled) return 'cancelled';
  return r.failed > 0 || r.errors.length > 0 ? 'failed' : 'ok';
}

/** The run was stopped by `error` (not cancelled): its outcome, and the error's words in the summary. */
export function stoppedBy(r: SyncResult, error: unknown): void {
  r.outcome = outcomeOf(r, { error });
  r.stoppedBy = stoppedMessage(error);
}

/** The words of an error that stopped a run, as the CLI's last line says them. */
export const stoppedMessage = (error: unknown): string =>
  error instanceof S3SyncError
    ? error.message
    : `unexpected error: ${(error as Error)?.message?.split('\n')[0] ?? String(error)}`;

export function emptyResult(command: SyncResult['command'], dryRun: boolean): SyncResult {
  return {
    command,
    dryRun,
    scanned: 0,
    unchanged: 0,
    uploaded: 0,
    copied: 0,
    downloaded: 0,
    recorded: 0,
    restyled: 0,
    deleted: 0,
    failed: 0,
    bytesTransferred: 0,
    requests: {},
    requestsTotal: 0,
    elapsedMs: 0,
    errors: [],
    cancelled: false,
    outcome: 'ok',
  };
}
