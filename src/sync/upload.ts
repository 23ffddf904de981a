import { errorMessage, runError, S3SyncError, unreadableWhy } from '../errors.js';
import { pathStat, UnexpectedFileError } from '../local/open-file.js';
import { absPath, type FileStat, type LocalFile, sameStat } from '../local/scan.js';
import { FileChangedError } from '../local/stable-read.js';
import type { ManifestEntry } from '../manifest/schema.js';
import { errorCode } from '../s3/errors.js';
import type { S3Transport } from '../s3/transport.js';
import { uploadMultipart } from './multipart-upload.js';
import { TransferProgress } from './progress.js';
import type { RunContext } from './run-context.js';
import { metadataOverLimit, ownMetaSized, type UploadConfig, type UploadJob } from './upload-job.js';
import { onePassAllowed, putFromMemory, putHashFirst, putNewInOnePass } from './upload-put.js';

/** Below this a file is read into memory once: hashed and sent from the same buffer. */
export const STREAMED_UPLOAD_MIN = 8 * 1024 * 1024;

/** The ways to upload a file, one function of the job each. */
export type UploadStrategy = 'from-memory' | 'one-pass' | 'hash-first' | 'multipart';

/**
 * How a file is uploaded: small ones from memory; up to the multipart threshold in one streamed PUT,
 * hashed as they are sent when nothing is there to lose (see putNewInOnePass), else hashed first; larger
 * ones in parts.
 */
export function chooseStrategy(
  job: Pick<UploadJob, 'cfg' | 'isNew'> & {
    f: { size: number };
    t: { settings: { sse?: string | undefined } };
  },
): UploadStrategy {
  const { f, cfg } = job;
  if (f.size < Math.min(STREAMED_UPLOAD_MIN, cfg.multipartThreshold)) return 'from-memory';
  if (f.size < cfg.multipartThreshold) return job.isNew && onePassAllowed(job.t) ? 'one-pass' : 'hash-first';
  return 'multipart';
}

function run(strategy: UploadStrategy, job: UploadJob): Promise<ManifestEntry> {
  switch (strategy) {
    case 'from-memory':
      return putFromMemory(job);
    case 'one-pass':
      return putNewInOnePass(job);
    case 'hash-first':
      return putHashFirst(job);
    case 'multipart':
      return uploadMultipart(job);
  }
}

/** The one line for a file that is not, or no longer, the scanned one. */
const unexpected = (err: UnexpectedFileError, sent = err.sent) =>
  runError(sent ? `${err.message} while it was uploaded: not recorded` : `${err.message}: not uploaded`);

/**
 * Uploads one file and returns the manifest entry that now describes it. Content-MD5 goes with every
 * PUT and part, so a body that differs from what was hashed is rejected by the server itself; the one
 * exception is a new object sent in one pass (see putNewInOnePass). `isNew`: this run's listing shows
 * no object at the key. `progress` reports the bytes as they are sent; a failed upload takes back what
 * it reported, unless the run was cancelled.
 */
export async function uploadFile(
  s: RunContext,
  t: S3Transport,
  f: LocalFile,
  cfg: UploadConfig,
  isNew = false,
  progress = new TransferProgress(f.size, (e) => s.emit(e)),
): Promise<ManifestEntry> {
  const job: UploadJob = {
    s,
    t,
    f,
    src: { abs: absPath(s.localRoot, f.rel), expect: f, follow: s.followsSymlinks },
    key: s.location.prefix + f.rel,
    contentType: await s.contentTypes.of(f.rel),
    cfg,
    isNew,
    progress,
  };
  if (cfg.styles?.active) {
    job.headers = cfg.styles.headersFor(f, job.contentType);
    job.contentType = job.headers.contentType;
    // Before a byte is read or sent: the store would refuse the object only at its end.
    const own = ownMetaSized(f, cfg.styles.compressed(f.rel));
    const over = metadataOverLimit({ ...job.headers.metadata, ...own }, s.endpoint.provider);
    if (over) throw new Error(over);
  }
  try {
    const compress = cfg.styles?.compressed(f.rel) ?? false;
    // Loaded with --compress only: it brings zlib, which a run without it never needs.
    const entry = await (compress
      ? import('./upload-compressed.js').then((m) => m.putCompressed(job))
      : run(chooseStrategy(job), job));
    if (job.headers?.digest !== undefined) entry.style = job.headers.digest;
    return entry;
  } catch (err) {
    if (!s.opts.signal?.aborted) progress.fail();
    if (err instanceof UnexpectedFileError) throw unexpected(err);
    // BadDigest: the bytes sent were not the bytes hashed, i.e. the file changed in between.
    if (errorCode(err instanceof S3SyncError ? err.cause : err) === 'BadDigest') throw new FileChangedError();
    if (err instanceof FileChangedError) throw err;
    // Whatever went wrong, a file that changed meanwhile is the explanation to act on: retry it later;
    // another file at the path is reported as such.
    let now: FileStat | undefined;
    try {
      now = pathStat(job.src);
    } catch (e) {
      if (e instanceof UnexpectedFileError) throw unexpected(e, false);
      // Nothing to compare (gone, or a folder on its way unreadable now): the error below tells.
    }
    if (now && !sameStat(now, f)) throw new FileChangedError();
    if (err instanceof S3SyncError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // Not written: a single PUT that completed takes a file gone as sent (assertWritten), and a
    // multipart upload is not completed for one. Gone from its path, it changed as a file rewritten
    // does: a push looks again (a warning: nothing is left to send), a watch takes it as its deletion.
    // Back at its path, unchanged (a folder on its way renamed and back), it is tried again the same way.
    if (code === 'ENOENT') throw new FileChangedError();
    if (code === 'EACCES' || code === 'EPERM')
      throw runError(`cannot read file: ${unreadableWhy(code, err)}`);
    throw runError(errorMessage(err), err);
  }
}
