import type { LocalFile, ScanResult } from '../local/scan.js';
import { emptyFacts, type Facts, type Need, type RemoteObject } from '../plan/types.js';
import { EarlyListing, type EarlyWork, settle } from './facts.js';
import type { ObjectStyles } from './object-style.js';
import type { RunContext } from './run-context.js';

/** What the prelude found before the first plan: the scanned files, and the listing if it was followed. */
export interface Found {
  files: LocalFile[];
  facts: Facts;
  /** The objects kept from the listing (`listing: { keep }`), also in `facts.remote`. */
  remote: Map<string, RemoteObject> | undefined;
  /** The paths (files, folders) the scan could not read, each reported as an error; see `within`. */
  unreadable: ReadonlySet<string>;
  /** How many errors the scan reported: two names that read the same are one path but two errors. */
  scanErrors: number;
  /** The local folders the walk found (see ScanResult.folders). */
  folders?: readonly string[];
}

/** A command's planning over what the prelude found (see `settle`). */
export interface Planning<P> {
  plan: () => P;
  /** The scanned files the plan is about. */
  files: () => Iterable<LocalFile>;
  /** Removes files that turned out unreadable. */
  drop: (unreadable: Set<string>) => void;
  early?: EarlyWork;
}

export interface PreludeSpec<P> {
  /**
   * When the destination is listed. 'asked': when the plan asks for it. 'ahead': started before the tree
   * is read, followed when the plan asks (push with no manifest: every file will need it). `{ keep }`:
   * started first and followed right after the scan, keeping the objects `keep` selects (pull, check:
   * their plans start from it). Either way the server answers while the tree is read. `{ fetch }`: the
   * objects come from elsewhere, after the scan (the HEADs of a --files-from list), and nothing is listed.
   */
  listing:
    | 'asked'
    | 'ahead'
    | { keep: (rel: string) => boolean }
    | { fetch: () => Promise<Map<string, RemoteObject>> };
  /** Reads the tree; `yielding`: a listing is under way, so the walk gives way to it. */
  scan: (yielding: boolean) => ScanResult | Promise<ScanResult>;
  /**
   * Reports the scan's notices (links and special files skipped) besides its errors; a set: only those
   * not in it, which are added (a watch says each once, not at every batch).
   */
  notices: boolean | Set<string>;
  /** Push: its header rules' and --compress globs that name a folder of the tree (see ObjectStyles). */
  fileGlobs?: Pick<ObjectStyles, 'namesMissingFolders'>;
  /** Sets up the command's planner once the tree is read. */
  planning: (found: Found) => Planning<P>;
}

/**
 * The start every comparing command shares: list (early, if the run will need it), read the tree,
 * report what could not be read, then plan and gather facts until every file is settled. `failed`: the
 * paths (files or folders) reported as unreadable, which are there all the same.
 */
export async function prelude<P extends { needs: Need[] }>(
  s: RunContext,
  spec: PreludeSpec<P>,
): Promise<{ plan: P; unreadable: Set<string>; failed: Set<string>; facts: Facts }> {
  const early = spec.listing === 'ahead' || (typeof spec.listing === 'object' && 'keep' in spec.listing);
  // Not a pull's: its full pages are mostly objects to download, not files to hash.
  const listing = early ? await EarlyListing.start(s, { warmHashing: spec.listing === 'ahead' }) : undefined;
  const scan = await spec.scan(listing !== undefined);
  listing?.scanned(scan.files);
  const facts = emptyFacts();
  let remote: Map<string, RemoteObject> | undefined;
  if (typeof spec.listing === 'object') {
    if ('keep' in spec.listing) {
      const { keep } = spec.listing;
      remote = new Map([...(await listing!.follow())].filter(([rel]) => keep(rel)));
    } else remote = await spec.listing.fetch();
    facts.remote = remote;
  }
  const said = spec.notices;
  // Said whatever `notices` is: a glob that names a folder matches its name as a file's, not the folder.
  // The tree's folders, then those the listing holds that the tree does not (a pull's new ones).
  const folders = scan.folders || remote ? allFolders(scan.folders ?? [], remote?.keys()) : undefined;
  const folderNotices = folders
    ? s.filter.namesMissingFolders(folders).map(({ glob, folder, from, wildcard }) => {
        // Typed in a shell: quoted so that the words as printed paste back (a name may hold a quote).
        const [given, meant] =
          from === '--exclude-from'
            ? [`'${glob}' in --exclude-from`, `'${glob}/'`]
            : [`${from} ${shellWord(glob)}`, shellWord(`${glob}/`)];
        const [verb, which] = from === '--include' ? ['take', 'in'] : ['leave', 'out'];
        const what = wildcard
          ? `${verb}s ${which} files it matches, not folders such as this one: write ${meant} to ${verb} those ${which}`
          : `${verb}s ${which} files of that name, not this folder: write ${meant} to ${verb} it ${which}`;
        return { rel: `${folder}/`, message: `${given} ${what}` };
      })
    : [];
  // They set headers on, or compress, the tree's files: its own folders only.
  const globNotices = (scan.folders && spec.fileGlobs?.namesMissingFolders(scan.folders)) || [];
  for (const { glob, folder, from, wildcard } of globNotices) {
    const [does, them] =
      from === '--compress' ? ['compresses', 'compress'] : ['sets headers on', 'set them on'];
    const what = wildcard
      ? `${does} files it matches, not folders such as this one: write ${shellWord(`${glob}/`)} to ${them} the files in them`
      : `${does} files of that name, not this folder: write ${shellWord(`${glob}/`)} to ${them} the files in it`;
    folderNotices.push({ rel: `${folder}/`, message: `${from} ${shellWord(glob)} ${what}` });
  }
  for (const n of [...folderNotices, ...(said ? scan.notices : [])]) {
    const line = `${n.rel}: ${n.message}`;
    if (said instanceof Set) {
      if (said.has(line)) continue;
      said.add(line);
    }
    s.notice(line, n.rel);
  }
  for (const e of scan.errors) s.fileError(e.rel, e.message);
  const failed = new Set(scan.errors.map((e) => e.rel));
  const p = spec.planning({
    files: scan.files,
    facts,
    remote,
    unreadable: failed,
    scanErrors: scan.errors.length,
    folders: scan.folders,
  });
  const work = spec.listing === 'ahead' ? { ...p.early, listing } : p.early;
  const settled = await settle(s, facts, p.files, p.plan, p.drop, work);
  for (const rel of failed) settled.failed.add(rel);
  return { ...settled, facts };
}

/** `local`, then each folder above a listed key, first seen first. */
function* allFolders(local: readonly string[], keys: Iterable<string> | undefined): Generator<string> {
  yield* local;
  if (!keys) return;
  const seen = new Set(local);
  for (const rel of keys) {
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) {
      const dir = rel.slice(0, i);
      if (seen.has(dir)) continue;
      seen.add(dir);
      yield dir;
    }
  }
}

/**
 * `text` as one POSIX shell word: single-quoted, each quote in it as `'"'"'` (closed, a double-quoted
 * quote, reopened) — no backslash, which the human output doubles to keep its escapes unambiguous.
 */
const shellWord = (text: string) => `'${text.replaceAll("'", `'"'"'`)}'`;

/** Whether `rel` or a folder above it is in `paths`. */
export function within(paths: ReadonlySet<string>, rel: string): boolean {
  if (paths.size === 0) return false;
  for (let i = rel.length; i > 0; i = rel.lastIndexOf('/', i - 1))
    if (paths.has(rel.slice(0, i))) return true;
  return false;
}
