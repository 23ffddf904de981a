/**
 * `s3sync sync SRC DST`, aws-cli's shape: a local directory to S3 is push, S3 to a local directory is
 * pull, S3 to S3 is syncBuckets. Each takes its own options and refuses the others'.
 */
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { isS3Url } from '../s3/url.js';
import type { CommandEnd, Flags } from './program.js';

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

/** The action of `sync`: the entry point its two arguments name. */
export function syncAction(
  prepare: (command: 'sync', cmd: Command) => { options: Flags },
  run: (r: CommandEnd) => void,
) {
  return (source: string, destination: string, _flags: Flags, cmd: Command) => {
    const { options } = prepare('sync', cmd);
    const args = { ...options, source, destination };
    if (isS3Url(source) && isS3Url(destination))
      run(import('../sync/s3-to-s3.js').then(({ syncBuckets }) => syncBuckets(args)));
    else if (isS3Url(destination)) {
      // An upload has no past to read: a silent current-state push would not be what was asked.
      if (options.at !== undefined)
        throw usageError(
          '--at applies to a sync from S3 (s3://… DIR, or s3://… s3://…): a local directory has no earlier versions',
        );
      run(import('../sync/push.js').then(({ push }) => push(args)));
    } else if (isS3Url(source)) run(import('../sync/pull.js').then(({ pull }) => pull(args)));
    else throw usageError('sync takes at least one s3://bucket/prefix: for two local directories use rsync');
  };
}
