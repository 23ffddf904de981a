/**
 * Connections of a long-lived process (a library caller's loop, a watch) against a store that never
 * closes idle connections: each run closes the pool it opened, a watch keeps one pool for all its
 * batches and closes it when it stops, and a caller's own client is left working.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { apply, check, cleanup as cleanupRun, plan, pull, push, syncBuckets, versions } from 's3sync';
import { afterAll, describe, expect, it } from 'vitest';
import { connFor, newBucket, servers, trackedDirs, writeTree } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const clients: S3Client[] = [];
afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const p of proxies) await p.close();
  removeAll();
});

/** A proxy in front of the server that keeps every idle client connection until the client closes it. */
async function keepingProxy(target: string): Promise<FaultProxy> {
  const p = await startFaultProxy({ target, seed: 1, rate: 0, keepAliveTimeout: 0 });
  proxies.push(p);
  return p;
}

/** The proxy's open connections once closes in progress have reached it (a close takes a turn or two). */
async function openAfterClose(p: FaultProxy, bound: number): Promise<number> {
  for (let i = 0; i < 40 && p.openConnections() > bound; i++) await sleep(50);
  return p.openConnections();
}

describe.each(servers())('connections on $name', (server) => {
  const via = (p: FaultProxy) => ({ ...connFor(server), endpointUrl: p.endpoint, workers: 2 });

  it('library runs in a loop leave no connection open, however many', async () => {
    const p = await keepingProxy(server.endpoint);
    const { bucket } = await newBucket(server, 'conn-loop');
    const src = dir('conn-loop-src');
    writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'charlie', 'd.txt': 'delta' });
    const conn = via(p);
    const open: number[] = [];
    for (let i = 0; i < 8; i++) {
      writeFileSync(path.join(src, 'a.txt'), `alpha ${i}`);
      writeFileSync(path.join(src, `n${i}.txt`), `new ${i}`);
      const r = await push({ ...conn, source: src, destination: `s3://${bucket}/loop` });
      expect(r.outcome).toBe('ok');
      open.push(await openAfterClose(p, 0));
    }
    expect(open).toEqual(open.map(() => 0));
  });

  it('every command closes its connections: pull, check, plan and apply, S3 to S3, cleanup, versions', async () => {
    const p = await keepingProxy(server.endpoint);
    const { bucket } = await newBucket(server, 'conn-cmds');
    const src = dir('conn-cmds-src');
    const dst = dir('conn-cmds-dst');
    writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'charlie' });
    const conn = via(p);
    const url = `s3://${bucket}/c/`;
    const after: Record<string, number> = {};
    const refused: string[] = [];
    const settle = async (name: string, run: Promise<unknown>) => {
      await run.catch(() => refused.push(name));
      after[name] = await openAfterClose(p, 0);
    };
    await settle('push', push({ ...conn, source: src, destination: url }));
    await settle('pull', pull({ ...conn, source: url, destination: dst }));
    await settle('check', check({ ...conn, local: src, remote: url }));
    writeFileSync(path.join(src, 'a.txt'), 'alpha 2');
    const planFile = path.join(dir('conn-cmds-plan'), 'plan.json');
    await settle('plan', plan({ ...conn, direction: 'push', source: src, destination: url, out: planFile }));
    await settle('apply', apply({ ...conn, plan: planFile }));
    await settle('sync', syncBuckets({ ...conn, source: url, destination: `s3://${bucket}/copy/` }));
    // Refused by s3rver (no ListMultipartUploads, no versioning) after its connection was made: closed too.
    await settle('cleanup', cleanupRun({ ...conn, target: url, olderThan: '24h', dryRun: true }));
    await settle('versions', versions({ ...conn, target: url }));
    expect(after).toEqual({
      push: 0,
      pull: 0,
      check: 0,
      plan: 0,
      apply: 0,
      sync: 0,
      cleanup: 0,
      versions: 0,
    });
    expect(refused.filter((name) => name !== 'cleanup' && name !== 'versions')).toEqual([]);
  });

  it('a watch keeps one pool for all its batches and closes it when it stops', async () => {
    const p = await keepingProxy(server.endpoint);
    const { bucket } = await newBucket(server, 'conn-watch');
    const src = dir('conn-watch-src');
    writeTree(src, { 'a.txt': 'alpha' });
    const stop = new AbortController();
    let batches = 0;
    let sent = 0;
    let most = 0;
    const watching = push({
      ...via(p),
      source: src,
      destination: `s3://${bucket}/w`,
      watch: true,
      settle: '100ms',
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === 'batch') {
          batches++;
          sent += e.uploaded;
        }
        most = Math.max(most, p.openConnections());
      },
    });
    const sentBy = async (n: number) => {
      for (let i = 0; i < 300 && sent < n; i++) await sleep(50);
      return sent;
    };
    expect(await sentBy(1)).toBe(1);
    // Each file sent before the next is written: a batch, and a run, for each.
    for (let i = 0; i < 10; i++) {
      writeFileSync(path.join(src, `f${i}.txt`), `file ${i}`);
      expect(await sentBy(i + 2)).toBe(i + 2);
      most = Math.max(most, p.openConnections());
    }
    expect(batches).toBeGreaterThanOrEqual(11);
    // One pool of at most twice --workers sockets, whatever the number of batches.
    expect(most).toBeLessThanOrEqual(4);
    stop.abort();
    const r = await watching;
    expect(r.uploaded).toBe(11);
    expect(await openAfterClose(p, 0)).toBe(0);
  });

  it("a caller's own client is left open and working after its runs", async () => {
    const p = await keepingProxy(server.endpoint);
    const { bucket } = await newBucket(server, 'conn-own');
    const src = dir('conn-own-src');
    writeTree(src, { 'a.txt': 'alpha' });
    const { credentials, region } = connFor(server);
    const client = new S3Client({
      endpoint: p.endpoint,
      forcePathStyle: true,
      region,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clients.push(client);
    const r = await push({ client, source: src, destination: `s3://${bucket}/own` });
    expect(r.outcome).toBe('ok');
    writeFileSync(path.join(src, 'b.txt'), 'bravo');
    const stop = new AbortController();
    const watching = push({
      client,
      source: src,
      destination: `s3://${bucket}/own`,
      watch: true,
      settle: '100ms',
      signal: stop.signal,
      onEvent: (e) => {
        // The first walk may hold b.txt back as just written: a later batch sends it.
        if (e.type === 'batch' && e.uploaded > 0) stop.abort();
      },
    });
    const late = setTimeout(() => stop.abort(), 20_000);
    await watching;
    clearTimeout(late);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'own/' }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(['own/a.txt', 'own/b.txt']);
  });
});
