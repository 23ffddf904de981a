import type { S3Client } from '@aws-sdk/client-s3';
import type { HeaderRule } from '../options/header-rules.js';
import type { ConnectionOptions } from '../s3/client-options.js';
import type { UploadSettings } from '../s3/transport.js';
import type { CheckEvent } from './check.js';
import type { SyncEvent } from './events.js';
import type { ObjectParamsFn } from './object-style.js';

export interface FilterFlags {
  /** --include GLOB (repeatable): include overrides exclude. */
  include?: string[];
  /** --exclude GLOB (repeatable). */
  exclude?: string[];
  /** --exclude-from FILE: one glob per line. */
  excludeFrom?: string[];
  /** --files-from FILE (repeatable, the lists add up): only these paths, one per line ('-': stdin). */
  filesFrom?: string | string[];
  /** --files-from0 FILE: as filesFrom, NUL-separated. */
  filesFrom0?: string | string[];
  /** Only files of at least this size: '1k', or bytes. */
  minSize?: number | string;
  /** Only files of at most this size: '100M', or bytes. */
  maxSize?: number | string;
  /** Only files modified at least this long ago ('1h', milliseconds) or at or before a time ('2026-11-01'). */
  minAge?: number | string;
  /** Only files modified at most this long ago ('7d', milliseconds) or at or after a time. */
  maxAge?: number | string;
}

export interface CommonOptions extends ConnectionOptions, FilterFlags {
  /** Manifest file (default: DIR/.s3sync/manifest-<bucket>-<id>.json). */
  manifest?: string;
  /**
   * Only the paths whose rel hashes to shard I of N: 'I/N', I counting from 0 (see src/shard.ts). The
   * shard has its own manifest and lock; --delete deletes only its paths.
   */
  shard?: string;
  /** As `shard`, I read from JOB_COMPLETION_INDEX (Kubernetes) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch). */
  shards?: number;
  /** Wait for another run on the same destination instead of failing. */
  waitLock?: boolean;
  /** Print what would happen, change nothing. */
  dryRun?: boolean;
  /**
   * Bytes per second across all transfers (push, pull, apply): '10MiB', a number, 'UP:DOWN' such as
   * '10MiB:1MiB', or 'off'. Default: no limit.
   */
  bwlimit?: number | string;
  followSymlinks?: boolean;
  /** Delete destination files that have no source file (after all transfers succeeded). */
  delete?: boolean;
  /** Also delete destination files excluded by the filters. */
  deleteExcluded?: boolean;
  /** Refuse to delete more than this: a count (10) or a share of the destination ('25%'). Default '50%'. */
  maxDelete?: number | string;
  /** Override the --max-delete guard. */
  force?: boolean;
  /**
   * Progress and per-file events. One that throws (or rejects) stops the run as `signal` does, and the
   * call rejects with what it threw.
   */
  onEvent?: (e: SyncEvent) => void;
  /**
   * Cancels the run: no new transfer starts, those in flight stop, a multipart upload in progress is
   * kept (with its completed parts) for the next run to resume, the manifest is saved and the summary
   * event emitted (`cancelled: true`); the call then rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Use this client instead of building one from the connection options. */
  client?: S3Client;
}

export interface PushOptions extends CommonOptions, UploadSettings {
  /** Local directory to upload. */
  source: string;
  /** s3://bucket/prefix */
  destination: string;
  /** false = upload every file (--no-incremental). Default true. */
  incremental?: boolean;
  /** Also list the remote and re-upload objects that are missing or differ (remote drift). */
  verify?: boolean;
  /**
   * List the destination (and repair drift as `verify` does) when its last complete listing is older
   * than this: a duration such as '24h', '30m', '1s', '2d', 'never', or milliseconds. Default '24h'.
   */
  verifyInterval?: string | number;
  /** Files at or above this size go multipart: '64MiB', or bytes. Default 128 MiB. */
  multipartThreshold?: number | string;
  /** Multipart part size: '16MiB', or bytes. Default 16 MiB, raised to keep within 10,000 parts. */
  partSize?: number | string;
  /** Create a file from an object of the same size and MD5 under another key by a server-side copy. Default true. */
  trackRenames?: boolean;
  /** s3://bucket/prefix on the same endpoint: each object overwritten or deleted is copied there first. */
  backupDir?: string;
  /** Appended to the keys under `backupDir`. */
  suffix?: string;
  /** Per-pattern object headers: the first rule whose glob matches a file wins over cacheControl etc. */
  headers?: HeaderRule[];
  /** Globs of files stored gzip-compressed, with Content-Encoding: gzip. */
  compress?: string[];
  /** PutObject / CreateMultipartUpload fields the options do not name, per file (e.g. ContentLanguage). */
  objectParams?: ObjectParamsFn;
  /** Keep running: sync, then upload what changes until `signal` aborts (see src/watch/). */
  watch?: boolean;
  /** With `watch`: how long a file's size and mtime must stay the same before it is sent. Default '2s'. */
  settle?: string | number;
  /**
   * With `watch`: a file that has kept changing this long is sent all the same (its read must still
   * find it unchanged from start to end). Default 'never'.
   */
  settleMax?: string | number;
  /** With `watch`: how often the whole tree is walked to catch missed events. Default '5m'. */
  reconcileEvery?: string | number;
}

export interface PullOptions extends CommonOptions {
  /** s3://bucket/prefix */
  source: string;
  /** Local directory to write into (created if missing). */
  destination: string;
  /** false = download every object (--no-incremental). Default true. */
  incremental?: boolean;
  /** Objects at or above this size are fetched as parallel ranges: '64MiB', or bytes. Default 128 MiB. */
  multipartThreshold?: number | string;
  /** Range size for those objects: '16MiB', or bytes. Default 16 MiB. */
  partSize?: number | string;
  /**
   * Blocks of a downloaded file that hold only zeros are not written: the file system leaves holes
   * there (--sparse). The content is the same; the file takes less disk. Default false.
   */
  sparse?: boolean;
  /** A local directory outside the target: each file replaced or deleted is moved there first. */
  backupDir?: string;
  /** Appended to the names under `backupDir`. */
  suffix?: string;
  /**
   * The prefix as it was at this time, from a versioned bucket: an ISO 8601 date or time, or a duration
   * back from now ('2d'). See src/sync/at-time.ts.
   */
  at?: string;
}

export interface CheckOptions extends Omit<CommonOptions, 'onEvent'> {
  /** Local directory. */
  local: string;
  /** s3://bucket/prefix */
  remote: string;
  /** Re-hash every local file instead of trusting unchanged stat data. */
  full?: boolean;
  /**
   * The prefix as it was at this time, from a versioned bucket: an ISO 8601 date or time, or a duration
   * back from now ('2d'). See src/sync/at-time.ts.
   */
  at?: string;
  /** Progress and per-file events, each difference found, and the final 'check-summary'. */
  onEvent?: (e: CheckEvent) => void;
}
