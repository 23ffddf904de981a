/** The rows of the options table (./table.ts) for versioned buckets (point-in-time restore). */
import type { OptionSpec } from './spec.js';

export const VERSION_OPTIONS = {
  // Parsed where the run starts (src/sync/at-time.ts): a duration is counted back from that moment.
  at: {
    kind: 'string',
    flag: '--at',
    arg: '<time>',
    help: 'the prefix as it was at TIME (a versioned bucket): an ISO 8601 date or time, or a duration ago',
    helpFor: {
      pull: 'restore the prefix as it was at TIME, from a versioned bucket: an ISO 8601 date or time (local unless it names a zone), or a duration ago',
      sync: 'S3 to S3 or S3 to DIR: make the destination like the source prefix as it was at TIME, from a versioned bucket: an ISO 8601 date or time (local unless it names a zone), or a duration ago',
      check:
        'compare with the prefix as it was at TIME, from a versioned bucket: an ISO 8601 date or time (local unless it names a zone), or a duration ago',
    },
    example: '--at 2026-11-30T18:00:00Z',
    commands: ['pull', 'check', 'sync'],
    // A plan file records no version ids: `plan pull --at` would apply today's objects.
    unplanned: true,
  },
} as const satisfies Record<string, OptionSpec>;
