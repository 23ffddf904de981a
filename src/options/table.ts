/**
 * Every option of s3sync, as data (rclone's fs/config.go does the same): its flag, its library name
 * (which is also its config-file key), its type, its default, its help with one example, and the
 * commands it applies to. The CLI's flags and --help, the config file's checks, every library entry
 * point's checks and the README's flag tables all derive from this table (src/options/validate.ts,
 * src/cli/program.ts), so an option is defined, and its default written, here and nowhere else.
 */
import { PROVIDER_NAMES } from '../s3/providers.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/**
 * What an option can apply to: the CLI's commands, `plan` (it takes the options of the direction it
 * plans, see `appliesTo`) and `jobs`, the global flags of a bare `s3sync`, which runs the config file's
 * jobs.
 */
export type CommandName = 'push' | 'pull' | 'check' | 'plan' | 'apply' | 'cleanup' | 'demo' | 'jobs';

/** S3's canned ACLs for objects. */
export const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
] as const;

/** S3's server-side encryption algorithms (x-amz-server-side-encryption). */
export const SSE_ALGORITHMS = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;

export const CHECKSUM_MODES = ['when_supported', 'when_required'] as const;

interface Common {
  flag: `--${string}`;
  short?: `-${string}`;
  /** What the option does, as --help and the README say it (per command where it differs). */
  help: string;
  helpFor?: Partial<Record<CommandName, string>>;
  /** One example of its use. */
  example?: string;
  commands: readonly CommandName[];
  /** Shown as the default where it depends on the run, and so is worked out where it is used. */
  defaultText?: string;
  /** A flag and config key of the CLI (output, demo), not an option of the library. */
  cliOnly?: true;
  /** The option's former library name, which took milliseconds: still accepted from library calls. */
  formerly?: string;
}

/** The kinds of value, with the library type each one resolves to. */
export type OptionSpec = Common &
  (
    | { kind: 'int'; arg: string; min: number; max: number; default?: number }
    /** Bytes; as text with binary suffixes (16MiB, 64M, 1G), a plain number is bytes. */
    | { kind: 'size'; arg: string; min: number; max: number; default?: number }
    /**
     * Milliseconds; as text with a required unit (500ms, 30s, 2m, 1h, 2d), a plain number being
     * ambiguous (it meant seconds to one flag and milliseconds to another). `never`: 'never' is allowed,
     * and is Infinity.
     */
    | { kind: 'duration'; arg: string; min: number; max: number; never?: true; default?: number }
    | { kind: 'enum'; arg: string; values: readonly string[]; ignoreCase?: true; default?: string }
    /** A count of files (100) or a share of the destination (25%). */
    | { kind: 'max-delete'; arg: string; default?: string }
    /** `negation`: help of the --no- flag, when there is one (the option is on by default or by provider). */
    | {
        kind: 'boolean';
        default?: boolean;
        negation?: string;
        negationFor?: Partial<Record<CommandName, string>>;
      }
    | { kind: 'string'; arg: string }
    /** Repeatable flag; in the config file one string or a list. */
    | { kind: 'list'; arg: string }
  );

/** The commands that talk to S3 (plan takes the options of push or pull). */
const S3: readonly CommandName[] = ['push', 'pull', 'check', 'apply', 'cleanup', 'jobs'];
const PUSH_PULL: readonly CommandName[] = ['push', 'pull'];
const FILTERED: readonly CommandName[] = ['push', 'pull', 'check'];
const TRANSFER: readonly CommandName[] = ['push', 'pull', 'apply'];

/**
 * The options, in the order --help and the README list them. Bounds: at least one worker (0 would
 * transfer nothing and report success); sizes within S3's own limits (a part or a single PUT is at most
 * 5 GiB) and no smaller than 1 MiB (a range per few KiB would be a request storm); timeouts long enough
 * to ever succeed (0 would disable the socket timeout altogether, and a run could hang for ever).
 */
export const OPTIONS = {
  endpointUrl: {
    kind: 'string',
    flag: '--endpoint-url',
    arg: '<url>',
    help: 'S3 endpoint',
    defaultText: "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS",
    example: '--endpoint-url http://127.0.0.1:9000',
    commands: S3,
  },
  region: {
    kind: 'string',
    flag: '--region',
    arg: '<region>',
    help: 'region to sign requests for',
    defaultText: "AWS_REGION, the profile's region, else the provider's",
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
  // Provider names were always matched without regard to case (getProvider).
  provider: {
    kind: 'enum',
    flag: '--provider',
    arg: '<name>',
    values: PROVIDER_NAMES,
    ignoreCase: true,
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
    help: 'concurrent transfers',
    example: '--workers 32',
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
  json: {
    kind: 'boolean',
    flag: '--json',
    help: 'NDJSON events and a final summary object on stdout',
    commands: S3,
    cliOnly: true,
  },
  quiet: {
    kind: 'boolean',
    flag: '--quiet',
    short: '-q',
    help: 'print nothing but errors',
    commands: S3,
    cliOnly: true,
  },
  debug: {
    kind: 'boolean',
    flag: '--debug',
    help: 'show stack traces and retries (never secrets)',
    commands: S3,
  },
  // Not for cleanup, which reads no manifest; check reads it but takes no lock.
  manifest: {
    kind: 'string',
    flag: '--manifest',
    arg: '<path>',
    help: 'manifest file',
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
  include: {
    kind: 'list',
    flag: '--include',
    arg: '<glob>',
    help: 'include matching paths, overrides --exclude',
    example: "--include '*.txt'",
    commands: FILTERED,
  },
  exclude: {
    kind: 'list',
    flag: '--exclude',
    arg: '<glob>',
    help: 'exclude matching paths',
    example: "--exclude '*.tmp'",
    commands: FILTERED,
  },
  excludeFrom: {
    kind: 'list',
    flag: '--exclude-from',
    arg: '<file>',
    help: 'read exclude globs from a file',
    example: '--exclude-from ./excludes.txt',
    commands: FILTERED,
  },
  // Not for pull: a pull writes through no symbolic link in its destination.
  followSymlinks: {
    kind: 'boolean',
    flag: '--follow-symlinks',
    help: 'follow symbolic links (loops are detected; pull goes only through links to directories inside the target)',
    commands: ['push', 'pull', 'check'],
  },
  delete: {
    kind: 'boolean',
    flag: '--delete',
    help: 'delete destination files that have no source file (after all transfers)',
    commands: PUSH_PULL,
  },
  deleteExcluded: {
    kind: 'boolean',
    flag: '--delete-excluded',
    help: 'with --delete, also delete destination files excluded by filters',
    commands: PUSH_PULL,
  },
  maxDelete: {
    kind: 'max-delete',
    flag: '--max-delete',
    arg: '<n|p%>',
    default: '50%',
    help: 'refuse to delete more than N files or P% of the destination',
    example: '--max-delete 100',
    commands: PUSH_PULL,
  },
  force: {
    kind: 'boolean',
    flag: '--force',
    help: 'override the --max-delete guard and the empty-source refusal',
    commands: PUSH_PULL,
  },
  dryRun: {
    kind: 'boolean',
    flag: '--dry-run',
    short: '-n',
    help: 'show what would happen, with reasons, and change nothing',
    helpFor: { cleanup: 'list them, abort nothing', jobs: 'dry-run every push and pull job' },
    commands: ['push', 'pull', 'cleanup', 'jobs'],
  },
  incremental: {
    kind: 'boolean',
    flag: '--incremental',
    default: true,
    help: 'transfer only what changed',
    helpFor: { push: 'upload only what changed', pull: 'download only what changed' },
    negation: 'transfer everything',
    negationFor: { push: 'upload every file', pull: 'download every object' },
    commands: PUSH_PULL,
  },
  verify: {
    kind: 'boolean',
    flag: '--verify',
    help: 'also list the remote and re-upload objects missing or changed there',
    commands: ['push'],
  },
  verifyInterval: {
    kind: 'duration',
    flag: '--verify-interval',
    arg: '<duration>',
    min: 0,
    max: 3650 * DAY,
    never: true,
    // One listing a day: drift behind s3sync's back is found within a day, and a no-change run within
    // it still makes no request (aws s3 sync lists on every run).
    default: 24 * HOUR,
    help: 'do as --verify when the last listing of the destination is older than this',
    example: '--verify-interval 7d',
    commands: ['push'],
  },
  multipartThreshold: {
    kind: 'size',
    flag: '--multipart-threshold',
    arg: '<size>',
    min: MiB,
    max: 5 * GiB,
    // rclone's cutoff is 200 MiB: a single PUT is one request, the server assembles nothing, and the
    // ETag is the MD5 anyone can check; multipart only pays for itself on larger files.
    default: 128 * MiB,
    help: 'files and objects from this size are transferred in parts',
    helpFor: {
      push: 'files from this size go multipart',
      pull: 'objects from this size are fetched as parallel ranges',
    },
    example: '--multipart-threshold 64MiB',
    commands: TRANSFER,
  },
  partSize: {
    kind: 'size',
    flag: '--part-size',
    arg: '<size>',
    min: MiB,
    max: 5 * GiB,
    default: 16 * MiB,
    help: 'part size of multipart uploads and of ranged downloads',
    helpFor: {
      push: 'multipart part size, raised to fit 10,000 parts',
      pull: 'range size for large objects',
    },
    example: '--part-size 32MiB',
    commands: TRANSFER,
  },
  storageClass: {
    kind: 'string',
    flag: '--storage-class',
    arg: '<class>',
    help: 'storage class of uploaded objects',
    example: '--storage-class STANDARD_IA',
    commands: ['push'],
  },
  sse: {
    kind: 'enum',
    flag: '--sse',
    arg: '<algorithm>',
    values: SSE_ALGORITHMS,
    help: 'server-side encryption',
    example: '--sse aws:kms',
    commands: ['push'],
  },
  sseKmsKeyId: {
    kind: 'string',
    flag: '--sse-kms-key-id',
    arg: '<id>',
    help: 'KMS key for --sse aws:kms',
    example: '--sse-kms-key-id alias/backups',
    commands: ['push'],
  },
  cacheControl: {
    kind: 'string',
    flag: '--cache-control',
    arg: '<value>',
    help: 'Cache-Control of uploaded objects',
    example: "--cache-control 'max-age=300'",
    commands: ['push'],
  },
  acl: {
    kind: 'enum',
    flag: '--acl',
    arg: '<acl>',
    values: CANNED_ACLS,
    help: 'canned ACL of uploaded objects',
    example: '--acl bucket-owner-full-control',
    commands: ['push'],
  },
  full: {
    kind: 'boolean',
    flag: '--full',
    help: 're-hash every local file instead of trusting unchanged stat data',
    commands: ['check'],
  },
  out: {
    kind: 'string',
    flag: '--out',
    arg: '<file>',
    help: 'where to write the plan, as JSON',
    example: '--out plan.json',
    commands: ['plan'],
  },
  olderThan: {
    kind: 'duration',
    flag: '--older-than',
    arg: '<duration>',
    min: 0,
    max: 3650 * DAY,
    // As rclone cleanup: an upload a day old is no longer being written by anyone.
    default: 24 * HOUR,
    help: 'only uploads started longer ago than this',
    example: '--older-than 2d',
    commands: ['cleanup'],
    formerly: 'olderThanMs',
  },
  keep: {
    kind: 'boolean',
    flag: '--keep',
    help: 'keep the sample directory and print its path',
    commands: ['demo'],
    cliOnly: true,
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** The table as its general type, for code that walks it. */
export const OPTION_SPECS: Readonly<Record<OptionName, OptionSpec>> = OPTIONS;

/**
 * The arguments of each library entry point that are not options, and the values the library takes
 * beyond the table (callbacks and objects, which no flag or config file can hold).
 */
export const ENTRY_ARGUMENTS = {
  push: ['source', 'destination'],
  pull: ['source', 'destination'],
  check: ['local', 'remote'],
  plan: ['direction', 'source', 'destination'],
  apply: ['plan'],
  cleanup: ['target'],
} as const;
export const LIBRARY_ONLY = ['onEvent', 'signal', 'client', 'credentials'] as const;

/** A library entry point, `plan` by direction: it takes the options of the command it plans. */
export type EntryPoint = 'push' | 'pull' | 'check' | 'plan push' | 'plan pull' | 'apply' | 'cleanup';

/**
 * Whether an option applies to a command. `plan push` and `plan pull` take the options of push and
 * pull but --dry-run (a plan changes nothing anyway), and plan's own; the CLI's `plan` takes both sets.
 */
export function appliesTo(spec: OptionSpec, command: CommandName | EntryPoint): boolean {
  if (command === 'plan push' || command === 'plan pull' || command === 'plan') {
    if (spec.commands.includes('plan')) return true;
    if (spec.flag === '--dry-run') return false;
    const planned: readonly CommandName[] =
      command === 'plan' ? ['push', 'pull'] : [command === 'plan push' ? 'push' : 'pull'];
    return planned.some((c) => spec.commands.includes(c));
  }
  return spec.commands.includes(command);
}

/** The options of a command, in the table's order. */
export const optionsFor = (command: CommandName | EntryPoint): [OptionName, OptionSpec][] =>
  (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).filter(([, spec]) => appliesTo(spec, command));
