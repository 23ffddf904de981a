import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlanDocument } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import type { CheckEvent } from '../../src/sync/check.js';
import {
  doneOf,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const keys = async (t: S3Transport, prefix: string) => [...(await t.list(prefix)).keys()].sort();

/** Requests that send object bytes: none may go out for a renamed file. */
const uploadRequests = (r: Record<string, number> | undefined) =>
  (r?.PutObject ?? 0) + (r?.UploadPart ?? 0) + (r?.CreateMultipartUpload ?? 0);

describe.each(servers())('rename detection on $name', (server) => {
  it('a renamed directory of 100 files of 1 MiB is copied, not uploaded; --delete then removes the old keys', async () => {
    const { bucket, transport } = await newBucket(server, 'ren');
    const dir = dirs.dir('ren');
    const files = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`data/f${i}.bin`, MiB]));
    writeTree(dir, files);
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    const before = treeHashes(dir);

    renameSync(path.join(dir, 'data'), path.join(dir, 'moved'));
    const r = await runCli(['push', dir, url, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 0, copied: 100, failed: 0, deleted: 0, bytesTransferred: 0 });
    expect(uploadRequests(r.summary?.requests)).toBe(0);
    expect(r.summary?.requests.CopyObject).toBe(100);
    const done = r.events.filter((e) => e.type === 'done' && e.action === 'copy');
    expect(done).toHaveLength(100);
    expect(done).toContainEqual(
      expect.objectContaining({ rel: 'moved/f7.bin', reason: 'copied from data/f7.bin' }),
    );
    // Each new object holds its file's bytes.
    for (const [rel, md5] of Object.entries(treeHashes(dir))) {
      expect(await objectMd5(transport, `p/${rel}`)).toBe(md5);
      expect(md5).toBe(before[rel.replace('moved/', 'data/')]);
    }
    // Without --delete the old keys stay.
    const all = await keys(transport, 'p/');
    expect(all.filter((k) => k.startsWith('data/'))).toHaveLength(100);
    expect(all.filter((k) => k.startsWith('moved/'))).toHaveLength(100);

    // The copies were recorded: the next run has nothing to do and asks nothing.
    const again = await runCli(['push', dir, url, '--json'], server);
    expect(again.summary).toMatchObject({ unchanged: 100, copied: 0, uploaded: 0, requestsTotal: 0 });

    const del = await runCli(
      ['push', dir, url, '--delete', '--max-delete', '100', '--verify', '--json'],
      server,
    );
    expect(del.code).toBe(0);
    expect(del.summary).toMatchObject({ deleted: 100, uploaded: 0, copied: 0 });
    expect((await keys(transport, 'p/')).every((k) => k.startsWith('moved/'))).toBe(true);
  });

  it('with --delete in the same run the renamed files are copied before their old keys go', async () => {
    const { bucket, transport } = await newBucket(server, 'rendel');
    const dir = dirs.dir('rendel');
    writeTree(dir, { 'a/one.bin': 3000, 'a/two.bin': 4000, 'keep.txt': 'kept\n' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    renameSync(path.join(dir, 'a'), path.join(dir, 'b'));
    const r = await runCli(['push', dir, url, '--delete', '--max-delete', '2', '--json'], server);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ copied: 2, deleted: 2, uploaded: 0 });
    expect(uploadRequests(r.summary?.requests)).toBe(0);
    expect(await keys(transport, 'p/')).toEqual(['b/one.bin', 'b/two.bin', 'keep.txt']);
    for (const [rel, md5] of Object.entries(treeHashes(dir)))
      expect(await objectMd5(transport, `p/${rel}`)).toBe(md5);
  });

  it('several new files of one content are all copied from one source, with the metadata s3sync writes', async () => {
    const { bucket, transport } = await newBucket(server, 'rendup');
    const dir = dirs.dir('rendup');
    const body = Buffer.alloc(5000, 7);
    writeTree(dir, { 'old.bin': body });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'old.bin'));
    writeTree(dir, { 'x/one.html': body, 'y/two.html': body, 'z/three.txt': body });
    const r = await runCli(['push', dir, url, '--json'], server);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ copied: 3, uploaded: 0 });
    expect(doneOf(r.events, 'copy').sort()).toEqual(['x/one.html', 'y/two.html', 'z/three.txt']);
    const head = await transport.head('p/x/one.html');
    expect(head?.metadata.md5).toBe(md5Hex(body));
  });

  it('--no-track-renames uploads a renamed file', async () => {
    const { bucket } = await newBucket(server, 'rennot');
    const dir = dirs.dir('rennot');
    writeTree(dir, { 'a.bin': 20_000 });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    renameSync(path.join(dir, 'a.bin'), path.join(dir, 'b.bin'));
    const r = await runCli(['push', dir, url, '--no-track-renames', '--json'], server);
    expect(r.summary).toMatchObject({ uploaded: 1, copied: 0 });
    expect(r.summary?.requests.CopyObject).toBeUndefined();
    expect(r.summary?.requests.PutObject).toBe(1);
  });

  it('--dry-run and plan/apply show a copy as its own action', async () => {
    const { bucket, transport } = await newBucket(server, 'renplan');
    const dir = dirs.dir('renplan');
    writeTree(dir, { 'a.bin': 9000 });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    renameSync(path.join(dir, 'a.bin'), path.join(dir, 'b.bin'));

    const dry = await runCli(['push', dir, url, '--dry-run'], server);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(dry run) copy b.bin [copied from a.bin]');
    expect(dry.stdout).toMatch(/would be 0 uploaded, would be 1 copied/);

    const planFile = path.join(dirs.dir('renplan-out'), 'plan.json');
    const planned = await runCli(['plan', 'push', dir, url, '--out', planFile], server);
    expect(planned.code).toBe(0);
    const applied = await runCli(['apply', planFile, '--json'], server);
    expect(applied.code).toBe(0);
    expect(applied.summary).toMatchObject({ copied: 1, uploaded: 0 });
    expect(uploadRequests(applied.summary?.requests)).toBe(0);
    expect(await objectMd5(transport, 'p/b.bin')).toBe(treeHashes(dir)['b.bin']);
  });

  it.each([
    [
      'another object, its ETag, and the file’s MD5',
      (c: { etag: string; md5: string }, md5: string) => ({ etag: c.etag, md5 }),
    ],
    [
      'another object, its ETag and its MD5',
      (c: { etag: string; md5: string }) => ({ etag: c.etag, md5: c.md5 }),
    ],
  ])('apply: a copy edited to read %s is uploaded instead', async (_what, edit) => {
    const { bucket, transport } = await newBucket(server, 'renedit');
    const dir = dirs.dir('renedit');
    writeTree(dir, { 'a.bin': Buffer.alloc(9000, 1), 'c.bin': Buffer.alloc(9000, 2) });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    renameSync(path.join(dir, 'a.bin'), path.join(dir, 'b.bin'));
    const planFile = path.join(dirs.dir('renedit-out'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    const copy = doc.actions.find((a) => a.kind === 'copy')!;
    expect(copy.from?.rel).toBe('a.bin');
    const c = { etag: (await transport.head('p/c.bin'))!.etag, md5: treeHashes(dir)['c.bin']! };
    copy.from = { ...copy.from!, rel: 'c.bin', key: 'p/c.bin', ...edit(c, copy.from!.md5) };
    writeFileSync(planFile, JSON.stringify(doc));

    const applied = await runCli(['apply', planFile, '--json'], server);
    expect(applied.code).toBe(0);
    expect(applied.summary).toMatchObject({ copied: 0, uploaded: 1, failed: 0 });
    expect(applied.summary?.requests.CopyObject).toBeUndefined();
    expect(applied.events).toContainEqual(
      expect.objectContaining({
        type: 'notice',
        message: "b.bin: the plan's copy source c.bin does not hold this file's content: uploaded instead",
      }),
    );
    expect(await objectMd5(transport, 'p/b.bin')).toBe(treeHashes(dir)['b.bin']);
    // What the manifest vouches for is there: check finds only the old key, left without --delete.
    const checked = await runCli(['check', dir, url, '--json'], server);
    const differences = (checked.events as unknown as CheckEvent[]).flatMap((e) =>
      e.type === 'difference' ? [`${e.status} ${e.rel}`] : [],
    );
    expect(differences).toEqual(['only-remote a.bin']);
  });

  describe('a copy that cannot be made falls back to an upload', () => {
    /** x and y pushed; then x is gone and y holds x's old content: y is to be created from x's key. */
    async function yBecomesX(label: string) {
      const { bucket, transport } = await newBucket(server, label);
      const dir = dirs.dir(label);
      const x = Buffer.alloc(6000, 1);
      writeTree(dir, { 'x.bin': x, 'y.bin': Buffer.alloc(6000, 2) });
      const url = `s3://${bucket}/p`;
      expect((await runCli(['push', dir, url], server)).code).toBe(0);
      rmSync(path.join(dir, 'x.bin'));
      writeFileSync(path.join(dir, 'y.bin'), x);
      return { transport, dir, url, x };
    }

    it.each([
      {
        why: 'the source object was deleted behind s3sync’s back',
        tamper: (t: S3Transport) => t.deleteKeys(['p/x.bin']).then(() => undefined),
        notice: /copy source x\.bin is gone: uploaded instead/,
      },
      {
        why: 'the source object was overwritten behind s3sync’s back (same size, other bytes)',
        tamper: (t: S3Transport) => seedObject(t, 'p/x.bin', Buffer.alloc(6000, 3)).then(() => undefined),
        notice: /the copy of x\.bin has ETag [0-9a-f]+, not [0-9a-f]+: uploaded instead/,
      },
    ])('$why', async ({ tamper, notice }) => {
      const { transport, dir, url, x } = await yBecomesX('renfb');
      await tamper(transport);
      const r = await runCli(['push', dir, url, '--json'], server);
      expect(r.code).toBe(0);
      expect(r.summary).toMatchObject({ uploaded: 1, copied: 0, failed: 0 });
      expect(r.summary?.requests.CopyObject).toBe(1);
      expect(r.summary?.requests.PutObject).toBe(1);
      expect(r.events).toContainEqual(
        expect.objectContaining({ type: 'notice', message: expect.stringMatching(notice) }),
      );
      expect(await objectMd5(transport, 'p/y.bin')).toBe(md5Hex(x));
      const again = await runCli(['push', dir, url, '--json'], server);
      expect(again.summary).toMatchObject({ requestsTotal: 0, unchanged: 1 });
    });
  });
});
