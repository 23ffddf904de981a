import { S3SyncError } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import type { LocalFile } from '../local/scan.js';
import type { PushAction } from '../plan/push.js';
import type { Facts } from '../plan/types.js';
import { isFatal } from '../s3/errors.js';
import type { S3Transport } from '../s3/transport.js';
import { type BackupTarget, backupObject } from './backup.js';
import { type CopyGate, copyRenamed } from './copy-rename.js';
import type { ObjectStyles } from './object-style.js';
import type { RunContext } from './run-context.js';

type Upload = Extract<PushAction, { kind: 'upload' }>;
type Delete = Extract<PushAction, { kind: 'delete' }>;
type Copy = Extract<PushAction, { kind: 'copy' }>;

/** The reason of a copy action, as the summary, --json and plan files say it. */
export const copiedFrom = (a: Copy) => `copied from ${a.from.rel}`;

/**
 * A push's --backup-dir: keeps each object before the run overwrites or deletes it, once per key
 * (an upload that replaces a failed copy must not back up what the copy wrote over the first backup).
 */
export class Keeper {
  private readonly kept = new Set<string>();

  constructor(
    private readonly s: RunContext,
    private readonly backup: BackupTarget,
    private readonly facts: Facts,
  ) {}

  /** Keeps the object at `rel`; false (reported) when it could not be kept: leave it alone then. */
  async beforeChange(t: S3Transport, rel: string): Promise<boolean> {
    if (this.kept.has(rel)) return true;
    const { s } = this;
    const known = this.facts.remote?.get(rel) ?? s.store.files.get(rel);
    const size = known?.size ?? 0;
    try {
      // Its ETag as listed or recorded: a backup copy with another was made of another object.
      await backupObject(t, { rel, key: s.location.prefix + rel, size, etag: known?.etag }, this.backup);
      this.kept.add(rel);
      return true;
    } catch (err) {
      if (s.opts.signal?.aborted) return false;
      if (err instanceof S3SyncError && isFatal(err)) throw err;
      s.fileError(
        rel,
        `not changed: could not keep the object under --backup-dir: ${(err as Error).message}`,
      );
      return false;
    }
  }

  /** The deletions whose object is kept (or gone already); the others are reported and not made. */
  async deleted(t: S3Transport, deletes: Delete[], workers: number): Promise<Delete[]> {
    const ok = new Set<Delete>();
    await forEachLimit(
      deletes,
      workers,
      async (d) => {
        if (await this.beforeChange(t, d.rel)) ok.add(d);
      },
      this.s.opts.signal,
    );
    return deletes.filter((d) => ok.has(d));
  }
}

/**
 * One renamed file: kept first if it overwrites an object (--backup-dir), then copied. Returns the
 * upload to make instead when the copy could not create it (see copyRenamed).
 */
export async function runCopy(
  s: RunContext,
  input: { a: Copy; f: LocalFile; gate: CopyGate; keeper: Keeper | undefined; styles: ObjectStyles },
): Promise<Upload | undefined> {
  const { a, f, gate, keeper, styles } = input;
  const t = await s.s3();
  if (a.reason !== 'new' && keeper && !(await keeper.beforeChange(t, a.rel))) return undefined;
  s.emit({ type: 'start', action: 'copy', rel: a.rel, size: a.size });
  try {
    const entry = await copyRenamed(s, t, { a, f, gate, styles });
    if (!entry) return { kind: 'upload', rel: a.rel, reason: a.reason, size: a.size };
    s.store.record(a.rel, entry);
    s.result.copied++;
    s.emit({ type: 'done', action: 'copy', rel: a.rel, size: a.size, reason: copiedFrom(a) });
  } catch (err) {
    // Cancelled mid-copy: the next run makes it.
    if (s.opts.signal?.aborted) return undefined;
    if (err instanceof S3SyncError && isFatal(err)) throw err;
    s.fileError(a.rel, (err as Error).message);
  }
  return undefined;
}
