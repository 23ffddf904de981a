/**
 * --bwlimit and --tpslimit against real servers: every body (single PUTs, multipart parts, whole and
 * ranged GETs) and every request obeys the run's limits, content arrives intact, a cancelled run stops
 * waiting on the bucket, and a bad value is one usage line from a flag or the config file. Times are
 * lower bounds only: a limited run takes at least as long as its budget allows.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull, push } from '../../src/index.js';
import {
  bigFile,
  connFor,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  readManifest,
  runCli,
  seededTree,
  seedObject,
  servers,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

/** Exit 2 with exactly one line on stderr, no stack trace, nothing on stdout. */
function oneUsageLine(r: Awaited<ReturnType<typeof runCli>>): string {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
  return lines[0]!;
}

/** Seconds a CLI run took, and the run. */
async function timed(args: string[], server: Parameters<typeof runCli>[1]) {
  const t0 = performance.now();
  const r = await runCli(args, server);
  return { r, seconds: (performance.now() - t0) / 1000 };
}

describe.each(servers())('--bwlimit on $name', (server) => {
  let url: string;
  let src: string;
  // 8 MiB: a 6 MiB file in two parts (multipart up, ranged down; S3's parts are 5 MiB at least) and
  // two 1 MiB single bodies.
  const sizing = ['--multipart-threshold', '4MiB', '--part-size', '5MiB'];

  beforeAll(async () => {
    const { bucket } = await newBucket(server, 'bw');
    url = `s3://${bucket}/p`;
    src = dir('bw-src');
    bigFile(path.join(src, 'big.bin'), 6 * MiB);
    for (const n of ['a', 'b']) bigFile(path.join(src, `${n}.bin`), MiB);
  });

  it('push of 8 MiB at 2MiB takes at least 3 s, every part and body paced, content intact', async () => {
    const { r, seconds } = await timed(['push', src, url, '--bwlimit', '2MiB', '--json', ...sizing], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.uploaded).toBe(3);
    expect(r.summary?.requests.UploadPart).toBe(2);
    // 8 MiB less at most 0.1 s of saved-up budget, at 2 MiB/s: about 4 s.
    expect(seconds).toBeGreaterThanOrEqual(3);
    const back = dir('bw-check');
    const check = await runCli(['pull', url, back], server);
    expect(check.code, check.stderr).toBe(0);
    expect(treeHashes(back)).toEqual(treeHashes(src));
  });

  it('pull of 8 MiB at UP:DOWN 64MiB:2MiB takes at least 3 s (the down rate), content intact', async () => {
    const dst = dir('bw-dst');
    const { r, seconds } = await timed(
      ['pull', url, dst, '--bwlimit', '64MiB:2MiB', '--json', ...sizing],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.downloaded).toBe(3);
    expect(seconds).toBeGreaterThanOrEqual(3);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
  });

  it('a no-change push with a limit still makes no request', async () => {
    const r = await runCli(['push', src, url, '--bwlimit', '2MiB', '--tpslimit', '1', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.requestsTotal).toBe(0);
  });

  it('cancelling a library push interrupts the wait on the bucket: no object, nothing recorded', async () => {
    const slow = dir('bw-slow');
    bigFile(path.join(slow, 'slow.bin'), MiB);
    const { bucket, transport } = await newBucket(server, 'bwc');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 1000);
    // 1 MiB at 1 KiB/s would take 17 minutes.
    const run = push({
      ...connFor(server),
      source: slow,
      destination: `s3://${bucket}/p`,
      bwlimit: '1KiB',
      signal: ac.signal,
    });
    await expect(run).rejects.toThrow('stop');
    expect(await transport.head('p/slow.bin')).toBeNull();
    expect(Object.keys(readManifest(slow)?.files ?? {})).toEqual([]);
  });

  it('a library pull with a number for bwlimit (bytes per second) is paced too', async () => {
    const dst = dir('bw-lib');
    const t0 = performance.now();
    const r = await pull({ ...connFor(server), source: url, destination: dst, bwlimit: 4 * MiB });
    expect(r.downloaded).toBe(3);
    expect((performance.now() - t0) / 1000).toBeGreaterThanOrEqual(1.5);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
  });
});

/**
 * Many workers sharing a low --bwlimit each wait longer for their next piece than --stall-timeout:
 * 32 bodies of 4 KiB at 16 KiB/s in pieces of 1 KiB, about 2 s between one body's pieces, with a
 * 1 s stall timeout. That wait is the client's own, not silence of the connection: no attempt is
 * retried. A connection that does go silent is still found and retried under the same limit.
 */
describe.each(servers())('--bwlimit shared by many workers, short --stall-timeout, on $name', (server) => {
  const FILES = 32;
  const tight = ['--bwlimit', '16KiB', '--workers', String(FILES), '--stall-timeout', '1s', '--json'];
  let bucket: string;
  let src: string;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'bwstall'));
    src = dir('bwstall-src');
    const files: Record<string, number> = {};
    for (let i = 0; i < FILES; i++) files[`f${String(i).padStart(2, '0')}.bin`] = 4096;
    writeTree(src, files);
  });

  it('a push waits on the bucket without stalling: every file uploaded, no attempt retried', async () => {
    const r = await runCli(['push', src, `s3://${bucket}/p`, ...tight], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.uploaded).toBe(FILES);
    expect(r.summary?.requests.PutObject).toBe(FILES);
  });

  it('a pull waits on the bucket without stalling: every file downloaded, no attempt retried', async () => {
    const dst = dir('bwstall-dst');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, ...tight], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.downloaded).toBe(FILES);
    expect(r.summary?.requests.GetObject).toBe(FILES);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
  });

  it('a response that goes silent mid-body is still a stall under the limit: retried once', async () => {
    let faulted = false;
    // The first GET of f00.bin only: half its body, then an open connection that sends nothing.
    const filter = ({ method, url }: { method: string; url: string }) => {
      if (faulted || method !== 'GET' || !url.split('?')[0]!.endsWith('/f00.bin')) return false;
      faulted = true;
      return true;
    };
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 1,
      kinds: ['stall-body'],
      filter,
    });
    proxies.push(proxy);
    const dst = dir('bwstall-silent');
    const r = await runCli(
      ['pull', `s3://${bucket}/p`, dst, '--endpoint-url', proxy.endpoint, '--retries', '2', ...tight],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.stats.faults['stall-body']).toBe(1);
    expect(r.summary?.downloaded).toBe(FILES);
    expect(r.summary?.requests.GetObject).toBe(FILES + 1);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
  });

  it('a server that never answers a PUT is still a stall under the limit: retried once', async () => {
    const { bucket: other } = await newBucket(server, 'bwstallput');
    let held = false;
    // The first PUT of f00.bin is never forwarded or answered: the connection stays open and silent.
    const hold = ({ method, url }: { method: string; url: string }) => {
      if (held || method !== 'PUT' || !url.split('?')[0]!.endsWith('/f00.bin')) return undefined;
      held = true;
      return new Promise<never>(() => {});
    };
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0, hold });
    proxies.push(proxy);
    const r = await runCli(
      ['push', src, `s3://${other}/p`, '--endpoint-url', proxy.endpoint, '--retries', '2', ...tight],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(held).toBe(true);
    expect(r.summary?.uploaded).toBe(FILES);
    expect(r.summary?.requests.PutObject).toBe(FILES + 1);
  });
});

describe.each(servers())('sync S3 → S3 --bwlimit on $name', (server) => {
  it('a streamed copy of 4 MiB at 1MiB takes at least 6 s, read and sent from one budget, content intact', async () => {
    const { bucket: a, transport: src } = await newBucket(server, 'bwsa');
    const { bucket: b, transport: dst } = await newBucket(server, 'bwsb');
    const body = randomBytes(4 * MiB);
    await seedObject(src, 'x/big.bin', body, { md5: md5Hex(body) });
    // Another endpoint for the source (a proxy that changes nothing): streamed through this process.
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    const args = ['sync', `s3://${a}/x`, `s3://${b}/y`, '--source-endpoint-url', proxy.endpoint, '--json'];
    const { r, seconds } = await timed([...args, '--bwlimit', '1MiB'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 1, failed: 0 });
    expect(r.summary?.requests.CopyObject).toBeUndefined();
    // 4 MiB read and 4 MiB sent, one budget for both ways as in push and pull: about 8 s.
    expect(seconds).toBeGreaterThanOrEqual(6);
    expect(await objectMd5(dst, 'y/big.bin')).toBe(md5Hex(body));
    // UP:DOWN: the source's reads at DOWN, the sends unlimited: about 4 s.
    const { r: again, seconds: slow } = await timed(
      [
        'sync',
        `s3://${a}/x`,
        `s3://${b}/z`,
        '--source-endpoint-url',
        proxy.endpoint,
        '--json',
        '--bwlimit',
        'off:1MiB',
      ],
      server,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(slow).toBeGreaterThanOrEqual(3);
    expect(await objectMd5(dst, 'z/big.bin')).toBe(md5Hex(body));
  });

  it('a server-side copy moves no byte through s3sync: --bwlimit is taken, CopyObject does the work', async () => {
    const { bucket: a, transport: src } = await newBucket(server, 'bwsc');
    const { bucket: b, transport: dst } = await newBucket(server, 'bwsd');
    await seedObject(src, 'x/a.txt', 'small body');
    const r = await runCli(['sync', `s3://${a}/x`, `s3://${b}/y`, '--bwlimit', '1KiB', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 1, failed: 0 });
    expect(r.summary?.requests.CopyObject).toBe(1);
    expect(await objectMd5(dst, 'y/a.txt')).toBe(md5Hex('small body'));
  });
});

describe.each(servers())('--tpslimit on $name', (server) => {
  it.each([
    // limit, burst, lower bound (s): 40 PUTs and a listing, the burst going at once.
    [10, undefined, 3],
    [10, 20, 1.5],
  ])('40 small files at --tpslimit %i, burst %s: at least %s s, all there', async (tps, burst, atLeast) => {
    const { bucket } = await newBucket(server, 'tps');
    const src = dir('tps-src');
    seededTree(src, 40, 7);
    const extra = burst === undefined ? [] : ['--tpslimit-burst', String(burst)];
    const args = ['push', src, `s3://${bucket}/p`, '--tpslimit', String(tps), ...extra, '--json'];
    const { r, seconds } = await timed(args, server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.uploaded).toBe(40);
    expect(r.summary?.requests.PutObject).toBe(40);
    expect(seconds).toBeGreaterThanOrEqual(atLeast);
    const back = dir('tps-back');
    expect((await runCli(['pull', `s3://${bucket}/p`, back], server)).code).toBe(0);
    expect(treeHashes(back)).toEqual(treeHashes(src));
  });
});

describe.each(servers())('bad limit values on $name', (server) => {
  let proxy: FaultProxy;
  let url: string;
  let src: string;
  /** Every run goes through this proxy (no faults): its request count proves nothing was sent. */
  const requests = () => proxy.stats.requests;

  beforeAll(async () => {
    const { bucket } = await newBucket(server, 'badlim');
    proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    url = `s3://${bucket}/p`;
    src = dir('badlim-src');
    writeTree(src, { 'a.txt': 'alpha' });
  });

  it.each([
    ['push', ['--bwlimit', '0'], /^s3sync: --bwlimit must be a rate in bytes per second/],
    ['push', ['--bwlimit', 'fast'], /^s3sync: --bwlimit must be a rate/],
    ['pull', ['--bwlimit', '10MiB:1MiB:1MiB'], /^s3sync: --bwlimit must be a rate/],
    ['pull', ['--bwlimit', '0:1MiB'], /^s3sync: --bwlimit must be a rate/],
    ['push', ['--bwlimit', '10MiB/s'], /^s3sync: --bwlimit must be a rate/],
    ['push', ['--tpslimit', '-1'], /^s3sync: --tpslimit must be a whole number from 1/],
    ['pull', ['--tpslimit', '0'], /^s3sync: --tpslimit must be a whole number from 1/],
    ['push', ['--tpslimit', '2.5'], /^s3sync: --tpslimit must be a whole number from 1/],
    ['push', ['--tpslimit-burst', '5'], /^s3sync: tpslimitBurst \(--tpslimit-burst\) applies only with/],
  ] as const)('%s %j: exit 2, one line, no request', async (command, flags, re) => {
    const ends = command === 'pull' ? [url, path.join(dir('badlim-dst'), 'x')] : [src, url];
    const before = requests();
    const r = await runCli([command, ...ends, '--endpoint-url', proxy.endpoint, ...flags], server);
    expect(oneUsageLine(r)).toMatch(re);
    expect(requests()).toBe(before);
  });

  it('check takes no --bwlimit (it moves no object body): exit 2, no request', async () => {
    const before = requests();
    const r = await runCli(
      ['check', src, url, '--endpoint-url', proxy.endpoint, '--bwlimit', '1MiB'],
      server,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('s3sync: --bwlimit does not apply to check; see s3sync check --help\n');
    expect(requests()).toBe(before);
  });

  it.each(['push', 'sync'])(
    'plan %s takes no --bwlimit (a plan moves no body; apply takes it): exit 2, no request',
    async (direction) => {
      const ends = direction === 'push' ? [src, url] : [url, `${url}-copy`];
      const out = path.join(dir('badlim-plan'), 'plan.json');
      const before = requests();
      const r = await runCli(
        ['plan', direction, ...ends, '--endpoint-url', proxy.endpoint, '--bwlimit', '1MiB', '--out', out],
        server,
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('s3sync: --bwlimit does not apply to plan; see s3sync plan --help\n');
      expect(requests()).toBe(before);
    },
  );

  /** A config file in its own directory, found through S3SYNC_CONFIG. */
  function config(content: object): { env: Record<string, string>; file: string } {
    const file = path.join(dir('badlim-cfg'), 's3sync.config.json');
    writeFileSync(file, JSON.stringify(content));
    return { env: { S3SYNC_CONFIG: file }, file };
  }

  it.each([
    [{ bwlimit: 0 }, '"bwlimit" must be a rate'],
    [{ bwlimit: 'fast' }, '"bwlimit" must be a rate'],
    [{ bwlimit: -5 }, '"bwlimit" must be a rate'],
    [{ tpslimit: -1 }, '"tpslimit" must be a whole number'],
    [{ tpslimit: '10/s' }, '"tpslimit" must be a whole number'],
    [{ tpslimitBurst: 0, tpslimit: 5 }, '"tpslimitBurst" must be a whole number'],
    [{ tpslimitBurst: 3 }, 'tpslimitBurst (--tpslimit-burst) applies only with tpslimit'],
  ])('config defaults %j: exit 2, one line, no request', async (defaults, text) => {
    const { env, file } = config({ defaults });
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, { env });
    const line = oneUsageLine(r);
    expect(line).toContain(text);
    if (!text.startsWith('tpslimitBurst (')) expect(line).toContain(file);
    expect(requests()).toBe(before);
  });

  it.each([
    [{ command: 'push', bwlimit: 'lots' }, 'job 1: "bwlimit" must be a rate'],
    [{ command: 'check', bwlimit: '1MiB' }, 'job 1: "bwlimit" does not apply to check'],
    [{ command: 'pull', tpslimit: 0 }, 'job 1: "tpslimit" must be a whole number'],
  ])('a config job %j (bare s3sync): exit 2, one line, no request', async (job, text) => {
    const { command, ...opts } = job;
    const [source, destination] = command === 'pull' ? [url, dir('badlim-job')] : [src, url];
    const { env, file } = config({
      jobs: [{ command, source, destination, endpointUrl: proxy.endpoint, ...opts }],
    });
    const before = requests();
    const line = oneUsageLine(await runCli([], server, { env }));
    expect(line).toContain(`${file}: ${text}`);
    expect(requests()).toBe(before);
  });
});
