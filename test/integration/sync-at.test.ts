import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import { syncBuckets } from '../../src/sync/s3-to-s3.js';
import {
  connFor,
  FIRST,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  pushTwice,
  refusedWithOneLine,
  runCli,
  SECOND,
  servers,
  trackedDirs,
  treeHashes,
  versionedBucket,
  writeTree,
} from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

/** The source's state after the second push. */
const NOW = { 'keep.txt': FIRST['keep.txt'], ...SECOND };

const hashesOf = (files: Record<string, string | Buffer>) =>
  Object.fromEntries(Object.entries(files).map(([rel, text]) => [rel, md5Hex(text)]));

/** Every object under a prefix: rel → MD5 of its content as downloaded. */
async function contents(t: S3Transport, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of (await t.list(prefix)).values()) out[o.rel] = await objectMd5(t, o.key);
  return out;
}

/**
 * A versioned bucket holding FIRST under p/, then (a clear second later for RGW's whole-second stamps)
 * SECOND pushed with --delete; `between` falls between the two pushes.
 */
async function history(
  server: TestServer,
  first: Record<string, string | Buffer> = FIRST,
  second: Record<string, string | Buffer> = SECOND,
) {
  const { bucket, transport } = await versionedBucket(server, 'hist');
  const url = `s3://${bucket}/p`;
  const change = (dir: string) => {
    writeTree(dir, second);
    rmSync(path.join(dir, 'sub/c.txt'));
  };
  const between = await pushTwice(server, { dir: dirs.dir('hist'), url }, first, change, ['--delete']);
  return { bucket, transport, url, between };
}

describe.each(servers())('sync --at ($name)', (server) => {
  it.skipIf(server.name === 'embedded')(
    'S3 → S3 on one store: the destination becomes the source as it was, by CopyObject of each version; --delete removes what came later',
    async () => {
      const { url, between, transport: src } = await history(server);
      const { bucket: to, transport: dst } = await newBucket(server, 'athere');
      const dest = `s3://${to}/q`;
      // Today's state first, so that --at has an object to overwrite, one to bring back, one to delete.
      expect((await runCli(['sync', url, dest], server)).code).toBe(0);
      expect(await contents(dst, 'q/')).toEqual(hashesOf(NOW));

      const r = await runCli(['sync', url, dest, '--at', between, '--delete', '--json'], server);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(await contents(dst, 'q/')).toEqual(hashesOf(FIRST));
      // a and b as they were, c brought back; keep.txt unchanged; new.txt (created later) deleted.
      expect(r.summary).toMatchObject({ copied: 3, unchanged: 1, deleted: 1, failed: 0 });
      // Copies inside the store only: no byte through s3sync, no PutObject or GetObject.
      expect(r.summary!.requests).toEqual({
        GetBucketVersioning: 1,
        ListObjectVersions: 1,
        ListObjectsV2: 1,
        CopyObject: 3,
        DeleteObjects: 1,
      });
      expect(r.summary!.bytesTransferred).toBe(0);
      // The source's current state is untouched.
      expect(await contents(src, 'p/')).toEqual(hashesOf(NOW));

      // Again: nothing to do, the listings only.
      const again = await runCli(['sync', url, dest, '--at', between, '--delete', '--json'], server);
      expect(again.code).toBe(0);
      expect(again.summary).toMatchObject({ copied: 0, deleted: 0, unchanged: 4 });
      expect(again.summary!.requests).toEqual({
        GetBucketVersioning: 1,
        ListObjectVersions: 1,
        ListObjectsV2: 1,
      });

      // Without --delete, the later object stays; with --dry-run nothing changes.
      const { bucket: fresh, transport: freshT } = await newBucket(server, 'atdry');
      const dry = await runCli(
        ['sync', url, `s3://${fresh}/q`, '--at', between, '--dry-run', '--json'],
        server,
      );
      expect(dry.code).toBe(0);
      expect(dry.summary).toMatchObject({ copied: 4 });
      expect(await freshT.list('q/')).toEqual(new Map());
    },
  );

  it.skipIf(server.name === 'embedded')(
    'copies in parts name the version too (UploadPartCopy), and a pull through sync --at is pull --at',
    async () => {
      // big.bin is not touched by the second push; a.txt is overwritten, c deleted.
      const big = randomBytes(MiB + 17);
      const first = { ...FIRST, 'big.bin': big };
      const { url, between } = await history(server, first);
      const { bucket: to, transport: dst } = await newBucket(server, 'atparts');
      // At the smallest threshold big.bin goes through CreateMultipartUpload + UploadPartCopy.
      const r = await syncBuckets({
        ...connFor(server),
        source: url,
        destination: `s3://${to}/q`,
        at: between,
        multipartThreshold: '1MiB',
        partSize: '5MiB',
      });
      expect(r.outcome).toBe('ok');
      expect(r.requests).toMatchObject({ CopyObject: 4, UploadPartCopy: 1, HeadObject: 1 });
      expect(await contents(dst, 'q/')).toEqual(hashesOf(first));

      const local = dirs.dir('atpull');
      const p = await runCli(['sync', url, local, '--at', between, '--json'], server);
      expect(p.code, p.stderr).toBe(0);
      expect(p.summary).toMatchObject({ command: 'pull', downloaded: 5 });
      expect(treeHashes(local)).toEqual(hashesOf(first));

      // A time before the first version: nothing to pull, and said with the time, not a bare 0.
      const before = '2001-01-01T00:00:00Z';
      const empty = await runCli(['pull', url, dirs.dir('atbefore'), '--at', before], server);
      expect(empty.code, empty.stderr).toBe(0);
      expect(empty.stderr).toContain(
        `notice: nothing to pull: no object under ${url}/ at 2001-01-01T00:00:00.000Z`,
      );
      const none = await runCli(['sync', url, `s3://${to}/none`, '--at', before], server);
      expect(none.code, none.stderr).toBe(0);
      expect(none.stderr).toBe(
        `notice: nothing to sync: no object under ${url}/ at 2001-01-01T00:00:00.000Z\n`,
      );
    },
  );

  it.skipIf(server.name === 'embedded')(
    'plan sync with --at records the time and each version; apply copies those versions',
    async () => {
      const { url, between } = await history(server);
      const { bucket: to, transport: dst } = await newBucket(server, 'atplan');
      const file = path.join(dirs.dir('atplan'), 'plan.json');
      const doc = await plan({
        ...connFor(server),
        direction: 'sync',
        source: url,
        destination: `s3://${to}/q`,
        at: between,
        out: file,
      });
      expect(doc.at).toBe(new Date(between).toISOString());
      expect(doc.actions).toHaveLength(4);
      for (const a of doc.actions) expect(a).toMatchObject({ kind: 'copy', versionId: expect.any(String) });
      // The source's today (SECOND) is not what is copied.
      const r = await runCli(['apply', file, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      // A version cannot change: only the destination is listed again.
      expect(r.summary!.requests).toEqual({ ListObjectsV2: 1, CopyObject: 4 });
      expect(await contents(dst, 'q/')).toEqual(hashesOf(FIRST));
    },
  );

  it('refused in one line, exit 2: an upload (local → S3), a bad TIME, and (s3rver) an unversioned source', async () => {
    const { bucket } = await newBucket(server, 'atbad');
    const dir = dirs.dir('atbad');
    writeTree(dir, { 'x.txt': 'x\n' });
    refusedWithOneLine(
      await runCli(['sync', dir, `s3://${bucket}/p`, '--at', '1h'], server),
      /--at applies to a sync from S3/,
    );
    expect((await runCli(['sync', dir, `s3://${bucket}/p`], server)).code).toBe(0);
    const { bucket: to, transport: dst } = await newBucket(server, 'atbadto');
    for (const at of ['2026-02-30', '2999-01-01', 'yesterday']) {
      refusedWithOneLine(
        await runCli(['sync', `s3://${bucket}/p`, `s3://${to}/q`, '--at', at], server),
        new RegExp(`at \\(--at\\): '${at}'`),
      );
    }
    // A bucket that never kept versions: nothing copied, nothing deleted.
    await expect(
      syncBuckets({
        ...connFor(server),
        source: `s3://${bucket}/p`,
        destination: `s3://${to}/q`,
        at: '1h',
      }),
    ).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/--at needs a versioned bucket/),
    });
    refusedWithOneLine(
      await runCli(['sync', `s3://${bucket}/p`, `s3://${to}/q`, '--at', '1h', '--delete'], server),
      /--at needs a versioned bucket: versioning was never enabled on s3:\/\/atbad-/,
    );
    expect(await dst.list('q/')).toEqual(new Map());
  });
});

describe('sync --at between two stores', () => {
  const ceph = servers().find((s) => s.name === 'ceph');
  const embedded = servers().find((s) => s.name === 'embedded');

  it.skipIf(!ceph || !embedded)(
    'Ceph (versioned) → embedded: streamed through, each GET of the version at TIME, MD5 equal',
    async () => {
      const from = ceph!;
      const to = embedded!;
      // A multipart object too: its HEAD and each ranged GET name the version.
      const first = { ...FIRST, 'big.bin': randomBytes(6 * MiB + 3) };
      const { url, between } = await history(from, first, { ...SECOND, 'big.bin': randomBytes(6 * MiB + 3) });
      const { bucket: b, transport: dst } = await newBucket(to, 'atxs');
      const base = {
        ...connFor(to),
        source: url,
        destination: `s3://${b}/y`,
        sourceEndpointUrl: from.endpoint,
        sourceProvider: from.provider,
        sourceCredentials: { accessKeyId: from.accessKeyId, secretAccessKey: from.secretAccessKey },
        multipartThreshold: '5MiB',
        partSize: '5MiB',
      };
      // The current state first: --at must then overwrite, bring back and delete.
      expect((await syncBuckets(base)).outcome).toBe('ok');
      const r = await syncBuckets({ ...base, at: between, delete: true });
      expect(r.outcome).toBe('ok');
      expect(await contents(dst, 'y/')).toEqual(hashesOf(first));
      expect(r).toMatchObject({ copied: 4, deleted: 1, unchanged: 1 });
      expect(r.requests).toMatchObject({
        ListObjectVersions: 1,
        GetObject: 3 + 2,
        PutObject: 3,
        HeadObject: 1,
        UploadPart: 2,
      });
      expect(r.requests.CopyObject).toBeUndefined();
    },
  );
});
