import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Whether the file system of folder `dir` ignores case, told by looking up one of its names in
 * another case (no write): false when it cannot be told (no name with a letter, an unreadable folder).
 * A real run has `.s3sync` in its target already.
 */
export function ignoresCase(dir: string): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  for (const name of names) {
    const other = swapCase(name);
    if (other === name || names.includes(other)) continue;
    try {
      return lstatSync(path.join(dir, other), { throwIfNoEntry: false }) !== undefined;
    } catch {
      return false;
    }
  }
  return false;
}

const swapCase = (s: string) =>
  [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('');

/**
 * For a file system that ignores case: the spelling of a folder group (folderCaseClashes) a pull keeps,
 * the one `root` holds already if it is one of them, else the first. Asked once per group.
 */
export function keptSpelling(root: string): (folded: string, spellings: readonly string[]) => string {
  const known = new Map<string, string>();
  return (folded, spellings) => {
    const have = known.get(folded);
    if (have !== undefined) return have;
    const first = spellings[0]!;
    const slash = first.lastIndexOf('/');
    // Any spelling of the parent reaches the same folder here.
    const parent = first.slice(0, slash + 1);
    let onDisk: string | undefined;
    try {
      const leaf = folded.slice(slash + 1);
      const entry = readdirSync(path.join(root, parent)).find((n) => n.toLowerCase() === leaf);
      onDisk = entry === undefined ? undefined : `${parent}${entry}`;
    } catch {
      onDisk = undefined;
    }
    const kept = onDisk !== undefined && spellings.includes(onDisk) ? onDisk : first;
    known.set(folded, kept);
    return kept;
  };
}
