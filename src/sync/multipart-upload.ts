/**
 * A multipart upload as one unit, in the shape of lib-storage's: start it (or resume the one an earlier
 * run left), upload its parts, complete it, or abort it. Every step is persisted through the manifest
 * store's typed mutations, at the points pending.ts requires: no upload s3sync starts is ever lost track of.
 */
import { S3SyncError } from '../errors.js';
import type { HashResult } from '../local/hash.js';
import { exactRange, FileChangedError, type Scanned } from '../local/stable-read.js';
import { type ManifestEntry, manifestEntry, type PendingUpload } from '../manifest/schema.js';
import { errorCode, isFatal, isRetryable } from '../s3/errors.js';
import { choosePartSize } from '../s3/etag.js';
import { objectParams, paramsDigest } from '../s3/requests.js';
import { retirePending, sweepStrays } from './pending.js';
import {
  assertUnchanged,
  checkEtag,
  countChunks,
  hashOf,
  mtimeMeta,
  objectMeta,
  readAs,
  type UploadJob,
} from './upload-job.js';

/** What a multipart upload sends: the job's file as hashed, cut into parts of `ps` bytes. */
interface Content {
  job: UploadJob;
  h: HashResult;
  ps: number;
}

/**
 * What CreateMultipartUpload is sent for this content: the object's type, metadata and own headers.
 * `mtimeNs`: the modification time its metadata records, the file's own unless told.
 */
const createInput = (c: Content, mtimeNs = c.h.stat.mtimeNs) => ({
  key: c.job.key,
  contentType: c.job.contentType,
  metadata: objectMeta(c.job, { md5: c.h.md5, mtime: mtimeMeta(mtimeNs) }),
  headers: c.job.headers,
});

/** The digest of the headers this run creates the object with (see PendingUpload.params). */
const headersDigest = (c: Content, mtimeNs?: string) => {
  const i = createInput(c, mtimeNs);
  return paramsDigest(objectParams(c.job.t.settings, i.contentType, i.metadata, i.headers));
};

/** Why an interrupted upload of the same bytes is not resumed: what differs in what it was created with. */
function headersChanged(c: Content, pending: PendingUpload): string {
  if (pending.params === undefined)
    return 'the interrupted multipart upload was started by an older s3sync, which did not record its headers: starting it again';
  // Only a digest is recorded: the one field that can be told apart is the mtime, which the record keeps.
  if (pending.mtimeNs !== c.h.stat.mtimeNs && pending.params === headersDigest(c, pending.mtimeNs))
    return "the file's modification time changed since the interrupted multipart upload was created (the object's metadata records it): starting it again";
  return 'the interrupted multipart upload was created with other headers or metadata than this run sends (content type, metadata, storage class, ACL or another header): starting it again';
}

/** Uploads a lost answer may have left beside this one could not be looked for now: the next run does. */
class StraysNotLookedFor extends S3SyncError {
  constructor(key: string) {
    super(
      `could not look for multipart uploads a lost answer may have left at ${key}: tried again next run`,
      'file',
    );
  }
}

/**
 * A failure that may pass (network, throttling, 5xx, retries spent, the endpoint gone for now, strays
 * not looked for): the upload is worth keeping for the next run. Anything else (the file changed or
 * could not be read, a refusal, a bad part, the upload gone) would fail the same way again.
 */
const mayPass = (err: unknown) =>
  err instanceof StraysNotLookedFor ||
  (err instanceof S3SyncError &&
    (err.kind === 'file' || err.kind === 'fatal') &&
    err.cause !== undefined &&
    isRetryable(err.cause));

export class MultipartUpload {
  /**
   * Aborted by a part's body when the file changes under it, or by a part that failed for good: either
   * dooms the upload, so every part's request stops and no part still queued is sent.
   */
  private readonly transfer = new AbortController();
  private readonly src: Scanned;

  private constructor(
    private readonly c: Content,
    readonly uploadId: string,
    /** The parts on the server, by number: their ETags. */
    private readonly done: Map<number, string>,
  ) {
    this.src = readAs(c.job, c.h.stat);
  }

  /** The pending upload an earlier run left for exactly this content, with the parts known to be done. */
  static async resume(c: Content): Promise<MultipartUpload | undefined> {
    const { s, t, f, key } = c.job;
    const { h, ps } = c;
    const pending = s.store.pending[f.rel];
    if (!pending) return undefined;
    const same =
      pending.uploadId !== '' &&
      pending.md5 === h.md5 &&
      pending.size === h.size &&
      pending.partSize === ps &&
      pending.key === key;
    // Completing it would give the object the earlier run's ACL, storage class, metadata, headers.
    const sameHeaders = pending.params === headersDigest(c);
    if (!same || !sameHeaders) {
      if (same) s.notice(headersChanged(c, pending), f.rel);
      // Another content, or an upload whose creation was never answered: aborted (with any strays) first.
      await retirePending(s, t, f.rel);
      return undefined;
    }
    if (!(await sweepStrays(s, t, f.rel, pending))) throw new StraysNotLookedFor(key);
    const listed = await t.listParts({ key, uploadId: pending.uploadId });
    const partMd5s = h.partMd5s[ps]!;
    const done = new Map<number, string>();
    // Only parts whose ETag is the MD5 of the bytes we have now.
    const keep = (n: number, etag: string) => {
      if (etag === partMd5s[n - 1]?.toString('hex')) done.set(n, etag);
    };
    if (listed instanceof Map) {
      for (const [n, p] of listed) keep(n, p.etag);
    } else if (listed === 'unsupported') {
      // No ListParts here: the parts recorded in the manifest are the evidence; the ETag check after
      // Complete catches a server that lost one.
      for (const [n, etag] of Object.entries(pending.parts)) keep(Number(n), etag);
    }
    if (listed === 'gone') {
      s.notice('the interrupted multipart upload is gone on the server: starting it again', f.rel);
      s.store.endUpload(f.rel);
      return undefined;
    }
    // Nothing kept is no resume to speak of, as a pull that keeps no range says nothing.
    if (done.size > 0)
      s.notice(`resuming multipart upload: ${done.size}/${partMd5s.length} parts already uploaded`, f.rel);
    return new MultipartUpload(c, pending.uploadId, done);
  }

  /**
   * CreateMultipartUpload, recorded so that no upload it makes goes unaccounted for (see pending.ts): the
   * record is on disk before the request goes out, and with the id before the first part is sent.
   */
  static async start(c: Content): Promise<MultipartUpload> {
    const { s, t, f, key } = c.job;
    const { h, ps } = c;
    const rel = f.rel;
    const record: PendingUpload = {
      uploadId: '',
      key,
      size: h.size,
      mtimeNs: h.stat.mtimeNs,
      md5: h.md5,
      partSize: ps,
      parts: {},
      startedAt: new Date().toISOString(),
      params: headersDigest(c),
      create: { sentAt: Date.now() },
    };
    // Nothing is sent if this cannot be saved: nothing to look for later.
    s.store.beginUpload(rel, record);
    let attempts = 0;
    let uploadId: string;
    try {
      uploadId = await t.createMultipart({
        ...createInput(c),
        onAttempt: () => {
          attempts++;
        },
      });
    } catch (err) {
      s.store.createEnded(rel);
      // An attempt that failed may still have created an upload (its answer lost): looked for now, and
      // by the next run if the server cannot be asked now. A refusal (exit 2) created nothing.
      const fatal = err instanceof S3SyncError && isFatal(err);
      if (attempts === 0 || fatal || (await sweepStrays(s, t, rel, record).catch(() => false)))
        s.store.endUpload(rel);
      throw err;
    }
    // One attempt, one answer: no other upload can exist. More: settleStrays looks for them.
    try {
      s.store.uploadCreated(rel, uploadId, attempts > 1);
    } catch (err) {
      // Not on disk, so not sent a part: aborted while this run still knows its id.
      if ((await t.abortMultipart({ key, uploadId })) !== 'failed' && !record.create) s.store.endUpload(rel);
      throw err;
    }
    return new MultipartUpload(c, uploadId, new Map());
  }

  private partBytes(n: number): number {
    const { h, ps } = this.c;
    return Math.min(h.size, n * ps) - (n - 1) * ps;
  }

  /** Bytes of the parts already on the server. */
  get resumedBytes(): number {
    return [...this.done.keys()].reduce((sum, n) => sum + this.partBytes(n), 0);
  }

  /** The numbers of the parts still to send. */
  get todo(): number[] {
    return this.c.h.partMd5s[this.c.ps]!.map((_, i) => i + 1).filter((n) => !this.done.has(n));
  }

  /** A retried CreateMultipartUpload may have left uploads beside this one: aborted before any part. */
  async settleStrays(): Promise<void> {
    const { s, t, f, key } = this.c.job;
    if (!(await sweepStrays(s, t, f.rel, s.store.pending[f.rel]!))) throw new StraysNotLookedFor(key);
  }

  /** Sends part `n` from the file, with its Content-MD5, and records it as done. */
  async uploadPart(n: number): Promise<void> {
    const { s, t, f, key, progress } = this.c.job;
    const { ps } = this.c;
    // A part still queued when another run took the lock over is not sent.
    s.store.stopIfLockTaken();
    const start = (n - 1) * ps;
    const end = start + this.partBytes(n) - 1;
    const etag = await t.uploadPart({
      key,
      uploadId: this.uploadId,
      partNumber: n,
      body: () =>
        exactRange(this.src, start, end, this.transfer, countChunks(progress.attempt(n, end - start + 1))),
      size: end - start + 1,
      md5Base64: this.c.h.partMd5s[ps]![n - 1]!.toString('base64'),
      transfer: this.transfer.signal,
    });
    this.done.set(n, etag);
    s.store.partDone(f.rel, n, etag);
  }

  /** CompleteMultipartUpload, and the check of the object's ETag; the record goes. Returns the ETag. */
  async complete(): Promise<string> {
    const { s, t, f, key } = this.c.job;
    const { h, ps } = this.c;
    const expected = [h.multipart[ps]!, h.md5];
    const parts = [...this.done].sort((a, b) => a[0] - b[0]).map(([n, e]) => ({ n, etag: e }));
    let etag: string;
    try {
      etag = await t.completeMultipart({ key, uploadId: this.uploadId, parts });
    } catch (err) {
      // The server may have completed it and the answer been lost: then the retry says NoSuchUpload
      // (or 500). The object itself tells.
      const head = await t.head(key);
      if (!head || head.size !== h.size || !(head.metadata.md5 === h.md5 || expected.includes(head.etag)))
        throw err;
      etag = head.etag;
    }
    // RGW answers CompleteMultipartUpload with an empty ETag: the object's HEAD has the real one.
    if (!etag) etag = (await t.head(key))?.etag ?? '';
    // Where the ETag is no MD5 of the part MD5s (R2, B2, GCS) it can never match: each part's
    // Content-MD5 was checked by the server instead.
    if (t.provider.multipartEtagIsMd5OfParts) checkEtag(etag, expected);
    s.store.endUpload(f.rel);
    return etag;
  }

  /**
   * AbortMultipartUpload, so no orphaned parts are left to be billed. The record goes once nothing it
   * names can remain: an abort that failed, or strays not yet looked for, are the next run's to settle.
   */
  async abort(): Promise<void> {
    const { s, t, f, key } = this.c.job;
    s.store.abortTried(f.rel, (await t.abortMultipart({ key, uploadId: this.uploadId })) !== 'failed');
  }

  /**
   * Sends the parts still to send, then completes. A failure aborts, unless the run was cancelled or the
   * failure may pass: the upload is then kept for the next run to resume.
   */
  async send(): Promise<ManifestEntry> {
    const { s, progress } = this.c.job;
    const { h, ps } = this.c;
    progress.resumed(this.resumedBytes);
    // The parts in flight stop when another run takes the lock over: the upload is that run's now.
    const stopOnLoss = s.store.whenLockTaken((err) => {
      if (!this.transfer.signal.aborted) this.transfer.abort(err);
    });
    try {
      await this.settleStrays();
      // Parts share the transport's concurrency budget with every other transfer. allSettled: on a
      // failure, the other parts settle before the abort rather than race it.
      const failed = (
        await Promise.allSettled(
          this.todo.map((n) =>
            this.uploadPart(n).catch((err: unknown) => {
              // Retries are spent (or it cannot succeed, e.g. NoSuchUpload): this run cannot finish the
              // upload, so the parts still queued are not sent and those in flight stop, with this error.
              if (!this.transfer.signal.aborted) this.transfer.abort(err);
              throw err;
            }),
          ),
        )
      ).filter((r) => r.status === 'rejected');
      // Kept only if every part failed for a reason that may pass: one final failure dooms the upload.
      if (failed.length > 0) {
        throw (failed.find((r) => !mayPass(r.reason)) ?? failed[0]!).reason;
      }
      await assertUnchanged(this.src);
      const etag = await this.complete();
      progress.finish();
      return manifestEntry(h.stat, { md5: h.md5, etag, partSize: ps });
    } catch (err) {
      // Cancelled (Ctrl-C): the upload stays pending with its completed parts, saved with the manifest,
      // for the next run to resume, as after a kill.
      if (s.opts.signal?.aborted) throw err;
      // Another run took the lock over: it read this upload's record and may be resuming it. The run
      // stops with that, not with what it made this upload fail.
      s.store.stopIfLockTaken();
      // An outage or throttling outlasting the retries: the parts sent stay for the next run to resume,
      // as after a kill, rather than be sent again. A failure that would recur aborts.
      if (mayPass(err)) {
        s.notice(
          `multipart upload kept with ${this.done.size}/${this.c.h.partMd5s[ps]!.length} parts uploaded: the next run resumes it (if this folder is abandoned, 's3sync cleanup' or a lifecycle rule removes it)`,
          this.c.job.f.rel,
        );
        throw err;
      }
      await this.abort();
      throw err;
    } finally {
      stopOnLoss();
    }
  }
}

/**
 * A file at or above the multipart threshold: hashed at its part size, then the upload an earlier run
 * left for this content resumed, or a new one started.
 */
export async function uploadMultipart(job: UploadJob): Promise<ManifestEntry> {
  const { s, t, f, cfg, progress } = job;
  const ps = choosePartSize(f.size, cfg.partSize, t.provider);
  const h = await hashOf(job, [ps]);
  if (!h.stable || h.size !== f.size) throw new FileChangedError();
  const c: Content = { job, h, ps };
  const resumed = await MultipartUpload.resume(c);
  try {
    return await (resumed ?? (await MultipartUpload.start(c))).send();
  } catch (err) {
    // The resumed upload vanished under us (aborted by cleanup, expired): start over, once.
    if (!resumed || errorCode(err instanceof S3SyncError ? err.cause : err) !== 'NoSuchUpload') throw err;
    s.notice('the interrupted multipart upload is gone on the server: starting it again', f.rel);
    // The parts counted as already there are not.
    progress.fail();
    return await (await MultipartUpload.start(c)).send();
  }
}
