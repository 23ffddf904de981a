/** A large object, fetched as byte ranges in parallel into its temp file, then verified whole. */
import { type FileHandle, open } from 'node:fs/promises';
import { runError } from '../errors.js';
import type { S3Transport } from '../s3/transport.js';
import { coalesce, IncompleteBody, verifyContent } from './download-body.js';
import type { RangeLog } from './download-resume.js';
import type { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';
import { allZero, dataSpans, type SparseWrite, zeroSpans } from './sparse.js';
import { Flusher, KEEP_FLAGS, sparseWrite, type TempPath, TMP_FLAGS, writeFully } from './temp-file.js';

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

/** Large objects: byte ranges fetched in parallel, each written at its offset and counted by `progress`. */
async function downloadRanges(
  s: RunContext,
  t: S3Transport,
  { o, tmp, partSize, progress, log, sparse }: RangedDownload,
): Promise<{ meta: Record<string, string>; encoding?: string }> {
  // A kept file is opened as it is (the run's start discarded one not a regular file, see removeTmp);
  // one not of the object's size starts over.
  const fh = await open(tmp(), log ? KEEP_FLAGS : TMP_FLAGS);
  const flusher = new Flusher(fh);
  let meta: Record<string, string> = {};
  let encoding: string | undefined;
  try {
    if (log && log.done.size > 0) {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== o.size) {
        log.reset();
        // Said always: the run said it was resuming, and now transfers all of it.
        s.notice(
          `${o.rel}: the part kept from an earlier pull is not the object's size (${st.size} of ${o.size} bytes): fetching it whole`,
          o.rel,
        );
      }
    }
    // Nothing kept (a new file, one every range is fetched into again, or not the object's size):
    // emptied, so what a --sparse download skips reads as zeros, not as an earlier attempt's bytes.
    if (log && log.done.size === 0) await fh.truncate(0);
    await fh.truncate(o.size);
    const how = await sparseWrite(fh, sparse);
    // The ranges still to fetch of a kept file may hold bytes of the attempt that did not finish them.
    const kept = log !== undefined && log.done.size > 0;
    const n = Math.ceil(o.size / partSize);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const start = i * partSize;
        const end = Math.min(o.size, start + partSize) - 1;
        if (log?.done.has(i)) {
          progress.resumed(end - start + 1);
          return;
        }
        await t.get({ key: o.key, range: { start, end }, versionId: o.versionId }, async (body, info) => {
          if (info.etag && info.etag !== o.etag) throw runError('the object changed while it was downloaded');
          meta = info.metadata;
          encoding = info.contentEncoding;
          const wrote = progress.attempt(i, end - start + 1);
          let pos = start;
          for await (const { buf } of coalesce(body)) {
            flusher.wrote(await writeRangeData(fh, buf, pos, how, kept));
            wrote(buf.length);
            pos += buf.length;
          }
          if (pos !== end + 1)
            throw new IncompleteBody(`range ended after ${pos - start} of ${end - start + 1} bytes`);
          // On disk before it is marked: a crash loses at most the mark, never marks missing bytes.
          if (log) {
            await fh.datasync();
            log.mark(i);
          }
        });
      }),
    );
    await flusher.sync();
  } finally {
    await fh.close();
  }
  return { meta, encoding };
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
