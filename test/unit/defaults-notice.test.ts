/**
 * The line a hand-typed command says when it takes settings from the config file's defaults: which
 * settings (those the run takes, not those a flag replaced or the command does not use), as flags, with
 * secret-like values masked.
 */
import { describe, expect, it } from 'vitest';
import { asFlag, defaultsNotice } from '../../src/cli/defaults-notice.js';
import { splitOptions } from '../../src/cli/program.js';
import { MiB, SECOND } from '../../src/options/spec.js';

describe('asFlag', () => {
  it.each<[string, unknown, string]>([
    ['workers', 8, '--workers 8'],
    ['delete', true, '--delete'],
    ['incremental', false, '--no-incremental'],
    ['stallTimeout', 30 * SECOND, '--stall-timeout 30s'],
    ['partSize', 16 * MiB, '--part-size 16MiB'],
    ['multipartThreshold', 100, '--multipart-threshold 100'],
    ['maxDelete', '10%', '--max-delete 10%'],
    ['exclude', ['*.tmp', '*.log'], '--exclude *.tmp --exclude *.log'],
    ['include', ['a', 'b', 'c', 'd', 'e'], '--include a --include b --include c (+2 more)'],
    [
      'headers',
      [{ match: '*.html', cacheControl: 'no-cache' }],
      '--header-for [{"match":"*.html","cacheControl":"no-cache"}]',
    ],
    ['endpointUrl', 'https://user:pw@s3.example.com', '--endpoint-url https://***@s3.example.com'],
    // A KMS key's id is masked as a secret would be: its owner may count it one.
    ['sseKmsKeyId', 'arn:aws:kms:eu-west-1:1:key/abc', '--sse-kms-key-id ***'],
  ])('%s %j reads %s', (key, v, text) => {
    expect(asFlag(key, v)).toBe(text);
  });
});

describe('defaultsNotice', () => {
  it('names the file and what the run takes from it, in one line; nothing when it takes nothing', () => {
    const defaults = { workers: 8, delete: true, partSize: 32 * MiB, keep: true };
    // push takes no --keep (demo's), and a flag given for the run replaces the file's workers.
    const { fromFirst } = splitOptions('push', [defaults, {}, { workers: 2 }]);
    expect(fromFirst).toEqual(['delete', 'partSize']);
    expect(defaultsNotice('/etc/s3sync.config.json', defaults, fromFirst)).toBe(
      'using defaults from /etc/s3sync.config.json: --delete, --part-size 32MiB',
    );
    expect(defaultsNotice('/x.json', defaults, [])).toBeUndefined();
    // A default that needs a switch the run does not turn on is not taken.
    expect(splitOptions('push', [{ maxDelete: 3 }, {}, {}]).fromFirst).toEqual([]);
    expect(splitOptions('push', [{ maxDelete: 3 }, {}, { delete: true }]).fromFirst).toEqual(['maxDelete']);
  });
});
