/** Header rules: validation of config and library rules, --header-for parsing and pairing, matching, digests. */
import { describe, expect, it } from 'vitest';
import { pairHeaderFlags } from '../../src/cli/pair-args.js';
import { S3SyncError } from '../../src/errors.js';
import {
  addFlagRules,
  type HeaderRule,
  parseHeaderFlag,
  parseRules,
} from '../../src/options/header-rules.js';
import { createObjectStyles, firstMatch, styleDigest } from '../../src/sync/object-style.js';
import { usageErrorOf } from '../helpers.js';

const hintOf = (r: ReturnType<typeof parseRules>) => (r.ok ? 'ok' : r.hint);

describe('config and library rules', () => {
  it('takes every field', () => {
    const rule = {
      match: '*.html',
      cacheControl: 'no-cache',
      contentType: 'text/html',
      contentEncoding: 'br',
      contentDisposition: 'inline',
      storageClass: 'STANDARD_IA',
      metadata: { build: '42' },
    };
    expect(parseRules([rule])).toEqual({ ok: true, rules: [rule] });
  });

  it.each([
    ['not a list', { match: '*' }, 'a list of rules'],
    ['a rule not an object', ['*.html'], 'rule 1 must be an object'],
    [
      'an unknown key, named',
      [
        { match: '*', cacheControl: 'x' },
        { match: '*', cachecontrol: 'x' },
      ],
      'rule 2: unknown key "cachecontrol"',
    ],
    ['a header name as key', [{ match: '*', 'Cache-Control': 'x' }], 'unknown key "Cache-Control"'],
    ['no match', [{ cacheControl: 'x' }], 'needs "match"'],
    ['an empty match', [{ match: ' ', cacheControl: 'x' }], '"match" must be a glob'],
    ['a rule that sets nothing', [{ match: '*.css' }], 'sets nothing'],
    // First match wins: it would keep every later rule off those files, as the bare match would.
    [
      'a rule whose only metadata is empty',
      [
        { match: '*.html', metadata: {} },
        { match: '*', cacheControl: 'x' },
      ],
      'rule 1 ("*.html") sets nothing',
    ],
    ['a number value', [{ match: '*', cacheControl: 300 }], '"cacheControl" must be a string'],
    ['an empty value', [{ match: '*', contentType: '' }], 'is empty'],
    [
      'a line break (header injection)',
      [{ match: '*', cacheControl: 'a\r\nx-amz-acl: public-read' }],
      '"cacheControl" must be a header value without a line break',
    ],
    ['metadata not an object', [{ match: '*', metadata: 'x' }], 'metadata'],
    ['a metadata value not a string', [{ match: '*', metadata: { a: 1 } }], 'must be a string'],
    ['an upper-case metadata name', [{ match: '*', metadata: { Team: 'x' } }], 'lower case'],
    ['a metadata name with a space', [{ match: '*', metadata: { 'a b': 'x' } }], 'lower case'],
    ["s3sync's md5", [{ match: '*', metadata: { md5: 'x' } }], "s3sync's own"],
    ["s3sync's mtime", [{ match: '*', metadata: { mtime: '1' } }], "s3sync's own"],
    ["s3sync's source MD5", [{ match: '*', metadata: { 's3sync-source-md5': 'x' } }], "s3sync's own"],
    ["s3sync's source size", [{ match: '*', metadata: { 's3sync-source-size': '1' } }], "s3sync's own"],
    ['a Latin-1 value', [{ match: '*', contentDisposition: 'inline; filename=é' }], 'must be ASCII'],
    ['a Latin-1 metadata value', [{ match: '*', metadata: { a: 'é' } }], 'metadata "a" must be ASCII'],
  ])('refuses %s', (_why, v, hint) => {
    expect(hintOf(parseRules(v))).toContain(hint);
  });
});

describe('--header-for', () => {
  const flag = (glob: string, header: string) => parseHeaderFlag(`${glob}\n${header}`);
  it.each([
    ['Cache-Control: no-cache', { cacheControl: 'no-cache' }],
    ['cache-control:max-age=60', { cacheControl: 'max-age=60' }],
    ['Content-Type: text/html; charset=utf-8', { contentType: 'text/html; charset=utf-8' }],
    ['CONTENT-ENCODING: br', { contentEncoding: 'br' }],
    [
      'Content-Disposition: attachment; filename="a b.csv"',
      { contentDisposition: 'attachment; filename="a b.csv"' },
    ],
    ['x-amz-storage-class: GLACIER_IR', { storageClass: 'GLACIER_IR' }],
    ['X-Amz-Meta-Team: web: front', { metadata: { team: 'web: front' } }],
  ])('%s', (header, set) => {
    expect(flag('*.html', header)).toEqual({ ok: true, rules: [{ match: '*.html', ...set }] });
  });

  it.each([
    ['no colon', 'Cache-Control no-cache', 'is not "Header: value"'],
    ['no name', ': x', 'is not "Header: value"'],
    ['no value', 'Cache-Control:', 'is empty'],
    ['an unknown header', 'Expires: 0', 'unknown header "expires"'],
    ['a header s3sync sets', 'Content-MD5: x', 'unknown header'],
    ['a metadata name s3sync owns', 'x-amz-meta-md5: x', "s3sync's own"],
    ['a control character', 'Cache-Control: a\u0007b', 'control character'],
    ['a character beyond Latin-1', 'Cache-Control: 日本', 'must be ASCII, as every header value'],
    ['a line separator', 'Content-Disposition: a\u2028b', 'must be ASCII, as every header value'],
    // Latin-1 passed, then every PutObject failed: Node sent its bytes, the SDK signed UTF-8.
    [
      'a Latin-1 character',
      'Cache-Control: café',
      'Cache-Control must be ASCII, as every header value, got "café" ("é" is not)',
    ],
    ['a Latin-1 metadata value', 'x-amz-meta-note: café', 'x-amz-meta-note must be ASCII'],
    [
      'a Latin-1 file name',
      'Content-Disposition: attachment; filename="résumé.pdf"',
      "RFC 5987 (filename*=UTF-8''r%C3%A9sum%C3%A9.pdf) in Content-Disposition",
    ],
    [
      'a line break',
      'Cache-Control: a\nb',
      'Cache-Control must be a header value without a line break, got "a\\nb"',
    ],
  ])('refuses %s', (_why, header, hint) => {
    expect(hintOf(flag('*', header))).toContain(hint);
  });

  it('refuses a header line (name, ": ", value) over 8 KiB, which AWS answers 400 file by file', () => {
    const fits = 'a'.repeat(8192 - 'Cache-Control: '.length);
    expect(flag('*', `Cache-Control: ${fits}`)).toEqual({
      ok: true,
      rules: [{ match: '*', cacheControl: fits }],
    });
    expect(hintOf(flag('*', `Cache-Control: ${fits}a`))).toBe(
      "Cache-Control must be at most 8 KiB as a header line (Cache-Control: value), AWS's limit for a request's headers, got 8193 bytes",
    );
    expect(hintOf(flag('*', `x-amz-meta-n: ${'a'.repeat(70000)}`))).toContain('got 70014 bytes');
    expect(hintOf(parseRules([{ match: '*', contentType: 'a'.repeat(9000) }]))).toContain(
      'rule 1: "contentType" must be at most 8 KiB as a header line (Content-Type: value)',
    );
    expect(hintOf(parseRules([{ match: '*', metadata: { n: 'a'.repeat(9000) } }]))).toContain(
      '(x-amz-meta-n: value)',
    );
  });

  it('refuses a flag without its header, and an empty glob', () => {
    expect(hintOf(parseHeaderFlag('*.html'))).toContain('give a glob and a header');
    expect(hintOf(flag('', 'Cache-Control: x'))).toContain('the glob is empty');
  });

  it('merges repeats for one glob into one rule, keeping the order of first appearance', () => {
    const one = (glob: string, header: string) => (flag(glob, header) as { rules: HeaderRule[] }).rules;
    let rules: HeaderRule[] | string = [];
    for (const [g, h] of [
      ['*.html', 'Cache-Control: no-cache'],
      ['assets/**', 'Cache-Control: immutable'],
      ['*.html', 'Content-Type: text/html'],
      ['*.html', 'x-amz-meta-a: 1'],
      ['*.html', 'x-amz-meta-b: 2'],
    ] as const)
      rules = addFlagRules(rules as HeaderRule[], one(g, h));
    expect(rules).toEqual([
      { match: '*.html', cacheControl: 'no-cache', contentType: 'text/html', metadata: { a: '1', b: '2' } },
      { match: 'assets/**', cacheControl: 'immutable' },
    ]);
    expect(addFlagRules(rules as HeaderRule[], one('*.html', 'cache-control: x'))).toContain('given twice');
    expect(addFlagRules(rules as HeaderRule[], one('*.html', 'x-amz-meta-a: 3'))).toContain('given twice');
  });

  it.each([
    [
      ['push', '--header-for', '*.js', 'Cache-Control: x', 'a', 's3://b'],
      ['push', '--header-for', '*.js\nCache-Control: x', 'a', 's3://b'],
    ],
    [
      ['push', '--header-for=*.js', 'Cache-Control: x'],
      ['push', '--header-for', '*.js\nCache-Control: x'],
    ],
    [
      ['push', '--', '--header-for', 'a'],
      ['push', '--', '--header-for', 'a'],
    ],
  ])('pairs the flag with its two arguments: %j', (argv, out) => {
    expect(pairHeaderFlags(argv)).toEqual(out);
  });

  it.each([
    [['--header-for']],
    [['--header-for', '*.js']],
    [['--header-for', '*.js', '--dry-run']],
    [['--header-for', '--x', 'y']],
  ])('a flag short of its arguments is a usage error: %j', (argv) => {
    expect(usageErrorOf(() => pairHeaderFlags(argv)).message).toContain('takes a glob and a header');
  });
});

describe('matching and digests', () => {
  const styles = (rules: HeaderRule[], compress: string[] = []) =>
    createObjectStyles({ headers: rules, compress });
  it('the first matching rule wins, globs read as the filters read them', () => {
    const s = styles([
      { match: '/index.html', cacheControl: 'no-store' },
      { match: '*.html', cacheControl: 'no-cache' },
      { match: 'assets/**', cacheControl: 'immutable' },
    ]);
    const cc = (rel: string) => s.headersFor({ rel, size: 1 }, 'text/plain').cacheControl;
    expect(cc('index.html')).toBe('no-store');
    expect(cc('a/index.html')).toBe('no-cache');
    expect(cc('assets/x.html')).toBe('no-cache');
    expect(cc('assets/x.js')).toBe('immutable');
    expect(cc('x.js')).toBeUndefined();
    expect(firstMatch([() => false, () => true, () => true], 'x')).toBe(1);
    expect(firstMatch([], 'x')).toBe(-1);
  });

  it('a rule content type wins over the name; compression sets gzip; metadata is the rule copy', () => {
    const s = styles(
      [{ match: '*.js', contentType: 'application/x-custom', metadata: { a: '1' } }],
      ['*.js'],
    );
    const h = s.headersFor({ rel: 'x.js', size: 1 }, 'text/javascript');
    expect(h).toMatchObject({
      contentType: 'application/x-custom',
      contentEncoding: 'gzip',
      metadata: { a: '1' },
    });
    expect(s.compressed('x.js')).toBe(true);
    expect(s.compressed('x.css')).toBe(false);
  });

  it('digests ignore key order and tell rules apart', () => {
    expect(styleDigest({ cacheControl: 'a', contentType: 'b' })).toBe(
      styleDigest({ contentType: 'b', cacheControl: 'a' }),
    );
    expect(styleDigest({ metadata: { a: '1', b: '2' } })).toBe(styleDigest({ metadata: { b: '2', a: '1' } }));
    expect(styleDigest({ cacheControl: 'a' })).not.toBe(styleDigest({ cacheControl: 'b' }));
    expect(styleDigest({ cacheControl: 'a' })).not.toBe(styleDigest({ contentType: 'a' }));
    expect(styleDigest({ metadata: { a: '1' } })).not.toBe(styleDigest({ metadata: { a: '2' } }));
  });

  it('without rules or compression the planner is told nothing (runs without them pay nothing)', () => {
    const s = createObjectStyles({});
    expect(s.plan).toEqual({ styleOf: undefined, compressed: undefined });
    expect(s.active).toBe(false);
  });

  it('a glob that matches nothing is a usage error naming the option and the glob', () => {
    expect(usageErrorOf(() => styles([{ match: '/', cacheControl: 'x' }])).message).toMatch(
      /^option headers .*: rule 1: "match" "\/": the glob is empty$/,
    );
    expect(usageErrorOf(() => styles([], ['./'])).message).toMatch(
      /^option compress .*, got \["\.\/"\]: the glob is empty$/,
    );
  });

  it('the pass-through may set fields the table does not name, and none that s3sync controls', () => {
    const pass = (v: object) =>
      createObjectStyles({ objectParams: () => v }).headersFor({ rel: 'a', size: 1 }, 'text/plain').extra;
    expect(pass({ ContentLanguage: 'en', Tagging: 'a=b' })).toEqual({
      ContentLanguage: 'en',
      Tagging: 'a=b',
    });
    for (const k of [
      'Bucket',
      'Key',
      'Body',
      'ContentMD5',
      'ContentLength',
      'ChecksumCRC32',
      'IfNoneMatch',
      'Metadata',
      'ACL',
      'StorageClass',
    ]) {
      const err = usageErrorOf(() => pass({ [k]: 'x' }));
      expect(err).toBeInstanceOf(S3SyncError);
      expect(err.message).toContain(k);
    }
    expect(usageErrorOf(() => createObjectStyles({ objectParams: 'x' })).message).toContain(
      'must be a function',
    );
  });
});
