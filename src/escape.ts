/**
 * File names and object keys come from whoever wrote the tree or the bucket, and a terminal acts on
 * some characters instead of showing them: CR and ESC sequences rewrite what is on screen, LF starts a
 * new line that looks like s3sync's own, and bidi controls reorder the text around them. Human-readable
 * output passes every line through `printable`; NDJSON goes through `jsonText`, which keeps the text
 * exact.
 */

/**
 * Characters printed as escapes: C0 controls, DEL, C1 controls, the Unicode line and paragraph
 * separators, the bidi marks, embeddings, overrides and isolates (the "Trojan Source" set), and lone
 * surrogates (the `u` flag makes a surrogate pair one character, so only a lone one matches).
 */
const SHOWN_ESCAPED =
  '\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff';

/** The backslash too: it introduces the escapes, so `a\nb` in a name must not read as a newline. */
const UNSAFE = new RegExp(`[${SHOWN_ESCAPED}\\\\]`, 'u');
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

/** The same without the backslash: for a message whose values were escaped as they went into it. */
const CONTROLS_ALL = new RegExp(`[${SHOWN_ESCAPED}]`, 'gu');

/** What JSON.stringify leaves raw (it escapes C0, quotes, backslashes and lone surrogates itself). */
const JSON_UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const JSON_UNSAFE_ALL = new RegExp(JSON_UNSAFE.source, 'g');

/** A path that holds one of these, or the backslash, does not display as itself. */
export const DISPLAY_UNSAFE = UNSAFE;

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/** `\uXXXX`: the one escape both JSON and Go strings read the same way. */
const unicodeEscape = (c: string) => `\\u${hex(c, 4)}`;

/** `\n`, `\r`, `\t` and `\\` by name, other C0 controls and DEL as `\x1b`, the rest as `\u009b`. */
function escapeChar(c: string): string {
  const short = SHORT[c];
  if (short !== undefined) return short;
  return c.charCodeAt(0) <= 0x7f ? `\\x${hex(c, 2)}` : unicodeEscape(c);
}

/**
 * The text as one line a terminal shows as it is, control characters written as Go's %q and JSON
 * write them (`\r`, `\x1b`, `\u009b`); text with none of them is returned unchanged.
 */
export function printable(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeChar) : text;
}

/**
 * JSON.stringify, with DEL, C1 controls, line separators and bidi controls also written as `\uXXXX`:
 * still the same JSON value, but nothing in it acts on a terminal that shows it.
 */
export function jsonText(value: unknown, indent?: number): string {
  const s = JSON.stringify(value, null, indent);
  return JSON_UNSAFE.test(s) ? s.replace(JSON_UNSAFE_ALL, unicodeEscape) : s;
}

/**
 * An error message as one line: control characters escaped as `printable` writes them, the backslash
 * as it is. The values quoted in a message were escaped as they went into it (`printable`), so the
 * backslashes of their escapes must not be escaped again, or a line break would show as `\\n`.
 */
export function controlsEscaped(text: string): string {
  return text.replace(CONTROLS_ALL, escapeChar);
}
