import type { LocalFile } from '../local/scan.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { normalEtagForm, normalizeEtag } from '../s3/etag.js';
import { compareContent, isRacy, statMatches } from './compare.js';
import { isFolderMarker, type KeptObject, keyForm } from './keys.js';
import type { Facts, Need, RemoteObject } from './types.js';

/** 'unverified': same size, content that neither the ETag nor metadata can compare (see compareContent). */
export type CheckStatus = 'same' | 'only-local' | 'only-remote' | 'differ' | 'unverified';

export interface CheckDifference {
  rel: string;
  status: Exclude<CheckStatus, 'same'>;
  detail: string;
}

export interface CheckPlan {
  same: number;
  differences: CheckDifference[];
  needs: Need[];
  /** Folder markers holding bytes: compared with no file, said once each (as pull says them). */
  kept?: KeptObject[];
}

/** A compressed object holds the file when the source MD5 s3sync stored with it is the file's MD5. */
function compareSource(f: LocalFile, facts: Facts): 'same' | 'different' | Need {
  const hash = facts.hashes.get(f.rel);
  if (!hash) return { kind: 'hash', rel: f.rel, size: f.size, partSizes: [] };
  const head = facts.heads.get(f.rel);
  if (!head) return { kind: 'head', rel: f.rel };
  return head.sourceMd5 === hash.md5 ? 'same' : 'different';
}

/** Why an object's content cannot be compared, and what settles it: its bytes, since --full hashes only the file. */
function unverifiedDetail(r: RemoteObject): string {
  const form = normalEtagForm(normalizeEtag(r.etag));
  const why =
    form.kind === 'multipart' ? 'a multipart ETag of a part size not found' : 'an ETag that is not an MD5';
  return `same size, content not verifiable: ${why}, and no MD5 in its metadata; reading the object settles it (pull it into an empty folder and compare), or push it again`;
}

/**
 * Compares a local tree with a remote listing like `rclone check`: by size, then by content. The
 * manifest stands in for a hash only where the stat data proves the file unchanged and the object
 * still has the ETag recorded with it; `full` re-hashes everything.
 */
export function planCheck(input: {
  local: Map<string, LocalFile>;
  remote: Map<string, RemoteObject>;
  manifest: ReadonlyMap<string, ManifestEntry>;
  racyThresholdNs: bigint;
  facts: Facts;
  full?: boolean;
}): CheckPlan {
  const { local, remote, manifest, facts } = input;
  const differences: CheckDifference[] = [];
  const needs: Need[] = [];
  let same = 0;
  for (const f of local.values()) {
    const r = remote.get(f.rel);
    if (!r) {
      differences.push({ rel: f.rel, status: 'only-local', detail: `${f.size} bytes` });
      continue;
    }
    const e = manifest.get(f.rel);
    if (
      !input.full &&
      e &&
      statMatches(f, e) &&
      !isRacy(f, input.racyThresholdNs) &&
      e.etag !== '' &&
      e.etag === r.etag &&
      r.size === (e.stored ?? e.size)
    ) {
      same++;
      continue;
    }
    // Stored compressed (--compress): the object's source MD5 (a HEAD) against the file's. The entry
    // says so; with none, a HEAD tells whether the object holds a source MD5, as a push without a
    // manifest asks; else the sizes decide.
    const head = facts.heads.get(f.rel);
    if (r.size !== f.size && (e ? e.stored !== undefined : head?.sourceMd5 !== undefined || !head)) {
      const v = !e && !head ? ({ kind: 'head', rel: f.rel } as const) : compareSource(f, facts);
      if (v === 'same') same++;
      else if (v === 'different')
        differences.push({
          rel: f.rel,
          status: 'differ',
          detail: "content differs from the compressed object's source",
        });
      else needs.push(v);
      continue;
    }
    if (r.size !== f.size) {
      differences.push({
        rel: f.rel,
        status: 'differ',
        detail: `size ${f.size} locally, ${r.size} remotely`,
      });
      continue;
    }
    const v = compareContent(f.size, r, facts.hashes.get(f.rel), facts.heads.get(f.rel), e?.partSize);
    if (v === 'same') same++;
    else if (v === 'different')
      differences.push({ rel: f.rel, status: 'differ', detail: 'same size, different content' });
    else if (v === 'unverifiable')
      differences.push({ rel: f.rel, status: 'unverified', detail: unverifiedDetail(r) });
    else if (v.need === 'hash')
      needs.push({ kind: 'hash', rel: f.rel, size: f.size, partSizes: v.partSizes });
    else needs.push({ kind: 'head', rel: f.rel });
  }
  const kept: KeptObject[] = [];
  for (const r of remote.values()) {
    // A folder marker is no file: not "only remote"; one holding bytes is said, as pull says it.
    if (isFolderMarker(r.rel)) {
      const form = keyForm(r);
      if (form.kind === 'no-file') kept.push({ rel: r.rel, key: r.key, size: r.size, reason: form.reason });
      continue;
    }
    if (!local.has(r.rel)) {
      differences.push({ rel: r.rel, status: 'only-remote', detail: `${r.size} bytes` });
    }
  }
  differences.sort((a, b) =>
    a.status === b.status ? (a.rel < b.rel ? -1 : 1) : a.status < b.status ? -1 : 1,
  );
  return kept.length > 0 ? { same, differences, needs, kept } : { same, differences, needs };
}
