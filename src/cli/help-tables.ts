import type { Command } from 'commander';

/** The S3 commands whose shared flags the README lists once, as its "Common flags". */
const COMMON = ['push', 'pull', 'check', 'apply', 'cleanup'];

/** A README table row for a flag: a `|` in a cell is written `\|` (else it ends the cell). */
const row = (flags: string, help: string) => `| \`${flags.replace(/\|/g, '\\|')}\` | ${help} |`;

const rowsOf = (cmd: Command, skip: Set<string>) =>
  cmd.options.filter((o) => !skip.has(o.flags)).map((o) => row(o.flags, o.description));

/**
 * The README's flag tables, by section heading, each section's tables in order, as the parser (built
 * from the options table) has them: a command's section lists its flags but the common ones, `plan and
 * apply` the flags plan adds to push's and then apply's, `Config file` those of a bare s3sync.
 */
export function readmeFlagTables(program: Command): Record<string, string[][]> {
  const command = (name: string) => program.commands.find((c) => c.name() === name)!;
  const flagsOf = (cmd: Command) => new Set(cmd.options.map((o) => o.flags));
  const [first, ...rest] = COMMON.map((name) => flagsOf(command(name)));
  const common = new Set([...first!].filter((f) => rest.every((s) => s.has(f))));
  const own = (name: string) => [rowsOf(command(name), common)];
  const standard = new Set(['-V, --version', '-h, --help']);
  return {
    'Common flags': [
      rowsOf(command('push'), new Set([...flagsOf(command('push'))].filter((f) => !common.has(f)))),
    ],
    push: own('push'),
    pull: own('pull'),
    check: own('check'),
    'plan and apply': [
      rowsOf(command('plan'), new Set([...common, ...flagsOf(command('push'))])),
      rowsOf(command('apply'), common),
    ],
    cleanup: own('cleanup'),
    demo: own('demo'),
    'Config file': [rowsOf(program, new Set([...common, ...standard]))],
  };
}

/** The flag tables of a README section (from its `##` or `###` heading to the next): their row lines. */
export function sectionTables(
  readme: string,
  section: string,
): { from: number; to: number; rows: string[] }[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l === `## ${section}` || l === `### ${section}`);
  if (start < 0) throw new Error(`README.md has no section '${section}'`);
  const tables: { from: number; to: number; rows: string[] }[] = [];
  for (let i = start + 1; i < lines.length && !/^#{2,3} /.test(lines[i]!); i++) {
    if (lines[i] !== '| flag | meaning |' || lines[i + 1] !== '| --- | --- |') continue;
    let to = i + 2;
    while (lines[to]?.startsWith('| ')) to++;
    tables.push({ from: i + 2, to, rows: lines.slice(i + 2, to) });
    i = to;
  }
  return tables;
}

/** The README with its flag tables replaced by these (each section must have as many tables). */
export function withFlagTables(readme: string, tables: Record<string, string[][]>): string {
  let text = readme;
  for (const [section, wanted] of Object.entries(tables)) {
    const found = sectionTables(text, section);
    if (found.length !== wanted.length)
      throw new Error(
        `README.md section '${section}' has ${found.length} flag table(s), not ${wanted.length}`,
      );
    const lines = text.split('\n');
    // From the last table up, so the line numbers of the earlier ones still hold.
    for (let t = found.length - 1; t >= 0; t--)
      lines.splice(found[t]!.from, found[t]!.to - found[t]!.from, ...wanted[t]!);
    text = lines.join('\n');
  }
  return text;
}
