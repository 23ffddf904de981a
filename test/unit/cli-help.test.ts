import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { repoRoot } from '../helpers.js';

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

/** Flags in the tables of a README section (`### name` up to the next heading of level 2 or 3). */
function documented(section: string): Set<string> {
  const start = readme.indexOf(`\n### ${section}\n`);
  expect(start, `README has a '### ${section}' section`).toBeGreaterThan(-1);
  const rest = readme.slice(start + section.length + 6);
  const end = rest.search(/\n##+ /);
  const body = end < 0 ? rest : rest.slice(0, end);
  const flags = new Set<string>();
  for (const line of body.split('\n')) {
    const m = /^\| `([^`]+)`/.exec(line);
    // A `|` in a table cell is written `\|` (else it ends the cell), as in `--max-delete <n\|p%>`.
    if (m) flags.add(m[1]!.replace(/\\\|/g, '|'));
  }
  return flags;
}

const program = buildProgram(() => {});
const parserFlags = (name: string) =>
  new Set(
    program.commands
      .find((c) => c.name() === name)!
      .options.map((o) => o.flags)
      .filter((f) => !/--help|--version/.test(f)),
  );

const union = (...sets: Set<string>[]) => new Set(sets.flatMap((s) => [...s]));
const without = (set: Set<string>, flag: string) => new Set([...set].filter((f) => f !== flag));
const onlyOut = (set: Set<string>) => new Set([...set].filter((f) => f.startsWith('--out')));

describe('README documents exactly the flags the parser accepts', () => {
  const common = documented('Common flags');
  const expected: Record<string, Set<string>> = {
    push: union(common, documented('push')),
    pull: union(common, documented('pull')),
    check: union(common, documented('check')),
    // plan takes push's flags (it plans pushes and pulls), without --dry-run, plus its own --out.
    plan: union(common, without(documented('push'), '-n, --dry-run'), onlyOut(documented('plan and apply'))),
    cleanup: union(common, documented('cleanup')),
    demo: documented('demo'),
  };

  it.each(Object.keys(expected))('%s', (name) => {
    const docs = [...expected[name]!].sort();
    const actual = [...parserFlags(name)].sort();
    expect(actual).toEqual(docs);
  });

  it('apply', () => {
    const docs = documented('plan and apply');
    const actual = parserFlags('apply');
    for (const f of actual) expect(common.has(f) || docs.has(f), `${f} documented`).toBe(true);
  });

  it('every command has a --help with an example', () => {
    for (const c of program.commands) {
      let help = '';
      c.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
      c.outputHelp();
      expect(help, c.name()).toMatch(/Example:\n {2}(s3sync|npx s3sync) /);
    }
  });
});
