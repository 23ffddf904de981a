import { existsSync, mkdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { cancelledExitCode, S3SyncError, usageError } from '../errors.js';
import { createFilter, type PathFilter } from '../local/filters.js';
import { HashCache } from '../local/hash-cache.js';
import { isLegacyManifest, parseLegacyManifest } from '../manifest/legacy.js';
import { acquireLock } from '../manifest/lock.js';
import type { Destination, ManifestData, ManifestEntry } from '../manifest/schema.js';
import {
  defaultManifestPath,
  type LoadedManifest,
  loadManifest,
  resolveManifestPath,
  STATE_DIR,
  saveManifest,
} from '../manifest/store.js';
import { setting } from '../options/validate.js';
import { entriesContradicted, provenEntry } from '../plan/compare.js';
import type { RemoteObject } from '../plan/types.js';
import { endpointFor, type ResolvedEndpoint } from '../s3/client-options.js';
import { errorCode } from '../s3/errors.js';
import type { S3Transport, UploadSettings } from '../s3/transport.js';
import { parseS3Url, type S3Location } from '../s3/url.js';
import { emptyResult, type SyncEvent, type SyncResult } from './events.js';
import type { CommonOptions } from './options.js';

const CHECKPOINT_MS = 2000;

/**
 * What s3sync adds to the manifest's name for its lock and temp files (`.lock`,
 * `.tmp-<pid>-<hex>`, `.lock.<pid>-<hex>.tmp`, and those of 0.1.0 without `-<hex>`): only these, so
 * a user's `<manifest>.bak` is synced like any file.
 */
const OWN_SUFFIX = /^\.(?:lock|tmp-\d+(?:-[0-9a-f]{8})?|lock\.\d+(?:-[0-9a-f]{8})?\.tmp)$/;

/**
 * What every command needs around its plan: the resolved local root and remote location, filters,
 * the locked manifest with periodic checkpoints, a transport created on first use, events and the
 * result counters.
 */
export class Session {
  readonly started = Date.now();
  readonly result: SyncResult;
  readonly location: S3Location;
  readonly destination: Destination;
  /** The store this run talks to; its id is the destination's endpoint. */
  readonly endpoint: ResolvedEndpoint;
  manifestPath: string;
  /** Entries adopted from the original Python script's manifest: rel → size and MD5, trusted once hashed. */
  adopted = new Map<string, { size: number; md5: string }>();
  filter!: PathFilter;
  loaded!: LoadedManifest;
  /** Local hashes of this run, each file read at most once. */
  readonly hashes: HashCache;
  /**
   * --follow-symlinks: the scan follows links, and so do the reads, which still check that they opened
   * the file the scan found.
   */
  readonly followsSymlinks: boolean;
  private transport?: Promise<S3Transport>;
  /** The complete listing of the destination this run obtained, if any (see `listed`). */
  private listing?: { startedAt: string; objects: ReadonlyMap<string, RemoteObject> };
  private releaseLock?: () => void;
  private timer?: NodeJS.Timeout;
  private dirty = false;

  constructor(
    readonly localRoot: string,
    remoteUrl: string,
    readonly opts: CommonOptions,
    command: SyncResult['command'],
    readonly settings: UploadSettings = {},
  ) {
    this.result = emptyResult(command, !!opts.dryRun);
    this.followsSymlinks = !!opts.followSymlinks;
    this.hashes = new HashCache(localRoot, {
      followSymlinks: this.followsSymlinks,
      onProgress: opts.onEvent ? (e) => this.emit(e) : undefined,
    });
    this.location = parseS3Url(remoteUrl);
    // The endpoint actually used, wherever it was configured: two stores never share a manifest.
    this.endpoint = endpointFor(opts);
    this.destination = {
      endpoint: this.endpoint.id,
      bucket: this.location.bucket,
      prefix: this.location.prefix,
    };
    if (this.endpoint.hadUserinfo) {
      this.notice(
        `the user name and password in the endpoint URL (${this.endpoint.source}) are ignored: S3 requests are signed with the AWS credentials`,
      );
    }
    this.manifestPath = path.resolve(opts.manifest ?? defaultManifestPath(localRoot, this.destination));
    this.protect(this.manifestPath);
    this.protect(`${this.manifestPath}.lock`);
  }

  get manifest(): ManifestData {
    return this.loaded.data;
  }

  emit(e: SyncEvent): void {
    this.opts.onEvent?.(e);
  }

  notice(message: string, rel?: string) {
    this.emit({ type: 'notice', message, rel });
  }

  warn(message: string, rel?: string) {
    this.emit({ type: 'warning', message, rel });
  }

  /** A per-file failure: reported, counted, and the run goes on (exit code 1). */
  fileError(rel: string, message: string) {
    this.result.errors.push({ rel, message });
    this.result.failed++;
    this.emit({ type: 'error', rel, message: `${rel}: ${message}` });
  }

  /**
   * Rel paths of state files inside the local root: ours, the filter file `.s3syncignore` (it configures
   * s3sync for this directory), and the original Python script's manifest (`.s3_sync_manifest.json`),
   * which is state, not data, whether or not it is being adopted.
   */
  private ownFiles = new Set<string>(['.s3_sync_manifest.json', '.s3syncignore']);

  private protect(file: string): void {
    const rel = path.relative(this.localRoot, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return;
    const posix = rel.split(path.sep).join('/');
    this.ownFiles.add(posix);
    this.ownStems.push(posix);
  }

  async loadFilter(): Promise<void> {
    const ignoreFile = path.join(this.localRoot, '.s3syncignore');
    this.filter = await createFilter({
      include: this.opts.include,
      exclude: this.opts.exclude,
      excludeFrom: this.opts.excludeFrom,
      ignoreFileText: existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : undefined,
    });
  }

  /** s3sync's own files, which are never synced whatever the filters say. */
  isOwn = (rel: string): boolean =>
    rel === STATE_DIR ||
    rel.startsWith(`${STATE_DIR}/`) ||
    this.ownFiles.has(rel) ||
    this.ownStems.some((p) => rel.startsWith(p) && OWN_SUFFIX.test(rel.slice(p.length)));

  private ownStems: string[] = [];

  /** Filters for a rel path, shared by scan and remote listings, plus our own state files. */
  selected = (rel: string): boolean => !this.isOwn(rel) && this.filter.includes(rel);

  /**
   * An instant at or before this run's first read of any file, on the filesystem's clock as far as
   * it can be had: the lock file's mtime, stamped by the manifest's filesystem (git compares with the
   * index file's own mtime), if earlier than this machine's clock at the start.
   */
  private readsFromNs = BigInt(this.started) * 1_000_000n;

  async openManifest(): Promise<void> {
    // A path the user chose holds their file unless it holds an s3sync manifest: never written over.
    const explicit = this.opts.manifest !== undefined;
    const given = this.manifestPath;
    this.manifestPath = resolveManifestPath(given);
    const shownAs = given === this.manifestPath ? given : `${given} (a link to ${this.manifestPath})`;
    this.protect(this.manifestPath);
    if (!this.opts.dryRun) {
      mkdirSync(path.dirname(this.manifestPath), { recursive: true });
      const lockPath = `${this.manifestPath}.lock`;
      this.releaseLock = await acquireLock(lockPath, {
        wait: this.opts.waitLock,
        strict: explicit,
        notice: (m) => this.notice(m),
        signal: this.opts.signal,
      });
      const stamp = statSync(lockPath, { bigint: true }).mtimeNs;
      if (stamp < this.readsFromNs) this.readsFromNs = stamp;
    }
    try {
      this.loaded = loadManifest(this.manifestPath, this.destination, { explicit, shownAs });
    } catch (err) {
      this.releaseLock?.();
      throw err;
    }
    if (this.loaded.foreign !== undefined && isLegacyManifest(this.loaded.foreign)) {
      await this.adoptLegacy(this.loaded.foreign);
    } else if (this.loaded.warning) {
      this.warn(this.loaded.warning);
    }
  }

  /**
   * The Python script's manifest is read, never overwritten: its entries become candidates that are
   * trusted once the file hashes to the same MD5 (it recorded no mtime), and s3sync's own manifest goes
   * to its default place.
   */
  private async adoptLegacy(json: unknown): Promise<void> {
    const legacy = parseLegacyManifest(json);
    for (const e of legacy.entries) {
      if (e.key.startsWith(this.location.prefix))
        this.adopted.set(e.key.slice(this.location.prefix.length), e);
    }
    const from = this.manifestPath;
    this.releaseLock?.();
    this.manifestPath = defaultManifestPath(this.localRoot, this.destination);
    if (!this.opts.dryRun) {
      mkdirSync(path.dirname(this.manifestPath), { recursive: true });
      this.releaseLock = await acquireLock(`${this.manifestPath}.lock`, {
        wait: this.opts.waitLock,
        signal: this.opts.signal,
      });
    }
    this.loaded = loadManifest(this.manifestPath, this.destination);
    this.notice(
      `adopting the Python script's manifest ${from}: ${this.adopted.size} entr${this.adopted.size === 1 ? 'y' : 'ies'} ` +
        `under this prefix, trusted once their MD5 is confirmed; s3sync's manifest is ${this.manifestPath}`,
    );
  }

  /** The S3 transport, created (and the AWS SDK loaded) on first use only. */
  s3(): Promise<S3Transport> {
    this.transport ??= (async () => {
      const { S3Transport } = await import('../s3/transport.js');
      return S3Transport.connect(
        this.opts,
        this.location.bucket,
        {
          workers: setting(this.opts, 'workers'),
          signal: this.opts.signal,
          onRetry: this.opts.debug
            ? (err, attempt, delay) =>
                this.notice(`retry ${attempt} in ${Math.round(delay)} ms after ${errorCode(err) || 'error'}`)
            : undefined,
        },
        this.settings,
        this.opts.client,
      );
    })();
    return this.transport;
  }

  /**
   * Records a complete listing of the destination, started at `startedAt`. When the run completes, the
   * entries it contradicts are forgotten and the manifest records its time (`listedAt`): from then on
   * every entry either matched that listing or was written after it, which is what lets a push trust
   * the manifest without a request until --verify-interval has passed.
   */
  listed(startedAt: Date, objects: ReadonlyMap<string, RemoteObject>): void {
    this.listing = { startedAt: startedAt.toISOString(), objects };
  }

  private settleListing(listing: { startedAt: string; objects: ReadonlyMap<string, RemoteObject> }): void {
    for (const rel of entriesContradicted(this.manifest.files, listing.objects, listing.startedAt)) {
      this.manifest.files.delete(rel);
    }
    this.manifest.listedAt = listing.startedAt;
    this.dirty = true;
  }

  /** Keeps what this run learned of a file: stat data taken within the file's timestamp tick is kept unproven. */
  record(rel: string, entry: ManifestEntry): void {
    this.manifest.files.set(rel, provenEntry(entry, this.readsFromNs));
    this.markDirty();
  }

  markDirty(): void {
    this.dirty = true;
    if (!this.timer && !this.opts.dryRun) {
      this.timer = setInterval(() => this.checkpoint(), CHECKPOINT_MS);
      this.timer.unref();
    }
  }

  checkpoint(): void {
    if (!this.dirty || this.opts.dryRun) return;
    this.dirty = false;
    saveManifest(this.manifestPath, this.manifest);
  }

  /** Saves the manifest now, synchronously: for a record that must be on disk before a request goes out. */
  saveNow(): void {
    this.dirty = true;
    this.checkpoint();
  }

  /**
   * Runs a command's body around the locked manifest: a body that throws still leaves the manifest
   * checkpointed and the lock released. Ends with the summary event, also when the body throws (a
   * delete guard's refusal, a fatal S3 error): with --json the last line is always the summary, and
   * its exit code is the error's, never a 0 that looks like success. A cancelled run ends with its
   * summary too, then rejects with the signal's reason.
   */
  async run(body: () => Promise<void>): Promise<SyncResult> {
    await this.openManifest();
    // Cancelled, the run starts reading no more files for their hashes.
    const stopHashing = () => this.hashes.cancel(this.opts.signal?.reason);
    this.opts.signal?.addEventListener('abort', stopHashing, { once: true });
    try {
      await body();
    } catch (err) {
      const cancelled = this.opts.signal?.aborted === true;
      try {
        await this.close(false);
      } finally {
        // Cancelled: whatever request or wait it interrupted, close() gave the signal's exit code.
        if (!cancelled) this.result.exitCode = err instanceof S3SyncError ? err.exitCode : 1;
        this.emit({ type: 'summary', ...this.result });
      }
      throw cancelled ? this.opts.signal!.reason : err;
    } finally {
      this.opts.signal?.removeEventListener('abort', stopHashing);
    }
    await this.close(true);
    this.emit({ type: 'summary', ...this.result });
    return this.result;
  }

  /**
   * Saves the manifest if anything changed, releases the lock, ends the hashing, fills in request counts
   * and time.
   */
  async close(completed: boolean): Promise<SyncResult> {
    if (this.timer) clearInterval(this.timer);
    if (completed && this.listing && !this.opts.dryRun) this.settleListing(this.listing);
    if (completed && this.dirty) this.manifest.lastSync = new Date().toISOString();
    try {
      this.checkpoint();
    } finally {
      this.releaseLock?.();
    }
    // Each run has its own hashing threads: they end with it, and a hash left running for nobody with them.
    await this.hashes.close();
    const t = this.transport ? await this.transport.catch(() => undefined) : undefined;
    const r = this.result;
    if (t) {
      r.requests = { ...t.counter.counts };
      r.requestsTotal = t.counter.total;
    }
    r.elapsedMs = Date.now() - this.started;
    r.cancelled = !completed && this.opts.signal?.aborted === true;
    r.exitCode = r.cancelled
      ? cancelledExitCode(this.opts.signal!.reason)
      : r.failed > 0 || r.errors.length > 0
        ? 1
        : 0;
    return r;
  }
}

export function requireDirectory(dir: string, what: string): string {
  const abs = path.resolve(dir);
  let st: Stats;
  try {
    st = statSync(abs);
  } catch {
    throw usageError(`${what} '${dir}' does not exist`);
  }
  if (!st.isDirectory()) throw usageError(`${what} '${dir}' is not a directory`);
  return abs;
}
