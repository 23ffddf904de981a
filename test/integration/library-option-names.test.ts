/**
 * A library call's usage error names the option as the call gives it, and its flag: `minSize
 * (--min-size)`, as `deleteExcluded (--delete-excluded)` always has, not the flag alone. Options are
 * read once, inherited ones and getters too: what the run acts on is what was checked.
 */

import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cleanup as cleanupRun, pull, push, versions } from 's3sync';
import { describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, seedObject, servers, tempDir, writeTree } from '../helpers.js';

describe.each(servers())('library option names on $name', (server) => {
  it.each<[string, Record<string, unknown>, 'push' | 'pull', RegExp]>([
    [
      'sizes that select nothing',
      { minSize: 2048, maxSize: 1024 },
      'push',
      /^minSize \(--min-size\) 2048 bytes is above maxSize \(--max-size\) 1024 bytes: no file could be selected$/,
    ],
    [
      'ages that select nothing',
      { maxAge: '1d', minAge: '2d' },
      'push',
      /^maxAge \(--max-age\) .* is after minAge \(--min-age\) .*: no file could be selected$/,
    ],
    [
      'a shard given both ways',
      { shard: '0/2', shards: 2 },
      'push',
      /^give shard \(--shard\) I\/N or shards \(--shards\) N, not both$/,
    ],
    ['a time that is none', { at: 'x' }, 'pull', /^at \(--at\): 'x' is neither/],
    [
      'a backup folder that is no S3 URL',
      { backupDir: 'old' },
      'push',
      /^backupDir \(--backup-dir\) for an S3 destination must be an s3:\/\/bucket\/prefix URL, not 'old'$/,
    ],
    [
      'a manifest path that is a folder',
      { manifest: tmpdir() },
      'push',
      /^manifest \(--manifest\) \S+ is a directory; it is left as it is: give a path that is new or holds an s3sync manifest$/,
    ],
    [
      'an endpoint that is no URL',
      { endpointUrl: 'not a url' },
      'push',
      /^malformed endpoint URL 'not a url' in endpointUrl \(--endpoint-url\) /,
    ],
    [
      'an endpoint nothing listens at',
      { endpointUrl: 'http://127.0.0.1:9' },
      'push',
      /^nothing accepts connections at the S3 endpoint .* \(ECONNREFUSED\): check endpointUrl \(--endpoint-url\)/,
    ],
  ])('%s: kind usage, the option named with its flag', async (_name, extra, command, message) => {
    const { bucket } = await newBucket(server, 'lib-names');
    const local = tempDir('lib-names');
    writeTree(local, { 'a.txt': 'alpha' });
    try {
      const conn = connFor(server);
      const url = `s3://${bucket}/p`;
      const call =
        command === 'push'
          ? push({ ...conn, ...extra, source: local, destination: url })
          : pull({ ...conn, ...extra, source: url, destination: local });
      const err = await call.catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: 'S3SyncError',
        kind: 'usage',
        message: expect.stringMatching(message),
      });
    } finally {
      cleanup(local);
    }
  });
});

describe.each(servers())('library calls without a target on $name', (server) => {
  it.each([
    ['versions', versions],
    ['cleanup', cleanupRun],
  ] as const)('%s({}) names the option target, not an S3 URL of undefined', async (name, call) => {
    const err = await call({ ...connFor(server) } as never).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'S3SyncError',
      kind: 'usage',
      message: `${name} needs option target, an s3://bucket/prefix URL (the CLI's argument), got undefined`,
    });
  });
});

/** An options object whose prototype holds `inherited`, with `own` its own keys. */
const inheriting = <T extends object>(inherited: object, own: T): T =>
  Object.assign(Object.create(inherited) as T, own);

describe.each(servers())('library options read once on $name', (server) => {
  it('an inherited delete value is checked as an own one: refused, and nothing deleted', async () => {
    const { bucket, transport } = await newBucket(server, 'lib-inherit');
    const local = tempDir('lib-inherit');
    writeTree(local, { 'a.txt': 'alpha', 'only-local.txt': 'kept' });
    try {
      const conn = connFor(server);
      const url = `s3://${bucket}/p`;
      await seedObject(transport, 'p/only-remote.txt', 'kept too');
      const pushed = await push(
        inheriting({ delete: 'false' }, { ...conn, source: local, destination: url }),
      ).catch((e: unknown) => e);
      expect(pushed).toMatchObject({
        name: 'S3SyncError',
        kind: 'usage',
        message: expect.stringMatching(/^option delete must be /),
      });
      expect([...(await transport.list('p/')).keys()]).toEqual(['only-remote.txt']);
      const pulled = await pull(
        inheriting({ delete: 'no' }, { ...conn, source: url, destination: local }),
      ).catch((e: unknown) => e);
      expect(pulled).toMatchObject({
        name: 'S3SyncError',
        kind: 'usage',
        message: expect.stringMatching(/^option delete must be /),
      });
      expect(existsSync(path.join(local, 'only-local.txt'))).toBe(true);
      expect(existsSync(path.join(local, 'only-remote.txt'))).toBe(false);
    } finally {
      cleanup(local);
    }
  });

  it("an inherited or a class getter's typo is refused as an own one, and the run never starts", async () => {
    const { bucket, transport } = await newBucket(server, 'lib-typo');
    const local = tempDir('lib-typo');
    writeTree(local, { 'a.txt': 'alpha' });
    try {
      const given = { ...connFor(server), source: local, destination: `s3://${bucket}/p` };
      class Options {
        get dryrun() {
          return true;
        }
      }
      for (const opts of [inheriting({ dryrun: true }, given), Object.assign(new Options(), given)]) {
        const err = await push(opts).catch((e: unknown) => e);
        expect(err).toMatchObject({
          kind: 'usage',
          message: 'unknown option "dryrun" (did you mean dryRun?)',
        });
      }
      expect((await transport.list('p/')).size).toBe(0);
    } finally {
      cleanup(local);
    }
  });

  it('a getter is read once: the run goes where, and as, the checked value says', async () => {
    const { bucket, transport } = await newBucket(server, 'lib-getter');
    const { bucket: other, transport: otherT } = await newBucket(server, 'lib-getter-other');
    const local = tempDir('lib-getter');
    writeTree(local, { 'a.txt': 'alpha' });
    try {
      let reads = 0;
      const moving = Object.defineProperty(
        { ...connFor(server), source: local, destination: '' },
        'destination',
        {
          enumerable: true,
          get: () => (reads++ === 0 ? `s3://${bucket}/ok` : `s3://${other}/never-validated`),
        },
      );
      expect(await push(moving)).toMatchObject({ uploaded: 1, outcome: 'ok' });
      expect(reads).toBe(1);
      expect([...(await transport.list('ok/')).keys()]).toEqual(['a.txt']);
      expect((await otherT.list('')).size).toBe(0);
      let dryReads = 0;
      const dry = Object.defineProperty(
        { ...connFor(server), source: local, destination: `s3://${bucket}/dry` },
        'dryRun',
        { enumerable: true, get: () => dryReads++ === 0 },
      );
      expect(await push(dry)).toMatchObject({ dryRun: true, uploaded: 1, outcome: 'ok' });
      expect(dryReads).toBe(1);
      expect((await transport.list('dry/')).size).toBe(0);
    } finally {
      cleanup(local);
    }
  });
});
