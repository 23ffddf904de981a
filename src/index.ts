/**
 * s3sync's public API: the CLI is a thin layer over exactly these functions.
 *
 *   import { push, pull, check, plan, apply } from 's3sync';
 */

import { snapshotOptions } from './options/snapshot.js';
import { namedByClient } from './s3/client.js';
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
export { PROVIDERS, type ProviderName, type ProviderQuirks } from './s3/providers.js';
export type { CheckEvent, CheckResult } from './sync/check.js';
export type { CleanupOptions, CleanupResult } from './sync/cleanup.js';
export type { FileError, SyncEvent, SyncOutcome, SyncResult } from './sync/events.js';
export type { CheckOptions, CommonOptions, FilterFlags, PullOptions, PushOptions } from './sync/options.js';
export type { PlanDocument, PlannedAction, PlanOptions } from './sync/plan-file.js';
export type { BucketPlanDocument, BucketPlannedAction, BucketPlanOptions } from './sync/plan-s3.js';
export type { S3SyncOptions } from './sync/s3-to-s3.js';
export type { ObjectVersion, VersionsOptions, VersionsResult } from './sync/versions.js';

/**
 * A library call: its options read once into a plain copy, the only one validated and run with (an
 * inherited or getter value would otherwise reach the run unchecked); a caller's client names the store
 * it reaches (namedByClient), and its onEvent is guarded: a callback that throws stops the run and is
 * what the call rejects with.
 */
const entry = <F extends (opts: never) => Promise<unknown>>(fn: F): F => {
  const guarded = guardEvents(fn);
  return (async (opts: unknown) =>
    guarded((await namedByClient(snapshotOptions(opts))) as never)) as unknown as F;
};

export const push = entry(pushRun);
export const pull = entry(pullRun);
export const check = entry(checkRun);
const planGuarded = entry(makePlan);
// Written only once the guarded call resolved: a callback's late rejection leaves no plan file behind.
export const plan = (async (given: Parameters<typeof makePlan>[0]) => {
  // One copy for the run and the file it writes: the path saved to is the one validated.
  const opts = snapshotOptions(given);
  const doc = await planGuarded(opts);
  savePlan(opts, doc);
  return doc;
}) as typeof planRun;
export const apply = entry(applyRun);
export const syncBuckets = entry(syncBucketsRun);
export const cleanup = entry(cleanupRun);
export const versions = entry(versionsRun);
