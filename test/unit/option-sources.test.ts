/**
 * One option, three ways in: a flag (through the CLI's own parser), a config-file value (through the
 * file's loader) and a library call (through an entry point's check) give the same value, for every
 * kind of option in the table. And each default is written in the table only.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/cli/config.js';
import { buildProgram, splitOptions } from '../../src/cli/program.js';
import { parseRate } from '../../src/options/parse.js';
import { MiB } from '../../src/options/spec.js';
import { type EntryPoint, OPTION_SPECS, type OptionName, type OptionSpec } from '../../src/options/table.js';
import { fmtDuration, parseMaxDelete, setting, validateOptions } from '../../src/options/validate.js';
import { cleanup, repoRoot, tempDir } from '../helpers.js';

const dirs: string[] = [];
afterAll(() => cleanup(...dirs));

/** The library options the CLI would pass for `s3sync push SRC s3://b/p ARGS` (the run itself stubbed). */
function fromFlags(args: string[], command = 'push'): Record<string, unknown> {
  const program = buildProgram(() => {});
  const cmd = program.commands.find((c) => c.name() === command) as Command;
  cmd.action(() => {});
  const ends = command === 'cleanup' ? ['s3://b/p'] : ['./src', 's3://b/p'];
  program.parse(['node', 's3sync', command, ...ends, ...args]);
  return splitOptions(command as EntryPoint, [program.opts(), cmd.opts()]).options;
}

/** The options a config file's defaults give the command, read as the CLI reads the file. */
function fromConfig(
  defaults: Record<string, unknown>,
  command: EntryPoint = 'push',
): Record<string, unknown> {
  const d = tempDir('cfg');
  dirs.push(d);
  const file = path.join(d, 's3sync.config.json');
  writeFileSync(file, JSON.stringify({ defaults }));
  return splitOptions(command, [loadConfig({ S3SYNC_CONFIG: file }).defaults]).options;
}

/** A config file holding `content`, in its own folder. */
function configFile(content: object): string {
  const d = tempDir('cfg');
  dirs.push(d);
  const file = path.join(d, 's3sync.config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

/** The options a library call gives, once its entry point has checked them. */
function fromLibrary(opts: Record<string, unknown>, entry: EntryPoint = 'push'): Record<string, unknown> {
  validateOptions(opts, entry);
  return opts;
}

type Case = {
  kind: OptionSpec['kind'];
  name: OptionName;
  flags: string[];
  config: unknown[];
  library: unknown[];
  value: unknown;
  command?: EntryPoint;
};

const cases: Case[] = [
  {
    kind: 'rules',
    name: 'headers',
    // As the CLI hands them on after joining each flag's two arguments (src/cli/pair-args.ts).
    flags: [
      '--header-for',
      '*.html\nCache-Control: no-cache',
      '--header-for',
      '*.html\ncontent-type: text/html',
    ],
    config: [[{ match: '*.html', cacheControl: 'no-cache', contentType: 'text/html' }]],
    library: [[{ match: '*.html', cacheControl: 'no-cache', contentType: 'text/html' }]],
    value: [{ match: '*.html', cacheControl: 'no-cache', contentType: 'text/html' }],
  },
  { kind: 'int', name: 'workers', flags: ['--workers', '8'], config: [8, '8'], library: [8], value: 8 },
  {
    kind: 'size',
    name: 'partSize',
    flags: ['--part-size', '64MiB'],
    config: ['64MiB', '64M', 64 * MiB],
    library: ['64MiB', '64m', 64 * MiB],
    value: 64 * MiB,
  },
  {
    kind: 'duration',
    name: 'stallTimeout',
    flags: ['--stall-timeout', '90s'],
    config: ['90s', '1.5m'],
    library: ['90s', 90_000, { stallTimeoutMs: 90_000 }],
    value: 90_000,
  },
  {
    kind: 'duration',
    name: 'verifyInterval',
    flags: ['--verify-interval', 'never'],
    config: ['never', 'NEVER'],
    library: ['never', Number.POSITIVE_INFINITY],
    value: Number.POSITIVE_INFINITY,
  },
  {
    kind: 'duration',
    name: 'olderThan',
    flags: ['--older-than', '2d'],
    config: ['2d', '48h'],
    library: ['2d', 172_800_000, { olderThanMs: 172_800_000 }],
    value: 172_800_000,
    command: 'cleanup',
  },
  {
    kind: 'enum',
    name: 'provider',
    flags: ['--provider', 'Ceph'],
    config: ['ceph', 'CEPH'],
    library: ['ceph', 'Ceph'],
    value: 'ceph',
  },
  {
    kind: 'max-delete',
    name: 'maxDelete',
    flags: ['--max-delete', '25%'],
    config: ['25%'],
    library: ['25%'],
    value: { share: 0.25 },
  },
  {
    kind: 'max-delete',
    name: 'maxDelete',
    flags: ['--max-delete', '10'],
    config: [10, '10'],
    library: [10, '10'],
    value: { count: 10 },
  },
  {
    kind: 'rate',
    name: 'bwlimit',
    flags: ['--bwlimit', '10MiB:1MiB'],
    config: ['10MiB:1MiB', '10M:1024k'],
    library: ['10MiB:1MiB', ' 10m : 1m '],
    value: { up: 10 * MiB, down: MiB },
  },
  {
    kind: 'rate',
    name: 'bwlimit',
    flags: ['--bwlimit', '2MiB'],
    config: ['2MiB', 2 * MiB],
    library: ['2M', 2 * MiB],
    value: { up: 2 * MiB, down: 2 * MiB },
  },
  {
    kind: 'age',
    name: 'maxAge',
    flags: ['--max-age', '7d'],
    config: ['7d'],
    library: ['7d'],
    value: '7d',
  },
  {
    kind: 'age',
    name: 'minAge',
    flags: ['--min-age', '2026-11-01T10:00:00Z'],
    config: ['2026-11-01T10:00:00Z'],
    library: ['2026-11-01T10:00:00Z'],
    value: '2026-11-01T10:00:00Z',
  },
  {
    kind: 'boolean',
    name: 'delete',
    flags: ['--delete'],
    config: [true, 'true'],
    library: [true],
    value: true,
  },
  {
    kind: 'boolean',
    name: 'incremental',
    flags: ['--no-incremental'],
    config: [false, 'false'],
    library: [false],
    value: false,
  },
  {
    kind: 'string',
    name: 'region',
    flags: ['--region', 'eu-west-1'],
    config: ['eu-west-1'],
    library: ['eu-west-1'],
    value: 'eu-west-1',
  },
  {
    kind: 'shard',
    name: 'shard',
    flags: ['--shard', '2/4'],
    config: ['2/4', ' 2/4 '],
    library: ['2/4', '2/4 '],
    value: '2/4',
  },
  {
    kind: 'list',
    name: 'exclude',
    flags: ['--exclude', '*.tmp', '--exclude', 'cache/**'],
    config: [['*.tmp', 'cache/**']],
    library: [['*.tmp', 'cache/**']],
    value: ['*.tmp', 'cache/**'],
  },
  {
    kind: 'list',
    name: 'exclude',
    flags: ['--exclude', '*.tmp'],
    config: ['*.tmp', ['*.tmp']],
    library: [['*.tmp']],
    value: ['*.tmp'],
  },
];

describe('every kind of option means the same from a flag, a config value and a library call', () => {
  it('the cases cover every kind in the table', () => {
    const kinds = new Set(Object.values(OPTION_SPECS).map((s) => s.kind));
    expect(new Set(cases.map((c) => c.kind))).toEqual(kinds);
  });

  it.each(cases)('$kind: $name = $flags', (c) => {
    const command = c.command ?? 'push';
    const resolve = (opts: Record<string, unknown>) => {
      const v = setting(opts, c.name);
      if (c.name === 'bwlimit') return parseRate(v);
      return c.name === 'maxDelete' ? parseMaxDelete(v as string | number) : v;
    };
    // An option that does something only with another (maxDelete with delete) is given with it.
    const needs = (OPTION_SPECS[c.name] as OptionSpec).needs as OptionName | undefined;
    const withIt = needs ? { [needs]: true } : {};
    const needFlag = needs ? [OPTION_SPECS[needs].flag] : [];
    expect(resolve(fromFlags([...c.flags, ...needFlag], command))).toEqual(c.value);
    for (const v of c.config)
      expect(resolve(fromConfig({ [c.name]: v, ...withIt }, command)), JSON.stringify(v)).toEqual(c.value);
    for (const v of c.library) {
      // An object stands for the option's former name and its value.
      const opts = typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { [c.name]: v };
      expect(resolve(fromLibrary({ ...(opts as object), ...withIt }, command)), JSON.stringify(v)).toEqual(
        c.value,
      );
    }
  });

  it('a flag wins over a config default, which wins over the table default', () => {
    expect(setting(fromConfig({}), 'workers')).toBe(16);
    const program = buildProgram(() => {});
    const cmd = program.commands.find((c) => c.name() === 'push')!;
    cmd.action(() => {});
    program.parse(['node', 's3sync', 'push', './src', 's3://b/p', '--workers', '3']);
    const defaults = fromConfig({ workers: 7, partSize: '32MiB' });
    const merged = splitOptions('push', [defaults, program.opts(), cmd.opts()]).options;
    expect(setting(merged, 'workers')).toBe(3);
    expect(setting(merged, 'partSize')).toBe(32 * MiB);
  });

  it('a default that needs another option is left out of a run without it, and kept with it', () => {
    const defaults = { maxDelete: 3, force: true, deleteExcluded: true };
    expect(fromConfig(defaults)).toEqual({});
    // What needs a value no layer gives (a backup folder, a rate) is a mistake in the file: kept, refused.
    expect(fromConfig({ suffix: '.bak', tpslimitBurst: 3 })).toEqual({ suffix: '.bak', tpslimitBurst: 3 });
    expect(fromConfig({ ...defaults, delete: true })).toEqual({
      delete: true,
      maxDelete: 3,
      force: true,
      deleteExcluded: true,
    });
    // Given by the run itself (a job's value, a flag), it is not left out: the library refuses it.
    const read = loadConfig({ S3SYNC_CONFIG: configFile({ defaults }) }).defaults;
    expect(splitOptions('push', [read, { maxDelete: 5 }]).options).toEqual({ maxDelete: 5 });
    expect(splitOptions('pull', [read, {}, { delete: true }]).options).toMatchObject({ maxDelete: 3 });
    expect(splitOptions('push', [read, { delete: false }]).options).toEqual({ delete: false });
  });

  it('--json and --quiet: refused together, a later layer replaces the config default of the other', () => {
    expect(() => splitOptions('push', [{}, {}, { json: true, quiet: true }])).toThrow(
      /^give --json or --quiet, not both: --json prints every event, --quiet only errors$/,
    );
    expect(() => splitOptions('check', [{ json: true, quiet: true }])).toThrow(/not both/);
    expect(splitOptions('push', [{ quiet: true }, {}, { json: true }]).mode).toBe('json');
    expect(splitOptions('pull', [{ json: true }, { quiet: true }]).mode).toBe('quiet');
    // One turned off leaves the other alone.
    expect(splitOptions('push', [{}, { json: true, quiet: false }]).mode).toBe('json');
    expect(splitOptions('push', [{ quiet: true }, {}, {}]).mode).toBe('quiet');
  });

  it("config defaults for other commands are left out of a command's options", () => {
    const opts = fromConfig({ verifyInterval: '1h', full: true, olderThan: '2d', workers: 2 }, 'pull');
    expect(opts).toEqual({ workers: 2 });
  });
});

describe("a config file's paths are its folder's", () => {
  // Every option whose flag takes a path: a new row with one must be resolved the same way.
  const pathRows = (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).filter(
    ([, spec]) => 'arg' in spec && ['<path>', '<file>', '<dir>'].includes(spec.arg as string),
  );

  it('the options that take a path are these', () => {
    expect(pathRows.map(([name]) => name).sort()).toEqual(
      ['backupDir', 'caBundle', 'excludeFrom', 'filesFrom', 'filesFrom0', 'manifest', 'out'].sort(),
    );
  });

  it.each(pathRows.map(([name, spec]) => [name, spec.kind]))(
    "%s: a relative value is taken from the file's folder, an absolute one, an S3 URL and - as written",
    (name, kind) => {
      const file = configFile({});
      const base = path.dirname(file);
      const as = (v: string) => (kind === 'list' ? [v] : v);
      for (const [given, read] of [
        ['sub/x', path.join(base, 'sub/x')],
        ['../x', path.resolve(base, '../x')],
        ['/abs/x', '/abs/x'],
        ['s3://b/kept', 's3://b/kept'],
        ['-', '-'],
      ]) {
        writeFileSync(file, JSON.stringify({ defaults: { [name]: as(given!) } }));
        expect(loadConfig({ S3SYNC_CONFIG: file }).defaults[name], given).toEqual(as(read!));
      }
    },
  );
});

/** The files of the options table: the table, its rows by area, and the units they are written in. */
const isTable = (rel: string) => /^src\/options\/(table|spec|rows-[a-z]+)\.ts$/.test(rel);

/** src/**.ts but the table, comments stripped: code only. */
function sourcesButTable(): { file: string; code: string }[] {
  const root = path.join(repoRoot, 'src');
  const out: { file: string; code: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !isTable(path.relative(repoRoot, p).split(path.sep).join('/'))) {
        const code = readFileSync(p, 'utf8')
          .replace(/\/\*[\s\S]*?\*\//g, '')
          .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
        out.push({ file: path.relative(repoRoot, p), code });
      }
    }
  };
  walk(root);
  return out;
}

describe('each default is written in the options table, and nowhere else', () => {
  const sources = sourcesButTable();
  const grep = (re: RegExp) => sources.filter((s) => re.test(s.code)).map((s) => s.file);

  it('no DEFAULT_* constant outside the table', () => {
    expect(grep(/\bDEFAULT_[A-Z_]+\s*=/)).toEqual([]);
  });

  it.each(
    Object.entries(OPTION_SPECS).filter(
      ([, s]) => 'default' in s && s.default !== undefined && s.default !== true,
    ),
  )('%s: its default is not spelled out in src/ outside the table', (_name, spec) => {
    const d = (spec as { default: number | string }).default;
    const spellings: RegExp[] = [];
    if (typeof d === 'string') spellings.push(new RegExp(`['"\`]${d}['"\`]`));
    else {
      // As a fallback (`?? 16`, `?? 60_000`), in units (`16 * MiB`, `24 * HOUR`), or as its text ('24h').
      const digits = String(d).replace(/\B(?=(\d{3})+(?!\d))/g, '_?');
      spellings.push(new RegExp(`\\?\\?\\s*${digits}\\b`));
      if (spec.kind === 'size') spellings.push(new RegExp(`\\b${d / MiB}\\s*\\*\\s*MiB\\b`));
      if (spec.kind === 'duration') {
        spellings.push(new RegExp(`['"\`]${fmtDuration(d)}['"\`]`));
        for (const [unit, ms] of [
          ['SECOND', 1000],
          ['MINUTE', 60_000],
          ['HOUR', 3_600_000],
        ] as const)
          if (d % ms === 0) spellings.push(new RegExp(`\\b${d / ms}\\s*\\*\\s*${unit}\\b`));
      }
    }
    for (const re of spellings) expect(grep(re), String(re)).toEqual([]);
  });

  it('the grep would find one: these spellings are in the table itself', () => {
    const dir = path.join(repoRoot, 'src/options');
    const files = readdirSync(dir).filter((f) => isTable(`src/options/${f}`));
    expect(files).toContain('table.ts');
    const table = files.map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');
    for (const s of [
      'default: 16,',
      'default: 128 * MiB',
      'default: 16 * MiB',
      "default: '50%'",
      'default: 24 * HOUR',
    ])
      expect(table).toContain(s);
  });
});
