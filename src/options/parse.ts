/**
 * The parsers of option values, one per kind of value in the options table (./spec.ts): sizes with
 * binary suffixes, durations with their unit, enums, counts and shares; and the texts that say what an
 * option takes. Pure: ./validate.ts decides where a value comes from and what a bad one costs.
 */
import { printable } from '../escape.js';
import { isShard, MAX_SHARDS, parseShard } from '../shard.js';
import { shapeGlob } from './glob.js';
import { parseHeaderFlag, parseRules } from './header-rules.js';
import { DAY, GiB, HOUR, KiB, MINUTE, MiB, type OptionSpec, SECOND } from './spec.js';

/** Where a value comes from: each takes the flag's text, the library and config file typed values too. */
export type Source = 'flag' | 'config' | 'library';

export const fmtSize = (n: number): string =>
  n >= GiB && n % GiB === 0
    ? `${n / GiB}GiB`
    : n >= MiB && n % MiB === 0
      ? `${n / MiB}MiB`
      : n >= KiB && n % KiB === 0
        ? `${n / KiB}KiB`
        : `${n} bytes`;

/** A duration as its shortest text in whole units (days from two on: 24h reads better than 1d). */
export function fmtDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms === Number.POSITIVE_INFINITY) return 'never';
  if (ms % DAY === 0 && ms >= 2 * DAY) return `${ms / DAY}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0 && ms >= 2 * MINUTE) return `${ms / MINUTE}m`;
  return ms % SECOND === 0 ? `${ms / SECOND}s` : `${ms}ms`;
}

/** The durations a refusal shows as examples, each only to an option that takes it. */
const DURATION_EXAMPLES = [500, 30 * SECOND, 2 * MINUTE, HOUR, 2 * DAY];

/** What the option takes, as the error messages say it (a library call's lists are arrays). */
export function expected(spec: OptionSpec, source?: Source): string {
  switch (spec.kind) {
    case 'int':
      return `a whole number from ${spec.min} to ${spec.max}`;
    case 'size':
      return `a size from ${fmtSize(spec.min)} to ${fmtSize(spec.max)} (e.g. 16MiB, 64M, 1G)`;
    case 'duration': {
      // Only examples the option takes: `--stall-timeout 500ms` is refused (at least 1s).
      const eg = DURATION_EXAMPLES.filter((ms) => ms >= spec.min && ms <= spec.max).map(fmtDuration);
      return (
        `a duration from ${fmtDuration(spec.min)} to ${fmtDuration(spec.max)}` +
        (eg.length > 0 ? ` (e.g. ${eg.join(', ')})` : '') +
        (spec.never ? ' or never' : '')
      );
    }
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'rate':
      return (
        `a rate in bytes per second from ${fmtSize(spec.min)} to ${fmtSize(spec.max)}, one for both ways ` +
        '(e.g. 10MiB) or UP:DOWN (e.g. 10MiB:1MiB), off for no limit'
      );
    case 'age':
      return 'a duration like 7d or 12h, or a date like 2026-11-01 or a time with its zone like 2026-11-01T10:00:00Z';
    case 'max-delete':
      return 'a count of files like 100 or a share of the destination like 25% (at most 100%)';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'shard':
      return `I/N with 0 <= I < N <= ${MAX_SHARDS} (e.g. 0/4)`;
    case 'list':
      return spec.glob
        ? source === 'library'
          ? 'a list of globs'
          : 'a glob or a list of globs'
        : spec.one
          ? 'a path or a list of paths'
          : 'a list of strings';
    case 'rules':
      return 'a list of header rules ({ "match": GLOB, "cacheControl": ..., ... }) or, as a flag, a glob and a header';
  }
}

/**
 * A value as it may appear in an error: as JSON writes it, a string's control characters and
 * backslashes escaped as `printable` writes them (a line break as `\n`, a backslash as `\\`), so a
 * message is one line and tells a line break from a backslash. Cut short.
 */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = shownRaw(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function shownRaw(v: unknown): string {
  if (typeof v === 'string') return `"${printable(redacted(v))}"`;
  // A number JSON cannot write (1e400 reads as Infinity) is shown as one, not as null.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  // Neither has a JSON form: shown as written in code.
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return v.toString();
  // A Date (a library caller's `at`) is shown as JSON writes it.
  if (typeof (v as { toJSON?: unknown } | null)?.toJSON === 'function')
    return shownRaw((v as { toJSON: () => unknown }).toJSON());
  if (Array.isArray(v)) return `[${v.map(shownRaw).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `"${k}":${shownRaw(x)}`)
      .join(',')}}`;
  return JSON.stringify(v) ?? String(v);
}

/**
 * A URL's user name and password, anywhere in a string, never shown: from its scheme up to the
 * string's last @, as redactUrl cuts, since a password may hold @, / or a quote. An s3:// URL has
 * none: an @ in its key is shown.
 */
export const redacted = (s: string) =>
  s.replace(/(?<![a-z0-9+.-])(?!s3:\/\/)([a-z][a-z0-9+.-]*:\/\/)[\s\S]*@/gi, '$1***@');

const SIZE_UNITS: Readonly<Record<string, number>> = Object.freeze({
  b: 1,
  k: KiB,
  m: MiB,
  g: GiB,
  t: 1024 * GiB,
});
const DURATION_UNITS: Readonly<Record<string, number>> = Object.freeze({
  ms: 1,
  s: SECOND,
  m: MINUTE,
  h: HOUR,
  d: DAY,
});

/**
 * A size's text in bytes: 16MiB, 64M, 1.5G, 1048576 (bytes); undefined when it does not parse, or is a
 * fraction of a byte (`1.5`: a unit left out, read as rclone's KiB or as 2 bytes, either a guess).
 */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? 'b').toLowerCase()[0]!]!;
  if (unit === 1 && m[1]!.includes('.')) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/**
 * A duration's text in milliseconds: 500ms, 30s, 2m, 1.5h, 2d, 0, and `never` (Infinity) where allowed.
 * A plain number other than 0 is 'needs-unit'; anything else undefined.
 */
export function parseDuration(text: string, never = false): number | 'needs-unit' | undefined {
  const v = text.trim();
  if (never && v.toLowerCase() === 'never') return Number.POSITIVE_INFINITY;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(v);
  if (!m) return undefined;
  if (m[2] === undefined) return Number(m[1]) === 0 ? 0 : 'needs-unit';
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]]!);
}

/** An age limit: a duration back from the run's start, or a point in time (ms since the epoch). */
export type Age = { ago: number } | { at: number };

/**
 * The longest age, a century: past it the cutoff soon lies before any date (an invalid Date), and a
 * run then compared nothing while it said "identical"; no file is older than a century.
 */
export const MAX_AGE_MS = 36_500 * DAY;
/** What a longer age is told. */
export const AGE_TOO_LONG = 'at most 36500d (100 years)';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * An age's text: a duration (7d, 12h, 0), a date (midnight UTC: a date means the same day wherever the
 * run happens), or a date and time with its zone. A time without a zone would mean a different instant
 * on each machine, so it is refused ('needs-zone'); a day that does not exist (2026-02-30) is refused
 * rather than rolled over as Date.parse does.
 */
export function parseAge(text: string): Age | 'needs-unit' | 'needs-zone' | 'too-long' | undefined {
  const v = text.trim();
  const d = parseDuration(v);
  if (d !== undefined) return d === 'needs-unit' ? d : d > MAX_AGE_MS ? 'too-long' : { ago: d };
  const m = DATE.exec(v) ?? DATE_TIME.exec(v);
  if (!m) return undefined;
  const [y, mo, day, h = '0', mi = '0', sec = '0', ms = '0', zone] = m.slice(1);
  if (m.length > 4 && m[4] !== undefined && zone === undefined) return 'needs-zone';
  const parts = [Number(y), Number(mo) - 1, Number(day), Number(h), Number(mi), Number(sec)] as const;
  const utc = Date.UTC(...parts, Number(ms.padEnd(3, '0')));
  const back = new Date(utc);
  const same =
    back.getUTCFullYear() === parts[0] &&
    back.getUTCMonth() === parts[1] &&
    back.getUTCDate() === parts[2] &&
    back.getUTCHours() === parts[3] &&
    back.getUTCMinutes() === parts[4] &&
    back.getUTCSeconds() === parts[5];
  if (!same) return undefined;
  return { at: utc - zoneOffsetMs(zone) };
}

/** +02:00 → 2 h: the instant is the local time minus its offset. */
function zoneOffsetMs(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const z = zone.replace(':', '');
  const sign = z[0] === '-' ? -1 : 1;
  return sign * (Number(z.slice(1, 3)) * HOUR + Number(z.slice(3, 5)) * MINUTE);
}

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

/** Rates in bytes per second, each way; a way left out has no limit. */
export interface Rates {
  up?: number;
  down?: number;
}

/**
 * A --bwlimit value as rates: a number of bytes per second, or text as rclone writes it: one size for
 * both ways (10MiB), UP:DOWN (10MiB:1MiB) and `off` for no limit, one way or both. Undefined when it does
 * not parse; the bounds are the caller's to check.
 */
export function parseRate(v: unknown): Rates | undefined {
  if (typeof v === 'number') return { up: v, down: v };
  if (typeof v !== 'string') return undefined;
  const sides = v.split(':').map((x) => x.trim());
  if (sides.length > 2) return undefined;
  const rates = sides.map((x) => (x.toLowerCase() === 'off' ? null : parseSize(x)));
  if (rates.includes(undefined)) return undefined;
  const [up, down = up] = rates as (number | null)[];
  return { ...(up === null ? {} : { up }), ...(down === null ? {} : { down }) };
}

/** `whole`: the hint says what is wrong and shows the value itself, not "must be X, got V". */
export type Parsed = { ok: true; value: unknown } | { ok: false; hint?: string; whole?: true };
export const bad = (hint?: string): Parsed => ({ ok: false, hint });
// Whole: "must be a string, got ''" would call it a string and then say it is not one.
const empty = (advice: string): Parsed => ({ ok: false, hint: `must not be empty: ${advice}`, whole: true });
/**
 * What an HTTP header value cannot hold: control characters (Node refuses them), and anything not
 * ASCII, which Node sends as Latin-1 bytes while the SDK signs it as UTF-8 (SignatureDoesNotMatch).
 */
export const NOT_HEADER = /[^\t\x20-\x7e]/;

/** The most a request's headers may hold on AWS: one header line past it can never be sent. */
export const MAX_HEADER_LINE = 8 * 1024;

/** The header a header-valued option is sent in, for the length of its line. */
const HEADER_OF: Readonly<Record<string, string>> = Object.freeze({
  '--cache-control': 'Cache-Control',
  '--storage-class': 'x-amz-storage-class',
  '--sse-kms-key-id': 'x-amz-server-side-encryption-aws-kms-key-id',
});

/** How to carry other text, for the message that refuses it. */
const ASCII_ADVICE =
  "write other text as RFC 2047 (=?UTF-8?B?...?=) in metadata, as RFC 5987 (filename*=UTF-8''r%C3%A9sum%C3%A9.pdf) in Content-Disposition";

/**
 * Why a header value cannot be sent, or undefined: what follows the option's, field's or header's
 * name in its message ("must be ..."), the value shown once.
 */
export function headerValueWhy(v: string, header?: string): string | undefined {
  if (/[\r\n]/.test(v)) return `must be a header value without a line break, got ${shown(v)}`;
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(v))
    return `must be a header value without control characters, got ${shown(v)}`;
  const other = /[^\x00-\x7f]/u.exec(v);
  if (other)
    return `must be ASCII, as every header value, got ${shown(v)} (${shown(other[0])} is not): ${ASCII_ADVICE}`;
  // ASCII by now, a character a byte: AWS answers a PUT with longer headers 400, file by file.
  const line = header === undefined ? 0 : header.length + 2 + v.length;
  if (line > MAX_HEADER_LINE)
    return `must be at most 8 KiB as a header line (${header}: value), AWS's limit for a request's headers, got ${line} bytes`;
  return undefined;
}
/** What a part of one file name cannot hold: a path separator (either), or NUL. */
export const NOT_IN_NAME = /[/\\\0]/;
const good = (value: unknown): Parsed => ({ ok: true, value });

const inRange = (n: number | undefined, min: number, max: number): Parsed =>
  n !== undefined && Number.isSafeInteger(n) && n >= min && n <= max ? good(n) : bad();

/**
 * A value as its option's library type. The same text means the same thing from every source; besides
 * it, the library and the config file take typed values (numbers, booleans, lists), except that a
 * duration in the config file needs its unit as a flag does (a number there would be ambiguous), and
 * whole numbers and booleans as strings are for the config file only (a JS caller passing "false" for
 * `delete` made a mistake, and is told).
 */
export function parseValue(spec: OptionSpec, v: unknown, source: Source): Parsed {
  const text = typeof v === 'string' ? v : undefined;
  switch (spec.kind) {
    case 'int': {
      if (typeof v === 'number' && source !== 'flag') return inRange(v, spec.min, spec.max);
      if (text === undefined || source === 'library' || !/^\d+$/.test(text.trim())) return bad();
      return inRange(Number(text), spec.min, spec.max);
    }
    case 'size': {
      const n =
        typeof v === 'number' && source !== 'flag' ? v : text === undefined ? undefined : parseSize(text);
      // A fraction of a byte: its unit left out, most likely.
      if (n === undefined && text !== undefined && /^\s*\d+\.\d+\s*b?\s*$/i.test(text))
        return bad(`a fraction of a byte: add a unit, e.g. "${text.trim().replace(/b$/i, '')}k"`);
      return inRange(n, spec.min, spec.max);
    }
    case 'duration': {
      let ms: number | 'needs-unit' | undefined;
      if (typeof v === 'number') ms = source === 'library' || v === 0 ? v : 'needs-unit';
      else if (text !== undefined) ms = parseDuration(text, spec.never);
      if (ms === 'needs-unit') return bad(`add a unit, e.g. "${String(v).trim()}s"`);
      if (ms === Number.POSITIVE_INFINITY && spec.never) return good(ms);
      return ms !== undefined && Number.isFinite(ms) && ms >= spec.min && ms <= spec.max ? good(ms) : bad();
    }
    case 'enum': {
      if (text === undefined) return bad();
      // Canonical from here: the SDK, the S3 request and a comparison take the table's spelling only.
      const found =
        source !== 'library' || spec.libraryAnyCase
          ? spec.values.find((x) => x.toLowerCase() === text.toLowerCase())
          : spec.values.find((x) => x === text);
      return found === undefined ? bad() : good(found);
    }
    case 'age': {
      // A number is milliseconds from a library call, as for durations; the config file needs a unit.
      if (typeof v === 'number')
        return source === 'library' || v === 0
          ? Number.isFinite(v) && v >= 0
            ? v > MAX_AGE_MS
              ? bad(AGE_TOO_LONG)
              : good(v)
            : bad()
          : bad(`add a unit, e.g. "${v}d"`);
      const a = text === undefined ? undefined : parseAge(text);
      if (a === 'needs-unit') return bad(`add a unit, e.g. "${text!.trim()}d"`);
      if (a === 'too-long') return bad(AGE_TOO_LONG);
      if (a === 'needs-zone') return bad('add the time zone, e.g. Z for UTC or +02:00');
      return a === undefined ? bad() : good(text);
    }
    case 'max-delete':
      return (typeof v === 'number' && source !== 'flag') || text !== undefined
        ? parseMaxDelete(v as number | string) === undefined
          ? bad()
          : good(v)
        : bad();
    case 'rate': {
      const r = typeof v === 'number' && source === 'flag' ? undefined : parseRate(v);
      const ok = (n?: number) => n === undefined || inRange(n, spec.min, spec.max).ok;
      return r !== undefined && ok(r.up) && ok(r.down) ? good(v) : bad();
    }
    case 'boolean':
      if (typeof v === 'boolean' && source !== 'flag') return good(v);
      if (source === 'config' && (text === 'true' || text === 'false')) return good(text === 'true');
      return bad();
    case 'string':
      if (text === undefined) return bad();
      // Sent as it is, an empty value failed every file (--storage-class) or was quietly the default.
      // Leaving it out is the hint only where that is allowed (the library writes no plan file without it).
      if (text.trim() === '')
        return empty(
          spec.noDefault && source === 'flag'
            ? `${spec.flag} has no default${spec.example ? `: e.g. ${spec.example}` : ''}`
            : 'leave the option out for its default',
        );
      // Node refuses the request (or S3 the signature) on every file otherwise, after the run began.
      if (spec.inHeader) {
        // A region goes into the signature's scope, not a header of its own: the plain hint.
        const why = spec.flag.endsWith('region') ? undefined : headerValueWhy(text, HEADER_OF[spec.flag]);
        if (why) return { ok: false, hint: why, whole: true };
        if (NOT_HEADER.test(text))
          return bad('it holds a character an HTTP header cannot carry (a line break, or one not ASCII)');
      }
      // A separator in what is appended to a name would put the file in another folder, or outside.
      if (spec.inName && NOT_IN_NAME.test(text))
        return bad('it holds a path separator or NUL: it is appended to a file name, which it must stay');
      return good(text);
    case 'shard': {
      const s = text === undefined ? {} : parseShard(text);
      return isShard(s) ? good(text!.trim()) : bad(s.hint);
    }
    case 'list': {
      const r =
        Array.isArray(v) && source !== 'flag'
          ? v.every((x) => typeof x === 'string')
            ? good(v)
            : bad()
          : text !== undefined && (source !== 'library' || spec.one)
            ? good([text])
            : text !== undefined
              ? // The library's type is a list: one glob is a list of one, not a string.
                bad(`write [${shown(text)}]`)
              : bad();
      // An empty entry would be read as the working folder, or fail only once the run began.
      const given = r.ok ? (r.value as string[]) : [];
      if (r.ok && spec.one && (given.length === 0 || given.some((x) => x.trim() === '')))
        return empty('leave the option out for none');
      if (!r.ok || !spec.glob) return r;
      // Where the glob enters, not when a run compiles it: a config file's later job never runs first.
      const globs = r.value as string[];
      for (const g of globs) {
        const why = shapeGlob(g);
        if (typeof why === 'string') return bad(globs.length > 1 ? `${shown(g)}: ${why}` : why);
      }
      return r;
    }
    case 'rules': {
      const r = source === 'flag' ? parseHeaderFlag(text ?? '') : parseRules(v);
      return r.ok ? good(r.rules) : { ok: false, hint: r.hint, ...(r.whole ? { whole: r.whole } : {}) };
    }
  }
}
