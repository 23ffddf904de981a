import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { CancelledError, S3SyncError } from '../errors.js';
import { jsonText, printable } from '../escape.js';
import { CANNED_ACLS, CHECKSUM_MODES, flagParser, SSE_ALGORITHMS } from '../options/validate.js';
import { PROVIDER_NAMES } from '../s3/providers.js';
import { loadConfig } from './config.js';
import { Output, type OutputMode } from './output.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** A flag's value, parsed and checked by the option's rule (src/options/validate.ts). */
const arg = flagParser;

/** Flags every command that talks to S3 accepts. */
function connectionFlags(cmd: Command): Command {
  return cmd
    .option(
      '--endpoint-url <url>',
      "S3 endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS)",
    )
    .option('--region <region>', 'region to sign requests for')
    .option('--profile <name>', 'AWS profile from ~/.aws/config and ~/.aws/credentials')
    .option('--path-style', 'path-style addressing (bucket in the URL path)')
    .option('--no-path-style', 'virtual-host addressing')
    .addOption(new Option('--provider <name>', 'S3 provider preset').choices(PROVIDER_NAMES))
    .addOption(
      new Option('--checksums <mode>', 'SDK request checksums (default: when_required off AWS)').choices(
        CHECKSUM_MODES,
      ),
    )
    .option('--workers <n>', 'concurrent transfers (default 16)', arg('workers'))
    .option('--retries <n>', 'retries per request (default 4)', arg('retries'))
    .option(
      '--connect-timeout <duration>',
      'give up connecting after this long (default 10s)',
      arg('connectTimeoutMs'),
    )
    .option(
      '--stall-timeout <duration>',
      'retry a transfer that receives or sends nothing for this long (default 60s)',
      arg('stallTimeoutMs'),
    )
    .option(
      '--first-byte-timeout <duration>',
      'until the endpoint first answers, give up after this long without a response (default 10s)',
      arg('firstByteTimeoutMs'),
    )
    .option('--manifest <path>', 'manifest file (default DIR/.s3sync/manifest-<bucket>-<id>.json)')
    .option('--wait-lock', 'wait for another run on the same destination instead of failing')
    .option('--json', 'NDJSON events and a final summary object on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--debug', 'show stack traces and retries (never secrets)');
}

function filterFlags(cmd: Command): Command {
  return cmd
    .option('--include <glob>', 'include matching paths, overrides --exclude (repeatable)', collect)
    .option('--exclude <glob>', 'exclude matching paths (repeatable)', collect)
    .option('--exclude-from <file>', 'read exclude globs from a file (repeatable)', collect)
    .option('--follow-symlinks', 'follow symbolic links (loops are detected)');
}

function deleteFlags(cmd: Command): Command {
  return cmd
    .option('--delete', 'delete destination files that have no source file (after all transfers)')
    .option('--delete-excluded', 'with --delete, also delete destination files excluded by filters')
    .option(
      '--max-delete <n|p%>',
      'refuse to delete more than N files or P% of the destination (default 50%)',
      arg('maxDelete'),
    )
    .option('--force', 'override the --max-delete guard and the empty-source refusal');
}

const dryRunFlag = (cmd: Command) =>
  cmd.option('-n, --dry-run', 'show what would happen, with reasons, and change nothing');

function pushFlags(cmd: Command): Command {
  return cmd
    .option('--incremental', 'upload only what changed (default)')
    .option('--no-incremental', 'upload every file')
    .option('--verify', 'also list the remote and re-upload objects missing or changed there')
    .option(
      '--verify-interval <duration>',
      'do as --verify when the last listing of the destination is older than this (default 24h; never)',
    )
    .option(
      '--multipart-threshold <size>',
      'files from this size go multipart (default 128MiB)',
      arg('multipartThreshold'),
    )
    .option(
      '--part-size <size>',
      'multipart part size (default 16MiB, raised to fit 10,000 parts)',
      arg('partSize'),
    )
    .option('--storage-class <class>', 'storage class of uploaded objects, e.g. STANDARD_IA')
    .addOption(new Option('--sse <algorithm>', 'server-side encryption').choices(SSE_ALGORITHMS))
    .option('--sse-kms-key-id <id>', 'KMS key for --sse aws:kms')
    .option('--cache-control <value>', 'Cache-Control of uploaded objects')
    .addOption(new Option('--acl <acl>', 'canned ACL of uploaded objects').choices(CANNED_ACLS));
}

type Flags = Record<string, unknown>;

/** Text of several lines (a stack trace, Commander's usage errors), each made printable. */
const printableLines = (text: string) => text.split('\n').map(printable).join('\n');

/** Commander flags → library options: the same names, so the CLI adds nothing of its own. */
function toOptions(flags: Flags, output: Output) {
  const { json, quiet, connectTimeout, stallTimeout, firstByteTimeout, ...rest } = flags;
  void json;
  void quiet;
  return {
    ...rest,
    connectTimeoutMs: connectTimeout,
    stallTimeoutMs: stallTimeout,
    firstByteTimeoutMs: firstByteTimeout,
    onEvent: (e: object) => void output.event(e as Parameters<Output['event']>[0]),
  };
}

function newOutput(flags: Flags): Output {
  const mode: OutputMode = flags.json ? 'json' : flags.quiet ? 'quiet' : 'human';
  return new Output(mode);
}

/** What runCli gives every command: the signal that cancels it, and a look at its output. */
export interface RunContext {
  signal?: AbortSignal;
  onOutput?: (output: Output) => void;
}

export function buildProgram(
  run: (r: Promise<{ exitCode: number } | number>) => void,
  ctx: RunContext = {},
): Command {
  const outputFor = (flags: Flags) => {
    const output = newOutput(flags);
    ctx.onOutput?.(output);
    return output;
  };
  const program = new Command('s3sync')
    .description('Incremental sync between a local directory and an S3 prefix, driven by a local manifest.')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Commander's messages quote the arguments given, a path among them.
    .configureOutput({ outputError: (text, write) => write(printableLines(text)) })
    .exitOverride();

  const withConfig = (command: string, flags: Flags) => ({
    ...loadConfig().defaults,
    ...flags,
    command,
    signal: ctx.signal,
  });

  pushFlags(
    dryRunFlag(
      deleteFlags(
        filterFlags(
          connectionFlags(
            program
              .command('push')
              .description('upload what changed in DIR to s3://bucket/prefix')
              .argument('<source>', 'local directory')
              .argument('<destination>', 's3://bucket/prefix'),
          ),
        ),
      ),
    ),
  )
    .addHelpText('after', '\nExample:\n  s3sync push ./database s3://my-bucket/backups/db --delete')
    .action((source: string, destination: string, flags: Flags) => {
      const output = outputFor(flags);
      run(
        import('../sync/push.js').then(({ push }) =>
          push({ ...(toOptions(withConfig('push', flags), output) as object), source, destination }),
        ),
      );
    });

  connectionFlags(
    filterFlags(
      dryRunFlag(
        deleteFlags(
          program
            .command('pull')
            .description('download what changed under s3://bucket/prefix into DIR')
            .argument('<source>', 's3://bucket/prefix')
            .argument('<destination>', 'local directory (created if missing)'),
        ),
      ),
    ),
  )
    .option('--incremental', 'download only what changed (default)')
    .option('--no-incremental', 'download every object')
    .option(
      '--multipart-threshold <size>',
      'objects from this size are fetched as parallel ranges (default 128MiB)',
      arg('multipartThreshold'),
    )
    .option('--part-size <size>', 'range size for large objects (default 16MiB)', arg('partSize'))
    .addHelpText('after', '\nExample:\n  s3sync pull s3://my-bucket/backups/db ./restore')
    .action((source: string, destination: string, flags: Flags) => {
      const output = outputFor(flags);
      run(
        import('../sync/pull.js').then(({ pull }) =>
          pull({ ...(toOptions(withConfig('pull', flags), output) as object), source, destination }),
        ),
      );
    });

  connectionFlags(
    filterFlags(
      program
        .command('check')
        .description('compare DIR with s3://bucket/prefix by size and content; exit 1 on any difference')
        .argument('<local>', 'local directory')
        .argument('<remote>', 's3://bucket/prefix'),
    ),
  )
    .option('--full', 're-hash every local file instead of trusting unchanged stat data')
    .addHelpText('after', '\nExample:\n  s3sync check ./database s3://my-bucket/backups/db')
    .action((local: string, remote: string, flags: Flags) => {
      const output = outputFor(flags);
      run(
        import('../sync/check.js').then(({ check }) =>
          check({ ...(toOptions(withConfig('check', flags), output) as object), local, remote }),
        ),
      );
    });

  pushFlags(
    deleteFlags(
      filterFlags(
        connectionFlags(
          program
            .command('plan')
            .description(
              'write a reviewable plan of a push or pull (with the reason for each action); change nothing',
            )
            .argument('<direction>', 'push or pull')
            .argument('<source>', 'local directory (push) or s3://bucket/prefix (pull)')
            .argument('<destination>', 's3://bucket/prefix (push) or local directory (pull)')
            .requiredOption('--out <file>', 'where to write the plan (JSON)'),
        ),
      ),
    ),
  )
    .addHelpText('after', '\nExample:\n  s3sync plan push ./site s3://bucket/www --delete --out plan.json')
    .action((direction: string, source: string, destination: string, flags: Flags) => {
      if (direction !== 'push' && direction !== 'pull')
        throw new S3SyncError(`plan: direction must be push or pull, not '${direction}'`);
      const output = outputFor(flags);
      run(
        import('../sync/plan-file.js').then(async ({ plan }) => {
          const doc = await plan({
            ...(toOptions(withConfig(direction, flags), output) as object),
            direction,
            source,
            destination,
          } as Parameters<typeof plan>[0]);
          if (!flags.quiet && !flags.json)
            process.stdout.write(
              `${printable(`plan: ${doc.actions.length} action(s) written to ${String(flags.out)}`)}\n`,
            );
          return 0;
        }),
      );
    });

  connectionFlags(
    program
      .command('apply')
      .description('execute exactly the actions of a plan, refusing any whose file or object changed since')
      .argument('<plan>', 'plan file written by s3sync plan'),
  )
    .option('--multipart-threshold <size>', 'multipart threshold (default 128MiB)', arg('multipartThreshold'))
    .option('--part-size <size>', 'part size (default 16MiB)', arg('partSize'))
    .addHelpText('after', '\nExample:\n  s3sync apply plan.json')
    .action((planFile: string, flags: Flags) => {
      const output = outputFor(flags);
      run(
        import('../sync/plan-file.js').then(({ apply }) =>
          apply({ ...(toOptions(withConfig('apply', flags), output) as object), plan: planFile }),
        ),
      );
    });

  connectionFlags(
    program
      .command('cleanup')
      .description('abort stale multipart uploads under s3://bucket/prefix (their parts are billed)')
      .argument('<target>', 's3://bucket/prefix'),
  )
    .option(
      '--older-than <duration>',
      'only uploads started longer ago than this (default 24h)',
      arg('olderThanMs'),
    )
    .option('-n, --dry-run', 'list them, abort nothing')
    .addHelpText('after', '\nExample:\n  s3sync cleanup s3://my-bucket/backups --older-than 2d --dry-run')
    .action((target: string, flags: Flags) => {
      const output = outputFor(flags);
      run(
        import('../sync/cleanup.js').then(async ({ cleanup }) => {
          const r = await cleanup({
            ...(toOptions(withConfig('cleanup', flags), output) as object),
            target,
            olderThanMs: flags.olderThan as number | undefined,
          });
          if (flags.json) process.stdout.write(`${jsonText({ type: 'summary', ...r })}\n`);
          else if (!flags.quiet) {
            process.stdout.write(
              `${r.found.length} stale multipart upload(s)${r.dryRun ? ' (dry run: none aborted)' : `, ${r.aborted} aborted, ${r.failed} failed`}\n`,
            );
          }
          return r.exitCode;
        }),
      );
    });

  program
    .command('demo')
    .description('start the embedded local S3 server and push a sample directory twice')
    .option('--keep', 'keep the sample directory and print its path')
    .addHelpText('after', '\nExample:\n  npx s3sync demo')
    .action((flags: Flags) => {
      run(import('./demo.js').then(({ runDemo }) => runDemo({ keep: !!flags.keep, signal: ctx.signal })));
    });

  return program;
}

/** Runs the CLI; returns the exit code: 0 in sync, 1 some files failed, 2 usage or configuration error. */
export async function runCli(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  let pending: Promise<{ exitCode: number } | number> | undefined;
  const cancel = new AbortController();
  const outputs: Output[] = [];
  const program = buildProgram(
    (p) => {
      pending = p;
    },
    { signal: cancel.signal, onOutput: (o) => outputs.push(o) },
  );
  // Progress bars end (the cursor shows again) and NDJSON batches go out before any last line.
  const stopOutputs = () => {
    for (const o of outputs) o.stop();
  };
  // The first signal cancels through the library's AbortSignal: no new transfer starts, the manifest is
  // saved, the summary printed. A second one exits at once, as a kill would.
  const onSignal = (signal: NodeJS.Signals) => {
    const reason = new CancelledError(signal === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
    if (cancel.signal.aborted) {
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h\n');
      process.exit(reason.exitCode);
    }
    const message = `${signal}: stopping (the manifest is saved); ${signal === 'SIGINT' ? 'Ctrl-C' : signal} again exits at once`;
    if (outputs.length === 0) process.stderr.write(`s3sync: ${message}\n`);
    for (const o of outputs) void o.event({ type: 'notice', message });
    cancel.abort(reason);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const args = argv.slice(2);
    if (args.length === 0) {
      const { runConfiguredJobs } = await import('./config.js');
      pending = runConfiguredJobs(program, cancel.signal);
    } else {
      await program.parseAsync(argv);
    }
    if (!pending) return 0;
    const r = await pending;
    return typeof r === 'number' ? r : r.exitCode;
  } catch (err) {
    stopOutputs();
    if (cancel.signal.aborted) {
      const reason = cancel.signal.reason as CancelledError;
      process.stderr.write(`s3sync: ${reason.message}; the next run continues where this one stopped\n`);
      return reason.exitCode;
    }
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof S3SyncError) {
      process.stderr.write(`s3sync: ${printable(err.message)}\n`);
      if (debug && err.cause)
        process.stderr.write(`${printableLines((err.cause as Error).stack ?? String(err.cause))}\n`);
      return err.exitCode;
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
  }
}
