/**
 * Pull's side of --compress: an object s3sync stored gzip-compressed (Content-Encoding gzip AND the
 * x-amz-meta-s3sync-source-md5 it wrote) is written back as the original bytes, and those must have the
 * recorded source MD5. Only both signs together: a user's own .gz with Content-Encoding set, or
 * metadata copied onto another object, is written as stored.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  utimesSync,
} from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { runError } from '../errors.js';
import { COMPRESSED_ENCODING, SOURCE_MD5_META } from './object-style.js';
import type { TempPath } from './temp-file.js';

/** The source MD5 of an object stored compressed by s3sync; undefined for any other object. */
export function compressedSource(
  encoding: string | undefined,
  meta: Record<string, string>,
): string | undefined {
  const md5 = meta[SOURCE_MD5_META];
  return encoding?.trim().toLowerCase() === COMPRESSED_ENCODING &&
    md5 !== undefined &&
    /^[0-9a-f]{32}$/.test(md5)
    ? md5
    : undefined;
}

/**
 * Replaces the downloaded (and ETag-verified) temp file with its decompressed content, streamed to a
 * sibling temp file, fsynced, given `mtimeSecs`; throws when the result is not the source MD5 (a corrupt
 * or foreign object), leaving no file behind. Returns the MD5 of the written bytes.
 */
export async function gunzipInPlace(tmp: TempPath, sourceMd5: string, mtimeSecs: number): Promise<string> {
  const from = tmp();
  const to = `${from}.plain`;
  const hash = createHash('md5');
  try {
    await pipeline(
      createReadStream(from),
      createGunzip(),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      }),
      createWriteStream(to, { flags: 'wx', mode: 0o600 }),
    );
  } catch (err) {
    rmSync(to, { force: true });
    throw runError(`the object is not valid gzip although stored so by s3sync: ${(err as Error).message}`);
  }
  const md5 = hash.digest('hex');
  if (md5 !== sourceMd5) {
    rmSync(to, { force: true });
    throw runError(`decompressed, the object's MD5 ${md5} is not its recorded source MD5 ${sourceMd5}`);
  }
  utimesSync(to, mtimeSecs, mtimeSecs);
  const fd = openSync(to, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(to, tmp());
  return md5;
}
