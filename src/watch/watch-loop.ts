import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { onAbort } from '../abort-listeners.js';
import { monotonicNow } from '../clock.js';
import { S3SyncError } from '../errors.js';
import { IGNORE_FILE, isIgnoreFile } from '../local/filters.js';
import { absPath, type LocalFile, scanDirectory } from '../local/scan.js';
import { mtimeMsOf, type SizeAgeFilter } from '../local/size-age.js';
import type { Destination, ManifestEntry } from '../manifest/schema.js';
import { isStateDir, loadManifest } from '../manifest/store.js';
import { SECOND } from '../options/spec.js';
import { fmtDuration, setting } from '../options/validate.js';
import { UNPROVEN_CTIME } from '../plan/compare.js';
import { SharedConnection } from '../s3/shared-connection.js';
import { DeletesRefused } from '../sync/delete-guard.js';
import { emptyResult, stoppedBy as markStopped, type SyncEvent, type SyncResult } from '../sync/events.js';
import { applyRecords } from '../sync/facts.js';
import type { PushOptions } from '../sync/options.js';
import { executePush, preparePush, pushContext } from '../sync/push.js';
import { type RunContext, requireDirectory } from '../sync/run-context.js';
import { type BatchHooks, runBatch, vouches, withoutDeletes } from './batch.js';
import { collectGarbage } from './collect.js';
import { WatchSchedule } from './schedule.js';
import { PathScope } from './scope.js';
import {
  backoffMs,
  changedRecently,
  GONE,
  isSettled,
  missedChange,
  nextDue,
  type Observed,
  observe,
} from './settle.js';
import { type Found, type Present, treeAsKnown } from './tally.js';
import { type Watcher, watchTree } from './watcher.js';

type Trigger = 'change' | 'walk' | 'look';

/** A path's signature as settle detection compares it: what lstat says, or GONE. */
function signatureOf(root: string, rel: string): string {
  try {
    const st = lstatSync(absPath(root, rel), { bigint: true });
    if (st.isDirectory()) return 'dir';
    return `${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`;
  } catch {
    return GONE;
  }
}

/**
 * The directory at `root` (through links) as device, inode and birth time; undefined while there is
 * none. The birth time because ext4 gives a directory removed and made again its old inode at once.
 */
function identityOf(root: string): string | undefined {
  try {
    const st = statSync(root, { bigint: true });
    return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
  } catch {
    return undefined;
  }
}

/** Whether a directory holds a directory; false when it cannot be read (gone again). */
function holdsDirectory(abs: string): boolean {
  try {
    return readdirSync(abs, { withFileTypes: true }).some((d) => d.isDirectory());
  } catch {
    return false;
  }
}

/** How often the loop looks whether the root was replaced, for when no event says so. */
const ROOT_CHECK_MS = 2000;

/** How long a file keeps changing (or ten settle times, if longer) before the watch says it waits. */
const SAY_CHANGING_MS = 10_000;

/** A time elapsed, to the second, as durations are written (125s, 2m). */
const aboutSeconds = (ms: number) => fmtDuration(Math.max(1, Math.round(ms / SECOND)) * SECOND);

const fileSignature = (f: LocalFile) => `${f.size}:${f.mtimeNs}:${f.ctimeNs}:${f.ino}`;

/**
 * Whether a file is as its manifest entry says: sent as it is (by a batch the stop cut short). An
 * unproven change time ('0', taken within its tick) is no evidence either way.
 */
function asEntrySays(e: ManifestEntry | undefined, f: LocalFile): boolean {
  if (e === undefined) return false;
  const ctimeOk = e.ctimeNs === UNPROVEN_CTIME || f.ctimeNs === e.ctimeNs;
  return f.size === e.size && f.mtimeNs === e.mtimeNs && f.ino === e.ino && ctimeOk;
}

/**
 * `push --watch`: a full sync, then batches of the paths that changed and settled, and a full walk
 * every --reconcile-every, until the signal aborts. One batch or walk at a time, each one push run (one
 * manifest checkpoint, the guards applied to its deletes); events keep arriving meanwhile.
 */
class WatchLoop {
  /** Paths events named (or walks held back), by rel, waiting to settle. */
  private readonly pending = new Map<string, Observed>();
  /** Paths whose last batch failed: retried after a backoff that grows with each failure. */
  private readonly failing = new Map<string, { failures: number; at: number; message: string }>();
  private readonly totals: SyncResult = emptyResult('push', false);
  /** The scans' notices said so far (a link skipped): each once in the watch, not at every batch. */
  private readonly noticed = new Set<string>();
  /** The --debug connection line (and its warnings) the last run said: again only if it changes. */
  private readonly connectionSaid = { notices: [] as string[] };
  /** One connection for every run of the watch: its sockets stay warm between batches, and close with it. */
  private readonly connection = new SharedConnection();
  private readonly settleMs: number;
  /** --settle-max: Infinity for never. */
  private readonly settleMaxMs: number;
  /**
   * Since when each path not yet sent has kept changing: from the first event or hold that made it
   * pending, through every later one, until a batch or walk sends it. --settle-max counts from here.
   */
  private readonly changingSince = new Map<string, number>();
  /** Paths sent as they are although still changing (--settle-max): the batch does not hold them. */
  private readonly forced = new Set<string>();
  /** Paths said to be still changing (with no --settle-max): each once while it keeps changing. */
  private readonly saidChanging = new Set<string>();
  /** When the walks, the looks after events and the renewals of the subscription are due. */
  private readonly schedule: WatchSchedule;
  /** Wakes the loop from its wait (an event came, or the run is cancelled). */
  private wake?: () => void;
  /** The subscription to file events; none when the system refused one. */
  private watcher: Watcher | undefined;
  /** The manifest stood for the destination after the last run: found empty by a batch, it was lost. */
  private manifestHeld = false;
  /**
   * A delete guard's refusal in this watch: from then on no batch, look or walk deletes (uploads go on),
   * and the paths it would delete fail, so the watch exits 1 until a push with --force deletes them.
   */
  private deletesRefused: string | undefined;
  /** The watched directory itself changed, or no subscription could be made: the next walk subscribes again first. */
  private resubscribe = false;
  /** Events were said lost, or the subscription made anew, since the last walk: what it finds is no news. */
  private eventsLost = false;
  /** A walk found a change no event had named: said once in the watch (see missedChange). */
  private missedSaid = false;
  /** A walk has run to its end: the destination was synced once in this watch. */
  private synced = false;
  /** The stop cut a walk short: what it did not send has no event, so the summary reads the whole tree. */
  private walkCut = false;
  /**
   * The stop cut the first sync short (before it planned, or with work it planned undone): the watch
   * ends cancelled, as a push stopped the same way does, not as a clean stop; the destination was
   * never brought in sync.
   */
  private cutShort = false;
  /**
   * Folders made with folders already in them (`mkdir -p`, a tree moved in): the watcher watches only
   * their first level (parcel-bundler/watcher#97), so the subscription is renewed, which watches the
   * levels below, and they are looked at once more for what was made before it.
   */
  private readonly deepDirs = new Set<string>();
  /** The device and inode of the directory subscribed to: a root replaced without an event shows. */
  private watchedRoot: string | undefined;
  /** Where the last run's manifest is: the summary reads the tree as last known from it. */
  private manifestAt: { path: string; destination: Destination } | undefined;
  /** s3sync's own files (a manifest given inside the tree, its lock), as the last run's context said. */
  private isOwn: (rel: string) => boolean = () => false;
  /** The paths the last run selected (filters, shard, own files): the summary counts only those. */
  private isSelected: (rel: string) => boolean = () => true;
  /** The same with the ignore file read again: it changed since (`rulesChanged`), no walk applied it. */
  private reselect: () => Promise<(rel: string) => boolean> = async () => this.isSelected;
  private rulesChanged = false;
  /** The ignore file as the last walk read it (its stat signature): a change whose event is late shows. */
  private rulesWalked: string | undefined;
  /** And the files its size and age limits let through. */
  private limits: SizeAgeFilter = { active: false, fits: () => true };

  constructor(
    private readonly opts: PushOptions,
    private readonly root: string,
  ) {
    this.settleMs = setting(opts, 'settle');
    this.settleMaxMs = setting(opts, 'settleMax') ?? Number.POSITIVE_INFINITY;
    this.schedule = new WatchSchedule(this.settleMs, setting(opts, 'reconcileEvery'));
  }

  private get aborted(): boolean {
    return this.opts.signal?.aborted === true;
  }

  async run(): Promise<SyncResult> {
    const started = monotonicNow();
    this.watcher = await this.subscribe();
    try {
      let first = true;
      while (!this.aborted) {
        const now = monotonicNow();
        // Before a walk too: one a batch hands over (its manifest went with the old root) subscribes anew.
        if (this.rootReplaced()) continue;
        if (this.schedule.walkDue(now)) {
          if (this.resubscribe) {
            this.eventsLost = true;
            await this.subscribeAgain();
          }
          await this.walk(first);
          // Once the walk's frame is gone, so nothing of it is still reachable.
          collectGarbage();
          // No subscription at the start (the system refused it): each walk tries again, as after a
          // renewal refused, so that watching resumes once the system allows it.
          if (first && this.watcher === undefined) this.resubscribe = true;
          first = false;
          continue;
        }
        if (this.schedule.renewDue(now)) {
          await this.renew();
          continue;
        }
        const ready = this.collectReady(now);
        if (ready.length > 0) await this.batch(ready);
        else if (now >= this.schedule.lookAt()) {
          await this.look();
          // As after a walk: the look read the whole tree.
          collectGarbage();
        } else await this.nap(Math.min(this.nextWake(now) - now, ROOT_CHECK_MS));
      }
    } catch (err) {
      // The first sync refused: the summary is still the last word (as a plain push's), then the error;
      // refused before it began (another run's lock), it has none, as a plain push has none.
      if (!(err instanceof S3SyncError && err.beforeRun)) await this.finish(started, { error: err });
      throw err;
    } finally {
      await this.watcher?.close();
      await this.connection.close();
    }
    return await this.finish(started);
  }

  /**
   * The watched directory itself was replaced (moved away and another put in its place, or removed and
   * made again): the subscription follows the old one, so a new one is made for what is there now.
   */
  private rootReplaced(): boolean {
    if (this.resubscribe || this.watcher === undefined) return false;
    const now = identityOf(this.root);
    if (now === this.watchedRoot) return false;
    this.opts.onEvent?.({
      type: 'warning',
      message: 'the watched directory was replaced: walking the whole tree',
    });
    this.resubscribe = true;
    this.schedule.walkNow();
    return true;
  }

  private async subscribeAgain(): Promise<void> {
    const old = this.watcher;
    this.watcher = undefined;
    await old?.close();
    this.watcher = await this.subscribe();
    if (this.watcher) this.resubscribe = false;
  }

  /**
   * The watcher, or none when the system refuses one (inotify's max_user_watches reached, a file
   * system without events): then the walks alone keep the destination current, later by up to
   * --reconcile-every, and a warning says so.
   */
  private async subscribe(): Promise<Watcher | undefined> {
    const warn = (message: string) => this.opts.onEvent?.({ type: 'warning', message });
    try {
      this.watchedRoot = identityOf(this.root);
      // Where the root leads: a watcher refuses a symbolic link as its root.
      return await watchTree(realpathSync(this.root), {
        changed: (rels) => this.changed(rels),
        lost: (why, rootChanged) => {
          warn(`file events lost (${why}): walking the whole tree`);
          this.eventsLost = true;
          if (rootChanged) this.resubscribe = true;
          this.schedule.walkNow();
          this.wake?.();
        },
      });
    } catch (err) {
      // Said once: while the root is missing, each walk tries again and fails with its own error.
      if (!this.resubscribe)
        warn(
          `cannot watch for changes (${(err as Error).message}): only the walks every reconcileEvery (--reconcile-every) find them`,
        );
      return undefined;
    }
  }

  private changed(rels: string[]): void {
    const now = monotonicNow();
    this.schedule.event(now);
    for (const rel of rels) {
      // New rules change what every path is (one they now let through has no event of its own): a
      // walk applies them, once the file has had the settle time to be written whole.
      if (isIgnoreFile(rel)) {
        this.schedule.walkAfterSettle(now);
        this.rulesChanged = true;
      }
      if (this.isOwn(rel)) continue;
      const sig = signatureOf(this.root, rel);
      this.mark(rel, sig, now);
      if (sig === 'dir' && this.watcher !== undefined && holdsDirectory(absPath(this.root, rel))) {
        this.deepDirs.add(rel);
        // After the settle time, so that the folders of one `mkdir -p` or `tar x` are one renewal.
        this.schedule.deepDir(now);
      }
    }
    this.wake?.();
  }

  /** A path an event named (or a folder to look at again): pending, its clock restarted. */
  private mark(rel: string, sig: string, now: number): void {
    this.pending.set(rel, observe(this.pending.get(rel), sig, now, true));
    if (!this.changingSince.has(rel)) this.changingSince.set(rel, now);
  }

  /**
   * A new subscription, which watches every level of the folders made several levels at once; then
   * those folders are looked at again, for the files made in them before it watched them.
   */
  private async renew(): Promise<void> {
    const dirs = [...this.deepDirs];
    this.deepDirs.clear();
    this.schedule.renewed(monotonicNow());
    await this.subscribeAgain();
    // No subscription now (the system refused it): a walk tries again, and finds what it missed.
    if (this.watcher === undefined) {
      this.resubscribe = true;
      this.schedule.walkNow();
    }
    const now = monotonicNow();
    for (const rel of dirs) this.mark(rel, signatureOf(this.root, rel), now);
  }

  /**
   * Pending paths unchanged for the settle time, or changing for --settle-max (and not waiting out a
   * failure's backoff), taken out.
   */
  private collectReady(now: number): string[] {
    const ready: string[] = [];
    for (const [rel, o] of this.pending) {
      if ((this.failing.get(rel)?.at ?? 0) > now) continue;
      const changing = now - (this.changingSince.get(rel) ?? o.since);
      const overdue = changing >= this.settleMaxMs;
      if (!overdue && !isSettled(o, now, this.settleMs)) {
        this.sayChanging(rel, changing);
        continue;
      }
      const next = observe(o, signatureOf(this.root, rel), now, false);
      if (next === o && !overdue) ready.push(rel);
      else if (overdue) {
        ready.push(rel);
        this.forced.add(rel);
        this.opts.onEvent?.({
          type: 'notice',
          message: `${rel}: still changing after ${aboutSeconds(changing)} (settleMax, --settle-max): sending it as it is now`,
        });
      } else {
        this.pending.set(rel, next);
        this.sayChanging(rel, changing);
      }
    }
    for (const rel of ready) this.pending.delete(rel);
    return ready;
  }

  /** Said once while a path keeps changing for long with no --settle-max: it is not forgotten, only waiting. */
  private sayChanging(rel: string, changing: number): void {
    if (this.settleMaxMs !== Number.POSITIVE_INFINITY || this.saidChanging.has(rel)) return;
    if (changing < Math.max(SAY_CHANGING_MS, 10 * this.settleMs)) return;
    this.saidChanging.add(rel);
    this.opts.onEvent?.({
      type: 'notice',
      message: `${rel}: still changing after ${aboutSeconds(changing)}: sent once it is unchanged for settle (--settle) ${fmtDuration(this.settleMs)}, or give settleMax (--settle-max) to send it all the same`,
    });
  }

  /** Sent (or gone): its next change starts a new count. */
  private settled(rel: string): void {
    this.changingSince.delete(rel);
    this.saidChanging.delete(rel);
  }

  /** When something may be due: a path settling, a failure's retry, the next walk. */
  private nextWake(now: number): number {
    let at = this.schedule.next();
    const settling = [...this.pending].map(([rel, o]) => ({
      sig: o.sig,
      // Due when it settles, or when --settle-max runs out, whichever is first; not before its retry.
      since: Math.max(
        Math.min(o.since, (this.changingSince.get(rel) ?? o.since) + this.settleMaxMs - this.settleMs),
        (this.failing.get(rel)?.at ?? 0) - this.settleMs,
      ),
    }));
    const due = nextDue(settling, this.settleMs);
    if (due !== undefined) at = Math.min(at, due);
    return Math.max(at, now + 10);
  }

  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let stop = () => {};
      const done = () => {
        clearTimeout(timer);
        stop();
        this.wake = undefined;
        resolve();
      };
      // Timers past 2^31 ms fire at once: a --reconcile-every of never waits in slices.
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.wake = done;
      const { signal } = this.opts;
      if (signal) stop = onAbort(signal, done);
    });
  }

  /**
   * Whether a file found by a batch or a walk waits: it changed within the settle time, or an event
   * named it since it was last seen settled. It goes to settle detection instead.
   */
  private hold = (f: LocalFile): boolean =>
    !this.forced.has(f.rel) &&
    // The file's mtime is on the wall clock: so is the time it is compared with.
    (changedRecently(f.mtimeNs, Date.now(), this.settleMs) || this.pending.has(f.rel));

  /** A path with events not yet settled: gone now, it may be back before it settles. */
  private waiting = (rel: string): boolean => this.pending.has(rel);

  private holdBack(held: LocalFile[]): void {
    const now = monotonicNow();
    for (const f of held) {
      // Sent by --settle-max but changed while it was read: its next try waits --settle-max again,
      // where it was due at once, batch after batch, each a whole read of a file that never holds still.
      if (this.forced.has(f.rel)) {
        this.changingSince.set(f.rel, now);
        // Said, or a file that changes faster than it is sent (a slow --bwlimit) is silently never sent.
        this.opts.onEvent?.({
          type: 'notice',
          message: `${f.rel}: changed while it was being sent: sent again once it settles, or as it is after settleMax (--settle-max) ${fmtDuration(this.settleMaxMs)}`,
        });
      }
      if (!this.pending.has(f.rel)) this.pending.set(f.rel, { sig: fileSignature(f), since: now });
      if (!this.changingSince.has(f.rel)) this.changingSince.set(f.rel, now);
    }
  }

  /**
   * A run's options: its summary becomes the batch's event, the rest is passed on. Its signal is its
   * own, aborted with the watch's, and `release` detaches it: the listeners a run leaves on its signal
   * (its transport's) go with it instead of piling up on the watch's, batch after batch.
   */
  private runOptions(
    trigger: Trigger,
    paths: number,
    onSummary: (r: SyncResult) => unknown,
    sent?: string[],
  ): { opts: PushOptions; release: () => void; leftUndone: () => boolean } {
    // What the run set out to do and what it did, for whether the stop left the first sync undone.
    let planned: number | undefined;
    let done = 0;
    // The planned transfers and deletes made: the rest of a run the stop cut short is left pending.
    let made = 0;
    const onEvent = (e: SyncEvent) => {
      if (e.type === 'plan') planned = e.transfers + e.deletes;
      else if (e.type === 'done' && e.action !== 'record') {
        done++;
        if (e.action === 'upload' || e.action === 'copy') sent?.push(e.rel);
        if (e.action === 'upload' || e.action === 'copy' || e.action === 'delete') made++;
      }
      if (e.type !== 'summary') return this.opts.onEvent?.(e);
      const { type: _type, ...r } = e;
      done += r.failed;
      // A batch handed to a walk did nothing: the walk's event says what happened.
      if (onSummary(r) === false) return;
      let pending = this.pending.size;
      if (r.outcome === 'cancelled') {
        // Its paths are put back only once it returns: counted now, as the watch's summary counts them.
        pending += Math.max(0, (planned ?? 0) - made - r.failed);
        // Stopping is how a watch ends: a batch cut short failed only if something in it failed, as the
        // watch's summary says; the first sync cut short ends the watch cancelled, and so its line.
        if (!leftUndone()) r.outcome = r.failed > 0 ? 'failed' : 'ok';
      }
      this.opts.onEvent?.({ type: 'batch', trigger, paths, pending, ...r });
    };
    const own = new AbortController();
    const parent = this.opts.signal;
    const abort = () => own.abort(parent?.reason);
    const release = parent ? onAbort(parent, abort) : () => {};
    // A later run cut short leaves what events (or the tally's whole tree) count pending, as stopping
    // is how a watch ends; the first sync cut short never synced the tree.
    const leftUndone = () =>
      this.aborted && trigger === 'walk' && !this.synced && (planned === undefined || done < planned);
    return { opts: { ...this.opts, watch: false, onEvent, signal: own.signal }, release, leftUndone };
  }

  /** The whole tree, as a push: the first sync, then each reconciliation (and the verify interval). */
  private async walk(first: boolean): Promise<void> {
    // A look still owed would have found a dropped event's file (parcel-bundler/watcher#183): the walk does.
    const lookOwed = this.schedule.lookOwed;
    this.schedule.walkStarted();
    let result: SyncResult | undefined;
    let refused: string[] = [];
    const sent: string[] = [];
    // What was named before the walk (events, holds, retries), and whether its cause explains a file
    // nothing named: otherwise such a file is a change the subscription missed.
    const named = [...this.pending.keys(), ...this.changingSince.keys(), ...this.failing.keys()];
    const explained =
      first ||
      lookOwed ||
      !this.synced ||
      this.eventsLost ||
      this.rulesChanged ||
      !this.manifestHeld ||
      this.watcher === undefined;
    this.eventsLost = false;
    const { opts, release, leftUndone } = this.runOptions(
      'walk',
      0,
      (r) => {
        result = r;
      },
      sent,
    );
    let s: RunContext | undefined;
    try {
      s = await pushContext(opts, this.connectionSaid, this.connection);
      this.isOwn = s.isOwn;
      const run = s;
      await s.run(async () => {
        const prepared = await preparePush(run, opts, this.hold, this.noticed);
        if (this.deletesRefused !== undefined)
          ({ actions: prepared.actions, refused } = withoutDeletes(
            run,
            prepared.actions,
            this.deletesRefused,
          ));
        applyRecords(run, prepared.actions, prepared.facts);
        await executePush(run, prepared, opts);
        this.holdBack(prepared.held ?? []);
      });
      this.keep(s);
      if (this.aborted) {
        this.stopped(leftUndone());
        return;
      }
      // Named during the walk too: an event that came while it read the tree.
      const missed = missedChange(
        sent,
        new PathScope([...named, ...this.pending.keys(), ...this.changingSince.keys()]).covers,
        explained,
      );
      this.synced = true;
      this.manifestHeld = vouches(s.store);
      // What the walk did not hold back is sent (or failed, and retried as a batch's failures are).
      for (const rel of [...this.changingSince.keys()]) if (!this.pending.has(rel)) this.settled(rel);
      this.schedule.walked(monotonicNow());
      // The walk read the ignore file as it is: the summary's selection is its own.
      this.rulesChanged = false;
      this.rulesWalked = signatureOf(this.root, IGNORE_FILE);
      // The walk saw the whole tree: what failed in it is retried (and counted) as a batch's failures
      // are, and what failed before and went through now is no longer failing.
      const failed = new Map<string, string>();
      for (const e of result?.errors ?? []) if (e.rel !== '') failed.set(e.rel, e.message);
      for (const rel of [...this.failing.keys()]) if (!failed.has(rel)) this.failing.delete(rel);
      this.retryFailed(failed, refused);
      if (missed !== undefined) await this.missed(missed);
    } catch (err) {
      if (this.aborted) {
        if (s) this.keep(s);
        this.stopped(leftUndone());
        return;
      }
      // A first sync refused as asked (bad options, a delete guard) stops, as a plain push would.
      if (first && err instanceof S3SyncError && err.kind === 'usage') throw err;
      this.refused(err);
      this.schedule.walkFailed(monotonicNow(), err instanceof Error ? err.message : String(err));
      this.report(err);
    } finally {
      release();
      if (result) this.add(result);
    }
  }

  /**
   * A walk sent a file no event named: the subscription misses changes (inotify's max_user_watches
   * reached while folders were made: those are not watched, and the watcher does not say so). Said
   * once; each such walk subscribes again, which watches them once the system allows it.
   */
  private async missed(rel: string): Promise<void> {
    if (!this.missedSaid)
      this.opts.onEvent?.({
        type: 'warning',
        message: `the walk sent ${rel}, changed with no file event: file events are missing (inotify's max_user_watches reached?), so such changes wait for the walks every reconcileEvery (--reconcile-every); watching again`,
      });
    this.missedSaid = true;
    await this.subscribeAgain();
    // Refused now: as at the start, each walk tries again.
    if (this.watcher === undefined) this.resubscribe = true;
  }

  /**
   * A walk the stop cut short: the summary reads the whole tree (what it did not send has no event)
   * against the manifest it saved (kept by the caller), and the first sync left undone ends the watch
   * cancelled.
   */
  private stopped(undone: boolean): void {
    this.walkCut = true;
    if (undone) this.cutShort = true;
  }

  /** The paths that settled, as one push run over them. */
  private async batch(ready: string[]): Promise<void> {
    let result: SyncResult | undefined;
    let undeleted: string[] = [];
    let refused: string[] = [];
    const handed = { over: false };
    // The paths its plan found unchanged: nothing of theirs to retry if the batch fails as a whole.
    let unchanged = new Set<string>();
    const { opts, release } = this.runOptions('change', ready.length, (r) => {
      if (handed.over) return false;
      result = r;
    });
    try {
      const done = await this.runScope(opts, new PathScope(ready), handed, (plan) => {
        unchanged = new Set(plan.unchanged);
      });
      if (!done) return;
      if (this.aborted) {
        this.putBack(ready);
        return;
      }
      const held = new Set(done.held.map((f) => f.rel));
      for (const rel of ready) if (!held.has(rel)) this.settled(rel);
      undeleted = done.undeleted;
      refused = done.refused;
    } catch (err) {
      if (this.aborted) {
        this.putBack(ready);
        return;
      }
      this.refused(err);
      this.report(err);
      for (const rel of unchanged) {
        this.settled(rel);
        this.failing.delete(rel);
      }
      this.retryLater(
        ready.filter((rel) => !unchanged.has(rel)),
        (err as Error)?.message ?? String(err),
      );
      return;
    } finally {
      release();
      for (const rel of ready) this.forced.delete(rel);
      if (result) this.add(result);
    }
    const failed = new Map((result?.errors ?? []).map((e) => [e.rel, e.message]));
    for (const rel of undeleted)
      if (!failed.has(rel)) failed.set(rel, 'not deleted: an error in its batch held the deletes back');
    for (const rel of ready) if (!failed.has(rel)) this.failing.delete(rel);
    this.retryFailed(failed, refused);
  }

  /**
   * One push run over `scope` (a batch's paths, a look's whole tree); undefined when it found no
   * manifest to send on the word of, and handed over to a walk (`handed.over`).
   */
  private async runScope(
    opts: PushOptions,
    scope: PathScope,
    handed: { over: boolean },
    planned?: BatchHooks['planned'],
  ): Promise<{ held: LocalFile[]; undeleted: string[]; refused: string[] } | undefined> {
    const s = await pushContext(opts, this.connectionSaid, this.connection);
    this.isOwn = s.isOwn;
    const done = await runBatch(s, opts, scope, {
      hold: this.hold,
      waiting: this.waiting,
      noticed: this.noticed,
      deletesRefused: this.deletesRefused,
      handOver: () => {
        handed.over = true;
      },
      planned,
    });
    if (handed.over) {
      this.handOver();
      return undefined;
    }
    // Nothing sent on an emptied manifest does not make it stand again: its warning stays due.
    if (vouches(s.store)) this.manifestHeld = true;
    this.holdBack(done.held);
    this.keep(s);
    return done;
  }

  /**
   * What the watch keeps of a run that ended, for the next and for its summary: its tests apart from
   * the run (the run's own would keep the whole run, its manifest and scan, alive) and its manifest's place.
   */
  private keep(s: RunContext): void {
    this.isOwn = s.ownTest();
    this.isSelected = s.selectedTest();
    this.reselect = s.reselection();
    this.limits = s.selection.sizeAge;
    this.manifestAt = { path: s.store.path, destination: s.destination };
  }

  /** A batch or look found no manifest to send on the word of: a walk, with its listing, decides. */
  private handOver(): void {
    // A warning only for a manifest lost since: none yet (a tree watched from empty) is expected.
    this.opts.onEvent?.(
      this.manifestHeld
        ? {
            type: 'warning',
            message:
              'the manifest is gone or empty: walking the whole tree, with one listing, before sending',
          }
        : {
            type: 'notice',
            message: 'no manifest yet: walking the whole tree, with one listing, before sending',
          },
    );
    this.manifestHeld = false;
    this.schedule.walkNow();
  }

  /**
   * The whole tree against the manifest, as a batch with every path in its scope: no listing, no
   * request when nothing changed. It sends what changed with no event (one the watcher dropped); its
   * `batch` event is said only when it did something.
   */
  private async look(): Promise<void> {
    const started = monotonicNow();
    this.schedule.lookStarted();
    let result: SyncResult | undefined;
    let undeleted: string[] = [];
    let refused: string[] = [];
    // What the look set out to do: no event named those paths, so a stop puts them back itself.
    let planned: string[] = [];
    const handed = { over: false };
    const { opts, release } = this.runOptions('look', 0, (r) => {
      if (handed.over) return false;
      result = r;
      if (r.uploaded + r.copied + r.restyled + r.recorded + r.deleted + r.failed + r.requestsTotal === 0)
        return false;
    });
    try {
      const done = await this.runScope(opts, PathScope.everything(), handed, (plan) => {
        planned = plan.acting;
      });
      if (!done) return;
      if (this.aborted) {
        this.putBack(planned);
        return;
      }
      undeleted = done.undeleted;
      refused = done.refused;
    } catch (err) {
      if (this.aborted) {
        this.putBack(planned);
        return;
      }
      // Failed as a whole (a delete guard, the endpoint away): the walk takes it over.
      this.refused(err);
      this.schedule.lookFailed(monotonicNow(), err instanceof Error ? err.message : String(err));
      this.report(err);
    } finally {
      release();
      if (result) this.add(result);
      this.schedule.looked(started, monotonicNow());
    }
    // Retried as a batch's failures are.
    const failed = new Map((result?.errors ?? []).filter((e) => e.rel !== '').map((e) => [e.rel, e.message]));
    for (const rel of undeleted)
      if (!failed.has(rel)) failed.set(rel, 'not deleted: an error in its batch held the deletes back');
    this.retryFailed(failed, refused);
  }

  /**
   * A batch or look the stop cut short: what it did not send, the next start's walk finds, and the
   * summary counts pending (the files it sent match their entries, and the tally leaves them out).
   */
  private putBack(rels: string[]): void {
    const now = monotonicNow();
    for (const rel of rels)
      if (!this.pending.has(rel)) this.pending.set(rel, { sig: signatureOf(this.root, rel), since: now });
  }

  /**
   * A run's failures, each retried after its backoff; but a delete this watch keeps refused only fails:
   * retried, it would be refused again, said again and again. Its next event, look or walk plans it anew.
   */
  private retryFailed(failed: ReadonlyMap<string, string>, refused: readonly string[]): void {
    const kept = new Set(refused);
    for (const [rel, message] of failed) {
      if (kept.has(rel))
        this.failing.set(rel, { failures: (this.failing.get(rel)?.failures ?? 0) + 1, at: 0, message });
      else this.retryLater([rel], message);
    }
  }

  /** Paths back to pending, each retried after its backoff. */
  private retryLater(rels: string[], message: string): void {
    const now = monotonicNow();
    for (const rel of rels) {
      const failures = (this.failing.get(rel)?.failures ?? 0) + 1;
      this.failing.set(rel, { failures, at: now + backoffMs(failures), message });
      if (!this.pending.has(rel))
        this.pending.set(rel, { sig: signatureOf(this.root, rel), since: now - this.settleMs });
    }
  }

  /** A delete guard's refusal is kept: the deletions it stopped are never made by this watch. */
  private refused(err: unknown): void {
    if (err instanceof DeletesRefused) this.deletesRefused ??= err.message;
  }

  private report(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.opts.onEvent?.({ type: 'error', message: `${message} (retrying)` });
  }

  private add(r: SyncResult): void {
    const t = this.totals;
    t.uploaded += r.uploaded;
    t.copied += r.copied;
    t.restyled += r.restyled;
    t.recorded += r.recorded;
    t.deleted += r.deleted;
    t.bytesTransferred += r.bytesTransferred;
    t.requestsTotal += r.requestsTotal;
    for (const [k, v] of Object.entries(r.requests)) t.requests[k] = (t.requests[k] ?? 0) + v;
  }

  /** The summary's counts of files (see treeAsKnown); the manifest read once, as the watch ends. */
  private async tally(started: number): Promise<void> {
    let files: ReadonlyMap<string, ManifestEntry> = new Map();
    try {
      if (this.manifestAt) files = loadManifest(this.manifestAt.path, this.manifestAt.destination).data.files;
    } catch {
      // Unreadable now: the counts are of what is known without it (the next run says why).
    }
    const found = (rel: string): Found => {
      const sig = signatureOf(this.root, rel);
      if (sig === GONE || sig === 'dir') return sig === 'dir' ? 'dir' : undefined;
      const [size, mtimeNs] = sig.split(':');
      return { size: Number(size), mtimeMs: mtimeMsOf(mtimeNs!) };
    };
    const failing = new Set(this.failing.keys());
    // The ignore file changed and no walk applied it: any file may be in or out now, so the whole tree
    // is read, with its rules as they are (unreadable: the last run's, and its error is the next run's).
    // Its event may not have come yet (a stop just after the write): the file itself says it changed.
    const rulesMoved =
      this.rulesChanged ||
      (this.rulesWalked !== undefined && signatureOf(this.root, IGNORE_FILE) !== this.rulesWalked);
    const rules = rulesMoved ? await this.reselect().catch(() => undefined) : undefined;
    const selected = rules ?? this.isSelected;
    // The paths with events pending, read as a batch would read them: a folder made or moved there
    // holds files no event named, and a link is taken as the push takes it. Stopped before the look
    // its last events call for, or with the last walk failed as a whole, the whole tree, as that look or
    // walk would: an event may have been dropped (parcel-bundler/watcher#183), and its file would be
    // missing from the counts. So too with a walk cut short (what it did not send has no event), and
    // with no subscription (no event names anything).
    const scope =
      rules ||
      this.schedule.lookOwed ||
      this.schedule.walkError !== undefined ||
      this.walkCut ||
      this.watcher === undefined
        ? PathScope.everything()
        : new PathScope([...this.pending.keys()].filter((rel) => !failing.has(rel)));
    const present = new Map<string, Present>();
    if (scope.size > 0) {
      const scan = scanDirectory(this.root, {
        followSymlinks: this.opts.followSymlinks,
        skipDir: (rel) => isStateDir(rel) || !scope.entersDir(rel),
        includeFile: scope.covers,
        own: this.isOwn,
      });
      for (const f of scan.files)
        present.set(f.rel, {
          size: f.size,
          mtimeMs: mtimeMsOf(f.mtimeNs),
          same: asEntrySays(files.get(f.rel), f),
        });
    }
    Object.assign(
      this.totals,
      treeAsKnown(files, started, failing, {
        covered: scope.covers,
        present,
        found,
        selected,
        fits: this.limits.fits,
        limited: this.limits.active,
        deletes: this.opts.delete === true,
      }),
    );
  }

  /**
   * The watch's summary: what all its runs did; failed are the paths still failing when it stopped,
   * and a walk that last failed as a whole (rel ''). `stoppedBy`: the error that ended the watch.
   */
  private async finish(started: number, stoppedBy?: { error: unknown }): Promise<SyncResult> {
    const t = this.totals;
    await this.tally(started);
    t.errors = [...this.failing].map(([rel, f]) => ({ rel, message: f.message }));
    const walkError = this.schedule.walkError;
    if (walkError !== undefined) t.errors.push({ rel: '', message: walkError });
    t.failed = t.errors.length;
    t.elapsedMs = monotonicNow() - started;
    t.cancelled = this.aborted;
    // Stopping is how a watch ends: it ends well when nothing is left failing, unless the stop cut the
    // first sync short, which ends it as that push, cancelled.
    if (stoppedBy) markStopped(t, stoppedBy.error);
    else t.outcome = this.cutShort ? 'cancelled' : t.failed > 0 ? 'failed' : 'ok';
    this.opts.onEvent?.({ type: 'summary', ...t });
    return t;
  }
}

/**
 * `push({ watch: true })`: syncs, then keeps the destination current until `signal` aborts; resolves
 * with the totals then.
 */
export async function watch(opts: PushOptions): Promise<SyncResult> {
  // Its options were checked by push() (checkRunOptions), as a config file's jobs are before any runs.
  return new WatchLoop(opts, requireDirectory(opts.source, 'source directory')).run();
}
