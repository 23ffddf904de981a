/**
 * Names compared as a file system that ignores case compares them (exFAT, and APFS and NTFS as set up
 * by default): s3sync's own names are ASCII, and a key that spells one in another case opens that very
 * file there. ASCII letters in either case, and the only two other letters Unicode folds onto them:
 * `ſ` (long s) and `K` (Kelvin sign, which exFAT takes for `K`). Plain loops: these are asked of every
 * scanned file and listed key.
 */

function folded(c: number): number {
  if (c >= 65 && c <= 90) return c | 32;
  if (c < 128) return c;
  return c === 0x17f ? 115 : c === 0x212a ? 107 : c;
}

/** Whether `s` holds `name` at `at`, in any case (see above). */
export function hasNameAt(s: string, name: string, at: number): boolean {
  if (at < 0 || at + name.length > s.length) return false;
  for (let i = 0; i < name.length; i++)
    if (folded(s.charCodeAt(at + i)) !== folded(name.charCodeAt(i))) return false;
  return true;
}

/** Whether two names are one to a file system that ignores case (see above). */
export const sameName = (a: string, b: string): boolean => a.length === b.length && hasNameAt(a, b, 0);
