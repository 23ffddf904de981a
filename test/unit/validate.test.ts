import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  checkEnds,
  configValues,
  flagParser,
  OPTION_RULES,
  parseMaxDelete,
  validateOptions,
} from '../../src/options/validate.js';
import { PROVIDER_NAMES } from '../../src/s3/providers.js';
import { maxDeleteLimit } from '../../src/sync/delete-guard.js';

const MiB = 1024 * 1024;

/** The usage error a call throws: exit 2, one line. */
function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).exitCode).toBe(2);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a usage error, got none');
}

describe('flag values', () => {
  it.each([
    ['workers', '1', 1],
    ['workers', ' 16 ', 16],
    ['workers', '1024', 1024],
    ['retries', '0', 0],
    ['retries', '100', 100],
    ['partSize', '5MiB', 5 * MiB],
    ['partSize', '1m', MiB],
    ['partSize', '1.5M', 1.5 * MiB],
    ['multipartThreshold', '5G', 5 * 1024 * MiB],
    ['multipartThreshold', '1048576', MiB],
    ['stallTimeoutMs', '30', 30_000],
    ['stallTimeoutMs', '1500ms', 1500],
    ['connectTimeoutMs', '2m', 120_000],
    ['olderThanMs', '0s', 0],
    ['olderThanMs', '2d', 2 * 86_400_000],
    ['olderThanMs', '3600', 3600],
    ['maxDelete', '0', '0'],
    ['maxDelete', '100%', '100%'],
    ['maxDelete', '12.5%', '12.5%'],
  ] as const)('%s %j → %j', (name, text, value) => {
    expect(flagParser(name)(text)).toEqual(value);
  });

  it.each([
    ['workers', ['0', '-1', '1.5', 'four', '1e9', '1e3', '0x10', '', '1025', '9007199254740993']],
    ['retries', ['-1', '1.5', 'x', '101', '1e2']],
    ['partSize', ['0', '1KiB', '-5M', 'big', '6G', '5 MiBs']],
    ['multipartThreshold', ['0', '100', '1e9', '5.1G']],
    ['stallTimeoutMs', ['0', '0s', '999ms', '-1s', 'never', '2 s', '25h']],
    ['connectTimeoutMs', ['0', '99ms', 'x']],
    ['olderThanMs', ['-1', '1w', 'x', '3651d']],
    ['maxDelete', ['-1', '1.5', '101%', 'half', '%', '10 %', '']],
  ] as const)('%s rejects each bad value with one line naming the flag', (name, bad) => {
    const flag = OPTION_RULES[name]!.flag;
    for (const text of bad) {
      const msg = usage(() => flagParser(name)(text));
      expect(msg.startsWith(`${flag} must be `), msg).toBe(true);
      expect(msg).toContain(JSON.stringify(text));
    }
  });

  it('a value with control characters stays on one line, escaped', () => {
    const msg = usage(() => flagParser('workers')('4\n\u001b[2Kall good'));
    expect(msg).toContain('\\n');
    expect(msg).toContain('\\u001b');
  });
});

describe('library options', () => {
  it('accepts good values and leaves unknown names and undefined alone', () => {
    validateOptions({
      workers: 4,
      retries: 0,
      partSize: 5 * MiB,
      multipartThreshold: 64 * MiB,
      stallTimeoutMs: 30_000,
      maxDelete: '25%',
      provider: 'Ceph',
      checksums: 'when_required',
      sse: 'aws:kms',
      acl: 'private',
      dryRun: false,
      exclude: ['*.tmp'],
      onEvent: () => {},
      somethingElse: 'ignored here',
      region: undefined,
    });
  });

  it.each([
    ['workers', [0, -1, 1.5, 1e9, Number.NaN, 'four', '4', null, true]],
    ['retries', [-1, 0.5, '2', 101]],
    ['partSize', [0, 100, '16MiB', 6 * 1024 * MiB]],
    ['multipartThreshold', [0, -MiB, Number.POSITIVE_INFINITY]],
    ['stallTimeoutMs', [0, -1, Number.NaN, '30s']],
    ['connectTimeoutMs', [0, 50]],
    ['olderThanMs', [-1, '24h']],
    ['maxDelete', [-1, 1.5, '150%', 'lots', null]],
    ['provider', ['nope', 7]],
    ['checksums', ['always']],
    ['sse', ['aes256', 'kms']],
    ['acl', ['public']],
    ['dryRun', ['yes', 'false', 1]],
    ['delete', ['false']],
    ['exclude', ['*.tmp', [1], [['a']]]],
    ['endpointUrl', [42]],
  ] as const)('%s: each bad value is an S3SyncError (exit 2) naming the option', (name, bad) => {
    for (const v of bad) {
      const msg = usage(() => validateOptions({ [name]: v }));
      expect(msg.startsWith(`option ${name} must be `), msg).toBe(true);
    }
  });

  it('an enum error lists every valid value', () => {
    expect(usage(() => validateOptions({ provider: 'nope' }))).toContain(PROVIDER_NAMES.join(', '));
    expect(usage(() => validateOptions({ sse: 'x' }))).toContain('AES256, aws:kms, aws:kms:dsse');
    expect(usage(() => validateOptions({ checksums: 'x' }))).toContain('when_supported, when_required');
    expect(usage(() => validateOptions({ acl: 'x' }))).toContain('private, public-read,');
  });
});

describe('config file values', () => {
  const where = 'config file /x/s3sync.config.json: defaults';

  it('takes the strings the flags take, and typed values', () => {
    expect(
      configValues(
        {
          workers: '8',
          multipartThreshold: '64MiB',
          partSize: 16 * MiB,
          stallTimeoutMs: '30s',
          exclude: '*.tmp',
          dryRun: 'true',
          delete: false,
          maxDelete: 10,
          source: './dir',
        },
        where,
      ),
    ).toEqual({
      workers: 8,
      multipartThreshold: 64 * MiB,
      partSize: 16 * MiB,
      stallTimeoutMs: 30_000,
      exclude: ['*.tmp'],
      dryRun: true,
      delete: false,
      maxDelete: 10,
      source: './dir',
    });
  });

  it.each([
    ['workers', 0],
    ['workers', 'four'],
    ['workers', -2],
    ['workers', 2.5],
    ['workers', '1e9'],
    ['retries', 'many'],
    ['partSize', '1KiB'],
    ['multipartThreshold', 0],
    ['maxDelete', '200%'],
    ['delete', 'no'],
    ['provider', 'minio2'],
  ] as const)('"%s": %j is refused naming the file and the key', (name, v) => {
    const msg = usage(() => configValues({ [name]: v }, where));
    expect(msg.startsWith(`${where}: "${name}" must be `), msg).toBe(true);
  });
});

describe('max-delete', () => {
  it('parses counts and shares', () => {
    expect(parseMaxDelete(3)).toEqual({ count: 3 });
    expect(parseMaxDelete('3')).toEqual({ count: 3 });
    expect(parseMaxDelete('25%')).toEqual({ share: 0.25 });
    expect(parseMaxDelete('0%')).toEqual({ share: 0 });
    expect(parseMaxDelete('100.5%')).toBeUndefined();
    expect(maxDeleteLimit('25%', 10)).toBe(2);
    expect(maxDeleteLimit(undefined, 10)).toBe(5);
    expect(maxDeleteLimit(7, 10)).toBe(7);
    usage(() => maxDeleteLimit('abc', 10));
  });
});

describe('the ends of push, pull and check', () => {
  it('accepts a local directory and an S3 URL in the command order', () => {
    checkEnds('push', './dir', 's3://bucket/prefix');
    checkEnds('pull', 'dir', 's3://bucket');
    checkEnds('check', '/abs/dir', 's3://bucket/a/b/');
  });

  it.each([
    ['pull', 's3://bucket/p', './dir', /reversed/],
    ['push', 's3://bucket/p', 'dir', /reversed/],
    ['check', 's3://bucket/p', '/tmp', /reversed/],
    ['push', 's3://a/p', 's3://b/q', /both .* are S3 URLs/],
    ['pull', './a', './b', /not an S3 URL/],
    ['push', '', 's3://b/p', /push takes a local directory, then s3:\/\/bucket\/prefix/],
    ['push', './a', 's3://', /not an S3 URL/],
  ] as const)('%s with local %j and remote %j is refused', (command, local, remote, re) => {
    expect(usage(() => checkEnds(command, local, remote))).toMatch(re);
  });
});
