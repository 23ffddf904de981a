/**
 * Globs whose negation means nothing or everything are refused wherever a glob enters (a flag, the
 * config file, a library call, an --exclude-from line), never read as picomatch reads them: `--exclude '!'`
 * excluded the whole tree and exited 0. `.s3syncignore` reads `!` as git does.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/cli/config.js';
import { buildProgram, splitOptions } from '../../src/cli/program.js';
import { createFilter, createFilterSync } from '../../src/local/filters.js';
import { globLine, shapeGlob } from '../../src/options/glob.js';
import { validateOptions } from '../../src/options/validate.js';
import { cleanup, tempDir, usageErrorOf } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => cleanup(...dirs));

const LONE = "a '!' with no glob after it negates nothing";
const TWICE = "it negates more than once: give one '!' or none";
const NONE = 'it negates a glob that matches every path, so it matches none';
const EMPTY = 'the glob is empty';
const LETTER = (c: string) =>
  `'\\${c}' is no escape (a letter or digit needs none): a backslash in a name is written '\\\\', and folders are separated by '/'`;

/** Degenerate globs and why each is refused. */
const REFUSED: [string, string][] = [
  ['!', LONE],
  ['!/', LONE],
  ['!./', LONE],
  ['!//', LONE],
  ['!!', TWICE],
  ['!!*.log', TWICE],
  ['!!!', TWICE],
  ['!*', NONE],
  ['!**', NONE],
  ['!**/*', NONE],
  ['!/**', NONE],
  ['', EMPTY],
  ['  ', EMPTY],
  ['/', EMPTY],
  ['./', EMPTY],
  // picomatch read these as regex classes: `a\b.txt` (a word boundary) matched `a.txt`, `\d` any digit.
  ['a\\b.txt', LETTER('b')],
  ['logs\\debug.log', LETTER('d')],
  ['f\\d.txt', LETTER('d')],
  ['\\w*', LETTER('w')],
  ['[\\s]x', LETTER('s')],
  ['x\\\\\\n', LETTER('n')],
  ['a\\1', LETTER('1')],
];

/** Escapes a glob takes: of a character that is not a letter or digit, a backslash's included. */
const ESCAPES_TAKEN = ['a\\\\b.txt', '\\*.txt', '\\!x', 'tr\\ ', '\\[a\\].txt', 'é\\é', 'x\\'];

/** The usage error a call throws (exit 2, one line): its message. */
const usage = (fn: () => unknown): string => usageErrorOf(fn).message;

describe('shapeGlob', () => {
  it.each(REFUSED)('refuses %j', (glob, why) => {
    expect(shapeGlob(glob)).toBe(why);
  });

  it.each(ESCAPES_TAKEN)('takes the escapes in %j', (glob) => {
    expect(typeof shapeGlob(glob)).toBe('object');
  });

  it.each([
    ['!*.txt', { pattern: '!*.txt', basename: true }],
    ['!/keep/', { pattern: '!keep/**/*', basename: false }],
    ['!./logs/', { pattern: '!logs/**/*', basename: false }],
    ['!/a.txt', { pattern: '!a.txt', basename: false }],
    ['!/*', { pattern: '!*', basename: false }],
    ['!(*.txt)', { pattern: '!(*.txt)', basename: true }],
    ['\\!', { pattern: '\\!', basename: true }],
    ['./logs/', { pattern: 'logs/**/*', basename: false }],
    ['node_modules/', { pattern: '**/node_modules/**/*', basename: false }],
    ['.*/', { pattern: '**/.*/**/*', basename: false }],
    ['logs/2024/', { pattern: 'logs/2024/**/*', basename: false }],
    ['/foo', { pattern: 'foo', basename: false }],
    ['**', { pattern: '**', basename: true }],
    // A space is part of a name, as aws and rclone read it: `'tr '` is not `tr`, `' ! '` no negation.
    ['tr ', { pattern: 'tr ', basename: true }],
    [' a.txt', { pattern: ' a.txt', basename: true }],
    [' ! ', { pattern: ' ! ', basename: true }],
    ['tr\\ ', { pattern: 'tr\\ ', basename: true }],
  ])('reads %j', (glob, shape) => {
    expect(shapeGlob(glob)).toEqual(shape);
  });
});

describe('globLine (an --exclude-from line)', () => {
  it.each([
    ['*.tmp', '*.tmp'],
    ['  *.tmp  ', '*.tmp'],
    ['*.tmp\t', '*.tmp'],
    // An escaped trailing space is the name's: kept, one, whatever whitespace follows it.
    ['tr\\ ', 'tr\\ '],
    ['tr\\   ', 'tr\\ '],
    ['  tr\\ ', 'tr\\ '],
    // An escaped backslash escapes nothing after it.
    ['tr\\\\ ', 'tr\\\\'],
    ['\\ x', '\\ x'],
  ])('%j is %j', (line, glob) => {
    expect(globLine(line)).toBe(glob);
  });
});

/** The options `s3sync push ./src s3://b/p ARGS` gives, the run itself stubbed. */
function fromFlags(args: string[]): Record<string, unknown> {
  const program = buildProgram(() => {});
  program.exitOverride();
  const cmd = program.commands.find((c) => c.name() === 'push') as Command;
  cmd.exitOverride();
  cmd.action(() => {});
  program.parse(['node', 's3sync', 'push', './src', 's3://b/p', ...args]);
  return splitOptions('push', [program.opts(), cmd.opts()]).options;
}

function fromConfig(defaults: Record<string, unknown>): Record<string, unknown> {
  const d = tempDir('glob-cfg');
  dirs.push(d);
  const file = path.join(d, 's3sync.config.json');
  writeFileSync(file, JSON.stringify({ defaults }));
  return loadConfig({ S3SYNC_CONFIG: file }).defaults;
}

describe('every way a glob enters refuses the degenerate ones, naming the option and the glob', () => {
  const q = JSON.stringify;
  const GLOBS = 'a glob or a list of globs';
  it.each(REFUSED.filter(([g]) => g.trim() !== ''))('%j', (glob, why) => {
    for (const flag of ['--exclude', '--include', '--compress'])
      expect(usage(() => fromFlags([flag, glob]))).toBe(`${flag} must be ${GLOBS}, got ${q(glob)}: ${why}`);
    // After a good glob: each repeat is checked, not the first.
    expect(usage(() => fromFlags(['--exclude', '*.tmp', '--exclude', glob]))).toBe(
      `--exclude must be ${GLOBS}, got ${q(glob)}: ${why}`,
    );
    // Its two arguments as the CLI joins them before parsing (src/cli/pair-args.ts).
    expect(usage(() => fromFlags(['--header-for', `${glob}\nCache-Control: no-cache`]))).toBe(
      `--header-for must be a glob and a header, got ${q(glob)} "Cache-Control: no-cache": ${why}`,
    );
    for (const key of ['exclude', 'include', 'compress']) {
      expect(usage(() => fromConfig({ [key]: ['*.tmp', glob] }))).toMatch(
        `: defaults: "${key}" must be ${GLOBS}, got ${q(['*.tmp', glob])}: ${q(glob)}: ${why}`,
      );
      expect(usage(() => fromConfig({ [key]: glob }))).toMatch(
        `: defaults: "${key}" must be ${GLOBS}, got ${q(glob)}: ${why}`,
      );
      expect(usage(() => validateOptions({ [key]: ['*.tmp', glob] }, 'push'))).toBe(
        `option ${key} must be a list of globs, got ${q(['*.tmp', glob])}: ${q(glob)}: ${why}`,
      );
    }
    expect(usage(() => fromConfig({ headers: [{ match: glob, cacheControl: 'no-cache' }] }))).toContain(
      `: rule 1: "match" ${q(glob)}: ${why}`,
    );
    // The filters themselves, for a caller that skipped the entry points' checks.
    expect(usage(() => createFilterSync({ exclude: [glob] }))).toBe(
      `invalid glob in --exclude: ${q(glob)} (${why})`,
    );
    expect(usage(() => createFilterSync({ include: [glob] }))).toBe(
      `invalid glob in --include: ${q(glob)} (${why})`,
    );
  });

  it('good globs, negated ones included, pass every entry', () => {
    const globs = ['!*.txt', '!/keep/', '\\!', '!(*.log)', '*.tmp'];
    expect(fromFlags(globs.flatMap((g) => ['--exclude', g])).exclude).toEqual(globs);
    expect(fromConfig({ exclude: globs }).exclude).toEqual(globs);
    expect(() => validateOptions({ exclude: globs, include: globs, compress: globs }, 'push')).not.toThrow();
  });

  it('an --exclude-from line: the file and the line are named', async () => {
    const d = tempDir('glob-from');
    dirs.push(d);
    const file = path.join(d, 'excludes.txt');
    writeFileSync(file, '# generated\n*.tmp\n\n!\n');
    await expect(createFilter({ excludeFrom: [file] })).rejects.toThrow(
      `invalid glob in --exclude-from ${file} line 4: "!" (${LONE})`,
    );
    writeFileSync(file, '*.tmp\r\n!**\r\n');
    await expect(createFilter({ excludeFrom: [file] })).rejects.toThrow(
      `invalid glob in --exclude-from ${file} line 2: "!**" (${NONE})`,
    );
    expect(usage(() => createFilterSync({ excludeFromTexts: ['*.tmp\n !! \n'] }))).toBe(
      `invalid glob in --exclude-from: "!!" (${TWICE})`,
    );
    // A line's surrounding spaces are dropped, as before: ' ! ' is a lone '!' there.
    expect(usage(() => createFilterSync({ excludeFromTexts: [' ! \n'] }))).toBe(
      `invalid glob in --exclude-from: "!" (${LONE})`,
    );
  });
});

describe('negated globs select what they say', () => {
  const PATHS = ['a.txt', 'b.log', 'keep/x.log', 'keep/y.txt', 'sub/a.txt', '!'];
  const selected = (opts: Parameters<typeof createFilterSync>[0]) => {
    const f = createFilterSync(opts);
    return PATHS.filter((p) => f.includes(p));
  };

  it('an anchored negation excludes all but that path (it excluded everything)', () => {
    expect(selected({ exclude: ['!/a.txt'] })).toEqual(['a.txt']);
    expect(selected({ exclude: ['!/keep/'] })).toEqual(['keep/x.log', 'keep/y.txt']);
    expect(selected({ exclude: ['!./keep/'] })).toEqual(['keep/x.log', 'keep/y.txt']);
    expect(selected({ include: ['!/keep/'] })).toEqual(['a.txt', 'b.log', 'sub/a.txt', '!']);
  });

  it('a basename negation, and an escaped ! that names a file', () => {
    expect(selected({ exclude: ['!*.txt'] })).toEqual(['a.txt', 'keep/y.txt', 'sub/a.txt']);
    expect(selected({ exclude: ['\\!'] })).toEqual(PATHS.filter((p) => p !== '!'));
  });
});

describe('.s3syncignore reads a lone ! as git does: a line that matches nothing', () => {
  const PATHS = ['a.txt', 'd/b.log', '!', '.env'];
  const ignored = (text: string) => {
    const f = createFilterSync({ ignoreFileText: text });
    return PATHS.filter((p) => !f.includes(p));
  };

  it.each([
    ['!\n', []],
    ['!!\n', []],
    ['!/\n', []],
    ['!*\n', []],
    ['\\!\n', ['!']],
    ['*.log\n!\n', ['d/b.log']],
    ['*\n!\n', PATHS],
  ])('%j ignores %j', (text, want) => {
    expect(ignored(text)).toEqual(want);
  });
});
