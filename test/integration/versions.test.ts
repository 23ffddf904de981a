import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { pull, versions } from '../../src/index.js';
import { S3Transport } from '../../src/s3/transport.js';
import { listVersions } from '../../src/s3/versions.js';
import {
  connFor,
  FIRST,
  MiB,
  md5Hex,
  newBucket,
  pushTwice,
  readManifest,
  refusedWithOneLine,
  runCli,
  SECOND,
  servers,
  spawnCli,
  toSecond,
  trackedDirs,
  treeHashes,
  versionedBucket,
  writeTree,
} from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';
import { rewritingProxy } from '../servers/rewriting-proxy.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const hashesOf = (files: Record<string, string>) =>
  Object.fromEntries(Object.entries(files).map(([rel, text]) => [rel, md5Hex(text)]));

describe.each(servers())('versioned buckets on $name', (server) => {
  it('an unversioned bucket (or a store without versioning): pull --at, check --at and versions refuse in one line, exit 2', async () => {
    const { bucket } = await newBucket(server, 'unversioned');
    const dir = dirs.dir('unversioned');
    writeTree(dir, { 'x.txt': 'x\n' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    // s3rver answers GetBucketVersioning as AWS does for a bucket that never had it.
    const why =
      /(--at|versions) needs a versioned bucket: versioning was never enabled on s3:\/\/unversioned-/;
    const target = dirs.dir('unversioned-target');
    for (const args of [
      ['pull', url, target, '--at', '1h'],
      ['pull', url, target, '--at', '1h', '--delete'],
      ['check', dir, url, '--at', '2026-01-01'],
      ['versions', `${url}/x.txt`],
      ['versions', url, '--json'],
    ]) {
      refusedWithOneLine(await runCli(args, server), why);
    }
    // With --json, the last line says how it ended, as every command's does.
    const json = await runCli(['versions', url, '--json'], server);
    expect(json.events.at(-1)).toMatchObject({
      type: 'summary',
      command: 'versions',
      stoppedBy: expect.stringMatching(why),
      exitCode: 2,
    });
    // Nothing was written or deleted by the refused pulls.
    expect(treeHashes(target)).toEqual({});
    // The library says it the same way.
    await expect(
      pull({ ...connFor(server), source: url, destination: target, at: '1h' }),
    ).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(why),
    });
  });

  it('a bad --at is refused before anything is written', async () => {
    const { bucket } = await newBucket(server, 'badat');
    const target = path.join(dirs.dir('badat'), 'not-yet');
    for (const [at, why] of [
      ['2026-02-30', /at \(--at\): '2026-02-30' is not a valid date or time/],
      ['2999-01-01', /at \(--at\): '2999-01-01' is in the future/],
      ['yesterday', /at \(--at\): 'yesterday' is neither an ISO 8601 date or time/],
      ['5', /at \(--at\): '5' is neither/],
    ] as const) {
      refusedWithOneLine(await runCli(['pull', `s3://${bucket}/p`, target, '--at', at], server), why);
      expect(existsSync(target)).toBe(false);
    }
    // plan pull takes no --at (a pull plan records no version ids; plan sync does).
    refusedWithOneLine(
      await runCli(['plan', 'pull', `s3://${bucket}/p`, target, '--at', '1h', '--out', 'x'], server),
      /^s3sync: --at does not apply to plan pull$/,
    );
  });

  it.skipIf(server.name === 'embedded')(
    'a key written while versioning was suspended after TIME: pull, check and sync --at refuse (its state then is gone), and run without it',
    async () => {
      const { bucket, transport } = await versionedBucket(server, 'suspended');
      const put = (key: string, body: string) =>
        transport.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      await transport.client.send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }),
      );
      await put('p/a.txt', 'a, as it was at TIME\n');
      await put('p/b.txt', 'b, unchanged\n');
      // A clear second each side: RGW stamps versions in whole seconds.
      await sleep(1100);
      const at = new Date().toISOString();
      await sleep(1100);
      // Suspended: this write is the null version again, and what a held at TIME is gone.
      await put('p/a.txt', 'a, written later\n');
      const url = `s3://${bucket}/p`;
      const target = dirs.dir('suspended-restore');
      const gone =
        /^s3sync: --at \S+: what 1 key\(s\) held then is gone, .*first s3:\/\/\S+\/p\/a\.txt: leave them out/;
      // Before: a was left out as if absent at TIME (no version of it then is left), exit 0.
      refusedWithOneLine(await runCli(['pull', url, target, '--at', at, '--delete'], server), gone);
      expect(existsSync(path.join(target, 'a.txt'))).toBe(false);
      refusedWithOneLine(await runCli(['check', target, url, '--at', at], server), gone);
      const other = await newBucket(server, 'suspended-to');
      refusedWithOneLine(await runCli(['sync', url, `s3://${other.bucket}/p`, '--at', at], server), gone);
      // Left out, the rest is restored as it was.
      const r = await runCli(['pull', url, target, '--at', at, '--exclude', 'a.txt'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(treeHashes(target)).toEqual({ 'b.txt': md5Hex('b, unchanged\n') });
    },
  );

  it.skipIf(server.name === 'embedded')(
    'pull --at between two pushes restores the older state exactly; check --at and versions see the history (Ceph RGW: s3rver has no versioning)',
    async () => {
      const { bucket, transport } = await versionedBucket(server, 'versioned');
      const url = `s3://${bucket}/p`;
      const dir = dirs.dir('versioned-src');
      const between = await pushTwice(server, { dir, url }, FIRST, toSecond, ['--delete']);

      // pull --at: the first state, byte for byte; the file created later is left out.
      const restored = dirs.dir('versioned-restored');
      const r = await runCli(['pull', url, restored, '--at', between, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(treeHashes(restored)).toEqual(hashesOf(FIRST));
      expect(r.summary).toMatchObject({ downloaded: 4, failed: 0 });
      // GetObject by version id, one per file, after one GetBucketVersioning and one ListObjectVersions.
      expect(r.summary!.requests).toMatchObject({
        GetBucketVersioning: 1,
        ListObjectVersions: 1,
        GetObject: 4,
      });

      // Past versions are not recorded: the manifest holds only what is current (keep.txt).
      expect([...readManifest(restored)!.files.keys()]).toEqual(['keep.txt']);

      // check --at: the restored tree is the state at TIME; the current tree differs from it.
      expect((await runCli(['check', restored, url, '--at', between], server)).code).toBe(0);
      const c = await runCli(['check', dir, url, '--at', between, '--json'], server);
      expect(c.code).toBe(1);
      const diffs = c.events
        .filter((e) => e.type === ('difference' as string))
        .map((e) => `${(e as unknown as { status: string }).status} ${(e as { rel?: string }).rel}`);
      expect(diffs.sort()).toEqual([
        'differ a.txt',
        'differ b.txt',
        'only-local new.txt',
        'only-remote sub/c.txt',
      ]);
      // And without --at, the current tree is what the bucket holds now.
      expect((await runCli(['check', dir, url], server)).code).toBe(0);

      // versions: both versions of a.txt, c.txt's version and its delete marker, newest first.
      const v = await runCli(['versions', `${url}/`, '--json'], server);
      expect(v.code, v.stderr).toBe(0);
      const listed = (v.events as unknown as Array<Record<string, unknown>>)
        .filter((e) => e.type === 'version')
        .map((e) => `${e.key} ${e.deleteMarker ? 'marker' : e.size}${e.isLatest ? ' latest' : ''}`);
      expect(listed).toEqual([
        `p/a.txt ${SECOND['a.txt'].length} latest`,
        `p/a.txt ${FIRST['a.txt'].length}`,
        `p/b.txt ${SECOND['b.txt'].length} latest`,
        `p/b.txt ${FIRST['b.txt'].length}`,
        `p/keep.txt ${FIRST['keep.txt'].length} latest`,
        `p/new.txt ${SECOND['new.txt'].length} latest`,
        'p/sub/c.txt marker latest',
        `p/sub/c.txt ${FIRST['sub/c.txt'].length}`,
      ]);
      expect(v.events.at(-1)).toMatchObject({
        type: 'summary',
        command: 'versions',
        keys: 5,
        deleteMarkers: 1,
        requests: { GetBucketVersioning: 1, ListObjectVersions: 1 },
        requestsTotal: 2,
      });
      // A key alone, in lines for people: its time, size, ETag, version id and what it is.
      const one = await runCli(['versions', `${url}/a.txt`], server);
      expect(one.code).toBe(0);
      const lines = one.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(
        new RegExp(
          `^\\d{4}-\\d\\d-\\d\\dT\\S+Z +${SECOND['a.txt'].length} +${md5Hex(SECOND['a.txt'])} +\\S+ +latest +p/a\\.txt$`,
        ),
      );
      expect(lines[1]).toMatch(new RegExp(` ${md5Hex(FIRST['a.txt'])} +\\S+ +- +p/a\\.txt$`));
      expect(lines[2]).toBe('2 version(s) and 0 delete marker(s) of 1 key(s)');

      // The library lists the same, and a page of two entries at a time gives the same listing.
      const lib = await versions({ ...connFor(server), target: `${url}/` });
      const paged = await listVersions(transport, 'p/', 2);
      expect(paged).toEqual(lib.versions);
      expect(paged).toHaveLength(8);

      // A normal pull over the restored tree (no manifest entry vouches for the past versions) brings
      // back the current state.
      const now = await runCli(['pull', url, restored, '--delete'], server);
      expect(now.code, now.stderr).toBe(0);
      const { 'sub/c.txt': _, ...current } = { ...FIRST, ...SECOND };
      expect(treeHashes(restored)).toEqual(hashesOf(current));
    },
  );

  it.skipIf(server.name === 'embedded')(
    'after pull --at over a synced tree, a push puts the older state back and pull --at --delete removes what came later (Ceph RGW)',
    async () => {
      const { bucket } = await versionedBucket(server, 'restore');
      const url = `s3://${bucket}/p`;
      const dir = dirs.dir('restore');
      const between = await pushTwice(server, { dir, url }, FIRST, toSecond, ['--delete']);

      // The synced tree (its manifest says it holds the current objects) taken back to TIME.
      const back = await runCli(['pull', url, dir, '--at', between, '--delete', '--json'], server);
      expect(back.code, back.stderr).toBe(0);
      expect(treeHashes(dir)).toEqual(hashesOf(FIRST));
      expect(back.summary).toMatchObject({ downloaded: 3, deleted: 1 });

      // A normal push must not take the manifest's word that the bucket holds these files: it uploads
      // the older content again and deletes what came later, and the bucket is the first state again.
      const push = await runCli(['push', dir, url, '--delete', '--json'], server);
      expect(push.code, push.stderr).toBe(0);
      expect(push.summary).toMatchObject({ uploaded: 3, deleted: 1 });
      expect((await runCli(['check', dir, url], server)).code).toBe(0);
      const fresh = dirs.dir('restore-fresh');
      expect((await runCli(['pull', url, fresh], server)).code).toBe(0);
      expect(treeHashes(fresh)).toEqual(hashesOf(FIRST));

      // A second run of the same pull --at changes nothing.
      const again = await runCli(['pull', url, dir, '--at', between, '--delete', '--json'], server);
      expect(again.summary).toMatchObject({ downloaded: 0, deleted: 0 });
      // Every file but keep.txt holds a version that is no longer current: no entry vouches for it, so
      // the next push compares content (the same: nothing is uploaded) and records it again.
      expect([...readManifest(dir)!.files.keys()]).toEqual(['keep.txt']);
      const push2 = await runCli(['push', dir, url, '--json'], server);
      expect(push2.summary).toMatchObject({ uploaded: 0, recorded: 3 });
    },
  );

  it.skipIf(server.name === 'embedded')(
    'a large object is restored in ranges, every range from the version at TIME (Ceph RGW)',
    async () => {
      const { bucket } = await versionedBucket(server, 'ranged');
      const url = `s3://${bucket}/p`;
      const dir = dirs.dir('ranged-src');
      const first = randomBytes(3 * MiB + 17);
      // The same size: only the version id tells the ranges of one version from the other's.
      const between = await pushTwice(server, { dir, url }, { 'big.bin': first }, (d) =>
        writeTree(d, { 'big.bin': randomBytes(first.length) }),
      );
      const restored = dirs.dir('ranged-restored');
      const args = ['pull', url, restored, '--at', between, '--multipart-threshold', '1MiB'];
      const r = await runCli([...args, '--part-size', '1MiB', '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(treeHashes(restored)).toEqual({ 'big.bin': md5Hex(first) });
      expect(r.summary!.requests).toMatchObject({ GetObject: 4 });
    },
  );
});

const NOT_IMPLEMENTED = (status: number) => ({
  status,
  body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A parameter you provided implies functionality that is not implemented</Message></Error>',
});

describe.each(servers())('versioned buckets on $name: hostile answers', (server) => {
  it.each([501, 405])(
    'a store that answers GetBucketVersioning with %i: one line, exit 2, not retried',
    async (status) => {
      const { bucket } = await newBucket(server, 'noversioning');
      let asked = 0;
      const proxy = await rewritingProxy(server.endpoint, (url) => {
        if (!url.searchParams.has('versioning')) return undefined;
        asked++;
        return NOT_IMPLEMENTED(status);
      });
      try {
        const via = { ...server, endpoint: proxy.endpoint };
        const target = dirs.dir('noversioning');
        for (const args of [
          ['versions', `s3://${bucket}/p/`],
          ['pull', `s3://${bucket}/p`, target, '--at', '1h', '--json'],
          ['check', target, `s3://${bucket}/p`, '--at', '1h'],
        ]) {
          const r = await runCli(args, via);
          refusedWithOneLine(r, /needs a versioned bucket, and this S3 store does not support versioning/);
        }
        // Asked once per run: an answer that says "not implemented" is not asked again.
        expect(asked).toBe(3);
      } finally {
        await proxy.close();
      }
    },
  );

  it.each(['json', 'human'])(
    '%s: stopped while it lists, it prints the versions listed so far and a summary that says so',
    async (mode) => {
      const { bucket } = await newBucket(server, `vstop-${mode}`);
      const xml = (h: Record<string, unknown>) => {
        h['content-type'] = 'application/xml';
      };
      const version = (key: string) =>
        `<Version><Key>${key}</Key><VersionId>v-${key.slice(2, 3)}</VersionId><IsLatest>true</IsLatest>` +
        `<LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"${md5Hex(key)}"</ETag><Size>3</Size>` +
        '<StorageClass>STANDARD</StorageClass></Version>';
      // The first page: two versions, and more to come; the next page is held until the run is stopped.
      const firstPage =
        `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Name>${bucket}</Name><Prefix>p/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>` +
        '<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextKeyMarker>p/b</NextKeyMarker>' +
        `<NextVersionIdMarker>v-b</NextVersionIdMarker>${version('p/a')}${version('p/b')}</ListVersionsResult>`;
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let heldAt = false;
      const query = (url: string) => new URL(url, 'http://x').searchParams;
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 1,
        rate: 0,
        hold: ({ url }) => {
          if (!query(url).has('versions') || !query(url).has('key-marker')) return undefined;
          heldAt = true;
          return held;
        },
        rewrite: ({ url }) => {
          const q = query(url);
          if (q.has('versioning'))
            return {
              status: 200,
              headers: xml,
              body: () =>
                Buffer.from(
                  '<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>',
                ),
            };
          if (q.has('versions') && !q.has('key-marker'))
            return { status: 200, headers: xml, body: () => Buffer.from(firstPage) };
          return undefined;
        },
      });
      try {
        const via = { ...server, endpoint: proxy.endpoint };
        const run = spawnCli(['versions', `s3://${bucket}/p/`, ...(mode === 'json' ? ['--json'] : [])], via);
        for (let i = 0; i < 300 && !heldAt; i++) await sleep(50);
        expect(heldAt, run.stderr()).toBe(true);
        run.child.kill('SIGTERM');
        const { code } = await run.exited;
        // The signal's exit code, as every command stopped by it.
        expect(code, run.stderr()).toBe(143);
        // Said as every stopped command says it: on stderr, or as a notice among the events.
        const stopping = /SIGTERM: stopping \(the listing stops here\)/;
        if (mode === 'json') expect(run.stdout()).toMatch(stopping);
        else expect(run.stderr()).toMatch(stopping);
        if (mode === 'json') {
          expect(
            run.events.filter((e) => e.type === 'version').map((e) => (e as { key?: string }).key),
          ).toEqual(['p/a', 'p/b']);
          expect(run.events.at(-1)).toMatchObject({
            type: 'summary',
            command: 'versions',
            versionCount: 2,
            keys: 2,
            // The second page's request counts: it was sent.
            requests: { GetBucketVersioning: 1, ListObjectVersions: 2 },
            cancelled: true,
            exitCode: 143,
          });
        } else {
          const lines = run.stdout().trimEnd().split('\n');
          expect(lines).toHaveLength(3);
          expect(lines[0]).toMatch(/ v-a +latest +p\/a$/);
          expect(lines[2]).toBe('[cancelled] 2 version(s) and 0 delete marker(s) of 2 key(s)');
        }
      } finally {
        release();
        await proxy.close();
      }
    },
  );

  /** Each way a truncated page can fail to say where the next one starts. */
  const BROKEN_PAGES: [string, (url: URL, body: string) => string, RegExp][] = [
    [
      'no NextKeyMarker',
      (_u, b) => b.replace(/<NextKeyMarker>[^<]*<\/NextKeyMarker>/, ''),
      /names no next page/,
    ],
    [
      'no NextVersionIdMarker',
      (_u, b) => b.replace(/<NextVersionIdMarker>[^<]*<\/NextVersionIdMarker>/, ''),
      /names no next page/,
    ],
    [
      'neither',
      (_u, b) => b.replace(/<Next(Key|VersionId)Marker>[^<]*<\/Next(Key|VersionId)Marker>/g, ''),
      /names no next page/,
    ],
    [
      'the markers it was asked with, again',
      (u, b) =>
        u.searchParams.has('key-marker')
          ? b
              .replace(/<NextKeyMarker>[^<]*</, `<NextKeyMarker>${u.searchParams.get('key-marker')}<`)
              .replace(
                /<NextVersionIdMarker>[^<]*</,
                `<NextVersionIdMarker>${u.searchParams.get('version-id-marker')}<`,
              )
          : b,
      /does not advance past/,
    ],
  ];

  it.skipIf(server.name === 'embedded')(
    'a truncated versions page that names no next page (or the same one again) is an error, never a short listing (Ceph RGW)',
    async () => {
      const { bucket, transport } = await versionedBucket(server, 'brokenpages');
      const dir = dirs.dir('brokenpages');
      writeTree(dir, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
      expect((await runCli(['push', dir, `s3://${bucket}/p`], server)).code).toBe(0);
      writeTree(dir, { 'a.txt': 'A\n', 'b.txt': 'B\n' });
      expect((await runCli(['push', dir, `s3://${bucket}/p`], server)).code).toBe(0);
      expect(await listVersions(transport, 'p/', 2)).toHaveLength(5);
      for (const [what, rewrite, why] of BROKEN_PAGES) {
        const proxy = await rewritingProxy(server.endpoint, (url, status, body) =>
          url.searchParams.has('versions') && status === 200
            ? { status, body: rewrite(url, body) }
            : undefined,
        );
        try {
          const t = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, bucket);
          await expect(listVersions(t, 'p/', 2), what).rejects.toThrow(why);
        } finally {
          await proxy.close();
        }
      }
      // Through the CLI (whole pages): a last page that says it is truncated, with no next markers.
      const proxy = await rewritingProxy(server.endpoint, (url, status, body) =>
        url.searchParams.has('versions') && status === 200
          ? {
              status,
              body: body.replace('<IsTruncated>false</IsTruncated>', '<IsTruncated>true</IsTruncated>'),
            }
          : undefined,
      );
      try {
        const target = dirs.dir('brokenpages-pull');
        const r = await runCli(['pull', `s3://${bucket}/p`, target, '--at', '0s'], {
          ...server,
          endpoint: proxy.endpoint,
        });
        expect(r.code).toBe(1);
        expect(r.stderr.trimEnd().split('\n')).toEqual([
          expect.stringMatching(
            /^s3sync: the versions listing of s3:\/\/brokenpages-\S+\/p\/ is truncated but names no next page/,
          ),
        ]);
        expect(treeHashes(target)).toEqual({});
      } finally {
        await proxy.close();
      }
    },
  );
});
