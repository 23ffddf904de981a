import { lstatSync } from 'node:fs';
import { absPath, holdsAFile, type LocalFile, scanDirectory } from '../local/scan.js';
import { isStateDir } from '../manifest/store.js';
import { setting } from '../options/validate.js';
import { type PushAction, planPush } from '../plan/push.js';
import { applyRecords } from '../sync/facts.js';
import { createObjectStyles } from '../sync/object-style.js';
import type { PushOptions } from '../sync/options.js';
import { prelude, within } from '../sync/prelude.js';
import { executePush, maxObjectSizeOf, type PreparedPush } from '../sync/push.js';
import type { RunContext } from '../sync/run-context.js';
import { fitting } from '../sync/selection.js';
import { type PathScope, parentDir } from './scope.js';

/**
 * Whether nothing is at a path: ENOENT, or ENOTDIR (a file now where a folder on its way was). Any
 * other failure (EACCES: a folder on the way unreadable) says nothing of it, so it is not gone; the
 * scan reports that folder.
 */
function isGone(abs: string): boolean {
  try {
    return lstatSync(abs, { throwIfNoEntry: false }) === undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTDIR';
  }
}

/**
 * Plans a watch batch: the push planner over the files under the scope only, the manifest vouching
 * for the destination (no listing: the watch's full sync made the manifest current), with the push's
 * header, compression and rename rules, and, with --delete, deletes for the scope's manifest entries
 * whose file is gone. Files `hold` says are still being written are handed back, not sent; entries
 * of paths still `waiting` to settle (gone for now, maybe back) are neither deleted nor forgotten.
 */
async function prepareBatch(
  s: RunContext,
  opts: PushOptions,
  scope: PathScope,
  { hold, waiting, noticed }: BatchHooks,
): Promise<PreparedPush> {
  let files: LocalFile[] = [];
  // Every file found, those the size and age limits leave out too: present, so never taken for gone.
  let found: LocalFile[] = [];
  // As a full push plans: without them an entry stored compressed or styled looks changed when touched.
  const styles = createObjectStyles(opts);
  const { plan, unreadable, facts } = await prelude(s, {
    listing: 'asked',
    scan: () =>
      scanDirectory(s.localRoot, {
        followSymlinks: opts.followSymlinks,
        skipDir: (rel) => isStateDir(rel) || s.filter.excludesDir(rel) || !scope.entersDir(rel),
        includeFile: (rel) => scope.covers(rel) && s.selected(rel),
        own: s.isOwn,
        keyPrefix: s.location.prefix,
        maxObjectSize: maxObjectSizeOf(s.endpoint.provider),
      }),
    notices: noticed,
    planning: (scan) => {
      found = scan.files;
      // As a push sends them: only the files within --max-size, --min-size and the age limits.
      files = fitting(s.selection, found);
      // As a push counts them: a path the scan could not read is one of the files, one that failed.
      s.result.scanned = files.length + scan.scanErrors;
      const input = () => ({
        files,
        manifest: s.store.files,
        racyThresholdNs: s.store.racyThresholdNs,
        facts: scan.facts,
        options: {
          force: opts.incremental === false,
          vouched: true,
          adopted: s.store.adopted,
          trackRenames: setting(opts, 'trackRenames'),
          keyPrefix: s.location.prefix,
          ...styles.plan,
        },
      });
      return {
        plan: () => planPush(input()),
        files: () => files,
        drop: (bad) => {
          files = files.filter((f) => !bad.has(f.rel));
        },
      };
    },
  });
  const present = new Set(found.map((f) => f.rel));
  const actions: PushAction[] = [...plan.actions];
  const gone = (rel: string) => isGone(absPath(s.localRoot, rel));
  // Folders where a path of the batch is gone: a file renamed over another there and then away leaves
  // no event for the other (the watcher merges "created, then deleted" away), so its entry is looked at.
  const goneIn = new Set([...scope.paths].filter(gone).map(parentDir));
  // Entries of the scope (or beside a path gone) whose file is gone: dropped, their keys kept as
  // vanished, as a full push does; with --delete, deleted, and kept until their object is (a delete
  // the guards refuse or a failed batch skips is then planned again by the retry, not lost with the
  // manifest saved without it).
  for (const [rel, e] of s.store.files) {
    const covered = scope.covers(rel);
    if (!covered && (goneIn.size === 0 || !goneIn.has(parentDir(rel)))) continue;
    if (
      present.has(rel) ||
      // Under a folder the scan could not read (reported): there all the same, never taken for gone.
      within(unreadable, rel) ||
      waiting(rel) ||
      !s.selected(rel) ||
      (!covered && !gone(rel))
    )
      continue;
    if (!opts.delete) s.store.vanish(rel);
    else
      actions.push({
        kind: 'delete',
        rel,
        key: s.location.prefix + rel,
        reason: 'no-local-file',
        size: e.size,
      });
  }
  // What reads the file: an upload, a copy from a renamed file's object, a header copy.
  const sends = new Set(
    actions.filter((a) => a.kind === 'upload' || a.kind === 'copy' || a.kind === 'restyle').map((a) => a.rel),
  );
  const toSend = new Map<string, LocalFile>();
  const held = new Set<string>();
  const heldFiles: LocalFile[] = [];
  for (const f of files) {
    if (!sends.has(f.rel)) continue;
    if (hold(f)) {
      held.add(f.rel);
      heldFiles.push(f);
    } else toSend.set(f.rel, f);
  }
  return {
    actions: actions.filter((a) => !held.has(a.rel)),
    files: toSend,
    fileCount: files.length,
    facts,
    // The empty-source guard: a root that holds no file (an unmounted disk) deletes nothing. A look
    // over the whole tree counts its files, as a push does; a batch looks for one file the push would
    // send, since empty folders left are still no source.
    sourceFiles: scope.whole
      ? files.length
      : files.length > 0 ||
          holdsAFile(s.localRoot, {
            skipDir: (rel) => isStateDir(rel) || s.filter.excludesDir(rel),
            wanted: s.selected,
            followSymlinks: opts.followSymlinks,
          })
        ? Math.max(1, s.store.files.size)
        : 0,
    destinationFiles: s.store.files.size,
    styles,
    held: heldFiles,
    // Still being written: settle detection sends it once it has settled, and the batch does not wait.
    handBack: (f) => heldFiles.push(f),
  };
}

/**
 * A watch's deletions once a guard refused them: none is made (its object and entry stay), each is
 * one file error saying why, and the rest of the plan goes on. A threshold the files sent since would
 * raise (--max-delete as a share) must not let through what it stopped, as rsync's and rclone's
 * guards stop the deletes for the whole run.
 */
export function withoutDeletes(
  s: RunContext,
  actions: PushAction[],
  refusal: string,
): { actions: PushAction[]; refused: string[] } {
  const kept: PushAction[] = [];
  const refused: string[] = [];
  for (const a of actions) {
    if (a.kind !== 'delete') kept.push(a);
    else {
      refused.push(a.rel);
      s.fileError(
        a.rel,
        `not deleted: ${refusal}; deletions stay refused for the rest of this watch (a push with force (--force) or a higher maxDelete (--max-delete) deletes them)`,
      );
    }
  }
  return { actions: kept, refused };
}

/**
 * Whether a manifest can stand for the destination: one with no entry and no listing behind it
 * (removed with its folder, or never written) would have every file taken for new and sent again.
 */
export const vouches = (store: { files: ReadonlyMap<string, unknown>; listedAt: string | null }): boolean =>
  store.files.size > 0 || store.listedAt !== null;

/** What a batch asks of the watch around it. */
export interface BatchHooks {
  /** Whether a file found is still being written: handed back, not sent. */
  hold: (f: LocalFile) => boolean;
  /** Whether a path waits to settle (gone for now, maybe back): its entry is neither deleted nor forgotten. */
  waiting: (rel: string) => boolean;
  /** The scan's notices the watch has said already. */
  noticed: Set<string>;
  /** A delete guard's refusal earlier in the watch: the batch deletes nothing (see withoutDeletes). */
  deletesRefused?: string;
  /** Called, and nothing done, when the batch would send files on a manifest that vouches for nothing. */
  handOver: () => void;
  /**
   * Before the batch acts: the paths it is about to send or delete (what a stop may leave undone), and
   * those it found unchanged (nothing to retry should it fail).
   */
  planned?: (plan: { acting: string[]; unchanged: string[] }) => void;
}

/**
 * One watch batch over the paths of `scope`, as one push run: one manifest checkpoint, the delete
 * guards applied to its deletes. Returns the files held back as still being written, and the paths
 * whose delete was not done (skipped after an error in the batch, or failed). With no manifest to
 * vouch for the destination it hands over instead: only a walk, with its listing, may decide. `refused`:
 * the paths whose delete it did not make, a guard having refused deletions earlier in the watch.
 */
export async function runBatch(
  s: RunContext,
  opts: PushOptions,
  scope: PathScope,
  hooks: BatchHooks,
): Promise<{ held: LocalFile[]; undeleted: string[]; refused: string[] }> {
  let held: LocalFile[] = [];
  let undeleted: string[] = [];
  let refused: string[] = [];
  await s.run(async () => {
    const prepared = await prepareBatch(s, opts, scope, hooks);
    // Only a batch that would send something on the manifest's word: one of filtered-out paths sends nothing.
    if (!vouches(s.store) && prepared.files.size > 0) {
      hooks.handOver();
      return;
    }
    held = prepared.held ?? [];
    if (hooks.deletesRefused !== undefined)
      ({ actions: prepared.actions, refused } = withoutDeletes(s, prepared.actions, hooks.deletesRefused));
    const rels = (skip: boolean) =>
      prepared.actions.filter((a) => (a.kind === 'skip') === skip).map((a) => a.rel);
    hooks.planned?.({ acting: rels(false), unchanged: rels(true) });
    applyRecords(s, prepared.actions, prepared.facts);
    await executePush(s, prepared, opts);
    undeleted = prepared.actions
      .filter((a) => a.kind === 'delete' && s.store.files.has(a.rel))
      .map((a) => a.rel);
  });
  return { held, undeleted, refused };
}
