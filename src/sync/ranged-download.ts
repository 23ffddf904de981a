/** A large object, fetched as byte ranges in parallel into its temp file, then verified whole. */
import { type FileHandle, open } from 'node:fs/promises';
import { runError } from '../errors.js';
import type { S3Transport } from '../s3/transport.js';
import { coalesce, IncompleteBody, verifyContent } from './download-body.js';
import type { RangeLog } from './download-resume.js';
import type { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';
import { allZero, dataSpans, type SparseWrite, zeroSpans } from './sparse.js';
import {
  Flusher,
  KEEP_FLAGS,
  lengthRefusal,
  removeTmpFile,
  sparseWrite,
  type TempPath,
  TMP_FLAGS,
  writeFully,
} from './temp-file.js';

/** One object to fetch in ranges of `partSize` bytes into `tmp`; `partSizes`: its ETag's candidates. */
export interface RangedDownload {
  o: { rel: string; key: string; size: number; etag: string; versionId?: string };
  tmp: TempPath;
  partSize: number;
  partSizes: number[];
  progress: TransferProgress;
  /** The ranges a kept temp file already holds (see download-resume.ts); none: a fresh temp file. */
  log?: RangeLog;
  /** --sparse: zero blocks are left as holes (see sparse.ts). */
  sparse?: boolean;
}

/**
 * A large object's integrity can only be checked once all of its ranges are in (its ETag covers the
 * whole object): a failed check fetches every range again, as many times as a request is tried. The
 * bytes fetched again are not counted again.
 */
export async function downloadVerifiedRanges(
  s: RunContext,
  t: S3Transport,
  d: RangedDownload,
): Promise<{ md5: string; meta: Record<string, string>; verified: boolean | undefined; encoding?: string }> {
  const { o, tmp, partSizes, log } = d;
  for (let attempt = 1; ; attempt++) {
    const resumed = log !== undefined && log.done.size > 0;
    const { meta, encoding } = await downloadRanges(s, t, d);
    const h = await s.hashes.hashDownload(tmp(), o.size, partSizes);
    const verified = verifyContent(o.etag, h.md5, h.multipart, meta.md5);
    // Bytes kept from an earlier run are taken only once the whole file proves them.
    if (verified === true || (verified === undefined && !resumed))
      return { md5: h.md5, meta, verified, encoding };
    log?.reset();
    if (resumed) {
      // The kept bytes were not the object's: none of it counts as resumed, all of it as fetched.
      d.progress.fail();
      // Said always: the run said it was resuming, and now transfers all of it.
      s.notice(`${o.rel}: the part kept from an earlier pull did not verify: fetching it whole`, o.rel);
      continue;
    }
    if (attempt > t.retries)
      throw runError('downloaded bytes do not match the object ETag (on every attempt)');
    if (s.opts.debug)
      s.notice(`${o.rel}: downloaded bytes do not match the object ETag: fetching it again`, o.rel);
  }
}

/**
 * Large objects: byte ranges fetched in parallel, each written at its offset and counted by `progress`;
 * on a file system that cannot set the file's length, one range after another (see inOrder).
 */
async function downloadRanges(
  s: RunContext,
  t: S3Transport,
  d: RangedDownload,
): Promise<{ meta: Record<string, string>; encoding?: string }> {
  const { o, tmp, log, sparse } = d;
  const got: { meta: Record<string, string>; encoding?: string } = { meta: {} };
  // A kept file is opened as it is (the run's start discarded one not a regular file, see removeTmp);
  // one not of the object's size starts over.
  const fh = await open(tmp(), log ? KEEP_FLAGS : TMP_FLAGS);
  try {
    const st = await fh.stat();
    // Tried first, before a kept file not of the object's size is said to start over.
    let ordered =
      s.fileLengths.refuses(st.dev) || (st.size < o.size && !(await grown(s, fh, st.dev, o.size)));
    if (!ordered && log && log.done.size > 0 && (!st.isFile() || st.size !== o.size)) {
      log.reset();
      // Said always: the run said it was resuming, and now transfers all of it.
      s.notice(
        `${o.rel}: the part kept from an earlier pull is not the object's size (${st.size} of ${o.size} bytes): fetching it whole`,
        o.rel,
      );
    }
    // Nothing kept (a new file, one every range is fetched into again, or not the object's size):
    // emptied, so what a --sparse download skips reads as zeros, not as an earlier attempt's bytes.
    if (!ordered && log && log.done.size === 0 && st.size > 0) {
      await fh.truncate(0);
      ordered = !(await grown(s, fh, st.dev, o.size));
    }
    if (!ordered) {
      await inParallel(t, d, fh, await sparseWrite(fh, sparse), got);
      return got;
    }
  } finally {
    await fh.close();
  }
  await inOrder(s, t, d, got);
  return got;
}

/** The ranges fetched in parallel into the file of the object's size, each written at its offset. */
async function inParallel(
  t: S3Transport,
  d: RangedDownload,
  fh: FileHandle,
  how: SparseWrite | undefined,
  got: { meta: Record<string, string>; encoding?: string },
): Promise<void> {
  const { o, log, progress } = d;
  const flusher = new Flusher(fh);
  // The ranges still to fetch of a kept file may hold bytes of the attempt that did not finish them.
  const kept = log !== undefined && log.done.size > 0;
  await Promise.all(
    Array.from({ length: Math.ceil(o.size / d.partSize) }, async (_, i) => {
      if (log?.done.has(i)) {
        progress.resumed(rangeOf(d, i).length);
        return;
      }
      await fetchRange(t, d, i, got, async (buf, pos) =>
        flusher.wrote(await writeRangeData(fh, buf, pos, how, kept)),
      );
      // On disk before it is marked: a crash loses at most the mark, never marks missing bytes.
      if (log) {
        await fh.datasync();
        log.mark(i);
      }
    }),
  );
  await flusher.sync();
}

/** Range `i` of the download: its first byte and length. */
function rangeOf(d: RangedDownload, i: number): { start: number; length: number } {
  const start = i * d.partSize;
  return { start, length: Math.min(d.o.size, start + d.partSize) - start };
}

/** One GET of range `i`, each chunk handed to `write` at its offset; its metadata into `got`. */
async function fetchRange(
  t: S3Transport,
  d: RangedDownload,
  i: number,
  got: { meta: Record<string, string>; encoding?: string },
  write: (buf: Buffer, pos: number) => Promise<void>,
): Promise<void> {
  const { o, progress } = d;
  const { start, length } = rangeOf(d, i);
  const end = start + length - 1;
  await t.get({ key: o.key, range: { start, end }, versionId: o.versionId }, async (body, info) => {
    if (info.etag && info.etag !== o.etag) throw runError('the object changed while it was downloaded');
    got.meta = info.metadata;
    got.encoding = info.contentEncoding;
    const wrote = progress.attempt(i, length);
    let pos = start;
    for await (const { buf } of coalesce(body)) {
      await write(buf, pos);
      wrote(buf.length);
      pos += buf.length;
    }
    if (pos !== end + 1) throw new IncompleteBody(`range ended after ${pos - start} of ${length} bytes`);
  });
}

/**
 * Grows the temp file to the object's size, as the parallel ranges write at their offsets; false where
 * the file system refuses (fusefat: EPERM), which the run then knows of that file system.
 */
async function grown(s: RunContext, fh: FileHandle, dev: number, size: number): Promise<boolean> {
  try {
    await fh.truncate(size);
    return true;
  } catch (err) {
    const code = lengthRefusal(err);
    if (code === undefined) throw err;
    s.fileLengths.learn(dev, code);
    return false;
  }
}

/**
 * The ranges fetched one after another, each written at the end of a file made anew, where a file
 * system that cannot set a length nor keep holes writes (--sparse writes the zeros there), the object's
 * ETag checked over the whole file as in parallel. Nothing is kept to resume: fusefat refuses to write
 * a file it truncated, and loses the bytes written to a file reopened and grown, so a download stopped
 * part way is fetched whole by the next run; and a part kept there by an earlier one is not resumed.
 */
async function inOrder(
  s: RunContext,
  t: S3Transport,
  d: RangedDownload,
  got: { meta: Record<string, string>; encoding?: string },
): Promise<void> {
  const { o, log, tmp } = d;
  if (log && log.done.size > 0)
    // Said always: the run said it was resuming, and now transfers all of it.
    s.notice(
      `${o.rel}: the part kept from an earlier pull cannot be resumed on this file system, which cannot set a file's length: fetching it whole`,
      o.rel,
    );
  // No ranges logged: a run stopped part way then removes its temp file (see downloadObject).
  log?.reset();
  removeTmpFile(tmp);
  const fh = await open(tmp(), TMP_FLAGS);
  try {
    const flusher = new Flusher(fh);
    for (let i = 0; i < Math.ceil(o.size / d.partSize); i++)
      await fetchRange(t, d, i, got, async (buf, pos) => {
        // A range tried again is written again from its start, inside the file.
        await writeFully(fh, buf, pos);
        flusher.wrote(buf.length);
      });
    await flusher.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `buf` written at `pos`, but for its zero blocks under --sparse; in a kept file (`kept`) a zero block
 * skipped is checked, and written where it does not read as zeros. Returns the bytes written.
 */
async function writeRangeData(
  fh: FileHandle,
  buf: Buffer,
  pos: number,
  how: SparseWrite | undefined,
  kept: boolean,
): Promise<number> {
  const spans = dataSpans(buf, pos, how);
  let written = 0;
  for (const [start, end] of spans) {
    await writeFully(fh, buf.subarray(start, end), pos + start);
    written += end - start;
  }
  if (!how || !kept) return written;
  for (const [start, end] of zeroSpans(buf.length, spans)) {
    if (await readsZero(fh, pos + start, end - start)) continue;
    // The zeros to write are the body's own.
    await writeFully(fh, buf.subarray(start, end), pos + start);
    written += end - start;
  }
  return written;
}

/** Whether the file reads as zeros at `[pos, pos + length)` (a hole does; past its end too). */
async function readsZero(fh: FileHandle, pos: number, length: number): Promise<boolean> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return allZero(buf, 0, got);
}
