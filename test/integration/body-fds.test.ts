/**
 * An upload attempt cut mid-body leaves no descriptor open on its source: the SDK stops piping a body
 * whose request failed but never closes it, so each cut attempt used to keep its file open for the
 * life of the process (a watch reached EMFILE; a file deleted meanwhile kept its disk space).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { push } from 's3sync';
import { afterAll, describe, expect, it } from 'vitest';
import { bigFile, connFor, MiB, md5Hex, newBucket, servers, trackedDirs } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

/** This process's descriptors open on files under `root` (a body's read may still be returning). */
async function openUnder(root: string): Promise<number> {
  const count = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(root);
      } catch {
        return false;
      }
    }).length;
  for (let i = 0; i < 20 && count() > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return count();
}

const CASES = [
  { name: 'multipart parts', size: 12 * MiB, opts: { multipartThreshold: '5MiB', partSize: '5MiB' } },
  { name: 'one streamed PutObject', size: 20 * MiB, opts: { multipartThreshold: '64MiB' } },
  {
    name: 'a --bwlimit paced PutObject',
    size: 20 * MiB,
    opts: { multipartThreshold: '64MiB', bwlimit: '64MiB' },
  },
  // The gzip body is sent from a temporary file, removed after the upload: held open, its space stays.
  { name: 'a --compress PutObject', size: 20 * MiB, opts: { compress: ['*.bin'] } },
];

describe.each(servers())('upload bodies on $name', (server) => {
  it.each(CASES)('$name cut mid-body leave no descriptor open on the file', async ({ size, opts }) => {
    const { bucket, transport } = await newBucket(server, 'body-fds');
    const src = dir('body-fds');
    const file = path.join(src, 'big.bin');
    bigFile(file, size);
    // The first three body-carrying requests are cut after their first chunk; the rest pass.
    let cut = 0;
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 1,
      kinds: ['reset-request'],
      filter: (r) => r.method === 'PUT' && !r.url.endsWith(`/${bucket}`) && cut++ < 3,
    });
    proxies.push(proxy);
    const r = await push({
      ...connFor(server),
      endpointUrl: proxy.endpoint,
      source: src,
      destination: `s3://${bucket}/fd`,
      retries: 5,
      ...opts,
    });
    expect(r.outcome).toBe('ok');
    expect(proxy.stats.faults['reset-request']).toBe(3);
    expect(await openUnder(src)).toBe(0);
    expect(await openUnder(path.join(tmpdir(), 's3sync-gz-'))).toBe(0);
    const stored = await transport.get({ key: 'fd/big.bin' }, async (body) => {
      const parts: Buffer[] = [];
      for await (const c of 'compress' in opts ? body.pipe(createGunzip()) : body) parts.push(c as Buffer);
      return Buffer.concat(parts);
    });
    expect(md5Hex(stored)).toBe(md5Hex(readFileSync(file)));
  });
});
