/**
 * The S3 → S3 planner: pure, from the two listings and the HEADs it asked for, one action per key
 * with its reason. Cheapest evidence first: size, then the ETags when they are comparable, then the
 * MD5 an object's HEAD gives (x-amz-meta-md5), then, with no checksum to compare, the times.
 */
import { etagForm } from '../s3/etag.js';
import type { RemoteObject } from '../s3/remote-object.js';
import { archivedMessage, isArchived, restoreDone } from './archive.js';

export type S3CopyReason =
  | 'new'
  | 'size-changed'
  | 'content-changed'
  | 'source-newer'
  | 'past-version-unverified'
  | 'forced';
export type S3SkipReason = 'same-etag' | 'same-md5' | 'not-newer';

export type S3SyncAction =
  | { kind: 'skip'; rel: string; reason: S3SkipReason }
  /** `versionId`: the source version to read (a listing as at a past time, --at). */
  | {
      kind: 'copy';
      rel: string;
      key: string;
      size: number;
      etag: string;
      versionId?: string;
      reason: S3CopyReason;
    }
  /** In an archive tier and not restored: skipped, with its one line. */
  | { kind: 'archived'; rel: string; key: string; size: number; message: string }
  | { kind: 'delete'; rel: string; key: string; size: number; reason: 'no-source-object' };

export type Side = 'source' | 'destination';

/** A HEAD the plan needs: an object's stored MD5, or whether an archived source object is restored. */
export interface S3Need {
  kind: 'head';
  side: Side;
  rel: string;
}

/** What a HEAD told: x-amz-meta-md5 and x-amz-restore. */
export interface HeadFact {
  metaMd5?: string;
  restore?: string;
}

export interface S3SyncPlanInput {
  source: ReadonlyMap<string, RemoteObject>;
  destination: ReadonlyMap<string, RemoteObject>;
  heads: { source: ReadonlyMap<string, HeadFact>; destination: ReadonlyMap<string, HeadFact> };
  options: {
    /** Copy every object (--no-incremental). */
    force?: boolean;
    /** Delete destination objects the source does not have (--delete). */
    delete?: boolean;
    /** Whether a destination rel is within the filters (others are kept unless --delete-excluded). */
    destinationSelected?: (rel: string) => boolean;
  };
}

export interface S3SyncPlan {
  actions: S3SyncAction[];
  needs: S3Need[];
}

/** An object's MD5 as far as known: its ETag when that is one, else what its HEAD said. */
export function knownMd5(o: RemoteObject, head: HeadFact | undefined): string | undefined {
  if (etagForm(o.etag).kind === 'md5') return o.etag;
  return head?.metaMd5?.toLowerCase();
}

/**
 * Whether the destination already holds the source's content: a verdict with its reason, a HEAD to
 * ask for, or undefined for "copy it" (with the reason).
 */
export function compareObjects(
  s: RemoteObject,
  d: RemoteObject,
  heads: S3SyncPlanInput['heads'],
): { same: S3SkipReason } | { differ: S3CopyReason } | S3Need[] {
  if (s.size !== d.size) return { differ: 'size-changed' };
  // Equal ETags: one content (MD5s, or MD5s of the same parts); two single-part MD5s that differ: two.
  if (s.etag !== '' && s.etag === d.etag) return { same: 'same-etag' };
  const sForm = etagForm(s.etag).kind;
  const dForm = etagForm(d.etag).kind;
  if (sForm === 'md5' && dForm === 'md5') return { differ: 'content-changed' };
  // Multipart ETags with other part layouts, or opaque ones: the MD5 the object carries, by HEAD.
  const sh = heads.source.get(s.rel);
  const dh = heads.destination.get(d.rel);
  const needs: S3Need[] = [];
  if (sForm !== 'md5' && !sh) needs.push({ kind: 'head', side: 'source', rel: s.rel });
  if (dForm !== 'md5' && !dh) needs.push({ kind: 'head', side: 'destination', rel: d.rel });
  if (needs.length > 0) return needs;
  const sMd5 = knownMd5(s, sh);
  const dMd5 = knownMd5(d, dh);
  if (sMd5 && dMd5) return sMd5 === dMd5 ? { same: 'same-md5' } : { differ: 'content-changed' };
  // A past version (sync --at) is older than any object written since: time says nothing of it.
  if (s.versionId !== undefined && s.isLatest === false) return { differ: 'past-version-unverified' };
  // No checksum on both sides (a multipart object another tool wrote): aws s3 sync's rule, size and
  // time. A copy is newer than its source, so a copied object is not copied again.
  return d.lastModified >= s.lastModified ? { same: 'not-newer' } : { differ: 'source-newer' };
}

/** Decides one source object. */
export function decideS3Object(
  s: RemoteObject,
  d: RemoteObject | undefined,
  input: S3SyncPlanInput,
): S3SyncAction | S3Need[] {
  const copy = (reason: S3CopyReason): S3SyncAction | S3Need[] => {
    const action: S3SyncAction = {
      kind: 'copy',
      rel: s.rel,
      key: s.key,
      size: s.size,
      etag: s.etag,
      ...(s.versionId !== undefined && { versionId: s.versionId }),
      reason,
    };
    if (!isArchived(s)) return action;
    // Archived: readable only once restored, which only its HEAD tells.
    const h = input.heads.source.get(s.rel);
    if (h === undefined) return [{ kind: 'head', side: 'source', rel: s.rel }];
    if (restoreDone(h.restore)) return action;
    return { kind: 'archived', rel: s.rel, key: s.key, size: s.size, message: archivedMessage(s) };
  };
  if (!d) return copy('new');
  if (input.options.force) return copy('forced');
  const v = compareObjects(s, d, input.heads);
  if (Array.isArray(v)) return v;
  if ('same' in v) return { kind: 'skip', rel: s.rel, reason: v.same };
  return copy(v.differ);
}

/** Plans an S3 → S3 sync: every source object decided, then the deletions (--delete). */
export function planS3Sync(input: S3SyncPlanInput): S3SyncPlan {
  const actions: S3SyncAction[] = [];
  const needs: S3Need[] = [];
  for (const s of input.source.values()) {
    const a = decideS3Object(s, input.destination.get(s.rel), input);
    if (Array.isArray(a)) needs.push(...a);
    else actions.push(a);
  }
  if (input.options.delete) {
    const selected = input.options.destinationSelected ?? (() => true);
    for (const d of input.destination.values()) {
      if (input.source.has(d.rel) || !selected(d.rel)) continue;
      actions.push({ kind: 'delete', rel: d.rel, key: d.key, size: d.size, reason: 'no-source-object' });
    }
  }
  return { actions, needs };
}
