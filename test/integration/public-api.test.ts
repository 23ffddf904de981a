import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
// Only the package's public entry point, resolved through package.json "exports" as a user's would be.
import {
  apply,
  check,
  cleanup as cleanupRun,
  PROVIDERS,
  plan,
  pull,
  push,
  S3SyncError,
  type SyncEvent,
  syncBuckets,
  versions,
} from 's3sync';
import { describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, servers, tempDir, treeHashes, writeTree } from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

/** An S3Client of the caller's own, for the server: the runs are given it instead of building theirs. */
const callerClient = (server: TestServer) =>
  new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });

/** Where the caller's client goes, named for the manifest, and the client: its credentials are its own. */
const withClient = (server: TestServer, client: S3Client) => {
  const { credentials: _own, ...where } = connFor(server);
  return { ...where, client };
};

describe.each(servers())('public API on $name', (server) => {
  it('push, pull, check and plan through the package entry point, with events', async () => {
    const { bucket } = await newBucket(server, 'api');
    const src = tempDir('api-src');
    const dst = tempDir('api-dst');
    writeTree(src, { 'a.txt': 'alpha', 'dir/b.bin': 2048, 'dir/c d.txt': 'gamma' });
    const conn = connFor(server);
    const url = `s3://${bucket}/lib`;
    const events: SyncEvent[] = [];
    const pushed = await push({ ...conn, source: src, destination: url, onEvent: (e) => events.push(e) });
    expect(pushed).toMatchObject({ command: 'push', uploaded: 3, failed: 0, outcome: 'ok' });
    expect(
      events
        .filter((e) => e.type === 'done' && e.action === 'upload')
        .map((e) => (e as { rel: string }).rel)
        .sort(),
    ).toEqual(['a.txt', 'dir/b.bin', 'dir/c d.txt']);
    expect(events.at(-1)?.type).toBe('summary');

    const pulled = await pull({ ...conn, source: url, destination: dst });
    expect(pulled.downloaded).toBe(3);
    expect(treeHashes(dst)).toEqual(treeHashes(src));

    writeFileSync(path.join(src, 'new.txt'), 'new');
    const p = await plan({ ...conn, direction: 'push', source: src, destination: url });
    expect(p.actions.map((a) => [a.kind, a.rel, a.reason])).toEqual([['upload', 'new.txt', 'new']]);

    const c = await check({ ...conn, local: src, remote: url });
    expect(c).toMatchObject({
      onlyLocal: ['new.txt'],
      onlyRemote: [],
      differ: [],
      same: 3,
      outcome: 'differ',
    });
    cleanup(src, dst);
  });

  it('one S3Client of the caller serves call after call, each counting its own requests', async () => {
    const { bucket } = await newBucket(server, 'apiclient');
    const src = tempDir('api-client');
    const dst = tempDir('api-client-dst');
    writeTree(src, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
    const client = callerClient(server);
    try {
      const conn = withClient(server, client);
      const url = `s3://${bucket}/c`;
      const pushed = await push({ ...conn, source: src, destination: url });
      expect(pushed).toMatchObject({ uploaded: 2, outcome: 'ok', requests: { PutObject: 2 } });
      expect(await check({ ...conn, local: src, remote: url })).toMatchObject({ same: 2, outcome: 'ok' });
      const pulled = await pull({ ...conn, source: url, destination: dst });
      expect(pulled).toMatchObject({
        downloaded: 2,
        outcome: 'ok',
        requests: { ListObjectsV2: 1, GetObject: 2 },
      });
      writeFileSync(path.join(src, 'c.txt'), 'charlie');
      const again = await push({ ...conn, source: src, destination: url, delete: true });
      expect(again).toMatchObject({ uploaded: 1, outcome: 'ok' });
      expect(again.requests.PutObject).toBe(1);
    } finally {
      client.destroy();
      cleanup(src, dst);
    }
  });

  it("a caller's client is its own way to the store: a socks ALL_PROXY in the environment does not stop it", async () => {
    const { bucket } = await newBucket(server, 'apisocks');
    const src = tempDir('api-socks');
    writeTree(src, { 'a.txt': 'alpha' });
    const client = callerClient(server);
    const before = process.env.ALL_PROXY;
    process.env.ALL_PROXY = 'socks5://127.0.0.1:1';
    try {
      const conn = withClient(server, client);
      const pushed = await push({ ...conn, source: src, destination: `s3://${bucket}/s` });
      expect(pushed).toMatchObject({ uploaded: 1, outcome: 'ok' });
      // Without a client of its own the run would go through it: refused in one line.
      const { client: _c, ...own } = conn;
      await expect(
        push({
          ...own,
          credentials: connFor(server).credentials,
          source: src,
          destination: `s3://${bucket}/t`,
        }),
      ).rejects.toThrow(/^ALL_PROXY names a socks5 proxy .*socks proxies are not supported/);
    } finally {
      if (before === undefined) delete process.env.ALL_PROXY;
      else process.env.ALL_PROXY = before;
      client.destroy();
      cleanup(src);
    }
  });

  it('two runs at once on one S3Client of the caller each count their own requests', async () => {
    const { bucket } = await newBucket(server, 'apishared');
    const one = tempDir('api-shared-1');
    const two = tempDir('api-shared-2');
    const files = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}.txt`, `${n}:${i}`]));
    writeTree(one, files(3));
    writeTree(two, files(40));
    const client = callerClient(server);
    try {
      const conn = { ...withClient(server, client), workers: 2 };
      const [a, b] = await Promise.all([
        push({ ...conn, source: one, destination: `s3://${bucket}/one` }),
        push({ ...conn, source: two, destination: `s3://${bucket}/two` }),
      ]);
      expect(a).toMatchObject({ uploaded: 3, outcome: 'ok' });
      expect(b).toMatchObject({ uploaded: 40, outcome: 'ok' });
      // Each its own listing and uploads, none of the other's.
      expect(a.requests).toEqual({ ListObjectsV2: 1, PutObject: 3 });
      expect(b.requests).toEqual({ ListObjectsV2: 1, PutObject: 40 });
      expect([a.requestsTotal, b.requestsTotal]).toEqual([4, 41]);
    } finally {
      client.destroy();
      cleanup(one, two);
    }
  });

  it('cancels with an AbortSignal and leaves a valid manifest', async () => {
    const { bucket } = await newBucket(server, 'abort');
    const src = tempDir('abort');
    const files: Record<string, number> = {};
    for (let i = 0; i < 200; i++) files[`f${i}.bin`] = 4096;
    writeTree(src, files);
    const controller = new AbortController();
    let done = 0;
    const run = push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/x`,
      workers: 2,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'done' && ++done === 20) controller.abort();
      },
    });
    await expect(run).rejects.toThrow();
    // A later run completes what the cancelled one did not, without redoing what it did.
    const again = await push({ ...connFor(server), source: src, destination: `s3://${bucket}/x` });
    expect(again.outcome).toBe('ok');
    expect(again.uploaded + again.recorded).toBeLessThanOrEqual(200 - 20);
    expect(again.uploaded + again.recorded + again.unchanged).toBe(200);
    cleanup(src);
  });

  it('an onEvent that throws stops the run, which rejects with it; what went is not redone or failed', async () => {
    const { bucket, transport } = await newBucket(server, 'cbthrow');
    const src = tempDir('cbthrow');
    const dst = tempDir('cbthrow-dst');
    const files: Record<string, number> = {};
    for (let i = 0; i < 60; i++) files[`f${i}.bin`] = 4096;
    writeTree(src, files);
    const conn = connFor(server);
    const url = `s3://${bucket}/x`;
    /** A callback that breaks at the third transfer (sync or async), or at once; it keeps what it got. */
    const breaking = (how: 'throws' | 'rejects' | 'at once') => {
      const broke = new Error('the caller broke');
      const seen: unknown[] = [];
      let done = 0;
      const onEvent = (e: { type: string }) => {
        seen.push(e);
        if (how !== 'at once' && (e.type !== 'done' || ++done !== 3)) return;
        if (how === 'rejects') return Promise.reject(broke);
        throw broke;
      };
      return { broke, seen, onEvent: onEvent as (e: { type: string }) => void };
    };
    for (const how of ['throws', 'rejects'] as const) {
      const cb = breaking(how);
      const run = push({ ...conn, source: src, destination: url, workers: 2, onEvent: cb.onEvent });
      expect(await run.catch((e: unknown) => e), how).toBe(cb.broke);
      // Not called again once it threw, and no file was failed for it: it went.
      const types = cb.seen.map((e) => (e as SyncEvent).type);
      expect(types.lastIndexOf('done'), how).toBe(types.length - 1);
      expect(types, how).not.toContain('error');
    }
    const went = (await transport.list('x/')).size;
    expect(went).toBeGreaterThanOrEqual(3);
    expect(went).toBeLessThan(60);
    // What went is kept by the manifest or found again, never uploaded twice.
    const again = await push({ ...conn, source: src, destination: url });
    expect(again).toMatchObject({ uploaded: 60 - went, failed: 0, outcome: 'ok' });

    const pulling = breaking('throws');
    const pulled = pull({ ...conn, source: url, destination: dst, workers: 2, onEvent: pulling.onEvent });
    expect(await pulled.catch((e: unknown) => e)).toBe(pulling.broke);
    const checking = breaking('at once');
    const checked = check({ ...conn, local: src, remote: url, full: true, onEvent: checking.onEvent });
    expect(await checked.catch((e: unknown) => e)).toBe(checking.broke);
    expect(checking.seen).toHaveLength(1);
    const rest = await pull({ ...conn, source: url, destination: dst });
    expect(rest).toMatchObject({ failed: 0, outcome: 'ok' });
    expect(rest.downloaded).toBeLessThanOrEqual(60 - 3);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    cleanup(src, dst);
  });

  it('a push cancelled between delete batches counts, reports and forgets the batch it deleted', async () => {
    const { bucket, transport } = await newBucket(server, 'delcancel');
    const src = tempDir('delcancel');
    const files: Record<string, string> = { 'keep.txt': 'kept' };
    for (let i = 0; i < 1030; i++) files[`go/f${i}.txt`] = `${i}`;
    writeTree(src, files);
    const url = `s3://${bucket}/x`;
    expect(await push({ ...connFor(server), source: src, destination: url })).toMatchObject({
      uploaded: 1031,
    });
    rmSync(path.join(src, 'go'), { recursive: true });
    // The second DeleteObjects (keys 1,001 to 1,030) is held, never sent, and the run cancelled then.
    const controller = new AbortController();
    let batches = 0;
    let release = () => {};
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: (req) => {
        if (req.method !== 'POST' || !/[?&]delete(=|&|$)/.test(req.url) || ++batches === 1) return undefined;
        controller.abort();
        return new Promise<void>((r) => {
          release = r;
        });
      },
    });
    const events: SyncEvent[] = [];
    const run = push({
      ...connFor(server),
      endpointUrl: proxy.endpoint,
      source: src,
      destination: url,
      delete: true,
      maxDelete: '100%',
      signal: controller.signal,
      onEvent: (e) => events.push(e),
    });
    await expect(run).rejects.toThrow();
    release();
    await proxy.close();
    expect(batches).toBe(2);
    expect(events.find((e) => e.type === 'summary')).toMatchObject({
      cancelled: true,
      deleted: 1000,
      failed: 0,
    });
    expect(events.filter((e) => e.type === 'done' && e.action === 'delete')).toHaveLength(1000);
    expect((await transport.list('x/')).size).toBe(31);
    // The manifest forgot what went: the next run deletes the rest, uploads nothing.
    const again = await push({
      ...connFor(server),
      source: src,
      destination: url,
      delete: true,
      maxDelete: '100%',
    });
    expect(again).toMatchObject({ outcome: 'ok', deleted: 30, uploaded: 0, recorded: 0 });
    expect([...(await transport.list('x/')).keys()]).toEqual(['keep.txt']);
    cleanup(src);
  });

  it('two runs at once in one process, each with its own hashing threads', async () => {
    const { bucket } = await newBucket(server, 'twice');
    const conn = connFor(server);
    // Past the size that is hashed on a worker thread, so both runs start theirs.
    const srcs = [tempDir('twice-a'), tempDir('twice-b')];
    for (const [i, src] of srcs.entries())
      writeTree(src, { 'big.bin': 9 * 1024 * 1024 + i, 'small.txt': `s${i}` });
    const urls = srcs.map((_, i) => `s3://${bucket}/run${i}`);
    const pushAll = () =>
      Promise.all(srcs.map((source, i) => push({ ...conn, source, destination: urls[i]! })));
    for (const r of await pushAll()) expect(r).toMatchObject({ uploaded: 2, failed: 0, outcome: 'ok' });
    const dsts = [tempDir('twice-c'), tempDir('twice-d')];
    const pulled = await Promise.all(
      dsts.map((destination, i) => pull({ ...conn, source: urls[i]!, destination })),
    );
    for (const r of pulled) expect(r).toMatchObject({ downloaded: 2, failed: 0, outcome: 'ok' });
    for (const [i, dst] of dsts.entries()) expect(treeHashes(dst)).toEqual(treeHashes(srcs[i]!));
    // Without their manifests, both runs hash their files at once to match them with the listing.
    for (const src of srcs) rmSync(path.join(src, '.s3sync'), { recursive: true });
    for (const r of await pushAll()) expect(r).toMatchObject({ uploaded: 0, recorded: 2, outcome: 'ok' });
    cleanup(...srcs, ...dsts);
  });

  it('a library value of the wrong type is a usage error before the lock, which the next run gets', async () => {
    const { bucket } = await newBucket(server, 'apibad');
    const dir = tempDir('api-bad');
    writeTree(dir, { 'a.txt': 'a' });
    const base = { ...connFor(server), source: dir, destination: `s3://${bucket}/p` };
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['signal', { signal: 5 }, /option signal must be an AbortSignal/],
      ['signal', { signal: { aborted: false } }, /option signal must be an AbortSignal/],
      ['onEvent', { onEvent: 'x' }, /option onEvent must be a function/],
      ['credentials', { credentials: {} }, /option credentials must hold accessKeyId/],
      ['credentials', { credentials: 'key:secret' }, /option credentials must hold accessKeyId/],
    ];
    for (const [what, extra, re] of bad) {
      const err = await push({ ...base, ...extra } as Parameters<typeof push>[0]).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind, what).toBe('usage');
      expect((err as Error).message, what).toMatch(re);
    }
    // No lock was left behind: the next run of this process goes ahead.
    expect(await push(base)).toMatchObject({ uploaded: 1, outcome: 'ok' });
    cleanup(dir);
  });

  it('an async onEvent rejecting after the run ended fails the call, for every call that takes one', async () => {
    const { bucket } = await newBucket(server, 'latecb');
    const src = tempDir('latecb');
    const dst = tempDir('latecb-dst');
    writeTree(src, { 'a.txt': 'alpha' });
    const conn = connFor(server);
    const url = `s3://${bucket}/x`;
    await push({ ...conn, source: src, destination: url });
    // One stale multipart upload listed (not every store lists them), for cleanup to say it would abort.
    const uploads = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) =>
        req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url)
          ? {
              status: 200,
              body: () =>
                Buffer.from(
                  '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
                    `<Bucket>${bucket}</Bucket><Prefix>x/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
                    '<Upload><Key>x/stale</Key><UploadId>made-up</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated>' +
                    '<StorageClass>STANDARD</StorageClass></Upload></ListMultipartUploadsResult>',
                ),
            }
          : undefined,
    });
    /** Rejects well after the event that started it, and so after the call's run has ended. */
    const late = () => {
      const broke = new Error('late');
      let first = true;
      const onEvent = async () => {
        if (!first) return;
        first = false;
        await sleep(200);
        throw broke;
      };
      return { broke, onEvent: onEvent as (e: unknown) => void };
    };
    const calls: [string, (onEvent: (e: unknown) => void) => Promise<unknown>][] = [
      ['push', (onEvent) => push({ ...conn, source: src, destination: url, onEvent })],
      ['pull', (onEvent) => pull({ ...conn, source: url, destination: dst, onEvent })],
      ['check', (onEvent) => check({ ...conn, local: src, remote: url, onEvent })],
      [
        'plan',
        (onEvent) => plan({ ...conn, direction: 'push', source: src, destination: `${url}-new`, onEvent }),
      ],
      [
        'apply',
        async (onEvent) =>
          apply({
            ...conn,
            plan: await plan({ ...conn, direction: 'pull', source: url, destination: tempDir('latecb-a') }),
            onEvent,
          }),
      ],
      [
        'cleanup',
        (onEvent) =>
          cleanupRun({
            ...conn,
            endpointUrl: uploads.endpoint,
            target: url,
            olderThan: '0s',
            dryRun: true,
            onEvent,
          }),
      ],
      [
        'syncBuckets',
        (onEvent) => syncBuckets({ ...conn, source: url, destination: `s3://${bucket}/y`, onEvent }),
      ],
    ];
    for (const [name, call] of calls) {
      const cb = late();
      expect(await call(cb.onEvent).catch((e: unknown) => e), name).toBe(cb.broke);
    }
    // versions says notices only: an endpoint URL's user name is one, ignored.
    const cb = late();
    const withUser = { ...conn, endpointUrl: conn.endpointUrl!.replace('://', '://someone@') };
    const listed = versions({ ...withUser, target: url, onEvent: cb.onEvent }).catch((e: unknown) => e);
    const got = await listed;
    // A store without versioning refuses the listing itself; the callback's error wins all the same.
    expect(got).toBe(cb.broke);
    await uploads.close();
    cleanup(src, dst);
  });

  it('an async objectParams is refused before any upload, not its fields silently dropped', async () => {
    const { bucket, transport } = await newBucket(server, 'asyncparams');
    const src = tempDir('asyncparams');
    writeTree(src, { 'a.html': '<p>a</p>' });
    const err: unknown = await push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/p`,
      objectParams: (async () => ({ ContentLanguage: 'en' })) as never,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as Error).message).toMatch(/objectParams must return the fields, not a promise/);
    expect((err as Error).message).not.toContain('\n');
    expect((await transport.list('p/')).size).toBe(0);
    // A plain function's fields are sent.
    const ok = await push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/p`,
      objectParams: () => ({ ContentLanguage: 'en' }),
    });
    expect(ok).toMatchObject({ uploaded: 1, outcome: 'ok' });
    const h = await transport.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'p/a.html' }));
    expect(h.ContentLanguage).toBe('en');
    cleanup(src);
  });

  it('a plan whose call rejects or is cancelled writes no plan file', async () => {
    const { bucket } = await newBucket(server, 'planfail');
    const src = tempDir('planfail');
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' });
    const conn = connFor(server);
    const base = { ...conn, direction: 'push' as const, source: src, destination: `s3://${bucket}/p` };
    const out = path.join(tempDir('planfail-out'), 'plan.json');
    const broke = new Error('the caller broke');
    const cases: [string, () => Promise<unknown>][] = [
      [
        'onEvent throws',
        () =>
          plan({
            ...base,
            out,
            onEvent: (e) => {
              if (e.type === 'action') throw broke;
            },
          }),
      ],
      [
        'onEvent rejects late',
        () =>
          plan({
            ...base,
            out,
            onEvent: (async (e: SyncEvent) => {
              if (e.type !== 'action' || e.rel !== 'a.txt') return;
              await sleep(200);
              throw broke;
            }) as (e: SyncEvent) => void,
          }),
      ],
      [
        'cancelled while its events are delivered',
        () => {
          const controller = new AbortController();
          return plan({
            ...base,
            out,
            signal: controller.signal,
            onEvent: (e) => {
              if (e.type === 'action') controller.abort();
            },
          });
        },
      ],
    ];
    for (const [name, call] of cases) {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeDefined();
      expect(existsSync(out), name).toBe(false);
    }
    // The same plan, not stopped, is written.
    const doc = await plan({ ...base, out });
    expect(doc.actions).toHaveLength(3);
    expect(existsSync(out)).toBe(true);
    cleanup(src, path.dirname(out));
  });

  it('client must be an S3Client, and no connection option it already fixes comes with it', async () => {
    const { bucket } = await newBucket(server, 'apiclientbad');
    const dir = tempDir('api-client-bad');
    writeTree(dir, { 'a.txt': 'a' });
    const client = callerClient(server);
    try {
      const base = { source: dir, destination: `s3://${bucket}/p` };
      const bad: [string, Record<string, unknown>, RegExp][] = [
        ['{}', { client: {} }, /option client must be an S3Client/],
        ['null', { client: null }, /option client must be an S3Client/],
        ['send only', { client: { send: () => {} } }, /option client must be an S3Client/],
        [
          'another endpointUrl',
          { client, endpointUrl: 'http://127.0.0.1:9' },
          /client fixes the connection: its endpoint is .*, not endpointUrl http:\/\/127\.0\.0\.1:9/,
        ],
        [
          'checksums',
          { client, checksums: 'when_required' },
          /client fixes the connection: leave out checksums/,
        ],
        ['stallTimeout', { client, stallTimeout: '30s' }, /leave out stallTimeout/],
        ['pathStyle', { client, pathStyle: true }, /leave out pathStyle/],
        ['credentials', { client, credentials: connFor(server).credentials }, /leave out credentials/],
      ];
      for (const [what, extra, re] of bad) {
        const err = await push({ ...base, ...extra } as Parameters<typeof push>[0]).catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(S3SyncError);
        expect((err as S3SyncError).kind, what).toBe('usage');
        expect((err as Error).message, what).toMatch(re);
        expect((err as Error).message, what).not.toContain('\n');
      }
      // What still applies with it is taken: its endpoint, region and provider name the store (the
      // manifest's, a plan's), and s3sync's own retries and workers.
      const ok = await push({ ...base, ...withClient(server, client), workers: 2, retries: 2 });
      expect(ok).toMatchObject({ uploaded: 1, outcome: 'ok' });
    } finally {
      client.destroy();
      cleanup(dir);
    }
  });

  it("a caller's client names its store: plan and apply with it alone; one that reaches AWS takes no endpointUrl", async () => {
    const { bucket, transport } = await newBucket(server, 'apiclientstore');
    const dir = tempDir('api-client-store');
    writeTree(dir, { 'a.txt': 'a' });
    const out = path.join(tempDir('api-client-store-plan'), 'plan.json');
    const client = callerClient(server);
    const aws = new S3Client({ region: 'us-east-1', credentials: connFor(server).credentials });
    try {
      // No endpointUrl: the plan names the client's endpoint, not the AWS default (before, apply with
      // the same client was refused: its endpoint was not the plan's).
      const doc = await plan({
        client,
        provider: server.provider,
        direction: 'push',
        source: dir,
        destination: `s3://${bucket}/p`,
        out,
      });
      expect(doc.endpoint).toBe(server.endpoint.replace(/\/$/, ''));
      const applied = await apply({ client, plan: out });
      expect(applied).toMatchObject({ uploaded: 1, outcome: 'ok' });
      expect([...(await transport.list('p/')).keys()]).toEqual(['a.txt']);
      // A client with no endpoint reaches AWS: an endpointUrl elsewhere would name another store.
      const err = await push({
        client: aws,
        endpointUrl: server.endpoint,
        source: dir,
        destination: `s3://${bucket}/q`,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as Error).message).toMatch(
        /^client fixes the connection: it has no endpoint of its own \(it reaches AWS\)/,
      );
    } finally {
      client.destroy();
      aws.destroy();
      cleanup(dir, path.dirname(out));
    }
  });

  it.each([
    ['answered 500 by the proxy', false],
    ['answered 500 after the store took it', true],
  ])("a caller's client that retries itself has every attempt counted: %s", async (_name, reached) => {
    const { bucket } = await newBucket(server, 'apiretry');
    const src = tempDir('api-retry');
    const files: Record<string, string> = {};
    for (let i = 0; i < 10; i++) files[`f${i}.txt`] = `file ${i}`;
    writeTree(src, files);
    // The first PUT of three keys fails with a 500, either at the proxy or after the store took it.
    const failed = new Set<string>();
    const firstTry = ({ method, url }: { method: string; url: string }) => {
      const key = /\/(f[0-2]\.txt)(\?|$)/.exec(url)?.[1];
      if (method !== 'PUT' || key === undefined || failed.has(key)) return false;
      failed.add(key);
      return true;
    };
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: reached ? 0 : 1,
      kinds: ['status-500'],
      filter: reached ? () => false : firstTry,
      rewrite: (req) =>
        reached && firstTry(req)
          ? {
              status: 500,
              headers: (h) => {
                h['content-type'] = 'application/xml';
                delete h.etag;
              },
              body: () =>
                Buffer.from(
                  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>' +
                    '<Message>We encountered an internal error.</Message></Error>',
                ),
            }
          : undefined,
    });
    const client = new S3Client({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      maxAttempts: 3,
    });
    try {
      const r = await push({ source: src, destination: `s3://${bucket}/p`, client, retries: 0 });
      expect(r).toMatchObject({ uploaded: 10, failed: 0, outcome: 'ok' });
      expect(failed.size).toBe(3);
      expect(proxy.log.filter((e) => e.method === 'PUT')).toHaveLength(13);
      expect(r.requests.PutObject).toBe(13);
      expect(r.requestsTotal).toBe(proxy.log.length);
    } finally {
      client.destroy();
      await proxy.close();
      cleanup(src);
    }
  });

  it('values of no type a call takes are usage errors in one line, never a TypeError', async () => {
    const { bucket } = await newBucket(server, 'apitypes');
    const dir = tempDir('api-types');
    writeTree(dir, { 'a.txt': 'a' });
    const conn = connFor(server);
    const url = `s3://${bucket}/p`;
    const fake = { send: async () => ({}), middlewareStack: { add() {}, remove() {} } };
    const calls: [string, () => Promise<unknown>, RegExp][] = [
      [
        'a BigInt direction',
        () => plan({ ...conn, direction: 10n, source: dir, destination: url } as never),
        /^plan: direction must be push, pull or sync, not 10n$/,
      ],
      [
        'a Symbol direction',
        () => plan({ ...conn, direction: Symbol('push'), source: dir, destination: url } as never),
        /^plan: direction must be push, pull or sync, not Symbol\(push\)$/,
      ],
      [
        'a listed source of plan sync',
        () => plan({ ...conn, direction: 'sync', source: [url], destination: `${url}2` } as never),
        /^plan sync takes two s3:\/\/bucket\/prefix URLs/,
      ],
      [
        'a Symbol source of syncBuckets',
        () => syncBuckets({ ...conn, source: Symbol(), destination: url } as never),
        /^source must be an s3:\/\/bucket\/prefix URL, got Symbol\(\)$/,
      ],
      [
        'a listed destination of syncBuckets',
        () => syncBuckets({ ...conn, source: url, destination: [`${url}2`] } as never),
        /^destination must be an s3:\/\/bucket\/prefix URL, got \[/,
      ],
      [
        'a signal look-alike',
        () =>
          push({
            ...conn,
            source: dir,
            destination: url,
            signal: { aborted: false, addEventListener() {}, removeEventListener() {} },
          } as never),
        /^option signal must be an AbortSignal/,
      ],
      [
        'a client look-alike without a config',
        () => push({ source: dir, destination: url, client: fake } as never),
        /^option client must be an S3Client/,
      ],
      [
        'the same with an endpointUrl',
        () => pull({ ...conn, source: url, destination: dir, credentials: undefined, client: fake } as never),
        /^option client must be an S3Client/,
      ],
    ];
    try {
      for (const [what, call, re] of calls) {
        const err = await call().catch((e: unknown) => e);
        expect(err, what).toBeInstanceOf(S3SyncError);
        expect((err as S3SyncError).kind, what).toBe('usage');
        expect((err as Error).message, what).toMatch(re);
        expect((err as Error).message, what).not.toContain('\n');
      }
    } finally {
      cleanup(dir);
    }
  });

  it('objectParams fields PutObject does not take, or of another type, are refused before any upload', async () => {
    const { bucket, transport } = await newBucket(server, 'apiparams');
    const dir = tempDir('api-params');
    writeTree(dir, { 'a.txt': 'a', 'b.txt': 'b' });
    const base = { ...connFor(server), source: dir, destination: `s3://${bucket}/p` };
    const bad: [Record<string, unknown>, string][] = [
      [{ bucket: 'other' }, 'objectParams returned "bucket", which is no PutObject field'],
      [
        { contentLanguage: 'en' },
        'objectParams returned "contentLanguage", which is no PutObject field (did you mean ContentLanguage?)',
      ],
      [{ ContentLanguage: 42 }, 'objectParams field ContentLanguage must be a string, got 42'],
    ];
    try {
      for (const [fields, message] of bad) {
        const err = await push({ ...base, objectParams: () => fields }).catch((e: unknown) => e);
        expect(err, message).toMatchObject({ name: 'S3SyncError', kind: 'usage', message });
        expect((await transport.list('p/')).size, message).toBe(0);
      }
      expect(await push({ ...base, objectParams: () => ({ ContentLanguage: 'en' }) })).toMatchObject({
        uploaded: 2,
        outcome: 'ok',
      });
      const h = await transport.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'p/a.txt' }));
      expect(h.ContentLanguage).toBe('en');
    } finally {
      cleanup(dir);
    }
  });

  it('exports errors and the provider table', () => {
    expect(new S3SyncError('x').kind).toBe('usage');
    expect(new S3SyncError('x', 'file').kind).toBe('file');
    expect(Object.keys(PROVIDERS)).toContain('ceph');
  });
});
