import path from 'node:path';
import { runError } from '../errors.js';

/**
 * Checks used by `pull` before it writes an S3 key (with the prefix stripped) under the target
 * directory. Keys are attacker-controlled as far as the local filesystem is concerned: anyone who
 * can write to the bucket must not be able to write outside the target directory.
 */

/** Reason for keys ending in '/' ("folder" placeholders made by consoles): callers skip them silently. */
export const DIRECTORY_MARKER = 'directory marker';

const MAX_SEGMENT_BYTES = 255;

/** Returns null if safe, else a short reason like "contains a '..' segment". */
export function unsafeKeyReason(rel: string): string | null {
  if (rel === '') return 'empty path';
  if (/[\x00-\x1f]/.test(rel)) return 'contains a control character';
  if (rel.includes('\\')) return 'contains a backslash';
  if (rel.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(rel)) return 'starts with a Windows drive prefix';
  if (rel.endsWith('/')) return DIRECTORY_MARKER;
  for (const seg of rel.split('/')) {
    if (seg === '') return 'contains an empty path segment';
    if (seg === '..') return "contains a '..' segment";
    if (seg === '.') return "contains a '.' segment";
    if (seg.length > MAX_SEGMENT_BYTES / 3 && Buffer.byteLength(seg, 'utf8') > MAX_SEGMENT_BYTES) {
      return `has a path segment longer than ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return null;
}

/**
 * Given all relative keys to be written, returns the keys that conflict because one is a file and
 * also a "directory" of another (`a` and `a/b`): both are reported, each with a reason. Runs in
 * O(total length of the keys).
 */
export function fileDirConflicts(rels: Iterable<string>): Map<string, string> {
  const all = new Set(rels);
  const out = new Map<string, string>();
  for (const rel of all) {
    // Walk the ancestors of rel: 'a/b/c' -> 'a', 'a/b'.
    let i = rel.indexOf('/');
    while (i !== -1) {
      const dir = rel.slice(0, i);
      if (all.has(dir)) {
        if (!out.has(dir)) out.set(dir, `is a file but also the directory of '${rel}'`);
        if (!out.has(rel)) out.set(rel, `is below '${dir}', which is also a file`);
      }
      i = rel.indexOf('/', i + 1);
    }
  }
  return out;
}

/**
 * Joins root and rel ('/'-separated) safely; throws if rel is unsafe (see unsafeKeyReason) or if the
 * resolved path is not strictly inside root (defence in depth).
 */
export function safeJoin(root: string, rel: string): string {
  const reason = unsafeKeyReason(rel);
  // rel as it is: the CLI escapes what it prints, and --json and library callers get it exact.
  if (reason !== null) throw runError(`refusing to write '${rel}' under ${root}: ${reason}`);
  const base = path.resolve(root);
  const full = path.resolve(base, ...rel.split('/'));
  const back = path.relative(base, full);
  if (back === '' || back === '..' || back.startsWith(`..${path.sep}`) || path.isAbsolute(back)) {
    throw runError(`refusing to write '${rel}': it resolves outside ${root}`);
  }
  return full;
}
