/**
 * No multipart upload s3sync starts is ever lost track of. Its record in the manifest's `pending` is
 * on disk before CreateMultipartUpload is sent (uploadId '') and again, with the id, before the first
 * part; it is removed only once nothing it may name can remain on the server: the upload completed,
 * or aborted, or the server refuses to say or do more (s3rver has neither ListMultipartUploads nor
 * AbortMultipartUpload). A record a run could not settle stays for the next run, which settles it
 * before anything else touches its key: resumed when the file is still the same, aborted otherwise
 * (the file changed, was deleted, is now excluded, or goes by single PUT now).
 *
 * S3 records no owner on an upload, so "s3sync started it" is decided by key and time. An upload is
 * s3sync's stray when all of these hold:
 * - its key is exactly the record's key;
 * - it was initiated between the first CreateMultipartUpload request of the record (`create.sentAt`)
 *   and the last answer or failure of that call (`create.endedAt`), or, when the run died without
 *   seeing one, the moment of the sweep: this run holds the destination's lock, and it sweeps a key
 *   before it sends a CreateMultipartUpload of its own there. The times are this machine's, moved onto
 *   the server's clock by the offset its Date header bounds (within 1 s), widened by 1 s for servers
 *   that round Initiated to the second;
 * - its id is not one a pending record keeps.
 * Only a CreateMultipartUpload that needed more than one attempt, or did not finish, can leave one:
 * the sweep is made then, and never on the usual path (a no-change run still makes no request).
 */
import { errorMessage, runError, S3SyncError } from '../errors.js';
import type { PendingUpload } from '../manifest/schema.js';
import { isFatal } from '../s3/errors.js';
import { madeIn } from '../s3/multipart.js';
import type { S3Transport } from '../s3/transport.js';
import type { RunContext } from './run-context.js';

const short = (id: string) => `${id.slice(0, 12)}…`;

/**
 * Aborts the uploads a failed or retried CreateMultipartUpload may have left at the record's key
 * (see the rule above). True when the key is settled (`create` is then cleared); false when the
 * server could not be asked now: the record keeps `create` for a later sweep.
 */
export async function sweepStrays(
  s: RunContext,
  t: S3Transport,
  rel: string,
  rec: Readonly<PendingUpload>,
): Promise<boolean> {
  const window = rec.create;
  if (!window) return true;
  const found = await t.uploadsAt(rec.key).catch((err: unknown) => {
    if (err instanceof S3SyncError && isFatal(err)) throw err;
    s.warn(`could not look for multipart uploads left at ${rec.key}: ${errorMessage(err)}`, rel);
    return undefined;
  });
  if (found === undefined) return false;
  if (found === 'refused') {
    s.notice(
      `the server cannot list multipart uploads here: an upload a lost CreateMultipartUpload answer may ` +
        `have left at ${rec.key} cannot be looked for (a lifecycle rule or 's3sync cleanup' elsewhere can)`,
      rel,
    );
  } else {
    const kept = new Set(Object.values(s.store.pending).map((p) => p.uploadId));
    let settled = true;
    for (const u of madeIn(found, window, kept, Date.now())) {
      const outcome = await t.abortMultipart(u);
      if (outcome === 'failed') settled = false;
      else if (outcome === 'aborted')
        s.notice(
          `aborted multipart upload ${short(u.uploadId)} left at ${u.key} by a lost answer or a killed run`,
          rel,
        );
    }
    if (!settled) return false;
  }
  s.store.straysSettled(rel);
  return true;
}

/**
 * Settles a record that is not to be resumed: aborts its upload and the strays of its creation, then
 * forgets it. Throws (exit 1 for the file) when that cannot be done now; the record stays for the next run.
 */
export async function retirePending(s: RunContext, t: S3Transport, rel: string): Promise<void> {
  const rec = s.store.pending[rel];
  if (!rec) return;
  if (rec.uploadId) {
    const outcome = await t.abortMultipart(rec);
    if (outcome === 'failed')
      throw runError(
        `could not abort the multipart upload ${short(rec.uploadId)} an earlier run left at ${rec.key}`,
      );
    if (outcome === 'refused')
      s.notice(
        `the server does not allow aborting the multipart upload ${short(rec.uploadId)} left at ${rec.key}`,
        rel,
      );
    else if (outcome === 'aborted')
      s.notice(`aborted the multipart upload an earlier run left at ${rec.key}`, rel);
    s.store.abortTried(rel, true);
  }
  if (!(await sweepStrays(s, t, rel, rec)))
    throw runError(`could not look for multipart uploads left at ${rec.key}: tried again next run`);
  s.store.endUpload(rel);
}

/**
 * At the start of a run that holds the lock: settles every record this run will not resume, so an
 * upload left for a file that is gone, excluded or different is aborted now, not whenever that file is
 * uploaded again. A record that cannot be settled is a file error (the run then exits 1).
 */
export async function retireStalePending(
  s: RunContext,
  resumable: (rel: string, rec: Readonly<PendingUpload>) => boolean,
): Promise<void> {
  const stale = Object.entries(s.store.pending).filter(([rel, rec]) => !resumable(rel, rec));
  if (stale.length === 0) return;
  const t = await s.s3();
  for (const [rel] of stale) {
    try {
      await retirePending(s, t, rel);
    } catch (err) {
      if (err instanceof S3SyncError && isFatal(err)) throw err;
      s.fileError(rel, errorMessage(err));
    }
  }
}
