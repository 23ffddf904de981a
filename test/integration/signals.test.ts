/**
 * Ctrl-C, SIGTERM and SIGHUP, sent as real signals to the CLI while it pushes to a real server: the first one
 * cancels (no new transfer, the manifest saved, the lock released, the summary printed, exit 130/143),
 * a second one exits at once, and the next run picks up where the cancelled one stopped.
 */
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  doneOf,
  exitWithin,
  killLeftRuns,
  type LiveRun,
  MiB,
  manifestPaths,
  newBucket,
  plainLines,
  readManifest,
  runCli,
  runLive,
  seededTree,
  seedObject,
  seenOf,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  waitFor,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startCopyHold, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const runs: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(runs);
  for (const p of proxies) await p.close();
  removeAll();
});

const EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
/** A bound on one wait for a run's event or exit: three of them fit in a test's time with room to spare. */
const WAIT_MS = 30_000;
type Sig = keyof typeof EXIT;

const pendingParts = (src: string) => Object.keys(readManifest(src)?.pending['big.bin']?.parts ?? {}).length;
const lockOf = (src: string) => `${manifestPaths(src)[0]}.lock`;
const stdoutLines = (r: LiveRun) =>
  r
    .stdout()
    .split('\n')
    .filter((l) => l.trim() !== '');

describe.each(servers())('signals on $name', (server) => {
  const SMALL = 40;
  const PART = 5 * MiB;
  const PARTS = 8;

  /**
   * A push slowed by a proxy (every request held 0.8 s, two at a time) of 40 small files and one
   * 8-part file, signalled once some files are done and a checkpoint shows a completed part.
   */
  async function cancelledPush(signal: Sig, json: boolean) {
    const { bucket, transport } = await newBucket(server, `sig-${signal.toLowerCase()}`);
    const src = dir('sig-src');
    const small = seededTree(src, SMALL, signal === 'SIGINT' ? 61 : 62);
    bigFile(path.join(src, 'big.bin'), PARTS * PART);
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 9,
      rate: 1,
      kinds: ['delay'],
      delayMs: 800,
    });
    proxies.push(proxy);
    const url = `s3://${bucket}/sig`;
    const args = [
      'push',
      src,
      url,
      '--endpoint-url',
      proxy.endpoint,
      '--workers',
      '2',
      '--multipart-threshold',
      `${PART}`,
      '--part-size',
      `${PART}`,
      ...(json ? ['--json'] : []),
    ];
    const run = spawnCli(args, server);
    runs.push(run);
    const reached = await waitFor(() => pendingParts(src) >= 1, run);
    expect(reached, `the run ended before a part was checkpointed: ${run.stderr()}`).toBe(true);
    run.child.kill(signal);
    const { code, signal: killedBy } = await run.exited;
    return { bucket, transport, src, small, url, args, proxy, run, code, killedBy };
  }

  // SIGHUP: a terminal or ssh session closed.
  it.each<Sig>(['SIGINT', 'SIGTERM', 'SIGHUP'])(
    '%s with --json: cancelled, saved, summarised; the next run resumes without repeating anything',
    async (signal) => {
      const { transport, src, small, url, args, proxy, run, code, killedBy } = await cancelledPush(
        signal,
        true,
      );
      // An exit of its own, with the shell's code for the signal.
      expect(killedBy).toBeNull();
      expect(code, run.stderr()).toBe(EXIT[signal]);

      // The summary is the last line of stdout, and says what happened.
      const last = JSON.parse(stdoutLines(run).at(-1)!) as { type: string };
      expect(last.type).toBe('summary');
      const summary = summaryOf(run.events)!;
      expect(summary).toMatchObject({ cancelled: true, exitCode: EXIT[signal], failed: 0, errors: [] });
      const uploaded = doneOf(run.events, 'upload');
      expect(summary.uploaded).toBe(uploaded.length);
      expect(uploaded.length).toBeGreaterThan(0);
      expect(uploaded.length).toBeLessThan(SMALL);
      // Interrupted transfers are not failures.
      expect(run.events.filter((e) => e.type === 'error')).toEqual([]);
      const notices = run.events
        .filter((e) => e.type === 'notice')
        .map((e) => String((e as { message?: string }).message));
      expect(notices.some((m) => m.startsWith(`${signal}: stopping`))).toBe(true);
      // One line on stderr.
      const lines = plainLines(run.stderr());
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^s3sync: cancelled by ${signal}; the next run continues`));

      // The lock is released; the manifest is valid and records exactly what was uploaded, plus the
      // multipart upload in progress with its completed parts, kept to be resumed.
      expect(existsSync(lockOf(src))).toBe(false);
      const m = readManifest(src)!;
      expect([...m.files.keys()].sort()).toEqual([...uploaded].sort());
      const pending = m.pending['big.bin']!;
      expect(pending).toBeDefined();
      const recorded = Object.keys(pending.parts).length;
      expect(recorded).toBeGreaterThanOrEqual(1);
      expect(recorded).toBeLessThan(PARTS);
      if (server.quirks.hasListParts) {
        const uploads = await transport.listMultipartUploads('sig/');
        expect(uploads.map((u) => u.uploadId)).toEqual([pending.uploadId]);
      }
      const listed = await transport.list('sig/');
      for (const rel of uploaded) expect(listed.get(rel)?.etag, rel).toBe(m.files.get(rel)!.etag);

      // The next run uploads only what the cancelled one did not, and resumes the big file.
      proxy.setRate(0);
      const next = spawnCli(args, server);
      runs.push(next);
      const { code: nextCode } = await next.exited;
      expect(nextCode, next.stderr()).toBe(0);
      const again = doneOf(next.events, 'upload');
      expect(again.filter((rel) => uploaded.includes(rel))).toEqual([]);
      const rest = small.filter((rel) => !uploaded.includes(rel));
      expect([...again].sort()).toEqual([...rest, 'big.bin'].sort());
      const s2 = summaryOf(next.events)!;
      expect(s2).toMatchObject({ uploaded: rest.length + 1, unchanged: uploaded.length, failed: 0 });
      expect(s2.requests.PutObject ?? 0).toBe(rest.length);
      expect(s2.requests.CreateMultipartUpload ?? 0).toBe(0);
      const partsSent = s2.requests.UploadPart ?? 0;
      // Parts the server has: those recorded, and where it lists them, any it finished meanwhile.
      if (server.quirks.hasListParts) expect(partsSent).toBeLessThanOrEqual(PARTS - recorded);
      else expect(partsSent).toBe(PARTS - recorded);
      expect(readManifest(src)!.pending).toEqual({});
      if (server.quirks.hasListParts) expect(await transport.listMultipartUploads('sig/')).toEqual([]);
      expect((await runCli(['check', src, url], server)).code).toBe(0);
    },
  );

  it('SIGTERM in human mode: the summary is printed, marked cancelled', async () => {
    const { src, run, code } = await cancelledPush('SIGTERM', false);
    expect(code).toBe(143);
    const out = stdoutLines(run);
    expect(out.at(-2)).toMatch(
      /^\[cancelled\] \d+ files: \d+ unchanged, \d+ uploaded, 0 recorded, 0 deleted, 0 failed$/,
    );
    expect(out.at(-1)).toMatch(/S3 requests/);
    const err = plainLines(run.stderr());
    expect(err.filter((l) => !l.startsWith('notice: '))).toEqual([
      expect.stringMatching(/^s3sync: cancelled by SIGTERM/),
    ]);
    expect(err.some((l) => l.startsWith('notice: SIGTERM: stopping'))).toBe(true);
    expect(existsSync(lockOf(src))).toBe(false);
    expect(readManifest(src)!.pending['big.bin']).toBeDefined();
  });

  it('a second signal exits at once, without waiting for the work the first one lets finish', async () => {
    const { bucket } = await newBucket(server, 'sig2');
    const src = dir('sig2-src');
    seededTree(src, 5, 63);
    // A sparse 4 GiB file: no disk, but seconds of MD5 on a worker thread, which a cancelled run lets
    // finish before it saves and summarises. The second signal must not wait for it.
    writeFileSync(path.join(src, 'huge.bin'), '');
    truncateSync(path.join(src, 'huge.bin'), 4 * 1024 * MiB);
    const run = spawnCli(['push', src, `s3://${bucket}/sig2`, '--json'], server);
    runs.push(run);
    expect(await run.until((e) => e.type === 'plan', WAIT_MS), seenOf(run)).toBe(true);
    run.child.kill('SIGINT');
    expect(
      await run.until(
        (e) =>
          e.type === 'notice' && String((e as { message?: string }).message).startsWith('SIGINT: stopping'),
        WAIT_MS,
      ),
      seenOf(run),
    ).toBe(true);
    run.child.kill('SIGTERM');
    const { code, signal } = await exitWithin(run, WAIT_MS);
    expect(signal, seenOf(run)).toBeNull();
    expect(code, seenOf(run)).toBe(143);
    // The cancelled run never got to its summary: the process ended first.
    expect(summaryOf(run.events)).toBeUndefined();
    // Exiting still releases the lock; whatever manifest a checkpoint wrote is whole.
    expect(existsSync(lockOf(src))).toBe(false);
    readManifest(src);
  });

  it('the first signal ends a hash of a huge file after a short grace, not at its end: summary, 143', async () => {
    const { bucket } = await newBucket(server, 'sighash');
    const src = dir('sighash-src');
    const small = seededTree(src, 3, 64);
    // A sparse 1 TiB file: no disk, but most of an hour of MD5, which a cancelled run must not wait for
    // (systemd kills 90 s after its SIGTERM).
    writeFileSync(path.join(src, 'huge.bin'), '');
    truncateSync(path.join(src, 'huge.bin'), 1024 * 1024 * MiB);
    const run = spawnCli(['push', src, `s3://${bucket}/sighash`, '--json'], server);
    runs.push(run);
    // Each wait bounded well within the test's time, so that one that fails says what the run printed.
    expect(await run.until((e) => e.type === 'plan', WAIT_MS), seenOf(run)).toBe(true);
    // The small files sent, the huge one's hash under way (it is read before its upload starts).
    const uploads = (all: unknown[]) => all.filter((e) => (e as { type: string }).type === 'done').length;
    expect(await run.until((_e, all) => uploads(all) === small.length, WAIT_MS), seenOf(run)).toBe(true);
    run.child.kill('SIGTERM');
    // Within the grace and the saving, not at the end of the hash (most of an hour).
    const { code, signal } = await exitWithin(run, WAIT_MS);
    expect(signal, seenOf(run)).toBeNull();
    expect(code, seenOf(run)).toBe(143);
    // A graceful stop: the summary, marked cancelled, the small files uploaded and recorded.
    expect(summaryOf(run.events), seenOf(run)).toMatchObject({ cancelled: true, failed: 0 });
    expect(existsSync(lockOf(src))).toBe(false);
    expect([...readManifest(src)!.files.keys()].sort()).toEqual([...small].sort());
  }, 120_000);

  it('a closed stdout cancels the run as SIGPIPE would: its work saved, exit 141, the next run finishes', async () => {
    const { bucket } = await newBucket(server, 'sigpipe');
    const src = dir('sigpipe-src');
    seededTree(src, SMALL, 65);
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 9,
      rate: 1,
      kinds: ['delay'],
      delayMs: 300,
    });
    proxies.push(proxy);
    const url = `s3://${bucket}/pipe`;
    const args = ['push', src, url, '--endpoint-url', proxy.endpoint, '--workers', '2', '--json'];
    const run = spawnCli(args, server);
    runs.push(run);
    // `s3sync push … --json | head -1`: the reader goes away while the run is under way.
    expect(await run.until((e) => e.type === 'done'), run.stderr()).toBe(true);
    run.child.stdout!.destroy();
    const { code, signal } = await run.exited;
    expect(signal).toBeNull();
    expect(code, run.stderr()).toBe(141);
    expect(plainLines(run.stderr()).at(-1)).toMatch(
      /^s3sync: cancelled by SIGPIPE \(its output was closed\)/,
    );
    expect(existsSync(lockOf(src))).toBe(false);
    // What finished is recorded, as after a signal; the run did not go on to the end unseen either.
    const recorded = [...readManifest(src)!.files.keys()];
    expect(recorded.length).toBeGreaterThan(0);
    expect(recorded.length).toBeLessThan(SMALL);

    proxy.setRate(0);
    const next = await runLive(args, server);
    expect(next.code, next.stderr()).toBe(0);
    const s2 = summaryOf(next.events)!;
    expect(s2).toMatchObject({ unchanged: recorded.length, failed: 0 });
    expect(s2.uploaded + s2.recorded).toBe(SMALL - recorded.length);
    expect(s2.requests.PutObject ?? 0).toBeLessThanOrEqual(SMALL - recorded.length);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });

  /**
   * A tree of `n` text files pushed with --compress (a check compares each by a HEAD of its source MD5),
   * then one file more, only local; a proxy that answers the first `answered` HEADs and holds the rest,
   * and the ListObjectsV2 too when `holdListing`.
   */
  async function heldCheck(label: string, n: number, opts: { answered: number; holdListing: boolean }) {
    const { bucket } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    const files: Record<string, string> = {};
    for (let i = 0; i < n; i++) files[`t${String(i).padStart(2, '0')}.txt`] = `line ${i}\n`.repeat(200 + i);
    writeTree(src, files);
    const url = `s3://${bucket}/chk`;
    let armed = false;
    let heads = 0;
    let lists = 0;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: ({ method, url: u }) => {
        if (!armed) return undefined;
        if (method === 'HEAD') return ++heads > opts.answered ? released : undefined;
        if (method !== 'GET' || !u.includes('list-type=2')) return undefined;
        lists++;
        return opts.holdListing ? released : undefined;
      },
    });
    proxies.push(proxy);
    // Through the proxy: the check reads the manifest of this endpoint, which records the compression.
    const push = await runCli(
      ['push', src, url, '--compress', '*.txt', '--endpoint-url', proxy.endpoint],
      server,
    );
    expect(push.code, push.stderr).toBe(0);
    writeTree(src, { 'new.txt': 'only here\n' });
    armed = true;
    // The requests that reached the proxy: the listing's, or the HEADs.
    const held = () => (opts.holdListing ? lists : heads);
    // --full: no manifest entry stands in for a comparison; one worker: a HEAD goes out once the one
    // before it is answered and counted.
    const args = ['check', src, url, '--full', '--endpoint-url', proxy.endpoint, '--workers', '1'];
    return { args, held, release };
  }

  it.each<Sig>(['SIGINT', 'SIGTERM'])(
    'check cancelled by %s mid-comparison with --json: the summary of what it compared so far is last',
    async (signal) => {
      const N = 8;
      const ANSWERED = 3;
      const { args, held, release } = await heldCheck(`chk-${signal.toLowerCase()}`, N, {
        answered: ANSWERED,
        holdListing: false,
      });
      const run = spawnCli([...args, '--json'], server);
      runs.push(run);
      const reached = await waitFor(() => held() > ANSWERED, run);
      expect(reached, `the check ended before its HEADs were held: ${run.stdout()}${run.stderr()}`).toBe(
        true,
      );
      run.child.kill(signal);
      const { code, signal: killedBy } = await run.exited;
      release();
      expect(killedBy).toBeNull();
      expect(code, run.stderr()).toBe(EXIT[signal]);
      const last = JSON.parse(stdoutLines(run).at(-1)!) as Record<string, unknown>;
      expect(last).toEqual({
        type: 'check-summary',
        command: 'check',
        same: ANSWERED,
        onlyLocal: ['new.txt'],
        onlyRemote: [],
        differ: [],
        unverified: [],
        differences: [{ rel: 'new.txt', status: 'only-local', detail: '10 bytes' }],
        errors: [],
        requests: expect.objectContaining({ ListObjectsV2: 1 }) as unknown,
        requestsTotal: expect.any(Number) as unknown,
        elapsedMs: expect.any(Number) as unknown,
        cancelled: true,
        notCompared: N - ANSWERED,
        exitCode: EXIT[signal],
      });
      // The difference found before the signal is reported as one, once.
      expect(run.events.filter((e) => e.type === 'difference')).toEqual([
        { type: 'difference', rel: 'new.txt', status: 'only-local', detail: '10 bytes' },
      ]);
      // Neither says a manifest is saved or a run resumes: a check keeps none, and starts afresh.
      const notices = run.events
        .filter((e) => e.type === 'notice')
        .map((e) => String((e as { message?: string }).message));
      const again = signal === 'SIGINT' ? 'Ctrl-C' : signal;
      expect(notices).toEqual([
        `${signal}: stopping (the summary says what was compared so far); ${again} again exits at once`,
      ]);
      expect(plainLines(run.stderr())).toEqual([
        `s3sync: cancelled by ${signal}; the check is incomplete: run it again to compare every file`,
      ]);
    },
  );

  it('check cancelled while listing, in human mode: incomplete, every file not compared, never identical', async () => {
    const N = 4;
    const { args, held, release } = await heldCheck('chk-list', N, { answered: 0, holdListing: true });
    const run = spawnCli(args, server);
    runs.push(run);
    expect(await waitFor(() => held() >= 1, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    release();
    expect(code, run.stderr()).toBe(130);
    const out = stdoutLines(run);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(
      new RegExp(
        `^\\[cancelled\\] incomplete \\(${N + 1} not compared\\): 0 same, 0 only local, 0 only remote, 0 differ so far; \\d+ S3 requests, `,
      ),
    );
    expect(run.stdout()).not.toMatch(/identical/);
    expect(plainLines(run.stderr())).toEqual([
      'notice: SIGINT: stopping (the summary says what was compared so far); Ctrl-C again exits at once',
      's3sync: cancelled by SIGINT; the check is incomplete: run it again to compare every file',
    ]);
  });

  it('S3 → S3 cancelled: its notice and last line say what a rerun does, with no manifest; the rerun does it', async () => {
    const N = 8;
    const COPIED = 3;
    const { bucket: from, transport: src } = await newBucket(server, 'sig-s3-src');
    const { bucket: to } = await newBucket(server, 'sig-s3-dst');
    for (let i = 0; i < N; i++) await seedObject(src, `data/o${i}.txt`, `object ${i}`);
    // The copies after the first COPIED wait: the run is cancelled with those three done.
    const { proxy, copies, release } = await startCopyHold(server.endpoint, COPIED);
    proxies.push(proxy);
    const args = ['sync', `s3://${from}/data`, `s3://${to}/copy`, '--endpoint-url', proxy.endpoint];
    const run = spawnCli([...args, '--workers', '1', '--json'], server);
    runs.push(run);
    expect(await waitFor(() => copies() > COPIED, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    release();
    expect(code, run.stderr()).toBe(130);
    expect(summaryOf(run.events)).toMatchObject({ cancelled: true, copied: COPIED, exitCode: 130 });
    const notices = run.events
      .filter((e) => e.type === 'notice')
      .map((e) => String((e as { message?: string }).message));
    expect(notices).toEqual([
      'SIGINT: stopping (S3 to S3 keeps no manifest: the objects copied so far stay); Ctrl-C again exits at once',
    ]);
    expect(plainLines(run.stderr())).toEqual([
      's3sync: cancelled by SIGINT; the next run lists both prefixes again and copies only what is still missing or different',
    ]);
    expect(run.stdout() + run.stderr()).not.toMatch(/manifest is saved|continues where/);

    // As said: the rerun copies the rest, and nothing the cancelled run copied.
    const next = await runLive([...args, '--json'], server);
    expect(next.code, next.stderr()).toBe(0);
    expect(summaryOf(next.events)).toMatchObject({ copied: N - COPIED, unchanged: COPIED, failed: 0 });
  });

  it('a run waiting for the lock stops waiting when cancelled', async () => {
    const { bucket } = await newBucket(server, 'sig3');
    const src = dir('sig3-src');
    seededTree(src, 3, 64);
    const url = `s3://${bucket}/sig3`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    // This test process is alive: its lock stands, and --wait-lock waits for it.
    const lock = lockOf(src);
    const ours = JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() });
    writeFileSync(lock, ours);
    const run = spawnCli(['push', src, url, '--wait-lock'], server);
    runs.push(run);
    // Cancelled once it says it waits: its handlers are in place by then, however slow its start.
    expect(await waitFor(() => /waiting for another s3sync run/.test(run.stderr()), run, 30_000)).toBe(true);
    await sleep(300);
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    // It never held the lock: no manifest to save, and nothing changed.
    expect(plainLines(run.stderr())).toEqual([
      expect.stringMatching(
        /^notice: waiting for another s3sync run \(pid \d+ on .+\) to finish with this destination$/,
      ),
      'notice: SIGINT: stopping (it was waiting for the lock: nothing was changed); Ctrl-C again exits at once',
      's3sync: cancelled by SIGINT; nothing was changed: it was still waiting for the lock',
    ]);
    // Not its lock to remove.
    expect(existsSync(lock)).toBe(true);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'with --json, a run cancelled (%s) while it waits for the lock ends with its summary line',
    async (sig) => {
      const { bucket } = await newBucket(server, 'sig3j');
      const src = dir('sig3j-src');
      seededTree(src, 3, 64);
      const url = `s3://${bucket}/sig3j`;
      expect((await runCli(['push', src, url], server)).code).toBe(0);
      const lock = lockOf(src);
      writeFileSync(
        lock,
        JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }),
      );
      const run = spawnCli(['push', src, url, '--wait-lock', '--json'], server);
      runs.push(run);
      expect(await run.until((e) => (e as { lockWait?: string }).lockWait === 'waiting')).toBe(true);
      await sleep(300);
      run.child.kill(sig);
      const { code } = await run.exited;
      expect(code).toBe(EXIT[sig]);
      const last = JSON.parse(stdoutLines(run).at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ type: 'summary', cancelled: true, exitCode: EXIT[sig] });
      expect(existsSync(lock)).toBe(true);
    },
  );
});
