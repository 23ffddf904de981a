/**
 * The rows of the options table (./table.ts) about how objects are transferred and stored, and the
 * options of one command each.
 */
import { CANNED_ACLS, DAY, GiB, HOUR, MiB, type OptionSpec, SSE_ALGORITHMS, TRANSFER } from './spec.js';

/** Multipart sizes and the storage settings of uploaded objects. */
export const TRANSFER_OPTIONS = {
  multipartThreshold: {
    kind: 'size',
    flag: '--multipart-threshold',
    arg: '<size>',
    min: MiB,
    max: 5 * GiB,
    // rclone's cutoff is 200 MiB: a single PUT is one request, the server assembles nothing, and the
    // ETag is the MD5 anyone can check; multipart only pays for itself on larger files.
    default: 128 * MiB,
    help: 'files and objects from this size are transferred in parts',
    helpFor: {
      push: 'files from this size go multipart',
      pull: 'objects from this size are fetched as parallel ranges',
    },
    example: '--multipart-threshold 64MiB',
    commands: TRANSFER,
  },
  partSize: {
    kind: 'size',
    flag: '--part-size',
    arg: '<size>',
    min: MiB,
    max: 5 * GiB,
    default: 16 * MiB,
    help: 'part size of multipart uploads (at least 5MiB, the S3 minimum) and of ranged downloads',
    helpFor: {
      push: 'multipart part size, raised to 5MiB (the S3 minimum) and to fit 10,000 parts',
      pull: 'range size for large objects',
    },
    example: '--part-size 32MiB',
    commands: TRANSFER,
  },
  // Off by default, as rsync's -S and restic's restore --sparse: a file with holes may be filled in by
  // a later copy or run out of space when written into, which a caller should choose knowingly.
  sparse: {
    kind: 'boolean',
    flag: '--sparse',
    help: 'leave the blocks of downloaded files that are all zeros as holes, taking no disk space',
    helpFor: { apply: 'with a pull plan, leave the blocks of downloaded files that are all zeros as holes' },
    // The config file's defaults may turn it on for every run: one run must be able to say no.
    negation: "write every byte, whatever the config file's defaults say",
    negationFor: {
      apply: "write every byte of a pull plan's downloads, whatever the config file's defaults say",
    },
    commands: ['pull', 'apply'],
    bodiesOnly: true,
  },
  storageClass: {
    kind: 'string',
    inHeader: true,
    flag: '--storage-class',
    arg: '<class>',
    help: 'storage class of uploaded objects',
    example: '--storage-class STANDARD_IA',
    commands: ['push'],
    unplanned: true,
  },
  sse: {
    kind: 'enum',
    flag: '--sse',
    arg: '<algorithm>',
    values: SSE_ALGORITHMS,
    help: 'server-side encryption',
    example: '--sse aws:kms',
    commands: ['push'],
    unplanned: true,
  },
  sseKmsKeyId: {
    kind: 'string',
    inHeader: true,
    flag: '--sse-kms-key-id',
    arg: '<id>',
    help: 'KMS key for --sse aws:kms',
    example: '--sse-kms-key-id alias/backups',
    commands: ['push'],
    unplanned: true,
  },
  cacheControl: {
    kind: 'string',
    inHeader: true,
    flag: '--cache-control',
    arg: '<value>',
    help: 'Cache-Control of uploaded objects',
    example: "--cache-control 'max-age=300'",
    commands: ['push'],
    unplanned: true,
  },
  acl: {
    kind: 'enum',
    flag: '--acl',
    arg: '<acl>',
    values: CANNED_ACLS,
    help: 'canned ACL of uploaded objects',
    example: '--acl bucket-owner-full-control',
    commands: ['push'],
    unplanned: true,
  },
} as const satisfies Record<string, OptionSpec>;

/** Options of a single command: check, plan, cleanup, demo. */
export const COMMAND_OPTIONS = {
  full: {
    kind: 'boolean',
    flag: '--full',
    help: 're-hash every local file instead of trusting unchanged stat data',
    commands: ['check'],
  },
  out: {
    kind: 'string',
    flag: '--out',
    arg: '<file>',
    help: 'where to write the plan, as JSON',
    noDefault: true,
    example: '--out plan.json',
    commands: ['plan'],
  },
  olderThan: {
    kind: 'duration',
    flag: '--older-than',
    arg: '<duration>',
    min: 0,
    max: 3650 * DAY,
    // As rclone cleanup: an upload a day old is no longer being written by anyone.
    default: 24 * HOUR,
    help: 'only uploads started longer ago than this',
    example: '--older-than 2d',
    commands: ['cleanup'],
    formerly: 'olderThanMs',
  },
  keep: {
    kind: 'boolean',
    flag: '--keep',
    help: 'keep the sample directory and print its path',
    commands: ['demo'],
    cliOnly: true,
  },
} as const satisfies Record<string, OptionSpec>;
