import { runError } from '../errors.js';
import type { HashResult } from '../local/hash.js';
import { pathStat } from '../local/open-file.js';
import type { LocalFile } from '../local/scan.js';
import { sameStat } from '../local/scan.js';
import { FileChangedError, type Scanned } from '../local/stable-read.js';
import { etagForm } from '../s3/etag.js';
import type { S3Transport } from '../s3/transport.js';
import {
  type ObjectStyles,
  type ResolvedHeaders,
  SOURCE_MD5_META,
  SOURCE_SIZE_META,
} from './object-style.js';
import type { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';

export interface UploadConfig {
  multipartThreshold: number;
  partSize: number;
  /** Per-pattern headers and compression (src/sync/object-style.ts); absent: none configured. */
  styles?: ObjectStyles;
}

/** One file to upload, and everything each way of uploading it needs. */
export interface UploadJob {
  s: RunContext;
  t: S3Transport;
  f: LocalFile;
  /** Where the file is read, and the stat data the scan found there. */
  src: Scanned;
  key: string;
  contentType: string;
  /** The object's own headers (a rule, compression, the pass-through); absent: the run's settings alone. */
  headers?: ResolvedHeaders;
  cfg: UploadConfig;
  /** This run's listing shows no object at the key. */
  isNew: boolean;
  /** Reports the bytes as they are sent. */
  progress: TransferProgress;
}

/** The object's metadata: a rule's, then s3sync's own (whose names no rule may take). */
export const objectMeta = (job: UploadJob, own: Record<string, string>): Record<string, string> =>
  job.headers ? { ...job.headers.metadata, ...own } : own;

/**
 * s3sync's own metadata on a file's object as it is sized (its MD5 is not known before the upload,
 * but is always 32 hex digits): compressed, the source's MD5 and size; else its MD5. Both with mtime.
 */
export const ownMetaSized = (
  f: { size: number; mtimeNs: string },
  compressed: boolean,
): Record<string, string> => {
  const md5 = '0'.repeat(32);
  const mtime = mtimeMeta(f.mtimeNs);
  return compressed ? { [SOURCE_MD5_META]: md5, [SOURCE_SIZE_META]: String(f.size), mtime } : { md5, mtime };
};

/** User metadata as AWS counts it toward its limit: each name (without x-amz-meta-) and value, in UTF-8. */
export const metadataBytes = (meta: Record<string, string>): number =>
  Object.entries(meta).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** Why an object's metadata is more than the provider takes, or undefined. */
export function metadataOverLimit(
  meta: Record<string, string>,
  provider: { title: string; maxMetadataBytes?: number },
): string | undefined {
  const limit = provider.maxMetadataBytes;
  const n = metadataBytes(meta);
  if (limit === undefined || n <= limit) return undefined;
  return `its metadata is ${n} bytes (x-amz-meta-* names and values, s3sync's own included), over ${provider.title}'s ${limit}-byte limit: not uploaded`;
}

/** The job's file, read expecting other stat data (those its hash found). */
export const readAs = (job: UploadJob, expect: Scanned['expect']): Scanned => ({ ...job.src, expect });

/** `x-amz-meta-mtime` in rclone's format: seconds with a nanosecond fraction (signed before 1970). */
export const mtimeMeta = (mtimeNs: string) => {
  const ns = BigInt(mtimeNs);
  const abs = ns < 0n ? -ns : ns;
  return `${ns < 0n ? '-' : ''}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
};

/**
 * The server's ETag must be what the bytes we hashed produce; opaque ETags (SSE-KMS, R2) cannot be
 * checked. The message names no file: the run's error line puts its path first.
 */
export function checkEtag(etag: string, expected: string[]): void {
  if (etagForm(etag).kind === 'opaque' || expected.includes(etag)) return;
  throw runError(`the stored object's ETag ${etag} does not match the local content (${expected[0]})`);
}

/** The run's hash of the file (often taken during the listing), if it is of the file as scanned. */
export async function hashOf({ s, f }: UploadJob, partSizes: number[]): Promise<HashResult> {
  const h = await s.hashes.get(f, partSizes);
  if (h.stable && sameStat(h.stat, f)) return h;
  s.hashes.forget(f.rel);
  const again = await s.hashes.get(f, partSizes);
  // The same file (the hash checked), changed in place since the scan: retried with fresh stat data.
  if (!again.stable || !sameStat(again.stat, f)) throw new FileChangedError();
  return again;
}

/**
 * After the upload the path must still name the file as read; otherwise the object may mix versions,
 * or its entry describe another file.
 */
export async function assertUnchanged(src: Scanned): Promise<void> {
  // One lstat: synchronous costs less than a thread-pool round trip.
  if (!sameStat(pathStat(src), src.expect)) throw new FileChangedError();
}

/**
 * assertUnchanged once the object is written: a file removed (or its folder) meanwhile is as one removed
 * a moment after its upload, the object being the file as read, so its entry is recorded and a run
 * with --delete deletes the object; judged missing, the object was left behind, known to no entry.
 */
export async function assertWritten(src: Scanned): Promise<void> {
  try {
    await assertUnchanged(src);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  }
}

/** A tap (see exactRange) that counts the bytes of each chunk. */
export const countChunks =
  (count: (bytes: number) => void) =>
  (chunk: Buffer): void =>
    count(chunk.length);
