/**
 * The rows of the options table (./table.ts) about server-side copies: rename detection on push, and
 * keeping what a run overwrites or deletes (--backup-dir, --suffix).
 */
import type { OptionSpec } from './spec.js';

export const COPY_OPTIONS = {
  trackRenames: {
    kind: 'boolean',
    flag: '--track-renames',
    // The manifest already holds every file's MD5: a moved file is recognised without a request more.
    default: true,
    help: 'create a file whose size and MD5 an object under another key has by a server-side copy of it',
    negation: 'upload such files instead of copying',
    commands: ['push'],
  },
  backupDir: {
    kind: 'string',
    flag: '--backup-dir',
    arg: '<dir>',
    help: 'keep what the run overwrites or deletes under this directory, at the same relative path',
    helpFor: {
      push: 'copy each object the run overwrites or deletes to s3://bucket/prefix (same endpoint) first',
      pull: 'move each local file the run replaces or deletes into this directory (outside the target) first',
    },
    example: '--backup-dir s3://backups/2026-12-01',
    commands: ['push', 'pull'],
  },
  suffix: {
    kind: 'string',
    flag: '--suffix',
    arg: '<suffix>',
    help: 'appended to the names kept under --backup-dir',
    example: '--suffix .bak',
    commands: ['push', 'pull'],
  },
} as const satisfies Record<string, OptionSpec>;
