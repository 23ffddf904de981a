/**
 * What a listed key can be on the local side, one rule for push, pull and check: a folder marker (a
 * key ending in '/', or the prefix itself, as consoles make them), a key no file can be named, or a
 * file's. Pure, like the planners that use it.
 */
import { fileDirConflicts, SEGMENT_TOO_LONG, segmentTooLong, unsafeKeyReason } from '../local/safe-path.js';
import type { RemoteObject } from './types.js';

export type KeyForm =
  /** A file's name: synced, and deleted by --delete where the other side lacks it. */
  | { kind: 'file' }
  /** A zero-byte folder marker: a placeholder for the folder `rel` names ('' is the root), never a file. */
  | { kind: 'marker' }
  /**
   * Data no local file can hold (a marker with bytes, `a//b`, `a/./b`, a name too long for a file):
   * never written, never deleted as extra.
   */
  | { kind: 'no-file'; reason: string };

/** Whether `rel` names a folder, not a file: it ends in '/' or is the prefix itself. */
export const isFolderMarker = (rel: string): boolean => rel === '' || rel.endsWith('/');

/**
 * The form of a listed object. Only names no file can take are 'no-file' (a segment too long for any
 * file system is one; one too long for ext4 but not for exFAT is a file's, refused by the one only): a backslash or a control character is a file's name there, so such keys stay files (pull
 * refuses to write them, see safe-path.ts, but a push made them: --delete removes one the manifest
 * records, see withDeletes in push.ts).
 */
export function keyForm(r: Pick<RemoteObject, 'rel' | 'size'>): KeyForm {
  if (isFolderMarker(r.rel)) {
    if (r.size === 0) return { kind: 'marker' };
    return {
      kind: 'no-file',
      reason: `a key ending in '/' holds ${r.size} bytes; no file can have its name`,
    };
  }
  for (const seg of r.rel.split('/')) {
    if (seg === '')
      return { kind: 'no-file', reason: 'no file can have its name: it has an empty path segment' };
    if (seg === '.' || seg === '..')
      return { kind: 'no-file', reason: `no file can have its name: it has a '${seg}' segment` };
    if (segmentTooLong(seg))
      return { kind: 'no-file', reason: `no file can have its name: it ${SEGMENT_TOO_LONG}` };
  }
  return { kind: 'file' };
}

/**
 * The keys of a listing pull refuses to write: those unsafe alone (`unsafe`, see safe-path.ts), and
 * those a local tree cannot hold together (`conflicts`: `x` beside `x/y`, a file that is also a
 * folder), each with why. Only keys pull would write stand in one another's way: a folder marker or an
 * unsafe key beside `x` leaves the file `x` written.
 */
export function refusedKeys(rels: Iterable<string>): {
  unsafe: Map<string, string>;
  conflicts: Map<string, string>;
} {
  const unsafe = new Map<string, string>();
  const writable: string[] = [];
  for (const rel of rels) {
    if (isFolderMarker(rel)) continue;
    const reason = unsafeKeyReason(rel);
    if (reason === null) writable.push(rel);
    else unsafe.set(rel, reason);
  }
  return { unsafe, conflicts: fileDirConflicts(writable) };
}

/** An object a plan leaves alone because no local file can stand for it, with why (said once). */
export interface KeptObject {
  rel: string;
  key: string;
  size: number;
  reason: string;
}

/**
 * The folders that hold local files ('a/', 'a/b/' for 'a/b/c'), those the walk found (`found`, rels
 * without the '/': an empty folder, one whose files the filters leave out), and the root (''): a
 * zero-byte marker of one of them is the local side's folder, one of none a folder it no longer has.
 */
export function localFolders(rels: Iterable<string>, found: readonly string[] = []): Set<string> {
  const out = new Set<string>(['']);
  for (const dir of found) out.add(`${dir}/`);
  for (const rel of rels) {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) out.add(rel.slice(0, i + 1));
  }
  return out;
}

/**
 * The folders of a listing spelt in more than one case (`Docs/` of `Docs/x`, `docs/` of `docs/y`): by
 * the spelling folded to lower case, its spellings in code-unit order. A file system that ignores case
 * holds each such group as one folder, so only one spelling's keys can be written there.
 */
export function folderCaseClashes(rels: Iterable<string>): Map<string, string[]> {
  const spellings = new Map<string, Set<string>>();
  for (const rel of rels) {
    if (isFolderMarker(rel)) continue;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      const folder = rel.slice(0, i);
      const folded = folder.toLowerCase();
      const seen = spellings.get(folded);
      if (seen) seen.add(folder);
      else spellings.set(folded, new Set([folder]));
    }
  }
  const out = new Map<string, string[]>();
  for (const [folded, set] of spellings) if (set.size > 1) out.set(folded, [...set].sort());
  return out;
}

/**
 * The first folder of `rel` (from the top) spelt otherwise than the spelling `kept` gives its group
 * (folderCaseClashes), with that spelling; undefined if every folder of `rel` is its group's kept one.
 */
export function otherFolderSpelling(
  rel: string,
  clashes: ReadonlyMap<string, readonly string[]>,
  kept: (folded: string, spellings: readonly string[]) => string,
): { folder: string; kept: string } | undefined {
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
    const folder = rel.slice(0, i);
    const folded = folder.toLowerCase();
    const spellings = clashes.get(folded);
    if (spellings === undefined) continue;
    const k = kept(folded, spellings);
    if (k !== folder) return { folder, kept: k };
  }
  return undefined;
}
