/**
 * s3sync's public API: the CLI is a thin layer over exactly these functions.
 *
 *   import { push, pull, check, plan, apply } from 's3sync';
 */
export { type ErrorKind, S3SyncError } from './errors.js';
export type { ManifestData, ManifestEntry } from './manifest/schema.js';
export type { CheckDifference } from './plan/check.js';
export type { ConnectionOptions } from './s3/client-options.js';
export { PROVIDERS, type ProviderQuirks } from './s3/providers.js';
export { type CheckEvent, type CheckResult, check } from './sync/check.js';
export { type CleanupOptions, type CleanupResult, cleanup } from './sync/cleanup.js';
export type { FileError, SyncEvent, SyncOutcome, SyncResult } from './sync/events.js';
export type { CheckOptions, CommonOptions, FilterFlags, PullOptions, PushOptions } from './sync/options.js';
export { apply, type PlanDocument, type PlannedAction, type PlanOptions, plan } from './sync/plan-file.js';
export type { BucketPlanDocument, BucketPlannedAction, BucketPlanOptions } from './sync/plan-s3.js';
export { pull } from './sync/pull.js';
export { push } from './sync/push.js';
export { type S3SyncOptions, syncBuckets } from './sync/s3-to-s3.js';
export {
  type ObjectVersion,
  type VersionsOptions,
  type VersionsResult,
  versions,
} from './sync/versions.js';
