import type { HashResult } from '../local/hash.js';
import type { LocalFile } from '../local/scan.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { candidatePartSizes, normalEtagForm, normalizeEtag } from '../s3/etag.js';
import type { Head, RemoteObject } from './types.js';

/** The local file's stat data is exactly what the manifest recorded. */
export const statMatches = (f: LocalFile, e: ManifestEntry) =>
  f.size === e.size && f.mtimeNs === e.mtimeNs && f.ctimeNs === e.ctimeNs && f.ino === e.ino;

/** FAT's 2 seconds: no filesystem stamps times more coarsely. */
const MAX_TICK_NS = 2_000_000_000n;

/**
 * The granularity of the filesystem that stamped a time, inferred from the value alone and erring
 * coarse: a whole even second may come from FAT (2 s), a whole second from ext3 or a network mount,
 * a whole millisecond from a 1 ms filesystem, and so on down to 1 ns. A finer filesystem's round value
 * (a file extracted by tar: whole seconds) only looks coarser, so more files are hashed, none missed.
 */
export function timestampTickNs(ns: bigint): bigint {
  if (ns % MAX_TICK_NS === 0n) return MAX_TICK_NS;
  let tick = 1n;
  while (tick < 1_000_000_000n && ns % (tick * 10n) === 0n) tick *= 10n;
  return tick;
}

/**
 * Can a write at or after `instantNs` leave a file's mtime at `mtimeNs`? Yes while the mtime's tick,
 * [mtime, mtime + tick), reaches past that instant: the write the mtime records may lie anywhere in
 * it, and a same-size rewrite later in the tick changes no stat field. Both on the filesystem's clock.
 */
export function tickReaches(mtimeNs: string, instantNs: bigint): boolean {
  const m = BigInt(mtimeNs);
  // Most files are older than any tick: one comparison settles them.
  if (m + MAX_TICK_NS <= instantNs) return false;
  return m + timestampTickNs(m) > instantNs;
}

/**
 * The instant from which the manifest's stat data may have missed writes: the earlier of its recorded
 * write time (this machine's clock) and its file's mtime (the filesystem's clock, as git uses the
 * index file's own mtime). A filesystem clock behind this one, or a coarse stamp rounded down, makes
 * it earlier: more files count as racy, never fewer.
 */
export const racyThreshold = (writtenAtNs: bigint, manifestMtimeNs: bigint) =>
  manifestMtimeNs < writtenAtNs ? manifestMtimeNs : writtenAtNs;

/**
 * "Racily clean" (git's index): a file whose mtime tick was still open at the racy threshold may have
 * been rewritten within that tick after its stat data was recorded, without any stat field changing.
 */
export const isRacy = (f: LocalFile, racyThresholdNs: bigint) => tickReaches(f.mtimeNs, racyThresholdNs);

/**
 * Why a file hashed to the content its entry records is recorded again: its stat data changed, or only
 * the rule above kept them from proving it unchanged (an entry kept unproven, or a tick still open at
 * the threshold: a file written during the last run, or dated ahead of the clock, hashed each run).
 */
export function recordReason(
  f: LocalFile,
  e: ManifestEntry,
  racyThresholdNs: bigint,
): 'stat-changed' | 'unproven' {
  const sameStat = f.size === e.size && f.mtimeNs === e.mtimeNs && f.ino === e.ino;
  if (!sameStat) return 'stat-changed';
  if (e.ctimeNs === UNPROVEN_CTIME) return 'unproven';
  return f.ctimeNs === e.ctimeNs && isRacy(f, racyThresholdNs) ? 'unproven' : 'stat-changed';
}

/**
 * The ctime of an entry whose stat data cannot prove its file unchanged: no file has it, so such an
 * entry never matches and the file is hashed (git smudges an entry's size to 0 for the same reason).
 */
export const UNPROVEN_CTIME = '0';

/**
 * The entry a run may keep for a file it read (hashed, uploaded, downloaded) at or after
 * `readsFromNs`, on the filesystem's clock. If the file's mtime tick was still open then, a rewrite
 * later in that tick, even after the manifest is written in a later tick, leaves the recorded stat
 * data as it is: the entry is kept, marked unproven, and the next run hashes the file once more.
 */
export function provenEntry(e: ManifestEntry, readsFromNs: bigint): ManifestEntry {
  return tickReaches(e.mtimeNs, readsFromNs) ? { ...e, ctimeNs: UNPROVEN_CTIME } : e;
}

/** The object still is what the manifest recorded (for --verify: remote drift). */
export const remoteMatchesEntry = (r: RemoteObject | undefined, e: ManifestEntry) =>
  r !== undefined && r.size === (e.stored ?? e.size) && etagMatches(normalizeEtag(r.etag), e);

/**
 * An entry adopted from the Python script recorded no ETag: a plain-MD5 ETag still shows a same-size
 * overwrite against its content MD5; a multipart or opaque one cannot, and is taken on its size.
 */
const etagMatches = (etag: string, e: ManifestEntry) =>
  e.etag !== '' ? etag === e.etag : normalEtagForm(etag).kind !== 'md5' || etag === e.md5;

/** The part size whose multipart ETag a hash matched, or 0 (a single-part match): no array per file. */
export function matchedPartSize(multipart: Readonly<Record<number, string>>, etag: string): number {
  for (const ps in multipart) if (multipart[ps] === etag) return Number(ps);
  return 0;
}

/**
 * 'unverifiable': same size, but neither the ETag (a multipart one of a part size not found, or not an
 * MD5 at all) nor metadata can say whether the object holds the content; only its bytes could.
 */
export type ContentVerdict =
  | 'same'
  | 'different'
  | 'unverifiable'
  | { need: 'hash'; partSizes: number[] }
  | { need: 'head' };

/**
 * Does the remote object hold the local content? Decided from the ETag (plain MD5 or multipart form,
 * recomputed locally for the plausible part sizes), else from x-amz-meta-md5 via a HEAD.
 */
export function compareContent(
  size: number,
  r: RemoteObject,
  hash: HashResult | undefined,
  head: Pick<Head, 'metaMd5' | 'firstPartSize'> | undefined,
  recordedPartSize?: number,
): ContentVerdict {
  if (r.size !== size) return 'different';
  const etag = normalizeEtag(r.etag);
  const form = normalEtagForm(etag);
  const partSizes = form.kind === 'multipart' ? candidatePartSizes(size, form.parts, recordedPartSize) : [];
  if (!hash || partSizes.some((ps) => hash.multipart[ps] === undefined)) return { need: 'hash', partSizes };
  if (form.kind === 'md5' && etag === hash.md5) return 'same';
  if (form.kind === 'multipart' && partSizes.some((ps) => hash.multipart[ps] === etag)) return 'same';
  // No guess was the uploader's part size (aws-cli's multipart_chunksize, 5 MiB + a few bytes): the
  // HEAD told part 1's size, which gives the ETag back when the parts are even.
  const told = head?.firstPartSize;
  if (form.kind === 'multipart' && told !== undefined && Math.ceil(size / told) === form.parts) {
    if (hash.multipart[told] === undefined) return { need: 'hash', partSizes: [...partSizes, told] };
    if (hash.multipart[told] === etag) return 'same';
  }
  // An ETag that is not (or does not match as) an MD5: SSE-KMS, R2's random multipart ETags, a part size
  // we did not guess. The MD5 s3sync stores in metadata settles it.
  const metaMd5 = r.metaMd5 ?? head?.metaMd5;
  if (metaMd5 !== undefined) return metaMd5 === hash.md5 ? 'same' : 'different';
  // Part 1's size, told and giving the part count, hashes to another ETag: other bytes.
  const toldOther = form.kind === 'multipart' && told !== undefined && Math.ceil(size / told) === form.parts;
  if (form.kind === 'md5' || toldOther) return 'different';
  if (head) return 'unverifiable';
  return { need: 'head' };
}

/**
 * Entries a complete listing contradicts: recorded before the listing began (`listedAt`, ISO 8601, as
 * `syncedAt`), and their object is missing or differs. They no longer describe a synced pair, so they are
 * forgotten, and the next push compares the file with the remote afresh. Entries written after the
 * listing began (this run's transfers) are newer than it and are kept.
 */
export function entriesContradicted(
  manifest: ReadonlyMap<string, ManifestEntry>,
  listing: ReadonlyMap<string, RemoteObject>,
  listedAt: string,
): string[] {
  const out: string[] = [];
  // forEach, not for…of: run once over every entry, mostly before V8 optimises it, where each step of
  // a Map iterator (a result object, an entry array) costs more than the check.
  manifest.forEach((e, rel) => {
    if (e.syncedAt < listedAt && !remoteMatchesEntry(listing.get(rel), e)) out.push(rel);
  });
  return out;
}
