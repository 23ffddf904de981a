/**
 * The parsers of option values, one per kind of value in the options table (./spec.ts): sizes with
 * binary suffixes, durations with their unit, enums, counts and shares; and the texts that say what an
 * option takes. Pure: ./validate.ts decides where a value comes from and what a bad one costs.
 */
import { isShard, MAX_SHARDS, parseShard } from '../shard.js';
import { parseHeaderFlag, parseRules } from './header-rules.js';
import { DAY, GiB, HOUR, KiB, MINUTE, MiB, type OptionSpec, SECOND } from './spec.js';

/** Where a value comes from: each takes the flag's text, the library and config file typed values too. */
export type Source = 'flag' | 'config' | 'library';

export const fmtSize = (n: number): string =>
  n >= GiB && n % GiB === 0 ? `${n / GiB}GiB` : n >= MiB && n % MiB === 0 ? `${n / MiB}MiB` : `${n} bytes`;

/** A duration as its shortest text in whole units (days from two on: 24h reads better than 1d). */
export function fmtDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms === Number.POSITIVE_INFINITY) return 'never';
  if (ms % DAY === 0 && ms >= 2 * DAY) return `${ms / DAY}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  if (ms % MINUTE === 0 && ms >= 2 * MINUTE) return `${ms / MINUTE}m`;
  return ms % SECOND === 0 ? `${ms / SECOND}s` : `${ms}ms`;
}

/** What the option takes, as the error messages say it. */
export function expected(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'int':
      return `a whole number from ${spec.min} to ${spec.max}`;
    case 'size':
      return `a size from ${fmtSize(spec.min)} to ${fmtSize(spec.max)} (e.g. 16MiB, 64M, 1G)`;
    case 'duration':
      return (
        `a duration from ${fmtDuration(spec.min)} to ${fmtDuration(spec.max)} (e.g. 500ms, 30s, 2m, 1h, 2d)` +
        (spec.never ? ' or never' : '')
      );
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'max-delete':
      return 'a count of files like 100 or a share of the destination like 25% (at most 100%)';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'shard':
      return `I/N with 0 <= I < N <= ${MAX_SHARDS} (e.g. 0/4)`;
    case 'list':
      return 'a list of strings';
    case 'rules':
      return 'a list of header rules ({ "match": GLOB, "cacheControl": ..., ... }) or, as a flag, a glob and a header';
  }
}

/** A value as it may appear in an error: JSON (so one line, control characters escaped), cut short. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

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

/** A size's text in bytes: 16MiB, 64M, 1.5G, 1048576 (bytes); undefined when it does not parse. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i.exec(text.trim());
  return m ? Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()[0]!]!) : undefined;
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

export type Parsed = { ok: true; value: unknown } | { ok: false; hint?: string };
export const bad = (hint?: string): Parsed => ({ ok: false, hint });
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
      const found = spec.ignoreCase
        ? spec.values.find((x) => x.toLowerCase() === text.toLowerCase())
        : spec.values.find((x) => x === text);
      return found === undefined ? bad() : good(found);
    }
    case 'max-delete':
      return (typeof v === 'number' && source !== 'flag') || text !== undefined
        ? parseMaxDelete(v as number | string) === undefined
          ? bad()
          : good(v)
        : bad();
    case 'boolean':
      if (typeof v === 'boolean' && source !== 'flag') return good(v);
      if (source === 'config' && (text === 'true' || text === 'false')) return good(text === 'true');
      return bad();
    case 'string':
      return text === undefined ? bad() : good(text);
    case 'shard': {
      const s = text === undefined ? {} : parseShard(text);
      return isShard(s) ? good(text!.trim()) : bad(s.hint);
    }
    case 'list':
      if (Array.isArray(v) && source !== 'flag')
        return v.every((x) => typeof x === 'string') ? good(v) : bad();
      return text !== undefined && source !== 'library' ? good([text]) : bad();
    case 'rules': {
      const r = source === 'flag' ? parseHeaderFlag(text ?? '') : parseRules(v);
      return r.ok ? good(r.rules) : bad(r.hint);
    }
  }
}
