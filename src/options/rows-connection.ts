/**
 * The rows of the options table (./table.ts) about reaching S3 and about the run itself: endpoint,
 * credentials, provider, concurrency and timeouts; output, the manifest and its lock.
 */
import { PROVIDER_NAMES } from '../s3/providers.js';
import { CHECKSUM_MODES, DAY, type OptionSpec, S3, SECOND } from './spec.js';

/** Where the S3 endpoint is, how to sign for it, and how long to wait on it. */
export const CONNECTION_OPTIONS = {
  endpointUrl: {
    kind: 'string',
    flag: '--endpoint-url',
    arg: '<url>',
    help: 'S3 endpoint',
    defaultText:
      "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's services section or endpoint_url, the provider's template, else AWS",
    example: '--endpoint-url http://127.0.0.1:9000',
    commands: S3,
  },
  region: {
    kind: 'string',
    inHeader: true,
    flag: '--region',
    arg: '<region>',
    help: 'region to sign requests for',
    defaultText: "AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else the provider's",
    example: '--region eu-west-1',
    commands: S3,
  },
  profile: {
    kind: 'string',
    flag: '--profile',
    arg: '<name>',
    help: 'AWS profile from ~/.aws/config and ~/.aws/credentials',
    example: '--profile backup',
    commands: S3,
  },
  pathStyle: {
    kind: 'boolean',
    flag: '--path-style',
    help: 'path-style addressing, the bucket in the URL path',
    negation: 'virtual-host addressing',
    defaultText: 'per provider, off for AWS',
    commands: S3,
  },
  caBundle: {
    kind: 'string',
    flag: '--ca-bundle',
    arg: '<file>',
    help: "PEM file of the CA certificates to trust for the endpoint, in place of the system's",
    defaultText: "AWS_CA_BUNDLE, the profile's ca_bundle, else Node's CAs and NODE_EXTRA_CA_CERTS",
    example: '--ca-bundle /etc/ssl/private-ca.pem',
    commands: S3,
  },
  // aws-cli's name. A negation only: verifying is the default, and a config file may turn it off.
  verifySsl: {
    kind: 'boolean',
    flag: '--verify-ssl',
    help: "verify the endpoint's TLS certificate (the default)",
    negation: 'do not verify TLS certificates (insecure; warned on every run)',
    commands: S3,
  },
  // A library call's provider name too is matched in any case, as it always was (getProvider).
  provider: {
    kind: 'enum',
    flag: '--provider',
    arg: '<name>',
    values: PROVIDER_NAMES,
    libraryAnyCase: true,
    help: 'S3 provider preset',
    defaultText: 'aws, or other with a custom endpoint',
    example: '--provider ceph',
    commands: S3,
  },
  checksums: {
    kind: 'enum',
    flag: '--checksums',
    arg: '<mode>',
    values: CHECKSUM_MODES,
    help: 'SDK request checksums',
    defaultText: 'when_required off AWS',
    example: '--checksums when_supported',
    commands: S3,
  },
  workers: {
    kind: 'int',
    flag: '--workers',
    arg: '<n>',
    min: 1,
    max: 1024,
    default: 16,
    // Without the flag the request limit may grow (see requestConcurrency); given, it is fixed.
    defaultText: '16, growing up to 64 while that raises throughput',
    help: 'concurrent transfers',
    example: '--workers 32',
    commands: S3,
  },
  // No default: automatic, one range per worker at most, and only for a prefix the run knows is large.
  listRanges: {
    kind: 'int',
    flag: '--list-ranges',
    arg: '<n>',
    min: 1,
    max: 1024,
    help: 'list a large prefix as this many key ranges at once (1: one stream)',
    defaultText: 'automatic, up to --workers',
    example: '--list-ranges 1',
    commands: S3,
  },
  retries: {
    kind: 'int',
    flag: '--retries',
    arg: '<n>',
    min: 0,
    max: 100,
    default: 4,
    help: 'retries per request',
    example: '--retries 10',
    commands: S3,
  },
  connectTimeout: {
    kind: 'duration',
    flag: '--connect-timeout',
    arg: '<duration>',
    min: 100,
    max: DAY,
    default: 10 * SECOND,
    help: 'give up connecting after this long',
    example: '--connect-timeout 5s',
    commands: S3,
    formerly: 'connectTimeoutMs',
  },
  stallTimeout: {
    kind: 'duration',
    flag: '--stall-timeout',
    arg: '<duration>',
    min: SECOND,
    max: DAY,
    default: 60 * SECOND,
    help: 'retry a transfer that receives or sends nothing for this long',
    example: '--stall-timeout 2m',
    commands: S3,
    formerly: 'stallTimeoutMs',
  },
  // Seconds: a server that accepts connections and never answers is no S3 endpoint, and an S3 endpoint
  // starts its answer within milliseconds. Only until the endpoint has answered once (timed-agent.ts).
  firstByteTimeout: {
    kind: 'duration',
    flag: '--first-byte-timeout',
    arg: '<duration>',
    min: 100,
    max: DAY,
    default: 10 * SECOND,
    help: 'until the endpoint first answers, give up after this long without a response',
    example: '--first-byte-timeout 30s',
    commands: S3,
  },
} as const satisfies Record<string, OptionSpec>;

/** What a run prints, and the manifest and lock it keeps. */
export const RUN_OPTIONS = {
  json: {
    kind: 'boolean',
    flag: '--json',
    help: 'NDJSON events and a final summary object on stdout (not with --quiet)',
    commands: S3,
    cliOnly: true,
  },
  quiet: {
    kind: 'boolean',
    flag: '--quiet',
    short: '-q',
    help: 'print nothing but errors (not with --json)',
    commands: S3,
    cliOnly: true,
  },
  debug: {
    kind: 'boolean',
    flag: '--debug',
    help: 'say the endpoint, region and credential source used; show stack traces and retries (never secrets)',
    commands: S3,
  },
  // Not for cleanup, which reads no manifest; check reads it but takes no lock.
  manifest: {
    kind: 'string',
    flag: '--manifest',
    arg: '<path>',
    help: 'manifest file',
    // A plan records the manifest it was made with: apply uses that one unless told otherwise.
    helpFor: {
      apply: 'manifest file; a plan made with --manifest uses that one unless this is given',
    },
    defaultText: 'DIR/.s3sync/manifest-<bucket>-<id>.json',
    example: '--manifest /var/lib/s3sync/db.json',
    commands: ['push', 'pull', 'check', 'apply'],
  },
  waitLock: {
    kind: 'boolean',
    flag: '--wait-lock',
    help: 'wait for another run on the same destination instead of failing',
    commands: ['push', 'pull', 'apply', 'jobs'],
  },
} as const satisfies Record<string, OptionSpec>;
