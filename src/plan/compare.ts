import type { HashResult } from '../local/hash.js';
import type { LocalFile } from '../local/scan.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { candidatePartSizes, etagForm, normalizeEtag } from '../s3/etag.js';
import type { RemoteObject } from './types.js';

/** The local file's stat data is exactly what the manifest recorded. */
export const statMatches = (f: LocalFile, e: ManifestEntry) =>
  f.size === e.size && f.mtimeNs === e.mtimeNs && f.ctimeNs === e.ctimeNs && f.ino === e.ino;

/**
 * "Racily clean" (git's index): a file whose mtime is not strictly older than the manifest's last write
 * may have been modified again in the same timestamp tick without any stat field changing.
 */
export const isRacy = (f: LocalFile, racyThresholdNs: bigint) => BigInt(f.mtimeNs) >= racyThresholdNs;

/** The object still is what the manifest recorded (for --verify: remote drift). */
export const remoteMatchesEntry = (r: RemoteObject | undefined, e: ManifestEntry) =>
  r !== undefined && r.size === e.size && (e.etag === '' || normalizeEtag(r.etag) === e.etag);

export type ContentVerdict = 'same' | 'different' | { need: 'hash'; partSizes: number[] } | { need: 'head' };

/**
 * Does the remote object hold the local content? Decided from the ETag (plain MD5 or multipart form,
 * recomputed locally for the plausible part sizes), else from x-amz-meta-md5 via a HEAD.
 */
export function compareContent(
  size: number,
  r: RemoteObject,
  hash: HashResult | undefined,
  head: { metaMd5?: string } | undefined,
  recordedPartSize?: number,
): ContentVerdict {
  if (r.size !== size) return 'different';
  const etag = normalizeEtag(r.etag);
  const form = etagForm(etag);
  const partSizes = form.kind === 'multipart' ? candidatePartSizes(size, form.parts, recordedPartSize) : [];
  if (!hash || partSizes.some((ps) => hash.multipart[ps] === undefined)) return { need: 'hash', partSizes };
  if (form.kind === 'md5' && etag === hash.md5) return 'same';
  if (form.kind === 'multipart' && partSizes.some((ps) => hash.multipart[ps] === etag)) return 'same';
  // An ETag that is not (or does not match as) an MD5: SSE-KMS, R2's random multipart ETags, a part size
  // we did not guess. The MD5 s3sync stores in metadata settles it.
  const metaMd5 = r.metaMd5 ?? head?.metaMd5;
  if (metaMd5 !== undefined) return metaMd5 === hash.md5 ? 'same' : 'different';
  if (form.kind === 'md5') return 'different';
  if (head) return 'different';
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
  for (const [rel, e] of manifest) {
    if (e.syncedAt < listedAt && !remoteMatchesEntry(listing.get(rel), e)) out.push(rel);
  }
  return out;
}
