import { setImmediate as nextTurn } from 'node:timers/promises';
import { fatalError, unreadableWhy } from '../errors.js';
import { forEachLimit } from '../limiter.js';
import { HASH_CONCURRENCY, SMALL_BATCH } from '../local/hash-cache.js';
import { SYNC_MAX } from '../local/hash-pool.js';
import { UnexpectedFileError } from '../local/open-file.js';
import type { LocalFile } from '../local/scan.js';
import { manifestEntry } from '../manifest/schema.js';
import { setting } from '../options/validate.js';
import type { PullAction } from '../plan/pull.js';
import type { PushAction } from '../plan/push.js';
import type { Facts, Need, RemoteObject } from '../plan/types.js';
import { httpStatus } from '../s3/errors.js';
import { etagForm } from '../s3/etag.js';
import { MIN_PAGES_PER_RANGE } from '../s3/list-ranges.js';
import type { ListOptions } from '../s3/listing.js';
import type { RunContext } from './run-context.js';

/** Keys enough to split a listing at (a page being 1,000 keys); fewer, and it is one stream. */
const SPLITTABLE = 2 * MIN_PAGES_PER_RANGE * 1000;

/**
 * How a run's listing may be split: into at most --list-ranges (default --workers) ranges, at keys
 * from the manifest, or from the scan when the manifest knows too few.
 */
export function listSplitting(
  s: RunContext,
  scanned: Promise<Iterable<LocalFile>> | Iterable<LocalFile>,
): Pick<ListOptions, 'maxRanges' | 'splitFrom' | 'onFallback'> {
  const manifest = [...s.store.files.keys()];
  const splitFrom =
    manifest.length >= SPLITTABLE
      ? manifest
      : Promise.resolve(scanned).then((files) => {
          const rels = Array.from(files, (f) => f.rel);
          return rels.length > manifest.length ? rels : manifest;
        });
  return {
    maxRanges: setting(s.opts, 'listRanges') ?? setting(s.opts, 'workers'),
    splitFrom,
    onFallback: s.opts.debug ? (reason) => s.notice(`listing as one stream: ${reason}`) : undefined,
  };
}

/** Objects in a listing page from which a rebuild's hashing is worth a worker thread (see HashCache). */
const WARM_PAGE = SMALL_BATCH;

/** Work a command starts before the plan asks for it (see hash-ahead.ts). */
export interface EarlyWork {
  /** Called once, when the first plan is not final: a no-change run never pays for it. */
  beforeGathering?: () => void;
  /** Each listing page as it arrives. */
  onListed?: (page: RemoteObject[]) => void;
  /** The listing, if it was started before the plan asked for it. */
  listing?: EarlyListing;
  /**
   * Where the objects come from instead of a listing, when the plan asks for one: the HEADs of a
   * --files-from list, every object the run may touch, but not a complete listing of the destination.
   */
  lookup?: () => Promise<Map<string, RemoteObject>>;
}

/**
 * A listing of the destination started before the local tree is read, for a run that will need it
 * whatever the tree holds: the server answers while the tree is read. Pages wait until someone follows.
 */
export class EarlyListing {
  private readonly pages: RemoteObject[][] = [];
  private onPage: ((page: RemoteObject[]) => void) | undefined;
  /** Hands the scanned files to the listing, whose ranges may split at their paths. */
  readonly scanned: (files: Iterable<LocalFile>) => void;
  private readonly done: Promise<Map<string, RemoteObject>>;
  /**
   * Resolves once the first page has been asked for (or the listing failed). Reading the tree waits
   * for it: the tree's walk, run in slices beside the loading of the SDK, held that loading back and
   * sent the first request later than loading the SDK first does.
   */
  readonly requested: Promise<void>;

  /**
   * Starts the listing and returns once its first request is out: the tree is read after that (see
   * `requested`).
   */
  static async start(s: RunContext, opts: { warmHashing?: boolean } = {}): Promise<EarlyListing> {
    const listing = new EarlyListing(s, opts.warmHashing ?? false);
    await listing.requested;
    return listing;
  }

  /** Before the first request: objects changed after this may or may not be in the listing. */
  private readonly startedAt = new Date();

  /**
   * `warmHashing`: a page of many objects arriving means, with no manifest, a rebuild that will hash
   * most of the tree: the hash worker starts then, so that its start-up passes while the tree is read
   * rather than after the listing.
   */
  private constructor(
    private readonly s: RunContext,
    warmHashing: boolean,
  ) {
    let requested = () => {};
    this.requested = new Promise<void>((resolve) => {
      requested = resolve;
    });
    let scanned: (files: Iterable<LocalFile>) => void = () => {};
    const files = new Promise<Iterable<LocalFile>>((resolve) => {
      scanned = resolve;
    });
    this.scanned = scanned;
    this.done = s.list({
      onPage: (page) => {
        if (warmHashing && page.length >= WARM_PAGE) {
          warmHashing = false;
          s.hashes.warm();
        }
        if (this.onPage) this.onPage(page);
        else this.pages.push(page);
      },
      onRequested: requested,
      ...listSplitting(s, files),
    });
    // A failure is raised where the listing is awaited; if the plan never asks for it, nowhere.
    this.done.catch(() => {}).finally(requested);
  }

  /**
   * The whole listing; `onPage` first sees the pages already in, then each one as it arrives. The pages
   * already in are handed over one per turn of the event loop: the work each starts (hashes, a worker
   * thread's batches) gets going, and the worker its next batch, while the next page is taken.
   */
  async follow(onPage?: (page: RemoteObject[]) => void): Promise<Map<string, RemoteObject>> {
    if (onPage) {
      for (let page = this.pages.shift(); page; page = this.pages.shift()) {
        onPage(page);
        // Pages that arrive meanwhile join the queue (this.onPage is not set yet), in order.
        if (this.pages.length > 0) await nextTurn();
      }
    }
    this.onPage = onPage ?? (() => {});
    this.pages.length = 0;
    const objects = await this.done;
    this.s.listed(this.startedAt, objects);
    return objects;
  }
}

/**
 * Gathers what the planner asked for: one listing, the hashes, the HEADs. Files that cannot be read are
 * reported and dropped from the plan through `unreadable`; those still there (not vanished) also go in
 * `failed`. `onListed` sees each listing page as it
 * arrives, to start hashing before the listing is complete. `files`: the scan's, whose device and inode
 * every hash checks it read.
 */
export async function gatherFacts(
  s: RunContext,
  needs: Need[],
  facts: Facts,
  files: () => Iterable<LocalFile>,
  unreadable: Set<string>,
  failed: Set<string>,
  early: EarlyWork = {},
): Promise<void> {
  if (needs.some((n) => n.kind === 'listing')) {
    if (early.lookup) {
      facts.remote = await early.lookup();
    } else if (early.listing) {
      facts.remote = await early.listing.follow(early.onListed);
    } else {
      const startedAt = new Date();
      facts.remote = await s.list({
        onPage: early.onListed,
        ...listSplitting(s, files()),
      });
      s.listed(startedAt, facts.remote);
    }
  }
  const hashes = needs.filter((n) => n.kind === 'hash');
  // One pass over the scan for the files to hash: a Map of every file would cost a large tree more.
  const wanted = new Set(hashes.map((n) => n.rel));
  const scanned = new Map<string, LocalFile>();
  if (wanted.size > 0) for (const f of files()) if (wanted.has(f.rel)) scanned.set(f.rel, f);
  const sizesFor = (n: Need & { kind: 'hash' }) => {
    const prev = facts.hashes.get(n.rel);
    // A file hashed for the first time, for its MD5 alone (most of a rebuild's): no Set or spreads.
    if (prev === undefined && n.partSizes.length === 0) return n.partSizes;
    return [...new Set([...Object.keys(prev?.multipart ?? {}).map(Number), ...n.partSizes])];
  };
  // The small files all queued at once (a check, a pull into files it has no manifest for): they are
  // then hashed eight at a time, and on a second thread when there are many, not one by one.
  for (const n of hashes) {
    const f = scanned.get(n.rel);
    if (f && f.size < SYNC_MAX) s.hashes.prefetch(f, sizesFor(n));
  }
  await forEachLimit(
    hashes,
    HASH_CONCURRENCY,
    async (n) => {
      const sizes = sizesFor(n);
      const f = scanned.get(n.rel);
      if (!f) throw fatalError(`internal error: ${n.rel} is to be hashed but was not scanned`);
      try {
        facts.hashes.set(n.rel, await s.hashes.get(f, sizes));
      } catch (err) {
        // Cancelled: not a file that could not be read.
        if (s.opts.signal?.aborted) return;
        unreadable.add(n.rel);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') s.warn(`${n.rel}: disappeared during the run`, n.rel);
        else {
          failed.add(n.rel);
          if (err instanceof UnexpectedFileError) s.fileError(n.rel, `${err.message}: skipped`);
          else s.fileError(n.rel, `cannot read file: ${unreadableWhy(code, err)}`);
        }
      }
    },
    s.opts.signal,
  );
  const heads = needs.filter((n) => n.kind === 'head');
  if (heads.length > 0) {
    const t = await s.s3();
    await forEachLimit(heads, 16, async (n) => {
      const listed = facts.remote?.get(n.rel);
      const key = s.location.prefix + n.rel;
      const form = listed ? etagForm(listed.etag) : undefined;
      // A multipart ETag no guessed part size matched: part 1's size, from the same HEAD, may.
      const parts = form?.kind === 'multipart' ? form.parts : undefined;
      let h: Awaited<ReturnType<typeof t.head>>;
      try {
        h = await t.head(key, listed?.versionId, parts && 1);
        // A store that answers partNumber with 404 is not taken at its word: the object is asked for.
        if (h === null && parts) h = await t.head(key, listed?.versionId);
      } catch (err) {
        // A store that refuses partNumber on a HEAD is asked without it.
        if (!parts || !PART_REFUSED.has(httpStatus((err as { cause?: unknown }).cause ?? err) ?? 0))
          throw err;
        h = await t.head(key, listed?.versionId);
      }
      facts.heads.set(n.rel, {
        metaMd5: h?.metadata.md5,
        restore: h?.restore,
        sourceMd5: h?.metadata['s3sync-source-md5'],
        ...(parts !== undefined && h?.partsCount === parts && h.size > 0 && { firstPartSize: h.size }),
      });
    });
  }
}

/** A HEAD's partNumber refused (400 InvalidArgument, 416, 501 NotImplemented): asked again without it. */
const PART_REFUSED = new Set([400, 416, 501]);

/**
 * Plans, gathers what the planner asked for, and plans again until every file is settled (a few
 * rounds at most: listing, then hashes, then HEADs). `files`: the scanned files the plan is about.
 * `drop` removes files that turned out unreadable; `failed`: those of them still there, each reported.
 */
export async function settle<P extends { needs: Need[] }>(
  s: RunContext,
  facts: Facts,
  files: () => Iterable<LocalFile>,
  plan: () => P,
  drop: (unreadable: Set<string>) => void,
  early: EarlyWork = {},
): Promise<{ plan: P; unreadable: Set<string>; failed: Set<string> }> {
  const unreadable = new Set<string>();
  const failed = new Set<string>();
  let p = plan();
  if (p.needs.length > 0) early.beforeGathering?.();
  for (let round = 0; p.needs.length > 0 && round < 5; round++) {
    await gatherFacts(s, p.needs, facts, files, unreadable, failed, early);
    if (unreadable.size > 0) drop(unreadable);
    p = plan();
  }
  if (p.needs.length > 0) throw fatalError('internal error: the plan did not settle');
  return { plan: p, unreadable, failed };
}

/**
 * Counts skips and writes 'record' actions (content already in place on the other side) to the
 * manifest, with the stat data the hash was taken from, and only if the file held still while read.
 */
export function applyRecords(
  s: RunContext,
  actions: ReadonlyArray<PushAction | PullAction>,
  facts: Facts,
): void {
  const syncedAt = new Date().toISOString();
  for (const rec of actions) {
    if (rec.kind === 'skip') s.result.unchanged++;
    if (rec.kind !== 'record') continue;
    const h = facts.hashes.get(rec.rel);
    if (!h?.stable) continue;
    s.result.recorded++;
    // A dry run saves no manifest: what it would record is said as its other actions are.
    if (s.opts.dryRun) {
      s.emit({
        type: 'action',
        action: 'record',
        rel: rec.rel,
        reason: rec.reason,
        size: h.size,
        dryRun: true,
      });
      continue;
    }
    s.store.record(rec.rel, manifestEntry(h.stat, rec, syncedAt));
    s.emit({ type: 'done', action: 'record', rel: rec.rel, size: h.size, reason: rec.reason });
  }
}
