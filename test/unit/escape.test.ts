import { describe, expect, it } from 'vitest';
import { type CliEvent, cliEvent } from '../../src/cli/exit-codes.js';
import { Output } from '../../src/cli/output.js';
import { jsonText, printable } from '../../src/escape.js';
import type { CheckEvent, CheckResult } from '../../src/sync/check.js';
import { emptyResult } from '../../src/sync/events.js';

/** Any character a terminal acts on or that reorders or breaks a line. */
const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Names that try to act on a terminal or to pass for a line of s3sync's own, each with its escape. */
const HOSTILE: [name: string, shown: string][] = [
  ['x\r\x1b[2Kall files OK', 'x\\r\\x1b[2Kall files OK'],
  ['a\nerror: forged', 'a\\nerror: forged'],
  ['crlf\r\nnext', 'crlf\\r\\nnext'],
  ['tab\tcol', 'tab\\tcol'],
  ['nul\x00byte', 'nul\\x00byte'],
  ['bell\x07', 'bell\\x07'],
  ['bs\x08\x08\x08hidden', 'bs\\x08\\x08\\x08hidden'],
  ['del\x7f', 'del\\x7f'],
  ['c1 csi\u009b2K', 'c1 csi\\u009b2K'],
  ['c1 nel\u0085', 'c1 nel\\u0085'],
  ['c1 first\u0080 last\u009f', 'c1 first\\u0080 last\\u009f'],
  ['line sep\u2028para\u2029', 'line sep\\u2028para\\u2029'],
  ['invoice\u202etxt.exe', 'invoice\\u202etxt.exe'],
  ['isolate\u2066x\u2069 mark\u200f\u061c', 'isolate\\u2066x\\u2069 mark\\u200f\\u061c'],
  ['lone \ud800 surrogate', 'lone \\ud800 surrogate'],
  ['back\\slash', 'back\\\\slash'],
  ['looks escaped \\n', 'looks escaped \\\\n'],
  ['\x1b]0;title\x07', '\\x1b]0;title\\x07'],
];

/** Names shown exactly as they are. */
const PLAIN = [
  'ordinary/file.txt',
  '#end 1',
  '"quoted"',
  ' lead and trail ',
  '100% %2F %00',
  'ünïcødé/日本語',
  'emoji 😀👍🏽',
  'nbsp\u00a0and ¡ (just past C1)',
  '{"schema":"s3sync-manifest","version":1}',
];

describe('printable', () => {
  it.each(HOSTILE)('%j is one line, its controls shown as escapes', (name, shown) => {
    expect(printable(name)).toBe(shown);
    expect(printable(name)).not.toMatch(RAW_CONTROL);
  });

  it.each(PLAIN)('%j is shown as it is', (name) => {
    expect(printable(name)).toBe(name);
  });

  it('escapes every code point that acts on a terminal, and only those, up to U+FFFF', () => {
    const wrong: string[] = [];
    let escaped = 0;
    for (let c = 0; c <= 0xffff; c++) {
      const s = String.fromCharCode(c);
      const out = printable(s);
      if (RAW_CONTROL.test(s) || (c >= 0xd800 && c <= 0xdfff) || s === '\\') {
        escaped++;
        if (!/^\\(?:[nrt\\]|x[0-9a-f]{2}|u[0-9a-f]{4})$/.test(out)) wrong.push(c.toString(16));
      } else if (out !== s) wrong.push(c.toString(16));
    }
    expect(wrong).toEqual([]);
    // C0 32, DEL 1, C1 32, bidi and separators 14, surrogates 2048, backslash 1.
    expect(escaped).toBe(32 + 1 + 32 + 14 + 2048 + 1);
  });

  it('reads back to the exact name: the escapes are unambiguous', () => {
    const SHORT: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };
    const readBack = (s: string) =>
      s.replace(/\\(?:([nrt\\])|x([0-9a-f]{2})|u([0-9a-f]{4}))/g, (_, c, x, u) =>
        c ? SHORT[c]! : String.fromCharCode(Number.parseInt(x ?? u, 16)),
      );
    for (const name of [...HOSTILE.map(([n]) => n), ...PLAIN, '\\x41 is not A', '\\\\n\n']) {
      expect(readBack(printable(name))).toBe(name);
    }
  });
});

describe('jsonText', () => {
  it.each([...HOSTILE.map(([n]) => n), ...PLAIN])('%j keeps its exact value, with no raw control', (name) => {
    const text = jsonText({ type: 'error', rel: name, message: `${name}: failed` });
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toEqual({ type: 'error', rel: name, message: `${name}: failed` });
  });

  it('is JSON.stringify where nothing needs escaping, indentation included', () => {
    const v = { a: ['x', 1], b: { c: 'ü' } };
    expect(jsonText(v)).toBe(JSON.stringify(v));
    expect(jsonText(v, 2)).toBe(JSON.stringify(v, null, 2));
  });
});

/** A stream stand-in that keeps what it is given. */
function sink() {
  let text = '';
  const stream = {
    write: (s: string) => {
      text += s;
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

const checkResult = (rels: string[]): CheckResult => ({
  command: 'check',
  same: 0,
  onlyLocal: [rels[0]!],
  onlyRemote: [rels[1]!],
  differ: [rels[2]!],
  differences: [
    { rel: rels[0]!, status: 'only-local', detail: '3 bytes' },
    { rel: rels[1]!, status: 'only-remote', detail: '4 bytes' },
    { rel: rels[2]!, status: 'differ', detail: 'content differs' },
  ] as CheckResult['differences'],
  unverified: [],
  errors: [],
  requests: {},
  requestsTotal: 1,
  elapsedMs: 5,
  cancelled: false,
  notCompared: 0,
  outcome: 'differ',
});

/** One event of each kind a human sees, each naming `rel`, and how many lines it prints. */
const lineKinds = (
  rel: string,
): [kind: string, event: CheckEvent, stream: 'out' | 'err', lines: number][] => [
  ['error', { type: 'error', message: `${rel}: cannot read file: EACCES`, rel }, 'err', 1],
  ['warning', { type: 'warning', message: `manifest ${rel} cannot be trusted`, rel }, 'err', 1],
  ['notice', { type: 'notice', message: `${rel}: symbolic link skipped`, rel }, 'err', 1],
  [
    'dry-run action',
    { type: 'action', action: 'upload', rel, reason: `new file ${rel}`, size: 1, dryRun: true },
    'out',
    1,
  ],
  ['deleted', { type: 'done', action: 'delete', rel, size: 1, reason: 'no-local-file' }, 'out', 1],
  ['check groups', { type: 'check-summary', ...checkResult([rel, `r/${rel}`, `d/${rel}`]) }, 'out', 7],
  ['summary', { type: 'summary', ...emptyResult('push', false) }, 'out', 2],
];

describe('Output renders every human line escaped', () => {
  for (const [name, shown] of HOSTILE) {
    it.each(lineKinds(name))(`%s naming ${JSON.stringify(name)}`, async (kind, event, stream, lines) => {
      const out = sink();
      const err = sink();
      const o = new Output('human', out.stream, err.stream);
      await o.event(cliEvent(event));
      o.stop();
      const printed = stream === 'out' ? out.text() : err.text();
      expect(stream === 'out' ? err.text() : out.text()).toBe('');
      expect(printed.endsWith('\n')).toBe(true);
      const printedLines = printed.split('\n').slice(0, -1);
      expect(printedLines).toHaveLength(lines);
      for (const l of printedLines) expect(l).not.toMatch(RAW_CONTROL);
      if (kind !== 'summary') expect(printed).toContain(shown);
    });
  }

  it('a --quiet run still prints errors, escaped', async () => {
    const err = sink();
    const o = new Output('quiet', sink().stream, err.stream);
    await o.event({ type: 'error', message: 'x\r\x1b[2Kall files OK: failed', rel: 'x' });
    expect(err.text()).toBe('error: x\\r\\x1b[2Kall files OK: failed\n');
  });

  it('--json keeps each name exact, one line per event, with no raw control', async () => {
    const out = sink();
    const o = new Output('json', out.stream, out.stream);
    const events: CliEvent[] = HOSTILE.flatMap(([name]) => lineKinds(name).map(([, e]) => cliEvent(e)));
    for (const e of events) await o.event(e);
    o.stop();
    expect(out.text()).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    const lines = out.text().split('\n').slice(0, -1);
    expect(lines).toHaveLength(events.length);
    expect(lines.map((l) => JSON.parse(l))).toEqual(events);
  });
});
