/**
 * A file stored gzip-compressed (--compress). Compressed first into a private temp file, streamed
 * (memory stays bounded by the stream buffers whatever the file's size), then sent as one PUT with the
 * Content-MD5 of the compressed bytes: the compressed size is only known at the end, and the ETag of a
 * single PUT is the MD5 anyone can check. Compression targets text assets (HTML, CSS, JS, JSON, SVG), far
 * below S3's 5 GiB single-PUT limit; a file whose compressed form exceeds it is refused, not split.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { runError } from '../errors.js';
import { exactRange, FileChangedError } from '../local/stable-read.js';
import { type ManifestEntry, manifestEntry } from '../manifest/schema.js';
import { SOURCE_MD5_META, SOURCE_SIZE_META } from './object-style.js';
import { assertWritten, checkEtag, mtimeMeta, objectMeta, type UploadJob } from './upload-job.js';

/** S3's largest single PUT. */
const MAX_PUT = 5 * 1024 * 1024 * 1024;

/** Hashes what passes through it. */
const hashing = (hash: ReturnType<typeof createHash>) =>
  new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });

export async function putCompressed(job: UploadJob): Promise<ManifestEntry> {
  const { t, f, key, progress } = job;
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-gz-'));
  const tmp = path.join(dir, 'body.gz');
  try {
    const source = createHash('md5');
    const stored = createHash('md5');
    const transfer = new AbortController();
    try {
      await pipeline(
        exactRange(job.src, 0, f.size - 1, transfer, (chunk) => source.update(chunk)),
        createGzip({ level: 9 }),
        hashing(stored),
        createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
      );
    } catch (err) {
      // The file changed while it was read: retried at the end of the run, as for any upload.
      if (transfer.signal.aborted) throw transfer.signal.reason ?? new FileChangedError();
      throw err;
    }
    if (transfer.signal.aborted) throw transfer.signal.reason ?? new FileChangedError();
    const md5 = source.digest('hex');
    const gzMd5 = stored.digest('hex');
    const size = statSync(tmp).size;
    if (size > MAX_PUT) throw runError(`compressed, it is still over 5 GiB: leave it out of --compress`);
    const etag = await t.put({
      key,
      body: () => createReadStream(tmp),
      size,
      md5Base64: Buffer.from(gzMd5, 'hex').toString('base64'),
      contentType: job.contentType,
      metadata: objectMeta(job, {
        [SOURCE_MD5_META]: md5,
        [SOURCE_SIZE_META]: String(f.size),
        mtime: mtimeMeta(f.mtimeNs),
      }),
      headers: job.headers,
    });
    progress.finish();
    await assertWritten(job.src);
    checkEtag(etag, [gzMd5]);
    return manifestEntry(f, { md5, etag, partSize: 0, stored: size });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
