/**
 * Pull never creates, replaces or deletes anything outside the target directory: not through a
 * symbolic link already in the target, at any depth, to anywhere; not through one swapped in while
 * the pull runs; not with --delete; and with --follow-symlinks only through links to directories
 * inside the target. Each refused path is one error line (exit 1) and the rest of the pull goes on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tmpFolderName } from '../../src/manifest/store.js';
import { endpointFor } from '../../src/s3/client-options.js';
import type { S3Transport } from '../../src/s3/transport.js';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  type CliRun,
  connFor,
  MiB,
  newBucket,
  runCli,
  seedObject,
  servers,
  spawnCli,
  tempDir,
  tempFolders,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/** Every entry below dir, without following links: path → file content, 'dir', or '-> link target'. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (abs: string, rel: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const p = path.join(abs, e.name);
      if (e.isSymbolicLink()) out[r] = `-> ${readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[r] = 'dir';
        walk(p, r);
      } else out[r] = readFileSync(p, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

/** A target and, beside it, a directory it must never touch (with a file and a subdirectory). */
function layout(label: string): { base: string; target: string; outside: string } {
  const base = realpathSync(tempDir(label));
  const target = path.join(base, 'target');
  const outside = path.join(base, 'outside');
  mkdirSync(target);
  mkdirSync(path.join(outside, 'sub'), { recursive: true });
  writeFileSync(path.join(outside, 'victim.txt'), 'victim');
  writeFileSync(path.join(outside, 'sub/victim2.txt'), 'victim2');
  return { base, target, outside };
}

const errorsOf = (events: SyncEvent[]) =>
  events
    .filter((e): e is Extract<SyncEvent, { type: 'error' }> => e.type === 'error')
    .map((e) => e.message)
    .sort();

const warningsOf = (events: SyncEvent[]) =>
  events
    .filter((e): e is Extract<SyncEvent, { type: 'warning' }> => e.type === 'warning')
    .map((e) => e.message)
    .sort();

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error: '));

async function seedAll(t: S3Transport, objects: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, body] of Object.entries(objects)) await seedObject(t, `p/${rel}`, body);
}

const isLink = (p: string) => lstatSync(p).isSymbolicLink();

const MODES = [
  { mode: 'without --follow-symlinks', flags: [] as string[] },
  { mode: 'with --follow-symlinks', flags: ['--follow-symlinks'] },
];

describe.each(servers())('pull confined to its target on $name', (server) => {
  it.each(MODES)('a directory link in the target never leads a write outside ($mode)', async ({ flags }) => {
    const { base, target, outside } = layout('confine-dirlink');
    mkdirSync(path.join(target, 'a/b'), { recursive: true });
    symlinkSync(outside, path.join(target, 'link')); // depth 1
    symlinkSync(outside, path.join(target, 'a/b/link')); // depth 3
    symlinkSync('/', path.join(target, 'root')); // the file system root
    symlinkSync('..', path.join(target, 'up')); // the target's parent, relative
    symlinkSync(path.join(outside, 'nothing/here'), path.join(target, 'dangling'));
    symlinkSync(path.join(outside, 'victim.txt'), path.join(target, 'tofile')); // a file where a dir is expected
    const evil = [
      'link/evil.txt',
      'link/sub/victim2.txt', // an existing file outside, to be replaced
      'link/new/deeper/evil.txt', // directories to be made outside
      'a/b/link/evil.txt',
      `root/${path.relative('/', outside)}/evil.txt`,
      'up/outside/victim.txt',
      'dangling/evil.txt',
      'tofile/evil.txt',
    ];
    const { bucket, transport } = await newBucket(server, 'confine');
    await seedAll(transport, {
      ...Object.fromEntries(evil.map((k) => [k, `evil ${k}`])),
      'good.txt': 'good',
      'a/b/ok.txt': 'ok',
    });
    const before = snapshot(outside);
    const url = `s3://${bucket}/p`;

    // Twice: a refused path stays refused on every pull, and nothing is written outside either time.
    for (const json of [false, true]) {
      const r = await runCli(['pull', url, target, ...flags, ...(json ? ['--json'] : [])], server);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      if (json) {
        expect(r.summary).toMatchObject({ failed: evil.length });
        const errors = errorsOf(r.events);
        expect(errors).toHaveLength(evil.length);
        for (const key of evil) {
          const link = key
            .split('/')
            .slice(0, key.startsWith('a/') ? 3 : 1)
            .join('/');
          expect(errors).toContainEqual(
            expect.stringMatching(new RegExp(`^${key}: not written: '${link}' is a`)),
          );
        }
      } else {
        const lines = errorLines(r.stderr);
        expect(lines).toHaveLength(evil.length);
        for (const key of evil)
          expect(lines.some((l) => l.startsWith(`error: ${key}: not written: `))).toBe(true);
      }
      expect(snapshot(outside)).toEqual(before);
      expect(readdirSync(base).sort()).toEqual(['outside', 'target']);
      expect(readFileSync(path.join(target, 'good.txt'), 'utf8')).toBe('good');
      expect(readFileSync(path.join(target, 'a/b/ok.txt'), 'utf8')).toBe('ok');
      for (const l of ['link', 'a/b/link', 'root', 'up', 'dangling', 'tofile'])
        expect(isLink(path.join(target, l))).toBe(true);
      expect(tempFolders(target)).toEqual([]);
    }
  });

  it('--follow-symlinks goes through links to directories inside the target, and only with it', async () => {
    const { target, outside } = layout('confine-inside');
    mkdirSync(path.join(target, 'real/deep'), { recursive: true });
    mkdirSync(path.join(target, 'a'));
    symlinkSync('real', path.join(target, 'sibling'));
    symlinkSync('../real/deep', path.join(target, 'a/deep'));
    const { bucket, transport } = await newBucket(server, 'confine-in');
    await seedAll(transport, { 'sibling/x.txt': 'x', 'a/deep/y.txt': 'y', 'real/z.txt': 'z' });
    const url = `s3://${bucket}/p`;
    const before = snapshot(outside);

    const plain = await runCli(['pull', url, target, '--json'], server);
    expect(plain.code).toBe(1);
    expect(errorsOf(plain.events)).toEqual([
      "a/deep/y.txt: not written: 'a/deep' is a symbolic link (followed only with --follow-symlinks, and only inside the target)",
      "sibling/x.txt: not written: 'sibling' is a symbolic link (followed only with --follow-symlinks, and only inside the target)",
    ]);
    expect(readdirSync(path.join(target, 'real')).sort()).toEqual(['deep', 'z.txt']);

    const follow = await runCli(['pull', url, target, '--follow-symlinks', '--json'], server);
    expect(follow.stderr).toBe('');
    expect(follow.code).toBe(0);
    expect(follow.summary).toMatchObject({ downloaded: 2, failed: 0 });
    // real/z.txt is already there: unchanged, or re-hashed and recorded when its mtime (the object's
    // whole-second LastModified) fell within a timestamp tick still open when the first pull began.
    expect(follow.summary!.unchanged + follow.summary!.recorded).toBe(1);
    expect(readFileSync(path.join(target, 'real/x.txt'), 'utf8')).toBe('x');
    expect(readFileSync(path.join(target, 'real/deep/y.txt'), 'utf8')).toBe('y');
    expect(isLink(path.join(target, 'sibling'))).toBe(true);
    expect(isLink(path.join(target, 'a/deep'))).toBe(true);

    // The scan reads through the same links: the next pull has nothing to do.
    const again = await runCli(['pull', url, target, '--follow-symlinks', '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 0, failed: 0 });
    expect(again.summary!.unchanged + again.summary!.recorded).toBe(3);
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1 });
    expect(snapshot(outside)).toEqual(before);
  });

  it('--follow-symlinks: two keys for one file keep the object of the path the file is stored at', async () => {
    const { target, outside } = layout('confine-twins');
    mkdirSync(path.join(target, 'real/deep'), { recursive: true });
    mkdirSync(path.join(target, 'a'));
    symlinkSync('real', path.join(target, 'link'));
    symlinkSync('real', path.join(target, 'link2'));
    symlinkSync('../real/deep', path.join(target, 'a/deep'));
    const objects = {
      'real/x.txt': 'stored path',
      'link/x.txt': 'through a link',
      'real/deep/y.txt': 'deep, stored path',
      'a/deep/y.txt': 'deep, through a link',
      'real/same.txt': 'same bytes',
      'link/same.txt': 'same bytes',
      // Neither is the stored path (real/w.txt has no object): the first in the listing keeps it.
      'link/w.txt': 'first link',
      'link2/w.txt': 'second link',
    };
    const { bucket, transport } = await newBucket(server, 'confine-twins');
    await seedAll(transport, objects);
    const before = snapshot(outside);
    const through = (rel: string, other: string) =>
      `${rel}: not written: the same file as "${other}" (reached through a followed link)`;

    // Each pull the same: the other key is refused, never written over the file, which would swap the
    // two objects on every later pull.
    for (let run = 0; run < 3; run++) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target, '--follow-symlinks', '--json'], server);
      expect(r.code, `run ${run}: ${r.stderr}`).toBe(1);
      expect(errorsOf(r.events)).toEqual([
        through('a/deep/y.txt', 'real/deep/y.txt'),
        through('link/x.txt', 'real/x.txt'),
        through('link2/w.txt', 'link/w.txt'),
      ]);
      expect(r.summary).toMatchObject({ downloaded: run === 0 ? 4 : 0, failed: 3 });
      expect(readFileSync(path.join(target, 'real/x.txt'), 'utf8')).toBe('stored path');
      expect(readFileSync(path.join(target, 'real/deep/y.txt'), 'utf8')).toBe('deep, stored path');
      expect(readFileSync(path.join(target, 'real/same.txt'), 'utf8')).toBe('same bytes');
      expect(readFileSync(path.join(target, 'real/w.txt'), 'utf8')).toBe('first link');
      expect(readdirSync(path.join(target, 'real')).sort()).toEqual(['deep', 'same.txt', 'w.txt', 'x.txt']);
    }
    expect(snapshot(outside)).toEqual(before);
  });

  it.each(MODES)('a link at the final name is replaced, never written through ($mode)', async ({ flags }) => {
    const { target, outside } = layout('confine-final');
    mkdirSync(path.join(target, 'd'));
    writeFileSync(path.join(target, 'real.txt'), 'real');
    symlinkSync(path.join(outside, 'victim.txt'), path.join(target, 'a.txt')); // to a file outside
    symlinkSync(path.join(outside, 'none.txt'), path.join(target, 'b.txt')); // dangling
    symlinkSync('../../outside/victim.txt', path.join(target, 'd/e.txt')); // deeper, relative
    symlinkSync('real.txt', path.join(target, 'in.txt')); // to a file inside
    symlinkSync(outside, path.join(target, 'c')); // to a directory: refused like a directory
    const objects = {
      'a.txt': 'object a',
      'b.txt': 'object b',
      'd/e.txt': 'object e',
      'in.txt': 'object in',
      c: 'object c',
    };
    const { bucket, transport } = await newBucket(server, 'confine-final');
    await seedAll(transport, objects);
    const before = snapshot(outside);

    const r = await runCli(['pull', `s3://${bucket}/p`, target, ...flags, '--json'], server);
    expect(r.code).toBe(1);
    expect(errorsOf(r.events)).toEqual(['c: not written: a symbolic link to a directory is in the way']);
    expect(r.summary).toMatchObject({ downloaded: 4, failed: 1 });
    for (const rel of ['a.txt', 'b.txt', 'd/e.txt', 'in.txt']) {
      expect(isLink(path.join(target, rel))).toBe(false);
      expect(readFileSync(path.join(target, rel), 'utf8')).toBe(objects[rel as keyof typeof objects]);
    }
    expect(isLink(path.join(target, 'c'))).toBe(true);
    expect(readFileSync(path.join(target, 'real.txt'), 'utf8')).toBe('real');
    expect(snapshot(outside)).toEqual(before);
    expect(existsSync(path.join(outside, 'none.txt'))).toBe(false);
  });

  it.each(MODES)(
    'a dry run fails, and a plan warns of, the downloads the real run refuses, only those ($mode)',
    async ({ flags }) => {
      const { base, target, outside } = layout('confine-dry');
      mkdirSync(path.join(target, 'folder.txt')); // a folder where an object's file goes
      writeFileSync(path.join(target, 'folder.txt/mine'), 'mine');
      writeFileSync(path.join(target, 'plain'), 'a file where an object needs a folder');
      mkdirSync(path.join(target, 'sub/deep'), { recursive: true });
      writeFileSync(path.join(target, 'sub/deep/file'), 'deeper, a file where a folder goes');
      symlinkSync(outside, path.join(target, 'away')); // to a directory outside
      symlinkSync(path.join(outside, 'sub'), path.join(target, 'c')); // at an object's own name
      mkdirSync(path.join(target, 'inside'));
      symlinkSync('inside', path.join(target, 'in')); // to a directory inside: gone through when followed
      const objects = {
        'folder.txt': 'object over a folder',
        'plain/x.txt': 'object below a file',
        'sub/deep/file/y.txt': 'object below a deeper file',
        'away/z.txt': 'object through a link outside',
        c: 'object over a directory link',
        'in/w.txt': 'object through a link inside',
        'ok.txt': 'fine',
        'new/dir/ok.txt': 'fine, folders made',
      };
      const { bucket, transport } = await newBucket(server, 'confine-dry');
      await seedAll(transport, objects);
      const before = snapshot(target);
      const untouched = snapshot(outside);

      const dry = await runCli(['pull', `s3://${bucket}/p`, target, ...flags, '--dry-run', '--json'], server);
      expect(snapshot(target)).toEqual(before);
      // A plan keeps every download (the way may be cleared before apply) and warns of the same ones.
      const planFile = path.join(base, 'plan.json');
      const planned = await runCli(
        ['plan', 'pull', `s3://${bucket}/p`, target, ...flags, '--out', planFile, '--json'],
        server,
      );
      expect(planned.code, planned.stderr).toBe(0);
      expect(snapshot(target)).toEqual(before);
      const real = await runCli(['pull', `s3://${bucket}/p`, target, ...flags, '--json'], server);
      const refused = [
        "away/z.txt: not written: 'away' is a symbolic link to a path outside the target",
        'c: not written: a symbolic link to a directory is in the way',
        'folder.txt: not written: a directory is in the way',
        "plain/x.txt: not written: 'plain' is a file, not a directory",
        "sub/deep/file/y.txt: not written: 'sub/deep/file' is a file, not a directory",
      ];
      const follows = flags.length > 0;
      if (!follows) {
        refused[0] =
          "away/z.txt: not written: 'away' is a symbolic link (followed only with --follow-symlinks, and only inside the target)";
        refused.push(
          "in/w.txt: not written: 'in' is a symbolic link (followed only with --follow-symlinks, and only inside the target)",
        );
      }
      expect(errorsOf(real.events)).toEqual(refused.sort());
      expect(errorsOf(dry.events)).toEqual(errorsOf(real.events));
      expect(warningsOf(planned.events)).toEqual(
        refused.map((m) => `${m}: apply fails it unless that is cleared first`),
      );
      const plannedRels = (
        JSON.parse(readFileSync(planFile, 'utf8')) as { actions: { rel: string }[] }
      ).actions
        .map((a) => a.rel)
        .sort();
      expect(plannedRels).toEqual(Object.keys(objects).sort());
      const downloads = (events: SyncEvent[], kind: 'action' | 'done') =>
        events
          .filter((e) => e.type === kind && 'action' in e && e.action === 'download')
          .map((e) => (e as { rel: string }).rel)
          .sort();
      expect(downloads(dry.events, 'action')).toEqual(downloads(real.events, 'done'));
      expect(downloads(real.events, 'done')).toEqual(
        follows ? ['in/w.txt', 'new/dir/ok.txt', 'ok.txt'] : ['new/dir/ok.txt', 'ok.txt'],
      );
      for (const r of [dry, real]) {
        expect(r.code, r.stderr).toBe(1);
        expect(r.summary).toMatchObject({ downloaded: follows ? 3 : 2, failed: refused.length });
      }
      expect(readFileSync(path.join(target, 'folder.txt/mine'), 'utf8')).toBe('mine');
      expect(snapshot(outside)).toEqual(untouched);
    },
  );

  it.each(MODES)(
    'a folder in the way that holds no file is replaced by the file; one holding anything stays ($mode)',
    async ({ flags }) => {
      const { base, target, outside } = layout('confine-emptydir');
      // Folders at objects' names: empty ones nested, and ones that hold something the run must keep.
      mkdirSync(path.join(target, 'empty/b/c'), { recursive: true });
      mkdirSync(path.join(target, 'empty/d'));
      mkdirSync(path.join(target, 'bare'));
      mkdirSync(path.join(target, 'hidden/deep'), { recursive: true });
      writeFileSync(path.join(target, 'hidden/deep/.keep'), 'hidden');
      mkdirSync(path.join(target, 'excluded'));
      writeFileSync(path.join(target, 'excluded/notes.log'), 'excluded');
      mkdirSync(path.join(target, 'emptyreal'));
      symlinkSync('emptyreal', path.join(target, 'linked')); // a link to an empty folder inside
      symlinkSync(path.join(outside, 'sub'), path.join(target, 'away'));
      mkdirSync(path.join(outside, 'hollow'));
      symlinkSync(path.join(outside, 'hollow'), path.join(target, 'hollow')); // to an empty folder outside
      const objects = {
        empty: 'object over empty folders',
        bare: 'object over one empty folder',
        hidden: 'object over a hidden file',
        excluded: 'object over an excluded file',
        linked: 'object over a link to an empty folder',
        hollow: 'object over a link to an empty folder outside',
      };
      const { bucket, transport } = await newBucket(server, 'confine-emptydir');
      await seedAll(transport, objects);
      const url = `s3://${bucket}/p`;
      const args = [...flags, '--exclude', '*.log', '--json'];
      const before = snapshot(target);
      const untouched = snapshot(outside);
      const refused = [
        'excluded: not written: a directory is in the way',
        'hidden: not written: a directory is in the way',
        'hollow: not written: a symbolic link to a directory is in the way',
        'linked: not written: a symbolic link to a directory is in the way',
      ];

      const dry = await runCli(['pull', url, target, ...args, '--dry-run'], server);
      expect(snapshot(target)).toEqual(before);
      const planFile = path.join(base, 'plan.json');
      const planned = await runCli(['plan', 'pull', url, target, ...args, '--out', planFile], server);
      expect(planned.code, planned.stderr).toBe(0);
      expect(warningsOf(planned.events)).toEqual(
        refused.map((m) => `${m}: apply fails it unless that is cleared first`),
      );
      expect(snapshot(target)).toEqual(before);
      const real = await runCli(['pull', url, target, ...args], server);
      const again = await runCli(['pull', url, target, ...args], server);
      for (const r of [dry, real, again]) {
        expect(r.code, r.stderr).toBe(1);
        expect(errorsOf(r.events)).toEqual(refused);
      }
      expect(
        dry.events
          .filter((e): e is Extract<SyncEvent, { type: 'action' }> => e.type === 'action')
          .filter((e) => e.action === 'download')
          .map((e) => e.rel),
      ).toEqual(['bare', 'empty']);
      expect(real.summary).toMatchObject({ downloaded: 2, failed: 4 });
      expect(again.summary).toMatchObject({ downloaded: 0, failed: 4 });
      expect(readFileSync(path.join(target, 'empty'), 'utf8')).toBe(objects.empty);
      expect(readFileSync(path.join(target, 'bare'), 'utf8')).toBe(objects.bare);
      expect(readFileSync(path.join(target, 'hidden/deep/.keep'), 'utf8')).toBe('hidden');
      expect(readFileSync(path.join(target, 'excluded/notes.log'), 'utf8')).toBe('excluded');
      expect(isLink(path.join(target, 'linked'))).toBe(true);
      expect(lstatSync(path.join(target, 'emptyreal')).isDirectory()).toBe(true);
      expect(isLink(path.join(target, 'hollow'))).toBe(true);
      expect(snapshot(outside)).toEqual(untouched);
    },
  );

  it.each(MODES)('--delete never deletes through a link ($mode)', async ({ mode, flags }) => {
    const { target, outside } = layout('confine-delete');
    const follow = flags.length > 0;
    mkdirSync(path.join(target, 'a'));
    mkdirSync(path.join(target, 'real'));
    writeFileSync(path.join(target, 'local-only.txt'), 'no object');
    writeFileSync(path.join(target, 'real/old.txt'), 'no object either');
    // Already there with their objects' content (recorded, not downloaded): the scan sees them.
    writeFileSync(path.join(target, 'keep.txt'), 'keep');
    writeFileSync(path.join(target, 'real/kept.txt'), 'kept');
    symlinkSync(outside, path.join(target, 'link')); // outside, depth 1: victim.txt, sub/victim2.txt
    symlinkSync(outside, path.join(target, 'a/link')); // outside, depth 2
    symlinkSync('/', path.join(target, 'root'));
    symlinkSync(path.join(outside, 'victim.txt'), path.join(target, 'flink.txt')); // final name, outside
    symlinkSync('real', path.join(target, 'sibling')); // inside
    symlinkSync('keep.txt', path.join(target, 'ilink.txt')); // final name, inside
    const { bucket, transport } = await newBucket(server, 'confine-del');
    // real/kept.txt has an object, sibling/kept.txt (the same file through the link) has none.
    await seedAll(transport, { 'keep.txt': 'keep', 'real/kept.txt': 'kept' });
    const before = snapshot(outside);

    const r = await runCli(
      ['pull', `s3://${bucket}/p`, target, '--delete', '--force', ...flags, '--json'],
      server,
    );
    expect(r.stderr, mode).toBe('');
    expect(r.code).toBe(0);
    const deleted = r.events
      .filter((e) => e.type === 'done' && e.action === 'delete')
      .map((e) => (e as { rel: string }).rel)
      .sort();
    // Without the flag the scan goes through no link at all. With it, through 'sibling' and 'ilink.txt'
    // only: real/old.txt goes once under one of its two paths, real/kept.txt stays for its object, and
    // the link ilink.txt is unlinked itself while keep.txt stays.
    if (follow) {
      expect(deleted).toHaveLength(3);
      expect(deleted).toContain('local-only.txt');
      expect(deleted).toContain('ilink.txt');
      expect(deleted.filter((d) => d.endsWith('old.txt'))).toHaveLength(1);
      expect(existsSync(path.join(target, 'ilink.txt'))).toBe(false);
    } else {
      expect(deleted).toEqual(['local-only.txt', 'real/old.txt']);
      expect(isLink(path.join(target, 'ilink.txt'))).toBe(true);
    }
    expect(existsSync(path.join(target, 'real/old.txt'))).toBe(false);
    expect(readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('keep');
    expect(readFileSync(path.join(target, 'real/kept.txt'), 'utf8')).toBe('kept');
    for (const l of ['link', 'a/link', 'root', 'flink.txt', 'sibling'])
      expect(isLink(path.join(target, l))).toBe(true);
    expect(snapshot(outside)).toEqual(before);
  });

  it('writes into a folder of the target on another mount (a filesystem, a bind mount): no EXDEV', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('[pull-confine] NOTICE: not root: the mount test is skipped');
      return ctx.skip();
    }
    const base = realpathSync(tempDir('confine-mount'));
    const image = path.join(base, 'sub.img');
    const { bucket, transport } = await newBucket(server, 'confine-mount');
    // Small (one GET, written whole) and large (ranged) objects into the mounted folder.
    await seedAll(transport, { 'a.txt': 'a', 'sub/x.txt': 'x', 'sub/deep/y.txt': 'y' });
    const big = Buffer.alloc(6 * MiB, 7);
    await seedObject(transport, 'p/sub/big.bin', big);
    const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
    expect(run('truncate', ['-s', '32M', image]).status).toBe(0);
    expect(run('mkfs.ext4', ['-q', '-F', image]).status).toBe(0);
    const mounted: string[] = [];
    try {
      const kinds: [string, (at: string) => string[]][] = [
        ['a filesystem', (at) => ['-o', 'loop', image, at]],
        ['a bind mount', (at) => ['--bind', mkdtempSync(path.join(base, 'bound-')), at]],
      ];
      for (const [what, args] of kinds) {
        const target = mkdtempSync(path.join(base, 't-'));
        mkdirSync(path.join(target, 'sub'));
        const m = run('mount', args(path.join(target, 'sub')));
        expect(m.status, `${what}: ${m.stderr}`).toBe(0);
        mounted.push(path.join(target, 'sub'));
        const r = await runCli(
          ['pull', `s3://${bucket}/p`, target, '--multipart-threshold', '5MiB', '--json'],
          server,
        );
        expect(r.code, `${what}: ${JSON.stringify(r.summary?.errors)}`).toBe(0);
        expect(r.summary).toMatchObject({ downloaded: 4, failed: 0 });
        expect(readFileSync(path.join(target, 'sub/deep/y.txt'), 'utf8')).toBe('y');
        expect(readFileSync(path.join(target, 'sub/big.bin')).equals(big)).toBe(true);
        // No temp file left beside them; one a killed run of this destination left is s3sync's own: never
        // sent, never counted as a deletion, and removed by the next pull (not by a dry run, nor by a
        // push). Its name starts with the destination's 8 hex; another destination's is left for an hour.
        expect(readdirSync(path.join(target, 'sub')).filter((n) => n.endsWith('.part'))).toEqual([]);
        const endpoint = endpointFor(connFor(server), {}).id;
        const own = createHash('sha256')
          .update(`.s3sync/${tmpFolderName({ endpoint, bucket, prefix: 'p/' })}`)
          .digest('hex')
          .slice(0, 8);
        const left = path.join(target, `sub/.${own}01234567-0.s3sync.part`);
        const deep = path.join(target, `sub/deep/.${own}fedcba98-1a.s3sync.part`);
        const others = path.join(target, 'sub/.0123456789abcdef-0.s3sync.part');
        writeFileSync(others, 'being written by a pull of another prefix');
        // Named like one but not a regular file: a link to a file outside, a folder. Both stay.
        const outside = path.join(base, `outside-${mounted.length}.txt`);
        writeFileSync(outside, 'not s3sync');
        const linked = path.join(target, 'sub/.00000000000000aa-0.s3sync.part');
        symlinkSync(outside, linked);
        const folder = path.join(target, 'sub/.00000000000000bb-0.s3sync.part');
        mkdirSync(folder);
        writeFileSync(left, 'half a download');
        writeFileSync(deep, 'another half');
        const dry = await runCli(['pull', `s3://${bucket}/p`, target, '--delete', '--dry-run'], server);
        expect(dry.code, dry.stderr).toBe(0);
        const pushed = await runCli(
          ['push', target, `s3://${bucket}/back${mounted.length}`, '--json'],
          server,
        );
        expect(pushed.summary).toMatchObject({ uploaded: 4 });
        expect([existsSync(left), existsSync(deep)]).toEqual([true, true]);
        const again = await runCli(['pull', `s3://${bucket}/p`, target, '--delete', '--json'], server);
        expect(again.summary).toMatchObject({ downloaded: 0, deleted: 0, failed: 0, scanned: 4 });
        expect([existsSync(left), existsSync(deep), existsSync(others)]).toEqual([false, false, true]);
        rmSync(others);
        expect(readlinkSync(linked)).toBe(outside);
        expect(readFileSync(outside, 'utf8')).toBe('not s3sync');
        expect(readdirSync(folder)).toEqual([]);
        // A shard's run leaves a fresh one alone: another shard's run may be writing it now.
        writeFileSync(left, 'being written by another shard');
        const shard = await runCli(['pull', `s3://${bucket}/p`, target, '--shard', '0/2', '--json'], server);
        expect(shard.code, JSON.stringify(shard.summary?.errors)).toBe(0);
        expect(existsSync(left)).toBe(true);
      }
    } finally {
      for (const at of mounted) run('umount', [at]);
    }
  });

  it('writes and deletes nothing in a folder the target holds under two names (a bind mount)', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('[pull-confine] NOTICE: not root: the bind mount test is skipped');
      return ctx.skip();
    }
    const base = realpathSync(tempDir('confine-twins'));
    const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
    const mounted: string[] = [];
    const bind = (from: string, at: string) => {
      const m = run('mount', ['--bind', from, at]);
      expect(m.status, m.stderr).toBe(0);
      mounted.push(at);
    };
    try {
      // A folder bound beside itself, with a key under one name only: --delete would have deleted the
      // kept file through the other name, and two keys would have swapped one file at every pull.
      const cases: Record<string, string>[] = [
        { 'real/x.txt': 'one' },
        { 'real/x.txt': 'one', 'bound/x.txt': 'two' },
      ];
      for (const keys of cases) {
        const { bucket, transport } = await newBucket(server, 'confine-twins');
        await seedAll(transport, { ...keys, 'keep.txt': 'k' });
        const target = mkdtempSync(path.join(base, 't-'));
        mkdirSync(path.join(target, 'real'));
        mkdirSync(path.join(target, 'bound'));
        writeFileSync(path.join(target, 'real/x.txt'), 'mine');
        bind(path.join(target, 'real'), path.join(target, 'bound'));
        for (let i = 0; i < 3; i++) {
          const r = await runCli(['pull', `s3://${bucket}/p`, target, '--delete', '--json'], server);
          expect(r.code, r.stderr).toBe(1);
          expect(r.summary).toMatchObject({ deleted: 0 });
          expect(readFileSync(path.join(target, 'real/x.txt'), 'utf8')).toBe('mine');
          expect(readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('k');
          const why = "'bound' and 'real' are one folder (a bind mount)";
          const bound = Object.keys(keys).length === 1 ? 'not deleted' : 'not written';
          expect(errorsOf(r.events)).toEqual([
            `bound/x.txt: ${bound}: ${why}`,
            `real/x.txt: not written: ${why}`,
          ]);
        }
      }
      // The target bound inside itself: the walk stops at the loop, and nothing is written through it.
      const { bucket, transport } = await newBucket(server, 'confine-loop');
      await seedAll(transport, { 'a.txt': 'a', 'mnt/b.txt': 'b' });
      const target = mkdtempSync(path.join(base, 'loop-'));
      mkdirSync(path.join(target, 'mnt'));
      writeFileSync(path.join(target, 'a.txt'), 'old');
      bind(target, path.join(target, 'mnt'));
      const r = await runCli(['pull', `s3://${bucket}/p`, target, '--delete', '--json'], server);
      expect(r.code, r.stderr).toBe(1);
      expect(r.summary).toMatchObject({ downloaded: 1, deleted: 0 });
      expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('a');
      expect(readdirSync(target).sort()).toEqual(['.s3sync', 'a.txt', 'mnt']);
      expect(errorsOf(r.events)).toEqual([
        "mnt/b.txt: not written: 'mnt' is the same folder as the root (a bind mount)",
        'mnt: the same folder as the root, which holds it (a bind mount): skipped',
      ]);
      // A push of that tree sends each file once: the loop is not walked.
      const pushed = await runCli(['push', target, `s3://${bucket}/back`, '--json'], server);
      expect(pushed.code).toBe(1);
      expect(pushed.summary).toMatchObject({ uploaded: 1 });
    } finally {
      for (const at of mounted.reverse()) run('umount', [at]);
    }
  });

  it('refuses to start when DIR/.s3sync is a link, and writes nothing through it', async () => {
    const { target, outside } = layout('confine-state');
    symlinkSync(outside, path.join(target, '.s3sync'));
    const { bucket, transport } = await newBucket(server, 'confine-state');
    await seedAll(transport, { 'a.txt': 'a' });
    const before = snapshot(outside);
    for (const flags of [[], ['--follow-symlinks']]) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target, ...flags], server);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([
        `s3sync: ${path.join(target, '.s3sync')} is a symbolic link: refusing to write s3sync's state through it (remove it)`,
      ]);
      expect(snapshot(outside)).toEqual(before);
      expect(readdirSync(target)).toEqual(['.s3sync']);
    }
  });
});

/**
 * A link swapped in while the pull runs: the proxy calls `swap` when the request for `trigger`'s
 * object arrives, before it is answered: after the pull checked the way and before it writes or
 * renames anything there.
 */
async function swappingProxy(target: string, trigger: string, swap: () => void): Promise<FaultProxy> {
  let done = false;
  const p = await startFaultProxy({
    target,
    seed: 3,
    rate: 1,
    kinds: ['delay'],
    delayMs: 50,
    filter: ({ method, url }) => {
      if (done || method !== 'GET' || !url.includes('x-id=GetObject') || !url.includes(trigger)) return false;
      done = true;
      swap();
      return true;
    },
  });
  proxies.push(p);
  return p;
}

/**
 * Moves `rel` out of the target (to base/moved-N) and puts a link to `to` in its place; if `rel` is not
 * there yet (the temp folder is made when a small object's body is in), the link is put first.
 */
const swapFor = (base: string, target: string, rel: string, to: string) => () => {
  if (existsSync(path.join(target, rel)))
    renameSync(path.join(target, rel), path.join(base, `moved-${rel.replaceAll('/', '-')}`));
  symlinkSync(to, path.join(target, rel));
};

/** Where a case swaps the run's temp folder, named for its destination. */
const TEMP = 'the temp folder';

describe.each(servers())('pull with a link swapped in during the run on $name', (server) => {
  const cases = [
    { what: 'the parent directory', key: 'd/late.txt', at: 'd', size: 100 },
    { what: 'a directory two levels up', key: 'd/e/late.txt', at: 'd', size: 100 },
    { what: 'the parent of a streamed object', key: 'd/e/late.bin', at: 'd/e', size: 2 * MiB },
    { what: 'the parent of a ranged object', key: 'd/late.bin', at: 'd', size: 6 * MiB },
    { what: 'the temp folder', key: 'late.txt', at: TEMP, size: 100 },
    { what: 'the temp folder of a ranged object', key: 'late.bin', at: TEMP, size: 6 * MiB },
  ];

  it.each(MODES.flatMap((m) => cases.map((c) => ({ ...m, ...c }))))(
    '$what ($mode, $key)',
    async ({ flags, key, at: given, size }) => {
      const { base, target, outside } = layout('confine-swap');
      const { bucket, transport } = await newBucket(server, 'confine-swap');
      // Another object whose download the swap cannot reach, to show the rest of the pull goes on (none
      // when the temp folder is swapped: its download may be under way then).
      const other: Record<string, string> = given === TEMP ? {} : { 'other.txt': 'other' };
      await seedAll(transport, { [key]: Buffer.alloc(size, 7), ...other });
      const before = snapshot(outside);
      let at = given;
      const proxy = await swappingProxy(server.endpoint, path.basename(key), () => swap());
      // The temp folder is the run's destination's: named as the run names it, through this proxy.
      if (at === TEMP) {
        const endpoint = endpointFor({ ...connFor(server), endpointUrl: proxy.endpoint }, {}).id;
        at = `.s3sync/${tmpFolderName({ endpoint, bucket, prefix: 'p/' })}`;
      }
      const swap = swapFor(base, target, at, outside);
      const r = await runCli(
        [
          'pull',
          `s3://${bucket}/p`,
          target,
          ...flags,
          '--multipart-threshold',
          '5MiB',
          '--part-size',
          '5MiB',
          '--endpoint-url',
          proxy.endpoint,
          '--json',
        ],
        server,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const errors = errorsOf(r.events);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`^${key}: not written: .*'${at}' is a symbolic link`));
      // Nothing was created, replaced or deleted outside: no late file, no temp file, no directory.
      expect(snapshot(outside)).toEqual(before);
      expect(isLink(path.join(target, at))).toBe(true);
      expect(r.summary).toMatchObject({ downloaded: Object.keys(other).length, failed: 1 });
    },
  );

  it.each(MODES)('a link put at the final name during the download ($mode)', async ({ flags }) => {
    const { target, outside } = layout('confine-swap-final');
    const { bucket, transport } = await newBucket(server, 'confine-swap-final');
    await seedAll(transport, { 'late.txt': 'object', 'd/late.bin': Buffer.alloc(6 * MiB, 1), late2: 'x' });
    mkdirSync(path.join(target, 'd'));
    const before = snapshot(outside);
    // To a file outside: replaced by the download. To a directory outside: refused, like a directory.
    const proxy = await swappingProxy(server.endpoint, 'late', () => {
      symlinkSync(path.join(outside, 'victim.txt'), path.join(target, 'late.txt'));
      symlinkSync(path.join(outside, 'victim.txt'), path.join(target, 'd/late.bin'));
      symlinkSync(outside, path.join(target, 'late2'));
    });
    const r = await runCli(
      [
        'pull',
        `s3://${bucket}/p`,
        target,
        ...flags,
        '--multipart-threshold',
        '5MiB',
        '--part-size',
        '5MiB',
        '--endpoint-url',
        proxy.endpoint,
        '--json',
      ],
      server,
    );
    expect(r.code).toBe(1);
    expect(errorsOf(r.events)).toEqual(['late2: not written: a symbolic link to a directory is in the way']);
    expect(readFileSync(path.join(target, 'late.txt'), 'utf8')).toBe('object');
    expect(isLink(path.join(target, 'late.txt'))).toBe(false);
    expect(isLink(path.join(target, 'd/late.bin'))).toBe(false);
    expect(lstatSync(path.join(target, 'd/late.bin')).size).toBe(6 * MiB);
    expect(snapshot(outside)).toEqual(before);
  });

  // A file that is not the one the scan found is someone's newer data, or, on a filesystem that ignores
  // case, another key's file (`Readme` written, then `README`): the download never replaces it.
  it.each([
    { what: "made at a new object's name", size: 100, flags: [] as string[] },
    { what: "made at a new streamed object's name", size: 2 * MiB, flags: [] as string[] },
    { what: "made at a new ranged object's name", size: 6 * MiB, flags: ['--follow-symlinks'] },
    { what: 'put in place of the scanned file (another inode)', size: 100, flags: [], scanned: true },
    { what: 'put in place of a scanned ranged file', size: 6 * MiB, flags: [], scanned: true },
  ])('a file $what during the download is kept', async ({ size, flags, scanned }) => {
    const { base, target } = layout('confine-unscanned');
    const { bucket, transport } = await newBucket(server, 'confine-unscanned');
    await seedAll(transport, { 'd/late.bin': Buffer.alloc(size, 7), 'other.txt': 'other' });
    mkdirSync(path.join(target, 'd'));
    const at = path.join(target, 'd/late.bin');
    // Scanned: a local file that differs from the object, so the plan downloads over it.
    if (scanned) writeFileSync(at, 'older local content');
    const proxy = await swappingProxy(server.endpoint, 'late.bin', () => {
      // As an editor saves: a new file renamed over the name.
      writeFileSync(path.join(base, 'saved'), "the user's newer data");
      renameSync(path.join(base, 'saved'), at);
    });
    const args = ['pull', `s3://${bucket}/p`, target, ...flags, '--multipart-threshold', '5MiB'];
    const r = await runCli(
      [...args, '--part-size', '5MiB', '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(r.code).toBe(1);
    expect(errorsOf(r.events)).toEqual([
      scanned
        ? 'd/late.bin: not written: the file at this name was replaced since the scan'
        : "d/late.bin: not written: a file the scan did not see is here now (made since, or another key's file on a filesystem that ignores case)",
    ]);
    expect(readFileSync(at, 'utf8')).toBe("the user's newer data");
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 1 });
    expect(readFileSync(path.join(target, 'other.txt'), 'utf8')).toBe('other');
    // No temp file left; the next pull reads the file as it is now and replaces it (remote wins).
    expect(readdirSync(path.join(target, '.s3sync')).filter((n) => n.startsWith('tmp'))).toEqual([]);
    const again = await runCli([...args, '--endpoint-url', server.endpoint], server);
    expect(again.code, again.stderr).toBe(0);
    expect(lstatSync(at).size).toBe(size);
  });

  it.each(MODES)('a directory swapped for a link before the deletes ($mode)', async ({ flags }) => {
    const { base, target, outside } = layout('confine-swap-del');
    mkdirSync(path.join(target, 'old'));
    writeFileSync(path.join(target, 'old/victim.txt'), 'no object');
    writeFileSync(path.join(target, 'gone.txt'), 'no object');
    const { bucket, transport } = await newBucket(server, 'confine-swap-del');
    await seedAll(transport, { 'new.txt': 'new', 'keep/k.txt': 'k' });
    const before = snapshot(outside);
    // Swapped during the download of new.txt, after the scan found old/victim.txt and before any delete.
    const proxy = await swappingProxy(server.endpoint, 'new.txt', swapFor(base, target, 'old', outside));
    const r = await runCli(
      [
        'pull',
        `s3://${bucket}/p`,
        target,
        '--delete',
        '--force',
        ...flags,
        '--endpoint-url',
        proxy.endpoint,
        '--json',
      ],
      server,
    );
    expect(r.code).toBe(1);
    expect(errorsOf(r.events)).toEqual([
      expect.stringMatching(/^old\/victim\.txt: not deleted: 'old' is a symbolic link/),
    ]);
    expect(r.summary).toMatchObject({ downloaded: 2, deleted: 1 });
    expect(existsSync(path.join(target, 'gone.txt'))).toBe(false);
    expect(snapshot(outside)).toEqual(before);
  });
});

/**
 * A process of its own that swaps target/sub for a link to `outside` and back in a tight loop, as
 * fast as it can, until stopped: the window between a check of a path and the operation on it is hit
 * many times in a pull of a few hundred files. `park`: where the folder is while the link stands.
 * `waitForGo`: the swaps start at go() only.
 */
function startRacer(
  target: string,
  outside: string,
  opts: { park?: string; waitForGo?: boolean } = {},
): { go: () => void; stop: () => Promise<void> } {
  const stopFile = path.join(path.dirname(target), 'stop-racer');
  const goFile = path.join(path.dirname(target), 'go-racer');
  const script = `
    const fs = require('fs');
    const [sub, real, to, stop, go, wait] = process.argv.slice(1);
    while (wait === '1' && !fs.existsSync(go) && !fs.existsSync(stop));
    while (!fs.existsSync(stop)) {
      try {
        fs.renameSync(sub, real);
        fs.symlinkSync(to, sub);
        for (let i = 0; i < 2000; i++);
        fs.unlinkSync(sub);
        fs.renameSync(real, sub);
      } catch {}
    }`;
  const sub = path.join(target, 'sub');
  const park = opts.park ?? `${sub}.real`;
  const wait = opts.waitForGo ? '1' : '0';
  const child = spawn(process.execPath, ['-e', script, sub, park, outside, stopFile, goFile, wait], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    go: () => writeFileSync(goFile, ''),
    stop: async () => {
      writeFileSync(stopFile, '');
      await exited;
    },
  };
}

/**
 * Puts target/sub back as one real folder after the racer stopped in the middle of a swap (or found a
 * folder the pull made in its window): what is in `real`, where the racer parks it, is moved into it.
 */
function settle(target: string, real = path.join(target, 'sub.real')): void {
  const sub = path.join(target, 'sub');
  if (lstatSync(sub, { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(sub);
  if (!existsSync(real)) return;
  if (!existsSync(sub)) {
    renameSync(real, sub);
    return;
  }
  for (const n of readdirSync(real))
    if (!existsSync(path.join(sub, n))) renameSync(path.join(real, n), path.join(sub, n));
  rmSync(real, { recursive: true });
}

describe.each(servers())('pull while a folder is swapped for a link in a tight loop on $name', (server) => {
  const COUNT = 400;
  const ROUNDS = 5;
  const keys = Array.from({ length: COUNT }, (_, i) => `sub/f${String(i).padStart(3, '0')}`);
  const body = (rel: string) => `object ${rel}\n`;

  async function seedMany(t: S3Transport, rels: string[]): Promise<void> {
    for (let i = 0; i < rels.length; i += 25)
      await Promise.all(rels.slice(i, i + 25).map((rel) => seedObject(t, `p/${rel}`, body(rel))));
  }

  it('never writes a download outside the target, and a rerun converges', async () => {
    const { bucket, transport } = await newBucket(server, 'confine-race');
    await seedMany(transport, keys);
    for (let round = 0; round < ROUNDS; round++) {
      const flags = round % 2 === 0 ? [] : ['--follow-symlinks'];
      const { target, outside } = layout('confine-race');
      mkdirSync(path.join(target, 'sub'));
      // A file at an object's name outside: a rename through the link would replace it.
      writeFileSync(path.join(outside, 'f007'), 'victim');
      const before = snapshot(outside);
      const args = ['pull', `s3://${bucket}/p`, target, ...flags, '--workers', '16'];
      const racer = startRacer(target, outside);
      let r: CliRun;
      try {
        r = await runCli([...args, '--endpoint-url', server.endpoint, '--json'], server);
      } finally {
        await racer.stop();
      }
      expect(snapshot(outside), `round ${round} ${flags}`).toEqual(before);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // Each file the swap got in the way of is one line: refused, with nothing written; or written in
      // the folder while it was moved aside, whose fsync by its name then fails (not recorded). The
      // scan may also have met the folder moved aside (sub.real).
      for (const m of errorsOf(r.events).filter((e) => e.startsWith('sub/')))
        expect(m).toMatch(/^sub\/f\d{3}: (not written: |ENOENT: no such file or directory, open '.*\/sub')/);
      settle(target);
      const done = r.events.filter((e) => e.type === 'done' && e.action === 'download');
      for (const e of done) {
        const rel = (e as { rel: string }).rel;
        expect(readFileSync(path.join(target, rel), 'utf8')).toBe(body(rel));
      }
      const again = await runCli([...args, '--endpoint-url', server.endpoint, '--quiet'], server);
      expect(again.code, again.stderr).toBe(0);
      const tree = snapshot(target);
      delete tree['.s3sync'];
      for (const k of Object.keys(tree)) if (k.startsWith('.s3sync/')) delete tree[k];
      expect(tree).toEqual({ sub: 'dir', ...Object.fromEntries(keys.map((k) => [k, body(k)])) });
    }
  }, 120_000);

  it('never creates a temp file beside its file outside the target (a folder on another mount)', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('[pull-confine] NOTICE: not root: the mount race test is skipped');
      return ctx.skip();
    }
    const { bucket, transport } = await newBucket(server, 'confine-race-mnt');
    // Under a folder on another mount: each download is written beside its file, in m/sub.
    const inMount = keys.map((k) => `m/${k}`);
    await seedMany(transport, inMount);
    for (let round = 0; round < ROUNDS; round++) {
      const { target, outside } = layout('confine-race-mnt');
      const m = path.join(target, 'm');
      mkdirSync(m);
      const mounted = spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', m], { encoding: 'utf8' });
      expect(mounted.status, mounted.stderr).toBe(0);
      try {
        mkdirSync(path.join(m, 'sub'));
        const before = snapshot(outside);
        const args = ['pull', `s3://${bucket}/p`, target, '--workers', '16'];
        const racer = startRacer(m, outside);
        let r: CliRun;
        try {
          r = await runCli([...args, '--endpoint-url', server.endpoint, '--json'], server);
        } finally {
          await racer.stop();
        }
        expect(snapshot(outside), `round ${round}`).toEqual(before);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        const done = r.events.filter((e) => e.type === 'done' && e.action === 'download');
        // The scan may also have met the folder swapped, or moved aside (sub.real): not a file's error.
        const all = errorsOf(r.events);
        const errors = all.filter((e) => e.startsWith('m/sub/'));
        for (const e of all) if (!errors.includes(e)) expect(e).toMatch(/^m\/sub(\.real)?: cannot /);
        expect(done.length + errors.length, errors.join('\n')).toBe(COUNT);
        expect(r.summary).toMatchObject({ downloaded: done.length });
        expect(r.code).toBe(all.length > 0 ? 1 : 0);
        for (const e of errors)
          expect(e).toMatch(
            /^m\/sub\/f\d{3}: (not written: |ENOENT: no such file or directory, \w+ '.*\/m\/sub')/,
          );
        settle(m);
        for (const e of done) {
          const rel = (e as { rel: string }).rel;
          expect(readFileSync(path.join(target, rel), 'utf8')).toBe(body(rel));
        }
        const again = await runCli([...args, '--endpoint-url', server.endpoint, '--quiet'], server);
        expect(again.code, again.stderr).toBe(0);
        expect(snapshot(outside)).toEqual(before);
        const tree = snapshot(m);
        expect(tree).toEqual({ sub: 'dir', ...Object.fromEntries(keys.map((k) => [k, body(`m/${k}`)])) });
      } finally {
        spawnSync('umount', [m]);
      }
    }
  }, 180_000);

  it('--delete never deletes outside the target, and a rerun converges', async () => {
    const { bucket, transport } = await newBucket(server, 'confine-race-del');
    // Not in the folder swapped: its download is never refused, which would put the deletions off.
    await seedMany(transport, ['keep.txt']);
    // Many: the deletions go fast, and the swaps start only once the plan is out.
    const locals = Array.from({ length: 3000 }, (_, i) => `sub/d${String(i).padStart(4, '0')}`);
    for (let round = 0; round < ROUNDS; round++) {
      const flags = round % 2 === 0 ? [] : ['--follow-symlinks'];
      const { base, target, outside } = layout('confine-race-del');
      mkdirSync(path.join(target, 'sub'));
      const args = ['pull', `s3://${bucket}/p`, target, ...flags, '--delete', '--force'];
      // In place first: the raced run has deletions only, which no failed download puts off.
      expect((await runCli([...args, '--endpoint-url', server.endpoint, '--quiet'], server)).code).toBe(0);
      // Outside, at the names of the files the pull deletes, other names of those very files (hard
      // links): looked at through the link, each is the file the scan found, and would be unlinked.
      for (const rel of locals) {
        writeFileSync(path.join(target, rel), 'no object');
        linkSync(path.join(target, rel), path.join(outside, path.basename(rel)));
      }
      const before = snapshot(outside);
      // Parked outside the target while the link stands: the scan finds the folder, or nothing.
      const park = path.join(base, 'parked');
      // Swapping from the plan on: the scan found every file, and the deletions follow at once.
      const racer = startRacer(target, outside, { park, waitForGo: true });
      let r: CliRun;
      try {
        const live = spawnCli([...args, '--endpoint-url', server.endpoint, '--json'], server);
        await live.until((e) => e.type === 'plan');
        racer.go();
        const { code } = await live.exited;
        const events = live.events as SyncEvent[];
        const summary = events.find((e) => e.type === 'summary') as CliRun['summary'];
        r = { code: code ?? 1, stdout: live.stdout(), stderr: live.stderr(), events, summary };
      } finally {
        await racer.stop();
      }
      expect(snapshot(outside), `round ${round} ${flags}`).toEqual(before);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      for (const m of errorsOf(r.events).filter((e) => e.startsWith('sub/d')))
        expect(m).toMatch(/^sub\/d\d{4}: not deleted: /);
      settle(target, park);
      const again = await runCli([...args, '--endpoint-url', server.endpoint, '--quiet'], server);
      expect(again.code, again.stderr).toBe(0);
      const tree = snapshot(target);
      for (const k of Object.keys(tree)) if (k === '.s3sync' || k.startsWith('.s3sync/')) delete tree[k];
      expect(tree).toEqual({ 'keep.txt': body('keep.txt') });
    }
  }, 120_000);
});

/**
 * A process of its own that swaps the run's temp folder (DIR/.s3sync/tmp-<id>) for a link to `outside`
 * and back in a tight loop until stopped, parking the folder inside DIR/.s3sync while the link stands
 * (a fresh name each time: a folder the pull made in the window does not stop the loop). Before it
 * exists there is nothing to swap: the loop waits for the pull to make it.
 */
function startTmpRacer(tmp: string, outside: string): { stop: () => Promise<void> } {
  const stopFile = path.join(path.dirname(path.dirname(path.dirname(tmp))), 'stop-tmp-racer');
  const script = `
    const fs = require('fs');
    const [tmp, to, stop] = process.argv.slice(1);
    for (let n = 0; !fs.existsSync(stop); n++) {
      const park = tmp + '.parked-' + n;
      try {
        fs.renameSync(tmp, park);
      } catch {
        continue;
      }
      try {
        fs.symlinkSync(to, tmp);
        for (let i = 0; i < 2000; i++);
        fs.unlinkSync(tmp);
      } catch {}
      try {
        fs.renameSync(park, tmp);
      } catch {}
    }`;
  const child = spawn(process.execPath, ['-e', script, tmp, outside, stopFile], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    stop: async () => {
      writeFileSync(stopFile, '');
      await exited;
    },
  };
}

describe.each(servers())(
  'pull while its temp folder is swapped for a link in a tight loop on $name',
  (server) => {
    const COUNT = 400;
    const ROUNDS = 3;
    const keys = Array.from({ length: COUNT }, (_, i) => `f${String(i).padStart(3, '0')}`);
    // Small files and a few streamed ones: each kind creates its temp file its own way.
    const sizeOf = (i: number) => (i % 50 === 0 ? 300 * 1024 : 40);
    const body = (rel: string) => Buffer.alloc(sizeOf(Number(rel.slice(1))), rel).toString();

    it('never creates a temp file outside the target, reports what it did not write, and a rerun converges', async () => {
      const { bucket, transport } = await newBucket(server, 'confine-tmprace');
      for (let i = 0; i < keys.length; i += 25)
        await Promise.all(keys.slice(i, i + 25).map((rel) => seedObject(transport, `p/${rel}`, body(rel))));
      const endpoint = endpointFor(connFor(server), {}).id;
      const tmpName = tmpFolderName({ endpoint, bucket, prefix: 'p/' });
      for (let round = 0; round < ROUNDS; round++) {
        const { target, outside } = layout('confine-tmprace');
        const before = snapshot(outside);
        const tmp = path.join(target, '.s3sync', tmpName);
        const args = ['pull', `s3://${bucket}/p`, target, '--workers', '16'];
        const racer = startTmpRacer(tmp, outside);
        let r: CliRun;
        try {
          r = await runCli([...args, '--endpoint-url', server.endpoint, '--json'], server);
        } finally {
          await racer.stop();
        }
        expect(snapshot(outside), `round ${round}`).toEqual(before);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        const done = r.events.filter((e) => e.type === 'done' && e.action === 'download');
        const errors = errorsOf(r.events);
        // Honest: every object is either written (and intact) or reported; exit 1 when any was not.
        expect(done.length + errors.length, errors.join('\n')).toBe(COUNT);
        expect(r.summary).toMatchObject({ downloaded: done.length });
        expect(r.code).toBe(errors.length > 0 ? 1 : 0);
        // Refused, or written in the folder when another was moved onto its name (which removed it): one
        // line naming the temp folder, not the descriptor it went through.
        for (const m of errors)
          expect(m).toMatch(
            /^f\d{3}: (not written: |ENOENT: no such file or directory, \w+ '.*\/\.s3sync\/tmp-)/,
          );
        for (const e of done) {
          const rel = (e as { rel: string }).rel;
          expect(readFileSync(path.join(target, rel), 'utf8')).toBe(body(rel));
        }
        if (lstatSync(tmp, { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(tmp);
        const again = await runCli([...args, '--endpoint-url', server.endpoint, '--quiet'], server);
        expect(again.code, again.stderr).toBe(0);
        expect(snapshot(outside)).toEqual(before);
        const tree = snapshot(target);
        for (const k of Object.keys(tree)) if (k === '.s3sync' || k.startsWith('.s3sync/')) delete tree[k];
        expect(tree).toEqual(Object.fromEntries(keys.map((k) => [k, body(k)])));
      }
    }, 180_000);
  },
);
