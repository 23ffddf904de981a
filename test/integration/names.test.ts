/**
 * File names and keys that try to break a line-based format or a terminal: each survives the manifest
 * (a second push makes no request and says nothing), pull writes back every name it may, check calls
 * the trees identical, and no name or key can erase, rewrite or forge a line of output.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printable } from '../../src/escape.js';
import { parseS3Url } from '../../src/s3/url.js';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  type CliRun,
  loadManifestFile,
  manifestPaths,
  newBucket,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { CONTROL_NAMES, HOSTILE_NAMES, longNames } from '../unit/name-fixtures.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** Anything a terminal acts on, or that breaks or reorders a line; '\n' ends lines and is checked apart. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

type Report = Extract<SyncEvent, { type: 'error' | 'warning' | 'notice' }>;
const reports = (r: CliRun) =>
  r.events.filter((e): e is Report => e.type === 'error' || e.type === 'warning' || e.type === 'notice');
const lines = (text: string) => text.split('\n').slice(0, -1);
/** The summary's first number, the files, is the sum of what became of them (deletions apart). */
const addsUp = (r: CliRun) => {
  const m = r.summary!;
  expect(m.scanned).toBe(
    m.unchanged + m.uploaded + m.copied + m.downloaded + m.recorded + m.restyled + m.failed,
  );
};
const checkSummary = (r: CliRun) => r.events.find((e) => (e.type as string) === 'check-summary');

/** Every line of a human run: printable, and the text ends with a line break. */
function expectPrintable(r: CliRun) {
  for (const [name, text] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
  ] as const) {
    if (text === '') continue;
    expect(text.endsWith('\n'), name).toBe(true);
    for (const l of lines(text)) expect(l, `${name}: ${JSON.stringify(l)}`).not.toMatch(RAW_CONTROL);
  }
}

describe.each(servers())('file names on $name', (server) => {
  // s3rver keeps an object in files named after the key's last segment with a suffix of its own
  // (`._S3rver_object.incoming-<pid>-<n>` while a body arrives): its longest is shorter than Linux's.
  const names = [...HOSTILE_NAMES, ...longNames(server.name === 'embedded' ? 200 : 255)];
  const contentOf = (i: number) => `file ${i}\n`.repeat(i % 5);

  it('every name survives: one upload each, then no request and no warning; check identical; pull writes back each name it may', async () => {
    const { bucket, transport } = await newBucket(server, 'names');
    const src = dir('names-src');
    writeTree(src, Object.fromEntries(names.map((n, i) => [n, contentOf(i)])));
    const url = `s3://${bucket}/n`;

    const first = await runCli(['push', src, url, '--json'], server);
    expect(first.stderr).toBe('');
    expect(reports(first)).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.summary).toMatchObject({ scanned: names.length, uploaded: names.length, failed: 0 });
    expect([...(await transport.list('n/')).keys()].sort()).toEqual([...names].sort());

    // The manifest reads back whole, every name in it as it is.
    const [file] = manifestPaths(src);
    const loaded = loadManifestFile(file!, { endpoint: server.endpoint, ...parseS3Url(url) });
    expect([...loaded.data.files.keys()].sort()).toEqual([...names].sort());

    for (const mode of [['--json'], []]) {
      const again = await runCli(['push', src, url, ...mode], server);
      expect(again.code).toBe(0);
      expect(again.stderr).toBe('');
      if (mode.length > 0) {
        expect(reports(again)).toEqual([]);
        expect(again.summary).toMatchObject({ unchanged: names.length, uploaded: 0, requestsTotal: 0 });
      } else {
        expect(lines(again.stdout)).toHaveLength(2);
        expect(again.stdout).toMatch(/ 0 S3 requests /);
      }
    }

    const check = await runCli(['check', src, url], server);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(new RegExp(`^identical: ${names.length} same, `));
    expect(check.code).toBe(0);

    // Pull writes every name but those its key checks refuse (control characters, backslashes), and
    // says so in one escaped line each.
    const dst = dir('names-dst');
    const pull = await runCli(['pull', url, dst], server);
    expectPrintable(pull);
    expect(pull.code).toBe(1);
    const errors = lines(pull.stderr);
    expect(errors).toHaveLength(CONTROL_NAMES.length);
    for (const name of CONTROL_NAMES) {
      const about = errors.filter((e) => e.startsWith(`error: ${printable(name)}: unsafe object key`));
      expect(about, name).toHaveLength(1);
    }
    const written = Object.fromEntries(
      Object.entries(treeHashes(src)).filter(([rel]) => !CONTROL_NAMES.includes(rel)),
    );
    expect(treeHashes(dst)).toEqual(written);
    expect(Object.keys(written)).toHaveLength(names.length - CONTROL_NAMES.length);
  });

  it('a name that starts like a drive (`c:d.txt`) pushed from Linux is pulled back there', async () => {
    const { bucket } = await newBucket(server, 'names-drive');
    const src = dir('names-drive-src');
    const tree = { 'c:d.txt': 'colon', 'C:/x.txt': 'in a folder C:', 'z:': 'bare' };
    writeTree(src, tree);
    const url = `s3://${bucket}/n`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('names-drive-dst');
    for (const run of [1, 2]) {
      const pull = await runCli(['pull', url, dst, '--json'], server);
      expect(pull.stderr).toBe('');
      expect(pull.code).toBe(0);
      expect(pull.summary).toMatchObject({ downloaded: run === 1 ? 3 : 0, failed: 0 });
      expect(treeHashes(dst)).toEqual(treeHashes(src));
    }
  });

  it('push --delete removes keys that XML cannot carry (controls) with the rest', async () => {
    const { bucket, transport } = await newBucket(server, 'names-del');
    const doomed = ['esc\x1b[2Kkey', 'soh\x01key', 'bell\x07', 'plain.txt', 'tab\tkey'];
    const src = dir('names-del-src');
    // Pushed from here, so the manifest records them: files of this tree, deleted once they are gone
    // (a control-character key no push from here recorded is kept, see delete-plan.test.ts).
    writeTree(src, { 'keep.txt': 'kept', ...Object.fromEntries(doomed.map((k) => [k, 'gone'])) });
    const url = `s3://${bucket}/x`;
    const first = await runCli(['push', src, url, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ uploaded: doomed.length + 1, failed: 0 });
    for (const k of doomed) rmSync(path.join(src, k));
    const r = await runCli(['push', src, url, '--delete', '--force', '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 0, deleted: doomed.length, failed: 0 });
    expect([...(await transport.list('x/')).keys()]).toEqual(['keep.txt']);
  });

  it('names that are not valid UTF-8: one error line each, exit 1, nothing uploaded under any key of theirs', async () => {
    const { bucket, transport } = await newBucket(server, 'utf8');
    const src = dir('utf8-src');
    const good = ['ok.txt', 'sub/ok.txt', 'valid \uFFFD.txt', 'sub/\uFFFD', 'x\uFFFD'];
    writeTree(src, Object.fromEntries(good.map((n) => [n, n])));
    const raw = (...parts: (string | number[])[]) =>
      Buffer.concat([
        Buffer.from(`${src}/`),
        ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))),
      ]);
    // Each with where its bytes are not UTF-8, as the error says it (the decoded name cannot).
    const bad: [Buffer, string, string][] = [
      [raw([0x66, 0xff]), 'f\uFFFD', 'byte 0xFF at 1'],
      [raw('sub/', [0x67, 0xc3, 0x28]), 'sub/g\uFFFD(', 'byte 0xC3 at 1'],
      [raw('sub/', [0x68, 0xc0, 0xaf, 0x2e, 0x74]), 'sub/h\uFFFD\uFFFD.t', 'bytes 0xC0 at 1, 0xAF at 2'],
      [raw([0x6b, 0xed, 0xa0, 0x80]), 'k\uFFFD\uFFFD\uFFFD', 'bytes 0xED at 1, 0xA0 at 2, 0x80 at 3'],
      // Reads the same as the valid 'x\uFFFD' beside it.
      [raw([0x78, 0xfe]), 'x\uFFFD', 'byte 0xFE at 1'],
    ];
    for (const [p] of bad) writeFileSync(p, 'bad');
    // A directory whose name is not valid UTF-8: one error for it, none for the files inside.
    const badDir = raw([0x64, 0xff, 0x0a, 0x1b, 0x5b, 0x32, 0x4b]);
    mkdirSync(badDir);
    for (const f of ['a', 'b']) writeFileSync(Buffer.concat([badDir, Buffer.from(`/${f}`)]), f);
    const url = `s3://${bucket}/u`;

    const human = await runCli(['push', src, url], server);
    expectPrintable(human);
    expect(human.code).toBe(1);
    const expected = [...bad.map(([, rel, at]) => [rel, at]), ['d\uFFFD\n\x1b[2K', 'byte 0xFF at 1']].map(
      ([rel, at]) => `error: ${printable(rel!)}: file name is not valid UTF-8 (${at}): skipped`,
    );
    expect(lines(human.stderr).sort()).toEqual(expected.sort());
    expect([...(await transport.list('u/')).keys()].sort()).toEqual([...good].sort());

    const json = await runCli(['push', src, url, '--json'], server);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe('');
    expect(
      reports(json)
        .map((e) => [e.type, e.rel])
        .sort(),
    ).toEqual([...bad.map(([, rel]) => rel), 'd\uFFFD\n\x1b[2K'].map((rel) => ['error', rel]).sort());
    expect(json.summary).toMatchObject({ uploaded: 0, unchanged: good.length, requestsTotal: 0 });
    addsUp(json);
    expect([...(await transport.list('u/')).keys()].sort()).toEqual([...good].sort());
  });

  it('beside a name not valid UTF-8 that reads the same, the valid one is pulled and checked; the other only reported', async () => {
    const { bucket, transport } = await newBucket(server, 'utf8same');
    const src = dir('utf8same-src');
    writeTree(src, { 'ok.txt': 'ok', 'f\uFFFD': 'valid f', 'd\uFFFD/x': 'valid x' });
    const raw = (root: string, ...bytes: number[][]) =>
      Buffer.concat([Buffer.from(`${root}/`), ...bytes.map((b) => Buffer.from(b))]);
    // `f\xff` reads as the valid `f\uFFFD`, the folder `d\xfe` as `d\uFFFD`.
    writeFileSync(raw(src, [0x66, 0xff]), 'invalid f');
    mkdirSync(raw(src, [0x64, 0xfe]));
    writeFileSync(raw(src, [0x64, 0xfe], [0x2f, 0x78]), 'invalid x');
    const url = `s3://${bucket}/u`;
    const invalid = [
      ['d\uFFFD', 'd\uFFFD: file name is not valid UTF-8 (byte 0xFE at 1): skipped'],
      ['f\uFFFD', 'f\uFFFD: file name is not valid UTF-8 (byte 0xFF at 1): skipped'],
    ];
    const errorsOf = (r: CliRun) =>
      reports(r)
        .map((e) => [e.rel, e.message])
        .sort();
    const pushed = await runCli(['push', src, url, '--json'], server);
    expect(pushed.code).toBe(1);
    expect(errorsOf(pushed)).toEqual(invalid);
    // The names not read count among the files, as the files that failed.
    expect(pushed.summary).toMatchObject({ scanned: 5, uploaded: 3, failed: 2 });
    addsUp(pushed);
    expect([...(await transport.list('u/')).keys()].sort()).toEqual(['d\uFFFD/x', 'f\uFFFD', 'ok.txt']);

    const dst = path.join(dir('utf8same-dst'), 'copy');
    execFileSync('cp', ['-a', src, dst]);
    await seedObject(transport, 'u/f\uFFFD', 'f changed remotely');
    await seedObject(transport, 'u/d\uFFFD/x', 'x changed remotely');

    // check compares the valid names with their objects: they differ, and neither is "only local".
    const check = await runCli(['check', src, url, '--json'], server);
    expect(check.code).toBe(1);
    expect(errorsOf(check)).toEqual(invalid);
    expect(checkSummary(check)).toMatchObject({
      same: 1,
      onlyLocal: [],
      onlyRemote: [],
      differ: ['d\uFFFD/x', 'f\uFFFD'],
    });

    // pull downloads the valid names, never over the invalid ones, and says those once each. `g\xff`
    // alone reads as `g\uFFFD`, whose object is not downloaded beside it: one file, the one that failed.
    writeFileSync(raw(dst, [0x67, 0xff]), 'invalid g');
    await seedObject(transport, 'u/g\uFFFD', 'g remotely');
    invalid.push(['g\uFFFD', 'g\uFFFD: file name is not valid UTF-8 (byte 0xFF at 1): skipped']);
    const pull = await runCli(['pull', url, dst, '--json'], server);
    expect(pull.code).toBe(1);
    expect(errorsOf(pull)).toEqual(invalid);
    expect(pull.summary).toMatchObject({ scanned: 6, downloaded: 2, failed: 3 });
    addsUp(pull);
    expect(existsSync(path.join(dst, 'g\uFFFD'))).toBe(false);
    expect(readFileSync(path.join(dst, 'f\uFFFD'), 'utf8')).toBe('f changed remotely');
    expect(readFileSync(path.join(dst, 'd\uFFFD/x'), 'utf8')).toBe('x changed remotely');
    expect(readFileSync(raw(dst, [0x66, 0xff]), 'utf8')).toBe('invalid f');
    expect(readFileSync(raw(dst, [0x64, 0xfe], [0x2f, 0x78]), 'utf8')).toBe('invalid x');
    const after = await runCli(['check', dst, url, '--json'], server);
    expect(errorsOf(after)).toEqual(invalid);
    expect(checkSummary(after)).toMatchObject({ same: 3, onlyLocal: [], onlyRemote: [], differ: [] });

    // --delete: the names not read still keep the run from deleting anything.
    writeFileSync(path.join(dst, 'extra.txt'), 'only here');
    const del = await runCli(['pull', url, dst, '--delete', '--json'], server);
    expect(del.code).toBe(1);
    expect(del.summary).toMatchObject({ deleted: 0 });
    expect(readFileSync(path.join(dst, 'extra.txt'), 'utf8')).toBe('only here');
    expect(readFileSync(raw(dst, [0x66, 0xff]), 'utf8')).toBe('invalid f');
  });

  it('a name not valid UTF-8 that the filters leave out is no error: exit 0, and --delete still deletes', async () => {
    const { bucket, transport } = await newBucket(server, 'utf8x');
    const src = dir('utf8x-src');
    writeTree(src, { 'ok.txt': 'ok', 'gone.txt': 'gone', '.s3syncignore': 'cach*/\n' });
    // Latin-1 names: `café.tmp` (excluded by --exclude) and the folder `caché` (by .s3syncignore).
    writeFileSync(Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9]), Buffer.from('.tmp')]), 'x');
    const badDir = Buffer.concat([Buffer.from(`${src}/cach`), Buffer.from([0xe9])]);
    mkdirSync(badDir);
    writeFileSync(Buffer.concat([badDir, Buffer.from('/z')]), 'z');
    const url = `s3://${bucket}/x`;
    const first = await runCli(['push', src, url, '--exclude', '*.tmp'], server);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);

    unlinkSync(path.join(src, 'gone.txt'));
    const again = await runCli(['push', src, url, '--exclude', '*.tmp', '--delete', '--json'], server);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ deleted: 1, failed: 0 });
    expect([...(await transport.list('x/')).keys()]).toEqual(['ok.txt']);
  });

  it('a link or FIFO whose name is not valid UTF-8 is a notice, not an error: exit 0, --delete still deletes', async () => {
    const { bucket, transport } = await newBucket(server, 'utf8l');
    const src = dir('utf8l-src');
    writeTree(src, { 'ok.txt': 'ok', 'gone.txt': 'gone' });
    const raw = (name: number[]) => Buffer.concat([Buffer.from(`${src}/`), Buffer.from(name)]);
    symlinkSync(path.join(src, 'ok.txt'), raw([0x6c, 0xff]));
    // mkfifo takes its path as a string: the FIFO gets its bytes by a rename.
    execFileSync('mkfifo', [path.join(src, 'p')]);
    renameSync(path.join(src, 'p'), raw([0x70, 0xfe]));
    const url = `s3://${bucket}/l`;
    const first = await runCli(['push', src, url, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(
      reports(first)
        .map((e) => [e.type, e.rel])
        .sort(),
    ).toEqual([
      ['notice', 'l\uFFFD'],
      ['notice', 'p\uFFFD'],
    ]);

    unlinkSync(path.join(src, 'gone.txt'));
    const again = await runCli(['push', src, url, '--delete', '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ deleted: 1, failed: 0 });
    expect([...(await transport.list('l/')).keys()]).toEqual(['ok.txt']);
  });

  describe('no name forges a line of output', () => {
    /** Erases its own line and prints a reassuring one; starts a line that reads like s3sync's. */
    const ERASER = 'x\r\x1b[2Kall files OK';
    const FORGER = 'a\nerror: none, all in sync';
    /** Allowed by pull (no C0 control): DEL, a C1 CSI, a bidi override. */
    const C1 = 'c1 \u009b2K del\x7f \u202etxt.exe';
    const HOSTILE = [ERASER, FORGER, C1];
    /** Lines of a human run that mention name (escaped), after checking every line is printable. */
    const about = (text: string, name: string) => lines(text).filter((l) => l.includes(printable(name)));

    it('push: dry-run actions, notices, and --json exact', async () => {
      const { bucket } = await newBucket(server, 'fx');
      const src = dir('fx-src');
      writeTree(src, Object.fromEntries(HOSTILE.map((n) => [n, n])));
      symlinkSync('/nonexistent', path.join(src, `link ${ERASER}`));
      symlinkSync('/nonexistent', path.join(src, `link ${FORGER}`));
      const url = `s3://${bucket}/fx`;

      const human = await runCli(['push', src, url, '--dry-run'], server);
      expectPrintable(human);
      expect(human.code).toBe(0);
      for (const n of HOSTILE)
        expect(about(human.stdout, n)).toEqual([`(dry run) upload ${printable(n)} [new]`]);
      for (const n of [ERASER, FORGER])
        expect(about(human.stderr, n)).toEqual([
          `notice: ${printable(`link ${n}`)}: symbolic link skipped (use --follow-symlinks to follow)`,
        ]);
      expect(lines(human.stdout)).toHaveLength(HOSTILE.length + 2);
      expect(lines(human.stderr)).toHaveLength(HOSTILE.length - 1);

      const json = await runCli(['push', src, url, '--dry-run', '--json'], server);
      expect(json.stdout).not.toMatch(RAW_CONTROL);
      const actions = json.events.filter((e) => e.type === 'action').map((e) => e.rel);
      expect(actions.sort()).toEqual([...HOSTILE].sort());
      expect(
        reports(json)
          .map((e) => e.rel)
          .sort(),
      ).toEqual([`link ${ERASER}`, `link ${FORGER}`].sort());
    });

    it('pull: one escaped error per refused key, deletes named escaped; check groups escaped; --json exact', async () => {
      const { bucket, transport } = await newBucket(server, 'fx');
      const url = `s3://${bucket}/fx`;
      for (const n of HOSTILE) await seedObject(transport, `fx/${n}`, `remote ${n}`);
      await seedObject(transport, 'fx/plain.txt', 'plain');
      const dst = dir('fx-dst');
      const pull = await runCli(['pull', url, dst], server);
      expectPrintable(pull);
      expect(pull.code).toBe(1);
      // ERASER and FORGER hold C0 controls: refused, one line each. C1 is written as it is.
      for (const n of [ERASER, FORGER])
        expect(about(pull.stderr, n)).toEqual([
          `error: ${printable(n)}: unsafe object key, not written: contains a control character`,
        ]);
      expect(lines(pull.stderr)).toHaveLength(2);
      expect(lines(pull.stdout)).toHaveLength(2);
      expect(
        readdirSync(dst)
          .filter((n) => n !== '.s3sync')
          .sort(),
      ).toEqual([C1, 'plain.txt'].sort());

      // Local files with no object: deleted by pull --delete, each named in one line. (Pull leaves
      // alone local names with C0 controls, as it refuses to write them.)
      await seedObject(transport, 'other/plain.txt', 'plain');
      const dst2 = dir('fx-dst2');
      const doomed = [C1, 'line sep \u2028 csi \u009b31m red', 'del\x7f\x7f\x7f'];
      writeTree(dst2, Object.fromEntries(doomed.map((n) => [n, 'l'])));
      const del = await runCli(['pull', `s3://${bucket}/other`, dst2, '--delete', '--force'], server);
      expectPrintable(del);
      expect(del.code).toBe(0);
      expect(del.stderr).toBe('');
      for (const n of doomed) expect(about(del.stdout, n)).toEqual([`deleted ${printable(n)}`]);
      expect(lines(del.stdout)).toHaveLength(doomed.length + 2);
      expect(readdirSync(dst2).filter((n) => n !== '.s3sync')).toEqual(['plain.txt']);

      // check: ERASER and FORGER only remote, a local-only name, and C1 differing.
      writeFileSync(path.join(dst, C1), 'changed locally');
      writeFileSync(path.join(dst, `only here ${C1}`), 'l');
      const check = await runCli(['check', dst, url], server);
      expectPrintable(check);
      expect(check.code).toBe(1);
      expect(check.stderr).toBe('');
      expect(lines(check.stdout)).toEqual([
        'only local (1):',
        `  ${printable(`only here ${C1}`)}  (1 bytes)`,
        'only remote (2):',
        ...[ERASER, FORGER]
          .sort()
          .map((n) => `  ${printable(n)}  (${Buffer.byteLength(`remote ${n}`)} bytes)`),
        'differ (1):',
        expect.stringMatching(new RegExp(`^  ${printable(C1).replace(/[\\[\]()]/g, '\\$&')}  \\(`)),
        expect.stringMatching(/^4 difference\(s\): 1 same, 1 only local, 2 only remote, 1 differ; /),
      ]);

      const json = await runCli(['check', dst, url, '--json'], server);
      expect(json.stdout).not.toMatch(RAW_CONTROL);
      const diffs = json.events.filter((e) => (e.type as string) === 'difference') as unknown as {
        rel: string;
        status: string;
      }[];
      expect(diffs.map((d) => [d.status, d.rel]).sort()).toEqual(
        [
          ['only-local', `only here ${C1}`],
          ['only-remote', ERASER],
          ['only-remote', FORGER],
          ['differ', C1],
        ].sort(),
      );
    });

    it('errors outside a run: a source path, a manifest path, a bad flag', async () => {
      const { bucket } = await newBucket(server, 'fx');
      const url = `s3://${bucket}/fx`;
      const missing = path.join(dir('fx-missing'), ERASER, FORGER);
      const noSource = await runCli(['push', missing, url], server);
      expectPrintable(noSource);
      expect(noSource.code).toBe(2);
      expect(lines(noSource.stderr)).toHaveLength(1);
      expect(noSource.stderr).toContain(printable(missing));
      expect(noSource.stdout).toBe('');

      // A manifest that cannot be trusted, at a path with controls in it: one escaped warning.
      const src = dir('fx-src2');
      writeTree(src, { 'a.txt': 'a' });
      const manifest = path.join(src, `.s3sync-m ${FORGER}`, `m ${ERASER}.json`);
      mkdirSync(path.dirname(manifest), { recursive: true });
      // Not s3sync's at all: refused (exit 2) in one escaped line, and left as it was.
      writeFileSync(manifest, 'garbage\n\x1b[2J');
      const refused = await runCli(
        ['push', src, url, '--manifest', manifest, '--exclude', '.s3sync-m*/'],
        server,
      );
      expectPrintable(refused);
      expect(refused.code).toBe(2);
      expect(lines(refused.stderr)).toHaveLength(1);
      expect(refused.stderr).toContain(printable(manifest));
      expect(readFileSync(manifest, 'utf8')).toBe('garbage\n\x1b[2J');
      // s3sync's own, damaged after its header: rebuilt, with one escaped warning.
      writeFileSync(manifest, '{"schema":"s3sync-manifest"\x1b[2J garbage\n');
      const warned = await runCli(
        ['push', src, url, '--manifest', manifest, '--exclude', '.s3sync-m*/'],
        server,
      );
      expectPrintable(warned);
      expect(warned.code).toBe(0);
      expect(lines(warned.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^warning: manifest ${printable(manifest).replace(/[\\[\]()^$.*+?]/g, '\\$&')} cannot be trusted`,
          ),
        ),
      ]);
      expect(existsSync(manifest)).toBe(true);

      const badFlag = await runCli(['push', src, url, `--${ERASER}`], server);
      expect(badFlag.code).toBe(2);
      expectPrintable(badFlag);
      expect(badFlag.stderr).toContain(printable(`--${ERASER}`));
    });
  });
});
