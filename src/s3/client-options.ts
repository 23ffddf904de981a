import { usageError } from '../errors.js';
import { NOT_HEADER, shown } from '../options/parse.js';
import { setting } from '../options/validate.js';
import { type AwsProfile, readAwsProfile } from './aws-config.js';
import { parseEndpoint } from './endpoint-url.js';
import { getProvider, type ProviderQuirks, providerEndpoint } from './providers.js';

/**
 * Where the CLI took a connection option from when no flag gave it (a config file's key), as messages
 * (and --debug's connection line) name it. Keyed by a symbol: no options check takes it for an option,
 * and an object spread carries it.
 */
export const OPTION_ORIGINS = Symbol('s3sync.optionOrigins');
export type OptionOrigins = {
  endpointUrl?: string;
  sourceEndpointUrl?: string;
  /** The option that named the profile, when not --profile (--source-profile). */
  profile?: string;
  /** The option that gave the region, when not --region (--source-region). */
  region?: string;
  sourceProfile?: string;
  sourceRegion?: string;
};

/** The options whose origin is kept: those a message or the connection line names. */
export const ORIGIN_KEYS = [
  'endpointUrl',
  'sourceEndpointUrl',
  'profile',
  'region',
  'sourceProfile',
  'sourceRegion',
] as const satisfies readonly (keyof OptionOrigins)[];

/** Connection settings shared by every command (CLI flags, config file and library options). */
export interface ConnectionOptions {
  /** @internal Set by the CLI: where endpointUrl came from (see OPTION_ORIGINS). */
  [OPTION_ORIGINS]?: OptionOrigins;
  /**
   * Custom S3 endpoint, e.g. http://127.0.0.1:9000. Default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the
   * profile's endpoint_url (or its services section), a provider template, else AWS (see resolveEndpoint).
   */
  endpointUrl?: string;
  region?: string;
  profile?: string;
  /** Path-style addressing (bucket in the path). Default: on for custom endpoints, off for AWS. */
  pathStyle?: boolean;
  /** Provider quirks preset (see providers table). */
  provider?: string;
  /**
   * SDK request checksums: 'when_supported' sends CRC32 trailers (AWS default), 'when_required' only where
   * the API demands one. Default: when_required for custom endpoints, when_supported for AWS.
   */
  checksums?: 'when_supported' | 'when_required';
  /** Total attempts per request = retries + 1. */
  retries?: number;
  /** How long to wait for a connection: '10s', or milliseconds. Default 10s. */
  connectTimeout?: string | number;
  /** @deprecated Use connectTimeout (milliseconds as a number, or a duration such as '10s'). */
  connectTimeoutMs?: number;
  /** How long a socket may stay idle mid-transfer before the request is retried: '60s', or ms. */
  stallTimeout?: string | number;
  /** @deprecated Use stallTimeout (milliseconds as a number, or a duration such as '60s'). */
  stallTimeoutMs?: number;
  /**
   * Until the endpoint has answered once: how long to wait for its TLS handshake and its first
   * response before giving up on it (exit code 2): '10s', or milliseconds. Default 10s.
   */
  firstByteTimeout?: string | number;
  /**
   * Concurrent requests; sizes the keep-alive socket pool. Given, it is fixed; absent, the run starts
   * at the table's default and may grow up to AUTO_MAX_WORKERS while that raises throughput.
   */
  workers?: number;
  /** Key ranges listed at once for a large prefix; 1: one stream. Default: automatic, up to `workers`. */
  listRanges?: number;
  /** Requests per second, every attempt counted (--tpslimit). Default: no limit. */
  tpslimit?: number;
  /** Requests that may go at once after an idle spell, with tpslimit. Default 1. */
  tpslimitBurst?: number;
  /** Static credentials; default: the AWS credential chain (env, profile, SSO, instance role …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** PEM file of the CA certificates trusted for the endpoint (see tls-trust.ts). Default: AWS_CA_BUNDLE, the profile's ca_bundle. */
  caBundle?: string;
  /** false: TLS certificates are not verified (insecure; warned on every run). Default true. */
  verifySsl?: boolean;
  /** Print debug detail (never secrets). */
  debug?: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Where the endpoint came from, in order of precedence (the AWS SDK's, for the configured ones). */
export type EndpointSource =
  | '--endpoint-url'
  | 'AWS_ENDPOINT_URL_S3'
  | 'AWS_ENDPOINT_URL'
  | 'profile services section'
  | 'profile endpoint_url'
  | 'provider template'
  | 'AWS regional endpoint';

/** The store a run talks to: what keys its manifest, and what the SDK is given to reach it. */
export interface ResolvedEndpoint {
  /**
   * The store's identity: the endpoint URL, normalised (lower-case scheme and host, no default port,
   * no trailing slash) and without any user name or password. It keys manifests, plans and messages.
   */
  id: string;
  /** What the SDK connects to: `id`, or undefined for AWS, reached through the SDK's own routing. */
  url: string | undefined;
  source: EndpointSource;
  /** Where it was set, as messages name it: --endpoint-url, AWS_ENDPOINT_URL_S3, a profile's setting … */
  where: string;
  region: string;
  /** Where the region was set (--region, AWS_REGION …), or the provider's default. */
  regionWhere: string;
  provider: ProviderQuirks;
  /** The profile named by --profile or AWS_PROFILE, if any. */
  profile: string | undefined;
  /** The URL given carried a user name or password: never sent (requests are signed), never shown. */
  hadUserinfo: boolean;
}

export interface EndpointInputs {
  endpointUrl?: string;
  /** Where endpointUrl came from, for messages; default --endpoint-url. */
  origin?: string;
  region?: string;
  /** The option that gave region, for messages; default --region. */
  regionOrigin?: string;
  provider?: string;
  env: Env;
  profile: AwsProfile;
}

/** The first of these settings that is set and not empty. */
export const firstSet = (...vs: (string | undefined)[]) => vs.find((v) => v !== undefined && v !== '');

const isTrue = (v: string | undefined) => v?.trim().toLowerCase() === 'true';

/** The AWS regional endpoint of a region, as the identity of AWS S3 there. */
export const awsRegionalEndpoint = (region: string) => `https://s3.${region}.amazonaws.com`;

type Configured = { raw: string; source: EndpointSource; where: string };

/** AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's ignore_configured_endpoint_urls: none is read. */
const ignoresConfigured = (env: Env, profile: AwsProfile) =>
  isTrue(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) || isTrue(profile.settings.ignore_configured_endpoint_urls);

/**
 * The endpoint from the environment or the profile, in the AWS SDK's order: AWS_ENDPOINT_URL_S3,
 * AWS_ENDPOINT_URL, then the profile's own (see profileEndpoint). None of them when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's ignore_configured_endpoint_urls is true.
 */
function configuredEndpoint(env: Env, profile: AwsProfile): Configured | undefined {
  if (ignoresConfigured(env, profile)) return undefined;
  const s3 = firstSet(env.AWS_ENDPOINT_URL_S3);
  if (s3 !== undefined) return { raw: s3, source: 'AWS_ENDPOINT_URL_S3', where: 'AWS_ENDPOINT_URL_S3' };
  const any = firstSet(env.AWS_ENDPOINT_URL);
  if (any !== undefined) return { raw: any, source: 'AWS_ENDPOINT_URL', where: 'AWS_ENDPOINT_URL' };
  return profileEndpoint(env, profile);
}

/**
 * The endpoint a profile itself names: its services section (`s3 =` / `endpoint_url = …`), else its
 * endpoint_url; none when configured endpoints are ignored (see configuredEndpoint).
 */
export function profileEndpoint(env: Env, profile: AwsProfile): Configured | undefined {
  if (ignoresConfigured(env, profile)) return undefined;
  const p = profile.settings;
  if (p.services !== undefined) {
    const section = Object.hasOwn(profile.services, p.services) ? profile.services[p.services] : undefined;
    if (!section) {
      throw usageError(
        `AWS profile '${profile.name}' names services section '${p.services}', which is not in the AWS config file`,
      );
    }
    const url = firstSet(section['s3.endpoint_url']);
    if (url !== undefined)
      return {
        raw: url,
        source: 'profile services section',
        where: `the s3 endpoint_url of services section '${p.services}' (AWS profile '${profile.name}')`,
      };
  }
  const url = firstSet(p.endpoint_url);
  return url === undefined
    ? undefined
    : {
        raw: url,
        source: 'profile endpoint_url',
        where: `the endpoint_url of AWS profile '${profile.name}'`,
      };
}

/**
 * The endpoint a run uses and records (pure): --endpoint-url, else the configured one (see
 * `configuredEndpoint`), else the provider's template, else the AWS regional endpoint. The region:
 * --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else the provider's default
 * (us-east-1 for AWS).
 */
export function resolveEndpoint(src: EndpointInputs): ResolvedEndpoint {
  const { env, profile } = src;
  const given =
    src.endpointUrl !== undefined
      ? { raw: src.endpointUrl, source: '--endpoint-url' as const, where: src.origin ?? '--endpoint-url' }
      : configuredEndpoint(env, profile);
  const provider = getProvider(src.provider, given !== undefined);
  const found = regionOf(src.region, env, profile, src.regionOrigin);
  const region = found?.region ?? provider.defaultRegion;
  const regionWhere = found?.where ?? `the ${provider.name} provider's default`;
  const common = { region, regionWhere, provider, profile: profile.named ? profile.name : undefined };
  if (given) {
    const { url, hadUserinfo } = parseEndpoint(given.raw, given.where);
    // AWS's own regional endpoint named explicitly (a plan applied, a config file) is reached the way
    // the default is, through the SDK's routing for AWS: the same store either way.
    const aws = provider.name === 'aws' && url === awsRegionalEndpoint(region);
    const { source, where } = given;
    return { ...common, source, where, id: url, url: aws ? undefined : url, hadUserinfo };
  }
  const template = providerEndpoint(provider, region, env.S3SYNC_ACCOUNT_ID);
  if (template !== undefined) {
    const where = `the ${provider.name} provider's endpoint template`;
    const { url } = parseEndpoint(template, where);
    return { ...common, source: 'provider template', where, id: url, url, hadUserinfo: false };
  }
  if (provider.requiresEndpoint) {
    throw usageError(`provider '${provider.name}' needs --endpoint-url (or AWS_ENDPOINT_URL_S3)`);
  }
  return {
    ...common,
    source: 'AWS regional endpoint',
    where: 'the AWS regional endpoint',
    id: awsRegionalEndpoint(region),
    url: undefined,
    hadUserinfo: false,
  };
}

/**
 * The region requests are signed for: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
 * One from the environment or a profile is checked as the flag is: it goes into the Authorization
 * header, which Node refuses to send with a line break, and the SDK signs wrong beyond ASCII.
 */
function regionOf(
  flag: string | undefined,
  env: Env,
  profile: AwsProfile,
  flagName = '--region',
): { region: string; where: string } | undefined {
  const found = (
    [
      [flag, flagName],
      [env.AWS_REGION, 'AWS_REGION'],
      [env.AWS_DEFAULT_REGION, 'AWS_DEFAULT_REGION'],
      [profile.settings.region, `the region of AWS profile '${profile.name}'`],
    ] as const
  ).find(([v]) => v !== undefined && v !== '');
  if (found === undefined) return undefined;
  const [region, where] = found as readonly [string, string];
  if (NOT_HEADER.test(region))
    throw usageError(
      `${where} must be a region name, got ${shown(region)}: it holds a character an HTTP header cannot carry (a line break, or one not ASCII)`,
    );
  // The SDK refuses any other for every endpoint (it may go into a host name): its requests would
  // fail file by file mid-run, while s3sync's direct ones signed with it.
  if (!HOST_LABEL.test(region))
    throw usageError(
      `${where} must be a region name (letters, digits and hyphens, as in us-east-1), got ${shown(region)}`,
    );
  return { region, where };
}

/** A DNS label, as the SDK checks a region (its isValidHostLabel). */
const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/**
 * The endpoint of a run from its options, the environment and the AWS config files, without loading
 * the AWS SDK (a no-change run must not pay for it). An unknown profile is a usage error, unless it
 * only came from AWS_PROFILE and the environment holds credentials.
 */
export function endpointFor(opts: ConnectionOptions, env: Env = process.env): ResolvedEndpoint {
  const name = opts.profile ?? firstSet(env.AWS_PROFILE);
  const profile = readAwsProfile(name, env);
  // Env keys do not stand in for it: with a profile named, the SDK's chain skips them (as aws-cli
  // refuses a missing profile), so the run would fail later on "no credentials".
  if (name !== undefined && !profile.found) {
    const by = opts.profile === undefined ? 'AWS_PROFILE' : opts[OPTION_ORIGINS]?.profile;
    const from = by === undefined ? '' : `, named by ${by}`;
    const files = profile.files ?? { config: '~/.aws/config', credentials: '~/.aws/credentials' };
    throw usageError(`unknown AWS profile '${name}' (not in ${files.config} or ${files.credentials}${from})`);
  }
  return resolveEndpoint({
    endpointUrl: opts.endpointUrl,
    origin: opts[OPTION_ORIGINS]?.endpointUrl,
    region: opts.region,
    regionOrigin: opts[OPTION_ORIGINS]?.region,
    provider: opts.provider,
    env,
    profile,
  });
}

/** How far the number of requests in flight may grow when --workers is not given. */
export const AUTO_MAX_WORKERS = 64;

/**
 * Requests in flight at first, and at most (see AdaptiveLimiter): a --workers given is both. Never above
 * `workersCap`, the run's share of its open-file limit (see fdBudget).
 */
export function requestConcurrency(opts: { workers?: number; workersCap?: number }): {
  start: number;
  max: number;
} {
  const cap = opts.workersCap ?? Number.POSITIVE_INFINITY;
  const start = Math.min(setting(opts, 'workers'), cap);
  return {
    start,
    max: opts.workers === undefined ? Math.max(start, Math.min(AUTO_MAX_WORKERS, cap)) : start,
  };
}
