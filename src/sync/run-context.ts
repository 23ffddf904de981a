import { accessSync, constants, lstatSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { onAbort } from '../abort-listeners.js';
import { monotonicNow } from '../clock.js';
import { beforeRun, errorMessage, usageError } from '../errors.js';
import { FOREIGN_TMP, FOREIGN_TMP_SUFFIX } from '../local/confine.js';
import { createFilter, IGNORE_FILE, type PathFilter, RULES_MAX_BYTES } from '../local/filters.js';
import { HashCache } from '../local/hash-cache.js';
import { hasNameAt, sameName } from '../local/name-case.js';
import { type FdBudget, fdBudget, MIN_OPEN_FILES, openFileLimit } from '../local/open-files.js';
import { ReadRefusal, readRegularFile } from '../local/read-regular.js';
import { ManifestStore } from '../manifest/manifest-store.js';
import type { Destination } from '../manifest/schema.js';
import { inStateDir } from '../manifest/store.js';
import { endpointFor, type ResolvedEndpoint } from '../s3/client-options.js';
import { connectionNotices } from '../s3/connection-notices.js';
import { errorCode } from '../s3/errors.js';
import type { ListOptions } from '../s3/listing.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { SharedConnection } from '../s3/shared-connection.js';
import type { S3Transport, UploadSettings } from '../s3/transport.js';
import { parseS3Url, type S3Location } from '../s3/url.js';
import { formatShard, resolveShard, type Shard, shardOf } from '../shard.js';
import { type AtTime, listPrefixAt } from './at-time.js';
import { ContentTypes } from './content-type.js';
import { emptyResult, outcomeOf, type SyncEvent, type SyncResult, stoppedBy } from './events.js';
import type { CommonOptions } from './options.js';
import { EVERYTHING, loadSelection, type Selection } from './selection.js';
import { FileLengths } from './temp-file.js';

/**
 * What s3sync adds to the manifest's name for its lock and temp files (`.lock`, `.saving`,
 * `.tmp-<pid>-<hex>`, `.lock.<pid>-<hex>.tmp`, and those of 0.1.0 without `-<hex>`): only these, so
 * a user's `<manifest>.bak` is synced like any file. In any case, as sameName.
 */
const OWN_SUFFIX = /^\.(?:lock|saving|tmp-\d+(?:-[0-9a-f]{8})?|lock\.\d+(?:-[0-9a-f]{8})?\.tmp)$/iu;

// Asked of every scanned file and listed key: a plain loop, no string or closure made per call. Own
// names in any case (see sameName): on a file system that ignores case each spelling is that file.
function isOwnPath(rel: string, files: readonly string[], stems: readonly string[]): boolean {
  if (inStateDir(rel)) return true;
  for (const f of files) if (sameName(rel, f)) return true;
  // A download's temp file written beside its file on another mount, left by a run that was killed.
  if (rel.endsWith(FOREIGN_TMP_SUFFIX) && FOREIGN_TMP.test(rel)) return true;
  for (const p of stems) if (hasNameAt(rel, p, 0) && OWN_SUFFIX.test(rel.slice(p.length))) return true;
  return false;
}

export interface RunSetup {
  /** The local directory, resolved. */
  root: string;
  /** s3://bucket/prefix */
  remote: string;
  opts: CommonOptions;
  command: SyncResult['command'];
  /** How uploads are stored (SSE, storage class, …). */
  settings?: UploadSettings;
  /** false: the manifest is only read, never locked nor written. Default: unless a dry run. */
  writeManifest?: boolean;
  /** Every path is selected, whatever the filter flags and `.s3syncignore` say (apply: the plan chose). */
  unfiltered?: boolean;
  /** --at: the remote side is the prefix as it was at this time, from its versions. */
  at?: AtTime;
  /**
   * The connection notices a watch's previous run said: said again only when they change, since a
   * watch makes one run per batch. Absent: said.
   */
  connectionSaid?: { notices: string[] };
  /** A connection the runs of a watch take turns on, which its owner closes; absent: the run's own, closed with it. */
  connection?: SharedConnection;
}

/** Selects every path: the filter of a run whose paths were chosen already. */
const ALL: PathFilter = Object.freeze({
  includes: () => true,
  excludesDir: () => false,
  active: false,
  namesMissingFolders: () => [],
});

/** Whether a path is selected: not s3sync's own, in the shard, listed (when a list is given), and let through by the filters. */
function selects(
  rel: string,
  own: (rel: string) => boolean,
  shard: Shard | undefined,
  listed: ReadonlySet<string> | undefined,
  rules: PathFilter,
): boolean {
  return (
    !own(rel) &&
    (shard === undefined || shardOf(rel, shard.count) === shard.index) &&
    (listed === undefined || listed.has(rel)) &&
    rules.includes(rel)
  );
}

/**
 * What every command needs around its plan: the resolved local root and remote location, filters,
 * the manifest store, a transport created on first use, the local hashes, events and the result
 * counters.
 */
export class RunContext {
  /** The run's start on the wall clock, which file and object times are compared with. */
  readonly started = Date.now();
  /** Its start on the clock that durations are measured on: a clock step must not stretch the run's. */
  private readonly startedMono = monotonicNow();
  readonly result: SyncResult;
  readonly localRoot: string;
  readonly location: S3Location;
  readonly destination: Destination;
  /** The store this run talks to; its id is the destination's endpoint. */
  readonly endpoint: ResolvedEndpoint;
  readonly opts: CommonOptions;
  readonly settings: UploadSettings;
  readonly store: ManifestStore;
  /** Local hashes of this run, each file read at most once. */
  readonly hashes: HashCache;
  /** Content-Type by file name, for uploads and copies. */
  readonly contentTypes = new ContentTypes();
  /**
   * The file systems of this run's downloads found to keep no holes and set no length (fusefat): said
   * under --debug only, as a download there is written whole all the same.
   */
  readonly fileLengths = new FileLengths((m) => {
    if (this.opts.debug) this.notice(m);
  });
  /**
   * --follow-symlinks: the scan follows links, and so do the reads, which still check that they opened
   * the file the scan found.
   */
  readonly followsSymlinks: boolean;
  /** The shard of the tree this run owns (--shard, --shards); undefined: the whole tree. */
  readonly shard: Shard | undefined;
  /** --at (ms): the listing is the prefix's past state, which says nothing of its current objects. */
  readonly at: AtTime | undefined;
  /** The process's open-file limit and this run's shares of it; undefined: no limit to keep under. */
  readonly fds: FdBudget | undefined;
  private transport?: Promise<S3Transport>;
  private readonly connection: SharedConnection | undefined;
  /**
   * Rel paths of state files inside the local root: ours, the filter file `.s3syncignore` (it configures
   * s3sync for this directory), and the original Python script's manifest (`.s3_sync_manifest.json`),
   * which is state, not data, whether or not it is being adopted.
   */
  private readonly ownFiles: string[] = ['.s3_sync_manifest.json', IGNORE_FILE];
  private readonly ownStems: string[] = [];
  private rules: PathFilter = ALL;
  private limits: Selection = EVERYTHING;

  private constructor(setup: RunSetup) {
    const { opts } = setup;
    this.localRoot = setup.root;
    this.opts = opts;
    this.settings = setup.settings ?? {};
    this.result = emptyResult(setup.command, !!opts.dryRun);
    this.followsSymlinks = !!opts.followSymlinks;
    this.at = setup.at;
    this.connection = setup.connection;
    // Read once: the limit does not change under a running process that does not change it.
    this.fds = fdBudget(openFileLimit());
    if (this.fds && this.fds.limit < MIN_OPEN_FILES)
      throw usageError(
        `too few open files allowed (ulimit -n is ${this.fds.limit}): raise ulimit -n to ${MIN_OPEN_FILES} or more`,
      );
    this.hashes = new HashCache(this.localRoot, {
      followSymlinks: this.followsSymlinks,
      onProgress: opts.onEvent ? (e) => this.emit(e) : undefined,
    });
    this.location = parseS3Url(setup.remote);
    this.shard = resolveShard(opts, process.env);
    // The endpoint actually used, wherever it was configured: two stores never share a manifest.
    this.endpoint = endpointFor(opts);
    this.destination = {
      endpoint: this.endpoint.id,
      bucket: this.location.bucket,
      prefix: this.location.prefix,
      // Part of the destination: a shard's manifest (and lock) is its own, and another N's is not it.
      ...(this.shard && { shard: formatShard(this.shard) }),
    };
    const connection = connectionNotices(this.endpoint, opts);
    const said = setup.connectionSaid;
    for (const n of connection) if (!said?.notices.includes(n.message)) this.emit({ type: 'notice', ...n });
    if (said) said.notices = connection.map((n) => n.message);
    this.store = new ManifestStore({
      localRoot: this.localRoot,
      destination: this.destination,
      path: opts.manifest,
      write: setup.writeManifest ?? !opts.dryRun,
      localRole: setup.command === 'pull' ? 'destination' : 'source',
      waitLock: opts.waitLock,
      signal: opts.signal,
      startedAt: this.started,
      notice: (message, lockWait) => this.emit({ type: 'notice', message, ...(lockWait && { lockWait }) }),
      warn: (m) => this.warn(m),
      claim: (file) => this.protect(file),
    });
  }

  /** A run's context with its filters loaded (the flags, `--exclude-from` files and `.s3syncignore`). */
  static async create(setup: RunSetup): Promise<RunContext> {
    const ctx = new RunContext(setup);
    if (!setup.unfiltered) {
      ctx.rules = await loadFilter(setup.root, setup.opts, setup.command);
      ctx.limits = await loadSelection(setup.opts, ctx.started);
    }
    return ctx;
  }

  /** The filters of this run; s3sync's own files are left out by `selected` besides. */
  get filter(): PathFilter {
    return this.rules;
  }

  /** The listed paths (--files-from) and the size and age limits of this run. */
  get selection(): Selection {
    return this.limits;
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

  private protect(file: string): void {
    const rel = path.relative(this.localRoot, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return;
    const posix = rel.split(path.sep).join('/');
    if (!this.ownFiles.includes(posix)) this.ownFiles.push(posix);
    this.ownStems.push(posix);
  }

  /** s3sync's own files, which are never synced whatever the filters say. */
  isOwn = (rel: string): boolean => isOwnPath(rel, this.ownFiles, this.ownStems);

  /**
   * `isOwn` as it stands now, apart from the run: it holds the few paths it checks and not the run
   * (its manifest and scan), for a watch that keeps it between runs.
   */
  ownTest(): (rel: string) => boolean {
    const files = [...this.ownFiles];
    const stems = [...this.ownStems];
    return (rel) => isOwnPath(rel, files, stems);
  }

  /** Whether a rel path, of a local file or a remote key alike, is in this run's shard. */
  inShard = (rel: string): boolean =>
    this.shard === undefined || shardOf(rel, this.shard.count) === this.shard.index;

  /**
   * Filters for a rel path, shared by scan and remote listings, plus our own state files, the shard and
   * the --files-from list. The size and age limits need the file: `selection`.
   */
  selected = (rel: string): boolean => selects(rel, this.isOwn, this.shard, this.limits.listed, this.rules);

  /** `selected` as it stands now, apart from the run (as `ownTest`): for a watch's summary at its end. */
  selectedTest(): (rel: string) => boolean {
    const own = this.ownTest();
    const { shard, rules } = this;
    const listed = this.limits.listed;
    return (rel) => selects(rel, own, shard, listed, rules);
  }

  /**
   * `selectedTest` with the ignore file read again, the rest as this run had it: for a watch whose
   * ignore file changed after its last run.
   */
  reselection(): () => Promise<(rel: string) => boolean> {
    const own = this.ownTest();
    const { shard, localRoot, opts } = this;
    const command = this.result.command;
    const listed = this.limits.listed;
    return async () => {
      const rules = await loadFilter(localRoot, opts, command);
      return (rel) => selects(rel, own, shard, listed, rules);
    };
  }

  /**
   * The destination's objects this run may compare, download or delete: all of them, or its shard's.
   * Every listing of a command goes through here, so no other shard's key reaches a plan or a guard.
   */
  async list(opts: ListOptions = {}): Promise<Map<string, RemoteObject>> {
    const t = await this.s3();
    const list = (o: ListOptions) =>
      this.at === undefined
        ? t.list(this.location.prefix, o)
        : listPrefixAt(t, this.location.prefix, this.at, this.selected, o);
    if (this.shard === undefined) return list(opts);
    const { onPage } = opts;
    const all = await list({
      ...opts,
      onPage: onPage && ((page) => onPage(page.filter((o) => this.inShard(o.rel)))),
    });
    for (const rel of all.keys()) if (!this.inShard(rel)) all.delete(rel);
    return all;
  }

  /**
   * Hands a complete listing to the manifest store, which settles the manifest by it (see `listed`).
   * Not a listing as at a past time: the current objects may differ from it.
   */
  listed(startedAt: Date, objects: ReadonlyMap<string, RemoteObject>): void {
    if (this.at === undefined) this.store.listed(startedAt, objects);
  }

  /** The S3 transport, created (and the AWS SDK loaded) on first use only. */
  s3(): Promise<S3Transport> {
    this.transport ??= (async () => {
      const { S3Transport } = await import('../s3/transport.js');
      const { workers } = this.opts;
      if (workers !== undefined && this.fds && workers > this.fds.workers)
        this.notice(
          `--workers ${workers} lowered to ${this.fds.workers}: the open-file limit is ${this.fds.limit} (raise ulimit -n for more)`,
        );
      return S3Transport.connect(
        this.opts,
        this.location.bucket,
        {
          // As given: without --workers the request limit may grow (see requestConcurrency).
          workers,
          workersCap: this.fds?.workers,
          signal: this.opts.signal,
          onRetry: this.opts.debug
            ? (err, attempt, delay) =>
                this.notice(`retry ${attempt} in ${Math.round(delay)} ms after ${errorCode(err) || 'error'}`)
            : undefined,
        },
        this.settings,
        this.opts.client,
        this.connection,
      );
    })();
    return this.transport;
  }

  /**
   * Runs a command's body around the opened manifest: a body that throws still leaves the manifest
   * checkpointed and the lock released. Ends with the summary event, also when the body throws (a
   * delete guard's refusal, a fatal S3 error): with --json the last line is always the summary, and
   * its exit code is the error's, never a 0 that looks like success. A cancelled run ends with its
   * summary too, then rejects with the signal's reason.
   */
  async run(body: () => Promise<void>): Promise<SyncResult> {
    try {
      await this.store.open();
    } catch (err) {
      // Refused the manifest (another run's lock): nothing was read nor sent, so no summary of a run.
      if (this.opts.signal?.aborted !== true) throw beforeRun(err);
      // Cancelled while it waited for another run's lock (waitLock): it ends as any cancelled run does.
      try {
        await this.close(false);
      } finally {
        this.emit({ type: 'summary', ...this.result });
      }
      throw this.opts.signal.reason;
    }
    // Cancelled, the run starts reading no more files for their hashes.
    const { signal } = this.opts;
    const stopHashing = signal ? onAbort(signal, () => this.hashes.cancel(signal.reason)) : () => {};
    try {
      await body();
      // A dry run's report awaits nothing a signal interrupts: aborted during it, it is cancelled all the same.
      if (this.result.dryRun) signal?.throwIfAborted();
    } catch (err) {
      const cancelled = this.opts.signal?.aborted === true;
      try {
        await this.close(false);
      } catch (saveErr) {
        // Said as well, not instead: what stopped the run (a full disk: the file it hit) stays its error.
        this.emit({ type: 'error', message: errorMessage(saveErr) });
      } finally {
        // Cancelled: whatever request or wait it interrupted, close() said so.
        if (!cancelled) stoppedBy(this.result, err);
        this.emit({ type: 'summary', ...this.result });
      }
      throw cancelled ? this.opts.signal!.reason : err;
    } finally {
      stopHashing();
    }
    try {
      await this.close(true);
    } catch (err) {
      // The last save failed (a full disk): a stopped run, summarised as any other is.
      stoppedBy(this.result, err);
      this.emit({ type: 'summary', ...this.result });
      throw err;
    }
    this.emit({ type: 'summary', ...this.result });
    return this.result;
  }

  /**
   * Closes the manifest store, fills in request counts, time and the outcome; then throws what the
   * store's last save threw, so that the summary still counts the run's requests.
   */
  async close(completed: boolean): Promise<SyncResult> {
    let saveError: { error: unknown } | undefined;
    try {
      this.store.close(completed);
    } catch (err) {
      saveError = { error: err };
    } finally {
      // Each run has its own hashing threads: they end with it, and a hash left running for nobody with them.
      await this.hashes.close();
    }
    const t = this.transport ? await this.transport.catch(() => undefined) : undefined;
    const r = this.result;
    if (t) {
      r.requests = { ...t.counter.counts };
      r.requestsTotal = t.counter.total;
      // The body has ended: a request still out is one nobody awaits (a listing page asked for ahead).
      t.close();
    }
    r.elapsedMs = monotonicNow() - this.startedMono;
    r.cancelled = !completed && this.opts.signal?.aborted === true;
    r.outcome = outcomeOf(r);
    if (saveError) throw saveError.error;
    return r;
  }
}

function loadFilter(root: string, opts: CommonOptions, command: SyncResult['command']): Promise<PathFilter> {
  return createFilter({
    include: opts.include,
    exclude: opts.exclude,
    excludeFrom: opts.excludeFrom,
    ignoreFileText: readIgnoreFile(path.join(root, IGNORE_FILE), command),
  });
}

/** What the local root is to a command, as its messages name it. */
const rootName = (command: SyncResult['command']) =>
  command === 'push' ? 'source directory' : command === 'pull' ? 'destination directory' : 'directory';

/**
 * The ignore file's rules, or undefined when there is none. Only no entry at all means no rules: a
 * dangling link or an unreadable file was read as none, and every path it ignores was synced.
 */
function readIgnoreFile(file: string, command: SyncResult['command']): string | undefined {
  try {
    // Capped as --exclude-from files are, and opened without blocking: a FIFO there would hold the run
    // in a read that no signal ends, and a folder, a device or a socket holds no lines of rules.
    return readRegularFile(file, RULES_MAX_BYTES, 'a rule file').toString('utf8');
  } catch (err) {
    if (!(err instanceof ReadRefusal)) throw err;
    const code = err.code;
    if (code === 'ENOENT' && lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
    // A folder that cannot be read or searched denies every name in it, an ignore file there or not:
    // the folder is what to fix.
    const dir = path.dirname(file);
    if (code === 'EACCES' || code === 'EPERM') {
      try {
        accessSync(dir, constants.R_OK | constants.X_OK);
      } catch (denied) {
        throw usageError(
          `cannot read the ${rootName(command)} '${dir}': ${errorCode(denied) || errorMessage(denied)}`,
          denied,
        );
      }
    }
    const why = code === 'ENOENT' ? 'a symbolic link to no file' : code === 'EISDIR' ? 'EISDIR' : err.why;
    throw usageError(`cannot read the ignore file ${file}: ${why}`, err);
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
