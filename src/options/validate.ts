/**
 * What each option may hold, and the one place its values are checked: flags (through commander's
 * argument parsers), the config file and every library entry point. A bad value is a usage error
 * (exit 2) in one line naming the option, raised before anything is transferred: a run that would
 * silently do nothing (`workers: 0`) or something else than asked (`"delete": "false"`) never starts.
 */
import { usageError } from '../errors.js';
import { PROVIDER_NAMES } from '../s3/providers.js';
import { isS3Url, parseS3Url } from '../s3/url.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

export type OptionRule =
  | { kind: 'int'; flag: string; min: number; max: number }
  /** Bytes; flags take binary suffixes (16MiB, 64M, 1G). */
  | { kind: 'size'; flag: string; min: number; max: number }
  /** Milliseconds; flags take a unit (500ms, 30s, 2m, 1h, 2d), `bare` is the unit of a plain number. */
  | { kind: 'duration'; flag: string; min: number; max: number; bare: 'ms' | 's' }
  | { kind: 'enum'; flag: string; values: readonly string[]; ignoreCase?: boolean }
  /** A count of files (100) or a share of the destination (25%). */
  | { kind: 'max-delete'; flag: string }
  | { kind: 'boolean'; flag: string }
  | { kind: 'string'; flag: string }
  | { kind: 'list'; flag: string };

/** S3's canned ACLs for objects. */
export const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
] as const;

/** S3's server-side encryption algorithms (x-amz-server-side-encryption). */
export const SSE_ALGORITHMS = ['AES256', 'aws:kms', 'aws:kms:dsse'] as const;

export const CHECKSUM_MODES = ['when_supported', 'when_required'] as const;

const bool = (flag: string) => ({ kind: 'boolean', flag }) as const;
const str = (flag: string) => ({ kind: 'string', flag }) as const;
const list = (flag: string) => ({ kind: 'list', flag }) as const;

/**
 * Library option name → rule. Bounds: at least one worker (0 would transfer nothing and report
 * success); sizes within S3's own limits (a part or a single PUT is at most 5 GiB) and no smaller than
 * 1 MiB (a range per few KiB would be a request storm); timeouts long enough to ever succeed (0 would
 * disable the socket timeout altogether, and a run could hang for ever).
 */
export const OPTION_RULES: Record<string, OptionRule> = {
  workers: { kind: 'int', flag: '--workers', min: 1, max: 1024 },
  retries: { kind: 'int', flag: '--retries', min: 0, max: 100 },
  multipartThreshold: { kind: 'size', flag: '--multipart-threshold', min: MiB, max: 5 * GiB },
  partSize: { kind: 'size', flag: '--part-size', min: MiB, max: 5 * GiB },
  connectTimeoutMs: { kind: 'duration', flag: '--connect-timeout', min: 100, max: DAY, bare: 's' },
  stallTimeoutMs: { kind: 'duration', flag: '--stall-timeout', min: SECOND, max: DAY, bare: 's' },
  firstByteTimeoutMs: { kind: 'duration', flag: '--first-byte-timeout', min: 100, max: DAY, bare: 's' },
  olderThanMs: { kind: 'duration', flag: '--older-than', min: 0, max: 3650 * DAY, bare: 'ms' },
  maxDelete: { kind: 'max-delete', flag: '--max-delete' },
  // Provider names were always matched without regard to case (getProvider).
  provider: { kind: 'enum', flag: '--provider', values: PROVIDER_NAMES, ignoreCase: true },
  checksums: { kind: 'enum', flag: '--checksums', values: CHECKSUM_MODES },
  sse: { kind: 'enum', flag: '--sse', values: SSE_ALGORITHMS },
  acl: { kind: 'enum', flag: '--acl', values: CANNED_ACLS },
  endpointUrl: str('--endpoint-url'),
  region: str('--region'),
  profile: str('--profile'),
  manifest: str('--manifest'),
  storageClass: str('--storage-class'),
  sseKmsKeyId: str('--sse-kms-key-id'),
  cacheControl: str('--cache-control'),
  include: list('--include'),
  exclude: list('--exclude'),
  excludeFrom: list('--exclude-from'),
  pathStyle: bool('--path-style'),
  waitLock: bool('--wait-lock'),
  dryRun: bool('--dry-run'),
  followSymlinks: bool('--follow-symlinks'),
  delete: bool('--delete'),
  deleteExcluded: bool('--delete-excluded'),
  force: bool('--force'),
  incremental: bool('--incremental'),
  verify: bool('--verify'),
  full: bool('--full'),
  debug: bool('--debug'),
  json: bool('--json'),
  quiet: bool('--quiet'),
};

const fmtSize = (n: number) =>
  n >= GiB && n % GiB === 0 ? `${n / GiB}GiB` : n >= MiB && n % MiB === 0 ? `${n / MiB}MiB` : `${n} bytes`;
const fmtDuration = (ms: number) =>
  ms === 0
    ? '0'
    : ms % DAY === 0
      ? `${ms / DAY}d`
      : ms % HOUR === 0
        ? `${ms / HOUR}h`
        : ms % SECOND === 0
          ? `${ms / SECOND}s`
          : `${ms}ms`;

/** What the option takes, as the error messages say it. */
export function expected(rule: OptionRule): string {
  switch (rule.kind) {
    case 'int':
      return `a whole number from ${rule.min} to ${rule.max}`;
    case 'size':
      return `a size from ${fmtSize(rule.min)} to ${fmtSize(rule.max)} (e.g. 16MiB, 64M, 1G)`;
    case 'duration':
      return `a duration from ${fmtDuration(rule.min)} to ${fmtDuration(rule.max)} (e.g. 500ms, 30s, 2m, 1h, 2d)`;
    case 'enum':
      return `one of ${rule.values.join(', ')}`;
    case 'max-delete':
      return 'a count of files like 100 or a share of the destination like 25% (at most 100%)';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'list':
      return 'a list of strings';
  }
}

/** A value as it may appear in an error: JSON (so one line, control characters escaped), cut short. */
function shown(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const SIZE_UNITS: Record<string, number> = { b: 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: SECOND, m: 60 * SECOND, h: HOUR, d: DAY };

/** A flag's string as its option's value, or undefined when it does not parse. */
function parseText(rule: OptionRule, text: string): unknown {
  const v = text.trim();
  switch (rule.kind) {
    case 'int':
      return /^\d+$/.test(v) ? Number(v) : undefined;
    case 'size': {
      const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i.exec(v);
      if (!m) return undefined;
      return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()[0]!]!);
    }
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v);
      if (!m) return undefined;
      return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? rule.bare]!);
    }
    case 'boolean':
      return v === 'true' ? true : v === 'false' ? false : undefined;
    case 'list':
      return [text];
    default:
      return text;
  }
}

/** A duration's text (500ms, 30s, 2m, 1h, 2d; a plain number is milliseconds) in ms, or undefined. */
export const durationMs = (text: string): number | undefined =>
  parseText({ kind: 'duration', flag: '', min: 0, max: Number.POSITIVE_INFINITY, bare: 'ms' }, text) as
    | number
    | undefined;

/** Parses a max-delete spec: a count, or a share of the destination's files. */
export function parseMaxDelete(spec: number | string): { count: number } | { share: number } | undefined {
  if (typeof spec === 'number') return Number.isSafeInteger(spec) && spec >= 0 ? { count: spec } : undefined;
  if (typeof spec !== 'string') return undefined;
  const v = spec.trim();
  if (/^\d+$/.test(v)) return { count: Number(v) };
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct && Number(pct[1]) <= 100) return { share: Number(pct[1]) / 100 };
  return undefined;
}

/** Whether a value (already of its library type) is one the option accepts. */
function accepts(rule: OptionRule, v: unknown): boolean {
  switch (rule.kind) {
    case 'int':
    case 'size':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= rule.min && v <= rule.max;
    case 'duration':
      return typeof v === 'number' && Number.isFinite(v) && v >= rule.min && v <= rule.max;
    case 'enum':
      return typeof v === 'string' && rule.values.includes(rule.ignoreCase ? v.toLowerCase() : v);
    case 'max-delete':
      return parseMaxDelete(v as number | string) !== undefined;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'list':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

/** A usage error naming the option as its source spells it. */
const invalid = (who: string, rule: OptionRule, v: unknown) =>
  usageError(`${who} must be ${expected(rule)}, got ${shown(v)}`);

/** Commander argument parser for a flag: `--workers 0` fails here, before the command runs. */
export function flagParser(name: keyof typeof OPTION_RULES): (text: string) => unknown {
  const rule = OPTION_RULES[name]!;
  return (text: string) => {
    const v = parseText(rule, text);
    if (v === undefined || !accepts(rule, v)) throw invalid(rule.flag, rule, text);
    return v;
  };
}

/**
 * Checks a library call's options (unknown names are left alone; undefined means the default). Every
 * entry point calls this first, so a bad value fails before any file is read or request sent.
 */
export function validateOptions(opts: object): void {
  for (const [name, v] of Object.entries(opts)) {
    const rule = OPTION_RULES[name];
    if (rule && v !== undefined && !accepts(rule, v)) throw invalid(`option ${name}`, rule, v);
  }
}

/**
 * A config file's values, in the library's types: numbers, sizes and durations may be written as the
 * flags take them ("workers": "8", "multipartThreshold": "64MiB"), a list as one string. Throws a usage
 * error naming the file and the key.
 */
export function configValues(values: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...values };
  for (const [name, v] of Object.entries(values)) {
    const rule = OPTION_RULES[name];
    if (!rule || v === undefined) continue;
    const typed =
      typeof v === 'string' && rule.kind !== 'string' && rule.kind !== 'enum' && rule.kind !== 'max-delete'
        ? parseText(rule, v)
        : v;
    if (typed === undefined || !accepts(rule, typed)) throw invalid(`${where}: "${name}"`, rule, v);
    out[name] = typed;
  }
  return out;
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
  parseS3Url(remote);
}
