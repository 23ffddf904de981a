/**
 * An object copied between two stores through s3sync: read a part at a time and sent on, with bounded
 * memory (a run holds at most `budget` parts), and verified end to end: each part's Content-MD5 is
 * checked by the destination, and the bytes read against the source's MD5 (its ETag when it is one,
 * else its x-amz-meta-md5) before the object is
 * completed, so a destination never shows bytes that differ from the source's.
 */
import { createHash } from 'node:crypto';
import { runError } from '../errors.js';
import type { Limiter } from '../limiter.js';
import { type ObjectHeaders, sourceDeleted } from '../s3/copy.js';
import { headObject, partRanges } from '../s3/copy-check.js';
import { candidatePartSizes, choosePartSize, etagForm, type PartLimits, S3_PART_LIMITS } from '../s3/etag.js';
import { abortMultipart, completeMultipart, type StraysOutcome, uploadPart } from '../s3/multipart.js';
import { createMultipartWith, fetchBytes, putBytes } from '../s3/object-io.js';
import type { S3Requests } from '../s3/requests.js';

export interface StreamJob {
  src: S3Requests & { retries: number };
  dst: S3Requests;
  /** The destination store's part limits; S3's own when not given. */
  limits?: PartLimits;
  sourceKey: string;
  key: string;
  size: number;
  /** The source's ETag as listed. */
  etag: string;
  /** The source version to read (--at): every GET and HEAD names it. */
  versionId?: string;
  /** Objects above this (or above one part) go multipart. */
  multipartThreshold: number;
  partSize: number;
  /** Shared by the run's streamed copies: one slot per part held in memory. */
  budget: Limiter;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Told what became of uploads a CreateMultipartUpload without an answer may have left. */
  onStrays?: (r: StraysOutcome) => void;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/**
 * What the bytes read must hash to, as far as the source says: its ETag when that is an MD5, else
 * the MD5 s3sync stored with it. A multipart ETag is not checked: the part layout it was made with
 * cannot be known for sure, and each part's Content-MD5 is checked by the destination.
 */
function expectedOf(etag: string, meta: Record<string, string>): { whole?: string } {
  return { whole: etagForm(etag).kind === 'md5' ? etag : meta.md5?.toLowerCase() };
}

/** The bytes fetched are the object's, as far as its MD5 is known. */
function matches(got: { etag: string; headers: ObjectHeaders }, sum: Buffer): boolean {
  const expected = expectedOf(got.etag, got.headers.metadata).whole;
  return expected === undefined || expected === sum.toString('hex');
}

// The error line names the object (its rel) already.
const mismatch = (what: string) =>
  runError(`not copied: the bytes read from the source do not match its ${what}`);

/** A promise with its settle functions at hand (Node 20 has no Promise.withResolvers). */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Copies one object from `src` to `dst` through this process; returns the destination's ETag. */
export async function streamObject(job: StreamJob): Promise<string> {
  if (job.size < job.multipartThreshold && job.size <= job.partSize) return streamWhole(job);
  return streamParts(job);
}

/** One GET into memory, checked (fetched again, --retries times, while it does not match), one PUT. */
async function streamWhole(job: StreamJob): Promise<string> {
  return job.budget.run(async () => {
    let got = await fetchBytes(job.src, { key: job.sourceKey, versionId: job.versionId, signal: job.signal });
    let sum = md5(got.body);
    for (let retry = 0; !matches(got, sum); retry++) {
      if (retry >= job.src.retries) throw mismatch('MD5');
      got = await fetchBytes(job.src, { key: job.sourceKey, versionId: job.versionId, signal: job.signal });
      sum = md5(got.body);
    }
    const etag = await putBytes(job.dst, {
      key: job.key,
      body: got.body,
      md5Base64: sum.toString('base64'),
      headers: got.headers,
      signal: job.signal,
    });
    job.onBytes?.(got.body.length);
    return etag;
  }, job.signal);
}

/** The part size: the source's own layout when its ETag tells one that fits, so the ETags compare. */
function partSizeFor(job: StreamJob): number {
  const form = etagForm(job.etag);
  const limits = job.limits ?? S3_PART_LIMITS;
  const layout =
    form.kind === 'multipart'
      ? candidatePartSizes(job.size, form.parts).find(
          (ps) => ps >= limits.minPartSize && ps <= limits.maxPartSize && ps <= 4 * job.partSize,
        )
      : undefined;
  return layout ?? choosePartSize(job.size, job.partSize, limits);
}

/**
 * A multipart upload fed by ranged GETs of one source version (If-Match), each part hashed in order
 * for the whole MD5, which is checked before Complete; any failure aborts the upload.
 */
async function streamParts(job: StreamJob): Promise<string> {
  const head = await headObject(job.src, {
    bucket: job.src.bucket,
    key: job.sourceKey,
    versionId: job.versionId,
    signal: job.signal,
  });
  if (!head) throw sourceDeleted();
  const headers: ObjectHeaders = { ...head, storageClass: undefined };
  const ps = partSizeFor({ ...job, etag: head.etag });
  const uploadId = await createMultipartWith(job.dst, {
    key: job.key,
    headers,
    signal: job.signal,
    onStrays: job.onStrays,
  });
  const whole = createHash('md5');
  // A part that fails dooms the upload: the parts still queued are not fetched nor sent.
  const doomed = new AbortController();
  const signal = job.signal ? AbortSignal.any([job.signal, doomed.signal]) : doomed.signal;
  try {
    const ranges = partRanges(head.size, ps);
    // Part n is hashed once part n - 1 is (or fails with it): the whole MD5 is of the bytes in order.
    const hashed = ranges.map(() => deferred());
    for (const h of hashed) h.promise.catch(() => {});
    const settled = await Promise.allSettled(
      ranges.map(({ n, start, end }) =>
        job.budget
          .run(async () => {
            signal.throwIfAborted();
            const mine = hashed[n - 1]!;
            let got: Awaited<ReturnType<typeof fetchBytes>>;
            try {
              got = await fetchBytes(job.src, {
                key: job.sourceKey,
                versionId: job.versionId,
                range: { start, end },
                ifMatch: head.etag,
                signal,
              });
              // Part n - 1 took its slot before this one: it is hashed, or failing, without waiting on it.
              if (n > 1) await hashed[n - 2]!.promise;
              whole.update(got.body);
              mine.resolve();
            } catch (err) {
              mine.reject(err);
              throw err;
            }
            const sum = md5(got.body);
            const etag = await uploadPart(job.dst, {
              key: job.key,
              uploadId,
              partNumber: n,
              body: () => got.body,
              size: got.body.length,
              md5Base64: sum.toString('base64'),
              transfer: signal,
            });
            job.onBytes?.(got.body.length);
            return { n, etag };
          }, signal)
          .catch((err: unknown) => {
            // Dropped before it ran: the next part must not wait on its hash (a settled one stays so).
            hashed[n - 1]!.reject(err);
            if (!doomed.signal.aborted) doomed.abort(err);
            throw err;
          }),
      ),
    );
    // The first failure, not a part stopped because of it; a cancellation says it was cancelled.
    if (doomed.signal.aborted) throw job.signal?.aborted ? job.signal.reason : doomed.signal.reason;
    const expected = expectedOf(head.etag, head.metadata);
    if (expected.whole !== undefined && expected.whole !== whole.digest('hex')) throw mismatch('MD5');
    const parts = settled.map((r) => (r as PromiseFulfilledResult<{ n: number; etag: string }>).value);
    return await completeMultipart(job.dst, { key: job.key, uploadId, parts });
  } catch (err) {
    await abortMultipart(job.dst, { key: job.key, uploadId });
    throw err;
  }
}
