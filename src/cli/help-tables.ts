import type { Command } from 'commander';
import { appliesTo, OPTION_SPECS, type OptionName } from '../options/table.js';

/**
 * docs/flags.md documents each flag once. "Common flags": those every S3 command and a bare s3sync take
 * (all but demo). "Sync flags": the other flags push and pull share, with the same help; their last
 * column names the other commands that take them. A command's own table: the rest of its flags.
 */
const S3_COMMANDS = ['push', 'pull', 'check', 'plan', 'apply', 'cleanup'] as const;

/** The commands the Sync flags table's last column may name, and how it names a bare s3sync. */
export const SYNC_ALSO = ['check', 'apply', 'bare s3sync'] as const;

/** The flag Commander adds to every command and documents itself (a bare s3sync's -V is in its table). */
const STANDARD = new Set(['-h, --help']);

/** A flag as docs/flags.md documents it: its flags and its help. */
export interface FlagDoc {
  flags: string;
  help: string;
}

/** A flag's identity in docs/flags.md: the same flags with the same help are one row. */
export const flagKey = (f: FlagDoc) => `${f.flags}\t${f.help}`;

/** The flags of a command (of a bare s3sync for the program), as its --help shows them. */
export const flagDocsOf = (cmd: Command): FlagDoc[] =>
  cmd.options.filter((o) => !STANDARD.has(o.flags)).map((o) => ({ flags: o.flags, help: o.description }));

/** A `|` in a cell is written `\|` (else it ends the cell). */
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** A table row of docs/flags.md: flag, help, and for the Sync flags the other commands that take it. */
const row = (f: FlagDoc, also?: string) =>
  `| \`${cell(f.flags)}\` | ${cell(f.help)} |${also === undefined ? '' : ` ${also} |`}`;

/** A table row read back (the inverse of `row`), with the names of its third cell if any. */
export function parseRow(line: string): FlagDoc & { also?: string[] } {
  // An escaped `|` follows a backslash, never a space: only ` | ` separates cells.
  const cells = line
    .slice(2, -2)
    .split(' | ')
    .map((c) => c.replace(/\\\|/g, '|'));
  const m = /^`(.+)`$/.exec(cells[0] ?? '');
  if (!m || cells.length < 2 || cells.length > 3) throw new Error(`not a flag table row: ${line}`);
  const doc = { flags: m[1]!, help: cells[1]! };
  return cells.length === 3 ? { ...doc, also: cells[2]!.split(', ').filter((c) => c !== '') } : doc;
}

/**
 * The flag tables of docs/flags.md, by section heading, each section's tables in order, as the parser
 * (built from the options table) has them. `plan and apply` holds the flag plan adds to push's and then
 * apply's own flags.
 */
export function readmeFlagTables(program: Command): Record<string, string[][]> {
  const command = (name: string) => program.commands.find((c) => c.name() === name)!;
  const keysOf = (cmd: Command) => new Set(flagDocsOf(cmd).map(flagKey));
  const [first, ...rest] = [...S3_COMMANDS.map(command), program].map(keysOf);
  const common = new Set([...first!].filter((k) => rest.every((s) => s.has(k))));
  const pull = keysOf(command('pull'));
  const sync = flagDocsOf(command('push')).filter((f) => pull.has(flagKey(f)) && !common.has(flagKey(f)));
  const shared = new Set([...common, ...sync.map(flagKey)]);
  const also = SYNC_ALSO.map((label) => ({
    label,
    keys: keysOf(label === 'bare s3sync' ? program : command(label)),
  }));
  const own = (cmd: Command) =>
    flagDocsOf(cmd)
      .filter((f) => !shared.has(flagKey(f)))
      .map((f) => row(f));
  const pushFlags = new Set(command('push').options.map((o) => o.flags));
  const takenS3ToS3 = (name: string) =>
    Object.hasOwn(OPTION_SPECS, name) && appliesTo(OPTION_SPECS[name as OptionName], 'sync s3');
  // Where a flag with this help is documented, by the section's heading; undefined: nowhere else.
  const sections: [string, Set<string>][] = [
    ['Sync flags', shared],
    ['push', keysOf(command('push'))],
    ['pull', keysOf(command('pull'))],
    ['plan and apply', keysOf(command('apply'))],
  ];
  const documentedIn = (f: FlagDoc) => sections.find(([, keys]) => keys.has(flagKey(f)))?.[0];
  const transferFlags = new Set([...pushFlags, ...command('pull').options.map((o) => o.flags)]);
  const syncFlags = new Set(command('sync').options.map((o) => o.flags));
  return {
    'Common flags': [
      flagDocsOf(program)
        .filter((f) => common.has(flagKey(f)))
        .map((f) => row(f)),
    ],
    'Sync flags': [
      sync.map((f) =>
        row(
          f,
          also
            .filter((a) => a.keys.has(flagKey(f)))
            .map((a) => a.label)
            .join(', '),
        ),
      ),
    ],
    push: [own(command('push'))],
    pull: [own(command('pull'))],
    check: [own(command('check'))],
    // plan takes push's flags but --dry-run and sync's S3 → S3 flags (the test checks), and adds its own.
    'plan and apply': [
      flagDocsOf(command('plan'))
        .filter((f) => !pushFlags.has(f.flags) && !syncFlags.has(f.flags))
        .map((f) => row(f)),
      own(command('apply')),
    ],
    cleanup: [own(command('cleanup'))],
    demo: [own(command('demo'))],
    // sync is push, pull or S3 → S3 by its arguments: its first table holds the flags only S3 → S3
    // takes; the second, the other flags it takes from S3 to S3 (beyond the common ones), each said
    // once, where it is documented.
    sync: [
      flagDocsOf(command('sync'))
        .filter((f) => !transferFlags.has(f.flags))
        .map((f) => row(f)),
      command('sync')
        .options.filter((o) => transferFlags.has(o.flags) && takenS3ToS3(o.attributeName()))
        .map((o) => ({ flags: o.flags, help: o.description }))
        .filter((f) => !common.has(flagKey(f)))
        .map((f) => {
          const at = documentedIn(f);
          return row(at === undefined ? f : { flags: f.flags, help: `as in ${at}` });
        }),
    ],
    'bare s3sync': [own(program)],
  };
}

/** The flag tables of a section of docs/flags.md (from its `##` or `###` heading to the next): their rows. */
export function sectionTables(
  readme: string,
  section: string,
): { from: number; to: number; rows: string[] }[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => l === `## ${section}` || l === `### ${section}`);
  if (start < 0) throw new Error(`docs/flags.md has no section '${section}'`);
  const tables: { from: number; to: number; rows: string[] }[] = [];
  for (let i = start + 1; i < lines.length && !/^#{2,3} /.test(lines[i]!); i++) {
    if (!lines[i]!.startsWith('| flag | meaning |') || !/^\| --- \|( --- \|)+$/.test(lines[i + 1] ?? ''))
      continue;
    let to = i + 2;
    while (lines[to]?.startsWith('| ')) to++;
    tables.push({ from: i + 2, to, rows: lines.slice(i + 2, to) });
    i = to;
  }
  return tables;
}

/** docs/flags.md with its flag tables replaced by these (each section must have as many tables). */
export function withFlagTables(readme: string, tables: Record<string, string[][]>): string {
  let text = readme;
  for (const [section, wanted] of Object.entries(tables)) {
    const found = sectionTables(text, section);
    if (found.length !== wanted.length)
      throw new Error(
        `docs/flags.md section '${section}' has ${found.length} flag table(s), not ${wanted.length}`,
      );
    const lines = text.split('\n');
    // From the last table up, so the line numbers of the earlier ones still hold.
    for (let t = found.length - 1; t >= 0; t--)
      lines.splice(found[t]!.from, found[t]!.to - found[t]!.from, ...wanted[t]!);
    text = lines.join('\n');
  }
  return text;
}
