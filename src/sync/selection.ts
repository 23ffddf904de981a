/**
 * What a run is limited to beyond the path filters: the paths of --files-from / --files-from0, and the
 * size and age filters. Composition, for every command: a path is selected when it passes the path
 * filters (.s3syncignore, --include/--exclude, the shard) AND is listed (when a list is given) AND its
 * file fits the size and age limits. A listed path that the filters exclude is not synced.
 */
import { forEachLimit } from '../limiter.js';
import { readFilesFrom } from '../local/files-from.js';
import type { LocalFile } from '../local/scan.js';
import { mtimeMsOf, type SizeAgeFilter, sizeAgeFilter } from '../local/size-age.js';
import { setting } from '../options/validate.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { CommonOptions } from './options.js';
import type { RunContext } from './run-context.js';

export interface Selection {
  /** The listed paths (--files-from), or undefined: every path. */
  readonly listed: ReadonlySet<string> | undefined;
  readonly sizeAge: SizeAgeFilter;
}

/** Reads the list, if any, and resolves the age limits against the run's start. */
export async function loadSelection(opts: CommonOptions, startedMs: number): Promise<Selection> {
  // validateOptions refused both lists together, and standard input twice.
  const nul = opts.filesFrom0 !== undefined;
  const files = [opts.filesFrom ?? opts.filesFrom0 ?? []].flat();
  let listed: Set<string> | undefined;
  // rclone's rule: several lists add up.
  // A pipe (`<(cmd)`) can be read once: a list named twice adds nothing the second time.
  for (const file of new Set(files)) {
    listed ??= new Set();
    for (const rel of await readFilesFrom({ file, nul }, process.stdin, opts.signal)) listed.add(rel);
  }
  const sizeAge = sizeAgeFilter(
    {
      minSize: setting(opts, 'minSize'),
      maxSize: setting(opts, 'maxSize'),
      minAge: setting(opts, 'minAge'),
      maxAge: setting(opts, 'maxAge'),
    },
    startedMs,
  );
  return { listed, sizeAge };
}

/** Selects every path. */
export const EVERYTHING: Selection = Object.freeze({
  listed: undefined,
  sizeAge: Object.freeze({ active: false, fits: () => true }),
});

/** A local file's size and mtime fit the limits. */
export const localFits = (sel: Selection, f: LocalFile): boolean =>
  !sel.sizeAge.active || sel.sizeAge.fits(f.size, mtimeMsOf(f.mtimeNs));

/** An object's size and LastModified fit the limits. */
export const remoteFits = (sel: Selection, r: RemoteObject): boolean =>
  !sel.sizeAge.active || sel.sizeAge.fits(r.size, r.lastModified);

/** The scanned files that fit the limits (the scan itself applied the path filters). */
export function fitting(sel: Selection, files: LocalFile[]): LocalFile[] {
  return sel.sizeAge.active ? files.filter((f) => localFits(sel, f)) : files;
}

/** Keys in one page of a listing (ListObjectsV2's most). */
const PAGE = 1000;
/**
 * HEADs worth one page of listing: S3 bills a LIST as about twelve GETs or HEADs, and HEADs go out side
 * by side while pages come one after another.
 */
const HEADS_PER_PAGE = 10;

/**
 * Whether a run over `listed` paths looks its objects up one by one (HEAD) rather than listing the
 * destination: when they cost less than the pages the listing would take, estimated from the objects
 * the manifest knows there (at least one page).
 */
export function headsInstead(listed: number, manifestEntries: number): boolean {
  return listed <= HEADS_PER_PAGE * Math.max(1, Math.ceil(manifestEntries / PAGE));
}

/**
 * The objects at the listed paths this run selects (`unfiltered`: whatever the filters say, for
 * --delete-excluded), by HEAD: a path with no object is absent.
 */
export async function headListed(
  s: RunContext,
  listed: ReadonlySet<string>,
  unfiltered = false,
): Promise<Map<string, RemoteObject>> {
  const t = await s.s3();
  const found = new Map<string, RemoteObject>();
  const rels = [...listed].filter(unfiltered ? (rel) => !s.isOwn(rel) && s.inShard(rel) : s.selected);
  await forEachLimit(
    rels,
    setting(s.opts, 'workers'),
    async (rel) => {
      const key = s.location.prefix + rel;
      const h = await t.head(key);
      if (h)
        found.set(rel, {
          rel,
          key,
          size: h.size,
          etag: h.etag,
          lastModified: h.lastModified,
          metaMd5: h.metadata.md5,
        });
    },
    s.opts.signal,
  );
  return found;
}
