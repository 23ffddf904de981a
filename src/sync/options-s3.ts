import type { CommonOptions } from './options.js';

/** `syncBuckets`: an S3 → S3 sync, from s3://bucket/prefix to s3://bucket/prefix. */
export interface S3SyncOptions extends Omit<CommonOptions, 'manifest' | 'waitLock' | 'followSymlinks'> {
  /** s3://bucket/prefix to copy from. */
  source: string;
  /** s3://bucket/prefix to copy to (the connection options reach it). */
  destination: string;
  /** false = copy every object (--no-incremental). Default true. */
  incremental?: boolean;
  /** Objects above this size are copied in parts: '64MiB', or bytes. Default 128 MiB. */
  multipartThreshold?: number | string;
  /** Part size of those copies: '16MiB', or bytes. Default 16 MiB. */
  partSize?: number | string;
  /** The source's endpoint, when it is another store than the destination. */
  sourceEndpointUrl?: string;
  sourceRegion?: string;
  /** AWS profile whose credentials (and endpoint and region) reach the source. */
  sourceProfile?: string;
  sourceProvider?: string;
  /**
   * Make the destination like the source prefix as it was at this time (a versioned source bucket):
   * an ISO 8601 date or time, or a duration ago ('2d'). See src/sync/at-time.ts.
   */
  at?: string;
  /**
   * s3://bucket/prefix on the destination's store: each destination object the sync overwrites or
   * deletes is first copied there (at its rel, plus `suffix`). See src/sync/backup.ts.
   */
  backupDir?: string;
  /** Appended to the keys under `backupDir`. */
  suffix?: string;
  /** Static credentials for the source; default: the destination's, or the source profile's. */
  sourceCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}
