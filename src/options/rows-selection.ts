/**
 * The rows of the options table (./table.ts) that choose what a run does: which paths, what it
 * deletes and the guards on deletion, and how much it transfers or verifies.
 */
import { MAX_SHARDS } from '../shard.js';
import { DAY, FILTERED, GiB, HOUR, type OptionSpec, PUSH_PULL } from './spec.js';

/** S3's largest object: a larger bound would select nothing a smaller one does not. */
const MAX_OBJECT = 5 * 1024 * GiB;

/** Filters, deletion and its guards, what counts as changed, and verification. */
export const SELECTION_OPTIONS = {
  include: {
    kind: 'list',
    glob: true,
    flag: '--include',
    arg: '<glob>',
    help: 'include matching paths, overrides --exclude',
    example: "--include '*.txt'",
    commands: FILTERED,
  },
  exclude: {
    kind: 'list',
    glob: true,
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
  // Only these paths: a run over a known subset reads no other file, and lists nothing when the
  // manifest vouches for them (src/sync/selection.ts).
  filesFrom: {
    kind: 'list',
    one: true,
    flag: '--files-from',
    arg: '<file>',
    help: "only the paths listed in a file, one per line ('-': stdin; '#' comments); several add up",
    example: '--files-from ./changed.txt',
    commands: FILTERED,
  },
  filesFrom0: {
    kind: 'list',
    one: true,
    flag: '--files-from0',
    arg: '<file>',
    help: "as --files-from, the paths separated by NUL characters ('-': stdin)",
    example: '--files-from0 ./changed.nul',
    commands: FILTERED,
  },
  // Bounds are inclusive, as rclone's: --min-size 1k keeps a file of exactly 1024 bytes.
  minSize: {
    kind: 'size',
    flag: '--min-size',
    arg: '<size>',
    min: 0,
    max: MAX_OBJECT,
    help: 'only files of at least this size (push, check: the local file; pull: the object)',
    example: '--min-size 1k',
    commands: FILTERED,
  },
  maxSize: {
    kind: 'size',
    flag: '--max-size',
    arg: '<size>',
    min: 0,
    max: MAX_OBJECT,
    help: 'only files of at most this size',
    example: '--max-size 100M',
    commands: FILTERED,
  },
  minAge: {
    kind: 'age',
    flag: '--min-age',
    arg: '<age|date>',
    help: 'only files modified at least this long ago, or at or before this time (push, check: mtime; pull: LastModified)',
    example: '--min-age 1h',
    commands: FILTERED,
  },
  maxAge: {
    kind: 'age',
    flag: '--max-age',
    arg: '<age|date>',
    help: 'only files modified at most this long ago, or at or after this time',
    example: '--max-age 7d',
    commands: FILTERED,
  },
  // Not for pull: a pull writes through no symbolic link in its destination.
  followSymlinks: {
    kind: 'boolean',
    flag: '--follow-symlinks',
    help: 'follow symbolic links (loops are detected; pull goes only through links to directories inside the target)',
    commands: ['push', 'pull', 'check'],
  },
  // One run per shard, each with its own manifest and lock: a tree too large for one machine is split
  // across the array jobs of a batch engine, and no shard reads, writes or deletes another's paths.
  shard: {
    kind: 'shard',
    flag: '--shard',
    arg: '<I/N>',
    help: 'only the paths whose hash falls in shard I of N (I counts from 0)',
    example: '--shard 0/4',
    commands: FILTERED,
  },
  shards: {
    kind: 'int',
    flag: '--shards',
    arg: '<n>',
    min: 1,
    max: MAX_SHARDS,
    help: 'as --shard I/N, I read from JOB_COMPLETION_INDEX (Kubernetes) or AWS_BATCH_JOB_ARRAY_INDEX',
    example: '--shards 4',
    commands: FILTERED,
  },
  delete: {
    kind: 'boolean',
    flag: '--delete',
    help: 'delete destination files that have no source file (after all transfers)',
    // The config file's defaults may turn it on for every run: one run must be able to say no.
    negation: "delete nothing, whatever the config file's defaults say",
    negationFor: { jobs: 'delete nothing in any job, whatever the config file says' },
    // A job's own "delete": true may be overridden for one run; turning deletes on for all is not a flag.
    negationOnly: ['jobs'],
    commands: PUSH_PULL,
  },
  deleteExcluded: {
    kind: 'boolean',
    flag: '--delete-excluded',
    help: 'with --delete, also delete destination files excluded by filters',
    needs: 'delete',
    commands: PUSH_PULL,
  },
  maxDelete: {
    kind: 'max-delete',
    flag: '--max-delete',
    arg: '<n|p%>',
    default: '50%',
    help: 'with --delete, refuse to delete more than N files or P% of the destination',
    example: '--max-delete 100',
    needs: 'delete',
    commands: PUSH_PULL,
  },
  force: {
    kind: 'boolean',
    flag: '--force',
    help: 'with --delete, override the --max-delete guard and the empty-source refusal',
    needs: 'delete',
    commands: PUSH_PULL,
  },
  dryRun: {
    kind: 'boolean',
    flag: '--dry-run',
    short: '-n',
    help: 'show what would happen, with reasons, and change nothing',
    helpFor: { cleanup: 'list them, abort nothing', jobs: 'dry-run every push and pull job' },
    negation: "run for real, whatever the config file's defaults say",
    negationFor: { cleanup: "abort them, whatever the config file's defaults say" },
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
} as const satisfies Record<string, OptionSpec>;
