/**
 * The rows of the options table (./table.ts) that limit what a run asks of the link and of the store:
 * bytes per second (--bwlimit) and requests per second (--tpslimit), as rclone names them.
 */
import { GiB, KiB, type OptionSpec, S3 } from './spec.js';

export const LIMIT_OPTIONS = {
  // Not for check or cleanup: they transfer no object bodies (sync: only those it streams through, not
  // server-side copies). Below 1 KiB/s a body would crawl past any stall timeout; a rate of 0 would
  // transfer nothing, so it is refused rather than read as "off".
  bwlimit: {
    kind: 'rate',
    flag: '--bwlimit',
    arg: '<rate>',
    min: KiB,
    max: 1024 * GiB,
    help: 'bytes per second across all transfers, UP:DOWN for each way, off for none',
    defaultText: 'off',
    example: '--bwlimit 10MiB:2MiB',
    commands: ['push', 'pull', 'apply', 'sync', 'jobs'],
    bodiesOnly: true,
  },
  tpslimit: {
    kind: 'int',
    flag: '--tpslimit',
    arg: '<n>',
    min: 1,
    max: 1_000_000,
    help: 'requests per second, listings, HEADs and retries included',
    defaultText: 'no limit',
    example: '--tpslimit 10',
    commands: S3,
  },
  // rclone's default burst: one request, so the rate holds over any interval.
  tpslimitBurst: {
    kind: 'int',
    flag: '--tpslimit-burst',
    arg: '<n>',
    min: 1,
    max: 1_000_000,
    default: 1,
    help: 'requests that may go at once after an idle spell, with --tpslimit',
    needs: 'tpslimit',
    example: '--tpslimit-burst 20',
    commands: S3,
  },
} as const satisfies Record<string, OptionSpec>;
