import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/cli/config.js';
import { usageErrorOf } from '../helpers.js';

describe('loadConfig: a file that is not JSON is named with the line and column of the mistake', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-config-'));
  it.each([
    [
      'a missing comma',
      '{\n  "defaults": {\n    "workers": 8\n    "dryRun": true\n  }\n}\n',
      ":4:5 is not valid JSON: Expected ',' or '}' after property value",
    ],
    [
      'the same after a byte order mark, in CRLF lines',
      '\uFEFF{\r\n  "defaults": {\r\n    "workers": 8\r\n    "dryRun": true\r\n  }\r\n}\r\n',
      ":4:5 is not valid JSON: Expected ',' or '}' after property value",
    ],
    ['a file cut short', '{\n  "jobs": [\n', ':3:1 is not valid JSON: Unexpected end of JSON input'],
  ])('%s', (_why, text, said) => {
    const file = path.join(dir, `${_why.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, text);
    expect(usageErrorOf(() => loadConfig({ S3SYNC_CONFIG: file })).message).toBe(
      `config file ${file}${said}`,
    );
  });
});

describe('loadConfig: a file too large to be a config file is refused unread', () => {
  it('over the cap: one line naming the file and the cap', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 's3sync-config-')), 'big.json');
    // Sparse: the size is what counts, not the bytes written.
    writeFileSync(file, '');
    truncateSync(file, 17 * 1024 * 1024);
    expect(usageErrorOf(() => loadConfig({ S3SYNC_CONFIG: file })).message).toBe(
      `cannot read the config file ${file}: 17MiB is too large for a config file (over 16MiB)`,
    );
  });
});

describe('loadConfig: null for a section is refused as {} for "jobs" is', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-config-'));
  it.each([
    ['"jobs": null', '{"jobs": null}', ': "jobs" must be an array'],
    ['"defaults": null', '{"defaults": null}', ': "defaults" must be an object'],
  ])('%s', (_what, text, said) => {
    const file = path.join(dir, `${_what.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, text);
    expect(usageErrorOf(() => loadConfig({ S3SYNC_CONFIG: file })).message).toBe(
      `config file ${file}${said}`,
    );
  });
});

describe('loadConfig: a file that is not UTF-8 is said to be so, with the byte offset', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-config-'));
  it.each([
    [
      'Latin-1 é in a source',
      Buffer.concat([Buffer.from('{"jobs": [{"source": "caf'), Buffer.from([0xe9]), Buffer.from('"}]}')]),
      ' is not UTF-8 (byte 0xE9 at 25): save it as UTF-8',
    ],
    [
      'UTF-16 with its byte order mark',
      Buffer.from('\uFEFF{}', 'utf16le'),
      ' is not UTF-8 (byte 0xFF at 0): save it as UTF-8',
    ],
  ])('%s', (_what, bytes, said) => {
    const file = path.join(dir, `${_what.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, bytes);
    expect(usageErrorOf(() => loadConfig({ S3SYNC_CONFIG: file })).message).toBe(
      `config file ${file}${said}`,
    );
  });
});

describe('loadConfig: ~ and ~/ in a path are the home folder, as a shell reads them', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-config-'));
  const load = (content: object) => {
    const file = path.join(dir, 's3sync.config.json');
    writeFileSync(file, JSON.stringify(content));
    return { file, run: () => loadConfig({ S3SYNC_CONFIG: file, HOME: '/home/tester' }) };
  };

  it('~/restore, ~ and a list of them; a ~ inside a name is a name', () => {
    const cfg = load({
      defaults: { manifest: '~/m.json', excludeFrom: ['~/.ignore', 'a~b'] },
      jobs: [
        { command: 'pull', source: 's3://bkt/p', destination: '~/restore' },
        { command: 'push', source: '~', destination: 's3://bkt/q' },
      ],
    }).run();
    expect(cfg.defaults.manifest).toBe('/home/tester/m.json');
    expect(cfg.defaults.excludeFrom).toEqual(['/home/tester/.ignore', path.join(dir, 'a~b')]);
    expect(cfg.jobs[0]!.destination).toBe('/home/tester/restore');
    expect(cfg.jobs[1]!.source).toBe('/home/tester');
  });

  it("~user is refused in one line: it is not this user's home", () => {
    const { file, run } = load({
      jobs: [{ command: 'pull', source: 's3://bkt/p', destination: '~bob/restore' }],
    });
    expect(usageErrorOf(run).message).toBe(
      `config file ${file}: job 1: "destination" '~bob/restore': ~user is not read: write the folder's full path (~/ is your home folder)`,
    );
  });
});

describe("loadConfig: '-' as a job's local folder is refused, as on the command line", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-config-'));
  const tail =
    "'-' is not standard input or output here, and is not taken as a local folder: write ./- for a folder named -";
  it.each([
    ['push', '-', 's3://bkt/p', 'source'],
    ['check', '-', 's3://bkt/p', 'source'],
    ['pull', 's3://bkt/p', '-', 'destination'],
    ['sync', '-', 's3://bkt/p', 'source'],
    ['sync', 's3://bkt/p', '-', 'destination'],
  ])('%s %s -> %s: one line naming the job and the key', (command, source, destination, key) => {
    const file = path.join(dir, `${command}-${key}.json`);
    // The second job names the one refused.
    const ok = { command: 'pull', source: 's3://bkt/ok', destination: './ok' };
    writeFileSync(file, JSON.stringify({ jobs: [ok, { command, source, destination }] }));
    expect(usageErrorOf(() => loadConfig({ S3SYNC_CONFIG: file })).message).toBe(
      `config file ${file}: job 2: "${key}": ${tail}`,
    );
  });

  it('./- is a folder named - beside the file', () => {
    const file = path.join(dir, 'dot-dash.json');
    writeFileSync(
      file,
      JSON.stringify({ jobs: [{ command: 'pull', source: 's3://bkt/p', destination: './-' }] }),
    );
    expect(loadConfig({ S3SYNC_CONFIG: file }).jobs[0]!.destination).toBe(path.join(dir, '-'));
  });
});
