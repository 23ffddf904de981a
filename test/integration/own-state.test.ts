/**
 * s3sync's own state never overwrites the user's files: `--manifest PATH` at a file that is not an
 * s3sync manifest is refused (exit 2, one line) and the file is left exactly as it was, whatever the
 * command, dry run included; the lock and temp files never take an existing file's place. What is
 * s3sync's (nothing, an empty file, a manifest, a link to one) keeps working.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeManifestFile,
  newBucket,
  plainLines,
  seedObject,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** Everything about a path that writing over it would change (a link: itself and its target). */
function snapshot(p: string): unknown {
  const l = lstatSync(p, { bigint: true });
  if (l.isSymbolicLink()) {
    const target = path.resolve(path.dirname(p), readlinkSync(p));
    return { link: readlinkSync(p), ino: l.ino, target: existsSync(target) ? snapshot(target) : 'none' };
  }
  const content = l.isFile() ? readFileSync(p).toString('hex') : l.isDirectory() ? readdirSync(p) : 'special';
  return { content, mtime: l.mtimeNs, ino: l.ino, mode: l.mode };
}

/** Runs the CLI; a FIFO read would block it forever, so it is killed after a while and reported. */
async function cli(args: string[], server: TestServer) {
  const run = spawnCli(args, server);
  const watchdog = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  const { code } = await run.exited;
  clearTimeout(watchdog);
  return { code, stdout: run.stdout(), stderr: run.stderr(), events: run.events };
}

const pythonManifestWithOddEntry = JSON.stringify({
  version: '1.0',
  last_sync: '2024-05-01T12:00:00',
  files: {
    'q/a.txt': { local_path: 'database/a.txt', size: 6, md5: '0'.repeat(32), uploaded_at: 'x' },
    'q/odd.txt': { local_path: 'database/odd.txt', size: 6 },
  },
});

/** A user's thing at the chosen path; returns the path to pass as --manifest. */
const userThings: [string, (home: string) => string][] = [
  [
    'a notes file',
    (home) => {
      writeFileSync(path.join(home, 'notes.txt'), 'call the bank on monday\n');
      return path.join(home, 'notes.txt');
    },
  ],
  [
    'a JSON object of another tool',
    (home) => {
      writeFileSync(path.join(home, 'package.json'), '{"name":"x","version":"1.0.0"}\n');
      return path.join(home, 'package.json');
    },
  ],
  [
    "the Python script's manifest with one odd entry",
    (home) => {
      writeFileSync(path.join(home, '.s3_sync_manifest.json'), pythonManifestWithOddEntry);
      return path.join(home, '.s3_sync_manifest.json');
    },
  ],
  [
    'binary junk',
    (home) => {
      writeFileSync(
        path.join(home, 'photo.jpg'),
        Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 193 + 11) % 256)),
      );
      return path.join(home, 'photo.jpg');
    },
  ],
  [
    'a directory',
    (home) => {
      mkdirSync(path.join(home, 'docs'));
      writeFileSync(path.join(home, 'docs', 'a.txt'), 'a');
      return path.join(home, 'docs');
    },
  ],
  [
    'a symlink to a user file',
    (home) => {
      writeFileSync(path.join(home, 'diary.txt'), 'dear diary\n');
      symlinkSync(path.join(home, 'diary.txt'), path.join(home, 'state.json'));
      return path.join(home, 'state.json');
    },
  ],
  [
    'a symlink to nothing',
    (home) => {
      symlinkSync(path.join(home, 'not-yet', 'x.json'), path.join(home, 'state.json'));
      return path.join(home, 'state.json');
    },
  ],
  [
    'a FIFO',
    (home) => {
      execFileSync('mkfifo', [path.join(home, 'pipe')]);
      return path.join(home, 'pipe');
    },
  ],
];

describe.each(servers())("s3sync's own state on $name", (server) => {
  let bucket: string;
  let src: string;
  let transport: Awaited<ReturnType<typeof newBucket>>['transport'];
  const setup = async () => {
    if (bucket) return;
    ({ bucket, transport } = await newBucket(server, 'own'));
    // An object for pull and check to find: a pull that went ahead would write it.
    await seedObject(transport, 'p/seed.txt', 'seeded\n');
    src = dir('own-src');
    writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.txt': 'bravo\n' });
  };

  describe.each(userThings)('--manifest at %s', (_what, make) => {
    it.each([
      ['push', (m: string) => ['push', src, `s3://${bucket}/q`, '--manifest', m]],
      ['push --dry-run', (m: string) => ['push', src, `s3://${bucket}/q`, '--manifest', m, '--dry-run']],
      ['pull', (m: string) => ['pull', `s3://${bucket}/p`, dir('own-dst'), '--manifest', m]],
      ['check', (m: string) => ['check', src, `s3://${bucket}/q`, '--manifest', m]],
    ])('%s refuses with exit 2 and one line, and leaves it as it was', async (command, args) => {
      await setup();
      const home = dir('own-home');
      const chosen = make(home);
      const before = snapshot(chosen);
      const beside = readdirSync(home).sort();
      const argv = args(chosen);
      const run = await cli(argv, server);

      expect(run.code, run.stderr).toBe(2);
      const lines = plainLines(run.stderr);
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toContain(chosen);
      expect(run.stderr).not.toMatch(/^\s+at /m);
      expect(snapshot(chosen)).toEqual(before);
      // No lock, no temp file, no manifest put beside it.
      expect(readdirSync(home).sort()).toEqual(beside);
      // Nothing moved: no object under the push prefix, no file in the pull target.
      expect((await transport.list('q/')).size).toBe(0);
      if (command === 'pull') expect(readdirSync(argv[2]!)).toEqual([]);
    });
  });

  it("keys and files named as s3sync's own in another case are never pulled or pushed", async () => {
    await setup();
    const own = { '.S3SyncIgnore': '*.txt\n', '.S3SYNCIGNORE': '*\n', '.S3sync/evil.txt': 'evil\n' };
    const more = { 'a/.S3Sync/x': 'x\n', '.S3_SYNC_MANIFEST.JSON': '{}' };
    const users = {
      'data.txt': 'data\n',
      '.s3syncignore2': 'u\n',
      'x.s3sync': 'u\n',
      '.s3sync-old/y': 'u\n',
    };
    for (const [rel, body] of Object.entries({ ...own, ...more, ...users }))
      await seedObject(transport, `case/${rel}`, body);
    const target = dir('own-case');
    const pull = await cli(['pull', `s3://${bucket}/case`, target, '--json'], server);
    expect(pull.code, pull.stderr).toBe(0);
    expect(summaryOf(pull.events)).toMatchObject({ downloaded: 4, failed: 0 });
    expect(Object.keys(treeHashes(target)).sort()).toEqual(Object.keys(users).sort());

    // Such local files (a case-sensitive file system holds them beside the real ones) stay home too.
    writeTree(target, { ...own, ...more, 'new.txt': 'new\n' });
    const push = await cli(['push', target, `s3://${bucket}/case-out`, '--json'], server);
    expect(push.code, push.stderr).toBe(0);
    expect([...(await transport.list('case-out/')).keys()].sort()).toEqual(
      [...Object.keys(users), 'new.txt'].sort(),
    );
  });

  it('a user file where the lock goes: refused, untouched, nothing uploaded', async () => {
    await setup();
    const home = dir('own-lock');
    const manifest = path.join(home, 'state.json');
    writeFileSync(`${manifest}.lock`, 'my own notes, named like a lock\n');
    const before = snapshot(`${manifest}.lock`);
    const run = await cli(['push', src, `s3://${bucket}/q`, '--manifest', manifest], server);
    expect(run.code, run.stderr).toBe(2);
    expect(plainLines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/state\.json\.lock exists and is not an s3sync lock file/);
    expect(snapshot(`${manifest}.lock`)).toEqual(before);
    expect(readdirSync(home)).toEqual(['state.json.lock']);
    expect((await transport.list('q/')).size).toBe(0);
  });

  it('takes an empty file and a link to a manifest, and syncs a user file named after the manifest', async () => {
    await setup();
    const home = dir('own-ok');
    // An empty file: made for the manifest (mktemp), nothing in it to lose.
    const empty = path.join(home, 'empty.json');
    writeFileSync(empty, '');
    const url = `s3://${bucket}/ok1`;
    const first = await cli(['push', src, url, '--manifest', empty, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(summaryOf(first.events)).toMatchObject({ uploaded: 2 });
    expect(readFileSync(empty, 'utf8')).toMatch(/^\{"schema":"s3sync-manifest"/);
    const again = await cli(['push', src, url, '--manifest', empty, '--json'], server);
    expect(summaryOf(again.events)).toMatchObject({ uploaded: 0, requestsTotal: 0 });

    // A link to a manifest kept elsewhere: the manifest is written through it, the link stays a link.
    const link = path.join(home, 'link.json');
    symlinkSync(empty, link);
    const viaLink = await cli(['push', src, url, '--manifest', link, '--json'], server);
    expect(viaLink.code, viaLink.stderr).toBe(0);
    expect(summaryOf(viaLink.events)).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    writeFileSync(path.join(src, 'a.txt'), 'alpha, changed\n');
    const changed = await cli(['push', src, url, '--manifest', link, '--json'], server);
    expect(summaryOf(changed.events)).toMatchObject({ uploaded: 1 });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect([...decodeManifestFile(empty).files.keys()].sort()).toEqual(['a.txt', 'sub/b.txt']);

    // A manifest inside the tree: it and its lock are s3sync's, a `.bak` of it is the user's.
    const tree = dir('own-tree');
    // And the save's temp file a kill left there is s3sync's too: not synced, and reused by the save.
    writeTree(tree, {
      'data.txt': 'data\n',
      'state.json.bak': 'an old copy the user made\n',
      'state.json.saving': '{"schema":"s3',
    });
    const inTree = await cli(
      ['push', tree, `s3://${bucket}/ok2`, '--manifest', path.join(tree, 'state.json'), '--json'],
      server,
    );
    expect(inTree.code, inTree.stderr).toBe(0);
    expect([...(await transport.list('ok2/')).keys()].sort()).toEqual(['data.txt', 'state.json.bak']);
    expect(statSync(path.join(tree, 'state.json')).isFile()).toBe(true);
    expect(existsSync(path.join(tree, 'state.json.saving'))).toBe(false);
  });
});
