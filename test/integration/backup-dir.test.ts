import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const keys = async (t: S3Transport, prefix: string) => [...(await t.list(prefix)).keys()].sort();

describe.each(servers())('push --backup-dir on $name', (server) => {
  it.each([
    { why: 'in the same bucket, with --suffix', other: false, suffix: '.old' },
    { why: 'in another bucket of the endpoint, without a suffix', other: true, suffix: undefined },
  ])(
    'keeps the previous content of an overwritten and of a deleted object: $why',
    async ({ other, suffix }) => {
      const { bucket, transport } = await newBucket(server, 'bak');
      const backup = other ? await newBucket(server, 'bakto') : { bucket, transport };
      const dir = dirs.dir('bak');
      const was = { 'a.txt': 'first a\n', 'sub/b.txt': 'first b\n', 'c.txt': 'unchanged\n' };
      writeTree(dir, was);
      const url = `s3://${bucket}/data`;
      expect((await runCli(['push', dir, url], server)).code).toBe(0);

      writeTree(dir, { 'a.txt': 'second a, longer\n', 'new.txt': 'new\n' });
      rmSync(path.join(dir, 'sub/b.txt'));
      const args = [
        'push',
        dir,
        url,
        '--delete',
        '--max-delete',
        '1',
        '--backup-dir',
        `s3://${backup.bucket}/bak/run1`,
      ];
      const r = await runCli([...args, ...(suffix ? ['--suffix', suffix] : []), '--json'], server);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.summary).toMatchObject({ uploaded: 2, deleted: 1, failed: 0 });
      const sfx = suffix ?? '';
      // What was overwritten and what was deleted, and nothing else (a new file overwrote nothing).
      expect(await keys(backup.transport, 'bak/run1/')).toEqual([`a.txt${sfx}`, `sub/b.txt${sfx}`]);
      expect(await objectMd5(backup.transport, `bak/run1/a.txt${sfx}`)).toBe(md5Hex(was['a.txt']));
      expect(await objectMd5(backup.transport, `bak/run1/sub/b.txt${sfx}`)).toBe(md5Hex(was['sub/b.txt']));
      // The destination is what the tree now holds.
      expect(await keys(transport, 'data/')).toEqual(['a.txt', 'c.txt', 'new.txt']);
      expect(await objectMd5(transport, 'data/a.txt')).toBe(md5Hex('second a, longer\n'));
    },
  );

  it('a plan made with --backup-dir records it, and apply keeps what it overwrites and deletes', async () => {
    const { bucket, transport } = await newBucket(server, 'bakplan');
    const dir = dirs.dir('bakplan');
    writeTree(dir, { 'a.txt': 'first a\n', 'b.txt': 'first b\n', 'c.txt': 'unchanged\n' });
    const url = `s3://${bucket}/data`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'a.txt': 'second a, longer\n' });
    rmSync(path.join(dir, 'b.txt'));
    const file = path.join(dirs.dir('bakplan-out'), 'plan.json');
    const bak = `s3://${bucket}/bak/run1`;
    const p = await runCli(
      ['plan', 'push', dir, url, '--delete', '--backup-dir', bak, '--suffix', '.old', '--out', file],
      server,
    );
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ backupDir: bak, suffix: '.old' });
    expect(await keys(transport, 'bak/')).toEqual([]);
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, deleted: 1, failed: 0 });
    expect(await keys(transport, 'bak/run1/')).toEqual(['a.txt.old', 'b.txt.old']);
    expect(await objectMd5(transport, 'bak/run1/a.txt.old')).toBe(md5Hex('first a\n'));
    expect(await objectMd5(transport, 'bak/run1/b.txt.old')).toBe(md5Hex('first b\n'));
    expect(await keys(transport, 'data/')).toEqual(['a.txt', 'c.txt']);
  });

  it('keeps the object a renamed file is copied over', async () => {
    const { bucket, transport } = await newBucket(server, 'bakren');
    const dir = dirs.dir('bakren');
    writeTree(dir, { 'x.bin': Buffer.alloc(4000, 1), 'y.bin': Buffer.alloc(4000, 2) });
    const url = `s3://${bucket}/d`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'x.bin'));
    writeFileSync(path.join(dir, 'y.bin'), Buffer.alloc(4000, 1));
    const r = await runCli(['push', dir, url, '--backup-dir', `s3://${bucket}/b`, '--json'], server);
    expect(r.code).toBe(0);
    // s3rver's CopyObject with REPLACE onto an existing key keeps that key's old ETag (it does not copy
    // the MD5 it stores beside the object): the copy is seen not to reproduce its source, and uploaded.
    expect(r.summary).toMatchObject(
      server.name === 'embedded' ? { copied: 0, uploaded: 1 } : { copied: 1, uploaded: 0 },
    );
    // The backup first, then the copy.
    expect(r.summary?.requests.CopyObject).toBe(2);
    expect(await objectMd5(transport, 'b/y.bin')).toBe(md5Hex(Buffer.alloc(4000, 2)));
    expect(await objectMd5(transport, 'd/y.bin')).toBe(md5Hex(Buffer.alloc(4000, 1)));
  });

  it('keeps the object itself, not its percent-encoded twin a store may copy instead', async () => {
    const { bucket, transport } = await newBucket(server, 'baktwin');
    const dir = dirs.dir('baktwin');
    writeTree(dir, { 'h#i': 'OLD-HASH\n', 'h%23i': 'OLD-PCT\n' });
    const url = `s3://${bucket}/ph`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'h#i': 'NEW-HASH, longer\n' });
    const r = await runCli(['push', dir, url, '--backup-dir', `s3://${bucket}/bk3`, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(await keys(transport, 'bk3/')).toEqual(['h#i']);
    expect(await objectMd5(transport, 'bk3/h#i')).toBe(md5Hex('OLD-HASH\n'));
    expect(await objectMd5(transport, 'ph/h#i')).toBe(md5Hex('NEW-HASH, longer\n'));
  });

  it('a twin copied as the backup that cannot be streamed right instead: no backup left, no change', async () => {
    const { bucket, transport } = await newBucket(server, 'baktw2');
    const dir = dirs.dir('baktw2');
    writeTree(dir, { 'h#i': 'OLD-HASH\n', 'h%23i': 'OLD-PCT\n' });
    // Every GetObject body read corrupt: a backup streamed through cannot be made.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 3,
      rate: 1,
      kinds: ['flip-body'],
      filter: ({ method, url }) => method === 'GET' && url.includes('x-id=GetObject'),
    });
    try {
      const url = `s3://${bucket}/ph`;
      const via = ['--endpoint-url', proxy.endpoint, '--retries', '1'];
      expect((await runCli(['push', dir, url, ...via], server)).code).toBe(0);
      writeTree(dir, { 'h#i': 'NEW-HASH, longer\n' });
      const r = await runCli(
        ['push', dir, url, ...via, '--backup-dir', `s3://${bucket}/bk4`, '--json'],
        server,
      );
      // Kept and then changed, or neither, with its line: never the twin's bytes as its backup.
      if (r.summary?.failed) {
        expect(r.code).toBe(1);
        expect(r.summary.errors).toEqual([
          {
            rel: 'h#i',
            message: expect.stringMatching(
              /^not changed: could not keep the object under --backup-dir: the store copied a different object .*; the wrong backup removed$/,
            ),
          },
        ]);
        expect(await keys(transport, 'bk4/')).toEqual([]);
        expect(await objectMd5(transport, 'ph/h#i')).toBe(md5Hex('OLD-HASH\n'));
      } else {
        expect(r.code, r.stderr).toBe(0);
        expect(await objectMd5(transport, 'bk4/h#i')).toBe(md5Hex('OLD-HASH\n'));
        expect(await objectMd5(transport, 'ph/h#i')).toBe(md5Hex('NEW-HASH, longer\n'));
      }
    } finally {
      await proxy.close();
    }
  });

  it('does not overwrite an object it could not keep (the backup bucket does not exist)', async () => {
    const { bucket, transport } = await newBucket(server, 'baknob');
    const dir = dirs.dir('baknob');
    writeTree(dir, { 'a.txt': 'one\n' });
    const url = `s3://${bucket}/d`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'a.txt': 'two, changed\n' });
    const r = await runCli(['push', dir, url, '--backup-dir', 's3://s3sync-no-such-bucket-r/b'], server);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('s3sync-no-such-bucket-r');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await objectMd5(transport, 'd/a.txt')).toBe(md5Hex('one\n'));
  });

  it('a dry run refuses a backup bucket that does not exist, as the real run does (push and sync)', async () => {
    const { bucket, transport } = await newBucket(server, 'baknodry');
    const dir = dirs.dir('baknodry');
    writeTree(dir, { 'a.txt': 'one\n', 'b.txt': 'two\n', 'c.txt': 'three\n' });
    const url = `s3://${bucket}/d`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    const nob = ['--backup-dir', 's3://s3sync-no-such-bucket-dry/x'];
    const refused = /^s3sync: bucket 's3sync-no-such-bucket-dry' does not exist/;
    // Only new files: nothing to keep, so nothing asks for the bucket, dry or not.
    writeTree(dir, { 'new.txt': 'new\n' });
    expect((await runCli(['push', dir, url, ...nob, '--dry-run'], server)).code).toBe(0);
    // Deletions only, then an overwrite only: each dry run stops as its real run would.
    rmSync(path.join(dir, 'b.txt'));
    rmSync(path.join(dir, 'c.txt'));
    const deleting = ['push', dir, url, '--delete', '--max-delete', '100%', ...nob];
    for (const args of [deleting, ['push', dir, url, ...nob]]) {
      if (args === deleting) writeTree(dir, {});
      else writeTree(dir, { 'a.txt': 'one, changed\n' });
      const dry = await runCli([...args, '--dry-run'], server);
      expect(dry.code, args.join(' ')).toBe(2);
      expect(plainLines(dry.stderr)).toEqual([expect.stringMatching(refused)]);
    }
    const real = await runCli(deleting, server);
    expect(real.code).toBe(2);
    expect(plainLines(real.stderr)).toEqual([expect.stringMatching(refused)]);
    expect(await keys(transport, 'd/')).toEqual(['a.txt', 'b.txt', 'c.txt', 'new.txt']);
    // S3 → S3: deletions from another prefix, dry and real alike.
    await seedObject(transport, 'e/a.txt', 'one\n');
    const sync = ['sync', `s3://${bucket}/e`, url, '--delete', '--max-delete', '100%', ...nob];
    for (const extra of [['--dry-run'], []]) {
      const r = await runCli([...sync, ...extra], server);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(plainLines(r.stderr)).toEqual([expect.stringMatching(refused)]);
    }
    // A plan is refused the same way: its apply would stop there too.
    const out = path.join(dirs.dir('baknodry-plan'), 'plan.json');
    for (const args of [
      ['plan', ...deleting.slice(0, 3)],
      ['plan', ...sync.slice(0, 3)],
    ]) {
      const r = await runCli([...args, '--delete', '--max-delete', '100%', ...nob, '--out', out], server);
      expect(r.code, args.join(' ')).toBe(2);
      expect(plainLines(r.stderr)).toEqual([expect.stringMatching(refused)]);
      expect(existsSync(out)).toBe(false);
    }
    expect(await keys(transport, 'd/')).toEqual(['a.txt', 'b.txt', 'c.txt', 'new.txt']);
  });

  it('a copy to the backup answered NoSuchKey for an object that is there: not overwritten, not deleted', async () => {
    const { bucket, transport } = await newBucket(server, 'baknsk');
    const dir = dirs.dir('baknsk');
    writeTree(dir, { 'a.txt': 'one\n', 'b.txt': 'bee\n', 'c.txt': 'c\n', 'd.txt': 'd\n' });
    const url = `s3://${bucket}/d`;
    // A store that cannot copy some keys it lists (s3rver with `+` in one) says NoSuchKey.
    const nsk =
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>';
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      kinds: ['status-500'],
      rewrite: (req) =>
        req.method === 'PUT' && req.url.includes('/bak/')
          ? { status: 404, body: () => Buffer.from(nsk) }
          : undefined,
    });
    try {
      expect((await runCli(['push', dir, url, '--endpoint-url', proxy.endpoint], server)).code).toBe(0);
      const via = ['--backup-dir', `s3://${bucket}/bak`, '--endpoint-url', proxy.endpoint, '--json'];
      const push = () => runCli(['push', dir, url, '--delete', ...via], server);
      const why =
        'not changed: could not keep the object under --backup-dir: the store answered NoSuchKey to the copy of an object it has (a key it cannot copy?)';
      // A deletion, then an overwrite: each object is left as it was, and the run fails.
      rmSync(path.join(dir, 'b.txt'));
      const deleting = await push();
      expect(deleting.code, deleting.stderr).toBe(1);
      expect(deleting.summary).toMatchObject({ deleted: 0 });
      expect(deleting.summary?.errors).toEqual([{ rel: 'b.txt', message: why }]);
      writeTree(dir, { 'b.txt': 'bee\n', 'a.txt': 'two, changed\n' });
      const writing = await push();
      expect(writing.code, writing.stderr).toBe(1);
      expect(writing.summary).toMatchObject({ uploaded: 0 });
      expect(writing.summary?.errors).toEqual([{ rel: 'a.txt', message: why }]);
      expect(await objectMd5(transport, 'd/a.txt')).toBe(md5Hex('one\n'));
      expect(await objectMd5(transport, 'd/b.txt')).toBe(md5Hex('bee\n'));
      // The same from another prefix (S3 → S3): the copy over a.txt waits for a backup that failed.
      await seedObject(transport, 'src/a.txt', 'from the other prefix\n');
      const synced = await runCli(['sync', `s3://${bucket}/src`, url, ...via], server);
      expect(synced.code, synced.stderr).toBe(1);
      expect(synced.summary?.errors).toEqual([{ rel: 'a.txt', message: why }]);
      expect(await objectMd5(transport, 'd/a.txt')).toBe(md5Hex('one\n'));
    } finally {
      await proxy.close();
    }
  });

  it.each([
    { why: 'inside the destination', backup: (b: string) => `s3://${b}/data/old` },
    { why: 'the destination itself', backup: (b: string) => `s3://${b}/data/` },
    { why: 'holding the destination', backup: (b: string) => `s3://${b}` },
    { why: 'not an S3 URL', backup: () => '/tmp/backups' },
    { why: "with a '..' segment", backup: (b: string) => `s3://${b}/old/../keep` },
    { why: 'with an empty segment', backup: (b: string) => `s3://${b}/old//keep` },
  ])('refuses a backup location $why, before any request', async ({ backup }) => {
    const { bucket, transport } = await newBucket(server, 'bakbad');
    const dir = dirs.dir('bakbad');
    writeTree(dir, { 'a.txt': 'a\n' });
    const r = await runCli(['push', dir, `s3://${bucket}/data`, '--backup-dir', backup(bucket)], server);
    expect(r.code).toBe(2);
    expect(plainLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^s3sync: backupDir \(--backup-dir\) /);
    expect(await keys(transport, '')).toEqual([]);
  });

  it('refuses a --suffix holding a separator, before any change (a key would nest under the name)', async () => {
    const { bucket, transport } = await newBucket(server, 'bsfx');
    const dir = dirs.dir('bsfx');
    writeTree(dir, { 'a.txt': 'v1\n' });
    const url = `s3://${bucket}/d`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'a.txt': 'v2\n' });
    const r = await runCli(
      ['push', dir, url, '--backup-dir', `s3://${bucket}/old`, '--suffix', '/x'],
      server,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^s3sync: --suffix must be a string, got "\/x": it holds a path separator/);
    expect(await keys(transport, '')).toEqual(['d/a.txt']);
    expect(md5Hex('v1\n')).toBe(await objectMd5(transport, 'd/a.txt'));
  });

  it.each(['x/../y', 'x//y', './y', 'x/./y', 'x\\y'])(
    'refuses to push to the prefix %j (S3 would keep it in the keys), before any request',
    async (prefix) => {
      const { bucket, transport } = await newBucket(server, 'dotpush');
      const dir = dirs.dir('dotpush');
      writeTree(dir, { 'a.txt': 'a\n' });
      const out = path.join(dirs.dir('dotplan'), 'plan.json');
      for (const [args, more] of [
        [['push'], []],
        [
          ['plan', 'push'],
          ['--out', out],
        ],
      ]) {
        const r = await runCli([...args!, dir, `s3://${bucket}/${prefix}`, ...more!], server);
        expect(r.code).toBe(2);
        expect(plainLines(r.stderr)).toHaveLength(1);
        expect(r.stderr).toMatch(
          /^s3sync: the destination ".*": its prefix contains .*: write the prefix without it$/m,
        );
      }
      expect(await keys(transport, '')).toEqual([]);
      expect(existsSync(out)).toBe(false);
      // Reading from such a prefix writes nothing under it: a pull is not refused.
      const pulled = await runCli(['pull', `s3://${bucket}/${prefix}`, dirs.dir('dotpull')], server);
      expect(pulled.code, pulled.stderr).toBe(0);
    },
  );

  it('accepts a sibling prefix that merely starts with the same letters', async () => {
    const { bucket, transport } = await newBucket(server, 'baksib');
    const dir = dirs.dir('baksib');
    writeTree(dir, { 'a.txt': 'a\n' });
    const url = `s3://${bucket}/data`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'a.txt': 'a2\n' });
    const r = await runCli(['push', dir, url, '--backup-dir', `s3://${bucket}/data-old`], server);
    expect(r.code).toBe(0);
    expect(await keys(transport, 'data-old/')).toEqual(['a.txt']);
  });
});

describe.each(servers())('pull --backup-dir on $name', (server) => {
  async function pulledTree(label: string) {
    const { bucket, transport } = await newBucket(server, label);
    await seedObject(transport, 'p/a.txt', 'remote a v1\n');
    await seedObject(transport, 'p/sub/b.txt', 'remote b v1\n');
    await seedObject(transport, 'p/c.txt', 'same\n');
    const target = dirs.dir(label);
    const url = `s3://${bucket}/p`;
    expect((await runCli(['pull', url, target], server)).code).toBe(0);
    return { transport, target, url };
  }

  it.each([
    { why: 'on the same filesystem, with --suffix', base: undefined, suffix: '~' },
    { why: 'on another filesystem (/dev/shm), copied', base: '/dev/shm', suffix: undefined },
  ])('keeps the local files a pull replaces or deletes: $why', async ({ base, suffix }) => {
    if (base && !existsSync(base)) return;
    const { transport, target, url } = await pulledTree('pbak');
    await seedObject(transport, 'p/a.txt', 'remote a v2, longer\n');
    await transport.deleteKeys(['p/sub/b.txt']);
    const backupDir = base
      ? path.join(base, `s3sync-bak-${process.pid}-${Date.now()}`)
      : dirs.dir('pbak-keep');
    const args = ['pull', url, target, '--delete', '--max-delete', '1', '--backup-dir', backupDir];
    try {
      const r = await runCli([...args, ...(suffix ? ['--suffix', suffix] : []), '--json'], server);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.summary).toMatchObject({ downloaded: 1, deleted: 1, failed: 0 });
      const sfx = suffix ?? '';
      expect(readFileSync(path.join(backupDir, `a.txt${sfx}`), 'utf8')).toBe('remote a v1\n');
      expect(readFileSync(path.join(backupDir, `sub/b.txt${sfx}`), 'utf8')).toBe('remote b v1\n');
      expect(existsSync(path.join(backupDir, `c.txt${sfx}`))).toBe(false);
      expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v2, longer\n');
      expect(existsSync(path.join(target, 'sub/b.txt'))).toBe(false);
      // A second replacement keeps the newer previous content under the same name.
      await seedObject(transport, 'p/a.txt', 'remote a v3\n');
      expect((await runCli(args.concat(suffix ? ['--suffix', suffix] : []), server)).code).toBe(0);
      expect(readFileSync(path.join(backupDir, `a.txt${sfx}`), 'utf8')).toBe('remote a v2, longer\n');
      expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v3\n');
    } finally {
      if (base) rmSync(backupDir, { recursive: true, force: true });
    }
  });

  it.each([
    { why: 'inside the target', backup: (t: string) => path.join(t, 'old') },
    { why: 'the target itself', backup: (t: string) => t },
    { why: 'holding the target', backup: (t: string) => path.dirname(t) },
    { why: 'an S3 URL', backup: () => 's3://bucket/x' },
  ])('refuses a backup directory $why, before any change', async ({ backup }) => {
    const { transport, target, url } = await pulledTree('pbakbad');
    await seedObject(transport, 'p/a.txt', 'remote a v2\n');
    const r = await runCli(['pull', url, target, '--backup-dir', backup(target)], server);
    expect(r.code).toBe(2);
    expect(plainLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^s3sync: (pull )?--backup-dir/);
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v1\n');
  });

  it('a pull plan made with --backup-dir: apply keeps the files it replaces and deletes', async () => {
    const { transport, target, url } = await pulledTree('pbakplan');
    await seedObject(transport, 'p/a.txt', 'remote a v2, longer\n');
    await transport.deleteKeys(['p/sub/b.txt']);
    const backupDir = dirs.dir('pbakplan-keep');
    const file = path.join(dirs.dir('pbakplan-out'), 'plan.json');
    const p = await runCli(
      [
        'plan',
        'pull',
        url,
        target,
        '--delete',
        '--max-delete',
        '1',
        '--backup-dir',
        backupDir,
        '--out',
        file,
      ],
      server,
    );
    expect(p.code, p.stderr).toBe(0);
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 1, deleted: 1, failed: 0 });
    expect(readFileSync(path.join(backupDir, 'a.txt'), 'utf8')).toBe('remote a v1\n');
    expect(readFileSync(path.join(backupDir, 'sub/b.txt'), 'utf8')).toBe('remote b v1\n');
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v2, longer\n');
    expect(existsSync(path.join(target, 'sub/b.txt'))).toBe(false);
  });

  it.each(['/../../victim', '/../victim', '/..', '.bak/x'])(
    'refuses a --suffix %j that leads out of the backup directory, before any change',
    async (suffix) => {
      const { transport, target, url } = await pulledTree('pbaksfx');
      await seedObject(transport, 'p/a.txt', 'remote a v2\n');
      const top = dirs.dir('pbaksfx-top');
      const backupDir = path.join(top, 'one', 'bak');
      mkdirSync(backupDir, { recursive: true });
      // Where `bak/a.txt/../../victim` and `bak/a.txt/../victim` would land.
      writeFileSync(path.join(top, 'one', 'victim'), 'keep one\n');
      writeFileSync(path.join(backupDir, 'victim'), 'keep bak\n');
      const r = await runCli(['pull', url, target, '--backup-dir', backupDir, '--suffix', suffix], server);
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/--suffix must be a string, got .*: it holds a path separator/);
      expect(readFileSync(path.join(top, 'one', 'victim'), 'utf8')).toBe('keep one\n');
      expect(readFileSync(path.join(backupDir, 'victim'), 'utf8')).toBe('keep bak\n');
      expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v1\n');
    },
  );

  it('apply refuses a plan whose suffix was edited to lead out of the backup directory', async () => {
    const { transport, target, url } = await pulledTree('pbaksfxplan');
    await seedObject(transport, 'p/a.txt', 'remote a v2\n');
    const top = dirs.dir('pbaksfxplan-top');
    const backupDir = path.join(top, 'bak');
    const file = path.join(dirs.dir('pbaksfxplan-out'), 'plan.json');
    const args = ['plan', 'pull', url, target, '--backup-dir', backupDir, '--suffix', '.old', '--out', file];
    expect((await runCli(args, server)).code).toBe(0);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...doc, suffix: '/../../victim' }));
    const r = await runCli(['apply', file], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/backup directory or suffix is not valid/);
    expect(existsSync(path.join(top, 'victim'))).toBe(false);
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v1\n');
  });

  it('a file it cannot keep is left as it is, with a line that says why; the others go on', async () => {
    const { transport, target, url } = await pulledTree('pbakfail');
    await seedObject(transport, 'p/a.txt', 'remote a v2\n');
    await seedObject(transport, 'p/sub/b.txt', 'remote b v2\n');
    const backupDir = dirs.dir('pbakfail-keep');
    // A file where the backup of sub/b.txt needs a folder; a folder where a.txt's copy would go.
    writeFileSync(path.join(backupDir, 'sub'), 'in the way\n');
    mkdirSync(path.join(backupDir, 'a.txt', 'x'), { recursive: true });
    await seedObject(transport, 'p/c.txt', 'remote c v2\n');
    const r = await runCli(['pull', url, target, '--backup-dir', backupDir], server);
    expect(r.code).toBe(1);
    const errors = plainLines(r.stderr).sort();
    expect(errors).toEqual([
      `error: a.txt: left as it is: could not keep a copy at ${path.join(backupDir, 'a.txt')} (--backup-dir): a folder stands there (EISDIR)`,
      `error: sub/b.txt: left as it is: could not keep a copy at ${path.join(backupDir, 'sub/b.txt')} (--backup-dir): a file there stands where a folder is needed (ENOTDIR)`,
    ]);
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v1\n');
    expect(readFileSync(path.join(target, 'sub/b.txt'), 'utf8')).toBe('remote b v1\n');
    expect(readFileSync(path.join(target, 'c.txt'), 'utf8')).toBe('remote c v2\n');
    expect(readFileSync(path.join(backupDir, 'c.txt'), 'utf8')).toBe('same\n');
  });

  it('a link inside the backup directory is not followed: not into the target, not outside', async () => {
    const { transport, target, url } = await pulledTree('pbakin');
    const backupDir = dirs.dir('pbakin-keep');
    const elsewhere = dirs.dir('pbakin-elsewhere');
    // sub/ of the backup leads into the target (the next pull --delete would remove the copy kept
    // there); a.txt's copy would land where a link to another folder points.
    await seedObject(transport, 'p/deep/d/e.txt', 'e v1\n');
    expect((await runCli(['pull', url, target], server)).code).toBe(0);
    symlinkSync(path.join(target, 'sub'), path.join(backupDir, 'sub'));
    mkdirSync(path.join(backupDir, 'deep'));
    symlinkSync(elsewhere, path.join(backupDir, 'deep', 'd'));
    await seedObject(transport, 'p/a.txt', 'remote a v2\n');
    await seedObject(transport, 'p/sub/b.txt', 'remote b v2\n');
    await seedObject(transport, 'p/deep/d/e.txt', 'e v2\n');
    const r = await runCli(['pull', url, target, '--delete', '--backup-dir', backupDir], server);
    expect(r.code).toBe(1);
    expect(plainLines(r.stderr).sort()).toEqual([
      `error: deep/d/e.txt: left as it is: could not keep a copy at ${path.join(backupDir, 'deep/d/e.txt')} (--backup-dir): ${path.join(backupDir, 'deep/d')} is a symbolic link (not followed)`,
      `error: sub/b.txt: left as it is: could not keep a copy at ${path.join(backupDir, 'sub/b.txt')} (--backup-dir): ${path.join(backupDir, 'sub')} is a symbolic link (not followed)`,
    ]);
    // Left as they were; the one whose copy could be kept is replaced.
    expect(readFileSync(path.join(target, 'sub/b.txt'), 'utf8')).toBe('remote b v1\n');
    expect(readFileSync(path.join(target, 'deep/d/e.txt'), 'utf8')).toBe('e v1\n');
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('remote a v2\n');
    expect(readFileSync(path.join(backupDir, 'a.txt'), 'utf8')).toBe('remote a v1\n');
    expect(readdirSync(path.join(target, 'sub'))).toEqual(['b.txt']);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('refuses a backup directory reached through a link into the target', async () => {
    const { target, url } = await pulledTree('pbaklink');
    const outside = dirs.dir('pbaklink-out');
    mkdirSync(path.join(target, 'inner'), { recursive: true });
    symlinkSync(path.join(target, 'inner'), path.join(outside, 'link'));
    const r = await runCli(['pull', url, target, '--backup-dir', path.join(outside, 'link', 'bak')], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/overlaps the pull target/);
  });
});
