/**
 * `s3sync sync SRC DST`, aws-cli's shape: a local directory to S3 is push, S3 to a local directory is
 * pull, S3 to S3 is syncBuckets. Each takes its own options and refuses the others'.
 */
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { isS3Url } from '../s3/url.js';
import { localDir } from './local-arg.js';
import type { Output } from './output.js';
import type { CommandEnd, Flags, PushArgs } from './program.js';

export function syncCommand(program: Command): Command {
  return program
    .command('sync')
    .description('push (DIR to S3), pull (S3 to DIR), or copy what changed from one S3 prefix to another')
    .argument('<source>', 'local directory or s3://bucket/prefix')
    .argument('<destination>', 'local directory or s3://bucket/prefix')
    .addHelpText(
      'after',
      '\nExample:\n  s3sync sync s3://old-bucket/data s3://new-bucket/data --source-endpoint-url https://old.example.com',
    );
}

/**
 * The action of `sync`: the entry point its two arguments name; DIR → S3 through `push`, the push
 * command's own, so that a watch shows itself as `push --watch` does.
 */
export function syncAction(
  prepare: (command: 'sync s3' | 'push' | 'pull', cmd: Command) => { options: Flags; output: Output },
  run: (r: CommandEnd) => void,
  push: (args: PushArgs, output: Output) => CommandEnd,
) {
  return (source: string, destination: string, _flags: Flags, cmd: Command) => {
    // The options of what it runs, as a config job's: else a config default meant for push or pull
    // (`maxSize`, `followSymlinks`) failed every S3 → S3 sync, and a flag was named by its option key.
    const [from, to] = [isS3Url(source), isS3Url(destination)];
    if (!from && !to)
      throw usageError('sync takes at least one s3://bucket/prefix: for two local directories use rsync');
    const entry = from && to ? 'sync s3' : to ? 'push' : 'pull';
    if (!from) localDir(source, 'sync');
    if (!to) localDir(destination, 'sync');
    // An upload has no past to read: a silent current-state push would not be what was asked.
    if (entry === 'push' && cmd.opts().at !== undefined)
      throw usageError(
        '--at applies to a sync from S3 (s3://… DIR, or s3://… s3://…): a local directory has no earlier versions',
      );
    const { options, output } = prepare(entry, cmd);
    const args = { ...options, source, destination };
    if (entry === 'sync s3') run(import('../sync/s3-to-s3.js').then(({ syncBuckets }) => syncBuckets(args)));
    else if (entry === 'push') run(push(args, output));
    else run(import('../sync/pull.js').then(({ pull }) => pull(args)));
  };
}
