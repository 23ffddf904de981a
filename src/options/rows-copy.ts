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
    help: 'create a file that an object under another key already holds (same size and MD5) by a server-side copy',
    negation: 'upload such files instead of copying',
    commands: ['push'],
  },
  backupDir: {
    kind: 'string',
    flag: '--backup-dir',
    arg: '<dir>',
    help: 'keep what the run overwrites or deletes under this directory, at the same relative path',
    helpFor: {
      push: 'first copy each object the run overwrites or deletes to this s3://bucket/prefix (same endpoint)',
      pull: 'first move each local file the run replaces or deletes into this directory (outside the target)',
      sync: 'first copy each object the run overwrites or deletes to this s3://bucket/prefix (same endpoint)',
    },
    example: '--backup-dir s3://bucket/old/2026-12-01',
    exampleFor: { pull: '--backup-dir ../previous' },
    commands: ['push', 'pull', 'sync'],
  },
  suffix: {
    kind: 'string',
    flag: '--suffix',
    arg: '<suffix>',
    help: 'appended to the names kept under --backup-dir (no / or \\)',
    inName: true,
    needs: 'backupDir',
    example: '--suffix .bak',
    commands: ['push', 'pull', 'sync'],
  },
} as const satisfies Record<string, OptionSpec>;
