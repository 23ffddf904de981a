import { usageError } from '../errors.js';
import { PAIR_SEPARATOR } from '../options/header-rules.js';

/**
 * `--header-for GLOB 'Header: value'` takes two arguments, which Commander's options cannot: the two
 * are joined into the one argument the options table parses (src/options/header-rules.ts) before
 * Commander sees them. Stops at `--`, after which everything is a positional argument.
 */
export function pairHeaderFlags(argv: readonly string[], flag = '--header-for'): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return out.concat(argv.slice(i));
    const inline = a.startsWith(`${flag}=`);
    if (a !== flag && !inline) {
      out.push(a);
      continue;
    }
    const glob = inline ? a.slice(flag.length + 1) : argv[++i];
    const header = argv[++i];
    if (glob === undefined || header === undefined || glob.startsWith('--') || header.startsWith('--'))
      throw usageError(`${flag} takes a glob and a header, e.g. ${flag} '*.html' 'Cache-Control: no-cache'`);
    out.push(flag, `${glob}${PAIR_SEPARATOR}${header}`);
  }
  return out;
}
