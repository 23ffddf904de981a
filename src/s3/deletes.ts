import { S3SyncError } from '../errors.js';
import { errorCode, isFatal } from './errors.js';
import type { S3Requests } from './requests.js';
import { s3 } from './sdk.js';

/** Characters an XML 1.0 document cannot hold, even escaped. */
const XML_UNSAFE = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;
/**
 * Whitespace at either end of a key: a server whose XML parser trims text values (s3rver's does)
 * reads `tr ` as `tr` and deletes the object beside it.
 */
const EDGE_SPACE = /^[ \t\r\n]|[ \t\r\n]$/;
/** A key sent alone, in the URL, where any byte can be written. */
const oneByOne = (k: string) => XML_UNSAFE.test(k) || EDGE_SPACE.test(k);

/** What became of some keys of a deleteKeys call: those not in `failed` are deleted. */
export type DeletesSettled = (keys: readonly string[], failed: ReadonlyMap<string, string>) => void;

/**
 * DeleteObjects in batches of 1,000; returns the keys that failed with their error codes. `settled`
 * hears of each batch as it ends: a run stopped before the last one still counts what went.
 */
export async function deleteKeys(
  t: S3Requests,
  keys: string[],
  settled?: DeletesSettled,
): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  // A key XML 1.0 cannot carry (most C0 controls) makes a server reject the whole DeleteObjects
  // body, and one with whitespace at an end may be read trimmed: such keys go one by one.
  const inXml = keys.filter((k) => !oneByOne(k));
  for (const key of keys.filter(oneByOne)) {
    try {
      await t.call((request) =>
        t.send(new (s3().DeleteObjectCommand)({ Bucket: t.bucket, Key: key }), request),
      );
    } catch (err) {
      if (err instanceof S3SyncError && isFatal(err)) throw err;
      failed.set(key, errorCode(err instanceof S3SyncError ? err.cause : err) || 'unknown error');
    }
    settled?.([key], failed);
  }
  for (let i = 0; i < inXml.length; i += 1000) {
    const batch = inXml.slice(i, i + 1000);
    const r = await t.call((request) =>
      t.send(
        new (s3().DeleteObjectsCommand)({
          Bucket: t.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
        request,
      ),
    );
    for (const e of r.Errors ?? []) if (e.Key) failed.set(e.Key, e.Code ?? 'unknown error');
    settled?.(batch, failed);
  }
  return failed;
}
