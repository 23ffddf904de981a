import { fstatSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { S3SyncError, usageError } from '../errors.js';
import { controlsEscaped, jsonText, printable } from '../escape.js';
import {
  appliesTo,
  type CommandName,
  type EntryPoint,
  entryWords,
  OPTION_SPECS,
  type OptionName,
  type OptionSpec,
  optionsFor,
} from '../options/table.js';
import { FROM_DEFAULTS, flagParser, helpText } from '../options/validate.js';
import { OPTION_ORIGINS, type OptionOrigins, ORIGIN_KEYS } from '../s3/client-options.js';
import type { CheckEvent } from '../sync/check.js';
import { stoppedMessage } from '../sync/events.js';
import { checkOutFolder } from '../sync/plan-out.js';
import { loadConfig } from './config.js';
import { defaultsNotice } from './defaults-notice.js';
import {
  CancelledError,
  type CancelWords,
  cancelWords,
  cliEvent,
  errorExitCode,
  exitCodeOf,
  LOCK_WAIT_WORDS,
  type Outcome,
  printed,
  signalExitCode,
} from './exit-codes.js';
import { localDir } from './local-arg.js';
import { cleanupLine, cursorControl, Output, type OutputMode } from './output.js';
import { pairHeaderFlags } from './pair-args.js';
import { syncAction, syncCommand } from './sync.js';
import { describeVersions } from './versions.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The table's flags of a command, in the table's order, each parsed and checked by the table. */
function addFlags(cmd: Command, command: CommandName): Command {
  for (const [name, spec] of optionsFor(command)) {
    const flags = `${spec.short ? `${spec.short}, ` : ''}${spec.flag}${'arg' in spec ? ` ${spec.arg}` : ''}`;
    const option = new Option(flags, helpText(name, command));
    if (spec.kind !== 'boolean') option.argParser(flagParser(name));
    // Stored under the table's name where the flag says it otherwise (--header-for sets `headers`).
    if (option.attributeName() !== name) option.attributeName = () => name;
    cmd.addOption(option);
    if (spec.kind === 'boolean' && spec.negation !== undefined)
      cmd.addOption(new Option(`--no-${spec.flag.slice(2)}`, helpText(name, command, true)));
  }
  for (const [name, spec] of Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]) {
    if (spec.kind !== 'boolean' || !spec.negationOnly?.includes(command)) continue;
    cmd.addOption(new Option(`--no-${spec.flag.slice(2)}`, helpText(name, command, true)));
    // Commander defaults an option with only its --no- flag to true: every job would delete.
    cmd.setOptionValueWithSource(name, undefined, 'default');
  }
  return cmd;
}

export type Flags = Record<string, unknown>;

/** A push's options from the command line: flags and its two arguments. */
export type PushArgs = Flags & { source: string; destination: string };

/** Options that say one thing two ways: a layer that gives one overrides the other from earlier layers. */
const ALTERNATIVES: readonly (readonly OptionName[])[] = [
  ['shard', 'shards'],
  ['filesFrom', 'filesFrom0'],
  ['json', 'quiet'],
];

/**
 * A command's options from layers, later ones winning (the config file's defaults first, then a job's
 * values, global flags, the command's own flags), each keeping the options that apply to the command;
 * split into the library's options and the output mode (the CLI's own values). A default that does
 * something only with a switch (`maxDelete` with `delete`) is left out of a run without it: the
 * defaults serve every job, and only those given for this run are refused alone. So is a value of an
 * earlier layer whose switch a later one turns off (`--no-delete` over a job's delete and maxDelete).
 */
export function splitOptions(
  command: CommandName | EntryPoint,
  layers: Flags[],
): { options: Flags; cli: Flags; mode: OutputMode; fromFirst: string[] } {
  const options: Flags = {};
  const cli: Flags = {};
  // The layer each option's value came from.
  const layerOf = new Map<string, number>();
  // Where a layer's connection options came from (a config file's key); a flag's says it is the flag.
  const origins: OptionOrigins = {};
  for (const [at, layer] of layers.entries()) {
    const from = (layer as { [OPTION_ORIGINS]?: OptionOrigins })[OPTION_ORIGINS];
    // A later layer's way of naming it replaces an earlier layer's other way (`--shard 1/4` over a
    // config's `"shards": 4`); both in one layer stay, and are refused as given together.
    for (const group of ALTERNATIVES)
      if (group.some((key) => layer[key] !== undefined))
        for (const key of group)
          if (layer[key] === undefined) delete (OPTION_SPECS[key].cliOnly ? cli : options)[key];
    for (const [key, v] of Object.entries(layer)) {
      const spec = Object.hasOwn(OPTION_SPECS, key) ? OPTION_SPECS[key as OptionName] : undefined;
      if (v === undefined || spec === undefined || !appliesTo(spec, command)) continue;
      (spec.cliOnly ? cli : options)[key] = v;
      const origin = ORIGIN_KEYS.find((k) => k === key);
      if (origin !== undefined) {
        if (from?.[origin] === undefined) delete origins[origin];
        else origins[origin] = from[origin];
      }
      layerOf.set(key, at);
    }
  }
  // Only a switch a run turns on (--delete): a default with a value it needs (a rate, a folder) that no
  // layer gives is a mistake in the file, refused as it is.
  for (const key of Object.keys(options)) {
    const needs = OPTION_SPECS[key as OptionName].needs as OptionName | undefined;
    if (needs === undefined || OPTION_SPECS[needs].kind !== 'boolean') continue;
    const at = layerOf.get(key)!;
    if (at === 0 && (options[needs] === undefined || options[needs] === false)) delete options[key];
    // A switch a later layer turns off (`s3sync --no-delete` over a job's "delete": true) takes with it
    // what the earlier layers gave for it: that job's maxDelete is not a mistake of this run.
    else if (options[needs] === false && at < layerOf.get(needs)!) delete options[key];
  }
  // Either one would silently lose the other: JSON lines are every event, quiet is errors only.
  if (cli.json === true && cli.quiet === true)
    throw usageError('give --json or --quiet, not both: --json prints every event, --quiet only errors');
  if (Object.keys(origins).length > 0)
    (options as { [OPTION_ORIGINS]?: OptionOrigins })[OPTION_ORIGINS] = origins;
  // What the run takes from the first layer (the config file's defaults), as the first layer orders it.
  const fromFirst = Object.keys(layers[0] ?? {}).filter(
    (key) => layerOf.get(key) === 0 && (options[key] !== undefined || cli[key] !== undefined),
  );
  // Only apply learns its target's direction after the options are split (see FROM_DEFAULTS).
  if (command === 'apply' && fromFirst.length > 0)
    (options as { [FROM_DEFAULTS]?: readonly string[] })[FROM_DEFAULTS] = fromFirst;
  return { options, cli, mode: cli.json ? 'json' : cli.quiet ? 'quiet' : 'human', fromFirst };
}

/**
 * Flags given for a command they do not apply to: a global flag before it (`s3sync --dry-run check`),
 * or a push flag to `plan pull`. An error, never a silent no-op.
 */
function refuseInapplicable(command: CommandName | EntryPoint, flags: Flags): void {
  for (const [key, v] of Object.entries(flags)) {
    const spec = Object.hasOwn(OPTION_SPECS, key) ? OPTION_SPECS[key as OptionName] : undefined;
    if (v !== undefined && spec !== undefined && !appliesTo(spec, command))
      // The flag as given: `s3sync --no-delete check` named --delete, which it was not given.
      throw usageError(
        `${v === false ? `--no-${spec.flag.slice(2)}` : spec.flag} does not apply to ${entryWords(command)}`,
      );
  }
}

/**
 * The config file's defaults that a push takes and a plan does not carry (its flags are refused): said,
 * since `apply` uploads without them.
 */
function warnUnplanned(output: Output, defaults: Flags): void {
  const set = Object.keys(defaults).filter(
    (k) =>
      Object.hasOwn(OPTION_SPECS, k) && OPTION_SPECS[k as OptionName].unplanned && defaults[k] !== undefined,
  );
  if (set.length === 0) return;
  void output.event({
    type: 'warning',
    message:
      `the config file's defaults set ${set.map((k) => `"${k}"`).join(', ')}, which plans do not carry: ` +
      'apply uploads without them (push applies them; push --dry-run previews it)',
  });
}

/** Text of several lines (a stack trace), each made printable. */
const printableLines = (text: string) => text.split('\n').map(printable).join('\n');

/** The flag an "unknown option" error names, when the table has it: another command's flag. */
function anotherCommandsFlag(text: string): string | undefined {
  const given = /^error: unknown option '(--[^'=\s]+)/.exec(text)?.[1];
  if (given === undefined) return undefined;
  const known = Object.values(OPTION_SPECS).some(
    (spec) =>
      spec.flag === given ||
      (spec.kind === 'boolean' && spec.negation !== undefined && `--no-${spec.flag.slice(2)}` === given),
  );
  return known ? given : undefined;
}

/**
 * Commander's usage error as one line like every other: its "(Did you mean …?)" line folded in, and
 * the pointer to --help at the end. Its messages quote the arguments given, a path among them.
 */
export function commanderLine(text: string, help: string, command?: string): string {
  const other = anotherCommandsFlag(text);
  if (other !== undefined)
    return command === undefined
      ? `s3sync: ${other} is a command's flag: give it after the command (s3sync push DIR URL ${other})`
      : `s3sync: ${other} does not apply to ${command}; see ${help}`;
  let line = text
    .trimEnd()
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.*)\?\)$/, ' (did you mean $1?)');
  // A watch is a push's mode, as rclone and aws-cli have none: the command people try first.
  if (line === "unknown command 'watch'")
    return "s3sync: unknown command 'watch': a watch is push --watch (s3sync push DIR s3://BUCKET/PREFIX --watch); see s3sync push --help";
  // The likely cause: an unquoted glob the shell expanded into several words (not for a command of none).
  if (line.startsWith('too many arguments') && !line.includes('Expected 0 arguments'))
    line = line.replace(/\.?$/, ": quote a glob so the shell does not expand it (--exclude '*.log')");
  return `s3sync: ${printable(line.replace(/\.$/, ''))}; see ${help}`;
}

const CONFIG_HELP = `
Config-file mode: with no command, s3sync runs every job of s3sync.config.json (or the file
$S3SYNC_CONFIG names) in order, goes on after a failing job, prints one line per job, and exits with
the worst exit code. The flags above apply to every job they apply to. Keys are the library's option
names and take the values the flags take; an unknown key is an error that suggests the right one.
Relative paths in the file are from its folder.
  { "defaults": { "endpointUrl": "http://127.0.0.1:9000", "workers": 8, "stallTimeout": "30s" },
    "jobs": [ { "command": "push", "source": "./db", "destination": "s3://b/db", "delete": true },
              { "command": "check", "source": "./db", "destination": "s3://b/db" } ] }

Example:
  s3sync --dry-run`;

/**
 * What runCli gives every command: the signal that cancels it, and a look at its output and cancel
 * wording; the function it returns lets go of an output that is done (a config job's, before the next).
 */
export interface RunContext {
  signal?: AbortSignal;
  onOutput?: (output: Output, cancel: CancelWords) => () => void;
}

/**
 * Commander's own "unknown command" error, with its "(Did you mean …?)": a method its typings leave
 * out, so looked up, with the same message less the suggestion should a release drop it.
 */
function unknownCommand(cmd: Command): never {
  const own: unknown = Reflect.get(cmd, 'unknownCommand');
  if (typeof own === 'function') own.call(cmd);
  return cmd.error(`error: unknown command '${cmd.args[0]}'`, { code: 'commander.unknownCommand' });
}

/**
 * `s3sync help pusj`: Commander prints the whole help for a name it does not know. The word `help` is
 * dropped so that the name meets the unknown-command error and its suggestion, as `s3sync pusj` does.
 * Global flags before it are stepped over, with the value of those that take one; those between it and
 * the name are taken as given before it (`help --json` is `--json help`: Commander read them as a
 * name it did not know, and printed the whole help as an error). `watch --help`: a name that is no
 * command meets the same error as without --help, not the program's help.
 */
export function helpTopicUnknown(program: Command, args: string[]): string[] {
  const valued = new Set(program.options.filter((o) => o.required).flatMap((o) => [o.long, o.short]));
  // As Commander reads an optional value: the next word, unless it is a flag.
  const mayTake = new Set(program.options.filter((o) => o.optional).flatMap((o) => [o.long, o.short]));
  const known = (name: string) =>
    name === 'help' || program.commands.some((c) => c.name() === name || c.aliases().includes(name));
  const noHelpFlag = (words: string[]) => {
    const end = words.indexOf('--');
    return words.filter((w, i) => (end !== -1 && i > end) || (w !== '--help' && w !== '-h'));
  };
  // After `--`, words are operands only.
  let operands = false;
  let helpAt = -1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!operands && a === '--') operands = true;
    else if (!operands && a.startsWith('-')) {
      const to = valued.has(a) || (mayTake.has(a) && !(args[i + 1] ?? '-').startsWith('-')) ? i + 2 : i + 1;
      if (helpAt !== -1) {
        // Moved before help: read then as the program's, as they are when given there.
        args = [
          ...args.slice(0, helpAt),
          ...args.slice(i, to),
          'help',
          ...args.slice(helpAt + 1, i),
          ...args.slice(to),
        ];
        helpAt += to - i;
      }
      i = to - 1;
    } else if (helpAt === -1) {
      if (a !== 'help') return known(a) ? args : noHelpFlag(args);
      helpAt = i;
    } else return known(a) ? args : [...args.slice(0, helpAt), ...args.slice(helpAt + 1)];
  }
  return args;
}

/** What a command's action hands runCli: a library result's outcome, or an exit code of its own. */
export type CommandEnd = Promise<{ outcome: Outcome } | number>;

/**
 * The program and its commands. With `lazyFlags` (the CLI's own run) a command's flags are added when
 * Commander dispatches to it, or before any help is shown: a run builds the flags of its one command,
 * not the 300-odd of all of them. Without it (docs, tests) every command has its flags at once.
 */
export function buildProgram(run: (r: CommandEnd) => void, ctx: RunContext = {}, lazyFlags = false): Command {
  const pending = new Map<Command, CommandName>();
  const withFlags = (cmd: Command, command: CommandName): Command => {
    if (lazyFlags) pending.set(cmd, command);
    else addFlags(cmd, command);
    return cmd;
  };
  const addPending = (cmd: Command) => {
    const command = pending.get(cmd);
    if (command === undefined) return;
    pending.delete(cmd);
    addFlags(cmd, command);
  };
  const program = new Command('s3sync')
    .description('Incremental sync between a local directory and an S3 prefix, driven by a local manifest.')
    .version(pkg.version, '-V, --version')
    .configureOutput({ outputError: (text, write) => write(`${commanderLine(text, 's3sync --help')}\n`) })
    // Flags before a command are the program's (global), after it the command's.
    .enablePositionalOptions()
    .helpCommand(true)
    .exitOverride();

  /** A command's options and output mode: config defaults, then global flags, then its own flags. */
  const prepare = (command: CommandName | EntryPoint, cmd: Command) => {
    const globals = program.opts();
    refuseInapplicable(command, globals);
    refuseInapplicable(command, cmd.opts());
    const { defaults, path: file } = loadConfig();
    const prepared = splitOptions(command, [defaults, globals, cmd.opts()]);
    const output = new Output(prepared.mode);
    // Said with the run's first event, or at its end if it has none (see Output.hold).
    const taken = defaultsNotice(file, defaults, prepared.fromFirst);
    if (command === 'plan push') warnUnplanned(output, defaults);
    if (taken !== undefined) output.hold(taken);
    ctx.onOutput?.(output, cancelWords(command, prepared.options.dryRun === true));
    const onEvent = (e: CheckEvent) => void output.event(cliEvent(e, ctx.signal?.reason));
    const options: Flags = { ...prepared.options, onEvent, signal: ctx.signal };
    return { ...prepared, options, output };
  };

  /** A push, or a watch (its output a line per batch): `push` and `sync DIR s3://…` alike. */
  const push = (args: PushArgs, output: Output): CommandEnd =>
    args.watch
      ? import('./watch.js').then((w) => w.runWatch(args, output, ctx.signal))
      : import('../sync/push.js').then((p) => p.push(args));

  if (lazyFlags) {
    program.hook('preSubcommand', (_program, sub) => addPending(sub));
    // Every help, of the program or a command, lists commands' or flags' options: all are added first.
    program.addHelpText('beforeAll', () => {
      for (const cmd of [...pending.keys()]) addPending(cmd);
      return '';
    });
  }

  addFlags(program, 'jobs')
    .addHelpText('after', CONFIG_HELP)
    .allowExcessArguments()
    .action((_flags: Flags, cmd: Command) => {
      // Commander's own error, with its suggestion: `s3sync pusj` is not a bare s3sync.
      if (cmd.args.length > 0) unknownCommand(cmd);
      run(import('./jobs.js').then(({ runJobs }) => runJobs(program.opts(), program, ctx)));
    });

  withFlags(
    program
      .command('push')
      .description('upload what changed in DIR to s3://bucket/prefix')
      .argument('<source>', 'local directory')
      .argument('<destination>', 's3://bucket/prefix'),
    'push',
  )
    .addHelpText('after', '\nExample:\n  s3sync push ./database s3://my-bucket/backups/db --delete')
    .action((source: string, destination: string, _flags: Flags, cmd: Command) => {
      localDir(source, 'push');
      const { options, output } = prepare('push', cmd);
      run(push({ ...options, source, destination }, output));
    });

  withFlags(
    program
      .command('pull')
      .description('download what changed under s3://bucket/prefix into DIR')
      .argument('<source>', 's3://bucket/prefix')
      .argument('<destination>', 'local directory (created if missing)'),
    'pull',
  )
    .addHelpText('after', '\nExample:\n  s3sync pull s3://my-bucket/backups/db ./restore')
    .action((source: string, destination: string, _flags: Flags, cmd: Command) => {
      localDir(destination, 'pull');
      const { options } = prepare('pull', cmd);
      run(import('../sync/pull.js').then(({ pull }) => pull({ ...options, source, destination })));
    });

  withFlags(syncCommand(program), 'sync').action(syncAction(prepare, run, push));

  withFlags(
    program
      .command('check')
      .description('compare DIR with s3://bucket/prefix by size and content; exit 1 on any difference')
      .argument('<local>', 'local directory')
      .argument('<remote>', 's3://bucket/prefix'),
    'check',
  )
    .addHelpText('after', '\nExample:\n  s3sync check ./database s3://my-bucket/backups/db')
    .action((local: string, remote: string, _flags: Flags, cmd: Command) => {
      localDir(local, 'check');
      const { options } = prepare('check', cmd);
      run(import('../sync/check.js').then(({ check }) => check({ ...options, local, remote })));
    });

  withFlags(
    program
      .command('plan')
      .description(
        'write a reviewable plan of a push, pull or S3 to S3 sync (with the reason for each action); change nothing',
      )
      .argument('<direction>', 'push, pull, or sync (S3 to S3)')
      .argument('<source>', 'local directory (push) or s3://bucket/prefix (pull, sync)')
      .argument('<destination>', 's3://bucket/prefix (push, sync) or local directory (pull)'),
    'plan',
  )
    .addHelpText('after', '\nExample:\n  s3sync plan push ./site s3://bucket/www --delete --out plan.json')
    .action((direction: string, source: string, destination: string, _flags: Flags, cmd: Command) => {
      if (direction !== 'push' && direction !== 'pull' && direction !== 'sync')
        throw new S3SyncError(`plan: direction must be push, pull or sync, not '${direction}'`);
      if (direction === 'push') localDir(source, 'plan push');
      if (direction === 'pull') localDir(destination, 'plan pull');
      const { options, mode, output } = prepare(`plan ${direction}`, cmd);
      if (typeof options.out !== 'string' || options.out === '')
        throw usageError('plan needs --out <file>, where to write the plan');
      checkOutFile(options.out, mode);
      run(
        import('../sync/plan-file.js').then(async ({ plan }) => {
          const doc = await plan({ ...options, direction, source, destination } as Parameters<
            typeof plan
          >[0]).catch(stoppedLine(mode, output, { type: 'plan-file', file: null, actions: 0, errors: 0 }));
          // Files left out by errors are not planned: exit 1, as the dry run of the same push or pull.
          const errors = doc.errors?.length ?? 0;
          const code = errors > 0 ? 1 : 0;
          const left = errors > 0 ? `; ${errors} file(s) left out by errors` : '';
          // A plan of nothing may have sent no event: a notice held for one comes before its line.
          output.sayHeld();
          if (mode === 'human')
            process.stdout.write(
              `${printable(`plan: ${doc.actions.length} action(s) written to ${String(options.out)}${left}`)}\n`,
            );
          // As every --json run, it ends with one object that says how it ended.
          else if (mode === 'json') {
            // After the events still batched: this line is the last.
            output.stop();
            const out = { type: 'plan-file', file: String(options.out), actions: doc.actions.length, errors };
            process.stdout.write(`${jsonText({ ...out, exitCode: code })}\n`);
          }
          return code;
        }),
      );
    });

  withFlags(
    program
      .command('apply')
      .description('execute exactly the actions of a plan, refusing any whose file or object changed since')
      .argument('<plan>', 'plan file written by s3sync plan'),
    'apply',
  )
    .addHelpText('after', '\nExample:\n  s3sync apply plan.json')
    .action((planFile: string, _flags: Flags, cmd: Command) => {
      const { options } = prepare('apply', cmd);
      run(import('../sync/plan-file.js').then(({ apply }) => apply({ ...options, plan: planFile })));
    });

  withFlags(
    program
      .command('cleanup')
      .description('abort stale multipart uploads under s3://bucket/prefix (their parts are billed)')
      .argument('<target>', 's3://bucket/prefix'),
    'cleanup',
  )
    .addHelpText('after', '\nExample:\n  s3sync cleanup s3://my-bucket/backups --older-than 2d --dry-run')
    .action((target: string, _flags: Flags, cmd: Command) => {
      const { options, mode, output } = prepare('cleanup', cmd);
      run(
        import('../sync/cleanup.js').then(async ({ cleanup }) => {
          const r = await cleanup({ ...options, target }).catch(
            stoppedLine(mode, output, { type: 'summary', command: 'cleanup' }),
          );
          // The events wait in a batch: out first, so the summary is the last line.
          output.sayHeld();
          output.stop();
          const reason: unknown = ctx.signal?.reason;
          if (mode === 'json')
            process.stdout.write(`${jsonText({ type: 'summary', ...printed(r, reason) })}\n`);
          else if (mode === 'human') process.stdout.write(`${cleanupLine(r)}\n`);
          return exitCodeOf(r.outcome, reason);
        }),
      );
    });

  withFlags(describeVersions(program.command('versions')), 'versions').action(
    (target: string, _flags: Flags, cmd: Command) => {
      const { options, mode, output } = prepare('versions', cmd);
      run(
        import('./versions.js').then(({ runVersions }) =>
          runVersions({ ...options, target }, mode, output).catch(
            stoppedLine(mode, output, { type: 'summary', command: 'versions' }),
          ),
        ),
      );
    },
  );

  withFlags(
    program
      .command('demo')
      .description('start the embedded local S3 server and push a sample directory twice'),
    'demo',
  )
    .addHelpText('after', '\nExample:\n  npx s3sync demo')
    .action((flags: Flags) => {
      refuseInapplicable('demo', program.opts());
      run(import('./demo.js').then(({ runDemo }) => runDemo({ keep: !!flags.keep, signal: ctx.signal })));
    });

  // The bare command's leniency (it reports a mistyped command itself) is not its commands': an extra
  // word there is a glob the shell expanded (`--exclude *.log`) or a second path, never ignored.
  for (const cmd of program.commands) cmd.allowExcessArguments(false);
  // Each command's errors point to its own help (`s3sync plan push --help`).
  const pointTo = (cmd: Command, name: string) => {
    const command = name.replace(/^s3sync /, '');
    cmd.configureOutput({
      outputError: (text, write) => write(`${commanderLine(text, `${name} --help`, command)}\n`),
    });
    for (const sub of cmd.commands) pointTo(sub, `${name} ${sub.name()}`);
  };
  for (const cmd of program.commands) pointTo(cmd, `s3sync ${cmd.name()}`);
  return program;
}

/** Runs the CLI; returns the exit code: 0 in sync, 1 some files failed, 2 usage or configuration error. */
export async function runCli(argv: string[]): Promise<number> {
  const cancel = new AbortController();
  // A closed stdout cancels as SIGPIPE would end the process, but with the work saved: exiting there
  // left the run's transfers undone, its manifest unwritten and the exit code 0.
  let stdoutError: NodeJS.ErrnoException | undefined;
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      if (!cancel.signal.aborted) cancel.abort(new CancelledError('SIGPIPE'));
      return;
    }
    // Any other (a full disk): the transfers are worth more than their report, so the run goes on.
    // Every later write fails as well: one line says it.
    if (stdoutError !== undefined) return;
    stdoutError = err;
    process.stderr.write(
      `s3sync: cannot write the output: ${printable(err.message.replace(/, write$/, ''))}; the run goes on without it, and will not exit 0\n`,
    );
  };
  // stderr is where a failure would be said: with it gone there is nowhere to, and the run's result
  // stands (unhandled, its error ended the run halfway with the manifest unwritten).
  const onStderrError = () => {};
  process.stdout.on('error', onStdoutError);
  process.stderr.on('error', onStderrError);
  try {
    const code = await runCommand(argv, cancel);
    // A write's error comes after the write returns: the last ones' are in before the code is final.
    await new Promise<void>((resolve) => process.stdout.write('', () => setImmediate(resolve)));
    const reason: unknown = cancel.signal.reason;
    // A closed stdout ends the run as SIGPIPE ends a process, one that had done its work by then too
    // (a dry run, a check): what it printed was cut short. A signal that came first keeps its code.
    if (reason instanceof CancelledError && reason.signal === 'SIGPIPE') return signalExitCode(reason);
    // The output lost (a --json record, a dry run's listing) is no success.
    return stdoutError !== undefined && code === 0 ? 1 : code;
  } finally {
    process.stdout.off('error', onStdoutError);
    process.stderr.off('error', onStderrError);
  }
}

/** A command run to its end, cancelled through `cancel`; its exit code, the output's fate aside. */
async function runCommand(argv: string[], cancel: AbortController): Promise<number> {
  const debug = argv.includes('--debug');
  let pending: CommandEnd | undefined;
  // Each output with its command's wording: config jobs run push, check and S3 → S3 side by side.
  const outputs = new Map<Output, CancelWords>();
  // A manifest's until a command is known; then the last command's to start.
  let words = cancelWords('push', false);
  let lastOutput: Output | undefined;
  // A run still waiting for another run's lock has saved nothing: its words say so.
  const wordsOf = (o: Output | undefined, w: CancelWords) => (o?.waitingForLock ? LOCK_WAIT_WORDS : w);
  const program = buildProgram(
    (p) => {
      pending = p;
    },
    {
      signal: cancel.signal,
      onOutput: (o, w) => {
        outputs.set(o, w);
        words = w;
        lastOutput = o;
        return () => outputs.delete(o);
      },
    },
    true,
  );
  // Progress bars end (the cursor shows again) and NDJSON batches go out before any last line.
  const stopOutputs = () => {
    for (const o of outputs.keys()) o.stop();
  };
  // The first signal cancels through the library's AbortSignal: no new transfer starts, the manifest (if
  // the command keeps one) is saved, the summary printed. A second one exits at once, as a kill would.
  const onSignal = (signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP') => {
    const reason = new CancelledError(signal);
    if (cancel.signal.aborted) {
      if (process.stderr.isTTY) process.stderr.write(cursorControl(process.stderr) ? '\x1b[?25h\n' : '\n');
      process.exit(signalExitCode(reason));
    }
    const message = (w: CancelWords) =>
      `${signal}: stopping (${w.stopping}); ${signal === 'SIGINT' ? 'Ctrl-C' : signal} again exits at once`;
    if (outputs.size === 0) process.stderr.write(`s3sync: ${message(wordsOf(lastOutput, words))}\n`);
    // Once per wording: config jobs watching side by side each hold an output, and one signal stops them all.
    const said = new Set<string>();
    for (const [o, w] of outputs) {
      const text = message(wordsOf(o, w));
      if (said.has(`${o.mode}:${text}`)) continue;
      said.add(`${o.mode}:${text}`);
      void o.event({ type: 'notice', message: text });
    }
    cancel.abort(reason);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A terminal or ssh session closed: Node's default ended a watch with no summary and no manifest saved.
  process.on('SIGHUP', onSignal);
  try {
    const [node = '', script = '', ...args] = pairHeaderFlags(argv);
    await program.parseAsync([node, script, ...helpTopicUnknown(program, args)]);
    if (!pending) return 0;
    const r = await pending;
    return typeof r === 'number' ? r : exitCodeOf(r.outcome, cancel.signal.reason);
  } catch (err) {
    stopOutputs();
    const reason: unknown = cancel.signal.reason;
    if (reason instanceof CancelledError) {
      process.stderr.write(`s3sync: ${reason.message}; ${wordsOf(lastOutput, words).after}\n`);
      return signalExitCode(reason);
    }
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof S3SyncError) {
      process.stderr.write(`s3sync: ${controlsEscaped(err.message)}\n`);
      if (debug && err.cause)
        process.stderr.write(`${printableLines((err.cause as Error).stack ?? String(err.cause))}\n`);
      return errorExitCode(err);
    }
    const e = err as Error;
    if (e?.name === 'AbortError') {
      process.stderr.write('s3sync: cancelled\n');
      return 1;
    }
    process.stderr.write(
      `s3sync: unexpected error: ${printable(e?.message?.split('\n')[0] ?? String(err))}\n`,
    );
    if (debug) process.stderr.write(`${printableLines(String(e?.stack))}\n`);
    return 1;
  } finally {
    stopOutputs();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

/**
 * A command whose library call ends in no summary of its own (plan, cleanup) stopped by an error: with
 * --json its last line still says how it ended (`stoppedBy`, `exitCode`), as a push's summary does.
 * Rethrows, so the error's line and exit code are the CLI's as ever (a cancellation's too).
 */
const stoppedLine =
  (mode: string, output: { stop(): void }, last: Record<string, unknown>) =>
  (err: unknown): never => {
    // A refusal of the call before its run began is said as a bad flag is: no summary of a run.
    if (mode === 'json' && err instanceof S3SyncError && !err.beforeRun) {
      output.stop();
      process.stdout.write(
        `${jsonText({ ...last, stoppedBy: stoppedMessage(err), exitCode: errorExitCode(err) })}\n`,
      );
    }
    throw err;
  };

/** Where a plan is to be written, checked before the listing: a folder that exists, not a folder itself. */
function checkOutFile(out: string, mode: OutputMode): void {
  // Here rather than in plan(), as every refusal of the command line: one line, nothing on stdout.
  if (out === '-')
    throw usageError(
      '--out -: a plan is written to a file: name one (--out /dev/stdout --quiet writes it to standard output)',
    );
  const abs = path.resolve(out);
  if (mode === 'json' && isStandardOutput(abs))
    throw usageError(
      `--out ${out}: standard output holds the --json events, and a plan there would break them: name a file (--out /dev/stdout --quiet writes the plan to standard output)`,
    );
  checkOutFolder(out);
}

/** `file` is what standard output writes to (`/dev/stdout`, `/proc/self/fd/1`, the file `>` named). */
function isStandardOutput(file: string): boolean {
  try {
    const [a, b] = [statSync(file), fstatSync(1)];
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
