import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { check, pull, push } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  connFor,
  newBucket,
  runCli,
  seedObject,
  servers,
  startCli,
  tempDir,
  treeHashes,
  writeTree,
} from '../helpers.js';

const seed = seedObject;

const TREE = {
  'a.txt': 'a\n',
  'b.log': 'b log\n',
  'logs/x.txt': 'x\n',
  'build/out.bin': 'binary output\n',
  'keep.log': 'keep me\n',
};
const SELECTED = ['a.txt', 'keep.log', 'logs/x.txt'];
const FLAGS = ['--exclude', '*.log', '--include', 'keep.log'];
const IGNORE = { '.s3syncignore': '# build output\nbuild/\n' };

const remoteKeys = async (t: S3Transport, prefix: string) => [...(await t.list(prefix)).keys()].sort();

/** Files in a directory, apart from s3sync's state folder and the ignore file itself. */
const userFiles = (dir: string) => Object.keys(treeHashes(dir, ['.s3sync', '.s3syncignore'])).sort();

describe.each(servers())('filters on $name', (server) => {
  it('push uploads exactly the selected files (flags + .s3syncignore)', async () => {
    const { bucket, transport } = await newBucket(server, 'fpush');
    const src = tempDir('fpush');
    writeTree(src, { ...TREE, ...IGNORE });
    const r = await runCli(['push', src, `s3://${bucket}/p`, ...FLAGS, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 3, scanned: 3 });
    expect(await remoteKeys(transport, 'p/')).toEqual(SELECTED);

    // A second run with the same filters is a no-op; --delete leaves the excluded objects alone.
    const again = await runCli(['push', src, `s3://${bucket}/p`, ...FLAGS, '--delete', '--json'], server);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0 });
  });

  it('pull writes exactly the selected objects from a bucket holding all of them', async () => {
    const { bucket, transport } = await newBucket(server, 'fpull');
    for (const [rel, body] of Object.entries(TREE)) await seed(transport, `p/${rel}`, body);
    const dst = tempDir('fpull');
    writeTree(dst, IGNORE);
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, ...FLAGS, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 3, scanned: 3 });
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 3 });
    expect(userFiles(dst)).toEqual(SELECTED);
    expect(readdirSync(dst).sort()).toEqual(['.s3sync', '.s3syncignore', 'a.txt', 'keep.log', 'logs']);
  });

  it('check with the same filters sees only the selected files', async () => {
    const { bucket, transport } = await newBucket(server, 'fcheck');
    for (const [rel, body] of Object.entries(TREE)) await seed(transport, `p/${rel}`, body);
    const dir = tempDir('fcheck');
    writeTree(dir, {
      ...IGNORE,
      ...Object.fromEntries(SELECTED.map((rel) => [rel, TREE[rel as keyof typeof TREE]])),
    });
    const r = await runCli(['check', dir, `s3://${bucket}/p`, ...FLAGS], server);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^identical: 3 same, 0 only local, 0 only remote, 0 differ; /);
    expect(r.code).toBe(0);

    // Without the flags (.s3syncignore still applies) the object they excluded shows up as only-remote.
    const flagless = await check({ ...connFor(server), local: dir, remote: `s3://${bucket}/p` });
    expect(flagless).toMatchObject({ outcome: 'differ', onlyRemote: ['b.log'], onlyLocal: [], differ: [] });
  });

  it('the library functions select the same files as the CLI', async () => {
    const { bucket, transport } = await newBucket(server, 'flib');
    const src = tempDir('flib-src');
    writeTree(src, { ...TREE, ...IGNORE });
    const filters = { exclude: ['*.log'], include: ['keep.log'] };
    const url = `s3://${bucket}/p`;
    const pushed = await push({ ...connFor(server), ...filters, source: src, destination: url });
    expect(pushed).toMatchObject({ uploaded: 3, outcome: 'ok' });
    expect(await remoteKeys(transport, 'p/')).toEqual(SELECTED);
    // The excluded objects arrive from elsewhere; the filtered pull and check ignore them.
    await seed(transport, 'p/b.log', TREE['b.log']);
    await seed(transport, 'p/build/out.bin', TREE['build/out.bin']);

    const dst = tempDir('flib-dst');
    writeTree(dst, IGNORE);
    const pulled = await pull({ ...connFor(server), ...filters, source: url, destination: dst });
    expect(pulled).toMatchObject({ downloaded: 3, outcome: 'ok' });
    expect(userFiles(dst)).toEqual(SELECTED);

    const checked = await check({ ...connFor(server), ...filters, local: dst, remote: url });
    expect(checked).toMatchObject({ outcome: 'ok', same: 3, differences: [] });
    const checkedSrc = await check({ ...connFor(server), ...filters, local: src, remote: url });
    expect(checkedSrc).toMatchObject({ outcome: 'ok', same: 3, differences: [] });
  });

  it('an --exclude-from file and a directory glob work the same way on push and pull', async () => {
    const { bucket, transport } = await newBucket(server, 'ffrom');
    const src = tempDir('ffrom-src');
    writeTree(src, {
      'keep/a.txt': 'a',
      'node_modules/x/index.js': 'x',
      'deep/node_modules/y.js': 'y',
      'notes.tmp': 't',
      'z.txt': 'z',
    });
    const listFile = `${tempDir('ffrom-list')}/globs.txt`;
    writeTree('/', { [listFile.slice(1)]: '# generated\n\n**/node_modules/**\n  *.tmp  \n' });
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', src, url, '--exclude-from', listFile, '--json'], server);
    expect(r.code).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['keep/a.txt', 'z.txt']);

    const all = await runCli(['push', src, `s3://${bucket}/all`], server);
    expect(all.code).toBe(0);
    const dst = tempDir('ffrom-dst');
    const p = await runCli(['pull', `s3://${bucket}/all`, dst, '--exclude-from', listFile, '--json'], server);
    expect(p.code).toBe(0);
    expect(userFiles(dst)).toEqual(['keep/a.txt', 'z.txt']);

    const missing = await runCli(['push', src, url, '--exclude-from', `${listFile}.nope`], server);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--exclude-from file not found/);
  });

  // s3rver stores a key as a file path, so it holds no key with an empty segment.
  it.skipIf(server.name === 'embedded')(
    '.s3syncignore keeps out a key with a doubled slash, as --exclude does: push --delete and pull leave it',
    async () => {
      const { bucket, transport } = await newBucket(server, 'fdbl');
      await seed(transport, 'p//x.log', 'written by a script that joined "p/" and "/x.log"\n');
      const src = tempDir('fdbl-src');
      writeTree(src, { 'a.txt': 'a\n', '.s3syncignore': '*.log\n' });
      const url = `s3://${bucket}/p`;
      const pushed = await runCli(['push', src, url, '--delete', '--force', '--json'], server);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.summary).toMatchObject({ uploaded: 1, deleted: 0 });
      expect(await remoteKeys(transport, 'p/')).toEqual(['/x.log', 'a.txt']);

      const dst = tempDir('fdbl-dst');
      writeTree(dst, { '.s3syncignore': '*.log\n' });
      const pulled = await runCli(['pull', url, dst, '--json'], server);
      expect(pulled.stderr).toBe('');
      expect(pulled.code).toBe(0);
      expect(userFiles(dst)).toEqual(['a.txt']);
    },
  );

  it("a glob's trailing space is the name's: --exclude 'tr ' leaves out and deletes `tr ` alone, not `tr`", async () => {
    const { bucket, transport } = await newBucket(server, 'fspace');
    const src = tempDir('fspace-src');
    writeTree(src, { 'tr ': 'with a space\n', tr: 'without\n', 'a.txt': 'a\n' });
    const url = `s3://${bucket}/p`;
    const all = await runCli(['push', src, url, '--json'], server);
    expect(all.code, all.stderr).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt', 'tr', 'tr ']);
    for (const glob of ['tr ', 'tr\\ ']) {
      const flags = ['--exclude', glob, '--delete', '--delete-excluded', '--force'];
      const dry = await runCli(['push', src, url, ...flags, '--dry-run'], server);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout, glob).toContain('delete tr  [excluded]');
      expect(dry.stdout, glob).not.toContain('delete tr [excluded]');
    }
    const r = await runCli(
      ['push', src, url, '--exclude', 'tr ', '--delete', '--delete-excluded', '--force', '--json'],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 0, deleted: 1 });
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt', 'tr']);
  });

  it("--exclude '[a].txt' is a character class: --delete-excluded deletes a.txt's object and keeps [a].txt's", async () => {
    const { bucket, transport } = await newBucket(server, 'fbracket');
    const src = tempDir('fbracket-src');
    writeTree(src, { 'a.txt': 'a\n', '[a].txt': 'bracketed\n' });
    const url = `s3://${bucket}/p`;
    const all = await runCli(['push', src, url, '--json'], server);
    expect(all.code, all.stderr).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['[a].txt', 'a.txt']);
    const flags = ['--delete', '--delete-excluded', '--force', '--json'];
    const r = await runCli(['push', src, url, '--exclude', '[a].txt', ...flags], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 0, deleted: 1 });
    expect(await remoteKeys(transport, 'p/')).toEqual(['[a].txt']);
    // Escaped, the brackets name the file.
    const lit = await runCli(['push', src, url, '--exclude', '\\[a\\].txt', ...flags], server);
    expect(lit.code, lit.stderr).toBe(0);
    expect(lit.summary).toMatchObject({ uploaded: 1, deleted: 1 });
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt']);
  });

  it("push --delete --delete-excluded keeps the objects at s3sync's own names, as pull keeps the files", async () => {
    const { bucket, transport } = await newBucket(server, 'fown');
    // As `aws s3 sync` of the directory left them, beside data the new tree no longer has.
    for (const key of [
      'p/.s3syncignore',
      'p/.s3sync/x',
      'p/.s3_sync_manifest.json',
      'p/old.tmp',
      'p/gone.txt',
    ])
      await seed(transport, key, `${key}\n`);
    const src = tempDir('fown-src');
    writeTree(src, { 'a.txt': 'a\n', 'b.tmp': 'b\n', '.s3syncignore': '*.tmp\n' });
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', src, url, '--delete', '--delete-excluded', '--force', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, deleted: 2 });
    expect(await remoteKeys(transport, 'p/')).toEqual([
      '.s3_sync_manifest.json',
      '.s3sync/x',
      '.s3syncignore',
      'a.txt',
    ]);
  });

  it("a tree inside the tree keeps its own .s3sync/: never pushed, pulled or deleted from the outer tree's", async () => {
    const { bucket, transport } = await newBucket(server, 'fnest');
    const outer = tempDir('fnest-src');
    writeTree(outer, { 'a.txt': 'a\n', 'sub/b.txt': 'b\n', 'sub/deeper/c.txt': 'c\n' });
    // The inner trees are synced on their own: each gets its manifest (and, while it runs, its lock).
    for (const [inner, key] of [
      ['sub', 'sub'],
      ['sub/deeper', 'deeper'],
    ] as const) {
      const r = await runCli(['push', path.join(outer, inner), `s3://${bucket}/${key}`, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readdirSync(path.join(outer, 'sub', '.s3sync')).length).toBeGreaterThan(0);
    expect(readdirSync(path.join(outer, 'sub', 'deeper', '.s3sync')).length).toBeGreaterThan(0);
    // An object an older version pushed from such a folder, and one of a folder only named like it.
    await seed(transport, 'o/sub/.s3sync/manifest-old.json', 'an inner manifest\n');
    const url = `s3://${bucket}/o`;
    const r = await runCli(['push', outer, url, '--delete', '--force', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 3, deleted: 0 });
    expect(await remoteKeys(transport, 'o/')).toEqual([
      'a.txt',
      'sub/.s3sync/manifest-old.json',
      'sub/b.txt',
      'sub/deeper/c.txt',
    ]);
    const dst = tempDir('fnest-dst');
    const pulled = await runCli(['pull', url, dst, '--delete', '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.summary).toMatchObject({ downloaded: 3, deleted: 0 });
    expect(existsSync(path.join(dst, 'sub', '.s3sync'))).toBe(false);
    // A local inner .s3sync/ is not the outer pull's to delete either.
    mkdirSync(path.join(dst, 'sub', '.s3sync'));
    writeFileSync(path.join(dst, 'sub', '.s3sync', 'manifest-x.json'), 'kept\n');
    const again = await runCli(['pull', url, dst, '--delete', '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(path.join(dst, 'sub', '.s3sync', 'manifest-x.json'), 'utf8')).toBe('kept\n');
  });

  it('a backslash before a letter or digit in a glob is refused; an escaped backslash matches one', async () => {
    const { bucket, transport } = await newBucket(server, 'fesc');
    const src = tempDir('fesc-src');
    writeTree(src, {
      'a.txt': 'a\n',
      'a\\b.txt': 'backslash\n',
      'f5.txt': 'five\n',
      'logs/debug.log': 'd\n',
    });
    const url = `s3://${bucket}/p`;
    const side = tempDir('fesc-side');
    const listFile = path.join(side, 'excludes.txt');
    writeFileSync(listFile, '*.tmp\nlogs\\debug.log\n');
    const WHY = (c: string) =>
      `'\\\\${c}' is no escape \\(a letter or digit needs none\\): a backslash in a name is written '\\\\\\\\', and folders are separated by '/'`;
    // Read as regex classes, these excluded a.txt (`\b`, a word boundary) and f5.txt (`\d`, a digit).
    const cases: [string[], RegExp][] = [
      [['push', src, url, '--exclude', 'a\\b.txt'], new RegExp(`^s3sync: --exclude .*: ${WHY('b')}\n$`)],
      [['push', src, url, '--exclude', 'f\\d.txt'], new RegExp(`^s3sync: --exclude .*: ${WHY('d')}\n$`)],
      [
        ['push', src, url, '--exclude-from', listFile],
        new RegExp(
          `^s3sync: invalid glob in --exclude-from .*excludes\\.txt line 2: .* \\(${WHY('d')}\\)\n$`,
        ),
      ],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, server);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    await expect(
      push({ ...connFor(server), source: src, destination: url, exclude: ['a\\b.txt'] }),
    ).rejects.toThrow(/^option exclude must be a list of globs, got .*is no escape/);
    expect(await remoteKeys(transport, 'p/')).toEqual([]);
    // `\\` is a backslash in a name, `\*` a literal star: those globs mean what they say.
    const r = await runCli(['push', src, url, '--exclude', 'a\\\\b.txt', '--exclude', 'x\\*'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt', 'f5.txt', 'logs/debug.log']);
  });

  it("a glob whose '!' negates nothing or everything is refused from every entry: exit 2, nothing sent", async () => {
    const { bucket, transport } = await newBucket(server, 'fneg');
    const src = tempDir('fneg-src');
    writeTree(src, { 'a.txt': 'a\n', 'd/b.log': 'b\n', '.env': 'SECRET=1\n' });
    const url = `s3://${bucket}/p`;
    const side = tempDir('fneg-side');
    const listFile = path.join(side, 'excludes.txt');
    writeFileSync(listFile, '*.tmp\n!\n');
    const configFile = path.join(side, 's3sync.config.json');
    writeFileSync(
      configFile,
      JSON.stringify({ jobs: [{ command: 'push', source: src, destination: url, exclude: ['*.tmp', '!'] }] }),
    );
    const LONE = "a '!' with no glob after it negates nothing";
    const GLOBS = 'must be a glob or a list of globs';
    // `--exclude '!'` excluded every file and exited 0, as did `!!!` and `!/`; `--include '!'` selected all.
    const cases: [string[], RegExp][] = [
      [['push', src, url, '--exclude', '!'], new RegExp(`^s3sync: --exclude ${GLOBS}, got "!": ${LONE}\n$`)],
      [['push', src, url, '--include', '!'], new RegExp(`^s3sync: --include ${GLOBS}, got "!": ${LONE}\n$`)],
      [
        ['push', src, url, '--exclude', '!/'],
        new RegExp(`^s3sync: --exclude ${GLOBS}, got "!/": ${LONE}\n$`),
      ],
      [['push', src, url, '--exclude', '!!!'], /^s3sync: --exclude .*, got "!!!": it negates more than once/],
      [
        ['push', src, url, '--exclude', '!*'],
        /^s3sync: --exclude .*, got "!\*": it negates a glob that matches every path/,
      ],
      [['pull', url, tempDir('fneg-dst'), '--exclude', '!'], /^s3sync: --exclude .*, got "!": /],
      [['sync', url, `s3://${bucket}/copy`, '--include', '!'], /^s3sync: --include .*, got "!": /],
      [
        ['push', src, url, '--exclude-from', listFile],
        /^s3sync: invalid glob in --exclude-from .*excludes\.txt line 2: "!" \(/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, server);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stdout, args.join(' ')).toBe('');
    }
    const fromConfig = await runCli([], server, { env: { S3SYNC_CONFIG: configFile } });
    expect(fromConfig.code).toBe(2);
    expect(fromConfig.stderr).toMatch(
      new RegExp(`job 1: "exclude" ${GLOBS}, got \\["\\*\\.tmp","!"\\]: "!": ${LONE}\n$`),
    );
    await expect(push({ ...connFor(server), source: src, destination: url, exclude: ['!'] })).rejects.toThrow(
      `option exclude must be a list of globs, got ["!"]: ${LONE}`,
    );
    // One glob as a string: the library's type is a list, and the message says so.
    await expect(
      push({ ...connFor(server), source: src, destination: url, include: '*.txt' as never }),
    ).rejects.toThrow(/^option include must be a list of globs, got "\*\.txt": write \["\*\.txt"\]$/);
    expect(await remoteKeys(transport, 'p/')).toEqual([]);

    // A negation that means something works, anchored too: `!/a.txt` excluded every file, a.txt as well.
    const anchored = await runCli(['push', src, url, '--exclude', '!/a.txt', '--json'], server);
    expect(anchored.code, anchored.stderr).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt']);

    // In .s3syncignore a lone '!' is git's: a line that matches nothing, not one that ignores the tree.
    writeTree(src, { '.s3syncignore': '*.log\n!\n' });
    const ignored = await runCli(['push', src, `s3://${bucket}/ig`, '--json'], server);
    expect(ignored.code, ignored.stderr).toBe(0);
    expect(await remoteKeys(transport, 'ig/')).toEqual(['.env', 'a.txt']);
  });

  it('a link, FIFO or dangling link at a path the filters leave out is not said to be skipped; at one they take in it is', async () => {
    const { bucket, transport } = await newBucket(server, 'fexcl');
    const src = tempDir('fexcl-src');
    const outside = tempDir('fexcl-outside');
    writeTree(src, { 'a.txt': 'a\n', 'cache/real.txt': 'c\n' });
    writeTree(outside, { 'dir/inner.txt': 'i\n', 'file.txt': 'f\n' });
    // Left out by a basename glob, a folder glob and .s3syncignore; and the same kinds taken in.
    symlinkSync(path.join(outside, 'file.txt'), path.join(src, 'skip.tmp'));
    symlinkSync(path.join(outside, 'dir'), path.join(src, 'cache', 'linked'));
    symlinkSync(path.join(outside, 'gone'), path.join(src, 'dangling.tmp'));
    execFileSync('mkfifo', [path.join(src, 'pipe.tmp')]);
    execFileSync('mkfifo', [path.join(src, 'ignored.fifo')]);
    writeFileSync(path.join(src, '.s3syncignore'), '*.fifo\n');
    symlinkSync(path.join(outside, 'file.txt'), path.join(src, 'shown.txt'));
    execFileSync('mkfifo', [path.join(src, 'shown.pipe')]);
    const flags = ['--exclude', '*.tmp', '--exclude', 'cache/**'];
    const said = (events: { type: string; rel?: string }[]) =>
      events
        .filter((e) => e.type === 'notice' || e.type === 'error')
        .map((e) => `${e.type} ${e.rel}`)
        .sort();
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', src, url, ...flags, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(said(r.events)).toEqual(['notice shown.pipe', 'notice shown.txt']);
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt']);
    // Followed: the link taken in is pushed; the dangling one left out is no error, the others no word.
    const f = await runCli(['push', src, `${url}-f`, ...flags, '--follow-symlinks', '--json'], server);
    expect(f.code, f.stderr).toBe(0);
    expect(said(f.events)).toEqual(['notice shown.pipe']);
    expect(await remoteKeys(transport, 'p-f/')).toEqual(['a.txt', 'shown.txt']);
    // A list of paths through the excluded link: no word of the link on the way either.
    const list = path.join(outside, 'list.txt');
    writeFileSync(list, 'a.txt\ncache/linked/inner.txt\nskip.tmp\nshown.txt\n');
    const listed = await runCli(['push', src, url, ...flags, '--files-from', list, '--json'], server);
    expect(listed.code, listed.stderr).toBe(0);
    expect(said(listed.events)).toEqual(['notice shown.txt']);
    // The same through the library: its notice events are the CLI's.
    const events: { type: string; rel?: string }[] = [];
    const lib = await push({
      ...connFor(server),
      source: src,
      destination: url,
      exclude: ['*.tmp', 'cache/**'],
      onEvent: (e) => events.push(e),
    });
    expect(lib.outcome).toBe('ok');
    expect(said(events)).toEqual(['notice shown.pipe', 'notice shown.txt']);
  });

  it("--exclude with a folder's plain name says it leaves out files only; with the '/' it is silent", async () => {
    const { bucket, transport } = await newBucket(server, 'fname');
    const src = tempDir('fname-src');
    writeTree(src, {
      'a.txt': 'a\n',
      'node_modules/x/i.js': 'i\n',
      'sub/node_modules': 'a file\n',
      'cache/c': 'c\n',
    });
    const url = `s3://${bucket}/p`;
    const folderNotices = (events: { type: string; rel?: string; message?: string }[]) =>
      events
        .filter((e) => e.type === 'notice' && /leaves out files of that name/.test(String(e.message)))
        .map((e) => [e.rel, e.message]);
    const r = await runCli(
      ['push', src, url, '--exclude', 'node_modules', '--exclude', 'cache/', '--json'],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(folderNotices(r.events)).toEqual([
      [
        'node_modules/',
        "node_modules/: --exclude 'node_modules' leaves out files of that name, not this folder: write 'node_modules/' to leave it out",
      ],
    ]);
    // As said: the folder's files went, the file of that name did not.
    expect(await remoteKeys(transport, 'p/')).toEqual(['a.txt', 'node_modules/x/i.js']);
    const quiet = await runCli(['push', src, `${url}2`, '--exclude', 'node_modules/', '--json'], server);
    expect(folderNotices(quiet.events)).toEqual([]);
    expect(await remoteKeys(transport, 'p2/')).toEqual(['a.txt', 'cache/c', 'sub/node_modules']);
    // A pull --delete into a tree with such a folder: said before the guard speaks.
    const dst = tempDir('fname-dst');
    writeTree(dst, { 'node_modules/mine.js': 'mine\n', 'node_modules/more.js': 'more\n' });
    const pulled = await runCli(
      ['pull', url, dst, '--exclude', 'node_modules', '--delete', '--dry-run'],
      server,
    );
    expect(pulled.stderr).toContain("notice: node_modules/: --exclude 'node_modules' leaves out files");
    // A pull into an empty folder: the folder is the listing's only, and said all the same.
    const fresh = path.join(tempDir('fname-fresh'), 'new');
    const first = await runCli(['pull', url, fresh, '--exclude', 'node_modules', '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(folderNotices(first.events)).toEqual([
      [
        'node_modules/',
        "node_modules/: --exclude 'node_modules' leaves out files of that name, not this folder: write 'node_modules/' to leave it out",
      ],
    ]);
    expect(existsSync(path.join(fresh, 'node_modules/x/i.js'))).toBe(true);
    // Written in an --exclude-from file, not typed as --exclude: said where it was written.
    const list = path.join(tempDir('fname-list'), 'excludes.txt');
    writeFileSync(list, 'node_modules\n');
    const fromFile = await runCli(['push', src, `${url}3`, '--exclude-from', list, '--json'], server);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(folderNotices(fromFile.events)).toEqual([
      [
        'node_modules/',
        "node_modules/: 'node_modules' in --exclude-from leaves out files of that name, not this folder: write 'node_modules/' to leave it out",
      ],
    ]);
  });

  it("a folder glob ('node_modules/', '.*/') leaves out those folders at any depth, push and pull --delete alike", async () => {
    const { bucket, transport } = await newBucket(server, 'fdepth');
    const src = tempDir('fdepth-src');
    writeTree(src, {
      'a.txt': 'a\n',
      '.env': 'a file, not a folder\n',
      'node_modules/t.js': 't\n',
      'app/node_modules/x/i.js': 'i\n',
      'app/main.js': 'm\n',
      'app/.git/HEAD': 'ref\n',
      '.git/config': 'c\n',
    });
    const url = `s3://${bucket}/p`;
    const folders = ['--exclude', 'node_modules/', '--exclude', '.*/'];
    const r = await runCli(['push', src, url, ...folders, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(await remoteKeys(transport, 'p/')).toEqual(['.env', 'a.txt', 'app/main.js']);
    // Written without the '/', the globs leave out files only, and each says so for its first folder.
    const plain = await runCli(
      ['push', src, `${url}2`, '--exclude', 'node_modules', '--exclude', '.*', '--json'],
      server,
    );
    expect(plain.code, plain.stderr).toBe(0);
    const said = plain.events
      .map((e) => (e.type === 'notice' ? e.message : ''))
      .filter((m) => /leaves out files/.test(m))
      .sort();
    expect(said).toEqual([
      ".git/: --exclude '.*' leaves out files it matches, not folders such as this one: write '.*/' to leave those out",
      "app/node_modules/: --exclude 'node_modules' leaves out files of that name, not this folder: write 'node_modules/' to leave it out",
    ]);
    expect(await remoteKeys(transport, 'p2/')).toEqual([
      '.git/config',
      'a.txt',
      'app/.git/HEAD',
      'app/main.js',
      'app/node_modules/x/i.js',
      'node_modules/t.js',
    ]);
    // A pull --delete never deletes what the folder globs leave out, however deep.
    const dst = tempDir('fdepth-dst');
    writeTree(dst, {
      'app/node_modules/mine.js': 'mine\n',
      'app/.cache/c': 'c\n',
      'gone.txt': 'g\n',
      'a.txt': 'a\n',
      'app/main.js': 'm\n',
    });
    const pulled = await runCli(['pull', url, dst, ...folders, '--delete', '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(existsSync(path.join(dst, 'app/node_modules/mine.js'))).toBe(true);
    expect(existsSync(path.join(dst, 'app/.cache/c'))).toBe(true);
    expect(existsSync(path.join(dst, 'gone.txt'))).toBe(false);
    expect(readFileSync(path.join(dst, 'app/main.js'), 'utf8')).toBe('m\n');
  });

  it("--include with a folder's name says it takes in files only; with the '/' the folder is taken in", async () => {
    const { bucket, transport } = await newBucket(server, 'finc');
    const src = tempDir('finc-src');
    writeTree(src, { 'src/a/x.js': 'x\n', 'docs/d.md': 'd\n', 'lib/src': 'a file named src\n' });
    const url = `s3://${bucket}/p`;
    const named = await runCli(['push', src, url, '--include', 'src', '--json'], server);
    expect(named.code, named.stderr).toBe(0);
    expect(named.events.map((e) => (e.type === 'notice' ? e.message : '')).filter((m) => m !== '')).toEqual([
      "src/: --include 'src' takes in files of that name, not this folder: write 'src/' to take it in",
    ]);
    // As said: the file of that name went, the folder did not.
    expect(await remoteKeys(transport, 'p/')).toEqual(['lib/src']);
    const folder = await runCli(['push', src, `${url}2`, '--include', 'src/', '--json'], server);
    expect(folder.code, folder.stderr).toBe(0);
    expect(folder.events.filter((e) => e.type === 'notice')).toEqual([]);
    expect(await remoteKeys(transport, 'p2/')).toEqual(['src/a/x.js']);
  });

  it.each([
    ["it's cache", `'it'"'"'s cache'`],
    ['two words', "'two words'"],
    ['$HOME `x`', "'$HOME `x`'"],
  ])('a folder named %j: the --exclude advice pastes into a shell as written', async (name, quoted) => {
    const { bucket } = await newBucket(server, 'fquote');
    const src = tempDir('fquote-src');
    writeTree(src, { 'a.txt': 'a\n', [`${name}/x.txt`]: 'x\n' });
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--exclude', name, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    const said = r.events
      .map((e) => (e.type === 'notice' ? e.message : ''))
      .filter((m) => /leaves out files of that name/.test(m));
    expect(said).toEqual([
      `${name}/: --exclude ${quoted} leaves out files of that name, not this folder: write ${quoted.replace(/'$/, "/'")} to leave it out`,
    ]);
    // What a shell makes of the words as printed: the glob given, and the folder's with its '/'.
    const words = /--exclude (.*) leaves out .* write (.*) to leave it out$/.exec(said[0]!)!;
    const shell = (word: string) => execFileSync('sh', ['-c', `printf %s ${word}`]).toString();
    expect(shell(words[1]!)).toBe(name);
    expect(shell(words[2]!)).toBe(`${name}/`);
    // The human line is the same words: nothing in them is escaped again on the way out.
    const human = await runCli(['push', src, `s3://${bucket}/p`, '--exclude', name, '--dry-run'], server);
    expect(human.stderr.split('\n')).toContain(`notice: ${said[0]}`);
  });

  it('a .s3syncignore linked to shared rules is read through the link, never said to be skipped', async () => {
    const { bucket, transport } = await newBucket(server, 'flinkign');
    const shared = tempDir('flinkign-shared');
    writeTree(shared, { ignore: '*.log\n' });
    const src = tempDir('flinkign-src');
    writeTree(src, {
      'a.txt': 'a\n',
      'x.log': 'x\n',
      'rules/common.ignore': '*.tmp\n',
      'b.tmp': 'b\n',
      'sub/y.log': 'y\n',
      'sub/keep.txt': 'k\n',
    });
    const ignoreFile = path.join(src, '.s3syncignore');
    // Only the root's ignore file holds rules: one in a folder is a file as any other, a link too.
    symlinkSync(path.join(shared, 'ignore'), path.join(src, 'sub', '.s3syncignore'));
    const linkNotices = (events: { type: string; rel?: string; message?: string }[]) =>
      events.filter((e) => e.type === 'notice' && /symbolic link/.test(String(e.message))).map((e) => e.rel);

    // A link to a file outside the tree, then one into the tree (its target is data, and is pushed).
    for (const [target, prefix, keys] of [
      [path.join(shared, 'ignore'), 'out', ['a.txt', 'b.tmp', 'rules/common.ignore', 'sub/keep.txt']],
      ['rules/common.ignore', 'in', ['a.txt', 'rules/common.ignore', 'sub/keep.txt', 'sub/y.log', 'x.log']],
    ] as const) {
      rmSync(ignoreFile, { force: true });
      symlinkSync(target, ignoreFile);
      const url = `s3://${bucket}/${prefix}`;
      const r = await runCli(['push', src, url, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      // It said `.s3syncignore: symbolic link skipped` while its rules were applied.
      expect(linkNotices(r.events), prefix).toEqual(['sub/.s3syncignore']);
      expect(await remoteKeys(transport, `${prefix}/`)).toEqual(keys);
      const plain = await runCli(['push', src, url], server);
      expect(plain.code).toBe(0);
      expect(plain.stderr).toBe(
        'notice: sub/.s3syncignore: symbolic link skipped (use --follow-symlinks to follow)\n',
      );
      const followed = await runCli(['push', src, `${url}-f`, '--follow-symlinks', '--json'], server);
      expect(followed.code, followed.stderr).toBe(0);
      expect(linkNotices(followed.events)).toEqual([]);
      expect(await remoteKeys(transport, `${prefix}-f/`)).toEqual([...keys, 'sub/.s3syncignore'].sort());
      const checked = await runCli(['check', src, url], server);
      expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    }

    // Pull into a folder whose ignore file is a link: the rules hold, the link is left as it is.
    await seed(transport, 'out/z.log', 'z\n');
    const dst = tempDir('flinkign-dst');
    symlinkSync(path.join(shared, 'ignore'), path.join(dst, '.s3syncignore'));
    const pulled = await runCli(['pull', `s3://${bucket}/out`, dst, '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(linkNotices(pulled.events)).toEqual([]);
    expect(userFiles(dst)).toEqual(['a.txt', 'b.tmp', 'rules/common.ignore', 'sub/keep.txt']);
    expect(readlinkSync(path.join(dst, '.s3syncignore'))).toBe(path.join(shared, 'ignore'));
  });

  it('a .s3syncignore that cannot be read (a dangling link, a folder, a FIFO, a device) stops the run: exit 2, nothing sent', async () => {
    const { bucket, transport } = await newBucket(server, 'fbadign');
    const src = tempDir('fbadign-src');
    writeTree(src, { 'a.txt': 'a\n', '.env': 'SECRET=1\n' });
    const ignoreFile = path.join(src, '.s3syncignore');
    // The shared rules it linked to were moved: read as no rules, .env was uploaded.
    symlinkSync(path.join(src, 'moved-away'), ignoreFile);
    const url = `s3://${bucket}/p`;
    for (const args of [
      ['push', src, url],
      ['check', src, url],
      ['pull', url, src],
    ]) {
      const r = await runCli(args, server);
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr).toMatch(
        /^s3sync: cannot read the ignore file .*\.s3syncignore: a symbolic link to no file\n$/,
      );
    }
    rmSync(ignoreFile);
    mkdirSync(ignoreFile);
    const dirRun = await runCli(['push', src, url], server);
    expect(dirRun.code).toBe(2);
    expect(dirRun.stderr).toMatch(/^s3sync: cannot read the ignore file .*: EISDIR\n$/);
    // A FIFO waits for a writer, a link to /dev/zero never ends: read, either held the run for good,
    // deaf to signals. Refused at once (the kill timer only bounds a regression).
    for (const [place, kind] of [
      [() => execFileSync('mkfifo', [ignoreFile]), 'FIFO'],
      [() => symlinkSync('/dev/zero', ignoreFile), 'character device'],
    ] as const) {
      rmSync(ignoreFile, { recursive: true, force: true });
      place();
      const run = startCli(['push', src, url], server);
      const killer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      const r = await run.done.finally(() => clearTimeout(killer));
      expect(run.child.signalCode, kind).toBeNull();
      expect(r.code, kind).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `^s3sync: cannot read the ignore file .*\\.s3syncignore: not a regular file \\(${kind}\\)\n$`,
        ),
      );
    }
    expect(await remoteKeys(transport, 'p/')).toEqual([]);
  });
});
