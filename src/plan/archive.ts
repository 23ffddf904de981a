import type { RemoteObject } from '../s3/remote-object.js';

/**
 * Storage classes whose objects cannot be read until restored. GLACIER_IR (Instant Retrieval) and
 * the Intelligent-Tiering access tiers the listing cannot see are read like any object.
 */
export const ARCHIVED_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** The listing says the object sits in an archive tier: a GET fails until it is restored. */
export const isArchived = (r: Pick<RemoteObject, 'storageClass'>) =>
  r.storageClass !== undefined && ARCHIVED_CLASSES.has(r.storageClass);

/** A HEAD's x-amz-restore says a restored copy is readable now (the restore finished, not expired). */
export const restoreDone = (restore: string | undefined) =>
  restore !== undefined && /ongoing-request="false"/.test(restore);

/** The one line a skipped archived object gets. */
export const archivedMessage = (r: Pick<RemoteObject, 'storageClass'>) =>
  `in ${r.storageClass}: not readable until restored (restore it, then run again)`;
