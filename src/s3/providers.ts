import { usageError } from '../errors.js';
import { shown } from '../options/parse.js';

/**
 * Per-provider defaults, in the spirit of rclone's backend/s3/provider/*.yaml: everything that differs
 * between S3 implementations lives in this one table, so the transport has no provider `if`s.
 */
export interface ProviderQuirks {
  readonly name: string;
  readonly title: string;
  /** Endpoint built from region / account id when the user gives none. `{region}`, `{account}`. */
  readonly endpointTemplate?: string;
  /** Region to sign with when none is configured. */
  readonly defaultRegion: string;
  readonly pathStyle: boolean;
  /** 'when_required' turns off the SDK's default CRC32 trailers (aws-chunked), which many stores reject. */
  readonly sdkChecksums: 'when_supported' | 'when_required';
  /** DeleteObjects must carry Content-MD5 (MinIO, ECS, RGW reject the SDK's CRC32 alone). */
  readonly contentMd5OnDeleteObjects: boolean;
  /** Multipart ETags are `md5(part md5s)-N`, so an upload's ETag can be checked against the local hash. */
  readonly multipartEtagIsMd5OfParts: boolean;
  readonly maxParts: number;
  readonly minPartSize: number;
  readonly maxPartSize: number;
  /** Needs an endpoint (or the template's inputs) from the user. */
  readonly requiresEndpoint: boolean;
  /**
   * UploadPartCopy decodes its copy source twice (Ceph RGW 16): a key holding `%` names another
   * object, or aborts the gateway. Such keys' parts are then read and sent by s3sync (src/s3/copy.ts).
   */
  readonly partCopyDecodesSourceTwice: boolean;
  /** The most bytes of user metadata (x-amz-meta-* names and values, UTF-8) one object takes; absent: unknown. */
  readonly maxMetadataBytes?: number;
  /** The largest object the store takes, where it is known (see objectSizeLimit); absent: none known. */
  readonly maxObjectSize?: number;
  /** What the account id of `{account}` must be, and how a refusal says it; default one DNS label. */
  readonly accountId?: { readonly pattern: RegExp; readonly what: string };
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const base: Omit<ProviderQuirks, 'name' | 'title'> = {
  defaultRegion: 'us-east-1',
  pathStyle: true,
  sdkChecksums: 'when_required',
  contentMd5OnDeleteObjects: true,
  multipartEtagIsMd5OfParts: true,
  maxParts: 10_000,
  minPartSize: 5 * MiB,
  maxPartSize: 5 * GiB,
  requiresEndpoint: true,
  partCopyDecodesSourceTwice: false,
};

/** Each row frozen as well as the table: a caller of the library cannot change another run's provider. */
const frozen = <T extends Record<string, ProviderQuirks>>(rows: T): Readonly<T> => {
  for (const row of Object.values(rows)) Object.freeze(row);
  return Object.freeze(rows);
};

/** The presets' names: PROVIDERS.aws is a preset, not possibly undefined, under noUncheckedIndexedAccess. */
export type ProviderName =
  | 'aws'
  | 'r2'
  | 'b2'
  | 'minio'
  | 'ceph'
  | 'wasabi'
  | 'gcs'
  | 'digitalocean'
  | 'other';

export const PROVIDERS: Readonly<Record<ProviderName, ProviderQuirks>> = frozen<
  Record<ProviderName, ProviderQuirks>
>({
  aws: {
    ...base,
    name: 'aws',
    title: 'Amazon S3',
    pathStyle: false,
    sdkChecksums: 'when_supported',
    contentMd5OnDeleteObjects: false,
    requiresEndpoint: false,
    // 5 TiB until 2025-12; since then 10,000 parts of 5 GiB (aws-cli's MAX_UPLOAD_SIZE, 2026-02).
    maxObjectSize: 10_000 * 5 * GiB,
    // Refused with MetadataTooLarge, file after file, once the run is under way.
    maxMetadataBytes: 2048,
  },
  r2: {
    ...base,
    name: 'r2',
    title: 'Cloudflare R2',
    endpointTemplate: 'https://{account}.r2.cloudflarestorage.com',
    defaultRegion: 'auto',
    // R2 answers 501 to x-amz-checksum-crc32; its multipart ETags are not md5-of-md5s.
    multipartEtagIsMd5OfParts: false,
    accountId: Object.freeze({ pattern: /^[0-9a-f]{32}$/i, what: 'a Cloudflare account id (32 hex digits)' }),
  },
  b2: {
    ...base,
    name: 'b2',
    title: 'Backblaze B2',
    endpointTemplate: 'https://s3.{region}.backblazeb2.com',
    defaultRegion: 'us-west-004',
    // B2 rejects x-amz-sdk-checksum-algorithm; large-file ETags are opaque.
    multipartEtagIsMd5OfParts: false,
    // B2's documented largest file: 10 TB, in decimal units.
    maxObjectSize: 10 * 1000 ** 4,
  },
  minio: { ...base, name: 'minio', title: 'MinIO' },
  ceph: {
    ...base,
    name: 'ceph',
    title: 'Ceph RADOS Gateway',
    // RGW 16 answers 411 to aws-chunked streamed uploads (so when_required checksums, from base).
    partCopyDecodesSourceTwice: true,
  },
  wasabi: {
    ...base,
    name: 'wasabi',
    title: 'Wasabi',
    endpointTemplate: 'https://s3.{region}.wasabisys.com',
    pathStyle: false,
  },
  gcs: {
    ...base,
    name: 'gcs',
    title: 'Google Cloud Storage (XML API)',
    endpointTemplate: 'https://storage.googleapis.com',
    defaultRegion: 'auto',
    multipartEtagIsMd5OfParts: false,
    maxParts: 10_000,
    // Cloud Storage's documented largest object.
    maxObjectSize: 5 * TiB,
  },
  digitalocean: {
    ...base,
    name: 'digitalocean',
    title: 'DigitalOcean Spaces',
    endpointTemplate: 'https://{region}.digitaloceanspaces.com',
    defaultRegion: 'nyc3',
    pathStyle: false,
  },
  // An unnamed store may be an RGW behind any endpoint.
  other: {
    ...base,
    name: 'other',
    title: 'Any other S3-compatible store (conservative defaults)',
    partCopyDecodesSourceTwice: true,
  },
});

/**
 * The largest file a push can store as one object: the store's maximum where known, and never more
 * than maxParts parts of maxPartSize, past which the multipart upload itself is refused.
 */
export function objectSizeLimit(p: ProviderQuirks): number {
  return Math.min(p.maxObjectSize ?? Number.POSITIVE_INFINITY, p.maxParts * p.maxPartSize);
}

export const PROVIDER_NAMES: readonly ProviderName[] = Object.freeze(
  Object.keys(PROVIDERS) as ProviderName[],
);

export function getProvider(name: string | undefined, customEndpoint: boolean): ProviderQuirks {
  if (name === undefined) return customEndpoint ? PROVIDERS.other : PROVIDERS.aws;
  const key = name.toLowerCase();
  // Own properties only: '__proto__' or 'constructor' must not resolve to Object.prototype members.
  const p = Object.hasOwn(PROVIDERS, key) ? PROVIDERS[key as ProviderName] : undefined;
  if (!p) throw usageError(`unknown provider '${name}' (one of: ${PROVIDER_NAMES.join(', ')})`);
  return p;
}

/** Fills a provider's endpoint template; undefined when it has none. */
export function providerEndpoint(p: ProviderQuirks, region: string, account?: string): string | undefined {
  if (!p.endpointTemplate) return undefined;
  if (p.endpointTemplate.includes('{account}') && !account) {
    throw usageError(`provider '${p.name}' needs --endpoint-url or an account id (S3SYNC_ACCOUNT_ID)`);
  }
  if (account !== undefined && p.endpointTemplate.includes('{account}')) {
    // It goes into the host name as it is: a `/` or `.` would send the signed requests to another host.
    const { pattern, what } = p.accountId ?? { pattern: HOST_LABEL, what: 'one host-name label' };
    if (!pattern.test(account))
      throw usageError(`S3SYNC_ACCOUNT_ID must be ${what} for provider '${p.name}', got ${shown(account)}`);
  }
  return p.endpointTemplate.replace('{region}', region).replace('{account}', account ?? '');
}

/** One DNS label: letters, digits and hyphens, not at either end. */
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
