import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import picomatch from 'picomatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  createFilter,
  createFilterSync,
  type FilterOptions,
  INTERNAL_NAMES,
  type PathFilter,
} from '../../src/local/filters.js';

const PATHS = [
  'a.txt',
  'b.log',
  '.env',
  'README.md',
  'notes/todo.txt',
  'notes/deep/x.tmp',
  'notes/deep/y.txt',
  'logs/app.log',
  'logs/keep.txt',
  'logs/2024/01/old.log',
  'logs/.hidden/z.txt',
  'build/out.js',
  'build/sub/out.map',
  'src/build/gen.ts',
  'src/main.ts',
  'src/.cache/c.bin',
  'x.tmp',
  'dir with space/ü.txt',
  'node_modules/pkg/index.js',
  'web/node_modules/pkg/index.js',
  'keep.log',
  'a/b/c.log',
];

/** All directories (without trailing slash) that contain something in PATHS. */
const DIRS = [
  ...new Set(
    PATHS.flatMap((p) => {
      const parts = p.split('/');
      return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
    }),
  ),
];

function selected(f: PathFilter, paths = PATHS): string[] {
  return paths.filter((p) => f.includes(p));
}

/** excludesDir must never skip a directory holding an included file. */
function expectConservative(f: PathFilter, paths = PATHS): void {
  for (const dir of DIRS) {
    if (!f.excludesDir(dir)) continue;
    const inside = paths.filter((p) => p.startsWith(`${dir}/`) && f.includes(p));
    expect(inside, `excludesDir('${dir}') but these are included`).toEqual([]);
  }
}

describe('createFilterSync: no filters', () => {
  it('is inactive and includes everything except the internal folder', () => {
    const f = createFilterSync({});
    expect(f.active).toBe(false);
    expect(selected(f)).toEqual(PATHS);
    expect(f.includes('.s3sync/manifest.json')).toBe(false);
    expect(f.includes('.s3sync')).toBe(false);
    expect(f.excludesDir('.s3sync')).toBe(true);
    expect(f.excludesDir('notes')).toBe(false);
    expect(f.excludesDir('logs')).toBe(false);
  });

  it('empty lists and an ignore file with only comments stay inactive', () => {
    const f = createFilterSync({
      include: [],
      exclude: [],
      excludeFromTexts: ['# nothing\n\n   \n'],
      ignoreFileText: '# just a comment\n\n',
    });
    expect(f.active).toBe(false);
    expect(selected(f)).toEqual(PATHS);
  });
});

describe('INTERNAL_NAMES', () => {
  it('lists the manifest folder', () => {
    expect(INTERNAL_NAMES).toEqual(['.s3sync']);
  });

  it('is excluded at the root only, even when an include matches it', () => {
    const f = createFilterSync({ include: ['**'] });
    expect(f.includes('.s3sync/state.json')).toBe(false);
    expect(f.excludesDir('.s3sync')).toBe(true);
    expect(f.excludesDir('.s3sync/sub')).toBe(true);
    expect(f.includes('sub/.s3sync/state.json')).toBe(true);
    expect(f.includes('.s3syncx/a')).toBe(true);
    expect(f.includes('.s3sync.txt')).toBe(true);
    expect(f.excludesDir('sub/.s3sync')).toBe(false);
  });
});

describe('aws s3 sync idioms', () => {
  it("--exclude '*' --include '*.txt' selects only .txt files, at any depth", () => {
    const f = createFilterSync({ exclude: ['*'], include: ['*.txt'] });
    expect(f.active).toBe(true);
    expect(selected(f)).toEqual([
      'a.txt',
      'notes/todo.txt',
      'notes/deep/y.txt',
      'logs/keep.txt',
      'logs/.hidden/z.txt',
      'dir with space/ü.txt',
    ]);
    // Any directory could hold a .txt file: none may be skipped.
    for (const d of DIRS) expect(f.excludesDir(d)).toBe(false);
    expectConservative(f);
  });

  it('the order of --exclude and --include does not matter (include wins)', () => {
    const a = createFilterSync({ include: ['*.txt'], exclude: ['*'] });
    const b = createFilterSync({ exclude: ['*'], include: ['*.txt'] });
    expect(selected(a)).toEqual(selected(b));
  });

  it("--exclude 'logs/**' drops everything below logs, including dot dirs", () => {
    const f = createFilterSync({ exclude: ['logs/**'] });
    expect(selected(f)).toEqual(PATHS.filter((p) => !p.startsWith('logs/')));
    expect(f.excludesDir('logs')).toBe(true);
    expect(f.excludesDir('logs/2024')).toBe(true);
    expect(f.excludesDir('logs/.hidden')).toBe(true);
    expect(f.excludesDir('notes')).toBe(false);
    // Not anchored anywhere else.
    expect(f.includes('x/logs/a.log')).toBe(true);
    expect(f.excludesDir('x/logs')).toBe(false);
    // A file named like the directory's prefix is not below it.
    expect(f.includes('logs.txt')).toBe(true);
    expect(f.excludesDir('logsx')).toBe(false);
    expectConservative(f);
  });

  it("--exclude 'logs/**' --include 'logs/keep.txt' keeps that file and does not skip logs/", () => {
    const f = createFilterSync({ exclude: ['logs/**'], include: ['logs/keep.txt'] });
    expect(selected(f).filter((p) => p.startsWith('logs/'))).toEqual(['logs/keep.txt']);
    expect(f.includes('README.md')).toBe(true);
    expect(f.excludesDir('logs')).toBe(false);
    // logs/2024 cannot hold logs/keep.txt: it may be skipped.
    expect(f.excludesDir('logs/2024')).toBe(true);
    expectConservative(f);
  });

  it("--exclude 'logs/**' --include 'logs/**/*.txt' keeps nested .txt files", () => {
    const f = createFilterSync({ exclude: ['logs/**'], include: ['logs/**/*.txt'] });
    expect(selected(f).filter((p) => p.startsWith('logs/'))).toEqual(['logs/keep.txt', 'logs/.hidden/z.txt']);
    expect(f.excludesDir('logs')).toBe(false);
    expect(f.excludesDir('logs/2024')).toBe(false);
    expectConservative(f);
  });

  it("--exclude 'logs/**' with a basename include cannot skip logs/", () => {
    const f = createFilterSync({ exclude: ['logs/**'], include: ['keep.txt'] });
    expect(f.includes('logs/keep.txt')).toBe(true);
    expect(f.includes('logs/app.log')).toBe(false);
    expect(f.excludesDir('logs')).toBe(false);
    expectConservative(f);
  });

  it('*.tmp matches at any depth but not as a substring', () => {
    const f = createFilterSync({ exclude: ['*.tmp'] });
    expect(f.includes('x.tmp')).toBe(false);
    expect(f.includes('notes/deep/x.tmp')).toBe(false);
    expect(f.includes('notes/deep/x.tmp.keep')).toBe(true);
    expect(f.includes('x.tmpl')).toBe(true);
    expect(f.includes('.tmp')).toBe(false); // dot: true
    // A basename glob says nothing about directories.
    expect(f.excludesDir('dir.tmp')).toBe(false);
    expect(f.includes('dir.tmp/file')).toBe(true);
    expectConservative(f);
  });

  it("--exclude '*' excludes everything and lets every directory be skipped", () => {
    const f = createFilterSync({ exclude: ['*'] });
    expect(selected(f)).toEqual([]);
    for (const d of DIRS) expect(f.excludesDir(d)).toBe(true);
  });

  it("--exclude '**' and '**/*' exclude everything too", () => {
    for (const g of ['**', '**/*']) {
      const f = createFilterSync({ exclude: [g] });
      expect(selected(f)).toEqual([]);
      expect(f.excludesDir('notes/deep')).toBe(true);
    }
  });

  it('* matches dotfiles (dot: true)', () => {
    const f = createFilterSync({ exclude: ['.*'] });
    expect(f.includes('.env')).toBe(false);
    expect(f.includes('src/.cache/c.bin')).toBe(true); // basename is c.bin
    expect(createFilterSync({ include: ['*'] }).includes('.env')).toBe(true);
  });
});

describe('include-only mode', () => {
  it('selects only paths matching an include', () => {
    const f = createFilterSync({ include: ['*.log'] });
    expect(selected(f)).toEqual(['b.log', 'logs/app.log', 'logs/2024/01/old.log', 'keep.log', 'a/b/c.log']);
    expect(f.excludesDir('logs')).toBe(false);
    expectConservative(f);
  });

  it('lets unrelated directories be skipped for path includes', () => {
    const f = createFilterSync({ include: ['src/**/*.ts', 'notes/todo.txt'] });
    expect(selected(f)).toEqual(['notes/todo.txt', 'src/build/gen.ts', 'src/main.ts']);
    expect(f.excludesDir('src')).toBe(false);
    expect(f.excludesDir('src/build')).toBe(false);
    expect(f.excludesDir('notes')).toBe(false);
    expect(f.excludesDir('notes/deep')).toBe(true);
    expect(f.excludesDir('logs')).toBe(true);
    expect(f.excludesDir('build')).toBe(true);
    expect(f.excludesDir('srcx')).toBe(true);
    expectConservative(f);
  });

  it('is conservative for brace and negated include globs', () => {
    const braces = createFilterSync({ include: ['{src,notes}/*.ts'] });
    expect(braces.excludesDir('logs')).toBe(false);
    expectConservative(braces);
    const negated = createFilterSync({ include: ['!logs/**'] });
    expect(negated.includes('logs/app.log')).toBe(false);
    expect(negated.includes('notes/todo.txt')).toBe(true);
    expect(negated.excludesDir('notes')).toBe(false);
    expectConservative(negated);
  });
});

describe('glob syntax', () => {
  it('a glob with / matches the whole path only', () => {
    const f = createFilterSync({ exclude: ['notes/*.txt'] });
    expect(f.includes('notes/todo.txt')).toBe(false);
    expect(f.includes('x/notes/todo.txt')).toBe(true);
    expect(f.includes('notes/deep/y.txt')).toBe(true);
    expect(f.excludesDir('notes')).toBe(false);
    expectConservative(f);
  });

  it("'**/name/**' excludes a directory at any depth", () => {
    const f = createFilterSync({ exclude: ['**/node_modules/**'] });
    expect(f.includes('node_modules/pkg/index.js')).toBe(false);
    expect(f.includes('web/node_modules/pkg/index.js')).toBe(false);
    expect(f.includes('web/node_modules.txt')).toBe(true);
    expect(f.excludesDir('node_modules')).toBe(true);
    expect(f.excludesDir('web/node_modules')).toBe(true);
    expect(f.excludesDir('web/node_modules/pkg')).toBe(true);
    expect(f.excludesDir('web')).toBe(false);
    expectConservative(f);
  });

  it("a trailing '/' is a folder of that name at any depth, as in rsync and gitignore", () => {
    const f = createFilterSync({ exclude: ['build/'] });
    expect(f.includes('build/out.js')).toBe(false);
    expect(f.includes('build/sub/out.map')).toBe(false);
    expect(f.includes('src/build/gen.ts')).toBe(false);
    expect(f.includes('src/builder/gen.ts')).toBe(true);
    expect(f.excludesDir('build')).toBe(true);
    expect(f.excludesDir('src/build')).toBe(true);
    expect(f.excludesDir('src/builds')).toBe(false);
    expectConservative(f);
  });

  it.each(['/build/', './build/'])('%j: the folder from the root only', (glob) => {
    const f = createFilterSync({ exclude: [glob] });
    expect(f.includes('build/out.js')).toBe(false);
    expect(f.includes('src/build/gen.ts')).toBe(true);
    expect(f.excludesDir('build')).toBe(true);
    expect(f.excludesDir('src/build')).toBe(false);
    expectConservative(f);
  });

  it("a folder glob with a wildcard ('.*/', '*.egg-info/') is folders so named at any depth", () => {
    const f = createFilterSync({ exclude: ['.*/', '*.egg-info/'] });
    expect(f.includes('src/.cache/c.bin')).toBe(false);
    expect(f.includes('.git/config')).toBe(false);
    expect(f.includes('a/b/x.egg-info/PKG')).toBe(false);
    expect(f.includes('.env')).toBe(true); // a file, not a folder
    expect(f.includes('src/main.ts')).toBe(true);
    expect(f.excludesDir('a/.git')).toBe(true);
    expectConservative(f);
  });

  it("a leading './' is dropped and a leading '/' anchors at the root", () => {
    const dot = createFilterSync({ exclude: ['./logs/**'] });
    expect(dot.includes('logs/app.log')).toBe(false);
    expect(dot.excludesDir('logs')).toBe(true);
    const anchored = createFilterSync({ exclude: ['/keep.log'] });
    expect(anchored.includes('keep.log')).toBe(false);
    expect(anchored.includes('a/keep.log')).toBe(true);
    const basename = createFilterSync({ exclude: ['keep.log'] });
    expect(basename.includes('a/keep.log')).toBe(false);
  });

  it('is case-sensitive and handles spaces and Unicode', () => {
    const f = createFilterSync({ exclude: ['*.TXT', 'dir with space/**'] });
    expect(f.includes('a.txt')).toBe(true);
    expect(f.includes('A.TXT')).toBe(false);
    expect(f.includes('dir with space/ü.txt')).toBe(false);
    expect(createFilterSync({ exclude: ['ü.*'] }).includes('dir with space/ü.txt')).toBe(false);
  });

  it("a glob's leading or trailing space is part of the name, from a flag (it was trimmed)", () => {
    for (const exclude of [['tr '], ['tr\\ '], ['/tr ']]) {
      const f = createFilterSync({ exclude });
      expect(f.includes('tr '), String(exclude)).toBe(false);
      expect(f.includes('tr'), String(exclude)).toBe(true);
    }
    const lead = createFilterSync({ exclude: [' a.txt'] });
    expect(lead.includes(' a.txt')).toBe(false);
    expect(lead.includes('a.txt')).toBe(true);
    // Include-only: 'tr ' takes in `tr ` alone.
    const only = createFilterSync({ include: ['tr '] });
    expect(only.includes('tr ')).toBe(true);
    expect(only.includes('tr')).toBe(false);
  });

  it('an --exclude-from line drops its surrounding spaces but keeps an escaped one', () => {
    const plain = createFilterSync({ excludeFromTexts: ['  tr  \n'] });
    expect(plain.includes('tr')).toBe(false);
    expect(plain.includes('tr ')).toBe(true);
    const escaped = createFilterSync({ excludeFromTexts: ['tr\\ \n'] });
    expect(escaped.includes('tr ')).toBe(false);
    expect(escaped.includes('tr')).toBe(true);
  });

  it("'[a]' is a character class only, never also the literal name; '\\[a\\]' is the name", () => {
    const cls = createFilterSync({ exclude: ['[a].txt'] });
    expect(cls.includes('a.txt')).toBe(false);
    expect(cls.includes('[a].txt')).toBe(true);
    const lit = createFilterSync({ exclude: ['\\[a\\].txt'] });
    expect(lit.includes('[a].txt')).toBe(false);
    expect(lit.includes('a.txt')).toBe(true);
    // A path equal to the glob is not taken for that alone (picomatch's matcher did): braces too.
    expect(createFilterSync({ exclude: ['{a,b}'] }).includes('{a,b}')).toBe(true);
    expect(createFilterSync({ exclude: ['d/[a].txt'] }).includes('d/[a].txt')).toBe(true);
    expect(createFilterSync({ include: ['[a].txt'] }).includes('[a].txt')).toBe(false);
  });

  it('character classes and braces work', () => {
    const f = createFilterSync({ exclude: ['*.{log,tmp}', 'file[0-9].bin'] });
    expect(f.includes('b.log')).toBe(false);
    expect(f.includes('x.tmp')).toBe(false);
    expect(f.includes('a.txt')).toBe(true);
    expect(f.includes('d/file7.bin')).toBe(false);
    expect(f.includes('d/fileX.bin')).toBe(true);
  });

  it('rejects empty globs with a one-line usage error', () => {
    for (const bad of [{ exclude: [''] }, { include: ['  '] }, { exclude: ['/'] }] as FilterOptions[]) {
      let err: unknown;
      try {
        createFilterSync(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind).toBe('usage');
      expect((err as S3SyncError).message).not.toContain('\n');
    }
  });
});

describe('exclude-from texts', () => {
  it('reads one glob per line, skipping comments and blank lines, CRLF tolerated', () => {
    const f = createFilterSync({
      excludeFromTexts: ['# temp files\r\n*.tmp\r\n\r\n  logs/**  \n#*.txt\n', 'build/\n'],
    });
    expect(f.active).toBe(true);
    expect(selected(f)).toEqual(
      PATHS.filter((p) => !p.endsWith('.tmp') && !p.startsWith('logs/') && !/(^|\/)build\//.test(p)),
    );
    expect(f.includes('a.txt')).toBe(true); // '#*.txt' is a comment
    expect(f.excludesDir('logs')).toBe(true);
    expectConservative(f);
  });

  it('combines with --exclude, and --include overrides both', () => {
    const f = createFilterSync({ exclude: ['*.log'], excludeFromTexts: ['*.tmp'], include: ['keep.log'] });
    expect(f.includes('b.log')).toBe(false);
    expect(f.includes('x.tmp')).toBe(false);
    expect(f.includes('keep.log')).toBe(true);
    expect(f.includes('a.txt')).toBe(true);
  });

  it('an exclude-from glob turns include-only mode off', () => {
    const f = createFilterSync({ include: ['*.txt'], excludeFromTexts: ['*.log'] });
    expect(f.includes('README.md')).toBe(true);
    expect(f.includes('b.log')).toBe(false);
  });
});

describe('.s3syncignore', () => {
  it('uses gitignore semantics: negation, directory patterns, anchoring', () => {
    const f = createFilterSync({
      ignoreFileText: ['# comment', '*.log', '!keep.log', 'build/', '/x.tmp', ''].join('\n'),
    });
    expect(f.active).toBe(true);
    expect(f.includes('b.log')).toBe(false);
    expect(f.includes('logs/app.log')).toBe(false);
    expect(f.includes('keep.log')).toBe(true);
    expect(f.includes('deep/keep.log')).toBe(true);
    // build/ matches a directory at any depth, and everything beneath it.
    expect(f.includes('build/out.js')).toBe(false);
    expect(f.includes('build/sub/out.map')).toBe(false);
    expect(f.includes('src/build/gen.ts')).toBe(false);
    expect(f.excludesDir('build')).toBe(true);
    expect(f.excludesDir('src/build')).toBe(true);
    // ...but not a file called build.
    expect(f.includes('build')).toBe(true);
    // /x.tmp is anchored at the root.
    expect(f.includes('x.tmp')).toBe(false);
    expect(f.includes('notes/deep/x.tmp')).toBe(true);
    expect(f.includes('a.txt')).toBe(true);
    expectConservative(f);
  });

  it('cannot re-include a file whose parent directory is ignored', () => {
    const f = createFilterSync({ ignoreFileText: 'build/\n!build/out.js\n' });
    expect(f.includes('build/out.js')).toBe(false);
    expect(f.excludesDir('build')).toBe(true);
  });

  it("'dir/*' with a negation keeps the directory walkable", () => {
    const f = createFilterSync({ ignoreFileText: 'logs/*\n!logs/keep.txt\n' });
    expect(selected(f).filter((p) => p.startsWith('logs/'))).toEqual(['logs/keep.txt']);
    expect(f.excludesDir('logs')).toBe(false);
    expect(f.excludesDir('logs/2024')).toBe(true);
    expectConservative(f);
  });

  it('is case-sensitive (S3 keys are)', () => {
    const f = createFilterSync({ ignoreFileText: '*.LOG\n' });
    expect(f.includes('b.log')).toBe(true);
    expect(f.includes('B.LOG')).toBe(false);
  });

  it('applies before --include: an include cannot bring an ignored file back', () => {
    const f = createFilterSync({ ignoreFileText: '*.log\n', exclude: ['*'], include: ['*.log', '*.txt'] });
    expect(f.includes('b.log')).toBe(false);
    expect(f.includes('a.txt')).toBe(true);
    expect(f.includes('README.md')).toBe(false);
  });

  it('ignores paths the ignore library cannot test instead of throwing', () => {
    const f = createFilterSync({ ignoreFileText: '*.log\n' });
    expect(f.includes('./odd')).toBe(true);
    expect(f.includes('a.txt')).toBe(true);
  });
});

describe('excludesDir edge cases', () => {
  it('accepts a trailing slash and never skips the root', () => {
    const f = createFilterSync({ exclude: ['logs/**'] });
    expect(f.excludesDir('logs/')).toBe(true);
    expect(f.excludesDir('')).toBe(false);
    expect(createFilterSync({ exclude: ['*'] }).excludesDir('')).toBe(false);
  });

  it('negated exclude globs never let a directory be skipped wrongly', () => {
    const f = createFilterSync({ exclude: ['!logs/**'] });
    expect(f.includes('logs/app.log')).toBe(true);
    expect(f.includes('notes/todo.txt')).toBe(false);
    expect(f.excludesDir('logs')).toBe(false);
    expect(f.excludesDir('logs/2024')).toBe(false);
    expectConservative(f);
  });

  it('stays conservative over many random combinations', () => {
    const globs = [
      '*',
      '*.txt',
      '*.log',
      'logs/**',
      'logs/*',
      'logs/keep.txt',
      'notes/**/*.txt',
      '**/deep/**',
      'src/',
      '**/.cache/**',
      '.*',
      '!notes/**',
      '{a,b}/**',
      'a/b/**',
    ];
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = () => Array.from({ length: rand(3) }, () => globs[rand(globs.length)]!);
    for (let i = 0; i < 300; i++) {
      const f = createFilterSync({ exclude: pick(), include: pick() });
      expectConservative(f);
    }
  });
});

describe('createFilter (async, reads --exclude-from files)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 's3sync-filters-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the files', async () => {
    const file = path.join(dir, 'excludes.txt');
    await writeFile(file, '# junk\n*.tmp\nlogs/**\n');
    const f = await createFilter({ excludeFrom: [file], include: ['logs/keep.txt'] });
    expect(f.includes('x.tmp')).toBe(false);
    expect(f.includes('logs/app.log')).toBe(false);
    expect(f.includes('logs/keep.txt')).toBe(true);
    expect(f.includes('a.txt')).toBe(true);
    expect(f.excludesDir('logs')).toBe(false);
  });

  it('passes the other options through', async () => {
    const f = await createFilter({ exclude: ['*.txt'], ignoreFileText: '*.log\n' });
    expect(selected(f)).toEqual(PATHS.filter((p) => !p.endsWith('.txt') && !p.endsWith('.log')));
  });

  it('a missing file is a one-line usage error naming it', async () => {
    const missing = path.join(dir, 'nope.txt');
    const err = await createFilter({ excludeFrom: [missing] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as S3SyncError).message).toContain(missing);
    expect((err as S3SyncError).message).not.toContain('\n');
  });

  it('a directory instead of a file is a usage error too', async () => {
    const err = await createFilter({ excludeFrom: [dir] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as S3SyncError).message).toContain(dir);
  });
});

describe('namesMissingFolders: an exclude that is a plain name, and a folder of that name it takes in', () => {
  const folders = ['.git', 'a', 'a/node_modules', 'a/node_modules/x', 'build', 'cache', 'logs', 'x.egg-info'];
  type Opts = FilterOptions & { excludeFromTexts?: string[] };
  it.each<[string, Opts, string[][]]>([
    [
      'a plain name and a folder of that name',
      { exclude: ['node_modules'] },
      [['node_modules', 'a/node_modules', '--exclude']],
    ],
    ['the folder form', { exclude: ['node_modules/'] }, []],
    [
      'a glob with a wildcard, said as such',
      { exclude: ['node_*'] },
      [['node_*', 'a/node_modules', '--exclude', 'wildcard']],
    ],
    ['dot names: .git is one of them', { exclude: ['.*'] }, [['.*', '.git', '--exclude', 'wildcard']]],
    ['a suffix glob', { exclude: ['*.egg-info'] }, [['*.egg-info', 'x.egg-info', '--exclude', 'wildcard']]],
    ['\'*\' alone: how --include writes "nothing else"', { include: ['*.txt'], exclude: ['*'] }, []],
    ['a wildcard in the folder form', { exclude: ['.*/'] }, []],
    ['a wildcard no folder name matches', { exclude: ['*.tmp'] }, []],
    ['a glob with a path', { exclude: ['a/node_*'] }, []],
    ["an include of a folder's plain name", { include: ['build'] }, [['build', 'build', '--include']]],
    ['an include with a wildcard', { include: ['lo*'] }, [['lo*', 'logs', '--include', 'wildcard']]],
    ['an include the folder form', { include: ['build/'] }, []],
    [
      'an include of a name whose folder another include takes in whole',
      { include: ['build', 'build/**'] },
      [],
    ],
    ['a name no folder has', { exclude: ['nope'] }, []],
    ['a folder .s3syncignore leaves out', { exclude: ['cache'], ignoreFileText: 'cache/\n' }, []],
    ['a folder another glob leaves out', { exclude: ['logs', 'logs/**'] }, []],
    [
      'from an --exclude-from text, once however often named',
      { excludeFromTexts: ['build\nbuild\n'] },
      [['build', 'build', '--exclude-from']],
    ],
    [
      'in both --exclude and --exclude-from: said as the --exclude',
      { exclude: ['build'], excludeFromTexts: ['build\n'] },
      [['build', 'build', '--exclude']],
    ],
  ])('%s', (_why, opts, expected) => {
    const f = createFilterSync(opts);
    expect(
      f
        .namesMissingFolders(folders)
        .map((m) => [m.glob, m.folder, m.from, ...(m.wildcard ? ['wildcard'] : [])]),
    ).toEqual(expected);
  });

  it('reads the folders only as far as it must: once each glob has its folder, no further', () => {
    const f = createFilterSync({ exclude: ['node_modules', '.*'] });
    function* lazy() {
      yield 'a';
      yield 'a/node_modules';
      yield '.git';
      throw new Error('read past the last folder it needed');
    }
    expect(f.namesMissingFolders(lazy()).map((m) => [m.glob, m.folder])).toEqual([
      ['node_modules', 'a/node_modules'],
      ['.*', '.git'],
    ]);
    expect(createFilterSync({ exclude: ['*.log'] }).namesMissingFolders(['a', 'logs'])).toEqual([]);
    const never: Iterable<string> = {
      [Symbol.iterator]() {
        throw new Error('read with no one-segment glob to say');
      },
    };
    expect(createFilterSync({ exclude: ['logs/**'] }).namesMissingFolders(never)).toEqual([]);
  });

  it.each(['.*/', 'node_*/', '*.egg-info/'])('the advice %j leaves those folders out', (glob) => {
    const f = createFilterSync({ exclude: [glob] });
    const named = folders.filter((d) =>
      picomatch(glob.slice(0, -1), { dot: true })(d.slice(d.lastIndexOf('/') + 1)),
    );
    expect(named.length).toBeGreaterThan(0);
    for (const d of named) {
      expect(f.excludesDir(d)).toBe(true);
      expect(f.includes(`${d}/inner.txt`)).toBe(false);
    }
    expect(f.includes('a/kept.txt')).toBe(true);
  });
});
