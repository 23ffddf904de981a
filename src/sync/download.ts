import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  openSync,
  renameSync,
} from 'node:fs';
import { lutimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { runError, S3SyncError } from '../errors.js';
import { HeldFolder, PathRefused, type TargetTree } from '../local/confine.js';
import { StreamHasher } from '../local/hash.js';
import { SYNC_MAX } from '../local/hash-pool.js';
import { refusedNameReason } from '../local/safe-path.js';
import { type StatData, statFields } from '../local/scan.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import { errorCode } from '../s3/errors.js';
import { candidatePartSizes, etagForm } from '../s3/etag.js';
import { rangeIgnored } from '../s3/range-answer.js';
import type { S3Transport } from '../s3/transport.js';
import { gather, IncompleteBody, verifyContent } from './download-body.js';
import { compressedSource, gunzipInPlace } from './download-gunzip.js';
import { RangeLog, resumeName } from './download-resume.js';
import type { Unflushed } from './durable-batch.js';
import { mtimeOf } from './meta-mtime.js';
import { TransferProgress } from './progress.js';
import { downloadVerifiedRanges } from './ranged-download.js';
import type { RunContext } from './run-context.js';
import { removeTmpFile, type TempPath, writeSmall, writeStream } from './temp-file.js';

/** The disk is full: every further write would fail the same way, so the run stops. */
export class DiskFullError extends S3SyncError {}

/**
 * Below this an object is gathered in memory, hashed and checked before anything is written, and
 * written with synchronous calls: one thread-pool round trip (the fsync) instead of eight. A pull of
 * 10k small files spent more CPU handing those calls to the thread pool than making them.
 */
const SMALL_OBJECT_MAX = SYNC_MAX;

/** Said once per run when the downloads are over, with how many and the first, not a line per file. */
export class SaidOnce {
  private first: string | undefined;
  private count = 0;

  constructor(private readonly say: (count: number, first: string) => string) {}

  add(first: string): void {
    this.first ??= first;
    this.count++;
  }

  report(s: RunContext): void {
    if (this.first !== undefined) s.notice(this.say(this.count, this.first));
  }
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

/** The large objects fetched whole because the server (or a proxy) ignored their byte ranges. */
export const wholeFallbacks = () =>
  new SaidOnce(
    (n, reason) => `${reason}: ${n} large ${plural(n, 'file', 'files')} fetched whole instead, one GET each`,
  );

/**
 * The downloads whose ETag could prove nothing of their bytes (a multipart ETag of a part size no
 * guess finds, or one not made from the bytes: SSE-KMS, R2's).
 */
export const unverifiedDownloads = () =>
  new SaidOnce(
    (n, rel) =>
      `${n} ${plural(n, 'file', 'files')} written as the server sent ${plural(n, 'it', 'them')}, not checked: ` +
      `${plural(n, 'its', 'their')} ETag does not tell ${plural(n, 'its', 'their')} MD5 (first: ${rel})`,
  );

interface Target {
  rel: string;
  key: string;
  size: number;
  etag: string;
  lastModified: number;
  /** A past version (pull --at), else the current object. */
  versionId?: string;
  /** The file the scan found at `rel`, null for none (TargetTree.destination). */
  scanned: StatData | null;
  /** An applied plan's download: the file must also be unwritten since (PreparedPull.asPlanned). */
  asPlanned?: boolean;
}

/**
 * Downloads one object to a temp file beside the manifest and sets its mtime; returns it unflushed,
 * for a DurableBatch to fsync it, rename it into place and give its manifest entry: a crash, a power
 * loss or a full disk never leaves a partial file under the real name. A small file is left open and
 * unsynced (its fsync is batched); a larger one was synced while it was written. Every path is taken
 * through `tree`, checked right before it is used: nothing outside the target is written. `progress`
 * reports the bytes as they arrive; a failed download takes back what it reported, unless the run was
 * cancelled.
 */
export async function downloadObject(
  s: RunContext,
  t: S3Transport,
  o: Target,
  cfg: {
    multipartThreshold: number;
    partSize: number;
    /** Keeps the file about to be replaced (--backup-dir); returns the undo if the rename fails. */
    backup?: (rel: string, abs: string) => (() => void) | undefined;
    /** Counts the objects fetched whole after their ranges were ignored; the caller reports them. */
    wholeFallbacks: SaidOnce;
    /** Counts the downloads whose ETag could not check their bytes; the caller reports them. */
    unverified: SaidOnce;
    /**
     * A large download that does not finish keeps what it has for the next run (download-resume.ts);
     * the caller's end keeps those files of the downloads it planned (resumeName) and removes the rest.
     */
    resume?: boolean;
    /** --sparse: zero blocks are left as holes (see sparse.ts). */
    sparse?: boolean;
  },
  tree: TargetTree,
  progress = new TransferProgress(o.size, (e) => s.emit(e)),
): Promise<Unflushed<ManifestEntry>> {
  const small = o.size < SMALL_OBJECT_MAX && o.size < cfg.multipartThreshold;
  const form = etagForm(o.etag);
  const partSizes = form.kind === 'multipart' ? candidatePartSizes(o.size, form.parts) : [];
  const partSize = form.kind === 'multipart' ? (partSizes[0] ?? 0) : 0;
  // A folder on another mount than DIR/.s3sync: written beside its file, as a rename cannot cross mounts
  // (and in a setgid folder of a group this process is not in, which only a file made there gets).
  const beside = tree.writesBeside(o.rel);
  // Fetched in ranges and provable whole by its ETag: kept when it does not finish, for the next run.
  const log =
    cfg.resume &&
    !beside &&
    !small &&
    o.size >= cfg.multipartThreshold &&
    (form.kind === 'md5' || partSizes.length > 0)
      ? new RangeLog((n) => tree.tmpPath(n), resumeName(o, cfg.partSize), Math.ceil(o.size / cfg.partSize))
      : undefined;
  const name = log ? log.dataName : beside ? tree.besideName() : tree.tmpFileName('.part');
  // The temp folder is in the target too: its path is checked again at each use, and gone through by
  // its descriptor (see tmpPath). Beside its file, the folder is held by this download only while an
  // operation on the file may be under way: closed once it is written, opened again for the rename.
  const held = beside ? new HeldFolder() : undefined;
  const tmp: TempPath = held ? () => tree.besidePath(o.rel, name, held) : () => tree.tmpPath(name);
  let fd: number | undefined;
  try {
    // Refused before a byte is fetched when the way is already blocked; checked again before the rename.
    tree.destination(o.rel, false, o.scanned);
    // A name the file system refuses is found so before the GET: later pulls fetch nothing to throw away.
    const refusal = beside ? null : tree.nameRefusal(o.rel);
    if (refusal !== null) throw new PathRefused(`not written: ${refusal}`);
    log?.load();
    if (log && log.done.size > 0)
      s.notice(
        `${o.rel}: resuming: ${log.done.size} of ${Math.ceil(o.size / cfg.partSize)} ranges kept from an earlier pull`,
        o.rel,
      );
    let md5: string;
    let meta: Record<string, string> = {};
    let verified: boolean | undefined;
    let encoding: string | undefined;
    if (small) {
      let data: Buffer;
      ({ md5, meta, verified, encoding, data } = await t.get(
        // An MD5 ETag: the check below covers the whole body, so the request may skip the SDK.
        { key: o.key, versionId: o.versionId, verifiedByMd5: form.kind === 'md5' },
        async (body, info) => {
          sameAsListed(o, info.etag, body);
          const buf = await gather(body, o.size, info.contentEncoding);
          const h = new StreamHasher(partSizes);
          h.update(buf);
          const r = h.digest();
          const ok = verifyContent(o.etag, r.md5, r.multipart, info.metadata.md5);
          if (ok === false) throw new IncompleteBody('downloaded bytes do not match the object ETag');
          return { md5: r.md5, meta: info.metadata, verified: ok, encoding: info.contentEncoding, data: buf };
        },
      ));
      // Written once the request's slot is free: the bytes are checked, only the disk is left.
      fd = await writeSmall(tmp, data, mtimeOf(meta.mtime, o.lastModified), cfg.sparse, s.fileLengths);
    } else if (o.size < cfg.multipartThreshold) {
      ({ md5, meta, verified, encoding } = await downloadWhole(
        s,
        t,
        o,
        tmp,
        partSizes,
        progress,
        cfg.sparse,
      ));
    } else {
      try {
        ({ md5, meta, verified, encoding } = await downloadVerifiedRanges(s, t, {
          o,
          tmp,
          partSize: cfg.partSize,
          partSizes,
          progress,
          log,
          sparse: cfg.sparse,
        }));
      } catch (err) {
        const ignored = rangeIgnored(err);
        if (!ignored) throw err;
        // A server (or a proxy before it) that sends whole objects only: one GET of all of it, checked
        // as any whole download is, rather than the whole object once for each range.
        cfg.wholeFallbacks.add(ignored.message);
        progress.fail();
        log?.reset();
        ({ md5, meta, verified, encoding } = await downloadWhole(
          s,
          t,
          o,
          tmp,
          partSizes,
          progress,
          cfg.sparse,
        ));
      }
    }
    if (verified === undefined) {
      cfg.unverified.add(o.rel);
      if (s.opts.debug) s.notice(`${o.rel}: ETag is opaque; content not verified`, o.rel);
    }
    // Stored compressed by s3sync: the original bytes are written, checked against their recorded MD5.
    const source = compressedSource(encoding, meta);
    if (source !== undefined) {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      md5 = await gunzipInPlace(tmp, source, mtimeOf(meta.mtime, o.lastModified), cfg.sparse, s.fileLengths);
      fd = openSync(tmp(), constants.O_RDONLY | constants.O_NOFOLLOW);
    }
    // writeSmall set the mtime already; a larger file's data is synced, its new mtime not yet.
    else if (!small) {
      const mtime = mtimeOf(meta.mtime, o.lastModified);
      await lutimes(tmp(), mtime, mtime);
      fd = openSync(tmp(), constants.O_RDONLY | constants.O_NOFOLLOW);
    }
    // Checked again, and renamed in the same synchronous step: the tree may have changed meanwhile.
    const commit = (): { dest: string; value: ManifestEntry } => {
      const dest = tree.destination(o.rel, true, o.scanned, o.asPlanned);
      if (!beside) keepGroup(tree.groupFor(path.dirname(dest)), fd, tmp());
      // Through the folders just checked, not their paths: one swapped for a link since is refused.
      tree.at(dest, 'not written', (to) =>
        tree.at(tmp(), 'not written', (from) => {
          keepMode(to, from);
          const undo = cfg.backup?.(o.rel, to);
          try {
            renameSync(from, to);
          } catch (err) {
            undo?.();
            // The temp file still there: the folder opened was removed since (as a racing rmdir can).
            if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync(from))
              throw new PathRefused('not written: its folder was removed during the run');
            const refused =
              existsSync(path.dirname(dest)) && refusedNameReason('file', path.basename(dest), err);
            throw refused ? new PathRefused(`not written: ${refused}`) : err;
          }
        }),
      );
      log?.remove();
      // From the descriptor: the file this run wrote, even if another was moved to its name since.
      const st = statFields(
        fd !== undefined ? fstatSync(fd, { bigint: true }) : lstatSync(dest, { bigint: true }),
      );
      return {
        dest,
        value: manifestEntry(st, {
          md5,
          etag: o.etag,
          partSize: source === undefined ? partSize : 0,
          stored: source === undefined ? undefined : o.size,
        }),
      };
    };
    progress.finish();
    // Written: no operation through the folder is under way until the rename's, which opens it again.
    held?.close();
    return {
      rel: o.rel,
      fd,
      commit: () => {
        try {
          return commit();
        } catch (err) {
          throw tree.realPathsIn(err, held);
        } finally {
          held?.close();
        }
      },
      discard: () => {
        removeTmpFile(tmp);
        log?.remove();
        held?.close();
      },
    };
  } catch (err) {
    if (!s.opts.signal?.aborted) progress.fail();
    if (fd !== undefined) closeSync(fd);
    const failure =
      errorCode(err instanceof S3SyncError ? err.cause : err) === 'NoSuchKey'
        ? runError('the object was deleted since it was listed: nothing written', err)
        : diskFullOr(tree.realPathsIn(err, held), o.rel);
    // Kept for the next run, unless the disk is full (the space is wanted) or nothing of it is proven.
    if (!log || log.done.size === 0 || failure instanceof DiskFullError) {
      removeTmpFile(tmp);
      log?.remove();
    }
    held?.close();
    throw failure;
  }
}

/**
 * The GET's object must be the one listed: another writer's object in its place would be written, and
 * recorded under the listed ETag, so the next pull would take the stale file for the new object.
 */
function sameAsListed(o: Target, etag: string, body: Readable): void {
  if (!etag || !o.etag || etag === o.etag) return;
  // Not read: its connection is closed rather than left holding the other object's bytes.
  body.destroy();
  throw runError('the object changed since it was listed: not written (the next pull fetches it)');
}

/** One GET of the whole object streamed into `tmp`, hashed on the way and checked against its ETag. */
function downloadWhole(
  s: RunContext,
  t: S3Transport,
  o: Target,
  tmp: TempPath,
  partSizes: number[],
  progress: TransferProgress,
  sparse: boolean | undefined,
): Promise<{ md5: string; meta: Record<string, string>; verified: boolean | undefined; encoding?: string }> {
  return t.get({ key: o.key, versionId: o.versionId }, async (body, info) => {
    sameAsListed(o, info.etag, body);
    const wrote = progress.attempt(0, o.size);
    const r = await writeStream(s.hashes.pool, body, tmp, o.size, partSizes, wrote, sparse, s.fileLengths);
    const ok = verifyContent(o.etag, r.md5, r.multipart, info.metadata.md5);
    if (ok === false) throw new IncompleteBody('downloaded bytes do not match the object ETag');
    return { md5: r.md5, meta: info.metadata, verified: ok, encoding: info.contentEncoding };
  });
}

/**
 * A file replaced keeps its permission bits, as rsync keeps them without --perms: a private file stays
 * private, a script stays executable. A new file takes the umask's. Not set-id bits: the content is new.
 */
function keepMode(dest: string, tmp: string): void {
  const st = lstatSync(dest, { throwIfNoEntry: false });
  if (st?.isFile()) chmodSync(tmp, st.mode & 0o777);
}

/**
 * A file written in DIR/.s3sync takes the group a file made in its own folder would have: a setgid
 * folder's (a shared folder), as rsync's temp file, written in that folder, gets it. Only the group
 * (uid -1). A group the process may not give is left as it is, as rsync --group (not root) keeps only
 * the user's own groups: not a reason to fail the file. writesBeside sends such folders' files there.
 */
function keepGroup(gid: number | undefined, fd: number | undefined, tmp: string): void {
  if (gid === undefined) return;
  try {
    if (fd !== undefined) fchownSync(fd, -1, gid);
    else lchownSync(tmp, -1, gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  }
}

/** A full disk stops the run (every further write would fail the same way); any other error is kept. */
export function diskFullOr(err: unknown, rel: string): unknown {
  const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
  // ENOSPC is both no space and no free inodes (df shows space left then): the code cannot tell which.
  const what =
    code === 'ENOSPC'
      ? 'disk full (no space or no free inodes)'
      : code === 'EDQUOT'
        ? 'disk quota exceeded'
        : '';
  if (what !== '')
    return new DiskFullError(
      `${what} while writing ${rel} (${code}): stopped; no partial file was left`,
      'fatal',
    );
  return err;
}
