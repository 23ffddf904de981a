/** A large object, fetched as byte ranges in parallel into its temp file, then verified whole. */
import { open } from 'node:fs/promises';
import { runError } from '../errors.js';
import type { S3Transport } from '../s3/transport.js';
import { coalesce, IncompleteBody, verifyContent } from './download-body.js';
import type { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';
import { Flusher, type TempPath, TMP_FLAGS, writeFully } from './temp-file.js';

/** One object to fetch in ranges of `partSize` bytes into `tmp`; `partSizes`: its ETag's candidates. */
export interface RangedDownload {
  o: { rel: string; key: string; size: number; etag: string; versionId?: string };
  tmp: TempPath;
  partSize: number;
  partSizes: number[];
  progress: TransferProgress;
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
  const { o, tmp, partSizes } = d;
  for (let attempt = 1; ; attempt++) {
    const { meta, encoding } = await downloadRanges(t, d);
    const job = s.hashes.track(o.size);
    const h = await s.hashes.pool.hashFile(tmp(), o.size, partSizes, job?.read).finally(job?.end);
    const verified = verifyContent(o.etag, h.md5, h.multipart, meta.md5);
    if (verified !== false) return { md5: h.md5, meta, verified, encoding };
    if (attempt > t.retries)
      throw runError('downloaded bytes do not match the object ETag (on every attempt)');
    if (s.opts.debug)
      s.notice(`${o.rel}: downloaded bytes do not match the object ETag: fetching it again`, o.rel);
  }
}

/** Large objects: byte ranges fetched in parallel, each written at its offset and counted by `progress`. */
async function downloadRanges(
  t: S3Transport,
  { o, tmp, partSize, progress }: RangedDownload,
): Promise<{ meta: Record<string, string>; encoding?: string }> {
  const fh = await open(tmp(), TMP_FLAGS);
  const flusher = new Flusher(fh);
  let meta: Record<string, string> = {};
  let encoding: string | undefined;
  try {
    await fh.truncate(o.size);
    const n = Math.ceil(o.size / partSize);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const start = i * partSize;
        const end = Math.min(o.size, start + partSize) - 1;
        await t.get({ key: o.key, range: { start, end }, versionId: o.versionId }, async (body, info) => {
          if (info.etag && info.etag !== o.etag) throw runError('the object changed while it was downloaded');
          meta = info.metadata;
          encoding = info.contentEncoding;
          const wrote = progress.attempt(i, end - start + 1);
          let pos = start;
          for await (const { buf } of coalesce(body)) {
            await writeFully(fh, buf, pos);
            flusher.wrote(buf.length);
            wrote(buf.length);
            pos += buf.length;
          }
          if (pos !== end + 1)
            throw new IncompleteBody(`range ended after ${pos - start} of ${end - start + 1} bytes`);
        });
      }),
    );
    await flusher.sync();
  } finally {
    await fh.close();
  }
  return { meta, encoding };
}
