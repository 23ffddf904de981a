/**
 * The options table (./table.ts) put to work: the one place values are checked (each parsed by its
 * kind's parser, ./parse.ts), whether they come from a flag (through commander's argument parsers), the
 * config file or a library call. A bad value is a usage error (exit 2) in one line naming the option, raised before
 * anything is transferred: a run that would silently do nothing (`workers: 0`), or something else than
 * asked (`"delete": "false"`, `"dryrun": true`), never starts.
 */
import { usageError } from '../errors.js';
import { sizeAgeFilter } from '../local/size-age.js';
import { checkGivenCredentials } from '../s3/credential-check.js';
import { isS3Url, parseS3Url, writableS3Url } from '../s3/url.js';
import { resolveShard } from '../shard.js';
import { addFlagRules, type HeaderRule, PAIR_SEPARATOR } from './header-rules.js';
import { bad, expected, fmtDuration, fmtSize, parseValue, type Source, shown } from './parse.js';
import {
  appliesTo,
  type CommandName,
  ENTRY_ARGUMENTS,
  type EntryPoint,
  entryWords,
  LIBRARY_ONLY,
  OPTION_SPECS,
  type OPTIONS,
  type OptionName,
  type OptionSpec,
} from './table.js';

// Callers have always imported these from here.
export { fmtDuration, parseMaxDelete } from './parse.js';

type KindValue<S> = S extends { kind: 'int' | 'size' | 'duration' }
  ? number
  : S extends { kind: 'boolean' }
    ? boolean
    : S extends { kind: 'list' }
      ? string[]
      : S extends { kind: 'rules' }
        ? HeaderRule[]
        : S extends { kind: 'max-delete' | 'rate' | 'age' }
          ? number | string
          : S extends { kind: 'enum'; values: readonly (infer V)[] }
            ? V
            : string;

/** An option's value in the library's type: bytes, milliseconds, a list of strings... */
export type OptionValue<N extends OptionName> = KindValue<(typeof OPTIONS)[N]>;
/** What `setting` returns: the value given, else the default, else undefined. */
export type Setting<N extends OptionName> = (typeof OPTIONS)[N] extends { default: unknown }
  ? OptionValue<N>
  : OptionValue<N> | undefined;

/** A usage error naming the option as its source spells it. */
const invalid = (
  who: string,
  spec: OptionSpec,
  v: unknown,
  r: { hint?: string; whole?: true },
  source?: Source,
) =>
  r.whole && r.hint
    ? usageError(`${who} ${r.hint}`)
    : usageError(`${who} must be ${expected(spec, source)}, got ${shown(v)}${r.hint ? `: ${r.hint}` : ''}`);

/** A library call given no options object (none, null, a string): one line, not a TypeError. */
export function requireOptionsObject(opts: unknown, call: string): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts))
    throw usageError(`${call}() takes an options object, got ${shown(opts) ?? String(opts)}`);
}

/**
 * Commander argument parser for a flag: `--workers 0` fails here, before the command runs. A list flag
 * collects its repeats.
 */
export function flagParser(name: OptionName): (text: string, previous?: unknown) => unknown {
  const spec = OPTION_SPECS[name];
  return (text: string, previous?: unknown) => {
    const r = parseValue(spec, text, 'flag');
    // A rule flag's two arguments, as given (see src/cli/pair-args.ts), and what is wrong with them.
    // Split at the first separator only: a line break in the header's value is the value's.
    const sep = text.indexOf(PAIR_SEPARATOR);
    const glob = sep < 0 ? text : text.slice(0, sep);
    const given = () => (sep < 0 ? [text] : [glob, text.slice(sep + 1)]).map(shown).join(' ');
    const badRule = (hint: string) =>
      usageError(`${spec.flag} must be a glob and a header, got ${given()}: ${hint}`);
    if (!r.ok && spec.kind === 'rules')
      throw r.whole && r.hint ? usageError(`${spec.flag} ${shown(glob)}: ${r.hint}`) : badRule(r.hint ?? '');
    if (!r.ok) throw invalid(spec.flag, spec, text, r);
    if (spec.kind === 'rules') {
      const rules = addFlagRules((previous as HeaderRule[] | undefined) ?? [], r.value as HeaderRule[]);
      if (typeof rules === 'string') throw badRule(rules);
      return rules;
    }
    return spec.kind === 'list'
      ? [...((previous as string[] | undefined) ?? []), ...(r.value as string[])]
      : r.value;
  };
}

/** A --suffix read back from a plan file, checked as the option is (a hand-edited one may lead out). */
/**
 * The keys of a CLI run's options that came from the config file's defaults alone (see splitOptions):
 * the defaults serve every run, so a run whose target turns out not to take one (apply of a push plan
 * with "sparse") leaves it out rather than refuse it, as it does one given for the run.
 */
export const FROM_DEFAULTS = Symbol('s3sync.fromDefaults');

export const suffixOk = (v: unknown): boolean =>
  v === undefined || parseValue(OPTION_SPECS.suffix, v, 'config').ok;

/** The option a former library name stands for (`stallTimeoutMs` → `stallTimeout`). */
const FORMER_NAMES: Readonly<Record<string, OptionName>> = Object.freeze(
  // No prototype: a key such as `constructor` or `toString` is not a former name.
  Object.assign(
    Object.create(null) as Record<string, OptionName>,
    Object.fromEntries(
      (Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][]).flatMap(([name, spec]) =>
        spec.formerly ? [[spec.formerly, name]] : [],
      ),
    ),
  ),
);

/**
 * The commands an option applies to, as messages list them: `sync` too when an S3 → S3 sync takes it,
 * as appliesTo says (a sync to or from a folder is a push or a pull, listed already).
 */
export function commandsOf(spec: OptionSpec): string {
  const named = spec.commands.filter((c) => c !== 'jobs');
  if (!named.includes('sync') && appliesTo(spec, 'sync s3')) named.push('sync');
  return named.join(', ') || 'no command but a bare s3sync';
}

const normal = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * The name a mistyped one most likely meant: the same but for case, dashes and underscores ("dryrun",
 * "dry-run", "--dry-run" → dryRun), else the nearest within a typo or two.
 */
export function didYouMean(key: string, names: readonly string[]): string | undefined {
  const k = normal(key);
  const same = names.find((n) => normal(n) === k);
  if (same !== undefined) return same;
  let best: string | undefined;
  let distance = k.length >= 6 ? 3 : 2;
  for (const n of names) {
    const d = editDistance(k, normal(n));
    if (d < distance) [best, distance] = [n, d];
  }
  return best;
}

const ALL_OPTIONS: readonly OptionName[] = Object.freeze(Object.keys(OPTION_SPECS) as OptionName[]);
const ALL_SPECS = Object.entries(OPTION_SPECS) as [OptionName, OptionSpec][];
/** Given, and not turned off (`false`, as `--no-delete` or a config's `"delete": false` gives it). */
const isOn = (v: unknown) => v !== undefined && v !== false;

const CHECK_ENDS: Readonly<Record<string, string>> = Object.freeze({
  source: 'local',
  destination: 'remote',
});

/**
 * objectParams, as far as it can be told before a file is uploaded: a function, and not an async one
 * (its fields would come after the request went). Checked here, so that a run with nothing to upload
 * refuses it too; a plain function returning a promise is known only at its first call (object-style.ts).
 */
function checkObjectParams(fn: unknown): void {
  if (typeof fn !== 'function')
    throw usageError(`option objectParams must be a function of the file, got ${shown(fn)}`);
  const kind = (fn as { constructor?: { name?: unknown } }).constructor?.name;
  if (kind === 'AsyncFunction')
    throw usageError(
      'option objectParams must return the fields, not a promise: make it a plain function, not an async one',
    );
  if (kind === 'AsyncGeneratorFunction' || kind === 'GeneratorFunction')
    throw usageError(
      `option objectParams must be a plain function of the file, not ${kind === 'GeneratorFunction' ? 'a generator' : 'an async generator'}`,
    );
}

/**
 * Checks a library call's options, all of them: an unknown name (a typo such as `dryrun`, which would
 * otherwise be ignored and the run be real) or an option of another command is an error too; undefined
 * means the default. Every entry point calls this first, so a bad value fails before any file is read
 * or request sent.
 */
export function validateOptions(opts: object, entry: EntryPoint): void {
  requireOptionsObject(opts, entry.startsWith('plan') ? 'plan' : entry === 'sync s3' ? 'syncBuckets' : entry);
  const args: readonly string[] = ENTRY_ARGUMENTS[entry.startsWith('plan') ? 'plan' : (entry as 'push')];
  const extra = new Set<string>([...args, ...LIBRARY_ONLY]);
  const given = opts as Record<string, unknown>;
  for (const [key, v] of Object.entries(given)) {
    // The upload pass-through (src/sync/object-style.ts) means nothing to a run that uploads nothing.
    if (key === 'objectParams' && v !== undefined && entry !== 'push' && entry !== 'plan push')
      throw usageError(`option objectParams does not apply to ${entryWords(entry)} (only to push)`);
    if (v === undefined || extra.has(key)) continue;
    const name = (Object.hasOwn(OPTION_SPECS, key) ? key : FORMER_NAMES[key]) as OptionName | undefined;
    if (name === undefined) {
      const names = [...ALL_OPTIONS.filter((n) => !OPTION_SPECS[n].cliOnly), ...extra];
      // check() names its ends local and remote, where a config file's check job says source, destination.
      const guess = (entry === 'check' && CHECK_ENDS[key]) || didYouMean(key, names);
      throw usageError(`unknown option ${shown(key)}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    const spec = OPTION_SPECS[name];
    if (spec.cliOnly) throw usageError(`option ${key} is a CLI flag (${spec.flag}), not a library option`);
    if (!appliesTo(spec, entry))
      throw usageError(`option ${key} does not apply to ${entryWords(entry)} (only to ${commandsOf(spec)})`);
    if (name !== key && given[name] !== undefined)
      throw usageError(`give option ${name} or its former name ${key}, not both`);
    // A former name took milliseconds, and only them.
    const r = name !== key && typeof v !== 'number' ? bad() : parseValue(spec, v, 'library');
    if (!r.ok) throw invalid(`option ${key}`, spec, v, r, 'library');
  }
  // The library's own values, checked before a lock is taken: a wrong one would throw mid-run.
  if (given.onEvent !== undefined && typeof given.onEvent !== 'function')
    throw usageError(`option onEvent must be a function of the event, got ${shown(given.onEvent)}`);
  if (given.objectParams !== undefined) checkObjectParams(given.objectParams);
  // An AbortSignal itself: the run uses more of it (throwIfAborted, reason, removeEventListener) than a
  // look-alike may have, and one missing would fail mid-run as a TypeError.
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal))
    throw usageError(`option signal must be an AbortSignal, got ${shown(given.signal)}`);
  for (const key of ['credentials', 'sourceCredentials']) {
    const c = given[key] as Record<string, unknown> | undefined;
    if (c === undefined) continue;
    const text = (v: unknown) => typeof v === 'string' && v !== '';
    if (typeof c !== 'object' || c === null || !text(c.accessKeyId) || !text(c.secretAccessKey))
      throw usageError(`option ${key} must hold accessKeyId and secretAccessKey (non-empty strings)`);
    checkGivenCredentials(key, c);
  }
  checkClient(given, entry);
  // Together, or with the index the environment gives: checked here too, before anything is written.
  resolveShard(given, process.env);
  // Here, not when the list is read: a config file's later job is refused before its first job runs.
  if (given.filesFrom !== undefined && given.filesFrom0 !== undefined)
    throw usageError('give --files-from or --files-from0, not both');
  // Standard input holds one list: a second reader would get none, and its paths would be left out.
  const lists = [given.filesFrom ?? given.filesFrom0 ?? []].flat();
  if (lists.filter((f) => f === '-').length > 1)
    throw usageError(
      `${given.filesFrom0 !== undefined ? '--files-from0' : '--files-from'} - is given twice: standard input holds one list`,
    );
  // Alone, each would be a silent no-op (a burst without a rate, --max-delete without --delete).
  for (const [name, spec] of ALL_SPECS)
    if (spec.needs !== undefined && isOn(given[name]) && !isOn(given[spec.needs]))
      throw usageError(
        `${name} (${spec.flag}) applies only with ${spec.needs} (${OPTION_SPECS[spec.needs as OptionName].flag})`,
      );
  // Limits that can select no file, refused before any run (a config file's later job too).
  sizeAgeFilter(
    {
      minSize: setting(given, 'minSize'),
      maxSize: setting(given, 'maxSize'),
      minAge: setting(given, 'minAge'),
      maxAge: setting(given, 'maxAge'),
    },
    Date.now(),
  );
  // Sent before it could settle, every changing file would be sent while written.
  const settleMax = setting(given, 'settleMax');
  if (settleMax !== undefined && settleMax < setting(given, 'settle'))
    throw usageError(
      `settleMax (--settle-max) ${fmtDuration(settleMax)} is shorter than settle (--settle) ${fmtDuration(setting(given, 'settle'))}: give it longer`,
    );
  // Nothing would be checked against the bundle: one of the two is a mistake.
  if (given.caBundle !== undefined && given.verifySsl === false)
    throw usageError('give caBundle (--ca-bundle) or verifySsl false (--no-verify-ssl), not both');
  // S3 refuses a KMS key without KMS encryption (every file would fail); other stores drop it unsaid.
  if (given.sseKmsKeyId !== undefined && !String(given.sse ?? '').startsWith('aws:kms'))
    throw usageError('sseKmsKeyId (--sse-kms-key-id) applies only with sse (--sse) aws:kms or aws:kms:dsse');
}

/**
 * Connection options that only build s3sync's own client (its signing, addressing, checksums and
 * sockets): with the caller's client they would be ignored. The endpoint, region, profile and provider
 * are not here: they still name the store in the manifest and the plan, and set its quirks.
 */
const CLIENT_FIXES = [
  'credentials',
  'pathStyle',
  'caBundle',
  'verifySsl',
  'checksums',
  'connectTimeout',
  'connectTimeoutMs',
  'firstByteTimeout',
  'stallTimeout',
  'stallTimeoutMs',
] as const;

/**
 * The caller's `client`: an S3Client, as s3sync sends through it and adds its steps to its middleware
 * stack; null is refused as for every other option.
 */
function checkClient(given: Record<string, unknown>, entry: EntryPoint): void {
  if (given.client === undefined) return;
  type Parts = Record<string, unknown> | null | undefined;
  const c = given.client as { send?: unknown; middlewareStack?: Parts; config?: Parts } | null;
  const stack = typeof c === 'object' && c !== null ? c.middlewareStack : undefined;
  const config = typeof c === 'object' && c !== null ? c.config : undefined;
  // What the run uses of it: send, the middleware stack, and its config's endpoint (none: AWS).
  if (
    typeof c?.send !== 'function' ||
    typeof stack !== 'object' ||
    stack === null ||
    typeof stack.add !== 'function' ||
    typeof stack.remove !== 'function' ||
    typeof config !== 'object' ||
    config === null ||
    (config.endpoint !== undefined && typeof config.endpoint !== 'function')
  )
    throw usageError(`option client must be an S3Client (@aws-sdk/client-s3), got ${shown(given.client)}`);
  // An S3 → S3 sync's source (a plan's too) inherits these when its store is another, reached by s3sync's client.
  if (entry === 'sync s3' || entry === 'plan sync' || entry === 'apply') return;
  for (const key of CLIENT_FIXES)
    if (given[key] !== undefined) throw usageError(`client fixes the connection: leave out ${key}`);
}

/**
 * An option's value for a run, in the library's type: the one given (by its name or its former one),
 * else the table's default. Entry points have validated it; this throws for a caller that skipped them.
 */
export function setting<N extends OptionName>(opts: object, name: N): Setting<N> {
  const spec: OptionSpec = OPTION_SPECS[name];
  const given = opts as Record<string, unknown>;
  const v = given[name] !== undefined || spec.formerly === undefined ? given[name] : given[spec.formerly];
  if (v === undefined) return ('default' in spec ? spec.default : undefined) as Setting<N>;
  const r = parseValue(spec, v, 'library');
  if (!r.ok) throw invalid(`option ${name}`, spec, v, r);
  return r.value as Setting<N>;
}

/** The keys of a config-file job besides its options. */
export const JOB_KEYS = ['command', 'source', 'destination'] as const;
/** `sync` is push, pull or S3 → S3 by its source and destination, as on the command line. */
export type JobCommand = 'push' | 'pull' | 'check' | 'sync';

/**
 * A config file section's values, in the library's types: options may be written as the flags take
 * them ("workers": "8", "multipartThreshold": "64MiB", "stallTimeout": "30s"), a list as one string.
 * Keys are the library's option names: an unknown one is an error with a suggestion, a former name
 * says what it became, and in a job an option of another command is an error. `where` names the file
 * and section; a job's command, source and destination are the caller's to check.
 */
export function configValues(
  values: Record<string, unknown>,
  where: string,
  section: 'defaults' | JobCommand | 'sync s3',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const jobKeys: readonly string[] = section === 'defaults' ? [] : JOB_KEYS;
  for (const [key, v] of Object.entries(values)) {
    if (jobKeys.includes(key)) {
      out[key] = v;
      continue;
    }
    const spec = Object.hasOwn(OPTION_SPECS, key) ? OPTION_SPECS[key as OptionName] : undefined;
    if (spec === undefined) throw usageError(`${where}: ${unknownKey(key, section)}`);
    if (section !== 'defaults' && !appliesTo(spec, section))
      throw usageError(
        `${where}: "${key}" does not apply to ${entryWords(section)} (only to ${commandsOf(spec)})`,
      );
    const r = parseValue(spec, v, 'config');
    if (!r.ok) throw invalid(`${where}: "${key}"`, spec, v, r);
    out[key] = r.value;
  }
  return out;
}

function unknownKey(key: string, section: 'defaults' | JobCommand | 'sync s3'): string {
  const former = FORMER_NAMES[key];
  if (former !== undefined)
    return `"${key}" is now "${former}", which takes a unit as the flag does (e.g. "${fmtDuration((OPTION_SPECS[former] as { default: number }).default)}")`;
  if ((LIBRARY_ONLY as readonly string[]).includes(key))
    return `"${key}" is for library calls only, not the config file`;
  if (section === 'defaults' && (JOB_KEYS as readonly string[]).includes(key))
    return `"${key}" belongs in a job, not in "defaults"`;
  const guess = didYouMean(key, [...ALL_OPTIONS, ...(section === 'defaults' ? [] : JOB_KEYS)]);
  return `unknown key ${shown(key)}${guess ? ` (did you mean "${guess}"?)` : ''}`;
}

/**
 * An option's help, as --help and the README show it: what it does (for this command), its values,
 * its default and one example. `negated`: the help of its --no- flag.
 */
export function helpText(name: OptionName, command: CommandName, negated = false): string {
  const spec: OptionSpec = OPTION_SPECS[name];
  if (negated && spec.kind === 'boolean') return spec.negationFor?.[command] ?? spec.negation ?? '';
  const notes: string[] = [];
  if (spec.kind === 'enum') notes.push(spec.values.join(', '));
  if (spec.kind === 'list') notes.push('repeatable');
  if (spec.kind === 'duration' && spec.never) notes.push('or never');
  const d = 'default' in spec ? spec.default : undefined;
  // A default that is more than its value (one that moves) is said in words.
  if (spec.defaultText) notes.push(`default: ${spec.defaultText}`);
  else if (d === true) notes.push('default');
  else if (typeof d === 'number')
    notes.push(
      `default ${spec.kind === 'size' ? fmtSize(d) : spec.kind === 'duration' ? fmtDuration(d) : d}`,
    );
  else if (typeof d === 'string') notes.push(`default ${d}`);
  const example = spec.exampleFor?.[command] ?? spec.example;
  if (example) notes.push(`e.g. ${example}`);
  const text = spec.helpFor?.[command] ?? spec.help;
  return notes.length ? `${text} (${notes.join('; ')})` : text;
}

/** The S3 URL versions and cleanup act on: a library call without one is told the option it lacks. */
export function requireTarget(command: 'versions' | 'cleanup', target: unknown): void {
  if (typeof target !== 'string' || target === '')
    throw usageError(
      `${command} needs option target, an s3://bucket/prefix URL (the CLI's argument), got ${shown(target) ?? String(target)}`,
    );
}

/**
 * The two ends of a push, pull or check: a local directory and an S3 URL, in the command's order.
 * Checked first, so `s3sync pull LOCAL s3://…` (reversed) fails before it creates `./s3:/…`.
 */
export function checkEnds(command: 'push' | 'pull' | 'check', local: unknown, remote: unknown): void {
  const order =
    command === 'pull'
      ? 's3://bucket/prefix, then a local directory'
      : 'a local directory, then s3://bucket/prefix';
  if (typeof local !== 'string' || typeof remote !== 'string' || local === '')
    throw usageError(`${command} takes ${order}`);
  if (isS3Url(local)) {
    throw usageError(
      isS3Url(remote)
        ? `${command} takes ${order}: both ${shown(local)} and ${shown(remote)} are S3 URLs`
        : `${command} takes ${order}: the arguments are reversed (${shown(remote)} is not an S3 URL, ${shown(local)} is)`,
    );
  }
  if (command === 'push') writableS3Url(remote, 'the destination');
  else parseS3Url(remote);
}
