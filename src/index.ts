/**
 * s3sync's public API: the CLI is a thin layer over exactly these functions.
 *
 *   import { push, pull, check, plan, apply } from 's3sync';
 */
import { check as checkRun } from './sync/check.js';
import { cleanup as cleanupRun } from './sync/cleanup.js';
import { guardEvents } from './sync/guard-events.js';
import { apply as applyRun, makePlan, type plan as planRun, savePlan } from './sync/plan-file.js';
import { pull as pullRun } from './sync/pull.js';
import { push as pushRun } from './sync/push.js';
import { syncBuckets as syncBucketsRun } from './sync/s3-to-s3.js';
import { versions as versionsRun } from './sync/versions.js';

export { type ErrorKind, S3SyncError } from './errors.js';
export type { ManifestData, ManifestEntry } from './manifest/schema.js';
export type { CheckDifference } from './plan/check.js';
export type { ConnectionOptions } from './s3/client-options.js';
export { PROVIDERS, type ProviderQuirks } from './s3/providers.js';
export type { CheckEvent, CheckResult } from './sync/check.js';
export type { CleanupOptions, CleanupResult } from './sync/cleanup.js';
export type { FileError, SyncEvent, SyncOutcome, SyncResult } from './sync/events.js';
export type { CheckOptions, CommonOptions, FilterFlags, PullOptions, PushOptions } from './sync/options.js';
export type { PlanDocument, PlannedAction, PlanOptions } from './sync/plan-file.js';
export type { BucketPlanDocument, BucketPlannedAction, BucketPlanOptions } from './sync/plan-s3.js';
export type { S3SyncOptions } from './sync/s3-to-s3.js';
export type { ObjectVersion, VersionsOptions, VersionsResult } from './sync/versions.js';

// Each call's onEvent guarded: a callback that throws stops the run and is what the call rejects with.
export const push = guardEvents(pushRun);
export const pull = guardEvents(pullRun);
export const check = guardEvents(checkRun);
const planGuarded = guardEvents(makePlan);
// Written only once the guarded call resolved: a callback's late rejection leaves no plan file behind.
export const plan = (async (opts: Parameters<typeof makePlan>[0]) => {
  const doc = await planGuarded(opts);
  savePlan(opts, doc);
  return doc;
}) as typeof planRun;
export const apply = guardEvents(applyRun);
export const syncBuckets = guardEvents(syncBucketsRun);
export const cleanup = guardEvents(cleanupRun);
export const versions = guardEvents(versionsRun);
