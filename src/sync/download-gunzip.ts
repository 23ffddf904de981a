/**
 * Pull's side of --compress: an object s3sync stored gzip-compressed (Content-Encoding gzip AND the
 * x-amz-meta-s3sync-source-md5 it wrote) is written back as the original bytes, and those must have the
 * recorded source MD5. Only both signs together: a user's own .gz with Content-Encoding set, or
 * metadata copied onto another object, is written as stored.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { runError } from '../errors.js';
import { COMPRESSED_ENCODING, SOURCE_MD5_META, SOURCE_SIZE_META } from './object-style.js';
import { type FileLengths, InOrder, type TempPath } from './temp-file.js';

/** What s3sync recorded of a compressed object's source: its MD5, and its size when recorded. */
export interface CompressedSource {
  md5: string;
  size?: number;
}

/** The source of an object stored compressed by s3sync; undefined for any other object. */
export function compressedSource(
  encoding: string | undefined,
  meta: Record<string, string>,
): CompressedSource | undefined {
  const md5 = meta[SOURCE_MD5_META];
  if (
    encoding?.trim().toLowerCase() !== COMPRESSED_ENCODING ||
    md5 === undefined ||
    !/^[0-9a-f]{32}$/.test(md5)
  )
    return undefined;
  const sizeText = meta[SOURCE_SIZE_META];
  // A size that is not a plain count is no size: the MD5 still decides, after the whole stream.
  const size = sizeText !== undefined && /^\d{1,15}$/.test(sizeText) ? Number(sizeText) : undefined;
  return { md5, size };
}

/** A failed file system call (reading the download, opening the plain file): not the gzip's fault. */
const isSystemError = (err: unknown): boolean => typeof (err as { syscall?: unknown })?.syscall === 'string';

/**
 * Replaces the downloaded (and ETag-verified) temp file with its decompressed content, streamed to a
 * sibling temp file, fsynced, given `mtime`; throws when the result is not the source (its MD5, and
 * its size when recorded: decompression stops as soon as it is exceeded, so a few kilobytes that inflate
 * to terabytes never fill the disk), leaving no file behind. Returns the MD5 of the written bytes.
 * `sparse`, `lengths`: as writeSmall's.
 */
export async function gunzipInPlace(
  tmp: TempPath,
  source: CompressedSource,
  mtime: number | Date,
  sparse?: boolean,
  lengths?: FileLengths,
): Promise<string> {
  const from = tmp();
  const to = `${from}.plain`;
  const hash = createHash('md5');
  let written = 0;
  const tooLarge = () =>
    runError(`decompressed, the object is larger than its recorded source size ${source.size}: not written`);
  let fh: FileHandle | undefined;
  // A failed write of the plain file: the pipeline reports it as an abort, its code lost.
  let writeFailed: unknown;
  try {
    // The file itself once renamed: its mode is a download's, as the umask allows.
    fh = await open(to, 'wx', 0o666);
    const out = fh;
    const writer = await InOrder.of(out, sparse, lengths);
    await pipeline(
      createReadStream(from),
      createGunzip(),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          written += chunk.length;
          if (source.size !== undefined && written > source.size) return done(tooLarge());
          hash.update(chunk);
          done(null, chunk);
        },
      }),
      async (plain: AsyncIterable<Buffer>) => {
        let pos = 0;
        const local = async (write: () => Promise<unknown>) => {
          try {
            await write();
          } catch (err) {
            writeFailed = err;
            throw err;
          }
        };
        for await (const chunk of plain) {
          await local(() => writer.write(chunk, pos));
          pos += chunk.length;
        }
        // The trailing zeros skipped are a hole up to the length.
        await local(() => writer.finish(pos));
      },
    );
  } catch (err) {
    await fh?.close().catch(() => {});
    fh = undefined;
    rmSync(to, { force: true });
    if (written > (source.size ?? Number.POSITIVE_INFINITY)) throw tooLarge();
    // A local error (disk full, the temp file gone) goes up as it is, for the run to stop on or report
    // by its code; what is left is zlib's: the bytes are not gzip.
    if (writeFailed !== undefined) throw writeFailed;
    if (isSystemError(err)) throw err;
    throw runError(`the object is not valid gzip although stored so by s3sync: ${(err as Error).message}`);
  }
  await fh.close();
  const md5 = hash.digest('hex');
  const sourceMd5 = source.md5;
  if (source.size !== undefined && written !== source.size) {
    rmSync(to, { force: true });
    throw runError(
      `decompressed, the object has ${written} bytes, not its recorded source size ${source.size}`,
    );
  }
  if (md5 !== sourceMd5) {
    rmSync(to, { force: true });
    throw runError(`decompressed, the object's MD5 ${md5} is not its recorded source MD5 ${sourceMd5}`);
  }
  utimesSync(to, mtime, mtime);
  const fd = openSync(to, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(to, tmp());
  return md5;
}
