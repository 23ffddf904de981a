import { statSync } from 'node:fs';
import path from 'node:path';
import { errorMessage, fatalError, S3SyncError, usageError } from '../errors.js';
import { makeDirs } from '../local/make-dirs.js';
import { entriesContradicted, provenEntry } from '../plan/compare.js';
import type { ChangeMark } from '../plan/push.js';
import type { RemoteObject } from '../plan/types.js';
import type { LockWait } from '../sync/events.js';
import { isLegacyManifest, parseLegacyManifest } from './legacy.js';
import { acquireLock, type HeldLock, lockLeftBehind } from './lock.js';
import type { Destination, ManifestData, ManifestEntry, PendingUpload } from './schema.js';
import {
  changeMarkPath,
  defaultManifestPath,
  type LoadedManifest,
  loadManifest,
  readChangeMarks,
  readManifestWhole,
  resolveManifestPath,
  saveManifest,
  writeChangeMark,
} from './store.js';

const CHECKPOINT_MS = 2000;

export interface ManifestStoreOptions {
  /** The synced directory: the default manifest lives in its state folder. */
  localRoot: string;
  destination: Destination;
  /** --manifest: a path the user chose; otherwise the default one for the destination. */
  path?: string;
  /** false: read only, never locked nor written (a dry run, check, plan). */
  write: boolean;
  /** What the local root is to the run, for the way out of a folder it cannot write in. Default: source. */
  localRole?: LocalRole;
  /** Wait for another run's lock instead of failing. */
  waitLock?: boolean;
  /** Cancels waiting for the lock. */
  signal?: AbortSignal;
  /** The run's start, ms since epoch: no file is read before it. */
  startedAt: number;
  /** `lockWait`: see the notice event's. */
  notice: (message: string, lockWait?: LockWait) => void;
  warn: (message: string) => void;
  /** Told each path the store locks or writes inside the synced directory, so that no run syncs it. */
  claim: (file: string) => void;
}

/** An entry adopted from the original Python script's manifest: trusted once the file hashes to its MD5. */
export interface AdoptedEntry {
  size: number;
  md5: string;
}

/** A folder this user cannot write in: a read-only source, or one owned by another user. */
const NOT_WRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

/** What the local root is to the run: a push's source, or a pull's destination. */
export type LocalRole = 'source' | 'destination';

/**
 * The way out when the default manifest's folder cannot be written: a source (a read-only snapshot)
 * can keep its manifest elsewhere; a pull must write in its destination anyway. Nothing for a path the
 * user chose (`chosen`), or for another failure.
 */
function unwritableHint(err: unknown, chosen: boolean, role: LocalRole): string {
  if (chosen || !NOT_WRITABLE.has((err as NodeJS.ErrnoException | undefined)?.code ?? '')) return '';
  return role === 'source'
    ? ' (a source this user cannot write in: give --manifest a path on a disk it can)'
    : ' (a destination this user cannot write in: check its permissions, or that it is mounted read-write)';
}

/**
 * Creates the manifest's folder: one that cannot be made is the setup's fault, said before any transfer.
 * `chosen`: the user gave the path; else, where the local root cannot hold it, the way out is said.
 */
function manifestFolder(file: string, chosen: boolean, role: LocalRole): void {
  const dir = path.dirname(file);
  try {
    makeDirs(dir);
  } catch (err) {
    throw usageError(
      `cannot create the manifest's folder ${dir}: ${errorMessage(err)}${unwritableHint(err, chosen, role)}`,
    );
  }
}

/** The lock, or the reason it cannot be created with the way out (a folder that exists, not writable). */
async function lockOrHint(
  lockPath: string,
  opts: Parameters<typeof acquireLock>[1] & { chosen: boolean; role: LocalRole },
): Promise<HeldLock> {
  try {
    return await acquireLock(lockPath, opts);
  } catch (err) {
    const hint = err instanceof Error ? unwritableHint(err.cause, opts.chosen, opts.role) : '';
    if (hint === '') throw err;
    throw usageError(`${(err as Error).message}${hint}`, (err as Error).cause);
  }
}

/**
 * Whether a file holds the Python script's manifest; false when it cannot be read or parsed. One that is
 * no regular file (a FIFO) is refused, unread: read plainly, it held the run for ever.
 */
function isLegacyFile(file: string, shown: string, explicit: boolean): boolean {
  let text: string;
  try {
    text = readManifestWhole(file, shown, explicit);
  } catch (err) {
    if (err instanceof S3SyncError) throw err;
    return false;
  }
  try {
    return isLegacyManifest(JSON.parse(text));
  } catch {
    return false;
  }
}

/**
 * The manifest of one destination, from open to close: where it lives, its lock, the Python script's
 * manifest it adopts, and every change a run makes to it. Callers read it through read-only views and
 * change it only through the typed mutations below, each of which schedules its own checkpoint.
 */
export class ManifestStore {
  private file: string;
  private loaded?: LoadedManifest;
  private readonly adoptedEntries = new Map<string, AdoptedEntry>();
  private releaseLock?: HeldLock;
  /**
   * Set once this run's lock is found taken by another run: nothing more is saved (the manifest is the
   * other run's now), and every change after it throws this, which stops the run.
   */
  private lost?: S3SyncError;
  /** The run has been told of `lost` (a change threw it): closing need not say it again. */
  private lostSaid = false;
  /** Told of `lost` when it is found: transfers in flight stop with it. */
  private readonly lostListeners = new Set<(err: S3SyncError) => void>();
  private get role(): LocalRole {
    return this.opts.localRole ?? 'source';
  }
  /** The lock taken replaced one a run left behind, and no complete listing has been had since. */
  private unfinished = false;
  /** Why the manifest may be older than the destination (see movedSinceSave), until a complete listing. */
  private moved?: string;
  private timer?: NodeJS.Timeout;
  private dirty = false;
  /** The last timed checkpoint failed (warned of once until one succeeds). */
  private checkpointFailed = false;
  /** The complete listing of the destination this run obtained, if any (see `listed`). */
  private listing?: { startedAt: string; objects: ReadonlyMap<string, RemoteObject> };
  /**
   * An instant at or before this run's first read of any file, on the filesystem's clock as far as
   * it can be had: the lock file's mtime, stamped by the manifest's filesystem (git compares with the
   * index file's own mtime), if earlier than this machine's clock at the start.
   */
  private readsFromNs: bigint;
  /** This layout's change mark, beside the manifest (see src/manifest/store.ts). */
  private markFile?: string;
  /** The other layouts' change marks of the destination, as the run opened. */
  private marks: ChangeMark[] = [];
  /** This run's mark says it is changing objects (written, and not yet ended). */
  private changing = false;

  constructor(private readonly opts: ManifestStoreOptions) {
    this.readsFromNs = BigInt(opts.startedAt) * 1_000_000n;
    this.file = path.resolve(opts.path ?? defaultManifestPath(opts.localRoot, opts.destination));
    opts.claim(this.file);
    opts.claim(`${this.file}.lock`);
  }

  /** Where the manifest is read from and written to (a link given is followed once opened). */
  get path(): string {
    return this.file;
  }

  private get data(): ManifestData {
    if (!this.loaded) throw new Error('internal error: the manifest is read before it is opened');
    return this.loaded.data;
  }

  get files(): ReadonlyMap<string, ManifestEntry> {
    return this.data.files;
  }

  /** Files pushed from here, gone here, whose objects may remain (see ManifestData.vanished and `vanish`). */
  get vanished(): ReadonlySet<string> {
    return this.data.vanished;
  }

  get pending(): Readonly<Record<string, Readonly<PendingUpload>>> {
    return this.data.pending;
  }

  get listedAt(): string | null {
    return this.data.listedAt;
  }

  /** Entries whose mtime tick was still open at this instant (ns) may hide a change: hash them. */
  get racyThresholdNs(): bigint {
    return this.loaded?.racyThresholdNs ?? 0n;
  }

  /**
   * Whether the last run on this destination died holding its lock (this run took it over, or, writing
   * no manifest, found it left behind) and this run has no complete listing yet: that run may have
   * replaced objects after the manifest's last checkpoint, so an entry no longer proves its object until
   * a listing confirms it.
   */
  get lastRunUnfinished(): boolean {
    return this.unfinished;
  }

  /**
   * Why the manifest's file looks copied, restored or moved in since its last save, while this run has
   * no complete listing: a manifest with entries then proves nothing of the destination until one.
   */
  get movedSinceSave(): string | undefined {
    return this.moved;
  }

  /**
   * Whether another run took this run's lock over: what the manifest records (an upload in progress) is
   * that run's to resume or settle now, not this one's to abort.
   */
  get lockTaken(): boolean {
    return this.lost !== undefined;
  }

  /**
   * Throws the error that stops a run whose lock another run took over (see `lockTaken`), looking at
   * the lock afresh: for a step that must not be taken on another run's destination.
   */
  stopIfLockTaken(): void {
    this.lookAtLock();
    this.throwIfLost();
  }

  /** Calls `stop` if another run takes the lock over, until the returned function is called. */
  whenLockTaken(stop: (err: S3SyncError) => void): () => void {
    this.lostListeners.add(stop);
    return () => this.lostListeners.delete(stop);
  }

  /** Finds out whether the lock is still this run's; sets `lost` if not. */
  private lookAtLock(): void {
    if (!this.lost && this.opts.write && this.releaseLock && !this.releaseLock.ours()) this.lockLost();
  }

  /** Whether this run writes the manifest (and so holds its lock). */
  get writes(): boolean {
    return this.opts.write;
  }

  /** Entries adopted from the original Python script's manifest, by rel path. */
  get adopted(): ReadonlyMap<string, AdoptedEntry> {
    return this.adoptedEntries;
  }

  /** Resolves the path, takes the lock (when writing) and loads the manifest, adopting the Python one. */
  async open(): Promise<void> {
    // A path the user chose holds their file unless it holds an s3sync manifest: never written over.
    const explicit = this.opts.path !== undefined;
    const given = this.file;
    this.file = resolveManifestPath(given);
    const shownAs = given === this.file ? given : `${given} (a link to ${this.file})`;
    this.opts.claim(this.file);
    if (this.opts.write) {
      manifestFolder(this.file, explicit, this.role);
      const lockPath = `${this.file}.lock`;
      this.releaseLock = await lockOrHint(lockPath, {
        chosen: explicit,
        role: this.role,
        wait: this.opts.waitLock,
        strict: explicit,
        notice: this.opts.notice,
        signal: this.opts.signal,
        shard: this.opts.destination.shard,
        // Each shard adopts the Python script's manifest into its own: taking turns with it is right.
        sharable: () => isLegacyFile(this.file, shownAs, explicit),
        tookOver: () => {
          this.unfinished = true;
        },
        lost: () => this.lockLost(),
      });
      let stamp: bigint;
      try {
        stamp = statSync(lockPath, { bigint: true }).mtimeNs;
      } catch (err) {
        this.releaseLock();
        // Removed by hand, or by a run that judged it stale: another run may hold it by now.
        throw usageError(
          `lost the lock on this destination: ${lockPath} was removed as this run took it; run again`,
          err,
        );
      }
      if (stamp < this.readsFromNs) this.readsFromNs = stamp;
    } else if (lockLeftBehind(`${this.file}.lock`)) {
      this.unfinished = true;
    }
    try {
      this.loaded = loadManifest(this.file, this.opts.destination, {
        explicit,
        shownAs,
        readOnly: !this.opts.write,
      });
    } catch (err) {
      this.releaseLock?.();
      throw err;
    }
    if (this.loaded.foreign !== undefined && isLegacyManifest(this.loaded.foreign)) {
      await this.adoptLegacy(this.loaded.foreign);
    } else if (this.loaded.warning) {
      this.opts.warn(this.loaded.warning);
    }
    if (this.loaded.moved !== undefined && this.data.files.size > 0) this.moved = this.loaded.moved;
    // Saved so, a run that ends before its listing (cancelled, or a pull) leaves the next push one due:
    // its save gives the file a save's times again.
    if ((this.unfinished || this.moved !== undefined) && this.data.listedAt !== null) {
      this.data.listedAt = null;
      this.dirty = true;
    }
    try {
      this.readMarks();
    } catch (err) {
      this.releaseLock?.();
      throw err;
    }
    // From now on the lock is looked at every checkpoint, changes or none.
    this.startCheckpoints();
  }

  /**
   * Reads the destination's change marks beside the manifest (claimed, so that none is synced). This
   * layout's own, left `changing` by a run that died among its changes, is ended now: the lock held
   * says that run is over, so every change it made is behind this instant.
   */
  private readMarks(): void {
    const dest = this.opts.destination;
    const dir = path.dirname(this.file);
    this.markFile = changeMarkPath(dir, dest);
    this.opts.claim(this.markFile);
    this.marks = [];
    this.changing = false;
    for (const { file, mark } of readChangeMarks(dir, dest)) {
      this.opts.claim(file);
      if (file !== this.markFile) this.marks.push(mark);
      else if (mark.changing && this.opts.write) writeChangeMark(file, dest.shard, false, new Date());
    }
  }

  /** The change marks of the destination's other layouts (whole tree, other shards), as the run opened. */
  get changeMarks(): readonly ChangeMark[] {
    return this.marks;
  }

  /**
   * This run is about to change objects (upload, copy, delete): marked first, so that a run dying
   * among its changes leaves the other layouts a mark saying so. Once until endChanges. Throws when it
   * cannot be written: nothing is to be changed then.
   */
  beginChanges(): void {
    if (this.changing || !this.markFile || !this.opts.write) return;
    writeChangeMark(this.markFile, this.opts.destination.shard, true, new Date());
    this.changing = true;
  }

  /**
   * This run's changes are over (each acknowledged or failed): the mark says when. Nothing begun,
   * nothing written, so that a run that changes nothing costs the other layouts no listing.
   */
  endChanges(): void {
    if (!this.changing || !this.markFile) return;
    this.changing = false;
    writeChangeMark(this.markFile, this.opts.destination.shard, false, new Date());
  }

  /**
   * The Python script's manifest is read, never overwritten: its entries become candidates that are
   * trusted once the file hashes to the same MD5 (it recorded no mtime), and s3sync's own manifest goes
   * to its default place.
   */
  private async adoptLegacy(json: unknown): Promise<void> {
    const legacy = parseLegacyManifest(json);
    const prefix = this.opts.destination.prefix;
    for (const e of legacy.entries) {
      if (e.key.startsWith(prefix)) this.adoptedEntries.set(e.key.slice(prefix.length), e);
    }
    const from = this.file;
    this.releaseLock?.();
    this.file = defaultManifestPath(this.opts.localRoot, this.opts.destination);
    if (this.opts.write) {
      manifestFolder(this.file, false, this.role);
      this.releaseLock = await lockOrHint(`${this.file}.lock`, {
        chosen: false,
        role: this.role,
        wait: this.opts.waitLock,
        signal: this.opts.signal,
        shard: this.opts.destination.shard,
        tookOver: () => {
          this.unfinished = true;
        },
        lost: () => this.lockLost(),
      });
    }
    this.loaded = loadManifest(this.file, this.opts.destination);
    const n = this.adoptedEntries.size;
    this.opts.notice(
      `adopting the Python script's manifest ${from}: ${n} entr${n === 1 ? 'y' : 'ies'} ` +
        `under this prefix, trusted once their MD5 is confirmed; s3sync's manifest is ${this.file}`,
    );
  }

  /** Keeps what this run learned of a file: stat data taken within the file's timestamp tick is kept unproven. */
  record(rel: string, entry: ManifestEntry): void {
    this.data.files.set(rel, provenEntry(entry, this.readsFromNs));
    // Its entry is the record that a file of this tree stands for the key again.
    this.data.vanished.delete(rel);
    this.changed();
  }

  /** Forgets a file and its key: its object deleted (by this run or found so), or an old version's. */
  forget(rel: string): void {
    this.data.files.delete(rel);
    this.data.vanished.delete(rel);
    this.changed();
  }

  /**
   * A file gone here whose object stays (no --delete): its entry describes nothing now, but that a file
   * of this tree stood for the key is kept until the object is deleted or a listing finds it gone, as
   * push --delete keeps a key pull refuses that nothing here recorded (see withDeletes).
   */
  vanish(rel: string): void {
    if (this.data.files.delete(rel)) this.data.vanished.add(rel);
    this.changed();
  }

  /**
   * Records a multipart upload about to be created, on disk before CreateMultipartUpload goes out (see
   * src/sync/pending.ts); a record that cannot be saved is dropped, as nothing was sent.
   */
  beginUpload(rel: string, record: PendingUpload): void {
    this.data.pending[rel] = record;
    try {
      this.saveNow();
    } catch (err) {
      delete this.data.pending[rel];
      throw err;
    }
  }

  /**
   * CreateMultipartUpload answered with `uploadId`, on disk before the first part goes out. `retried`:
   * more than one attempt was made, so another upload may exist beside it until the strays are swept.
   */
  uploadCreated(rel: string, uploadId: string, retried: boolean): void {
    const rec = this.pendingRecord(rel);
    rec.uploadId = uploadId;
    if (retried) rec.create!.endedAt = Date.now();
    else delete rec.create;
    this.saveNow();
  }

  /** CreateMultipartUpload failed: its last attempt ended now, which bounds the strays it may have left. */
  createEnded(rel: string): void {
    this.pendingRecord(rel).create!.endedAt = Date.now();
    this.changed();
  }

  /** A part is on the server: a resumed run need not send it again. */
  partDone(rel: string, part: number, etag: string): void {
    this.pendingRecord(rel).parts[part] = etag;
    this.changed();
  }

  /** No upload other than the record's own can remain at its key. */
  straysSettled(rel: string): void {
    const rec = this.data.pending[rel];
    if (rec) delete rec.create;
    this.changed();
  }

  /**
   * The run tried to abort the record's upload. `aborted`: its id names nothing any more, and the record
   * goes unless strays may remain; otherwise it stays for the next run to settle.
   */
  abortTried(rel: string, aborted: boolean): void {
    const rec = this.data.pending[rel];
    if (rec && aborted) {
      rec.uploadId = '';
      if (!rec.create) delete this.data.pending[rel];
    }
    this.changed();
  }

  /** Nothing the record names can remain on the server (completed, aborted, gone): forgotten. */
  endUpload(rel: string): void {
    delete this.data.pending[rel];
    this.changed();
  }

  private pendingRecord(rel: string): PendingUpload {
    const rec = this.data.pending[rel];
    if (!rec) throw new Error(`internal error: no pending upload is recorded for ${rel}`);
    return rec;
  }

  /**
   * Records a complete listing of the destination, started at `startedAt`. When the run completes, the
   * entries it contradicts are forgotten and the manifest records its time (`listedAt`): from then on
   * every entry either matched that listing or was written after it, which is what lets a push trust
   * the manifest without a request until --verify-interval has passed.
   */
  listed(startedAt: Date, objects: ReadonlyMap<string, RemoteObject>): void {
    this.listing = { startedAt: startedAt.toISOString(), objects };
    this.unfinished = false;
    this.moved = undefined;
  }

  private settleListing(listing: { startedAt: string; objects: ReadonlyMap<string, RemoteObject> }): void {
    const m = this.data;
    for (const rel of entriesContradicted(m.files, listing.objects, listing.startedAt)) m.files.delete(rel);
    // A key no longer there needs no record of the file that stood for it.
    for (const rel of m.vanished) if (!listing.objects.has(rel)) m.vanished.delete(rel);
    m.listedAt = listing.startedAt;
    this.dirty = true;
  }

  /**
   * The lock is another run's now (see `lost`). Its message names who holds it: the run stops with it
   * and saves nothing over the manifest that run writes.
   */
  private lockLost(): S3SyncError {
    if (!this.lost) {
      const lock = `${this.file}.lock`;
      const by = this.releaseLock?.takenBy() ?? '';
      const lost = fatalError(
        `lost the lock on this destination (${lock})${by}: stopped; nothing after this point was recorded in the manifest`,
      );
      this.lost = lost;
      for (const stop of [...this.lostListeners]) stop(lost);
    }
    return this.lost;
  }

  /** Throws `lost`, once the lock is found taken: what changed since is not this run's to record. */
  private throwIfLost(): void {
    if (this.lost) {
      this.lostSaid = true;
      throw this.lost;
    }
  }

  /** Marks the manifest changed; the first change starts the periodic checkpoint. */
  private changed(): void {
    this.throwIfLost();
    this.dirty = true;
    this.startCheckpoints();
  }

  /** The periodic checkpoint, which also looks at the lock: started with the lock, or the first change. */
  private startCheckpoints(): void {
    if (!this.timer && this.opts.write) {
      this.timer = setInterval(() => this.timedCheckpoint(), CHECKPOINT_MS);
      this.timer.unref();
    }
  }

  /** Saves the manifest if it changed since the last save (and the store writes at all). */
  checkpoint(): void {
    if (!this.dirty || !this.opts.write) return;
    // Checked at each save, not only by the heartbeat: a save after another run took the lock over
    // would replace that run's manifest with this one's.
    this.lookAtLock();
    this.throwIfLost();
    this.dirty = false;
    saveManifest(this.file, this.data);
  }

  /**
   * The timer's checkpoint. A failed save (a full disk) is warned of once and tried again at the next
   * checkpoint and at close, which throws if it still fails: thrown from the timer, it ended the process
   * with a stack trace.
   */
  private timedCheckpoint(): void {
    // The timer says nothing of a lost lock: the run's next change or its close does, so the loss may
    // not count as said yet (close would take it as said and end the run as a success).
    const said = this.lostSaid;
    try {
      // Looked at every time, not only with a change to save: a run whose transfers stall (their
      // upload completed by the run that took over) would otherwise learn it at its end only.
      this.lookAtLock();
      this.checkpoint();
      // Saved again: a later failure (a watch runs for days) is warned of anew.
      this.checkpointFailed = false;
    } catch (err) {
      this.dirty = true;
      // Said by the change that next throws it, or at close.
      if (err === this.lost) {
        this.lostSaid = said;
        if (this.timer) clearInterval(this.timer);
        return;
      }
      if (!this.checkpointFailed) this.opts.warn(`${errorMessage(err)}; trying again at the next checkpoint`);
      this.checkpointFailed = true;
    }
  }

  /** Saves the manifest now, synchronously: for a record that must be on disk before a request goes out. */
  private saveNow(): void {
    this.dirty = true;
    this.checkpoint();
  }

  /**
   * Ends the store's run: a completed one settles its listing and stamps `lastSync`; then the manifest
   * is saved if anything changed and the lock released, also when the save fails.
   */
  close(completed: boolean): void {
    if (this.timer) clearInterval(this.timer);
    if (completed && this.listing && this.opts.write) this.settleListing(this.listing);
    if (completed && this.dirty && this.loaded) this.data.lastSync = new Date().toISOString();
    const said = this.lostSaid;
    try {
      if (this.loaded) this.checkpoint();
      // Taken over with nothing left to save: the run still did not hold the destination to its end.
      this.lookAtLock();
      if (this.lost) throw this.lost;
    } catch (err) {
      // The run already stopped with it: said once.
      if (err !== this.lost || !said) throw err;
    } finally {
      this.releaseLock?.();
    }
  }
}
