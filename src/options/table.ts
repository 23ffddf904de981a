/**
 * Every option of s3sync, as data (rclone's fs/config.go does the same): its flag, its library name
 * (which is also its config-file key), its type, its default, its help with one example, and the
 * commands it applies to. The CLI's flags and --help, the config file's checks, every library entry
 * point's checks and the README's flag tables all derive from this table (src/options/validate.ts,
 * src/cli/program.ts), so an option is defined, and its default written, here and nowhere else. The
 * rows are written by area (./rows-*.ts); this is the one table they make.
 */
import { CONNECTION_OPTIONS, RUN_OPTIONS } from './rows-connection.js';
import { COPY_OPTIONS } from './rows-copy.js';
import { HEADER_OPTIONS } from './rows-headers.js';
import { LIMIT_OPTIONS } from './rows-limits.js';
import { SELECTION_OPTIONS } from './rows-selection.js';
import { SHARED_WITH_S3_TO_S3, SOURCE_OPTIONS } from './rows-source.js';
import { COMMAND_OPTIONS, TRANSFER_OPTIONS } from './rows-transfer.js';
import { VERSION_OPTIONS } from './rows-versions.js';
import { WATCH_OPTIONS } from './rows-watch.js';
import type { CommandName, OptionSpec } from './spec.js';

export type { CommandName, OptionSpec } from './spec.js';

/** Frozen through and through: no caller can change a bound or a default for the runs after it. */
function frozen<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) frozen(v);
  return Object.freeze(o);
}

/**
 * The options, in the order --help and the README list them. Bounds: at least one worker (0 would
 * transfer nothing and report success); sizes within S3's own limits (a part or a single PUT is at most
 * 5 GiB) and no smaller than 1 MiB (a range per few KiB would be a request storm); timeouts long enough
 * to ever succeed (0 would disable the socket timeout altogether, and a run could hang for ever).
 */
export const OPTIONS = frozen({
  ...CONNECTION_OPTIONS,
  ...LIMIT_OPTIONS,
  ...RUN_OPTIONS,
  ...SELECTION_OPTIONS,
  ...TRANSFER_OPTIONS,
  ...COPY_OPTIONS,
  ...HEADER_OPTIONS,
  ...COMMAND_OPTIONS,
  ...SOURCE_OPTIONS,
  ...VERSION_OPTIONS,
  ...WATCH_OPTIONS,
} as const satisfies Record<string, OptionSpec>);

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
  'sync s3': ['source', 'destination'],
  versions: ['target'],
} as const;
export const LIBRARY_ONLY = [
  'onEvent',
  'signal',
  'client',
  'credentials',
  'sourceCredentials',
  'objectParams',
] as const;

/** A library entry point, `plan` by direction: it takes the options of the command it plans. */
export type EntryPoint =
  | 'push'
  | 'pull'
  | 'check'
  | 'plan push'
  | 'plan pull'
  /** A plan of an S3 → S3 sync: the options of `sync s3` but --dry-run, and plan's own. */
  | 'plan sync'
  | 'apply'
  | 'cleanup'
  /** syncBuckets, S3 → S3: the rows that name `sync`, and the flags SHARED_WITH_S3_TO_S3 names. */
  | 'sync s3'
  | 'versions';

/**
 * An entry point as messages name it: `sync s3` is the table's key for syncBuckets, no command anyone
 * types, so a message says what the docs call it.
 */
export const entryWords = (entry: string): string => (entry === 'sync s3' ? 'an S3 → S3 sync' : entry);

/** The flags of `push --watch`, which a plan, made once, does not take. */
const WATCH_FLAGS: ReadonlySet<string> = new Set(Object.values(WATCH_OPTIONS).map((s) => s.flag));

/**
 * Whether an option applies to a command. `plan push` and `plan pull` take the options of push and
 * pull but --dry-run (a plan changes nothing anyway), and plan's own; `plan sync` those of an S3 → S3
 * sync; the CLI's `plan` takes all three sets, and its direction refuses the others'.
 */
export function appliesTo(spec: OptionSpec, command: CommandName | EntryPoint): boolean {
  // The CLI's sync is push, pull or S3 → S3 by its arguments: it takes all their options, and each
  // entry point refuses those of another.
  if (command === 'sync')
    return ['sync', 'push', 'pull'].some((c) => spec.commands.includes(c as CommandName));
  if (command === 'sync s3') return spec.commands.includes('sync') || SHARED_WITH_S3_TO_S3.has(spec.flag);
  // A plan moves no body: an option that only paces bodies would do nothing there.
  if (command.startsWith('plan') && spec.bodiesOnly) return false;
  // A plan of an S3 → S3 sync records the version of each copy, so it takes --at too.
  if (command === 'plan sync')
    return spec.commands.includes('plan') || (spec.flag !== '--dry-run' && appliesTo(spec, 'sync s3'));
  if (command === 'plan' && appliesTo(spec, 'plan sync')) return true;
  if (command === 'plan push' || command === 'plan pull' || command === 'plan') {
    if (spec.commands.includes('plan')) return true;
    // A plan is made once: the watch's options would do nothing there.
    if (spec.flag === '--dry-run' || spec.unplanned || WATCH_FLAGS.has(spec.flag)) return false;
    const planned: readonly CommandName[] =
      command === 'plan' ? ['push', 'pull'] : [command === 'plan push' ? 'push' : 'pull'];
    return planned.some((c) => spec.commands.includes(c));
  }
  return spec.commands.includes(command);
}

/** The options of a command, in the table's order. */
export const optionsFor = (command: CommandName | EntryPoint): [OptionName, OptionSpec][] =>
  (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).filter(([, spec]) => appliesTo(spec, command));
