/**
 * What a row of the options table (./table.ts) is: the kinds of value an option takes, the commands it
 * applies to, and the units its bounds and defaults are written in.
 */
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
export type CommandName =
  | 'push'
  | 'pull'
  | 'check'
  | 'plan'
  | 'apply'
  | 'cleanup'
  | 'versions'
  | 'sync'
  | 'demo'
  | 'jobs';

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
  /** The example for a command whose values differ in kind (an S3 URL for one, a directory for another). */
  exampleFor?: Partial<Record<CommandName, string>>;
  commands: readonly CommandName[];
  /** Shown as the default where it depends on the run, and so is worked out where it is used. */
  defaultText?: string;
  /** A flag and config key of the CLI (output, demo), not an option of the library. */
  cliOnly?: true;
  /** The option's former library name, which took milliseconds: still accepted from library calls. */
  formerly?: string;
  /** Not taken by `plan`, though its command is planned: a plan file cannot carry what it means. */
  unplanned?: true;
  /** Shapes how object bodies move, and nothing else: a plan moves none (its `apply` takes it). */
  bodiesOnly?: true;
  /** Sent in an HTTP header (or the signature's scope): printable ASCII only. */
  inHeader?: true;
  /**
   * Does something only with this option on (`maxDelete` with `delete`): given without it, refused (a
   * silent no-op otherwise); a config default of it is left out of a run without it.
   */
  needs?: string;
  /** Appended to a file's name: one name's part, so no path separator (it would lead elsewhere). */
  inName?: true;
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
    /**
     * One of `values`. Typed by a person (a flag, the config file), in any case, as aws-cli takes
     * `--checksum-algorithm crc32`: the value is then the canonical one. A library call passes the typed
     * value itself, unless `libraryAnyCase` (provider names were always matched so there).
     */
    | { kind: 'enum'; arg: string; values: readonly string[]; libraryAnyCase?: true; default?: string }
    /**
     * Bytes per second, one rate for both ways (10MiB) or UP:DOWN (10MiB:1MiB), `off` meaning no limit
     * (one way or both); min and max bound each rate given.
     */
    | { kind: 'rate'; arg: string; min: number; max: number }
    /** A count of files (100) or a share of the destination (25%). */
    | { kind: 'max-delete'; arg: string; default?: string }
    /**
     * How old a file may be: a duration back from the run's start (7d, 12h, 30m; milliseconds from a
     * library call), or a point in time (2026-11-01 is midnight UTC; a time needs its zone, Z or +02:00).
     */
    | { kind: 'age'; arg: string }
    /**
     * `negation`: help of the --no- flag, when there is one (the option is on by default or by provider).
     * `negationOnly`: commands that take the --no- flag alone (a bare s3sync may turn deletes off for
     * every job, never on).
     */
    | {
        kind: 'boolean';
        default?: boolean;
        negation?: string;
        negationFor?: Partial<Record<CommandName, string>>;
        negationOnly?: readonly CommandName[];
      }
    /** `noDefault`: its command needs it on the command line (plan --out): an empty one has nothing to fall back on. */
    | { kind: 'string'; arg: string; noDefault?: true }
    /** `I/N`: shard I (0-based) of N, see src/shard.ts. */
    | { kind: 'shard'; arg: string }
    /** Repeatable flag; in the config file one string or a list. `glob`: each is a glob (./glob.ts). */
    /** `one`: a single string is taken too (from the config file and the library), as a list of it. */
    | { kind: 'list'; arg: string; glob?: true; one?: true }
    /** Per-pattern object settings (./header-rules.ts): rule objects, or one glob and header per flag. */
    | { kind: 'rules'; arg: string }
  );

/** The commands that talk to S3 (plan takes the options of push or pull). */
export const S3: readonly CommandName[] = ['push', 'pull', 'check', 'apply', 'cleanup', 'versions', 'jobs'];
export const PUSH_PULL: readonly CommandName[] = ['push', 'pull'];
export const FILTERED: readonly CommandName[] = ['push', 'pull', 'check'];
export const TRANSFER: readonly CommandName[] = ['push', 'pull', 'apply'];
