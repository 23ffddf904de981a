/**
 * What a run is limited to beyond the path filters: the paths of --files-from / --files-from0, and the
 * size and age filters. Composition, for every command: a path is selected when it passes the path
 * filters (.s3syncignore, --include/--exclude, the shard) AND is listed (when a list is given) AND its
 * file fits the size and age limits. A listed path that the filters exclude is not synced.
 */
import { usageError } from '../errors.js';
import { readFilesFrom } from '../local/files-from.js';
import type { LocalFile } from '../local/scan.js';
import { mtimeMsOf, type SizeAgeFilter, sizeAgeFilter } from '../local/size-age.js';
import { setting } from '../options/validate.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { CommonOptions } from './options.js';

export interface Selection {
  /** The listed paths (--files-from), or undefined: every path. */
  readonly listed: ReadonlySet<string> | undefined;
  readonly sizeAge: SizeAgeFilter;
}

/** Reads the list, if any, and resolves the age limits against the run's start. */
export async function loadSelection(opts: CommonOptions, startedMs: number): Promise<Selection> {
  if (opts.filesFrom !== undefined && opts.filesFrom0 !== undefined)
    throw usageError('give --files-from or --files-from0, not both');
  const file = opts.filesFrom ?? opts.filesFrom0;
  const listed =
    file === undefined
      ? undefined
      : new Set(await readFilesFrom({ file, nul: opts.filesFrom0 !== undefined }));
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
