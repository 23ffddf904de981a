/**
 * The rows of the options table (./table.ts) about the headers and encoding of uploaded objects, file
 * by file: per-pattern rules (./header-rules.ts) and compression on upload.
 */
import type { OptionSpec } from './spec.js';

export const HEADER_OPTIONS = {
  headers: {
    kind: 'rules',
    flag: '--header-for',
    arg: '<glob> <header>',
    help: 'set a header on uploaded objects matching the glob (Cache-Control, Content-Type, Content-Encoding, Content-Disposition, x-amz-storage-class, x-amz-meta-*); the first matching rule wins over --cache-control and --storage-class',
    example: "--header-for '*.html' 'Cache-Control: no-cache'",
    commands: ['push'],
    unplanned: true,
  },
  compress: {
    kind: 'list',
    glob: true,
    flag: '--compress',
    arg: '<glob>',
    help: 'store matching files gzip-compressed with Content-Encoding: gzip (pull restores the original bytes)',
    example: "--compress '*.html'",
    commands: ['push'],
    unplanned: true,
  },
} as const satisfies Record<string, OptionSpec>;
