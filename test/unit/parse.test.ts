/** The parsers of option values (src/options/parse.ts), one per kind, and the texts they read back. */
import { describe, expect, it } from 'vitest';
import {
  fmtDuration,
  fmtSize,
  parseDuration,
  parseMaxDelete,
  parseSize,
  shown,
} from '../../src/options/parse.js';
import { DAY, GiB, HOUR, MINUTE, MiB, SECOND } from '../../src/options/spec.js';
import { OPTION_SPECS } from '../../src/options/table.js';

describe('the one size parser and the one duration parser', () => {
  it('sizes: binary suffixes, with or without i and B, any case; a plain number is bytes', () => {
    for (const [text, n] of [
      ['1048576', MiB],
      ['1M', MiB],
      ['1m', MiB],
      ['1MiB', MiB],
      ['1mib', MiB],
      ['1MB', MiB],
      ['1.5G', 1.5 * 1024 * MiB],
      ['2K', 2048],
      [' 16 MiB ', 16 * MiB],
      ['1T', 1024 * 1024 * MiB],
    ] as const)
      expect(parseSize(text), text).toBe(n);
    for (const text of ['', 'M', '-1M', '1e6', '1 MiBs', '1X', '0x10', '1,5M'])
      expect(parseSize(text), text).toBeUndefined();
  });

  it('durations: a number and a unit (ms, s, m, h, d); 0 alone; never where allowed', () => {
    for (const [text, ms] of [
      ['500ms', 500],
      ['30s', 30_000],
      ['2m', 120_000],
      ['1.5h', 5_400_000],
      ['2d', 172_800_000],
      ['0', 0],
      [' 0s ', 0],
    ] as const)
      expect(parseDuration(text), text).toBe(ms);
    for (const text of ['60', '1.5', '007']) expect(parseDuration(text), text).toBe('needs-unit');
    for (const text of ['', 's', '-1s', '1w', '1 s', '1S', '1e3s', 'never', '1h30m'])
      expect(parseDuration(text), text).toBeUndefined();
    expect(parseDuration('never', true)).toBe(Number.POSITIVE_INFINITY);
    expect(parseDuration('NEVER', true)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('units', () => {
  it.each([
    ['1b', 1],
    ['1k', 1024],
    ['1KiB', 1024],
    ['1kb', 1024],
    ['1m', MiB],
    ['1Mi', MiB],
    ['1g', GiB],
    ['1GB', GiB],
    ['1t', 1024 * GiB],
    ['0.5k', 512],
    ['1.0000001G', Math.round(1.0000001 * GiB)],
  ] as const)('size %j is %d bytes (binary units, rounded to a byte)', (text, n) => {
    expect(parseSize(text)).toBe(n);
  });

  it.each([
    ['1ms', 1],
    ['1s', SECOND],
    ['1m', MINUTE],
    ['1h', HOUR],
    ['1d', DAY],
    ['0.5s', 500],
    ['0.0005s', 1],
    ['90m', 90 * MINUTE],
    ['0ms', 0],
    ['0d', 0],
  ] as const)('duration %j is %d ms (m is minutes, rounded to a ms)', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['1M', '1D', '1H', '1MS', '1 ms', '1sec', '1min', '1y', '1w', '.5s', '5.s', '+1s'])(
    'duration %j is no duration (units are lower case, written right after the number)',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );

  it.each(['.5M', '5.M', '+1M', '1 2M', '1iB', '1 KiB B', '1PB', '0.5', '1.5', '1.5b'])(
    'size %j is no size (a fraction of a byte is none)',
    (text) => {
      expect(parseSize(text)).toBeUndefined();
    },
  );
});

describe('each format reads back as the value it shows', () => {
  const specs = Object.values(OPTION_SPECS);
  const sizes = specs.flatMap((s) =>
    s.kind === 'size' ? [s.min, s.max, ...(s.default === undefined ? [] : [s.default])] : [],
  );
  const durations = specs.flatMap((s) =>
    s.kind === 'duration' ? [s.min, s.max, ...(s.default === undefined ? [] : [s.default])] : [],
  );

  it.each([...sizes, 1, 1023, 1536, 3 * MiB + 1, 7 * GiB])('size %d', (n) => {
    expect(parseSize(fmtSize(n).replace(' bytes', ''))).toBe(n);
  });

  it.each([...durations, 1, 1500, 59 * SECOND, 90 * SECOND, 25 * HOUR, DAY, 2 * DAY, 7 * DAY + 1])(
    'duration %d ms',
    (ms) => {
      expect(parseDuration(fmtDuration(ms))).toBe(ms);
    },
  );

  it.each([
    [0, '0'],
    [1500, '1500ms'],
    [60 * SECOND, '60s'],
    [2 * MINUTE, '2m'],
    [HOUR, '1h'],
    [DAY, '24h'],
    [2 * DAY, '2d'],
    [Number.POSITIVE_INFINITY, 'never'],
  ] as const)('duration %d ms is shown as %j', (ms, text) => {
    expect(fmtDuration(ms)).toBe(text);
  });
});

describe('max-delete: a count of files or a share of the destination', () => {
  it.each([
    [0, { count: 0 }],
    ['0', { count: 0 }],
    [' 7 ', { count: 7 }],
    ['0%', { share: 0 }],
    ['100%', { share: 1 }],
    ['12.5%', { share: 0.125 }],
  ] as const)('%j is %j', (spec, limit) => {
    expect(parseMaxDelete(spec)).toEqual(limit);
  });

  it.each([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    '',
    '-1',
    '1.5',
    '101%',
    '100.1%',
    '%',
    '5 %',
    'half',
  ])('%j is neither', (spec) => {
    expect(parseMaxDelete(spec)).toBeUndefined();
  });
});

describe('a value shown in an error never shows the user name or password of a URL in it', () => {
  it.each([
    ['one @', 'http://key:secret@127.0.0.1:9000', '"http://***@127.0.0.1:9000"'],
    ['an @ in the password', 'http://key:PA@SSWORD@127.0.0.1:9000', '"http://***@127.0.0.1:9000"'],
    ['several @', 'https://a@b:c@d@e@host', '"https://***@host"'],
    ['a / in the password, as AWS secret keys have', 'http://AKIA:se/cr+et@h', '"http://***@h"'],
    ['a quote in the password', 'http://k:pa"ss@h', '"http://***@h"'],
    ['a space in the password', 'http://k:pa ss@h', '"http://***@h"'],
    ['no user name: as it is', 'http://host:9000/a', '"http://host:9000/a"'],
    ['an s3:// URL, which has no user name: as it is', 's3://bucket/a@b', '"s3://bucket/a@b"'],
    ['after an s3:// URL in a list', ['s3://b/k@1', 'ftp://u:p@w@h'], '["s3://b/k@1","ftp://***@h"]'],
    ['an @ in the path only: cut there, the safe side', 'http://h/a@b', '"http://***@b"'],
    [
      'two URLs in one list, each',
      ['http://a:PW1@h1', 'http://b:P@W2@h2'],
      '["http://***@h1","http://***@h2"]',
    ],
    ['in an object', { url: 'http://k:S@CRET@h' }, '{"url":"http://***@h"}'],
    ["a backslash: escaped, as Go's %q writes it (so \\n is never a line break)", 'C:\\x', '"C:\\\\x"'],
    ['control characters: escaped, one line', 'a\tb\n\u001b[2K', '"a\\tb\\n\\x1b[2K"'],
    ['a quote: as it is', 'a"b', '"a"b"'],
    [
      'a list and an object, their strings as strings are',
      ['a\\b', { k: 1.5, n: null }],
      '["a\\\\b",{"k":1.5,"n":null}]',
    ],
    ['a date, as JSON writes it', new Date(0), '"1970-01-01T00:00:00.000Z"'],
  ] as [string, unknown, string][])('%s', (_what, value, text) => {
    expect(shown(value)).toBe(text);
  });
});
