/** The rows of the options table (./table.ts) for `push --watch`. */
import { DAY, HOUR, MINUTE, type OptionSpec, SECOND } from './spec.js';

export const WATCH_OPTIONS = {
  watch: {
    kind: 'boolean',
    flag: '--watch',
    help: 'keep running: sync once, then upload what changes as it changes (until SIGTERM or Ctrl-C)',
    commands: ['push'],
  },
  settle: {
    kind: 'duration',
    flag: '--settle',
    arg: '<duration>',
    // Below 100 ms two stats of a file being written can look alike between two writes.
    min: 100,
    max: HOUR,
    // A couple of seconds: long enough for an editor's save or a copy's last write, short enough to feel live.
    default: 2 * SECOND,
    help: 'with --watch: upload a file once its size and mtime have not changed for this long',
    example: '--settle 10s',
    commands: ['push'],
  },
  settleMax: {
    kind: 'duration',
    flag: '--settle-max',
    arg: '<duration>',
    min: 100,
    max: 30 * DAY,
    never: true,
    // None by default (never): a file sent while written (a dump half done) would stand as a backup.
    help: 'with --watch: send a file that never settles, as a log always written, once it has kept changing this long',
    defaultText: 'never',
    example: '--settle-max 5m',
    commands: ['push'],
  },
  reconcileEvery: {
    kind: 'duration',
    flag: '--reconcile-every',
    arg: '<duration>',
    min: SECOND,
    max: 30 * DAY,
    never: true,
    // A no-change walk costs no request, so a few minutes bounds how late a missed event is caught.
    default: 5 * MINUTE,
    help: 'with --watch: walk the whole tree this often, catching what events missed',
    example: '--reconcile-every 1m',
    commands: ['push'],
  },
} as const satisfies Record<string, OptionSpec>;
