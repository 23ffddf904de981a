/**
 * What an S3 → S3 sync needs around its plan: the two locations and transports, the filters, events
 * and the result. No manifest: both sides are listed on every run (see docs/notes/s.md).
 */
import { monotonicNow } from '../clock.js';
import { usageError } from '../errors.js';
import { createFilter, type PathFilter } from '../local/filters.js';
import { shown } from '../options/parse.js';
import { setting } from '../options/validate.js';
import { readAwsProfile } from '../s3/aws-config.js';
import {
  type ConnectionOptions,
  type Env,
  endpointFor,
  OPTION_ORIGINS,
  profileEndpoint,
} from '../s3/client-options.js';
import { connectionNotices } from '../s3/connection-notices.js';
import { bucketNamespace } from '../s3/endpoint-url.js';
import type { RemoteObject } from '../s3/remote-object.js';
import type { S3Transport } from '../s3/transport.js';
import { parseS3Url, type S3Location, writableS3Url } from '../s3/url.js';
import { type BackupTarget, s3BackupTarget } from './backup.js';
import { emptyResult, outcomeOf, type SyncResult, stoppedBy } from './events.js';
import type { S3SyncOptions } from './options-s3.js';

/**
 * The source's connection: the destination's, with each --source-* option in place of its own. Its
 * endpoint: --source-endpoint-url, else the one --source-profile's profile names (its services
 * section or endpoint_url: that store's address), else the destination's, however that was set.
 */
export function sourceConnection(opts: S3SyncOptions, env: Env = process.env): ConnectionOptions {
  const origins = opts[OPTION_ORIGINS];
  const own = sourceEndpoint(opts, env);
  const endpoint = own ?? destinationEndpoint(opts, env);
  return {
    ...opts,
    endpointUrl: endpoint?.url,
    // Messages about the source's endpoint name where it was set.
    [OPTION_ORIGINS]: {
      endpointUrl: endpoint?.where,
      profile:
        opts.sourceProfile !== undefined ? (origins?.sourceProfile ?? '--source-profile') : origins?.profile,
      region:
        opts.sourceRegion !== undefined ? (origins?.sourceRegion ?? '--source-region') : origins?.region,
    },
    region: opts.sourceRegion ?? opts.region,
    profile: opts.sourceProfile ?? opts.profile,
    provider: opts.sourceProvider ?? (own ? undefined : opts.provider),
    // A source profile signs with its own credentials, not the destination's.
    credentials: opts.sourceCredentials ?? (opts.sourceProfile ? undefined : opts.credentials),
  };
}

type EndpointGiven = { url: string; where: string | undefined };

/** The source's own endpoint: --source-endpoint-url, else the one its profile names; else undefined. */
function sourceEndpoint(opts: S3SyncOptions, env: Env): EndpointGiven | undefined {
  const origins = opts[OPTION_ORIGINS];
  if (opts.sourceEndpointUrl !== undefined)
    return { url: opts.sourceEndpointUrl, where: origins?.sourceEndpointUrl ?? '--source-endpoint-url' };
  if (opts.sourceProfile === undefined) return undefined;
  // An unknown profile is refused by endpointFor, naming --source-profile.
  const found = profileEndpoint(env, readAwsProfile(opts.sourceProfile, env));
  return found && { url: found.raw, where: found.where };
}

/**
 * The destination's endpoint as the source's, where resolving the source's options would not find it
 * again: one set in the destination's profile, which the source's profile is not. Undefined: the
 * source resolves it as the destination does (the environment's, a provider's template, AWS's for
 * its own region).
 */
function destinationEndpoint(opts: S3SyncOptions, env: Env): EndpointGiven | undefined {
  if (opts.endpointUrl !== undefined)
    return { url: opts.endpointUrl, where: opts[OPTION_ORIGINS]?.endpointUrl };
  if (opts.sourceProfile === undefined) return undefined;
  const dst = endpointFor(opts, env);
  const configured = dst.source !== 'AWS regional endpoint' && dst.source !== 'provider template';
  return configured ? { url: dst.id, where: dst.where } : undefined;
}

/** One store and one set of credentials on both sides: copies can stay inside the store. */
export function sameStore(opts: S3SyncOptions): boolean {
  const src = sourceConnection(opts);
  if (src.credentials !== opts.credentials || src.profile !== opts.profile) return false;
  return endpointFor(src).id === endpointFor(opts).id && src.region === opts.region;
}

/**
 * Whether the two sides may be one store, whatever credentials, region or name reach it: the same
 * endpoint, AWS on both (one namespace of buckets), or two names of this machine on one port.
 * Overlaps are refused then: other credentials for the same bucket would still copy into, and delete
 * from, what the sync reads.
 */
function mayBeOneStore(opts: S3SyncOptions): boolean {
  const [src, dst] = [endpointFor(sourceConnection(opts)), endpointFor(opts)];
  return bucketNamespace(src.id) === bucketNamespace(dst.id);
}

/** Two prefixes of one bucket where one holds the other: a sync would read what it writes. */
function overlaps(a: S3Location, b: S3Location): boolean {
  return a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
}

/**
 * The two locations of an S3 → S3 sync and its backup location, checked without a request: on what may
 * be one store, neither end may hold the other, nor the backup lie in the source. `backupName`: how
 * errors name opts.backupDir (an applied plan's is not a flag).
 */
export function pairTargets(
  opts: S3SyncOptions,
  backupName = 'backupDir (--backup-dir)',
): { from: S3Location; to: S3Location; backup?: BackupTarget } {
  // A library caller's value may be anything: a list or a Symbol would be read as its text, or throw.
  for (const end of ['source', 'destination'] as const)
    if (typeof opts[end] !== 'string')
      throw usageError(`${end} must be an s3://bucket/prefix URL, got ${shown(opts[end])}`);
  const from = parseS3Url(opts.source);
  const to = writableS3Url(opts.destination, 'the destination');
  const oneStore = sameStore(opts) || mayBeOneStore(opts);
  if (oneStore && overlaps(from, to))
    throw usageError(
      `the source ${opts.source} and the destination ${opts.destination} overlap: a sync would copy into what it reads`,
    );
  if (opts.backupDir === undefined) return { from, to };
  const backup = s3BackupTarget(opts.backupDir, opts.suffix, to, backupName);
  // Kept objects written into the source would overwrite it, or be synced back by the next run.
  if (oneStore && overlaps(from, { bucket: backup.bucket, prefix: backup.prefix }))
    throw usageError(
      `${backupName} ${opts.backupDir} overlaps the source ${opts.source}: choose a prefix outside it`,
    );
  return { from, to, backup };
}

export class S3PairRun {
  /** Durations on a clock a step of the wall clock does not move. */
  private readonly started = monotonicNow();
  readonly result: SyncResult = emptyResult('sync', false);
  readonly from: S3Location;
  readonly to: S3Location;
  readonly same: boolean;
  /** --backup-dir, checked: where a destination object goes before it is overwritten or deleted. */
  readonly backup?: BackupTarget;
  /** The destination's objects as listed: what --backup-dir keeps is read from them. */
  destinationObjects = new Map<string, RemoteObject>();
  private rules?: PathFilter;
  private transports: S3Transport[] = [];

  /** `backupName`: how errors name opts.backupDir (an applied plan's is not a flag). */
  constructor(
    readonly opts: S3SyncOptions,
    backupName = 'backupDir (--backup-dir)',
  ) {
    this.result.dryRun = !!opts.dryRun;
    this.same = sameStore(opts);
    // Each once: the source's too when it is set apart from the destination's (else they are the same).
    const srcConn = sourceConnection(opts);
    const notices = [
      ...connectionNotices(endpointFor(srcConn), srcConn, process.env, 'source connection'),
      ...connectionNotices(endpointFor(opts), opts, process.env, 'destination connection'),
    ];
    for (const n of new Map(notices.map((n) => [n.message, n])).values()) this.emit({ type: 'notice', ...n });
    ({ from: this.from, to: this.to, backup: this.backup } = pairTargets(opts, backupName));
  }

  async filter(): Promise<PathFilter> {
    const { include, exclude, excludeFrom } = this.opts;
    // Keys named like s3sync's local state (`.s3sync/`) are copied as any others: no state lives there.
    this.rules ??= await createFilter({ include, exclude, excludeFrom, noInternal: true });
    return this.rules;
  }

  emit(e: Parameters<NonNullable<S3SyncOptions['onEvent']>>[0]): void {
    this.opts.onEvent?.(e);
  }

  notice(message: string, rel?: string) {
    this.emit({ type: 'notice', message, rel });
  }

  fileError(rel: string, message: string) {
    this.result.errors.push({ rel, message });
    this.result.failed++;
    this.emit({ type: 'error', rel, message: `${rel}: ${message}` });
  }

  /** The two transports: the source's, and the destination's (one client when the store is one). */
  async connect(): Promise<{ src: S3Transport; dst: S3Transport }> {
    const { S3Transport } = await import('../s3/transport.js');
    const { RateLimits } = await import('../s3/rate-limit.js');
    const opts = {
      workers: setting(this.opts, 'workers'),
      signal: this.opts.signal,
      // One budget for the run, as push and pull have: a bucket each let one store see twice --tpslimit.
      limits: new RateLimits(this.opts),
    };
    const dst = await S3Transport.connect(this.opts, this.to.bucket, opts, {}, this.opts.client);
    // Closed with the run from now on, also when the source's connection is refused.
    this.transports = [dst];
    const src = await S3Transport.connect(
      sourceConnection(this.opts),
      this.from.bucket,
      opts,
      {},
      this.same ? this.opts.client : undefined,
    );
    this.transports = [src, dst];
    return { src, dst };
  }

  /** Runs the body; always ends with the summary, its requests those of both stores. */
  async run(body: () => Promise<void>): Promise<SyncResult> {
    let error: { error: unknown } | undefined;
    try {
      await body();
    } catch (err) {
      error = { error: err };
    }
    const r = this.result;
    for (const t of this.transports) {
      for (const [name, n] of Object.entries(t.counter.counts))
        r.requests[name] = (r.requests[name] ?? 0) + n;
      r.requestsTotal += t.counter.total;
      // The body has ended: a request still out is one nobody awaits.
      t.close();
    }
    r.elapsedMs = monotonicNow() - this.started;
    r.cancelled = this.opts.signal?.aborted === true;
    if (error && !r.cancelled) stoppedBy(r, error.error);
    else r.outcome = outcomeOf(r);
    this.emit({ type: 'summary', ...r });
    // Cancelled, it rejects with the reason, also when nothing it awaited was interrupted (a dry run).
    if (r.cancelled) throw this.opts.signal!.reason;
    if (error) throw error.error;
    return r;
  }
}
