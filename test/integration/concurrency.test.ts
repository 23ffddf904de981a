/**
 * How many requests a run has in flight, seen by a proxy that holds every request for a round trip
 * (a link with latency in front of a real server): without --workers the limit grows past its start
 * while that raises throughput, and never past its maximum; a --workers given is a hard bound. Small
 * PUTs are sent at once, without waiting for 100 Continue; large ones ask for it.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { EXPECT_CONTINUE_FROM } from '../../src/s3/client.js';
import { AUTO_MAX_WORKERS } from '../../src/s3/client-options.js';
import { bigFile, MiB, newBucket, runCli, seededTree, servers, trackedDirs } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

const RTT_MS = 25;
/**
 * For the growth case: long enough that the link, not a server loaded by the rest of the suite, bounds
 * the run, as on a real network.
 */
const LONG_RTT_MS = 150;

/** A proxy that holds each request for `rtt` ms; it records PUT headers and counts requests in flight. */
async function latencyProxy(target: string, rtt = RTT_MS) {
  const puts: { url: string; length: number; expect: boolean }[] = [];
  const proxy = await startFaultProxy({
    target,
    seed: 1,
    rate: 0,
    hold: (req) => {
      if (req.method === 'PUT' && !req.url.includes('uploadId='))
        puts.push({
          url: req.url,
          length: Number(req.headers['content-length'] ?? -1),
          expect: String(req.headers.expect ?? '').toLowerCase() === '100-continue',
        });
      return sleep(rtt);
    },
  });
  proxies.push(proxy);
  return {
    proxy,
    seen: {
      puts,
      get max() {
        return proxy.stats.maxInFlight;
      },
    },
  };
}

describe.each(servers())('requests in flight on $name', (server) => {
  it('without --workers the request limit grows past its start of 16, and stays within its maximum', async () => {
    const { bucket } = await newBucket(server, 'cc');
    const src = dir('cc-grow');
    const rels = seededTree(src, 800, 5, { maxSize: 512 });
    const { proxy, seen } = await latencyProxy(server.endpoint, LONG_RTT_MS);
    const run = await runCli(
      ['push', src, `s3://${bucket}/g`, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.summary).toMatchObject({ uploaded: rels.length, failed: 0 });
    // The first step doubles the limit (slow start): the link, not the limit, then bounds the run.
    expect(seen.max).toBeGreaterThanOrEqual(32);
    expect(seen.max).toBeLessThanOrEqual(AUTO_MAX_WORKERS);
  }, 300_000);

  it.each([1, 8])(
    '--workers %i is never exceeded',
    async (workers) => {
      const { bucket } = await newBucket(server, 'cc');
      const src = dir('cc-fixed');
      const rels = seededTree(src, 150, 6, { maxSize: 512 });
      const { proxy, seen } = await latencyProxy(server.endpoint);
      const run = await runCli(
        [
          'push',
          src,
          `s3://${bucket}/w`,
          '--endpoint-url',
          proxy.endpoint,
          '--json',
          '--workers',
          String(workers),
        ],
        server,
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.summary).toMatchObject({ uploaded: rels.length, failed: 0 });
      expect(seen.max).toBeLessThanOrEqual(workers);
      // The bound was reached: the run was not simply slow to ask.
      expect(seen.max).toBe(workers);
      const pull = await runCli(
        [
          'pull',
          `s3://${bucket}/w`,
          dir('cc-pull'),
          '--endpoint-url',
          proxy.endpoint,
          '--json',
          '--workers',
          String(workers),
        ],
        server,
      );
      expect(pull.code, pull.stderr).toBe(0);
      expect(pull.summary).toMatchObject({ downloaded: rels.length, failed: 0 });
      expect(seen.max).toBeLessThanOrEqual(workers);
    },
    300_000,
  );

  it('small PUTs do not wait for 100 Continue; a body from the threshold asks for it', async () => {
    const { bucket } = await newBucket(server, 'cc');
    const src = dir('cc-expect');
    seededTree(src, 20, 7, { maxSize: 64 * 1024 });
    bigFile(path.join(src, 'below.bin'), EXPECT_CONTINUE_FROM - 1);
    bigFile(path.join(src, 'large.bin'), 3 * MiB);
    const { proxy, seen } = await latencyProxy(server.endpoint);
    const run = await runCli(
      ['push', src, `s3://${bucket}/e`, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(run.code, run.stderr).toBe(0);
    const small = seen.puts.filter((p) => p.length >= 0 && p.length < EXPECT_CONTINUE_FROM);
    const large = seen.puts.filter((p) => p.length >= EXPECT_CONTINUE_FROM);
    expect(small.length).toBe(21);
    expect(small.filter((p) => p.expect)).toEqual([]);
    expect(large.map((p) => p.expect)).toEqual([true]);
  }, 120_000);
});
