/**
 * `push --watch` against real servers: a file still being written is sent once, complete; a burst is
 * batched (one request per file, no listing per batch); events that never came are caught by the
 * reconciliation walk; an outage keeps the pending set and catches up without sending anything twice;
 * SIGTERM and SIGINT stop cleanly (exit 0, a valid manifest); config jobs watch side by side.
 */
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { CANCEL_GRACE_MS } from '../../src/abort-listeners.js';
import {
  type AnyEvent,
  killLeftRuns,
  type LiveRun,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  readManifest,
  runCli,
  servers,
  spawnCli,
  trackedDirs,
  waitFor,
} from '../helpers.js';
import { type FaultLogEntry, type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const gates: Gate[] = [];
const runs: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(runs);
  for (const g of gates) await g.close();
  for (const p of proxies) await p.close();
  removeAll();
});

type Batch = AnyEvent & {
  type: 'batch';
  trigger: 'change' | 'walk' | 'look';
  uploaded: number;
  copied: number;
  recorded: number;
  deleted: number;
  failed: number;
  requests: Record<string, number>;
  requestsTotal: number;
  pending: number;
};
const batches = (run: LiveRun) => run.events.filter((e): e is Batch => e.type === 'batch');
const uploaded = (run: LiveRun) => batches(run).reduce((n, b) => n + b.uploaded, 0);
/** What a run said, for a failed expectation: its stderr and its last events. */
const diag = (run: LiveRun) =>
  `${run.stderr()}\n${run.events
    .slice(-8)
    .map((e) => JSON.stringify(e))
    .join('\n')}`;
const deleted = (run: LiveRun) => batches(run).reduce((n, b) => n + b.deleted, 0);

const errors = (run: LiveRun) => run.events.filter((e) => e.type === 'error');
/** Whether a batch found a manifest lost since the last run, and handed its paths to a walk. */
const manifestGone = (run: LiveRun) =>
  run.events.some(
    (e) => e.type === 'warning' && /the manifest is gone or empty/.test((e as { message: string }).message),
  );
/** The requests of the batches of file events (not the walks). */
function changeRequests(run: LiveRun): Record<string, number> {
  const requests: Record<string, number> = {};
  for (const b of batches(run).filter((x) => x.trigger === 'change'))
    for (const [k, v] of Object.entries(b.requests)) requests[k] = (requests[k] ?? 0) + v;
  return requests;
}
/** Whether a batch found no manifest (lost, or none yet) and handed its paths to a walk. */
const handedOver = (run: LiveRun) =>
  manifestGone(run) ||
  run.events.some(
    (e) => e.type === 'notice' && /^no manifest yet: walking/.test((e as { message: string }).message),
  );

/** Whether a batch of file events (not a walk) sent one file, waited for up to 30 s. */
const sentByEvents = (run: LiveRun) =>
  waitFor(() => batches(run).some((b) => b.trigger === 'change' && b.uploaded === 1), run, 30_000);

/** A file written an hour in the past: a walk sends or records it at once, holding nothing back. */
function writeOld(file: string, body: string): void {
  writeFileSync(file, body);
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(file, past, past);
}

/**
 * A TCP gate in front of an endpoint: open, it relays; shut, the port refuses connections (the
 * endpoint is unreachable, as a server that is down) and the connections it had are cut.
 */
interface Gate {
  endpoint: string;
  shut(): Promise<void>;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function startGate(target: string): Promise<Gate> {
  const up = new URL(target);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(Number(up.port), up.hostname);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const shut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await open();
  return { endpoint: `http://127.0.0.1:${port}`, shut, open, close: shut };
}

/** PutObject requests (the SDK adds ?x-id=PutObject), not UploadPart. */
const isPut = (e: FaultLogEntry) => e.method === 'PUT' && !/[?&](partNumber|uploadId)=/.test(e.url);

/** PUTs per key that reached the server: not those the proxy answered 502 itself (and were retried). */
function putsPerKey(proxy: FaultProxy, bucket: string): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of proxy.log) {
    if (!isPut(e) || e.badGateway) continue;
    const key = decodeURIComponent(e.url.split('?')[0]!.replace(`/${bucket}/`, ''));
    n.set(key, (n.get(key) ?? 0) + 1);
  }
  return n;
}

/** `push --watch --json` from `src` to `url` through `endpoint`, then `extra`. */
const watchArgs = (src: string, url: string, endpoint: string, extra: string[] = []) => [
  'push',
  src,
  url,
  '--watch',
  '--json',
  '--endpoint-url',
  endpoint,
  ...extra,
];

describe.each(servers())('push --watch on $name', (server) => {
  async function setup(label: string, extra: string[] = [], env: Record<string, string> = {}) {
    const { bucket, transport } = await newBucket(server, `w-${label}`);
    const src = dir(`watch-${label}`);
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    const url = `s3://${bucket}/w`;
    const args = watchArgs(src, url, proxy.endpoint, extra);
    return { bucket, transport, src, proxy, url, args, env };
  }

  /**
   * Stops a watch whose upload of `file` (with `body`) is in flight: the summary counts it pending
   * besides `counts`, and the next push finishes it (sent again, or recorded if the cut upload landed).
   */
  async function stoppedWithPending(
    run: LiveRun,
    counts: { scanned: number; uploaded: number },
    at: Pick<Awaited<ReturnType<typeof setup>>, 'src' | 'url' | 'proxy' | 'transport'>,
    [file, body]: [string, string],
  ) {
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      cancelled: true,
      ...counts,
      pending: 1,
    });
    const r = await runCli(['push', at.src, at.url, '--json', '--endpoint-url', at.proxy.endpoint], server);
    expect(r.code, r.stderr).toBe(0);
    expect(await objectMd5(at.transport, `w/${file}`)).toBe(md5Hex(body));
  }

  /**
   * A proxy that holds every request 1 s: a signal sent then comes while uploads are in flight. `cut`:
   * the PUT of w/<cut> is held past the cancel grace a request whose body was sent gets, so a stop cuts it.
   */
  async function slowProxy(seed: number, cut?: string): Promise<FaultProxy> {
    const slow = await startFaultProxy({
      target: server.endpoint,
      seed,
      rate: 1,
      kinds: ['delay'],
      delayMs: 1000,
      hold: ({ method, url }) =>
        cut !== undefined && method === 'PUT' && url.includes(`/w/${cut}`)
          ? sleep(CANCEL_GRACE_MS + 5000)
          : undefined,
    });
    proxies.push(slow);
    return slow;
  }

  function start(args: string[], env: Record<string, string> = {}): LiveRun {
    const run = spawnCli(args, server, { env });
    runs.push(run);
    return run;
  }

  /** Waits for the first walk (the initial sync) to end: events from then on are the watch's. */
  async function watching(run: LiveRun) {
    const ok = await run.until((e) => e.type === 'batch' && (e as Batch).trigger === 'walk');
    expect(ok, run.stderr()).toBe(true);
  }

  async function stop(run: LiveRun, signal: NodeJS.Signals = 'SIGTERM') {
    run.child.kill(signal);
    const t0 = Date.now();
    const { code } = await run.exited;
    return { code, ms: Date.now() - t0 };
  }

  it('a file written in five chunks over three seconds is uploaded once, complete', async () => {
    const { bucket, transport, src, proxy, args } = await setup('chunks');
    const run = start(args);
    await watching(run);
    const file = path.join(src, 'dump.sql');
    const chunks = [0, 1, 2, 3, 4].map((i) => Buffer.alloc(64 * 1024 + i, 65 + i));
    for (const [i, c] of chunks.entries()) {
      appendFileSync(file, c);
      if (i < chunks.length - 1) await sleep(750);
    }
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), run.stderr()).toBe(true);
    // Nothing more comes for it: another settle time and a half passes with no second upload.
    await sleep(3000);
    expect(uploaded(run)).toBe(1);
    expect(putsPerKey(proxy, bucket).get('w/dump.sql')).toBe(1);
    expect(await objectMd5(transport, 'w/dump.sql')).toBe(md5Hex(Buffer.concat(chunks)));
    expect((await stop(run)).code, run.stderr()).toBe(0);
  });

  /** Appends a line to `file` every `everyMs` until `stop` is called; what was written, at the end. */
  function keepWriting(file: string, everyMs: number) {
    let stopped = false;
    let n = 0;
    const done = (async () => {
      while (!stopped) {
        appendFileSync(file, `line ${n++}\n`);
        await sleep(everyMs);
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await done;
      },
    };
  }

  const noticesOf = (run: LiveRun, re: RegExp) =>
    run.events.filter((e) => e.type === 'notice' && re.test(String((e as { message?: unknown }).message)));

  it('--settle-max: a file that never stops changing is sent while it changes, then as it ends', async () => {
    const { transport, src, args } = await setup('settlemax', ['--settle', '1s', '--settle-max', '2s']);
    const run = start(args);
    await watching(run);
    const file = path.join(src, 'app.log');
    const writer = keepWriting(file, 150);
    try {
      // Sent while still written, and said so.
      expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
      expect(
        noticesOf(
          run,
          /^app\.log: still changing after \d+s \(settleMax, --settle-max\): sending it as it is now$/,
        ).length,
      ).toBeGreaterThan(0);
      // Written on after that send, so what it sent is not the end of the file.
      await sleep(1000);
    } finally {
      await writer.stop();
    }
    // Once it stops, the last of it is sent as it settles: the object is the file as it ended.
    const final = md5Hex(readFileSync(file));
    let got = '';
    for (const deadline = Date.now() + 30_000; got !== final && Date.now() < deadline; await sleep(100))
      got = await objectMd5(transport, 'w/app.log');
    expect(got, diag(run)).toBe(final);
    // The send while written, and the one of the file as it ended (at least).
    expect(uploaded(run)).toBeGreaterThanOrEqual(2);
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it('--settle-max: a file rewritten in place while it is read waits --settle-max again, not at once', async () => {
    const { src, args } = await setup('settlere', ['--settle', '500ms', '--settle-max', '2s']);
    const file = path.join(src, 'table.db');
    writeFileSync(file, randomBytes(3 * MiB));
    const run = start(args);
    await watching(run);
    // Bytes rewritten at random places every few milliseconds: most reads see the file change.
    let stopped = false;
    const rewriter = (async () => {
      const fd = openSync(file, 'r+');
      try {
        while (!stopped) {
          writeSync(fd, randomBytes(64 * 1024), 0, 64 * 1024, Math.floor(Math.random() * 2 * MiB));
          await sleep(5);
        }
      } finally {
        closeSync(fd);
      }
    })();
    const started = Date.now();
    try {
      await sleep(8000);
    } finally {
      stopped = true;
      await rewriter;
    }
    const elapsed = Date.now() - started;
    const tries = noticesOf(
      run,
      /^table\.db: still changing after \d+s \(settleMax, --settle-max\): sending it as it is now$/,
    );
    // One try each --settle-max at most (the first after the watch's own start): never back to back.
    expect(tries.length, diag(run)).toBeGreaterThan(0);
    expect(tries.length, diag(run)).toBeLessThanOrEqual(Math.ceil(elapsed / 2000) + 1);
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it('--settle-max: a send abandoned as the file changed while it went (a slow --bwlimit) is said', async () => {
    const { src, args } = await setup('settlebw', [
      '--settle',
      '300ms',
      '--settle-max',
      '1s',
      '--bwlimit',
      '256K',
    ]);
    const file = path.join(src, 'app.log');
    const run = start(args);
    await watching(run);
    // Appended faster than the limit lets it be sent: each send finds it changed.
    writeFileSync(file, randomBytes(512 * 1024));
    let stopped = false;
    const appender = (async () => {
      while (!stopped) {
        appendFileSync(file, 'line\n');
        await sleep(200);
      }
    })();
    const said =
      /^app\.log: changed while it was being sent: sent again once it settles, or as it is after settleMax \(--settle-max\) 1s$/;
    try {
      expect(await waitFor(() => noticesOf(run, said).length > 0, run, 30_000), diag(run)).toBe(true);
    } finally {
      stopped = true;
      await appender;
    }
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it('without --settle-max a file that keeps changing waits, and says so once; sent when it stops', async () => {
    const { transport, src, args } = await setup('settlewait', ['--settle', '300ms']);
    const run = start(args);
    await watching(run);
    const file = path.join(src, 'app.log');
    const writer = keepWriting(file, 100);
    let said: boolean;
    try {
      said = await waitFor(() => noticesOf(run, /^app\.log: still changing after/).length > 0, run, 30_000);
      // Still written, so not sent.
      expect(uploaded(run), diag(run)).toBe(0);
    } finally {
      await writer.stop();
    }
    expect(said, diag(run)).toBe(true);
    expect(
      noticesOf(run, /^app\.log: still changing after/).map((e) => (e as { message?: string }).message),
    ).toEqual([
      expect.stringMatching(
        /^app\.log: still changing after 1\ds: sent once it is unchanged for settle \(--settle\) 300ms, or give settleMax \(--settle-max\) to send it all the same$/,
      ),
    ]);
    const final = md5Hex(readFileSync(file));
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect(uploaded(run)).toBe(1);
    expect(await objectMd5(transport, 'w/app.log')).toBe(final);
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it.each([
    [
      ['--watch', '--settle', '2s', '--settle-max', '1s'],
      /settleMax \(--settle-max\) 1s is shorter than settle \(--settle\) 2s/,
    ],
    [['--settle-max', '5m'], /^s3sync: settleMax \(--settle-max\) applies to watch \(--watch\) only$/m],
    [['--watch', '--settle-max', 'soon'], /--settle-max/],
  ])('%j: exit 2, one line, nothing sent', async (flags, re) => {
    const { transport, src, url, proxy } = await setup('settlebad');
    writeOld(path.join(src, 'a.txt'), 'a');
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, ...flags], server);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
    expect((await transport.list('w/')).size).toBe(0);
  });

  it('1,000 files created at once: all uploaded, one request each and no listing per batch', async () => {
    const { bucket, transport, src, proxy, args } = await setup('burst', ['--settle', '1s']);
    const run = start(args);
    await watching(run);
    const N = 1000;
    mkdirSync(path.join(src, 'burst'));
    const want = new Map<string, string>();
    for (let i = 0; i < N; i++) {
      const body = `file ${i}\n`;
      writeFileSync(path.join(src, 'burst', `f${i}.txt`), body);
      want.set(`w/burst/f${i}.txt`, md5Hex(body));
    }
    expect(await waitFor(() => uploaded(run) >= N, run, 120_000), run.stderr()).toBe(true);
    await sleep(1500);
    const { code } = await stop(run);
    expect(code, run.stderr()).toBe(0);
    const requests: Record<string, number> = {};
    for (const b of batches(run))
      for (const [k, v] of Object.entries(b.requests)) requests[k] = (requests[k] ?? 0) + v;
    // One attempt per file, and one more for each the proxy could not take upstream (retried).
    const retried = proxy.log.filter((e) => isPut(e) && e.badGateway).length;
    expect(requests.PutObject).toBe(N + retried);
    expect(requests.ListObjectsV2 ?? 0).toBeLessThanOrEqual(1);
    expect(Object.keys(requests).filter((k) => k !== 'PutObject' && k !== 'ListObjectsV2')).toEqual([]);
    // Batched: far fewer batches than files.
    expect(batches(run).filter((b) => b.trigger === 'change').length).toBeLessThan(N / 10);
    const remote = await transport.list('w/');
    expect(remote.size).toBe(N);
    for (const [key, n] of putsPerKey(proxy, bucket)) expect(n, key).toBe(1);
    expect(await objectMd5(transport, 'w/burst/f999.txt')).toBe(want.get('w/burst/f999.txt'));
    expect(readManifest(src)!.files.size).toBe(N);
  });

  it('changes whose events were lost are caught by the reconciliation walk: new, changed, deleted', async () => {
    const { transport, src, args } = await setup('missed', [
      '--reconcile-every',
      '3s',
      '--settle',
      '500ms',
      '--delete',
    ]);
    mkdirSync(path.join(src, 'hidden'));
    writeFileSync(path.join(src, 'hidden', 'old.txt'), 'old');
    writeFileSync(path.join(src, 'hidden', 'gone.txt'), 'to be deleted');
    writeFileSync(path.join(src, 'seen.txt'), 'keeps the source non-empty');
    // Every event under hidden/ is dropped, as an overflowed queue or an NFS mount would lose it.
    const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^hidden(/|$)' });
    await watching(run);
    // The three files there at the start are sent first (the start's walk finds them, too new to send
    // at once, and settle detection sends them): changed before that, they would be sent once, as they
    // end up, and the counts below would not hold.
    expect(await waitFor(() => uploaded(run) >= 3, run, 30_000), diag(run)).toBe(true);
    const walks = () => batches(run).filter((b) => b.trigger === 'walk').length;
    const before = walks();
    const batchesBefore = batches(run).length;
    // Written a minute in the past: a walk that comes just after the writes finds them settled, so it
    // sends them itself rather than handing them to settle detection (and a batch) as it rightly would.
    const past = new Date(Date.now() - 60_000);
    for (const [name, body] of [
      ['new.txt', 'new content'],
      ['old.txt', 'changed content'],
    ] as const) {
      writeFileSync(path.join(src, 'hidden', name), body);
      utimesSync(path.join(src, 'hidden', name), past, past);
    }
    rmSync(path.join(src, 'hidden', 'gone.txt'));
    const caught = await waitFor(
      () => uploaded(run) >= 5 && deleted(run) >= 1 && walks() > before,
      run,
      60_000,
    );
    expect(caught, `${run.stderr()}\n${run.events.map((e) => JSON.stringify(e)).join('\n')}`).toBe(true);
    // Found by a walk, not by a batch of events: none came.
    const changeBatches = batches(run)
      .slice(batchesBefore)
      .filter((b) => b.trigger === 'change');
    expect(changeBatches.reduce((n, b) => n + b.uploaded + b.deleted, 0)).toBe(0);
    const remote = await transport.list('w/');
    expect([...remote.keys()].sort()).toEqual(['hidden/new.txt', 'hidden/old.txt', 'seen.txt']);
    expect(await objectMd5(transport, 'w/hidden/old.txt')).toBe(md5Hex('changed content'));
    expect((await stop(run)).code, run.stderr()).toBe(0);
  });

  it('a walk that sends files no event named says once that file events are missing', async () => {
    const { transport, src, args } = await setup('missed-said', [
      '--reconcile-every',
      '3s',
      '--settle',
      '500ms',
    ]);
    writeOld(path.join(src, 'seen.txt'), 'seen');
    mkdirSync(path.join(src, 'hidden'));
    // Every event under hidden/ is dropped, as for a folder left unwatched when inotify's
    // max_user_watches ran out part-way: nothing says so but the walks' finds.
    const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^hidden(/|$)' });
    await watching(run);
    const walks = () => batches(run).filter((b) => b.trigger === 'walk');
    const missing = () =>
      run.events.filter((e) => e.type === 'warning' && /changed with no file event/.test(String(e.message)));
    for (const name of ['a.txt', 'b.txt']) {
      const before = walks().length;
      writeOld(path.join(src, 'hidden', name), name);
      const found = () =>
        walks()
          .slice(before)
          .some((b) => b.uploaded > 0);
      expect(await waitFor(found, run, 30_000), diag(run)).toBe(true);
    }
    // Said at the first such walk, naming the file; not again at the second.
    expect(missing(), diag(run)).toHaveLength(1);
    expect(String((missing()[0] as { message?: unknown }).message)).toContain('hidden/a.txt');
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual([
      'hidden/a.txt',
      'hidden/b.txt',
      'seen.txt',
    ]);
  });

  it.each([
    ['a new file', 'new'],
    ['a changed file', 'changed'],
    ['a removed file (--delete)', 'removed'],
  ])(
    'an event the watcher dropped (%s): the look after the events finds it, with no listing',
    async (_what, change) => {
      const { transport, src, args } = await setup(`look-${change}`, [
        '--settle',
        '300ms',
        // Walks far apart: only the look can find the change in time.
        '--reconcile-every',
        '1h',
        ...(change === 'removed' ? ['--delete'] : []),
      ]);
      writeOld(path.join(src, 'kept.txt'), 'kept');
      if (change !== 'new') writeOld(path.join(src, 'lost.txt'), 'before');
      // lost.txt's events are dropped, as parcel-bundler/watcher#183 drops one that comes just as it
      // hands a batch over; seen.txt's come.
      const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^lost\\.txt$' });
      await watching(run);
      const listed = () => batches(run).reduce((n, b) => n + (b.requests.ListObjectsV2 ?? 0), 0);
      const listedBefore = listed();
      writeFileSync(path.join(src, 'seen.txt'), 'seen');
      expect(await sentByEvents(run), diag(run)).toBe(true);
      // Within the look's wait after seen.txt's event, with no event of its own.
      if (change === 'removed') rmSync(path.join(src, 'lost.txt'));
      else writeFileSync(path.join(src, 'lost.txt'), 'after, longer');
      const looks = () => batches(run).filter((b) => b.trigger === 'look');
      expect(await waitFor(() => looks().length >= 1, run, 30_000), diag(run)).toBe(true);
      expect(looks()[0], diag(run)).toMatchObject(
        change === 'removed' ? { uploaded: 0, deleted: 1 } : { uploaded: 1, deleted: 0 },
      );
      // The look read the tree against the manifest: no listing (with --delete too).
      expect(listed(), diag(run)).toBe(listedBefore);
      expect((await stop(run)).code, diag(run)).toBe(0);
      const keys = [...(await transport.list('w/')).keys()].sort();
      if (change === 'removed') expect(keys).toEqual(['kept.txt', 'seen.txt']);
      else {
        expect(keys).toEqual(['kept.txt', 'lost.txt', 'seen.txt']);
        expect(await objectMd5(transport, 'w/lost.txt')).toBe(md5Hex('after, longer'));
      }
    },
  );

  it('--max-size: neither a batch nor the look after it sends a file the limit leaves out', async () => {
    const { transport, src, args } = await setup('look-limits', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      '--max-size',
      '1k',
    ]);
    writeOld(path.join(src, 'small.txt'), 'small');
    writeOld(path.join(src, 'big.bin'), 'b'.repeat(5000));
    const run = start(args);
    await watching(run);
    expect(uploaded(run), diag(run)).toBe(1);
    // The big file changed, with its event: still over the limit.
    writeFileSync(path.join(src, 'big.bin'), 'B'.repeat(6000));
    writeFileSync(path.join(src, 'c.txt'), 'c');
    // c.txt is sent by its batch, or by the look when the watcher dropped its event
    // (parcel-bundler/watcher#183): either way big.bin is looked at again.
    expect(await waitFor(() => uploaded(run) >= 2, run, 30_000), diag(run)).toBe(true);
    // Past the look after those events.
    await sleep(8000);
    expect(uploaded(run), diag(run)).toBe(2);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['c.txt', 'small.txt']);
  });

  it('--delete: the look leaves the object of a file gone for less than --settle, whose events go on', async () => {
    const { transport, src, args } = await setup('look-waiting', [
      '--settle',
      '30s',
      '--reconcile-every',
      '1h',
      '--delete',
    ]);
    const f = path.join(src, 'f.txt');
    writeOld(f, 'f');
    writeOld(path.join(src, 'keep.txt'), 'keep');
    const run = start(args);
    await watching(run);
    // Events keep coming, so the look comes a minute after the first; f.txt is gone then, for 10 s only.
    writeFileSync(path.join(src, 'seen.txt'), 'seen');
    await sleep(1000);
    rmSync(f);
    await sleep(24_000);
    writeOld(f, 'f');
    await sleep(25_000);
    rmSync(f);
    await sleep(12_000);
    writeOld(f, 'f');
    await sleep(2000);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(deleted(run), diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toContain('f.txt');
  }, 180_000);

  /** A watch with --delete and no delete limit over sub/a.txt, sub/b.txt and c.txt, about to be emptied. */
  async function emptiedTreeSetup(label: string) {
    const made = await setup(label, [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      '--delete',
      '--max-delete',
      '100%',
    ]);
    mkdirSync(path.join(made.src, 'sub'));
    for (const rel of ['sub/a.txt', 'sub/b.txt', 'c.txt']) writeOld(path.join(made.src, rel), rel);
    return made;
  }

  it('--delete: a look over a tree of empty folders is refused as an empty source, and the watch fails', async () => {
    const { transport, src, args } = await emptiedTreeSetup('look-empty');
    // The removals' events are dropped: only the look sees them; the new folder's event calls for it.
    const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^(sub/|c\\.txt$)' });
    await watching(run);
    for (const rel of ['sub/a.txt', 'sub/b.txt', 'c.txt']) rmSync(path.join(src, rel));
    const refused = () =>
      run.events.some((e) => e.type === 'error' && /the source is empty/.test(String(e.message)));
    // A new folder's event calls for the look; the watcher can drop that one too (parcel-bundler/
    // watcher#183, seen on a loaded machine), and with no event no look follows: another folder then.
    let looked = false;
    for (let i = 0; i < 4 && !looked; i++) {
      mkdirSync(path.join(src, `z${i}`));
      looked = await waitFor(refused, run, 15_000);
    }
    expect(looked, diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(1);
    expect(deleted(run), diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['c.txt', 'sub/a.txt', 'sub/b.txt']);
  });

  it('--delete: a batch that leaves only empty folders is refused as an empty source, and says it retries', async () => {
    const { transport, src, args } = await emptiedTreeSetup('batch-empty');
    const run = start(args);
    await watching(run);
    // The folder stays: a plain push of this tree refuses, and so must the batch of these events.
    for (const rel of ['sub/a.txt', 'sub/b.txt', 'c.txt']) rmSync(path.join(src, rel));
    const refused = () =>
      run.events.some(
        (e) => e.type === 'error' && /the source is empty.*\(retrying\)$/.test(String(e.message)),
      );
    expect(await waitFor(refused, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(1);
    expect(deleted(run), diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['c.txt', 'sub/a.txt', 'sub/b.txt']);
  });

  it('events that all came: the look after them finds nothing and says nothing', async () => {
    const { src, args } = await setup('look-quiet', ['--settle', '300ms', '--reconcile-every', '1h']);
    writeOld(path.join(src, 'a.txt'), 'a');
    const run = start(args);
    await watching(run);
    writeFileSync(path.join(src, 'b.txt'), 'b');
    expect(await sentByEvents(run), diag(run)).toBe(true);
    // The look is due 5 s after the last event; this is well past it.
    await sleep(8000);
    expect(
      run.events.filter((e) => e.type === 'error' || e.type === 'warning'),
      diag(run),
    ).toEqual([]);
    expect(
      batches(run).filter((b) => b.trigger === 'look'),
      diag(run),
    ).toEqual([]);
    expect(uploaded(run), diag(run)).toBe(2);
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it('the endpoint unreachable for 10 s mid-burst: pending kept, caught up, nothing sent twice', async () => {
    const { bucket, transport, src, proxy } = await setup('outage');
    const gate = await startGate(proxy.endpoint);
    gates.push(gate);
    const url = `s3://${bucket}/w`;
    const run = start(
      watchArgs(src, url, gate.endpoint, [
        '--settle',
        '500ms',
        // The watcher can drop events of a burst (parcel-bundler/watcher#183; seen once in CI: 5 of 50
        // creations never reported); the walk that repairs that comes soon enough here to stay within the
        // waits. What this test shows is the outage, not event delivery.
        '--reconcile-every',
        '10s',
      ]),
    );
    await watching(run);
    const write = (from: number, to: number) => {
      for (let i = from; i < to; i++) writeFileSync(path.join(src, `f${i}.txt`), `content ${i}`);
    };
    write(0, 50);
    expect(await waitFor(() => uploaded(run) >= 50, run, 60_000), diag(run)).toBe(true);
    // The server goes away between batches, and changes keep coming while it is away.
    await gate.shut();
    write(50, 100);
    await sleep(4000);
    write(100, 150);
    await sleep(6000);
    const failedMeanwhile = run.events.some((e) => e.type === 'error');
    await gate.open();
    expect(await waitFor(() => uploaded(run) >= 150, run, 120_000), diag(run)).toBe(true);
    expect(failedMeanwhile, 'the outage was noticed').toBe(true);
    const { code } = await stop(run);
    expect(code, run.stderr()).toBe(0);
    const remote = await transport.list('w/');
    expect(remote.size).toBe(150);
    const puts = putsPerKey(proxy, bucket);
    expect(puts.size).toBe(150);
    for (const [key, n] of puts) expect(n, key).toBe(1);
    expect(await objectMd5(transport, 'w/f120.txt')).toBe(md5Hex('content 120'));
    expect(readManifest(src)!.files.size).toBe(150);
  });

  /**
   * A proxy that holds the first PUT of `key` until `release()`; `arrived()`: it has come. The file can
   * then be removed while its upload is in flight, its body sent.
   */
  async function holdingProxy(key: string) {
    let arrived = false;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 7,
      rate: 0,
      hold: ({ method, url }) => {
        if (method !== 'PUT' || arrived || !url.split('?')[0]!.endsWith(`/${key}`)) return undefined;
        arrived = true;
        return held;
      },
    });
    proxies.push(proxy);
    return { proxy, arrived: () => arrived, release };
  }

  it('--delete: a file removed while its PUT is in flight is recorded, and its object deleted by the next batch', async () => {
    const { transport, src, url } = await setup('gone-in-flight');
    writeOld(path.join(src, 'keep.txt'), 'keep');
    const hold = await holdingProxy('w/gone.txt');
    const run = start(watchArgs(src, url, hold.proxy.endpoint, ['--settle', '300ms', '--delete']));
    await watching(run);
    writeFileSync(path.join(src, 'gone.txt'), 'written, then removed mid-upload');
    expect(await waitFor(hold.arrived, run, 30_000), diag(run)).toBe(true);
    rmSync(path.join(src, 'gone.txt'));
    hold.release();
    const deleted = () => batches(run).reduce((n, b) => n + b.deleted, 0);
    expect(await waitFor(() => deleted() >= 1, run, 15_000), diag(run)).toBe(true);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['keep.txt']);
    expect(
      run.events.filter((e) => e.type === 'error'),
      diag(run),
    ).toEqual([]);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({ type: 'summary', pending: 0, failed: 0 });
  });

  it('--delete: a file removed before its upload opens it is no error, and the batch still deletes', async () => {
    const { transport, src, url } = await setup('gone-before-open');
    writeOld(path.join(src, 'keep.txt'), 'keep');
    writeOld(path.join(src, 'old.txt'), 'old');
    const hold = await holdingProxy('w/a.txt');
    const via = ['--endpoint-url', hold.proxy.endpoint];
    expect((await runCli(['push', src, url, ...via], server)).code).toBe(0);
    // One batch (the watch's first sync): a.txt uploaded and held, b.txt after it, old.txt deleted.
    rmSync(path.join(src, 'old.txt'));
    writeOld(path.join(src, 'a.txt'), 'a');
    writeOld(path.join(src, 'b.txt'), 'removed before its turn');
    const run = start(
      watchArgs(src, url, hold.proxy.endpoint, ['--settle', '300ms', '--delete', '--workers', '1']),
    );
    expect(await waitFor(hold.arrived, run, 30_000), diag(run)).toBe(true);
    rmSync(path.join(src, 'b.txt'));
    hold.release();
    const deleted = () => batches(run).reduce((n, b) => n + b.deleted, 0);
    expect(await waitFor(() => deleted() >= 1, run, 15_000), diag(run)).toBe(true);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['a.txt', 'keep.txt']);
    // b.txt's upload was tried in that batch (the path under test): handed back, pending, no error.
    expect(batches(run)[0], diag(run)).toMatchObject({ uploaded: 1, deleted: 1, pending: 1, failed: 0 });
    expect(
      run.events.filter((e) => e.type === 'error'),
      diag(run),
    ).toEqual([]);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({ type: 'summary', pending: 0, failed: 0 });
    expect([...readManifest(src)!.files.keys()].sort()).toEqual(['a.txt', 'keep.txt']);
  });

  it('a plain push --delete: a file removed while its PUT is in flight is recorded, as one removed after it', async () => {
    const { transport, src, url } = await setup('gone-in-flight-plain');
    writeOld(path.join(src, 'keep.txt'), 'keep');
    writeOld(path.join(src, 'gone.txt'), 'removed mid-upload');
    const hold = await holdingProxy('w/gone.txt');
    const run = start(['push', src, url, '--delete', '--json', '--endpoint-url', hold.proxy.endpoint]);
    expect(await waitFor(hold.arrived, run, 30_000), diag(run)).toBe(true);
    rmSync(path.join(src, 'gone.txt'));
    hold.release();
    expect((await run.exited).code, diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({ type: 'summary', uploaded: 2, failed: 0 });
    expect(readManifest(src)?.files.has('gone.txt')).toBe(true);
    // The next run deletes its object, as for any file removed since.
    const next = await runCli(
      ['push', src, url, '--delete', '--json', '--endpoint-url', server.endpoint],
      server,
    );
    expect(next.summary, next.stderr).toMatchObject({ uploaded: 0, deleted: 1, failed: 0 });
    expect([...(await transport.list('w/')).keys()]).toEqual(['keep.txt']);
  });

  /**
   * A tree pushed with --delete, then two files removed and four added (new1 held by the proxy): a run
   * started on it is stopped by SIGINT mid-upload, before its deletes. `back\slash.txt` is one of those
   * removed: a name pull never writes, so only its manifest entry lets a push delete its object.
   */
  async function removedThenCut(label: string, watch: boolean) {
    const { transport, src, url } = await setup(label);
    const gone = ['s1.txt', 'back\\slash.txt'];
    for (const f of ['s0.txt', ...gone]) writeOld(path.join(src, f), f);
    // Every run through it, so that they share one manifest (its name holds the endpoint's).
    const hold = await holdingProxy('w/new1.txt');
    const via = ['--endpoint-url', hold.proxy.endpoint];
    const first = await runCli(['push', src, url, '--delete', '--json', ...via], server);
    expect(first.summary, first.stderr).toMatchObject({ uploaded: 3, failed: 0 });
    for (const f of gone) rmSync(path.join(src, f));
    for (let i = 1; i <= 4; i++) writeOld(path.join(src, `new${i}.txt`), `new ${i}`);
    const run = start(['push', src, url, '--delete', '--json', ...via, ...(watch ? ['--watch'] : [])]);
    expect(await waitFor(hold.arrived, run, 30_000), diag(run)).toBe(true);
    run.child.kill('SIGINT');
    expect((await run.exited).code, diag(run)).toBe(130);
    const summary = run.events.at(-1) as AnyEvent & { uploaded: number; pending?: number };
    expect(summary, diag(run)).toMatchObject({ type: 'summary', cancelled: true, deleted: 0 });
    const entries = [...readManifest(src)!.files.keys()].filter((rel) => gone.includes(rel)).sort();
    const next = await runCli(['push', src, url, '--delete', '--json', ...via], server);
    expect(next.summary, next.stderr).toMatchObject({
      uploaded: 4 - summary.uploaded,
      deleted: 2,
      failed: 0,
    });
    expect([...(await transport.list('w/')).keys()].sort()).toEqual([
      'new1.txt',
      'new2.txt',
      'new3.txt',
      'new4.txt',
      's0.txt',
    ]);
    // Their objects were still there: so were their entries, which the next push deleted them by.
    expect(entries).toEqual([...gone].sort());
    return summary;
  }

  it('a plain push --delete stopped mid-upload keeps the entries of the removed files it did not delete', async () => {
    await removedThenCut('cut-deletes-plain', false);
  });

  it('--delete: stopped during its first sync, the removed files whose objects are left count pending', async () => {
    const summary = await removedThenCut('cut-deletes-watch', true);
    expect(summary.pending, JSON.stringify(summary)).toBe(4 - summary.uploaded + 2);
  });

  it('--delete: a batch the stop cuts short says what its summary says: its paths pending, exit code 0', async () => {
    const { src, url } = await setup('cut-batch');
    const gone = ['s1.txt', 's2.txt'];
    for (const f of ['s0.txt', ...gone]) writeOld(path.join(src, f), f);
    const hold = await holdingProxy('w/new1.txt');
    const via = ['--endpoint-url', hold.proxy.endpoint];
    const first = await runCli(['push', src, url, '--delete', '--json', ...via], server);
    expect(first.summary, first.stderr).toMatchObject({ uploaded: 3, failed: 0 });
    // --force: events that come apart would make the deletes a batch of their own, 2 of 3 files, which
    // --max-delete refuses (for the rest of the watch); this test is about the cut batch's counts.
    const run = start([
      'push',
      src,
      url,
      '--watch',
      '--delete',
      '--force',
      '--json',
      '--settle',
      '1s',
      ...via,
    ]);
    await watching(run);
    for (const f of gone) rmSync(path.join(src, f));
    for (let i = 1; i <= 3; i++) writeOld(path.join(src, `new${i}.txt`), `new ${i}`);
    expect(await waitFor(hold.arrived, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    const cut = batches(run).at(-1) as Batch & { pending: number; exitCode: number; cancelled: boolean };
    const summary = run.events.at(-1) as AnyEvent & { pending: number; exitCode: number };
    expect(cut, diag(run)).toMatchObject({ cancelled: true, deleted: 0 });
    // A batch of events, or the look after them when new1.txt's event came after its batch had begun.
    expect(['change', 'look'], diag(run)).toContain(cut.trigger);
    // new1.txt held, and the deletes after it never made (an earlier batch may have taken some paths,
    // as their events came apart): what the next run does, as the summary says.
    const changes = batches(run).filter((b) => b.trigger !== 'walk');
    const made = changes.reduce((n, b) => n + b.uploaded + (b as Batch & { deleted: number }).deleted, 0);
    expect(summary, diag(run)).toMatchObject({ type: 'summary', exitCode: 0, pending: 5 - made });
    expect(cut, diag(run)).toMatchObject({ pending: summary.pending, exitCode: 0 });
  });

  it.each<[NodeJS.Signals, boolean]>([
    ['SIGTERM', false],
    ['SIGINT', false],
    ['SIGTERM', true],
  ])(
    '%s (mid-batch: %s) exits 0 within seconds with a valid manifest; a plain push finishes the rest',
    async (signal, midBatch) => {
      const { bucket, src, url, proxy } = await setup(`sig-${signal.toLowerCase()}-${midBatch}`);
      // Mid-batch: the signal comes while uploads are in flight.
      const slow = midBatch ? await slowProxy(2) : proxy;
      const run = start(
        watchArgs(src, url, slow.endpoint, [
          '--settle',
          '300ms',
          '--workers',
          '2',
          // The subject is the stop: an event the watcher loses under load (the reconciliation test's
          // subject) is caught within seconds rather than after the default interval.
          '--reconcile-every',
          '5s',
        ]),
      );
      await watching(run);
      for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}.txt`), `content ${i}`);
      if (midBatch) await waitFor(() => slow.log.some((e) => e.method === 'PUT'), run, 30_000);
      else expect(await waitFor(() => uploaded(run) >= 20, run, 30_000), diag(run)).toBe(true);
      const { code, ms } = await stop(run, signal);
      expect(code, run.stderr()).toBe(0);
      expect(ms).toBeLessThan(5000);
      const summary = run.events.at(-1) as AnyEvent & { type: string; exitCode: number; cancelled: boolean };
      expect(summary).toMatchObject({ type: 'summary', exitCode: 0, cancelled: true });
      // Valid (readManifest decodes it, and throws on a damaged one); none at all when nothing was sent.
      const recorded = readManifest(src)?.files.size ?? 0;
      expect(recorded).toBe(midBatch ? uploaded(run) : 20);
      if (midBatch) expect(recorded).toBeLessThan(20);
      // Whatever the stop left, a plain push sends, and only that.
      const r = await runCli(['push', src, url, '--json', '--endpoint-url', proxy.endpoint], server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary?.uploaded).toBe(20 - recorded);
      expect(bucket).toBeTruthy();
    },
  );

  it('SIGTERM while a batch sends a file: the summary counts it pending, and the next push sends it', async () => {
    const { transport, src, url, proxy } = await setup('sig-pending');
    writeOld(path.join(src, 'old.txt'), 'old');
    // The signal comes while the file's upload is in flight, its answer held past the cancel grace.
    const slow = await slowProxy(3, 'new.txt');
    const run = start(watchArgs(src, url, slow.endpoint, ['--settle', '300ms', '--reconcile-every', '1h']));
    await watching(run);
    const puts = () => slow.log.filter((e) => e.method === 'PUT').length;
    const before = puts();
    writeFileSync(path.join(src, 'new.txt'), 'new');
    expect(await waitFor(() => puts() > before, run, 30_000), diag(run)).toBe(true);
    // old.txt sent by the first walk; new.txt cut short.
    await stoppedWithPending(run, { scanned: 2, uploaded: 1 }, { src, url, proxy, transport }, [
      'new.txt',
      'new',
    ]);
  });

  it('SIGTERM while the look after events sends a file no event named: the summary counts it pending', async () => {
    const { transport, src, url, proxy } = await setup('sig-look');
    writeOld(path.join(src, 'old.txt'), 'old');
    const slow = await slowProxy(4, 'lost.txt');
    const args = watchArgs(src, url, slow.endpoint, ['--settle', '300ms', '--reconcile-every', '1h']);
    // lost.txt's events are dropped: only the look after seen.txt's finds it.
    const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^lost\\.txt$' });
    await watching(run);
    writeFileSync(path.join(src, 'seen.txt'), 'seen');
    writeFileSync(path.join(src, 'lost.txt'), 'lost');
    const putOf = (name: string) => slow.log.some((e) => e.method === 'PUT' && e.url.includes(`/w/${name}`));
    // The look, 5 s after seen.txt's event, sends lost.txt; the signal comes while it is in flight.
    expect(await waitFor(() => putOf('lost.txt'), run, 30_000), diag(run)).toBe(true);
    // old.txt by the first walk, seen.txt by its batch; lost.txt cut short.
    await stoppedWithPending(run, { scanned: 3, uploaded: 2 }, { src, url, proxy, transport }, [
      'lost.txt',
      'lost',
    ]);
  });

  it.each([
    ['json', false],
    ['human', false],
    // As the watcher may drop it (parcel-bundler/watcher#183, seen in CI): the look, then the walk, meet
    // the refusal, and the stop reads the whole tree for what is left.
    ['json', true],
    ['human', true],
  ] as const)(
    'a batch refused as a whole retries only what it had to do: a file it found unchanged is not failing (%s, bad1 event dropped: %s)',
    async (mode, dropped) => {
      const { src, url } = await setup(`refused-batch-${mode}-${dropped}`);
      writeOld(path.join(src, 'f2.txt'), 'f2');
      // PUTs of bad… are refused (403, which stops a run), each after a second: f2's upload is done by then.
      const refusing = await startFaultProxy({
        target: server.endpoint,
        seed: 5,
        rate: 0,
        hold: ({ method, url: u }) => (method === 'PUT' && u.includes('/w/bad') ? sleep(1000) : undefined),
        // Refused at the proxy, as S3 refuses: nothing stored. (A rewritten answer let the store keep
        // bad1, and when its event was dropped the walk after the look recorded it: no second refusal.)
        answer: ({ method, url: u }) =>
          method === 'PUT' && u.includes('/w/bad')
            ? { status: 403, code: 'AccessDenied', message: 'Access Denied' }
            : undefined,
      });
      proxies.push(refusing);
      const args = watchArgs(src, url, refusing.endpoint, ['--settle', '300ms', '--retries', '0']);
      const run = start(
        mode === 'json' ? args : args.filter((a) => a !== '--json'),
        dropped ? { S3SYNC_TEST_DROP_EVENTS: '^bad1' } : {},
      );
      if (mode === 'json') await watching(run);
      else expect(await waitFor(() => /1 uploaded/.test(run.stdout()), run, 30_000), run.stderr()).toBe(true);
      writeFileSync(path.join(src, 'f2.txt'), 'f2, changed');
      writeFileSync(path.join(src, 'bad1.txt'), 'refused');
      const refusals = () =>
        refusing.log.filter((e) => e.method === 'PUT' && e.url.includes('/w/bad')).length;
      // The batch that sent f2 and was refused bad1, then its retry (after a backoff of a second).
      expect(await waitFor(() => refusals() >= 2, run, 30_000), `${diag(run)}\n${run.stdout()}`).toBe(true);
      await sleep(1500);
      expect((await stop(run)).code, diag(run)).toBe(1);
      if (mode === 'human') {
        // A service's journal: each refused batch has its line, marked as a stopped run's summary is.
        const lines = run.stdout().split('\n');
        const stopped = lines.filter((l) =>
          /^\d\d:\d\d:\d\d \[stopped\] (\d changed path\(s\):|look over |walk of )/.test(l),
        );
        // The refused batch and its retry; before, the retry (nothing moved) printed no line at all.
        expect(stopped.length, run.stdout()).toBeGreaterThanOrEqual(2);
        expect(lines.at(-3), run.stdout()).toMatch(/ 1 failed(, 1 pending)?$/);
        return;
      }
      const summary = run.events.at(-1) as {
        type: string;
        failed: number;
        pending: number;
        errors: { rel: string }[];
      };
      expect(summary.type, diag(run)).toBe('summary');
      // bad1 failing, f2 not. With bad1's event dropped, the look and then the walk were refused as a
      // whole: the walk is what fails ('').
      // The watcher may drop bad1's event by itself (parcel-bundler/watcher#183): then the look met the
      // refusal, as when the test drops it.
      const lookRefused = run.events.some(
        (e) => e.type === 'batch' && (e as { trigger?: string }).trigger === 'look' && 'stoppedBy' in e,
      );
      const lost = dropped || lookRefused;
      const errors = summary.errors.map((e) => e.rel);
      expect(errors, diag(run)).toEqual(lost ? [''] : ['bad1.txt']);
      expect(summary.failed).toBe(1);
      // The next push has bad1 to send: failing, or with the walk failing, pending (0 before).
      if (lost) expect(summary.pending, diag(run)).toBe(1);
    },
  );

  it('with no manifest yet, a change to filtered-out files only is no reason to walk', async () => {
    const { src, args } = await setup('no-manifest-excluded', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      '--exclude',
      '*.log',
    ]);
    const run = start(args);
    await watching(run);
    writeFileSync(path.join(src, 'x.log'), 'left out');
    expect(
      await waitFor(() => batches(run).some((b) => b.trigger === 'change'), run, 30_000),
      diag(run),
    ).toBe(true);
    // Then a file it selects: that one is sent after a walk's listing.
    writeFileSync(path.join(src, 'kept.txt'), 'kept');
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    const walks = batches(run).filter((b) => b.trigger === 'walk');
    expect(walks.length, diag(run)).toBe(2);
    expect(walks[1], diag(run)).toMatchObject({ uploaded: 1 });
    expect(walks[1]!.requests.ListObjectsV2, diag(run)).toBeGreaterThanOrEqual(1);
    expect(handedOver(run), diag(run)).toBe(true);
    expect(manifestGone(run), diag(run)).toBe(false);
  });

  it('a watch stopped with nothing failing ends with a plain summary, not a cancelled run', async () => {
    const { src, args } = await setup('human-stop', ['--settle', '300ms']);
    writeOld(path.join(src, 'a.txt'), 'a');
    // Human output (no --json): the summary lines are the words a service's journal keeps.
    const run = start(args.filter((a) => a !== '--json'));
    expect(await waitFor(() => /1 uploaded/.test(run.stdout()), run, 30_000), run.stderr()).toBe(true);
    const { code } = await stop(run);
    expect(code, run.stderr()).toBe(0);
    const lines = run.stdout().trim().split('\n');
    expect(lines.at(-2), run.stdout()).toMatch(
      /^1 files: 0 unchanged, 1 uploaded, 0 recorded, 0 deleted, 0 failed$/,
    );
    expect(run.stdout()).not.toContain('[cancelled]');
    expect(run.stderr()).toContain('SIGTERM: stopping');
  });

  it('a file its walk cannot upload is retried as batches are, and decides the exit code', async () => {
    const { transport, src, url } = await setup('walkfail');
    // Every PutObject of bad.txt fails while the rate is 1.
    const failing = await startFaultProxy({
      target: server.endpoint,
      seed: 3,
      rate: 1,
      kinds: ['status-500'],
      filter: (req) => req.method === 'PUT' && req.url.includes('bad.txt'),
    });
    proxies.push(failing);
    for (const name of ['good.txt', 'bad.txt']) writeOld(path.join(src, name), name);
    const args = watchArgs(src, url, failing.endpoint, ['--retries', '1']);
    type Summary = AnyEvent & { exitCode: number; failed: number; errors: { rel: string }[] };
    // Still failing when it stops: exit 1, and the summary names the file.
    const first = start([...args, '--settle', '300ms']);
    await watching(first);
    expect(batches(first)[0]!.failed, diag(first)).toBe(1);
    // Retried by a batch after its backoff, not left to the next walk (5 minutes away).
    const retried = await waitFor(
      () => batches(first).some((b) => b.trigger === 'change' && b.failed === 1),
      first,
      30_000,
    );
    expect(retried, diag(first)).toBe(true);
    expect((await stop(first)).code, diag(first)).toBe(1);
    const summary = first.events.at(-1) as Summary;
    expect(summary).toMatchObject({ type: 'summary', exitCode: 1, failed: 1 });
    expect(summary.errors.map((e) => e.rel)).toEqual(['bad.txt']);
    // The store heals mid-watch: the retry sends it, and the watch ends well.
    const second = start([...args, '--settle', '300ms']);
    await watching(second);
    failing.setRate(0);
    expect(await sentByEvents(second), diag(second)).toBe(true);
    expect((await stop(second)).code, diag(second)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['bad.txt', 'good.txt']);
  });

  it('deletes the guards refuse stay refused: the manifest keeps their entries, and the exit code is 1', async () => {
    const { transport, src, url, args } = await setup('guarded', ['--settle', '500ms', '--delete']);
    writeOld(path.join(src, 'keep.txt'), 'keep');
    mkdirSync(path.join(src, 'sub'));
    for (let i = 0; i < 20; i++) writeOld(path.join(src, 'sub', `s${i}.txt`), `s${i}`);
    const run = start(args);
    await watching(run);
    rmSync(path.join(src, 'sub'), { recursive: true });
    const refusals = () =>
      run.events.filter((e) => e.type === 'error' && String(e.message).includes('refusing to delete')).length;
    // Refused, then refused again by the retry: the entries are still there to plan the deletes from.
    expect(await waitFor(() => refusals() >= 2, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(1);
    // Nothing at the destination is untracked: every object still there has its entry.
    const remote = [...(await transport.list('w/')).keys()];
    expect(remote.length).toBeGreaterThan(2);
    const entries = readManifest(src)!.files;
    for (const rel of remote) expect(entries.has(rel), rel).toBe(true);
    // A push told to go ahead deletes them all.
    const forced = await runCli(['push', src, url, '--delete', '--force'], server);
    expect(forced.code, forced.stderr).toBe(0);
    expect([...(await transport.list('w/')).keys()]).toEqual(['keep.txt']);
  });

  it('deletes a guard refused stay refused for the watch: files sent since do not raise --max-delete', async () => {
    const { transport, src, url, args } = await setup('guard-sticky', [
      '--settle',
      '500ms',
      '--delete',
      '--max-delete',
      '50%',
      '--reconcile-every',
      '1h',
    ]);
    const keep = ['k1.txt', 'k2.txt', 'k3.txt', 'k4.txt'];
    for (const f of keep) writeOld(path.join(src, f), f);
    mkdirSync(path.join(src, 'sub'));
    const sub = ['s0', 's1', 's2', 's3', 's4', 's5'].map((n) => `sub/${n}.txt`);
    for (const f of sub) writeOld(path.join(src, f), f);
    const run = start(args);
    await watching(run);
    // 6 of 10 objects: over 50% (5). Moved out whole: one event, so the watcher does not hand some
    // of the removals over (and a batch delete them) before the others.
    renameSync(path.join(src, 'sub'), path.join(dir('watch-guard-sticky-away'), 'sub'));
    const refusal = (e: AnyEvent) => e.type === 'error' && String(e.message).includes('refusing to delete');
    expect(await waitFor(() => run.events.some(refusal), run, 30_000), diag(run)).toBe(true);
    const before = deleted(run);
    // Four new files: 6 of 14 objects would be within 50% (7).
    const fresh = ['n0.txt', 'n1.txt', 'n2.txt', 'n3.txt'];
    for (const f of fresh) writeOld(path.join(src, f), f);
    // The event after which the batches (not the walk at the start) have sent them all.
    const sentAt = () => {
      let n = 0;
      return run.events.findIndex((e) => {
        if (e.type === 'batch' && (e as Batch).trigger !== 'walk') n += (e as Batch).uploaded;
        return n >= fresh.length;
      });
    };
    // A retry of the deletes after the new files went: refused again, or (wrongly) done.
    const retried = () => {
      const at = sentAt();
      return deleted(run) > 0 || (at >= 0 && run.events.slice(at + 1).some(refusal));
    };
    expect(await waitFor(retried, run, 30_000), diag(run)).toBe(true);
    expect(deleted(run), diag(run)).toBe(before);
    expect((await stop(run)).code, diag(run)).toBe(1);
    const remote = [...(await transport.list('w/')).keys()];
    const left = remote.filter((k) => k.startsWith('sub/'));
    expect(left.length, diag(run)).toBe(sub.length - before);
    // The summary names each delete left undone as failing.
    const summary = run.events.at(-1) as AnyEvent & { errors: Array<{ rel: string; message: string }> };
    expect(summary.type, diag(run)).toBe('summary');
    for (const rel of left)
      expect(
        summary.errors.find((e) => e.rel === rel)?.message,
        `${rel}\n${JSON.stringify(summary.errors)}`,
      ).toMatch(/refusing to delete/);
    // Every object still there has its entry, for the push that deletes it.
    const entries = readManifest(src)!.files;
    for (const rel of remote) expect(entries.has(rel), rel).toBe(true);
    // The push that is told to go ahead deletes them.
    const forced = await runCli(['push', src, url, '--delete', '--force'], server);
    expect(forced.code, forced.stderr).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual([...keep, ...fresh].sort());
  });

  it.each([
    ['moved away and another put in its place', 'moved', (root: string) => renameSync(root, `${root}.old`)],
    ['removed and made again', 'remade', (root: string) => rmSync(root, { recursive: true })],
  ])('the watched directory %s: the new one is watched', async (_what, label, away) => {
    const { transport, src, args } = await setup(`root-${label}`, [
      '--settle',
      '300ms',
      // Walks far apart: only file events can send what is written below in time.
      '--reconcile-every',
      '1h',
    ]);
    // Written in the past, so the walks send or record it at once and only one.txt is left to events.
    const old = () => writeOld(path.join(src, 'a.txt'), 'a');
    old();
    const run = start(args);
    await watching(run);
    expect(uploaded(run), diag(run)).toBe(1);
    away(src);
    mkdirSync(src);
    old();
    // The walk that the lost events call for makes the new subscription; a file written after it is seen.
    expect(
      await waitFor(() => batches(run).filter((b) => b.trigger === 'walk').length >= 2, run, 30_000),
      diag(run),
    ).toBe(true);
    writeFileSync(path.join(src, 'one.txt'), 'one');
    // Not any batch that sent one file: the manifest went with the old directory, so a batch may send
    // a.txt again before one.txt's comes. The watch prints no per-file line: the store says.
    let keys: string[] = [];
    for (const end = Date.now() + 30_000; !keys.includes('one.txt') && Date.now() < end; await sleep(100))
      keys = [...(await transport.list('w/')).keys()];
    expect(keys, diag(run)).toContain('one.txt');
    // Sent by its event's batch, or, while the manifest that went with the old directory is not yet
    // rebuilt, by the walk that batch hands over to: either way the new subscription saw the event.
    const sender = batches(run)
      .filter((b) => b.uploaded >= 1)
      .at(-1);
    expect(sender?.trigger === 'change' || handedOver(run), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['a.txt', 'one.txt']);
    // a.txt, the same in the new directory, was checked against the listing, not sent again.
    expect(uploaded(run), diag(run)).toBe(2);
  });

  it.each([
    ['removed and made again', 'remade', (root: string) => rmSync(root, { recursive: true })],
    ['moved away and another put in its place', 'moved', (root: string) => renameSync(root, `${root}.old`)],
  ])(
    'the watched directory %s with no event for it: the watch sees it by itself',
    async (_what, label, away) => {
      // ext4 gives the new directory the removed one's inode at once: only its birth time tells them apart.
      const { transport, src, args } = await setup(`root-silent-${label}`, [
        '--settle',
        '300ms',
        '--reconcile-every',
        '1h',
      ]);
      writeOld(path.join(src, 'a.txt'), 'a');
      // Every event dropped, the root's too: as a watcher that never reports the root going.
      const run = start(args, { S3SYNC_TEST_DROP_EVENTS: '^' });
      await watching(run);
      expect(uploaded(run), diag(run)).toBe(1);
      away(src);
      mkdirSync(src);
      writeOld(path.join(src, 'a.txt'), 'a');
      writeOld(path.join(src, 'two.txt'), 'two');
      const replaced = () =>
        run.events.some(
          (e) => e.type === 'warning' && /the watched directory was replaced/.test(String(e.message)),
        );
      expect(await waitFor(() => replaced() && uploaded(run) >= 2, run, 30_000), diag(run)).toBe(true);
      expect((await stop(run)).code, diag(run)).toBe(0);
      expect([...(await transport.list('w/')).keys()].sort()).toEqual(['a.txt', 'two.txt']);
      // a.txt, the same in the new directory, was checked against the listing, not sent again.
      expect(uploaded(run), diag(run)).toBe(2);
    },
  );

  it.each([
    ['its folder removed', (src: string) => rmSync(path.join(src, '.s3sync'), { recursive: true })],
    [
      'emptied to nothing',
      (src: string) => {
        for (const f of readdirSync(path.join(src, '.s3sync')))
          if (f.startsWith('manifest-') && f.endsWith('.json'))
            writeFileSync(path.join(src, '.s3sync', f), '');
      },
    ],
  ])(
    'the manifest %s under a watch: the next change lists first, sends nothing twice',
    async (_what, lose) => {
      const { transport, src, args } = await setup('manifest-gone', [
        '--settle',
        '300ms',
        '--reconcile-every',
        '1h',
      ]);
      for (const name of ['a.txt', 'b.txt']) writeOld(path.join(src, name), `old ${name}`);
      const run = start(args);
      await watching(run);
      expect(uploaded(run), diag(run)).toBe(2);
      lose(src);
      // a.txt touched (same bytes, new time), c.txt new: only c.txt is missing from the bucket.
      const past = new Date(Date.now() - 60_000);
      utimesSync(path.join(src, 'a.txt'), past, past);
      writeOld(path.join(src, 'c.txt'), 'new c');
      expect(
        await waitFor(
          () => batches(run).filter((b) => b.trigger === 'walk').length >= 2 && uploaded(run) >= 3,
          run,
          30_000,
        ),
        diag(run),
      ).toBe(true);
      expect((await stop(run)).code, diag(run)).toBe(0);
      expect(errors(run), diag(run)).toEqual([]);
      expect(manifestGone(run), diag(run)).toBe(true);
      expect(uploaded(run), diag(run)).toBe(3);
      // The walk lists and records what the bucket holds; c.txt goes with it, or (its event still
      // settling then) in a batch after it, which the rebuilt manifest vouches for.
      const [, walk, ...rest] = batches(run);
      expect(walk, diag(run)).toMatchObject({ trigger: 'walk', recorded: 2 });
      expect(walk!.requests.ListObjectsV2, diag(run)).toBeGreaterThanOrEqual(1);
      const puts = [walk!, ...rest].reduce((n, b) => n + (b.requests.PutObject ?? 0), 0);
      expect(puts, diag(run)).toBe(1);
      expect([...(await transport.list('w/')).keys()].sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    },
  );

  it('the manifest removed, then a batch that sends nothing: the next change still warns it is gone', async () => {
    const { src, args } = await setup('manifest-gone-quiet', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      '--exclude',
      '*.tmp',
    ]);
    writeOld(path.join(src, 'a.txt'), 'a');
    const run = start(args);
    await watching(run);
    rmSync(path.join(src, '.s3sync'), { recursive: true });
    // A batch of an excluded file: nothing to send, on the emptied manifest.
    writeFileSync(path.join(src, 'x.tmp'), 'x');
    expect(
      await waitFor(() => batches(run).some((b) => b.trigger === 'change'), run, 30_000),
      diag(run),
    ).toBe(true);
    writeFileSync(path.join(src, 'b.txt'), 'b');
    expect(await waitFor(() => handedOver(run), run, 30_000), diag(run)).toBe(true);
    expect(manifestGone(run), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
  });

  it('a file only touched under --header-for and --compress is recorded: not sent again, not failed', async () => {
    const rules = ['--header-for', '*.txt', 'Cache-Control: max-age=60', '--compress', '*.css'];
    const { transport, src, url, proxy, args } = await setup('styled', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      ...rules,
    ]);
    writeOld(path.join(src, 'a.txt'), 'plain text, with a header rule');
    writeOld(path.join(src, 'b.css'), 'body { color: red } '.repeat(20));
    const run = start(args);
    await watching(run);
    // A new mtime, the same content: what a backup tool's touch or a `cp -r` over the tree does.
    const past = new Date(Date.now() - 60_000);
    const settled = () =>
      batches(run)
        .filter((b) => b.trigger === 'change')
        .reduce((n, b) => n + b.recorded + b.uploaded + b.failed, 0);
    // One at a time: two touches microseconds apart once came as one event, the other never (CI,
    // @parcel/watcher 2.6.0); only a walk finds such a loss, and this test's walks are an hour apart.
    for (const [i, name] of ['a.txt', 'b.css'].entries()) {
      utimesSync(path.join(src, name), past, past);
      expect(await waitFor(() => settled() >= i + 1, run, 30_000), diag(run)).toBe(true);
    }
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(errors(run), diag(run)).toEqual([]);
    const change = batches(run).filter((b) => b.trigger === 'change');
    expect(
      change.reduce((n, b) => n + b.recorded, 0),
      diag(run),
    ).toBe(2);
    expect(
      change.reduce((n, b) => n + b.uploaded + b.failed, 0),
      diag(run),
    ).toBe(0);
    expect(changeRequests(run), diag(run)).toEqual({});
    const head = (key: string) =>
      transport.client.send(new HeadObjectCommand({ Bucket: transport.bucket, Key: key }));
    expect((await head('w/a.txt')).CacheControl).toBe('max-age=60');
    expect((await head('w/b.css')).ContentEncoding).toBe('gzip');
    // The manifest still holds each file's rule and encoding: a plain push with the rules has nothing to do.
    const again = await runCli(
      ['push', src, url, '--json', '--endpoint-url', proxy.endpoint, ...rules],
      server,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary, again.stderr).toMatchObject({
      uploaded: 0,
      restyled: 0,
      recorded: 0,
      unchanged: 2,
    });
  });

  it('a file renamed in the tree is copied on the server, not uploaded again', async () => {
    const { transport, src, args } = await setup('renamed', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1h',
      '--delete',
    ]);
    const body = Buffer.alloc(256 * 1024, 7);
    writeOld(path.join(src, 'keep1.txt'), 'keeps the source non-empty');
    writeOld(path.join(src, 'keep2.txt'), 'and the delete within --max-delete');
    writeFileSync(path.join(src, 'one.bin'), body);
    utimesSync(path.join(src, 'one.bin'), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const run = start(args);
    await watching(run);
    renameSync(path.join(src, 'one.bin'), path.join(src, 'two.bin'));
    const moved = () => batches(run).some((b) => b.trigger === 'change' && b.copied + b.uploaded > 0);
    expect(await waitFor(() => moved() && deleted(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(errors(run), diag(run)).toEqual([]);
    expect(changeRequests(run), diag(run)).toEqual({ CopyObject: 1, DeleteObjects: 1 });
    // The watch's summary counts the copy, as a push's does.
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      copied: 1,
      uploaded: 3,
      deleted: 1,
    });
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['keep1.txt', 'keep2.txt', 'two.bin']);
    expect(await objectMd5(transport, 'w/two.bin')).toBe(md5Hex(body));
  });

  it('a file renamed while walks run is held back by them, then sent: no error, exit 0', async () => {
    const { transport, src, args } = await setup('renamed-walk', [
      '--settle',
      '3s',
      '--reconcile-every',
      '1s',
    ]);
    const body = Buffer.alloc(128 * 1024, 9);
    writeOld(path.join(src, 'keep.txt'), 'keeps the source non-empty');
    writeFileSync(path.join(src, 'one.bin'), body);
    utimesSync(path.join(src, 'one.bin'), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    const run = start(args);
    await watching(run);
    const walks = () => batches(run).filter((b) => b.trigger === 'walk').length;
    renameSync(path.join(src, 'one.bin'), path.join(src, 'two.bin'));
    const before = walks();
    // Walks come every second while the new name settles for three: each finds it, still pending.
    const sent = () =>
      batches(run)
        .slice(1)
        .some((b) => b.copied + b.uploaded > 0);
    expect(await waitFor(() => sent() && walks() >= before + 2, run, 30_000), diag(run)).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(errors(run), diag(run)).toEqual([]);
    expect(await objectMd5(transport, 'w/two.bin')).toBe(md5Hex(body));
  });

  it('a root given as a symbolic link to a directory is watched', async () => {
    const { transport, src, url, proxy } = await setup('linked');
    const link = `${src}-link`;
    symlinkSync(src, link);
    const run = start(watchArgs(link, url, proxy.endpoint, ['--settle', '300ms', '--reconcile-every', '1h']));
    await watching(run);
    writeFileSync(path.join(src, 'one.txt'), 'one');
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect(
      run.events.filter((e) => e.type === 'warning'),
      diag(run),
    ).toEqual([]);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect([...(await transport.list('w/')).keys()]).toEqual(['one.txt']);
    rmSync(link);
  });

  it('a symbolic link in the tree is noticed once, not at every batch or walk', async () => {
    const { src, args } = await setup('link-once', ['--settle', '300ms', '--reconcile-every', '1s']);
    writeFileSync(path.join(src, 'target.txt'), 't');
    symlinkSync('target.txt', path.join(src, 'link.txt'));
    const run = start(args);
    await watching(run);
    // Three batches in the link's folder, and walks between them.
    for (const [i, name] of ['one.txt', 'two.txt', 'three.txt'].entries()) {
      writeFileSync(path.join(src, name), name);
      expect(await waitFor(() => uploaded(run) >= i + 2, run, 30_000), diag(run)).toBe(true);
    }
    expect(
      await waitFor(() => batches(run).filter((b) => b.trigger === 'walk').length >= 3, run, 30_000),
      diag(run),
    ).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    const notices = run.events.filter(
      (e) => e.type === 'notice' && /^link\.txt: symbolic link skipped/.test(String(e.message)),
    );
    expect(notices, diag(run)).toHaveLength(1);
  });

  it('--debug says the connection once, not at every batch or walk', async () => {
    const { src, args } = await setup('debug-once', [
      '--debug',
      '--settle',
      '300ms',
      '--reconcile-every',
      '1s',
    ]);
    writeFileSync(path.join(src, 'zero.txt'), '0');
    const run = start(args);
    await watching(run);
    for (const [i, name] of ['one.txt', 'two.txt'].entries()) {
      writeFileSync(path.join(src, name), name);
      expect(await waitFor(() => uploaded(run) >= i + 2, run, 30_000), diag(run)).toBe(true);
    }
    expect(
      await waitFor(() => batches(run).filter((b) => b.trigger === 'walk').length >= 2, run, 30_000),
      diag(run),
    ).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    const said = run.events.filter(
      (e) => e.type === 'notice' && /^connection: endpoint /.test(String(e.message)),
    );
    expect(said, diag(run)).toHaveLength(1);
  });

  it('a .s3syncignore linked to shared rules is read through the link, and never noticed as skipped', async () => {
    const { transport, src, args } = await setup('link-ignore', [
      '--settle',
      '300ms',
      '--reconcile-every',
      '1s',
    ]);
    const shared = dir('watch-link-ignore-shared');
    writeFileSync(path.join(shared, 'ignore'), '*.log\n');
    symlinkSync(path.join(shared, 'ignore'), path.join(src, '.s3syncignore'));
    writeFileSync(path.join(src, 'first.txt'), 'first');
    const run = start(args);
    await watching(run);
    writeFileSync(path.join(src, 'skip.log'), 'log');
    writeFileSync(path.join(src, 'two.txt'), 'two');
    expect(await waitFor(() => uploaded(run) >= 2, run, 30_000), diag(run)).toBe(true);
    expect(
      await waitFor(() => batches(run).filter((b) => b.trigger === 'walk').length >= 3, run, 30_000),
      diag(run),
    ).toBe(true);
    expect((await stop(run)).code, diag(run)).toBe(0);
    expect(
      run.events.filter((e) => e.type === 'notice' && /s3syncignore/.test(String(e.message))),
      diag(run),
    ).toEqual([]);
    expect([...(await transport.list('w/')).keys()].sort()).toEqual(['first.txt', 'two.txt']);
  });

  it('a first sync the guards refuse ends with the summary line, then the error (exit 2)', async () => {
    const { src, url, args } = await setup('refused', ['--delete']);
    writeFileSync(path.join(src, 'x.txt'), 'x');
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    rmSync(path.join(src, 'x.txt'));
    const run = start(args);
    const { code } = await run.exited;
    expect(code, diag(run)).toBe(2);
    expect(run.stderr()).toMatch(/^s3sync: .*refus/);
    expect(run.events.at(-1)).toMatchObject({
      type: 'summary',
      stoppedBy: expect.stringMatching(/refus/),
      exitCode: 2,
    });
  });

  it('config jobs with "watch": true run side by side in one process', async () => {
    const a = await setup('job-a');
    const b = await setup('job-b');
    const cfgDir = dir('watch-config');
    const file = path.join(cfgDir, 's3sync.config.json');
    const job = (x: typeof a) => ({
      command: 'push',
      source: x.src,
      destination: x.url,
      watch: true,
      settle: '300ms',
      endpointUrl: x.proxy.endpoint,
    });
    writeFileSync(file, JSON.stringify({ jobs: [job(a), job(b)] }));
    const run = start(['--json'], { S3SYNC_CONFIG: file });
    const walked = await run.until((_e, all) => all.filter((e) => e.type === 'batch').length >= 2);
    expect(walked, run.stderr()).toBe(true);
    writeFileSync(path.join(a.src, 'one.txt'), 'for job a');
    writeFileSync(path.join(b.src, 'two.txt'), 'for job b');
    expect(await waitFor(() => uploaded(run) >= 2, run, 30_000), run.stderr()).toBe(true);
    const { code } = await stop(run);
    expect(code, run.stderr()).toBe(0);
    expect([...(await a.transport.list('w/')).keys()]).toEqual(['one.txt']);
    expect([...(await b.transport.list('w/')).keys()]).toEqual(['two.txt']);
    const jobs = run.events.filter((e) => e.type === 'job') as (AnyEvent & { exitCode: number })[];
    expect(jobs.map((j) => j.exitCode)).toEqual([0, 0]);
  });
});

describe('push --watch: bad input', () => {
  const env = {
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'y',
    AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
  };
  it.each<[string, string[], RegExp]>([
    [
      'with --dry-run',
      ['--watch', '--dry-run'],
      /^s3sync: watch \(--watch\) does not take dryRun \(--dry-run\): a plain push with dryRun shows what it would send$/m,
    ],
    ['a settle time too short to tell a pause from a write', ['--watch', '--settle', '10ms'], /--settle/],
    ['a settle time with no unit', ['--watch', '--settle', '5'], /--settle/],
    ['a reconcile interval of zero', ['--watch', '--reconcile-every', '0s'], /--reconcile-every/],
    [
      '--settle without --watch (it would do nothing)',
      ['--settle', '5s'],
      /settle \(--settle\) applies to watch \(--watch\) only/,
    ],
    [
      '--reconcile-every without --watch',
      ['--reconcile-every', '1m'],
      /reconcileEvery \(--reconcile-every\) applies to watch \(--watch\) only/,
    ],
  ])('%s: one line, exit 2', async (_reason, flags, message) => {
    const src = dir('watch-bad');
    const r = await runCli(['push', src, 's3://bucket/x', ...flags], undefined, { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a plan takes no --watch (a plan runs once)', async () => {
    const src = dir('watch-bad');
    const r = await runCli(
      ['plan', 'push', src, 's3://bucket/x', '--out', path.join(src, 'p.json'), '--watch'],
      undefined,
      {
        env,
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--watch does not apply to plan/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
