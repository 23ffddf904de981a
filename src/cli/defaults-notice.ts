import { fmtDuration, fmtSize, redacted, shown } from '../options/parse.js';
import { OPTION_SPECS, type OptionName } from '../options/table.js';

/**
 * A setting whose value may be a secret, or name one (a KMS key id): its flag is named, its value
 * never shown.
 */
const SECRET_LIKE = /secret|password|passwd|token|credential|key/i;

const LIST_SHOWN = 3;

/** One setting as its flag would give it: `--workers 8`, `--delete`, `--no-verify`, `--part-size 16MiB`. */
export function asFlag(key: string, v: unknown): string {
  const spec = OPTION_SPECS[key as OptionName];
  if (spec.kind === 'boolean') return v === false ? `--no-${spec.flag.slice(2)}` : spec.flag;
  if (SECRET_LIKE.test(key)) return `${spec.flag} ***`;
  let text: string;
  if (spec.kind === 'duration' && typeof v === 'number') text = fmtDuration(v);
  else if (spec.kind === 'size' && typeof v === 'number') {
    const size = fmtSize(v);
    // A plain number is bytes to the flag: "100 bytes" would read as two values.
    text = size.endsWith(' bytes') ? String(v) : size;
  } else if (typeof v === 'string' || typeof v === 'number') text = redacted(String(v));
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    // As the flag is given, once per value; a long list cut short, as the line stays one.
    const each = v.slice(0, LIST_SHOWN).map((x) => `${spec.flag} ${redacted(x)}`);
    return `${each.join(' ')}${v.length > LIST_SHOWN ? ` (+${v.length - LIST_SHOWN} more)` : ''}`;
  } else text = shown(v);
  return `${spec.flag} ${text}`;
}

/**
 * The one line a hand-typed command says when it takes settings from the config file's defaults
 * (`keys`, in the order the file gives them), or undefined when it takes none: else a default (a
 * `delete`, a `dryRun`) would shape the run with no word said.
 */
export function defaultsNotice(
  file: string | undefined,
  defaults: Record<string, unknown>,
  keys: readonly string[],
): string | undefined {
  if (keys.length === 0) return undefined;
  const flags = keys.map((k) => asFlag(k, defaults[k]));
  return `using defaults from ${file ?? 'the config file'}: ${flags.join(', ')}`;
}
