import type { ManifestEntry } from '../manifest/schema.js';
import { etagForm, normalizeEtag } from '../s3/etag.js';
import { remoteMatchesEntry } from './compare.js';
import type { Need, RemoteObject, UploadReason } from './types.js';

/**
 * Rename detection (rclone's --track-renames, from s3sync's manifest): a file about to be uploaded
 * whose size and MD5 equal an object's already in the bucket under another key is created with a
 * server-side copy of that object instead. Pure: the caller gathers the hashes asked for.
 */

/** An object a new key may be copied from, with what is known of its content. */
export interface CopySource {
  rel: string;
  key: string;
  size: number;
  md5: string;
  /** Its ETag as recorded or listed (no quotes): a copy that does not reproduce it is not trusted. */
  etag: string;
  /** Part size behind a multipart ETag, when the manifest recorded it; else 0. */
  partSize: number;
  /** Its local file is gone in this run: the move the rule is about, preferred among equal sources. */
  vanished: boolean;
}

export type CopyAction = {
  kind: 'copy';
  rel: string;
  /** Why the file needs creating at all, as its upload would have said. */
  reason: UploadReason;
  size: number;
  md5: string;
  from: CopySource;
};

type Upload = { kind: 'upload'; rel: string; reason: UploadReason; size: number };

export interface RenameInput {
  /** The upload actions the plan decided. */
  uploads: Upload[];
  /** Every file of this run (selected and scanned), by rel. */
  present: ReadonlySet<string>;
  manifest: ReadonlyMap<string, ManifestEntry>;
  /** The destination's listing, when one was made. */
  remote?: ReadonlyMap<string, RemoteObject>;
  /** Hashes gathered so far (only whether the file held still while read, and its MD5, are used). */
  hashes: ReadonlyMap<string, { md5: string; stable: boolean }>;
  /** The destination's key prefix: a manifest entry's key is the prefix and its rel. */
  keyPrefix: string;
  /** Whether a path is to be stored compressed (--compress); absent: nothing is. */
  compressed?: (rel: string) => boolean;
}

/** The MD5 an object's listing vouches for: a plain ETag, or the x-amz-meta-md5 s3sync writes. */
function listedMd5(r: RemoteObject): string | undefined {
  const etag = normalizeEtag(r.etag);
  if (etagForm(etag).kind === 'md5') return etag;
  return r.metaMd5;
}

/**
 * The objects a new key may be copied from, by size. Manifest entries whose file is gone (their
 * object, unless a listing shows it missing or changed), then every listed object of known MD5. Keys
 * this run uploads to are left out: they change under the copy.
 */
export function copySources(input: Omit<RenameInput, 'hashes'>): Map<number, CopySource[]> {
  const { uploads, present, manifest, remote, keyPrefix } = input;
  const changing = new Set(uploads.map((u) => u.rel));
  const bySize = new Map<number, CopySource[]>();
  const seen = new Set<string>();
  const add = (c: CopySource) => {
    // An empty file is one request either way: nothing to gain from a copy.
    if (c.size === 0 || changing.has(c.rel) || seen.has(c.rel)) return;
    seen.add(c.rel);
    const list = bySize.get(c.size);
    if (list) list.push(c);
    else bySize.set(c.size, [c]);
  };
  // forEach, not for…of: run once over every entry, mostly before V8 optimises it, where each step of
  // a Map iterator (a result object, an entry array) costs more than the check.
  manifest.forEach((e, rel) => {
    // Stored compressed: its object holds other bytes than the file its entry describes.
    if (present.has(rel) || e.stored !== undefined) return;
    if (remote && !remoteMatchesEntry(remote.get(rel), e)) return;
    add({
      rel,
      key: keyPrefix + rel,
      size: e.size,
      md5: e.md5,
      etag: e.etag,
      partSize: e.partSize,
      vanished: true,
    });
  });
  if (remote) {
    for (const r of remote.values()) {
      const md5 = listedMd5(r);
      if (md5 === undefined) continue;
      const etag = normalizeEtag(r.etag);
      add({ rel: r.rel, key: r.key, size: r.size, md5, etag, partSize: 0, vanished: !present.has(r.rel) });
    }
  }
  return bySize;
}

const baseName = (rel: string) => rel.slice(rel.lastIndexOf('/') + 1);

/**
 * The best of several sources with the content: a vanished file's (the rename itself), then one of
 * the same name (a moved file), then the first key in code-point order, so that a plan is repeatable.
 */
export function bestSource(rel: string, candidates: CopySource[]): CopySource | undefined {
  const rank = (c: CopySource) => (c.vanished ? 0 : 2) + (baseName(c.rel) === baseName(rel) ? 0 : 1);
  let best: CopySource | undefined;
  for (const c of candidates) {
    if (!best || rank(c) < rank(best) || (rank(c) === rank(best) && c.key < best.key)) best = c;
  }
  return best;
}

/**
 * Turns uploads into copies where an object with the file's size and MD5 exists under another key.
 * Only files whose size some source has are hashed (asked for as needs); a file whose hash was taken
 * while it changed is uploaded. A source may serve several files: a copy leaves it in place.
 */
export function planRenames(input: RenameInput): { copies: Map<string, CopyAction>; needs: Need[] } {
  const copies = new Map<string, CopyAction>();
  const needs: Need[] = [];
  if (input.uploads.length === 0) return { copies, needs };
  const bySize = copySources(input);
  if (bySize.size === 0) return { copies, needs };
  for (const u of input.uploads) {
    // To be stored compressed: a copy would store the bytes as they are.
    if (input.compressed?.(u.rel)) continue;
    const sameSize = bySize.get(u.size)?.filter((c) => c.rel !== u.rel);
    if (!sameSize || sameSize.length === 0) continue;
    const h = input.hashes.get(u.rel);
    if (!h) {
      needs.push({ kind: 'hash', rel: u.rel, size: u.size, partSizes: [] });
      continue;
    }
    if (!h.stable) continue;
    const from = bestSource(
      u.rel,
      sameSize.filter((c) => c.md5 === h.md5),
    );
    if (from)
      copies.set(u.rel, { kind: 'copy', rel: u.rel, reason: u.reason, size: u.size, md5: h.md5, from });
  }
  return { copies, needs };
}
