// Rewrites the flag tables of docs/flags.md from the CLI's parser, which src/options/table.ts builds;
// run by `npm run flags:docs` (after a build). test/unit/help-tables.test.ts fails while they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { readmeFlagTables, withFlagTables } from '../dist/cli/help-tables.js';
import { buildProgram } from '../dist/cli/program.js';

const file = new URL('../docs/flags.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withFlagTables(before, readmeFlagTables(buildProgram(() => {})));
if (after !== before) writeFileSync(file, after);
process.stdout.write(
  after === before ? 'docs/flags.md already up to date\n' : 'docs/flags.md flag tables rewritten\n',
);
