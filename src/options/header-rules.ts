/**
 * Per-pattern object settings (`headers` in the config file and the library, `--header-for GLOB
 * 'Header: value'` on the command line): what each rule may set, and the checks a rule passes before a
 * run starts. Pure: globs are compiled where files are matched (src/sync/object-style.ts).
 */
import { shapeGlob } from './glob.js';
import { headerValueWhy, shown } from './parse.js';

/** The headers a rule may set on an uploaded object, in the SDK's field names less their capitals. */
export interface ObjectStyle {
  cacheControl?: string;
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  storageClass?: string;
  /** x-amz-meta-* (names without the prefix, lower case as S3 stores them). */
  metadata?: Record<string, string>;
}

/** One rule: the first whose glob matches a file's path gives its settings. */
export interface HeaderRule extends ObjectStyle {
  match: string;
}

const STRING_FIELDS = [
  'cacheControl',
  'contentType',
  'contentEncoding',
  'contentDisposition',
  'storageClass',
] as const;
type StringField = (typeof STRING_FIELDS)[number];

/** The header names `--header-for` takes, lower case, and the field each one sets. */
const HEADER_FIELDS: Readonly<Record<string, StringField>> = Object.freeze({
  'cache-control': 'cacheControl',
  'content-type': 'contentType',
  'content-encoding': 'contentEncoding',
  'content-disposition': 'contentDisposition',
  'x-amz-storage-class': 'storageClass',
});

/**
 * Metadata names s3sync writes itself and reads back (the content's MD5, its mtime, the source MD5 of a
 * compressed object): a rule that set them would make s3sync misjudge the object.
 */
export const RESERVED_METADATA: readonly string[] = [
  'md5',
  'mtime',
  's3sync-source-md5',
  's3sync-source-size',
];

/** The header each field is sent in, for the length of its line. */
const FIELD_HEADERS: Readonly<Record<StringField, string>> = Object.freeze({
  cacheControl: 'Cache-Control',
  contentType: 'Content-Type',
  contentEncoding: 'Content-Encoding',
  contentDisposition: 'Content-Disposition',
  storageClass: 'x-amz-storage-class',
});
// RFC 9110 token characters, which a metadata name must be to be sent as x-amz-meta-<name>.
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** Why a header value cannot be sent, or undefined: a sentence about `label`, the rule's key or header. */
function badValue(v: unknown, label: string, header: string): string | undefined {
  if (typeof v !== 'string') return `${label} must be a string, got ${shown(v)}`;
  if (v.trim() === '') return `${label} is empty`;
  const why = headerValueWhy(v, header);
  return why && `${label} ${why}`;
}

/** Why a metadata name cannot be used, or undefined. */
function badMetaName(name: string): string | undefined {
  if (!TOKEN.test(name)) return `metadata name ${shown(name)} must be lower case letters, digits or -_.`;
  if (RESERVED_METADATA.includes(name)) return `metadata name ${shown(name)} is s3sync's own`;
  return undefined;
}

/** `whole`: the hint names the header and shows its value (a --header-for message need not repeat it). */
export type RulesParsed = { ok: true; rules: HeaderRule[] } | { ok: false; hint: string; whole?: true };

/** One config-file or library rule, checked key by key: an unknown key is named, never ignored. */
function parseRule(v: unknown, i: number): HeaderRule | string {
  const at = `rule ${i + 1}`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${at} must be an object`;
  const o = v as Record<string, unknown>;
  const rule: HeaderRule = { match: '' };
  for (const [key, value] of Object.entries(o)) {
    if (key === 'match') {
      if (typeof value !== 'string' || value.trim() === '') return `${at}: "match" must be a glob`;
      const why = shapeGlob(value);
      if (typeof why === 'string') return `${at}: "match" ${shown(value)}: ${why}`;
      rule.match = value;
    } else if ((STRING_FIELDS as readonly string[]).includes(key)) {
      const why = badValue(value, `"${key}"`, FIELD_HEADERS[key as StringField]);
      if (why) return `${at}: ${why}`;
      rule[key as StringField] = value as string;
    } else if (key === 'metadata') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return `${at}: "metadata" must be an object of strings`;
      const meta: Record<string, string> = {};
      for (const [name, text] of Object.entries(value)) {
        const why = badMetaName(name) ?? badValue(text, `metadata ${shown(name)}`, `x-amz-meta-${name}`);
        if (why) return `${at}: ${why}`;
        meta[name] = text as string;
      }
      // An empty object sets nothing: left out, so a rule made of it alone is refused as such.
      if (Object.keys(meta).length > 0) rule.metadata = meta;
    } else {
      return `${at}: unknown key ${shown(key)} (a rule takes match, ${STRING_FIELDS.join(', ')}, metadata)`;
    }
  }
  if (rule.match === '') return `${at} needs "match": a glob`;
  if (Object.keys(rule).length === 1) return `${at} (${shown(rule.match)}) sets nothing`;
  return rule;
}

/** A list of rules from the config file or a library call. */
export function parseRules(v: unknown): RulesParsed {
  if (!Array.isArray(v))
    return { ok: false, hint: 'a list of rules, e.g. [{ "match": "*.html", "cacheControl": "no-cache" }]' };
  const rules: HeaderRule[] = [];
  for (const [i, x] of v.entries()) {
    const r = parseRule(x, i);
    if (typeof r === 'string') return { ok: false, hint: r };
    rules.push(r);
  }
  return { ok: true, rules };
}

/** What joins a flag's glob and header into one argument (see pairHeaderFlags in src/cli/). */
export const PAIR_SEPARATOR = '\n';

/**
 * One `--header-for GLOB 'Header: value'`, its two arguments joined by PAIR_SEPARATOR: a one-header
 * rule. Header names are matched without regard to case, as HTTP does.
 */
export function parseHeaderFlag(text: string): RulesParsed {
  const sep = text.indexOf(PAIR_SEPARATOR);
  if (sep < 0)
    return { ok: false, hint: "give a glob and a header: --header-for '*.html' 'Cache-Control: no-cache'" };
  const match = text.slice(0, sep);
  const line = text.slice(sep + 1);
  if (match.trim() === '') return { ok: false, hint: 'the glob is empty' };
  const refused = shapeGlob(match);
  if (typeof refused === 'string') return { ok: false, hint: refused };
  const colon = line.indexOf(':');
  if (colon <= 0) return { ok: false, hint: `${shown(line)} is not "Header: value"` };
  const name = line.slice(0, colon).trim().toLowerCase();
  const value = line.slice(colon + 1).trim();
  const field = HEADER_FIELDS[name];
  const header = field ? FIELD_HEADERS[field] : name;
  const why = badValue(value, value.trim() === '' ? `the value of ${header}` : header, header);
  if (why) return { ok: false, hint: why, ...(value.trim() === '' ? {} : { whole: true as const }) };
  if (field) return { ok: true, rules: [{ match, [field]: value }] };
  if (name.startsWith('x-amz-meta-')) {
    const meta = name.slice('x-amz-meta-'.length);
    const bad = badMetaName(meta);
    if (bad) return { ok: false, hint: bad };
    return { ok: true, rules: [{ match, metadata: { [meta]: value } }] };
  }
  return {
    ok: false,
    hint: `unknown header ${shown(name)} (known: Cache-Control, Content-Type, Content-Encoding, Content-Disposition, x-amz-storage-class, x-amz-meta-*)`,
  };
}

/**
 * Flag rules as they are repeated: headers for the same glob make one rule (so `--header-for '*.html'`
 * twice sets both headers, where two rules would let the first hide the second); the same header twice
 * for one glob is a mistake, not a silent override.
 */
export function addFlagRules(
  previous: readonly HeaderRule[],
  added: readonly HeaderRule[],
): HeaderRule[] | string {
  const out = previous.map((r) => ({ ...r, ...(r.metadata ? { metadata: { ...r.metadata } } : {}) }));
  for (const a of added) {
    const same = out.find((r) => r.match === a.match);
    if (!same) {
      out.push(a);
      continue;
    }
    for (const f of STRING_FIELDS) {
      if (a[f] === undefined) continue;
      if (same[f] !== undefined) return `${f} is given twice for ${shown(a.match)}`;
      same[f] = a[f];
    }
    for (const [k, v] of Object.entries(a.metadata ?? {})) {
      if (same.metadata?.[k] !== undefined) return `x-amz-meta-${k} is given twice for ${shown(a.match)}`;
      same.metadata = { ...same.metadata, [k]: v };
    }
  }
  return out;
}
