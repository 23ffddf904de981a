import { describe, expect, it } from 'vitest';
import { stdinReaders } from '../../src/cli/jobs.js';
import { S3SyncError } from '../../src/errors.js';
import { expected, parseMaxDelete } from '../../src/options/parse.js';
import { appliesTo, OPTION_SPECS, type OptionName, type OptionSpec } from '../../src/options/table.js';
import {
  checkEnds,
  commandsOf,
  configValues,
  didYouMean,
  flagParser,
  setting,
  validateOptions,
} from '../../src/options/validate.js';
import { PROVIDER_NAMES } from '../../src/s3/providers.js';
import { maxDeleteLimit } from '../../src/sync/delete-guard.js';
import { MiB, usageErrorOf } from '../helpers.js';

/** The usage error a call throws (exit 2, one line): its message. */
const usage = (fn: () => unknown): string => usageErrorOf(fn).message;

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
    ['stallTimeout', '30s', 30_000],
    ['stallTimeout', '1500ms', 1500],
    ['connectTimeout', '2m', 120_000],
    ['olderThan', '0s', 0],
    ['olderThan', '0', 0],
    ['olderThan', '2d', 2 * 86_400_000],
    ['olderThan', '3600s', 3_600_000],
    ['verifyInterval', '1.5h', 5_400_000],
    ['verifyInterval', 'Never', Number.POSITIVE_INFINITY],
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
    ['stallTimeout', ['0', '0s', '999ms', '-1s', 'never', '2 s', '25h', '30', '30S']],
    ['connectTimeout', ['0', '99ms', 'x', '10']],
    ['olderThan', ['-1', '1w', 'x', '3651d', '3600', '1e3s']],
    ['verifyInterval', ['soon', '', '-1h', '24 hours', 'h', 'nevermore', '60']],
    ['maxDelete', ['-1', '1.5', '101%', 'half', '%', '10 %', '']],
  ] as const)('%s rejects each bad value with one line naming the flag', (name, bad) => {
    const flag = OPTION_SPECS[name].flag;
    for (const text of bad) {
      const msg = usage(() => flagParser(name)(text));
      expect(msg.startsWith(`${flag} must be `), msg).toBe(true);
      expect(msg).toContain(JSON.stringify(text));
    }
  });

  it('a duration without its unit says to add one', () => {
    for (const [name, text] of [
      ['stallTimeout', '60'],
      ['olderThan', '3600'],
      ['verifyInterval', '86400'],
      ['connectTimeout', ' 5 '],
    ] as const) {
      const msg = usage(() => flagParser(name)(text));
      expect(msg).toMatch(
        new RegExp(`^${OPTION_SPECS[name].flag} must be a duration .*: add a unit, e.g. "${text.trim()}s"$`),
      );
    }
  });

  it('a list flag collects its repeats', () => {
    const parse = flagParser('exclude');
    expect(parse('*.tmp', parse('a/**'))).toEqual(['a/**', '*.tmp']);
  });

  it('a value with control characters stays on one line, escaped', () => {
    const msg = usage(() => flagParser('workers')('4\n\u001b[2Kall good'));
    expect(msg).toContain('"4\\n\\x1b[2Kall good"');
    expect(msg).not.toMatch(/[\n\u001b]/);
  });

  it('a fraction of a byte asks for a unit', () => {
    expect(usage(() => flagParser('minSize')('1.5'))).toMatch(
      /, got "1\.5": a fraction of a byte: add a unit, e\.g\. "1\.5k"$/,
    );
  });

  it('a backslash in a value is escaped where it goes into the message, and only there', () => {
    expect(usage(() => flagParser('maxSize')('C:\\x'))).toMatch(/, got "C:\\\\x"$/);
  });
});

describe('library options', () => {
  it('accepts good values, the entry point arguments, callbacks, and undefined (the default)', () => {
    validateOptions(
      {
        source: './dir',
        destination: 's3://b/p',
        workers: 4,
        retries: 0,
        partSize: 5 * MiB,
        multipartThreshold: '64MiB',
        stallTimeout: '30s',
        connectTimeoutMs: 5000,
        verifyInterval: 'never',
        delete: true,
        maxDelete: '25%',
        provider: 'Ceph',
        checksums: 'when_required',
        sse: 'aws:kms',
        acl: 'private',
        dryRun: false,
        exclude: ['*.tmp'],
        onEvent: () => {},
        signal: new AbortController().signal,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        region: undefined,
        somethingElse: undefined,
      },
      'push',
    );
  });

  it.each([
    ['dryrun', 'push', 'dryRun'],
    ['dry_run', 'pull', 'dryRun'],
    ['DryRun', 'push', 'dryRun'],
    ['worker', 'check', 'workers'],
    ['exlude', 'push', 'exclude'],
    ['multipartTreshold', 'apply', 'multipartThreshold'],
    ['onevent', 'cleanup', 'onEvent'],
    ['destinaton', 'push', 'destination'],
    // A config file's check job says source and destination; check() says local and remote.
    ['source', 'check', 'local'],
    ['destination', 'check', 'remote'],
  ] as const)('an unknown option %j (%s) is refused, with a suggestion: %s', (key, entry, meant) => {
    expect(usage(() => validateOptions({ [key]: true }, entry))).toBe(
      `unknown option ${JSON.stringify(key)} (did you mean ${meant}?)`,
    );
  });

  it('an unknown option nothing resembles is refused without a suggestion', () => {
    expect(usage(() => validateOptions({ frobnicate: 1 }, 'push'))).toBe('unknown option "frobnicate"');
  });

  it.each([
    ['full', 'push', 'check'],
    ['verify', 'pull', 'push'],
    ['verifyInterval', 'plan pull', 'push'],
    // An S3 → S3 sync takes them too: the list names it.
    ['delete', 'check', 'push, pull, sync'],
    ['followSymlinks', 'cleanup', 'push, pull, check'],
    ['waitLock', 'check', 'push, pull, apply'],
    ['manifest', 'cleanup', 'push, pull, check, apply'],
    ['dryRun', 'plan push', 'push, pull, cleanup, sync'],
    ['olderThan', 'push', 'cleanup'],
    ['out', 'push', 'plan'],
  ] as const)('option %s given to %s is refused: it applies to %s only', (name, entry, only) => {
    const v =
      OPTION_SPECS[name].kind === 'boolean'
        ? true
        : name === 'verifyInterval'
          ? '1h'
          : name === 'olderThan'
            ? '1h'
            : 'x';
    expect(usage(() => validateOptions({ [name]: v }, entry))).toBe(
      `option ${name} does not apply to ${entry} (only to ${only})`,
    );
  });

  it('an option refused by syncBuckets names it as the docs do, not by its internal key', () => {
    expect(usage(() => validateOptions({ verify: true }, 'sync s3'))).toBe(
      'option verify does not apply to an S3 → S3 sync (only to push)',
    );
  });

  it.each(
    (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).filter(
      ([name, spec]) =>
        spec.kind === 'string' && spec.commands.includes('push') && !spec.cliOnly && name !== 'out',
    ),
  )('an empty %s is refused, as flag and as option: never sent, never quietly the default', (name, spec) => {
    for (const v of ['', ' ', '\t']) {
      expect(usage(() => validateOptions({ [name]: v }, 'push'))).toBe(
        `option ${name} must not be empty: leave the option out for its default`,
      );
      expect(usage(() => flagParser(name)(v))).toBe(
        `${spec.flag} must not be empty: leave the option out for its default`,
      );
    }
  });

  it('an empty --out is refused without a hint to leave it out: plan has no default file to write', () => {
    for (const v of ['', ' '])
      expect(usage(() => flagParser('out')(v))).toBe(
        '--out must not be empty: --out has no default: e.g. --out plan.json',
      );
    // The library writes no file without it: leaving it out is the way there.
    expect(usage(() => validateOptions({ out: '' }, 'plan push'))).toMatch(
      /^option out must not be empty: leave the option out for its default$/,
    );
  });

  it.each([
    [{ suffix: '.bak' }, /^suffix \(--suffix\) applies only with backupDir/],
    [{ sseKmsKeyId: 'k' }, /^sseKmsKeyId \(--sse-kms-key-id\) applies only with sse/],
    [{ maxDelete: 10 }, /^maxDelete \(--max-delete\) applies only with delete \(--delete\)$/],
    [{ maxDelete: '10%', delete: false }, /^maxDelete \(--max-delete\) applies only with delete/],
    [{ deleteExcluded: true }, /^deleteExcluded \(--delete-excluded\) applies only with delete/],
    [{ force: true, dryRun: true }, /^force \(--force\) applies only with delete \(--delete\)$/],
    [{ tpslimitBurst: 4 }, /^tpslimitBurst \(--tpslimit-burst\) applies only with tpslimit/],
    [{ sse: 'AES256', sseKmsKeyId: 'k' }, /^sseKmsKeyId \(--sse-kms-key-id\) applies only with sse/],
  ])('%j alone would be a silent no-op (or fail every file): refused', (opts, re) => {
    expect(usage(() => validateOptions(opts, 'push'))).toMatch(re);
  });

  it.each(['/../../victim', '/..', '.bak/x', 'x\\y', '.\u0000', '/'])(
    'a suffix %j holding a path separator would lead out of the backup folder: refused, flag and option',
    (suffix) => {
      for (const cmd of ['push', 'pull', 'sync s3'] as const)
        expect(usage(() => validateOptions({ backupDir: 's3://b/old', suffix }, cmd))).toMatch(
          /^option suffix must be a string, got .*: it holds a path separator or NUL/,
        );
      expect(usage(() => flagParser('suffix')(suffix))).toMatch(
        /^--suffix must be a string, got .*separator/,
      );
    },
  );

  it('size and age limits that can select no file are refused by the options check itself', () => {
    expect(usage(() => validateOptions({ minSize: '2M', maxSize: 1024 }, 'pull'))).toMatch(
      /^minSize \(--min-size\) 2097152 bytes is above maxSize \(--max-size\) 1024 bytes/,
    );
    expect(usage(() => validateOptions({ maxAge: '1d', minAge: '7d' }, 'push'))).toMatch(
      /^maxAge \(--max-age\) .* is after minAge \(--min-age\)/,
    );
    validateOptions({ minSize: '1M', maxSize: '1M', maxAge: '7d', minAge: '1d' }, 'check');
  });

  it('turned off, an option that needs another is no no-op: accepted alone', () => {
    for (const entry of ['push', 'pull'] as const) {
      validateOptions({ force: false, deleteExcluded: false }, entry);
      validateOptions({ delete: true, force: true, deleteExcluded: true, maxDelete: 3 }, entry);
    }
    validateOptions({ delete: true, maxDelete: '10%' }, 'sync s3');
  });

  it('a KMS key with KMS encryption, a suffix with a backup location: accepted', () => {
    validateOptions({ sse: 'aws:kms', sseKmsKeyId: 'k' }, 'push');
    validateOptions({ sse: 'aws:kms:dsse', sseKmsKeyId: 'k' }, 'push');
    validateOptions({ backupDir: 's3://b/old', suffix: '.bak' }, 'push');
    validateOptions({ backupDir: 'old', suffix: '..~ $(date) ..' }, 'pull');
  });

  it('CLI-only values are refused by the library', () => {
    expect(usage(() => validateOptions({ json: true }, 'push'))).toMatch(
      /^option json is a CLI flag \(--json\)/,
    );
    expect(usage(() => validateOptions({ quiet: false }, 'pull'))).toMatch(/^option quiet is a CLI flag/);
  });

  it('the former *Ms names take milliseconds, and not together with the new name', () => {
    validateOptions({ stallTimeoutMs: 30_000, connectTimeoutMs: 1000 }, 'check');
    validateOptions({ olderThanMs: 0 }, 'cleanup');
    expect(setting({ stallTimeoutMs: 30_000 }, 'stallTimeout')).toBe(30_000);
    expect(setting({ olderThanMs: 5 }, 'olderThan')).toBe(5);
    expect(usage(() => validateOptions({ stallTimeoutMs: '30s' }, 'push'))).toMatch(
      /^option stallTimeoutMs must be /,
    );
    expect(usage(() => validateOptions({ stallTimeout: '30s', stallTimeoutMs: 30_000 }, 'push'))).toBe(
      'give option stallTimeout or its former name stallTimeoutMs, not both',
    );
  });

  it.each([
    ['workers', [0, -1, 1.5, 1e9, Number.NaN, 'four', '4', null, true]],
    ['retries', [-1, 0.5, '2', 101]],
    ['partSize', [0, 100, '16KiB', '6GiB', 6 * 1024 * MiB, 'big', null]],
    ['multipartThreshold', [0, -MiB, Number.POSITIVE_INFINITY, '1.5']],
    ['stallTimeout', [0, -1, Number.NaN, '30', '0.5s', Number.POSITIVE_INFINITY, 'never']],
    ['stallTimeoutMs', [0, -1, Number.NaN, '30s']],
    ['connectTimeout', [0, 50, '50ms', '2d']],
    ['olderThan', [-1, '24 h', '1w', null]],
    ['verifyInterval', [-1, 'soon', '60', true, {}, null]],
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
    const entry = name === 'olderThan' ? 'cleanup' : 'push';
    for (const v of bad) {
      const msg = usage(() => validateOptions({ [name]: v }, entry));
      expect(msg.startsWith(`option ${name} must be `), msg).toBe(true);
    }
  });

  it('an enum error lists every valid value', () => {
    expect(usage(() => validateOptions({ provider: 'nope' }, 'check'))).toContain(PROVIDER_NAMES.join(', '));
    expect(usage(() => validateOptions({ sse: 'x' }, 'push'))).toContain('AES256, aws:kms, aws:kms:dsse');
    expect(usage(() => validateOptions({ checksums: 'x' }, 'pull'))).toContain(
      'when_supported, when_required',
    );
    expect(usage(() => validateOptions({ acl: 'x' }, 'push'))).toContain('private, public-read,');
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
          stallTimeout: '30s',
          olderThan: 0,
          verifyInterval: 'never',
          exclude: '*.tmp',
          include: ['a', 'b'],
          dryRun: 'true',
          delete: false,
          maxDelete: 10,
          provider: 'CEPH',
        },
        where,
        'defaults',
      ),
    ).toEqual({
      workers: 8,
      multipartThreshold: 64 * MiB,
      partSize: 16 * MiB,
      stallTimeout: 30_000,
      olderThan: 0,
      verifyInterval: Number.POSITIVE_INFINITY,
      exclude: ['*.tmp'],
      include: ['a', 'b'],
      dryRun: true,
      delete: false,
      maxDelete: 10,
      provider: 'ceph',
    });
  });

  it("a job's command, source and destination pass through for the caller to check", () => {
    expect(
      configValues({ command: 'push', source: './d', destination: 's3://b', workers: 2 }, where, 'push'),
    ).toEqual({
      command: 'push',
      source: './d',
      destination: 's3://b',
      workers: 2,
    });
  });

  it.each([
    ['dryrun', 'defaults', 'unknown key "dryrun" (did you mean "dryRun"?)'],
    ['dry-run', 'defaults', 'unknown key "dry-run" (did you mean "dryRun"?)'],
    ['--dry-run', 'push', 'unknown key "--dry-run" (did you mean "dryRun"?)'],
    ['Workers', 'defaults', 'unknown key "Workers" (did you mean "workers"?)'],
    ['stall-timeout', 'defaults', 'unknown key "stall-timeout" (did you mean "stallTimeout"?)'],
    ['excludes', 'pull', 'unknown key "excludes" (did you mean "exclude"?)'],
    ['destinaton', 'push', 'unknown key "destinaton" (did you mean "destination"?)'],
    ['bogus', 'defaults', 'unknown key "bogus"'],
    [
      'stallTimeoutMs',
      'defaults',
      '"stallTimeoutMs" is now "stallTimeout", which takes a unit as the flag does (e.g. "60s")',
    ],
    [
      'olderThanMs',
      'defaults',
      '"olderThanMs" is now "olderThan", which takes a unit as the flag does (e.g. "24h")',
    ],
    ['credentials', 'defaults', '"credentials" is for library calls only, not the config file'],
    ['onEvent', 'check', '"onEvent" is for library calls only, not the config file'],
    ['source', 'defaults', '"source" belongs in a job, not in "defaults"'],
    ['full', 'push', '"full" does not apply to push (only to check)'],
    ['verifyInterval', 'pull', '"verifyInterval" does not apply to pull (only to push)'],
    ['waitLock', 'check', '"waitLock" does not apply to check (only to push, pull, apply)'],
    ['keep', 'pull', '"keep" does not apply to pull (only to demo)'],
    ['dryRun', 'check', '"dryRun" does not apply to check (only to push, pull, cleanup, sync)'],
    ['verify', 'sync s3', '"verify" does not apply to an S3 → S3 sync (only to push)'],
  ] as const)('key %j in %s is refused: %s', (key, section, message) => {
    expect(usage(() => configValues({ [key]: true }, where, section))).toBe(`${where}: ${message}`);
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
    ['delete', 1],
    ['provider', 'minio2'],
    ['stallTimeout', 30],
    ['stallTimeout', '30'],
    ['stallTimeout', 30_000],
    ['olderThan', '1w'],
    ['verifyInterval', null],
    ['exclude', 5],
    ['exclude', ['a', 5]],
    ['region', 7],
  ] as const)('"%s": %j is refused naming the file and the key', (name, v) => {
    const msg = usage(() => configValues({ [name]: v }, where, 'defaults'));
    expect(msg.startsWith(`${where}: "${name}" must be `), msg).toBe(true);
  });

  it('a duration without its unit says to add one', () => {
    expect(usage(() => configValues({ stallTimeout: 30 }, where, 'defaults'))).toMatch(
      /got 30: add a unit, e.g. "30s"$/,
    );
    expect(usage(() => configValues({ olderThan: '48' }, where, 'defaults'))).toMatch(
      /got "48": add a unit, e.g. "48s"$/,
    );
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
    ['push', './a', 's3://bkt/x/../y', /its prefix contains a '\.\.' segment, which S3 keeps in every key/],
    ['push', './a', 's3://bkt/x//y', /its prefix contains an empty path segment/],
    ['push', './a', 's3://bkt/x/./', /its prefix contains a '\.' segment/],
    ['push', './a', 's3://bkt/x\u0001', /its prefix contains a control character/],
  ] as const)('%s with local %j and remote %j is refused', (command, local, remote, re) => {
    expect(usage(() => checkEnds(command, local, remote))).toMatch(re);
  });

  it('a pull or check reads such a prefix (it writes no key there): accepted', () => {
    for (const command of ['pull', 'check'] as const) checkEnds(command, './a', 's3://bkt/x/../y//z');
    checkEnds('push', './a', 's3://bkt//x/y/');
  });
});

describe('did you mean', () => {
  const names = Object.keys(OPTION_SPECS);
  it('finds the name whatever its case, dashes and underscores, or within a typo or two', () => {
    expect(didYouMean('DRY_RUN', names)).toBe('dryRun');
    expect(didYouMean('--max-delete', names)).toBe('maxDelete');
    expect(didYouMean('partsize', names)).toBe('partSize');
    expect(didYouMean('wrokers', names)).toBe('workers');
    expect(didYouMean('stalTimeout', names)).toBe('stallTimeout');
  });
  it('suggests nothing for a name far from any', () => {
    for (const k of ['x', 'speed', 'bucket', 'endpoint-urls-here'])
      expect(didYouMean(k, names), k).toBeUndefined();
  });
});

describe('setting: the value of a run, else the default from the table', () => {
  it('parses what the library takes, and falls back on the defaults', () => {
    expect(setting({}, 'workers')).toBe(16);
    expect(setting({}, 'partSize')).toBe(16 * MiB);
    expect(setting({}, 'multipartThreshold')).toBe(128 * MiB);
    expect(setting({}, 'stallTimeout')).toBe(60_000);
    expect(setting({}, 'verifyInterval')).toBe(86_400_000);
    expect(setting({}, 'maxDelete')).toBe('50%');
    expect(setting({}, 'region')).toBeUndefined();
    expect(setting({ partSize: '32MiB' }, 'partSize')).toBe(32 * MiB);
    expect(setting({ stallTimeout: '2m' }, 'stallTimeout')).toBe(120_000);
    expect(setting({ verifyInterval: 'never' }, 'verifyInterval')).toBe(Number.POSITIVE_INFINITY);
    expect(setting({ provider: 'MinIO' }, 'provider')).toBe('minio');
  });
  it('throws for a bad value, as an entry point would', () => {
    usage(() => setting({ workers: 0 }, 'workers'));
    usage(() => setting({ verifyInterval: null }, 'verifyInterval'));
  });
});

/** The options of a kind, from the table: a new option is covered as soon as it has a row. */
const ofKind = (...kinds: OptionSpec['kind'][]) =>
  (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).filter(([, spec]) =>
    kinds.includes(spec.kind),
  );

/** How a value reaches an option: a flag's text, a config file's value, a library call's value. */
const SOURCES = {
  flag: (name: OptionName, v: unknown) => flagParser(name)(v as string),
  config: (name: OptionName, v: unknown) => configValues({ [name]: v }, 'f.json', 'defaults')[name],
  library: (name: OptionName, v: unknown) => setting({ [name]: v }, name),
} as const;
const PREFIX = {
  flag: (name: OptionName) => `${OPTION_SPECS[name].flag} must be `,
  config: (name: OptionName) => `f.json: "${name}" must be `,
  library: (name: OptionName) => `option ${name} must be `,
} as const;

describe('bounds, from the table: each bound is in, one past it is out, from every source', () => {
  type Bounded = OptionSpec & { kind: 'int' | 'size' | 'duration'; min: number; max: number };
  /** A value as each source may write it: durations with a unit, sizes in bytes. */
  const written = (spec: Bounded, n: number) => (spec.kind === 'duration' ? `${n}ms` : String(n));

  it.each(ofKind('int', 'size', 'duration'))('%s', (name, s) => {
    const spec = s as Bounded;
    for (const n of [spec.min, spec.max]) {
      expect(SOURCES.flag(name, written(spec, n)), `flag ${n}`).toBe(n);
      expect(SOURCES.config(name, written(spec, n)), `config ${n}`).toBe(n);
      expect(SOURCES.library(name, n), `library ${n}`).toBe(n);
    }
    const outside = [spec.max + 1, ...(spec.min > 0 ? [spec.min - 1] : [])];
    for (const n of outside)
      for (const [source, v] of [
        ['flag', written(spec, n)],
        ['config', written(spec, n)],
        ['library', n],
      ] as const) {
        const msg = usage(() => SOURCES[source](name, v));
        expect(msg, `${source} ${n}`).toBe(
          `${PREFIX[source](name)}${expected(spec)}, got ${JSON.stringify(v)}`,
        );
      }
  });

  it.each([
    ['int', OPTION_SPECS.workers, 'a whole number from 1 to 1024'],
    ['size', OPTION_SPECS.partSize, 'a size from 1MiB to 5GiB (e.g. 16MiB, 64M, 1G)'],
    ['duration', OPTION_SPECS.stallTimeout, 'a duration from 1s to 24h (e.g. 30s, 2m, 1h)'],
    ['duration', OPTION_SPECS.connectTimeout, 'a duration from 100ms to 24h (e.g. 500ms, 30s, 2m, 1h)'],
    ['duration', OPTION_SPECS.olderThan, 'a duration from 0 to 3650d (e.g. 500ms, 30s, 2m, 1h, 2d)'],
    [
      'never',
      OPTION_SPECS.verifyInterval,
      'a duration from 0 to 3650d (e.g. 500ms, 30s, 2m, 1h, 2d) or never',
    ],
  ] as const)('a %s states its bounds in the units the flag takes', (_, spec, text) => {
    expect(expected(spec)).toBe(text);
  });

  it.each(ofKind('duration'))('%s: every example its refusal gives is one it takes', (name) => {
    const msg = usage(() => SOURCES.flag(name, 'soon'));
    const examples = /\(e\.g\. ([^)]*)\)/.exec(msg)?.[1]?.split(', ') ?? [];
    expect(examples.length, msg).toBeGreaterThan(0);
    for (const ex of examples) expect(() => SOURCES.flag(name, ex), `${msg}: ${ex}`).not.toThrow();
  });
});

describe('enums, from the table: every value in, in any case as typed, any other out with the list of values', () => {
  it.each(ofKind('enum'))('%s', (name, s) => {
    const spec = s as OptionSpec & { kind: 'enum' };
    // Typed by a person in any case, the value is the canonical one (--checksums WHEN_SUPPORTED as
    // --provider CEPH); a library call passes its typed value, in any case only for a provider.
    for (const v of spec.values)
      for (const source of ['flag', 'config', 'library'] as const) {
        expect(SOURCES[source](name, v), `${source} ${v}`).toBe(v);
        const mixed = [...v].map((c, i) => (i % 2 ? c.toLowerCase() : c.toUpperCase())).join('');
        for (const other of [v.toUpperCase(), v.toLowerCase(), mixed]) {
          if (other === v) continue;
          if (source !== 'library' || spec.libraryAnyCase)
            expect(SOURCES[source](name, other), `${source} ${other}`).toBe(v);
          else expect(usage(() => SOURCES[source](name, other))).toContain(spec.values.join(', '));
        }
      }
    for (const bad of ['', 'nope', `${spec.values[0]}x`, `x${spec.values[0]}`])
      for (const source of ['flag', 'config', 'library'] as const) {
        const msg = usage(() => SOURCES[source](name, bad));
        expect(msg, `${source} ${bad}`).toBe(
          `${PREFIX[source](name)}one of ${spec.values.join(', ')}, got ${JSON.stringify(bad)}`,
        );
      }
  });
});

describe('every option, any value, every source: a value or one usage line', () => {
  const TEXTS = [
    '',
    ' ',
    '\n',
    'a\nb',
    '1\r\n',
    '\u001b[2K\u001b[31mred',
    '\u202e16',
    'x'.repeat(500),
    '-1',
    '1.5',
    'NaN',
    'Infinity',
    '1e309',
    '0x10',
    '１６',
    '16 MiB',
    'never',
    'true',
    '__proto__',
    '50%',
  ];
  const TYPED = [
    null,
    0,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    true,
    false,
    [],
    ['a', 1],
    {},
  ];

  it.each(Object.keys(OPTION_SPECS) as OptionName[])('%s', (name) => {
    let refused = 0;
    for (const source of ['flag', 'config', 'library'] as const)
      for (const v of source === 'flag' ? TEXTS : [...TEXTS, ...TYPED]) {
        let err: unknown;
        try {
          SOURCES[source](name, v);
        } catch (e) {
          err = e;
        }
        if (err === undefined) continue;
        refused++;
        const what = `${source} ${JSON.stringify(v)}`;
        expect(err, what).toBeInstanceOf(S3SyncError);
        expect((err as S3SyncError).kind, what).toBe('usage');
        const msg = (err as Error).message;
        const prefix = PREFIX[source](name);
        // Or, for an empty value, "must not be empty".
        const empty = `${prefix.slice(0, -'be '.length)}not be empty`;
        expect(msg.startsWith(prefix) || msg.startsWith(empty), `${what}: ${msg}`).toBe(true);
        // One line, no C0 control (the CLI escapes the rest as it prints), and the value cut short.
        expect(msg, what).not.toMatch(/[\u0000-\u001f]/);
        expect(msg.length, what).toBeLessThan(400);
      }
    expect(refused).toBeGreaterThan(10);
  });
});

describe('did you mean, through the messages', () => {
  it.each([
    ['dryrun', 'dryRun'],
    ['DRY_RUN', 'dryRun'],
    ['--dry-run', 'dryRun'],
    ['part-size', 'partSize'],
    ['PartSize', 'partSize'],
    ['wrokers', 'workers'],
    ['mutlipartThreshold', 'multipartThreshold'],
    ['exclud', 'exclude'],
    ['endpointURL', 'endpointUrl'],
    ['max_delete', 'maxDelete'],
    ['stall-timeout-ms', 'stallTimeout'],
  ] as const)('%j is an unknown option or key: did you mean %s', (key, meant) => {
    expect(usage(() => validateOptions({ [key]: 1 }, 'push'))).toBe(
      `unknown option ${JSON.stringify(key)} (did you mean ${meant}?)`,
    );
    expect(usage(() => configValues({ [key]: 1 }, 'f.json', 'push'))).toBe(
      `f.json: unknown key ${JSON.stringify(key)} (did you mean "${meant}"?)`,
    );
  });

  it.each([
    ['sourc', 'source', 'source'],
    ['onevent', 'onEvent', undefined],
    ['comand', undefined, 'command'],
    ['destinaton', 'destination', 'destination'],
  ] as const)('%j: the library suggests %s, a config job %s', (key, library, config) => {
    expect(usage(() => validateOptions({ [key]: 1 }, 'push'))).toBe(
      `unknown option ${JSON.stringify(key)}${library ? ` (did you mean ${library}?)` : ''}`,
    );
    expect(usage(() => configValues({ [key]: 1 }, 'f.json', 'push'))).toBe(
      `f.json: unknown key ${JSON.stringify(key)}${config ? ` (did you mean "${config}"?)` : ''}`,
    );
  });
});

describe('the commands an option applies to, as messages list them', () => {
  it.each(Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][])(
    '%s: each command named takes it, and sync is named when an S3 → S3 sync takes it',
    (_name, spec) => {
      const named = commandsOf(spec).split(', ');
      if (named[0] === 'no command but a bare s3sync') return;
      for (const c of named) expect(appliesTo(spec, c as OptionSpec['commands'][number])).toBe(true);
      expect(named.includes('sync')).toBe(appliesTo(spec, 'sync s3') || spec.commands.includes('sync'));
    },
  );
});

describe('jobs that all read standard input', () => {
  it.each([
    [
      [1, 2],
      "jobs 1 and 2 both read their list from standard input (files-from '-'): only one job can; give the other a file",
    ],
    [
      [1, 3, 4],
      "jobs 1, 3 and 4 all read their list from standard input (files-from '-'): only one job can; give the others a file",
    ],
  ])('%j: %s', (jobs, message) => {
    expect(stdinReaders(jobs)).toBe(message);
  });
});

describe('library values the run uses more of than a look-alike has', () => {
  const base = { source: '/tmp/x', destination: 's3://bucket/p' };
  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'a signal look-alike without removeEventListener',
      { signal: { aborted: false, addEventListener() {} } },
      /^option signal must be an AbortSignal, got /,
    ],
    [
      'a signal look-alike without throwIfAborted',
      { signal: { aborted: false, addEventListener() {}, removeEventListener() {} } },
      /^option signal must be an AbortSignal, got /,
    ],
    [
      'a client without a config',
      { client: { send: async () => ({}), middlewareStack: { add() {}, remove() {} } } },
      /^option client must be an S3Client \(@aws-sdk\/client-s3\), got /,
    ],
    [
      "a client whose config's endpoint is no function",
      {
        client: {
          send: async () => ({}),
          middlewareStack: { add() {}, remove() {} },
          config: { endpoint: 'x' },
        },
      },
      /^option client must be an S3Client/,
    ],
  ])('%s is a usage error in one line', (_why, extra, message) => {
    const err = usageErrorOf(() => validateOptions({ ...base, ...extra }, 'push'));
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain('\n');
  });

  it('takes an AbortSignal, and a client with a config and no endpoint (AWS)', () => {
    const client = { send: async () => ({}), middlewareStack: { add() {}, remove() {} }, config: {} };
    expect(() => validateOptions({ ...base, signal: AbortSignal.abort(), client }, 'push')).not.toThrow();
  });
});
