import { createRequire } from 'node:module';
import path from 'node:path';
import { STATE_DIR } from '../manifest/store.js';

/** What the watcher reports: paths (rel, '/'-separated) that something happened to, or a lost stream. */
export interface WatcherSink {
  changed: (rels: string[]) => void;
  /**
   * Events may have been lost (queue overflow, the watch failing): only a walk can tell what changed.
   * `rootChanged`: the watched directory itself was removed or replaced, so this subscription is over.
   */
  lost: (why: string, rootChanged?: boolean) => void;
}

/** A running subscription; `close` ends it. */
export interface Watcher {
  close: () => Promise<void>;
}

/**
 * Test-only: events whose rel path matches this regular expression are dropped (the root's is ''), as
 * an overflowed inotify queue or an NFS mount would lose them, so tests can show the reconciliation
 * walk finds them. Read here only.
 */
const DROP_ENV = 'S3SYNC_TEST_DROP_EVENTS';

/**
 * Subscribes to changes under `root` with @parcel/watcher: native recursive watching (inotify on
 * Linux, FSEvents, ReadDirectoryChangesW), prebuilt for each platform inside npm packages, used by
 * Parcel, VS Code and Nx on trees of hundreds of thousands of files. Events only name paths; what
 * changed is decided by stat at settle time, so a lost, duplicated or reordered event delays an upload
 * (the reconciliation walk finds it) and never causes a wrong one. Required, not imported: the CLI
 * bundle is compiled with no loader for import() (src/cli/s3sync.cts); the package is CommonJS.
 */
export async function watchTree(root: string, sink: WatcherSink): Promise<Watcher> {
  const { subscribe } = createRequire(import.meta.url)('@parcel/watcher') as typeof import('@parcel/watcher');
  const dropText = process.env[DROP_ENV];
  const drop = dropText ? new RegExp(dropText) : undefined;
  const sub = await subscribe(
    root,
    (err, events) => {
      if (err) {
        sink.lost(err.message);
        return;
      }
      const rels: string[] = [];
      for (const e of events) {
        const rel = path.relative(root, e.path).split(path.sep).join('/');
        if (drop?.test(rel)) continue;
        // The root itself (removed, or replaced by a mount) stands for the whole tree: the walk decides.
        if (rel === '') {
          sink.lost('the watched directory itself changed', true);
          continue;
        }
        if (rel.startsWith('..')) continue;
        rels.push(rel);
      }
      if (rels.length > 0) sink.changed(rels);
    },
    { ignore: [STATE_DIR], ...nativeBackend(process.platform) },
  );
  return { close: closer(sub) };
}

/**
 * The platform's own backend, named so that the watcher does not try watchman first: without watchman
 * installed, that attempt leaves the pipe it opened and its child unreaped, one of each per subscribe.
 * Elsewhere the watcher's default.
 */
export function nativeBackend(platform: NodeJS.Platform): { backend?: 'inotify' | 'fs-events' | 'windows' } {
  switch (platform) {
    case 'linux':
      return { backend: 'inotify' };
    case 'darwin':
      return { backend: 'fs-events' };
    case 'win32':
      return { backend: 'windows' };
    default:
      return {};
  }
}

/**
 * Ends a subscription without failing: when the watched directory was removed, the kernel has already
 * dropped its watch, and unsubscribing before the watcher's thread has read that says "Unable to
 * remove watcher: Invalid argument" — nothing is left to free, and the run goes on.
 */
export function closer(sub: { unsubscribe: () => Promise<void> }): () => Promise<void> {
  return async () => {
    try {
      await sub.unsubscribe();
    } catch {
      // Already gone with its directory (above); a failed unsubscribe frees nothing more if retried.
    }
  };
}
