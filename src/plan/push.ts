import { unsafeKeyReason } from '../local/safe-path.js';
import type { LocalFile } from '../local/scan.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { normalizeEtag } from '../s3/etag.js';
import {
  compareContent,
  isRacy,
  matchedPartSize,
  recordReason,
  remoteMatchesEntry,
  statMatches,
} from './compare.js';
import { type KeptObject, keyForm, localFolders, refusedKeys } from './keys.js';
import { type CopyAction, planRenames } from './renames.js';
import type { Facts, Need, RemoteObject, UploadReason } from './types.js';

export type PushAction =
  /** Nothing to do, not even a manifest update. */
  | { kind: 'skip'; rel: string }
  /** Content already at the destination: only the manifest changes (new stat data, adopted object). */
  | {
      kind: 'record';
      rel: string;
      reason: 'stat-changed' | 'unproven' | 'already-remote' | 'adopted';
      md5: string;
      etag: string;
      partSize: number;
      style?: string;
      stored?: number;
    }
  | { kind: 'upload'; rel: string; reason: UploadReason; size: number }
  /** Created with a server-side copy of an object of the same content (a rename, see renames.ts). */
  | CopyAction
  /**
   * Content already at the destination, but not its headers: a per-pattern rule changed (or now applies,
   * or no longer does). A metadata-only server-side copy onto itself sets them; no upload.
   */
  | {
      kind: 'restyle';
      rel: string;
      reason: 'headers-changed';
      size: number;
      md5: string;
      etag: string;
      partSize: number;
      /** The new rule's digest (undefined: no rule, the run's global settings). */
      style: string | undefined;
      stored?: number;
    }
  /**
   * `no-local-folder`: a zero-byte folder marker (a key ending in '/') with no local file under it;
   * `excluded`: outside the filters or limits, deleted under --delete-excluded whatever is local.
   */
  | { kind: 'delete'; rel: string; key: string; reason: PushDeleteReason; size: number };

export type PushDeleteReason = 'no-local-file' | 'no-local-folder' | 'excluded';

export interface PushPlanInput {
  files: LocalFile[];
  /** Local folders that exist (rel, no trailing '/'), files in them or not: their markers are kept. */
  folders?: readonly string[];
  manifest: ReadonlyMap<string, ManifestEntry>;
  /**
   * Files pushed from here that are gone here, their objects not seen deleted (ManifestStore.vanished):
   * a file of this tree stood for each key, as for an entry of the manifest.
   */
  vanished?: ReadonlySet<string>;
  racyThresholdNs: bigint;
  facts: Facts;
  options: {
    /** Upload everything (--no-incremental). */
    force?: boolean;
    /**
     * List the remote even where the manifest vouches for every file (--verify, or --verify-interval
     * elapsed). Whenever a listing is at hand, objects missing or changed there are re-uploaded.
     */
    verify?: boolean;
    /** Remove remote objects that have no local file (--delete). */
    delete?: boolean;
    /**
     * Whether a remote object is within the filters (excluded objects are kept unless --delete-excluded):
     * by its rel, and by its size and LastModified for the size and age limits.
     */
    remoteSelected?: (rel: string, r: RemoteObject) => boolean;
    /** --delete-excluded: whether an object is outside the filters or limits (its delete's reason). */
    excluded?: (rel: string, r: RemoteObject) => boolean;
    /** Size and MD5 from the Python script's manifest, for files s3sync's own manifest lacks. */
    adopted?: ReadonlyMap<string, { size: number; md5: string }>;
    /** Create files from objects of the same content under other keys (see renames.ts). */
    trackRenames?: boolean;
    /** The destination's key prefix (for the keys of manifest entries). */
    keyPrefix?: string;
    /** The digest of the header rule for a path (ManifestEntry.style); absent: no rules at all. */
    styleOf?: (rel: string) => string | undefined;
    /** Whether a path is to be stored compressed (--compress); absent: nothing is. */
    compressed?: (rel: string) => boolean;
    /**
     * The manifest vouches for the destination (a watch batch, after the watch's full sync): a file it
     * lacks is new, and no listing is asked for it. A wrong guess costs one upload, never data.
     */
    vouched?: boolean;
  };
}

export interface PushPlan {
  actions: PushAction[];
  /** Facts to gather before the plan is final; empty when it is. */
  needs: Need[];
  /** With --delete: objects without a local file kept all the same, as no file can stand for them. */
  kept?: KeptObject[];
}

// Module functions, not closures: a rebuild decides each file up to three times (see hash-ahead.ts).
const upload = (f: LocalFile, reason: UploadReason): PushAction => ({
  kind: 'upload',
  rel: f.rel,
  reason,
  size: f.size,
});

/**
 * An upload when the object no longer matches the entry. Only verifying asks for a listing; one at
 * hand (new files needed it) is checked anyway, at no cost.
 */
function drift(
  f: LocalFile,
  e: ManifestEntry,
  remote: Facts['remote'],
  verify: boolean | undefined,
): PushAction | Need | undefined {
  if (!remote) return verify ? { kind: 'listing' } : undefined;
  return remoteMatchesEntry(remote.get(f.rel), e) ? undefined : upload(f, 'remote-drift');
}

/**
 * Decides one file, cheapest evidence first: manifest stat match (no I/O), then the file's hash against
 * the manifest, then the remote listing, then hashes against ETags. Returns a Need when the evidence at
 * hand does not settle it.
 */
export function decidePushFile(
  f: LocalFile,
  e: ManifestEntry | undefined,
  racyThresholdNs: bigint,
  facts: Facts,
  opts: PushPlanInput['options'],
): PushAction | Need {
  if (opts.force) return upload(f, 'forced');
  const remote = facts.remote;
  const hash = facts.hashes.get(f.rel);

  if (e) {
    const unchanged = statMatches(f, e) && !isRacy(f, racyThresholdNs);
    if (!unchanged) {
      if (f.size !== e.size) return otherThanEntry(f, e, 'size-changed', facts, opts);
      if (!hash) return { kind: 'hash', rel: f.rel, size: f.size, partSizes: [] };
      if (hash.md5 !== e.md5) return otherThanEntry(f, e, 'content-changed', facts, opts);
    }
    // The same content: stored with other bytes (compressed or not) is an upload, other headers a copy.
    if ((opts.compressed?.(f.rel) ?? false) !== (e.stored !== undefined))
      return upload(f, 'encoding-changed');
    const d = drift(f, e, remote, opts.verify);
    if (d) return d;
    const style = opts.styleOf?.(f.rel);
    if (style !== e.style) return restyle(f, e, style);
    if (unchanged) return { kind: 'skip', rel: f.rel };
    return {
      kind: 'record',
      rel: f.rel,
      reason: recordReason(f, e, racyThresholdNs),
      md5: e.md5,
      etag: e.etag,
      partSize: e.partSize,
      style: e.style,
      stored: e.stored,
    };
  }

  // The Python script recorded size and MD5 but no mtime: one hash confirms its entry.
  const old = opts.adopted?.get(f.rel);
  if (old && old.size === f.size && !remote) {
    if (!hash) return { kind: 'hash', rel: f.rel, size: f.size, partSizes: [] };
    if (hash.md5 === old.md5) {
      return { kind: 'record', rel: f.rel, reason: 'adopted', md5: hash.md5, etag: '', partSize: 0 };
    }
  }

  // The manifest cannot vouch for this file: the listing decides.
  if (!remote) return opts.vouched ? upload(f, 'new') : { kind: 'listing' };
  const r = remote.get(f.rel);
  if (!r) return upload(f, 'new');
  return decideListed(f, r, facts, opts);
}

/**
 * A file whose content is not what its entry records: sent, as its object holds the entry's content.
 * Unless a listing at hand shows the object is no longer what the entry records either (another layout
 * of this destination wrote it since, or anyone did): the entry then says nothing of the object, and
 * the listing decides as on a rebuild, so an object proven to hold the file (another layout sent this
 * very content) is recorded rather than sent again, which would be a change the other layouts list
 * for. Not where a header rule applies, now or at the entry's upload: the object's headers are not in
 * the listing, and the upload sets them, as before.
 */
function otherThanEntry(
  f: LocalFile,
  e: ManifestEntry,
  reason: 'size-changed' | 'content-changed',
  facts: Facts,
  opts: PushPlanInput['options'],
): PushAction | Need {
  const r = facts.remote?.get(f.rel);
  const styled = e.style !== undefined || opts.styleOf?.(f.rel) !== undefined;
  if (r === undefined || styled || remoteMatchesEntry(r, e)) return upload(f, reason);
  const d = decideListed(f, r, facts, opts);
  return d.kind === 'upload' ? upload(f, reason) : d;
}

/** A file the listing decides, `r` its object: recorded where it provably holds the file, else sent. */
function decideListed(
  f: LocalFile,
  r: RemoteObject,
  facts: Facts,
  opts: PushPlanInput['options'],
): PushAction | Need {
  const hash = facts.hashes.get(f.rel);
  if (opts.compressed?.(f.rel)) return decideCompressed(f, r, facts, opts.styleOf?.(f.rel));
  if (r.size !== f.size) return upload(f, 'size-changed');
  const verdict = compareContent(f.size, r, hash, facts.heads.get(f.rel));
  if (verdict === 'same') {
    const etag = normalizeEtag(r.etag);
    const found = { md5: hash!.md5, etag, partSize: matchedPartSize(hash!.multipart, etag) };
    // The object's headers are unknown: a rule that applies is set by a copy, so a rebuild ends styled.
    const style = opts.styleOf?.(f.rel);
    if (style !== undefined)
      return { kind: 'restyle', rel: f.rel, reason: 'headers-changed', size: f.size, ...found, style };
    return { kind: 'record', rel: f.rel, reason: 'already-remote', ...found };
  }
  // Not provably the same: sent again, after which its ETag is one the manifest can vouch for.
  if (verdict === 'different' || verdict === 'unverifiable') return upload(f, 'content-changed');
  if (verdict.need === 'hash')
    return { kind: 'hash', rel: f.rel, size: f.size, partSizes: verdict.partSizes };
  return { kind: 'head', rel: f.rel };
}

/** A copy that sets the headers of the rule `style` on the object the entry describes. */
function restyle(f: LocalFile, e: ManifestEntry, style: string | undefined): PushAction {
  return {
    kind: 'restyle',
    rel: f.rel,
    reason: 'headers-changed',
    size: f.size,
    md5: e.md5,
    etag: e.etag,
    partSize: e.partSize,
    style,
    stored: e.stored,
  };
}

/**
 * A file stored compressed, with no manifest entry (a rebuild): the object's size and ETag are the
 * compressed bytes', which no local hash reproduces (another gzip build makes other bytes), so the
 * source MD5 s3sync stores in its metadata (a HEAD) is compared with the file's.
 */
function decideCompressed(
  f: LocalFile,
  r: RemoteObject,
  facts: Facts,
  style: string | undefined,
): PushAction | Need {
  const hash = facts.hashes.get(f.rel);
  if (!hash) return { kind: 'hash', rel: f.rel, size: f.size, partSizes: [] };
  const head = facts.heads.get(f.rel);
  if (!head) return { kind: 'head', rel: f.rel };
  if (head.sourceMd5 !== hash.md5) return upload(f, 'content-changed');
  const found = { md5: hash.md5, etag: normalizeEtag(r.etag), partSize: 0, stored: r.size };
  // The object's headers are unknown: a rule that applies is set by a copy, as for other files.
  if (style !== undefined)
    return { kind: 'restyle', rel: f.rel, reason: 'headers-changed', size: f.size, ...found, style };
  return { kind: 'record', rel: f.rel, reason: 'already-remote', ...found };
}

/** Plans a push. Pure: the caller gathers the `needs` and calls again until there are none. */
export function planPush(input: PushPlanInput): PushPlan {
  const { files, manifest, racyThresholdNs, facts, options } = input;
  const actions: PushAction[] = [];
  const needs: Need[] = [];
  let needListing = (options.verify || options.delete) && !facts.remote;
  for (const f of files) {
    const d = decidePushFile(f, manifest.get(f.rel), racyThresholdNs, facts, options);
    if (d.kind === 'listing') needListing = true;
    else if (d.kind === 'hash' || d.kind === 'head') needs.push(d);
    else actions.push(d);
  }
  if (needListing) return { actions: [], needs: [{ kind: 'listing' }] };
  if (options.trackRenames && !options.force) return withRenames(input, actions, needs);
  return withDeletes(input, actions, needs);
}

/** Uploads that a server-side copy can replace become copies (renames.ts). */
function withRenames(input: PushPlanInput, actions: PushAction[], needs: Need[]): PushPlan {
  const uploads = actions.filter((a) => a.kind === 'upload');
  if (uploads.length === 0) return withDeletes(input, actions, needs);
  const r = planRenames({
    uploads,
    present: new Set(input.files.map((f) => f.rel)),
    manifest: input.manifest,
    remote: input.facts.remote,
    hashes: input.facts.hashes,
    keyPrefix: input.options.keyPrefix ?? '',
    compressed: input.options.compressed,
  });
  const decided = actions.map((a) => r.copies.get(a.rel) ?? a);
  return withDeletes(input, decided, [...needs, ...r.needs]);
}

/**
 * With --delete and a listing: every selected object without its file. A folder marker is the local
 * folder's: deleted only when that folder is gone (no file under it, and not found by the walk), and
 * only holding no bytes. An object no file can
 * stand for (a marker with bytes, `a//b`, a name too long) is never "extra": kept, and said. Nor is one
 * of a file and folder pair (`x` beside `x/y`) that the manifest does not record: pull refuses both, and
 * a tree holds at most one, so which one a local file stood for only the manifest can tell. A pair is
 * judged on the listing without the keys this run deletes: once they are gone the other key stands
 * alone, and one run ends where a second would. Nor one whose
 * name pull refuses alone (a backslash, a control character) that the manifest does not record: a
 * folder filled by pull never has its file, so a push from it must not read that as a deletion. The
 * manifest records a key by its entry, or, its file gone since, in `vanished`.
 */
function withDeletes(input: PushPlanInput, actions: PushAction[], needs: Need[]): PushPlan {
  const { files, facts, options } = input;
  const kept: KeptObject[] = [];
  const remote = facts.remote;
  if (options.delete && remote) {
    const local = new Set(files.map((f) => f.rel));
    const recorded = (rel: string) => input.manifest.has(rel) || input.vanished?.has(rel) === true;
    let folders: Set<string> | undefined;
    let pairs: Map<string, string> | undefined;
    // In listing order, each object's verdict; a paired one waits for the run's other deletions.
    const verdicts: ({ kept: KeptObject } | { action: PushAction } | { paired: RemoteObject })[] = [];
    const deleting = new Set<string>();
    for (const r of remote.values()) {
      if (local.has(r.rel)) continue;
      if (options.remoteSelected && !options.remoteSelected(r.rel, r)) continue;
      const form = keyForm(r);
      if (form.kind === 'no-file') {
        verdicts.push({ kept: { rel: r.rel, key: r.key, size: r.size, reason: form.reason } });
        continue;
      }
      if (form.kind === 'file' && !recorded(r.rel)) {
        // Pull never writes such a key, so its file missing here says nothing of a deletion.
        const unsafe = unsafeKeyReason(r.rel);
        if (unsafe !== null) {
          const reason = `no local file stood for it: its name ${unsafe}, which pull does not write, and no push from here recorded it`;
          verdicts.push({ kept: { rel: r.rel, key: r.key, size: r.size, reason } });
          continue;
        }
        pairs ??= refusedKeys(remote.keys()).conflicts;
        if (pairs.has(r.rel)) {
          verdicts.push({ paired: r });
          continue;
        }
      }
      const d = deletion(input, r);
      if (form.kind === 'marker' && d.reason !== 'excluded') {
        folders ??= localFolders(local, input.folders);
        if (folders.has(r.rel)) continue;
        d.reason = 'no-local-folder';
      }
      verdicts.push({ action: d });
      deleting.add(r.rel);
    }
    // The pairs left once this run's deletions are done: a key whose other member goes stands alone.
    const left =
      deleting.size === 0 || pairs === undefined
        ? pairs
        : refusedKeys([...remote.keys()].filter((k) => !deleting.has(k))).conflicts;
    for (const v of verdicts) {
      if ('action' in v) actions.push(v.action);
      else if ('kept' in v) kept.push(v.kept);
      else {
        const r = v.paired;
        const pair = left?.get(r.rel);
        if (pair === undefined) actions.push(deletion(input, r));
        else {
          const reason = `no local file stood for it: it ${pair} (no local tree holds both)`;
          kept.push({ rel: r.rel, key: r.key, size: r.size, reason });
        }
      }
    }
  }
  return kept.length > 0 ? { actions, needs, kept } : { actions, needs };
}

/** The delete of an object without its file, excluded or not. */
function deletion(input: PushPlanInput, r: RemoteObject): Extract<PushAction, { kind: 'delete' }> {
  const reason: PushDeleteReason = input.options.excluded?.(r.rel, r) ? 'excluded' : 'no-local-file';
  return { kind: 'delete', rel: r.rel, key: r.key, reason, size: r.size };
}

export type { RemoteObject };

/**
 * Whether a push is due a listing of the destination (--verify-interval), and why: the manifest records
 * none (from before listings were recorded), an unreadable or future time (the clock went back: its
 * age is unknown), or one at least `intervalMs` old. Undefined: not due; never with an interval of
 * Infinity, nor for a manifest with no entries (nothing to check: new files ask for the listing).
 */
export function listingDue(
  listedAt: string | null,
  entries: number,
  intervalMs: number,
  nowMs: number,
): string | undefined {
  if (intervalMs === Number.POSITIVE_INFINITY || entries === 0) return undefined;
  if (listedAt === null) return 'the manifest records no complete listing of the destination';
  const t = Date.parse(listedAt);
  if (Number.isNaN(t)) return `the manifest's listing time '${listedAt}' is unreadable`;
  if (t > nowMs) return `the manifest's listing time ${listedAt} is in the future`;
  const age = nowMs - t;
  return age >= intervalMs
    ? `the last complete listing of the destination was ${formatAge(age)} ago`
    : undefined;
}

/**
 * What a push of one layout of a destination (the whole tree, or a shard I/N) knows of another's
 * changes there (uploads, copies, header copies, deletions), from its mark beside the manifests
 * (src/manifest/store.ts).
 */
export interface ChangeMark {
  /** The layout that changed objects: `I/N`; undefined: the whole tree. */
  by?: string;
  /** ISO 8601: when its changes had ended (or the mark's file's time, when `problem` is set). */
  at?: string;
  /** Written before changing and not yet after: changes may be going on (or a run died among them). */
  changing: boolean;
  /** Why the mark could not be read as written; it then counts from its file's time. */
  problem?: string;
}

/** Whether two layouts can hold one key: any two but two shards of one N. */
function overlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  const [ai, an] = a.split('/');
  const [bi, bn] = b.split('/');
  return an !== bn || ai === bi;
}

const layoutName = (by: string | undefined): string =>
  by === undefined ? 'an unsharded run' : `--shard ${by}`;

/**
 * Whether a push of layout `own` must list before trusting its manifest, and why: a run of another
 * layout whose keys overlap its own changed objects (overwrote, copied onto, deleted) after this
 * manifest's last complete listing (`listedAt`), or may be changing them now. Such a change leaves
 * this manifest vouching for content that is no longer there: a file back to what this layout stored
 * would only be recorded. This run's own changes never do (it records or forgets what it changes).
 * Undefined: not due; never for a manifest with no entries (nothing to vouch for). Due whatever
 * --verify-interval says: s3sync made this change, it is not drift behind its back.
 */
export function changedElsewhere(
  own: string | undefined,
  listedAt: string | null,
  entries: number,
  marks: readonly ChangeMark[],
): string | undefined {
  if (entries === 0) return undefined;
  const listed = listedAt === null ? Number.NaN : Date.parse(listedAt);
  for (const m of marks) {
    if (m.by === own || !overlap(m.by, own)) continue;
    const who = layoutName(m.by);
    const bad = m.problem === undefined ? '' : ` (its change mark ${m.problem})`;
    if (m.changing || m.at === undefined) return `${who} is changing objects here, or stopped doing so${bad}`;
    // At or after the listing's start: the listing may predate the changes.
    if (Number.isNaN(listed) || Date.parse(m.at) >= listed)
      return `${who} changed objects here at ${m.at}${bad}, after this manifest's last complete listing${listedAt === null ? '' : ` (${listedAt})`}`;
  }
  return undefined;
}

/** 45 s, 12 min, 25 h, 3 d: the unit that gives a number from 2 up. */
export function formatAge(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${Math.floor(s)} s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}
