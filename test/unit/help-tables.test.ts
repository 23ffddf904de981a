import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type FlagDoc,
  flagDocsOf,
  flagKey,
  parseRow,
  readmeFlagTables,
  SYNC_ALSO,
  sectionTables,
} from '../../src/cli/help-tables.js';
import { buildProgram } from '../../src/cli/program.js';
import { WATCH_OPTIONS } from '../../src/options/rows-watch.js';
import { appliesTo, OPTION_SPECS, type OptionName } from '../../src/options/table.js';
import { repoRoot } from '../helpers.js';

const readme = readFileSync(path.join(repoRoot, 'docs/flags.md'), 'utf8');
const program = buildProgram(() => {});
const command = (name: string) => program.commands.find((c) => c.name() === name)!;
const flagsOf = (name: string) => command(name).options.map((o) => o.flags);

describe('docs/flags.md documents exactly the flags the parser accepts, with their help', () => {
  // `npm run flags:docs` rewrites the tables when this fails.
  it.each(Object.entries(readmeFlagTables(program)))('%s', (section, tables) => {
    expect(sectionTables(readme, section).map((t) => t.rows)).toEqual(tables);
  });

  // Read back from docs/flags.md alone: a command's own table, the common flags (all but demo), and the
  // sync flags (all of them for push and pull, else those whose last column names it).
  const rowsIn = (section: string, table?: number) =>
    sectionTables(readme, section)
      .filter((_, i) => table === undefined || i === table)
      .flatMap((t) => t.rows.map(parseRow));
  const documented = (name: string): FlagDoc[] => {
    const own =
      name === 'bare s3sync'
        ? rowsIn('bare s3sync')
        : name === 'apply'
          ? rowsIn('plan and apply', 1)
          : rowsIn(name);
    const common = name === 'demo' ? [] : rowsIn('Common flags');
    const sync = rowsIn('Sync flags').filter(
      (r) => name === 'push' || name === 'pull' || r.also!.includes(name),
    );
    return [...common, ...sync, ...own].map(({ flags, help }) => ({ flags, help }));
  };
  const sorted = (docs: FlagDoc[]) => docs.map(flagKey).sort();

  it.each(['bare s3sync', 'push', 'pull', 'check', 'apply', 'cleanup', 'demo'])(
    'the tables for %s are exactly its flags, with their help',
    (name) => {
      const cmd = name === 'bare s3sync' ? program : command(name);
      expect(sorted(documented(name))).toEqual(sorted(flagDocsOf(cmd)));
    },
  );

  it('plan takes the sync flags but --bwlimit, --dry-run and --no-dry-run, as their intro says', () => {
    const plan = new Set(flagsOf('plan'));
    const left = rowsIn('Sync flags')
      .map((r) => r.flags)
      .filter((f) => !plan.has(f));
    expect(left).toEqual(['--bwlimit <rate>', '-n, --dry-run', '--no-dry-run']);
    expect(readme).toContain('plan all but `--bwlimit`, `--dry-run` and `--no-dry-run`');
  });

  it('versions takes exactly the common flags, as its section says', () => {
    expect(flagsOf('versions').sort()).toEqual(
      rowsIn('Common flags')
        .map((r) => r.flags)
        .sort(),
    );
  });

  it('the flags docs/flags.md gives an S3 → S3 sync are exactly those it takes', () => {
    // The common flags but --list-ranges (as its section says), and the sync section's two tables.
    const documented = [
      ...rowsIn('Common flags').filter((r) => r.flags !== '--list-ranges <n>'),
      ...rowsIn('sync'),
    ].map((r) => r.flags);
    const takes = command('sync')
      .options.filter(
        (o) => o.long !== '--help' && appliesTo(OPTION_SPECS[o.attributeName() as OptionName], 'sync s3'),
      )
      .map((o) => o.flags);
    expect(documented.sort()).toEqual(takes.sort());
    expect(rowsIn('Common flags').map((r) => r.flags)).toContain('--list-ranges <n>');
    expect(takes).not.toContain('--list-ranges <n>');
  });

  it('plan takes the common flags, and its --out is in its table', () => {
    const plan = new Set(flagDocsOf(command('plan')).map(flagKey));
    for (const f of [...rowsIn('Common flags'), ...rowsIn('plan and apply', 0)])
      expect(plan.has(flagKey(f)), f.flags).toBe(true);
  });

  it('each flag is documented once; the sync flags name only commands that exist', () => {
    const all = Object.keys(readmeFlagTables(program))
      .flatMap((s) => rowsIn(s))
      .map(flagKey);
    expect(all.length).toBe(new Set(all).size);
    for (const r of rowsIn('Sync flags'))
      for (const a of r.also!) expect(SYNC_ALSO as readonly string[], r.flags).toContain(a);
  });

  it('plan takes the flags of push and of an S3 → S3 sync but --dry-run and those a plan cannot carry, and its own --out', () => {
    // How objects are stored (apply uploads with the run's defaults): refused by plan, never dropped.
    // And --bwlimit: a plan moves no object body (apply takes it).
    const unplanned =
      /^(--header-for|--compress|--storage-class|--sse|--sse-kms-key-id|--cache-control|--acl|--bwlimit) /;
    // And the watch's: a plan is made once.
    const watch = /^--(watch|settle|settle-max|reconcile-every)\b/;
    const push = flagsOf('push').filter(
      (f) => f !== '-n, --dry-run' && f !== '--no-dry-run' && !unplanned.test(f) && !watch.test(f),
    );
    expect(flagsOf('push').filter((f) => watch.test(f))).toHaveLength(4);
    expect(flagsOf('push').filter((f) => unplanned.test(f))).toHaveLength(8);
    // The source's connection and --at, which a bucket-to-bucket plan takes and push does not.
    const s3ToS3 = flagsOf('sync').filter((f) => /--source-|--at /.test(f) && !push.includes(f));
    expect(s3ToS3.length).toBeGreaterThanOrEqual(5);
    expect(flagsOf('plan').sort()).toEqual([...push, ...s3ToS3, '--out <file>'].sort());
  });

  it('every command has a --help with an example, and so has a bare s3sync', () => {
    for (const c of [program, ...program.commands.filter((c) => c.name() !== 'help')]) {
      let help = '';
      c.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
      c.outputHelp();
      expect(help, c.name()).toMatch(/Example:\n {2}(s3sync|npx s3sync)( |$)/m);
    }
  });
});

describe('the flags come from the options table', () => {
  it("each flag's value lands under the option's library name", () => {
    for (const c of [program, ...program.commands]) {
      for (const o of c.options) {
        if (o.long === '--help' || o.long === '--version') continue;
        const name = o.attributeName() as OptionName;
        expect(Object.hasOwn(OPTION_SPECS, name), `${c.name()} ${o.flags}`).toBe(true);
        expect(o.long, name).toBe(
          o.negate ? `--no-${OPTION_SPECS[name].flag.slice(2)}` : OPTION_SPECS[name].flag,
        );
      }
    }
  });

  it('each option with a value has one example of its flag in its help', () => {
    for (const [name, spec] of Object.entries(OPTION_SPECS)) {
      if (spec.kind === 'boolean') continue;
      expect(spec.example, name).toMatch(new RegExp(`^${spec.flag} \\S`));
      const helps = program.commands.flatMap((c) => c.options.filter((o) => o.long === spec.flag));
      expect(helps.length, name).toBeGreaterThan(0);
      for (const o of helps)
        expect(o.description.match(/e\.g\. /g), `${name}: ${o.description}`).toHaveLength(1);
    }
  });

  it('each option applies to a command that has its flag, and to no other', () => {
    for (const c of program.commands.filter((c) => c.name() !== 'help')) {
      const longs = new Set(c.options.map((o) => o.long));
      for (const [name, spec] of Object.entries(OPTION_SPECS)) {
        const applies =
          spec.commands.includes(c.name() as never) ||
          (c.name() === 'plan' &&
            spec.flag !== '--dry-run' &&
            !spec.bodiesOnly &&
            !Object.hasOwn(WATCH_OPTIONS, name) &&
            ((!spec.unplanned && (spec.commands.includes('push') || spec.commands.includes('pull'))) ||
              spec.commands.includes('sync'))) ||
          // sync is push, pull or S3 → S3 by its arguments: it takes the options of all three.
          (c.name() === 'sync' && (spec.commands.includes('push') || spec.commands.includes('pull')));
        expect(longs.has(spec.flag), `${c.name()} ${name}`).toBe(applies);
      }
    }
  });
});
