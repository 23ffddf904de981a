/**
 * --files-from and --files-from0: a run over a list of paths reads and sends only what those paths need
 * (no walk of the tree, no listing when the manifest vouches for them), takes the list from a file or
 * standard input, deletes only listed paths, and refuses a bad list in one line before any request.
 */
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SyncEvent } from '../../src/sync/events.js';
import { push } from '../../src/sync/push.js';
import {
  type CliRun,
  cliEnv,
  cliPath,
  connFor,
  doneOf,
  newBucket,
  runCli,
  seedObject,
  servers,
  summaryOf,
  trackedDirs,
  writeTree,
} from '../helpers.js';

type TestServer = Parameters<typeof newBucket>[0];

const dirs = trackedDirs();
afterAll(() => dirs.removeAll());

/** The rels of the objects under the prefix. */
const relsOf = async (t: Awaited<ReturnType<typeof newBucket>>['transport'], prefix = 'p/') =>
  [...(await t.list(prefix)).keys()].sort();

/** The CLI run to its end with `input` on its standard input (and under strace when `trace` is given). */
function runWith(args: string[], server: TestServer, opts: { input?: string; trace?: string } = {}): CliRun {
  const node = [process.execPath, cliPath, ...args];
  const cmd = opts.trace
    ? ['strace', '-f', '-y', '-qq', '-e', 'trace=%file,getdents64', '-o', opts.trace, ...node]
    : node;
  const r = spawnSync(cmd[0]!, cmd.slice(1), {
    env: cliEnv(server),
    input: opts.input ?? '',
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as SyncEvent);
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, events, summary: summaryOf(events) };
}

/** No stack trace, one line: what every CLI error must look like. */
function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code).toBe(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^s3sync: /);
  expect(lines[0]).toMatch(pattern);
}

/** A file name that is not valid UTF-8: a walk of its directory reports it, and the run exits 1. */
function plantInvalidName(dir: string): void {
  writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0xfe]), Buffer.from('.bin')]), 'x');
}

const hasStrace = spawnSync('strace', ['-V']).status === 0;

describe.each(servers())('--files-from on $name', (server) => {
  it('a push of 10 listed paths out of 10,000 stats only those, lists nothing and sends only the changes', async () => {
    const { bucket, transport } = await newBucket(server, 'ff10k');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('ff10k');
    for (let d = 0; d < 100; d++) {
      mkdirSync(path.join(dir, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(path.join(dir, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
    }
    const listed = Array.from({ length: 10 }, (_, i) => `d${i * 11}/f${i * 7}.txt`);
    const list = path.join(dirs.dir('fflist'), 'list.txt');
    writeFileSync(list, `# ten of ten thousand\n${listed.join('\n')}\n`);

    // First run: no manifest vouches for them, so each is looked up (ten HEADs cost less than a page of
    // listing), and the 10 sent.
    const first = await runCli(['push', dir, url, '--files-from', list, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ scanned: 10, uploaded: 10, failed: 0 });
    expect(first.summary!.requests).toEqual({ HeadObject: 10, PutObject: 10 });
    expect(await relsOf(transport)).toEqual([...listed].sort());

    // Changes among the listed files: a size change, a same-size content change, a touch (same bytes).
    appendFileSync(path.join(dir, listed[0]!), 'more\n');
    writeFileSync(path.join(dir, listed[1]!), readFileSync(path.join(dir, listed[1]!), 'utf8').toUpperCase());
    const later = new Date(Date.now() + 5000);
    utimesSync(path.join(dir, listed[2]!), later, later);
    // Traps: a walk of the root or of a listed file's directory would report these names (exit 1).
    plantInvalidName(dir);
    plantInvalidName(path.join(dir, 'd0'));

    const trace = path.join(dirs.dir('fftrace'), 'trace.txt');
    const second = runWith(['push', dir, url, '--files-from', list, '--json'], server, {
      trace: hasStrace ? trace : undefined,
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary).toMatchObject({ scanned: 10, uploaded: 2, recorded: 1, unchanged: 7, failed: 0 });
    // Exactly the two uploads: no listing, no HEAD.
    expect(second.summary!.requests).toEqual({ PutObject: 2 });
    expect(doneOf(second.events, 'upload').sort()).toEqual([listed[0], listed[1]].sort());

    if (hasStrace) {
      // Every path under the tree that the process touched: the listed files, their directories, the
      // root and s3sync's own state; no directory under the root was read (getdents64) but the state
      // folder, where the deletion marks of the destination's other layouts are found.
      const text = readFileSync(trace, 'utf8');
      const touched = new Set<string>();
      const quoted = new RegExp(`["<](${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:/[^"<>]*)?)[">]`, 'g');
      for (const m of text.matchAll(quoted)) touched.add(m[1]!.slice(dir.length + 1));
      const allowed = new Set(['', ...listed, ...listed.map((rel) => path.dirname(rel))]);
      const own = (rel: string) =>
        rel === '.s3syncignore' || rel === '.s3_sync_manifest.json' || rel.startsWith('.s3sync');
      const others = [...touched].filter((rel) => !allowed.has(rel) && !own(rel));
      expect(others).toEqual([]);
      const readdirs = text
        .split('\n')
        .filter((l) => l.includes('getdents64(') && l.includes(dir) && !l.includes(`${dir}/.s3sync>`));
      expect(readdirs).toEqual([]);
      expect(touched.size).toBeGreaterThanOrEqual(10);
    }

    // Pull with the list into an empty directory: ten HEADs cost less than listing the prefix (the
    // manifest knows of no objects there: one page); eleven paths cost more, and the prefix is listed.
    const into = dirs.dir('ff10kpull');
    const pulled = await runCli(['pull', url, into, '--files-from', list, '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.summary!.requests).toEqual({ HeadObject: 10, GetObject: 10 });
    const eleven = path.join(dirs.dir('fflist11'), 'list.txt');
    writeFileSync(eleven, [...listed, 'd99/f99.txt'].join('\n'));
    const into11 = dirs.dir('ff10kpull11');
    const pulled11 = await runCli(['pull', url, into11, '--files-from', eleven, '--json'], server);
    expect(pulled11.code, pulled11.stderr).toBe(0);
    expect(pulled11.summary!.requests).toEqual({ ListObjectsV2: 1, GetObject: 10 });
    expect(readFileSync(path.join(into11, listed[1]!), 'utf8')).toBe(
      readFileSync(path.join(dir, listed[1]!), 'utf8'),
    );

    // The same tree walked finds the traps: what the listed run never looked at.
    const walked = await runCli(['push', dir, url, '--dry-run', '--json'], server);
    expect(walked.code).toBe(1);
    expect(walked.stderr + walked.stdout).toContain('not valid UTF-8');
  });

  it('takes the list from standard input, composes with --exclude, and --files-from0 drives pull and check', async () => {
    const { bucket, transport } = await newBucket(server, 'ffstdin');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('ffstdin');
    writeTree(dir, {
      'a.txt': 'a\n',
      'b b.txt': 'b\n',
      'sub/c.log': 'c\n',
      'sub/d.txt': 'd\n',
      'unlisted.txt': 'u\n',
    });
    // CRLF, a comment, ./ and a blank line; a listed path that is not there; one the filter excludes.
    const input =
      '# from a Windows tool\r\n./a.txt\r\nb b.txt\r\n\r\nsub/c.log\r\nsub/d.txt\r\nnot-here.txt\r\n';
    const r = runWith(['push', dir, url, '--files-from', '-', '--exclude', '*.log', '--json'], server, {
      input,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(doneOf(r.events, 'upload').sort()).toEqual(['a.txt', 'b b.txt', 'sub/d.txt']);
    expect(await relsOf(transport)).toEqual(['a.txt', 'b b.txt', 'sub/d.txt']);
    // The listed path with no file is said, once (a misspelt path sent nothing, in silence); the one
    // the filter leaves out is not.
    const notices = r.events
      .filter((e) => e.type === 'notice')
      .map((e) => (e as { message: string }).message);
    expect(notices.filter((m) => /listed path/.test(m))).toEqual([
      `1 listed path(s) have no file under ${dir}, nothing sent for them (first: not-here.txt); with --delete their objects would be deleted`,
    ]);

    // --files-from0 for pull: only the listed objects, into an empty directory.
    const list0 = path.join(dirs.dir('fflist0'), 'list.nul');
    writeFileSync(list0, 'b b.txt\0sub/d.txt\0missing.txt\0');
    const into = dirs.dir('ffpull');
    const pulled = await runCli(['pull', url, into, '--files-from0', list0, '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(doneOf(pulled.events, 'download').sort()).toEqual(['b b.txt', 'sub/d.txt']);
    // Looked up by key (one HEAD each, the missing one a 404), nothing listed.
    expect(pulled.summary!.requests).toEqual({ HeadObject: 3, GetObject: 2 });
    expect(existsSync(path.join(into, 'a.txt'))).toBe(false);
    expect(readFileSync(path.join(into, 'sub/d.txt'), 'utf8')).toBe('d\n');
    expect(
      pulled.events.flatMap((e) => (e.type === 'notice' ? [(e as { message: string }).message] : [])),
    ).toEqual([
      `1 listed path(s) have no object under s3://${bucket}/p/, nothing fetched for them (first: missing.txt); with --delete their files would be deleted`,
    ]);

    // check over the same list: the listed paths only (unlisted.txt is only local, and not reported).
    const checked = await runCli(['check', dir, url, '--files-from0', list0, '--json'], server);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.events.find((e) => (e.type as string) === 'check-summary')).toMatchObject({
      requests: { HeadObject: 3 },
      same: 2,
      onlyLocal: [],
      onlyRemote: [],
      differ: [],
    });
    const all = await runCli(['check', dir, url, '--json'], server);
    expect(all.code).toBe(1);
    expect(all.events.find((e) => (e.type as string) === 'check-summary')).toMatchObject({
      onlyLocal: ['sub/c.log', 'unlisted.txt'],
    });
  });

  it('--delete deletes only listed paths: gone locally or remotely, never an unlisted one', async () => {
    const { bucket, transport } = await newBucket(server, 'ffdel');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('ffdel');
    writeTree(dir, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n', 'd.txt': 'd\n' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    await seedObject(transport, 'p/stray.txt', 'stray\n');
    rmSync(path.join(dir, 'b.txt'));
    rmSync(path.join(dir, 'c.txt'));
    const list = path.join(dirs.dir('ffdellist'), 'list.txt');
    writeFileSync(list, 'a.txt\nb.txt\nd.txt\n');

    const pushed = await runCli(['push', dir, url, '--delete', '--files-from', list, '--json'], server);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(doneOf(pushed.events, 'delete')).toEqual(['b.txt']);
    // The listed keys looked up, not the destination listed.
    expect(pushed.summary!.requests).toEqual({ HeadObject: 3, DeleteObjects: 1 });
    // c.txt (gone, unlisted) and the stray (unlisted) are kept.
    expect(await relsOf(transport)).toEqual(['a.txt', 'c.txt', 'd.txt', 'stray.txt']);

    // plan with the list: actions for listed paths only; apply carries them out.
    writeFileSync(path.join(dir, 'd.txt'), 'd changed\n');
    writeFileSync(path.join(dir, 'e.txt'), 'e, unlisted\n');
    rmSync(path.join(dir, 'a.txt'));
    const planFile = path.join(dirs.dir('ffplan'), 'plan.json');
    const planned = await runCli(
      ['plan', 'push', dir, url, '--delete', '--files-from', list, '--out', planFile],
      server,
    );
    expect(planned.code, planned.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as { actions: { kind: string; rel: string }[] };
    expect(doc.actions.map((a) => `${a.kind} ${a.rel}`).sort()).toEqual([
      'delete-remote a.txt',
      'upload d.txt',
    ]);
    const applied = await runCli(['apply', planFile], server);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await relsOf(transport)).toEqual(['c.txt', 'd.txt', 'stray.txt']);
    // a.txt back, with new content.
    writeFileSync(path.join(dir, 'a.txt'), 'a, again\n');
    expect((await runCli(['push', dir, url, '--files-from', list], server)).code).toBe(0);

    // Pull --delete with a list: a listed local file with no object goes, an unlisted one stays.
    const into = dirs.dir('ffdelpull');
    writeTree(into, { 'a.txt': 'a\n', 'b.txt': 'old b\n', 'mine.txt': 'mine\n', 'd.txt': 'd\n' });
    const pulled = await runCli(['pull', url, into, '--delete', '--files-from', list, '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(doneOf(pulled.events, 'delete')).toEqual(['b.txt']);
    expect(existsSync(path.join(into, 'mine.txt'))).toBe(true);
    expect(existsSync(path.join(into, 'stray.txt'))).toBe(false);

    // Every listed file gone: the empty-source guard holds, as for a whole tree.
    const onlyGone = path.join(dirs.dir('ffdellist2'), 'list.txt');
    writeFileSync(onlyGone, 'c.txt\n');
    const refused = await runCli(['push', dir, url, '--delete', '--files-from', onlyGone], server);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/source is empty/);
    expect(await relsOf(transport)).toContain('c.txt');
  });

  it.each([
    ['a parent directory', 'a.txt\n../../etc/passwd\n', /line 2: '\.\.' is not allowed/],
    ['an absolute path', '/etc/passwd\n', /line 1: absolute path/],
    ['a directory', 'a.txt\r\nsub/\r\n', /line 2: names a directory/],
    ['a NUL in a line', 'a\0b\n', /line 1: a NUL character/],
  ])(
    'a list with %s is a one-line usage error naming the line, before any request',
    async (_why, text, message) => {
      const { bucket, transport } = await newBucket(server, 'ffbad');
      const dir = dirs.dir('ffbad');
      writeTree(dir, { 'a.txt': 'a\n' });
      const list = path.join(dirs.dir('ffbadlist'), 'list.txt');
      writeFileSync(list, text);
      for (const command of ['push', 'pull', 'check']) {
        const ends = command === 'pull' ? [`s3://${bucket}/p`, dir] : [dir, `s3://${bucket}/p`];
        expectOneLineError(await runCli([command, ...ends, '--files-from', list], server), message);
      }
      const stdin = runWith(['push', dir, `s3://${bucket}/p`, '--files-from', '-'], server, { input: text });
      expectOneLineError(stdin, message);
      expect(await relsOf(transport)).toEqual([]);
    },
  );

  it('a list with a byte order mark selects its first path; one naming a non-UTF-8 file is refused', async () => {
    const { bucket, transport } = await newBucket(server, 'ffbom');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('ffbom');
    writeTree(dir, { 'first.txt': '1\n', 'second.txt': '2\n', 'other.txt': 'o\n' });
    // As Notepad or PowerShell save a list: a BOM, then CRLF lines.
    const r = runWith(['push', dir, url, '--files-from', '-', '--json'], server, {
      input: '\uFEFFfirst.txt\r\nsecond.txt\r\n',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(doneOf(r.events, 'upload').sort()).toEqual(['first.txt', 'second.txt']);
    expect(await relsOf(transport)).toEqual(['first.txt', 'second.txt']);

    // `find -print0` lists a Latin-1 name as its bytes: decoded, it named no file and the run said 0.
    plantInvalidName(dir);
    const list0 = path.join(dirs.dir('ffbom0'), 'list.nul');
    writeFileSync(
      list0,
      Buffer.concat([Buffer.from('other.txt\0'), Buffer.from([0xff, 0xfe]), Buffer.from('.bin\0')]),
    );
    expectOneLineError(
      await runCli(['push', dir, url, '--files-from0', list0], server),
      /--files-from0 .* entry 2: not valid UTF-8/,
    );
    expect(await relsOf(transport)).toEqual(['first.txt', 'second.txt']);
  });

  it('a missing list, or both kinds of list, is a usage error', async () => {
    const { bucket } = await newBucket(server, 'ffbad2');
    const dir = dirs.dir('ffbad2');
    const url = `s3://${bucket}/p`;
    const missing = path.join(dir, 'nope.txt');
    expectOneLineError(
      await runCli(['push', dir, url, '--files-from', missing], server),
      /--files-from file not found/,
    );
    expectOneLineError(
      await runCli(['push', dir, url, '--files-from0', missing], server),
      /--files-from0 file not found/,
    );
    writeFileSync(path.join(dir, 'l'), 'a\n');
    const l = path.join(dir, 'l');
    expectOneLineError(
      await runCli(['push', dir, url, '--files-from', l, '--files-from0', l], server),
      /give --files-from or --files-from0, not both/,
    );
  });

  it('--delete-excluded deletes a listed object the filters leave out, looked up by HEAD or listed', async () => {
    const { bucket, transport } = await newBucket(server, 'ffdelx');
    const dir = dirs.dir('ffdelx');
    writeTree(dir, { 'a.txt': 'a', 'b.log': 'b', 'c.txt': 'c' });
    const lists = dirs.dir('ffdelx-lists');
    const short = path.join(lists, 'short');
    writeFileSync(short, 'a.txt\nb.log\nnothere.txt\n');
    // Twelve lines: past what HEADs would cost, so the destination is listed instead.
    const long = path.join(lists, 'long');
    writeFileSync(
      long,
      ['a.txt', 'b.log', ...Array.from({ length: 10 }, (_, i) => `gone${i}.txt`)].join('\n'),
    );
    for (const [name, list, lookup] of [
      ['short', short, 'HeadObject'],
      ['long', long, 'ListObjectsV2'],
    ] as const) {
      const url = `s3://${bucket}/${name}`;
      expect((await runCli(['push', dir, url], server)).code).toBe(0);
      const flags = ['--exclude', '*.txt', '--delete', '--delete-excluded', '--force', '--json'];
      const r = await runCli(['push', dir, url, '--files-from', list, ...flags], server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary?.requests, name).toHaveProperty(lookup);
      expect(r.summary, name).toMatchObject({ deleted: 1, uploaded: 0 });
      expect(await relsOf(transport, `${name}/`), name).toEqual(['b.log', 'c.txt']);
    }
  });

  it('several lists add up (flags, a config list, a library string); standard input once only', async () => {
    const { bucket, transport } = await newBucket(server, 'ffmany');
    const dir = dirs.dir('ffmany');
    writeTree(dir, { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c', 'd.txt': 'd', 'sub/e.txt': 'e' });
    const lists = dirs.dir('ffmany-lists');
    const list = (name: string, body: string) => {
      writeFileSync(path.join(lists, name), body);
      return path.join(lists, name);
    };
    const one = list('one', 'a.txt\nsub/e.txt\n');
    const two = list('two', '# both name a.txt\na.txt\nc.txt\n');
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', dir, url, '--files-from', one, '--files-from', two, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 3, failed: 0 });
    expect(await relsOf(transport)).toEqual(['a.txt', 'c.txt', 'sub/e.txt']);
    // NUL lists add up too; one of them from standard input.
    const z = list('z', 'b.txt\0');
    const zr = runWith(['push', dir, url, '--files-from0', z, '--files-from0', '-'], server, {
      input: 'd.txt\0',
    });
    expect(zr.code, zr.stderr).toBe(0);
    expect(await relsOf(transport)).toEqual(['a.txt', 'b.txt', 'c.txt', 'd.txt', 'sub/e.txt']);
    // A config file's list, relative to the file, and its one string form.
    const cfg = list('s3sync.config.json', JSON.stringify({ defaults: { filesFrom: ['one', 'two'] } }));
    const check = await runCli(['check', dir, url, '--json'], server, { env: { S3SYNC_CONFIG: cfg } });
    expect(check.code, check.stderr).toBe(0);
    expect(check.events.find((e) => (e.type as string) === 'check-summary')).toMatchObject({
      same: 3,
      onlyLocal: [],
      onlyRemote: [],
    });
    // A library call gives one list as a string, several as an array.
    const lib = dirs.dir('ffmany-lib');
    writeTree(lib, { 'a.txt': 'A', 'c.txt': 'C', 'x.txt': 'X' });
    // Written in the lock file's timestamp tick, a file is recorded unproven and hashed again: aged.
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const rel of ['a.txt', 'c.txt', 'x.txt']) utimesSync(path.join(lib, rel), hourAgo, hourAgo);
    const libUrl = `s3://${bucket}/lib`;
    const one1 = await push({ ...connFor(server), source: lib, destination: libUrl, filesFrom: two });
    expect(one1).toMatchObject({ uploaded: 2, failed: 0 });
    const both = await push({ ...connFor(server), source: lib, destination: libUrl, filesFrom: [one, two] });
    expect(both).toMatchObject({ uploaded: 0, unchanged: 2 });
    await expect(
      push({ ...connFor(server), source: lib, destination: libUrl, filesFrom: [] }),
    ).rejects.toThrow(/^option filesFrom must not be empty: leave the option out for none$/);
    expect(await relsOf(transport, 'lib/')).toEqual(['a.txt', 'c.txt']);
    const twice = runWith(['push', dir, url, '--files-from', '-', '--files-from', '-'], server, {
      input: 'a.txt\n',
    });
    expectOneLineError(twice, /--files-from - is given twice: standard input holds one list/);
    const empty = await runCli(['push', dir, url, '--files-from', one, '--files-from', ''], server);
    expectOneLineError(empty, /--files-from must not be empty: leave the option out for none/);
  });

  it("a list given as a flag overrides the config file's list of the other kind", async () => {
    const { bucket, transport } = await newBucket(server, 'ffcfg');
    const dir = dirs.dir('ffcfg');
    writeTree(dir, { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    const url = `s3://${bucket}/p`;
    const lists = dirs.dir('ffcfg-lists');
    writeFileSync(path.join(lists, 'one'), 'a.txt\n');
    writeFileSync(path.join(lists, 'zero'), 'b.txt\0');
    const file = path.join(lists, 's3sync.config.json');
    writeFileSync(file, JSON.stringify({ defaults: { filesFrom: path.join(lists, 'one') } }));
    const env = { S3SYNC_CONFIG: file };
    const r = await runCli(['push', dir, url, '--files-from0', path.join(lists, 'zero'), '--json'], server, {
      env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await relsOf(transport)).toEqual(['b.txt']);
    // The config's own list, with no flag, still applies.
    const plain = await runCli(['push', dir, url, '--json'], server, { env });
    expect(plain.code, plain.stderr).toBe(0);
    expect(await relsOf(transport)).toEqual(['a.txt', 'b.txt']);
  });
});
