/**
 * The rows of the options table (./table.ts) for `sync s3://… s3://…` between two stores: where the
 * source is and how to sign for it. Unset, the source is reached as the destination is.
 */
import { PROVIDER_NAMES } from '../s3/providers.js';
import type { OptionSpec } from './spec.js';

/**
 * The flags of push and pull an S3 → S3 sync takes too: reaching the stores and pacing requests to
 * them, selecting, deleting, and the part sizes of its copies. Any other (--verify, --storage-class,
 * …) is refused, never ignored.
 */
export const SHARED_WITH_S3_TO_S3: ReadonlySet<string> = new Set([
  '--endpoint-url',
  '--region',
  '--profile',
  '--path-style',
  '--ca-bundle',
  '--verify-ssl',
  '--provider',
  '--checksums',
  '--workers',
  '--retries',
  '--connect-timeout',
  '--stall-timeout',
  '--first-byte-timeout',
  '--tpslimit',
  '--tpslimit-burst',
  '--json',
  '--quiet',
  '--debug',
  '--include',
  '--exclude',
  '--exclude-from',
  '--delete',
  '--delete-excluded',
  '--max-delete',
  '--force',
  '--dry-run',
  '--incremental',
  '--multipart-threshold',
  '--part-size',
]);

export const SOURCE_OPTIONS = {
  sourceEndpointUrl: {
    kind: 'string',
    flag: '--source-endpoint-url',
    arg: '<url>',
    help: 'S3 → S3: endpoint of the source store',
    defaultText: "--source-profile's endpoint_url (or services section), else the destination's",
    example: '--source-endpoint-url https://s3.eu-west-1.amazonaws.com',
    commands: ['sync'],
  },
  sourceRegion: {
    kind: 'string',
    inHeader: true,
    flag: '--source-region',
    arg: '<region>',
    help: 'S3 → S3: region to sign source requests for',
    defaultText: "the destination's",
    example: '--source-region us-east-1',
    commands: ['sync'],
  },
  sourceProfile: {
    kind: 'string',
    flag: '--source-profile',
    arg: '<name>',
    help: 'S3 → S3: AWS profile whose credentials, and endpoint_url if it has one, read the source',
    defaultText: "the destination's credentials",
    example: '--source-profile old-account',
    commands: ['sync'],
  },
  sourceProvider: {
    kind: 'enum',
    flag: '--source-provider',
    arg: '<name>',
    values: PROVIDER_NAMES,
    libraryAnyCase: true,
    help: 'S3 → S3: provider preset of the source store',
    defaultText: "the destination's, or other with --source-endpoint-url",
    example: '--source-provider ceph',
    commands: ['sync'],
  },
} as const satisfies Record<string, OptionSpec>;
