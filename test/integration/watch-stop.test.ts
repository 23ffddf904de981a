/**
 * How a watch ends, against real servers: `sync DIR s3://…` watches exactly as `push` does (same
 * events, same lines); config watch jobs stopped cleanly are not marked cancelled, and the stopping
 * notice is said once; the watch's summary counts the tree as last known and the files left pending.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, type TestContext } from 'vitest';
import {
  type AnyEvent,
  type LiveRun,
  liveSuite,
  newBucket,
  runCli,
  servers,
  spawnCli,
  waitFor,
} from '../helpers.js';

const { dir, runs } = liveSuite();

type Batch = AnyEvent & { type: 'batch'; trigger: 'change' | 'walk' | 'look'; uploaded: number };
const batches = (run: LiveRun) => run.events.filter((e): e is Batch => e.type === 'batch');
const uploaded = (run: LiveRun) => batches(run).reduce((n, b) => n + b.uploaded, 0);
const diag = (run: LiveRun) => `${run.stderr()}\n${run.stdout().split('\n').slice(-8).join('\n')}`;

/** A file written an hour in the past: a walk sends it at once, holding nothing back. */
function writeOld(file: string, body: string): void {
  writeFileSync(file, body);
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(file, past, past);
}

/** `n` folders d0…, each holding one old file f.txt: more than a lowered inotify limit watches. */
function folders(src: string, n: number): void {
  for (let i = 0; i < n; i++) {
    mkdirSync(path.join(src, `d${i}`));
    writeOld(path.join(src, `d${i}`, 'f.txt'), `${i}`);
  }
}

/**
 * A wrap for spawnCli that runs the CLI in a user namespace of its own whose inotify watches are
 * limited to `watches` (the machine's limit untouched); skips the test, with a notice, without one.
 */
function inotifyLimit(ctx: TestContext, watches: number): string[] | undefined {
  const set = `echo ${watches} > /proc/sys/user/max_inotify_watches`;
  const probe = spawnSync('unshare', ['-U', '-r', 'sh', '-c', set]);
  if (probe.error || probe.status !== 0) {
    console.warn('[watch-stop] NOTICE: no user namespace to limit inotify watches in: case skipped');
    ctx.skip();
    return undefined;
  }
  return ['unshare', '-U', '-r', 'sh', '-c', `${set} && exec "$@"`, 'sh'];
}

/** Raises the inotify limit of the namespace `pid` runs in; false when it cannot be entered (not root). */
function raiseInotifyLimit(pid: number): boolean {
  const r = spawnSync('nsenter', [
    '-U',
    '-t',
    String(pid),
    'sh',
    '-c',
    'echo 100000 > /proc/sys/user/max_inotify_watches',
  ]);
  return !r.error && r.status === 0;
}

/** The lines of a human run, the clock at their start (a batch line's) replaced. */
const humanLines = (run: LiveRun) =>
  run
    .stdout()
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d\d:\d\d:\d\d /, 'HH:MM:SS '));

describe.each(servers())('a watch stopping on $name', (server) => {
  async function setup(label: string) {
    const { bucket, transport } = await newBucket(server, `ws-${label}`);
    const src = dir(`watch-stop-${label}`);
    return { src, url: `s3://${bucket}/w`, transport };
  }

  function start(args: string[], env: Record<string, string> = {}, wrap?: string[]): LiveRun {
    const run = spawnCli(args, server, { env, wrap });
    runs.push(run);
    return run;
  }

  async function stop(run: LiveRun): Promise<number | null> {
    run.child.kill('SIGTERM');
    return (await run.exited).code;
  }

  /** One watch by `command` (push or sync) with --json: the shape of what it printed, and its exit code. */
  async function jsonShape(command: 'push' | 'sync') {
    const { src, url } = await setup(`json-${command}`);
    writeOld(path.join(src, 'a.txt'), 'a');
    const run = start([command, src, url, '--watch', '--json', '--settle', '300ms']);
    expect(await waitFor(() => batches(run).length >= 1, run, 30_000), diag(run)).toBe(true);
    writeFileSync(path.join(src, 'b.txt'), 'b');
    expect(await waitFor(() => uploaded(run) >= 2, run, 30_000), diag(run)).toBe(true);
    const code = await stop(run);
    const keys = (type: string) =>
      run.events
        .filter((e) => e.type === type)
        .map((e) => Object.keys(e).sort())
        .at(-1);
    return {
      code,
      types: [...new Set(run.events.map((e) => e.type))].sort(),
      batch: keys('batch'),
      summary: keys('summary'),
      last: run.events.at(-1),
    };
  }

  it('sync DIR s3://… --watch --json prints what push --watch prints: batches, no per-file events', async () => {
    const push = await jsonShape('push');
    const sync = await jsonShape('sync');
    expect(push.code).toBe(0);
    expect(push.types).toEqual(['batch', 'notice', 'summary']);
    expect(push.batch).toContain('exitCode');
    expect(sync).toMatchObject({ code: 0, types: push.types, batch: push.batch, summary: push.summary });
    expect(sync.last).toMatchObject({ type: 'summary', uploaded: 2, exitCode: 0 });
  });

  it('sync DIR s3://… --watch outside a terminal prints a line per batch, and no cancelled mark', async () => {
    const ends: string[][] = [];
    for (const command of ['push', 'sync']) {
      const { src, url } = await setup(`human-${command}`);
      writeOld(path.join(src, 'a.txt'), 'a');
      const run = start([command, src, url, '--watch', '--settle', '300ms']);
      expect(await waitFor(() => /walk of 1 files/.test(run.stdout()), run, 30_000), diag(run)).toBe(true);
      expect(await stop(run), diag(run)).toBe(0);
      const lines = humanLines(run);
      expect(lines[0], diag(run)).toMatch(
        /^HH:MM:SS walk of 1 files: 1 uploaded, 0 recorded, 0 deleted, 0 failed;/,
      );
      ends.push([lines.length === 3 ? 'three lines' : `${lines.length} lines`, lines[1]!]);
    }
    expect(ends[0]).toEqual([
      'three lines',
      '1 files: 0 unchanged, 1 uploaded, 0 recorded, 0 deleted, 0 failed',
    ]);
    expect(ends[1]).toEqual(ends[0]);
  });

  it("refused another run's lock, a watch says what a plain push says: one line, no summary, exit 2", async () => {
    const { src, url } = await setup('locked');
    writeOld(path.join(src, 'a.txt'), 'a');
    const manifest = path.join(dir('watch-stop-locked-manifest'), 'm.json');
    // A live run's lock: this test's own process, on this host.
    const lock = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
    writeFileSync(`${manifest}.lock`, JSON.stringify(lock));
    const said = async (args: string[], env: Record<string, string> = {}) => {
      const r = await runCli(args, server, { env });
      return { code: r.code, stdout: r.stdout, stderr: r.stderr };
    };
    const refusal = expect.stringMatching(
      /^s3sync: another s3sync run \(pid \d+ on .+\) is syncing this destination; .+\n$/,
    );
    for (const json of [[], ['--json']]) {
      const plain = await said(['push', src, url, '--manifest', manifest, ...json]);
      expect(plain).toEqual({ code: 2, stdout: '', stderr: refusal });
      expect(await said(['push', src, url, '--manifest', manifest, '--watch', ...json])).toEqual(plain);
      // A config file's job: the watch job's lines are the plain job's.
      const jobs: string[] = [];
      for (const watch of [false, true]) {
        const file = path.join(dir(`watch-stop-locked-${watch}-${json.length}`), 's3sync.config.json');
        writeFileSync(
          file,
          JSON.stringify({ jobs: [{ command: 'push', source: src, destination: url, manifest, watch }] }),
        );
        const job = await said(json, { S3SYNC_CONFIG: file });
        expect(job.code).toBe(2);
        jobs.push(job.stdout + job.stderr);
      }
      expect(jobs[1]).toBe(jobs[0]);
      expect(jobs[0]).toMatch(/job 1\/1 push .*is syncing this destination/);
    }
    rmSync(`${manifest}.lock`);
  });

  it.each(['human', 'json'])(
    'config watch jobs stopped cleanly: %s job lines not marked cancelled, the notice said once',
    async (mode) => {
      const a = await setup(`job-a-${mode}`);
      const b = await setup(`job-b-${mode}`);
      writeOld(path.join(a.src, 'one.txt'), 'for job a');
      writeOld(path.join(b.src, 'two.txt'), 'for job b');
      const file = path.join(dir(`watch-stop-config-${mode}`), 's3sync.config.json');
      const job = (x: typeof a) => ({
        command: 'push',
        source: x.src,
        destination: x.url,
        watch: true,
        settle: '300ms',
      });
      writeFileSync(file, JSON.stringify({ jobs: [job(a), job(b)] }));
      const run = start(mode === 'json' ? ['--json'] : [], { S3SYNC_CONFIG: file });
      const json = mode === 'json';
      const walked = () =>
        json
          ? batches(run).length >= 2
          : (run.stdout().match(/walk of 1 files: 1 uploaded/g) ?? []).length >= 2;
      expect(await waitFor(walked, run, 30_000), diag(run)).toBe(true);
      expect(await stop(run), diag(run)).toBe(0);
      const notices = json
        ? run.events.filter((e) => e.type === 'notice' && /SIGTERM: stopping/.test(String(e.message)))
        : run.stderr().match(/SIGTERM: stopping/g);
      expect(notices, diag(run)).toHaveLength(1);
      const line = '1 files: 0 unchanged, 1 uploaded, 0 recorded, 0 deleted, 0 failed';
      if (json) {
        const jobs = run.events.filter((e) => e.type === 'job') as (AnyEvent & Record<string, unknown>)[];
        // Side by side, each ends when it stops: in either order.
        expect(jobs.map((j) => [j.job, j.exitCode, j.result]).sort()).toEqual([
          [1, 0, line],
          [2, 0, line],
        ]);
      } else {
        const jobLines = humanLines(run)
          .filter((l) => l.startsWith('job '))
          .sort();
        expect(jobLines, diag(run)).toEqual([
          `job 1/2 push ${a.src} -> ${a.url}: ${line}`,
          `job 2/2 push ${b.src} -> ${b.url}: ${line}`,
        ]);
      }
    },
  );

  it.each(['json', 'human'])(
    '%s: the summary counts the tree as last known, what was sent, and the files left pending',
    async (mode) => {
      const { src, url } = await setup(`counts-${mode}`);
      writeOld(path.join(src, 'k1.txt'), 'kept 1');
      writeOld(path.join(src, 'k2.txt'), 'kept 2');
      expect((await runCli(['push', src, url], server)).code).toBe(0);
      writeOld(path.join(src, 'n0.txt'), 'new before the watch');
      const json = mode === 'json';
      // Walks 3 s apart: the watcher can drop an event of a burst (parcel-bundler/watcher#183), and a
      // walk sends what it dropped; the files left pending are still only those written within --settle.
      const run = start([
        'push',
        src,
        url,
        '--watch',
        '--settle',
        '2s',
        '--reconcile-every',
        '3s',
        ...(json ? ['--json'] : []),
      ]);
      // Outside a terminal, a line per batch that did something.
      const sent = () =>
        json
          ? uploaded(run)
          : [...run.stdout().matchAll(/^\d\d:\d\d:\d\d .*?: (\d+) uploaded/gm)].reduce(
              (n, m) => n + Number(m[1]),
              0,
            );
      expect(await waitFor(() => sent() >= 1, run, 30_000), diag(run)).toBe(true);
      writeFileSync(path.join(src, 'k1.txt'), 'kept 1, changed');
      for (const n of ['n1', 'n2', 'n3']) writeFileSync(path.join(src, `${n}.txt`), n);
      expect(await waitFor(() => sent() >= 5, run, 30_000), diag(run)).toBe(true);
      // Written, seen, and not settled when the watch stops.
      writeFileSync(path.join(src, 'n4.txt'), 'n4');
      await sleep(500);
      expect(await stop(run), diag(run)).toBe(0);
      // k1, k2 and n0 to n4: k2 alone was not sent during the watch; n4 is left for the next run.
      if (json)
        expect(run.events.at(-1), diag(run)).toMatchObject({
          type: 'summary',
          scanned: 7,
          unchanged: 1,
          uploaded: 5,
          pending: 1,
          exitCode: 0,
        });
      else
        expect(humanLines(run).at(-2), diag(run)).toBe(
          '7 files: 1 unchanged, 5 uploaded, 0 recorded, 0 deleted, 0 failed, 1 pending',
        );
    },
  );

  it.each([
    ['--delete', true, ''],
    ['no --delete', false, ''],
    // As the watcher can drop one (parcel-bundler/watcher#183, seen in CI): the look they call for has
    // not come, so the stop reads the tree as it would.
    ['--delete, two of the events dropped', true, '^(keep1|new)\\.txt$'],
  ])(
    'stopped before its batch, %s: a removed file is no file of the tree, and its delete is pending',
    async (what, deletes, drop) => {
      const { src, url } = await setup(`counts-removed-${deletes}-${drop === '' ? 'all' : 'dropped'}`);
      for (const n of [1, 2, 3, 4, 5]) writeOld(path.join(src, `keep${n}.txt`), `k${n}`);
      const flags = deletes ? ['--delete'] : [];
      expect((await runCli(['push', src, url, ...flags], server)).code).toBe(0);
      // A settle time that outlasts the watch: the changes are pending when it stops.
      const run = start(
        ['push', src, url, '--watch', '--json', '--settle', '20s', ...flags],
        drop === '' ? {} : { S3SYNC_TEST_DROP_EVENTS: drop },
      );
      expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
      rmSync(path.join(src, 'keep1.txt'));
      writeFileSync(path.join(src, 'new.txt'), 'new');
      // keep2's event on its own, later: one that comes as the watcher hands the others over can be
      // lost by the watcher itself (parcel-bundler/watcher#183), and then, with the two the test drops,
      // nothing tells the watch of a change (failed twice so, after 1.5 s and after 4 s).
      await sleep(700);
      writeFileSync(path.join(src, 'keep2.txt'), 'k2, changed');
      // The watch says nothing of events before their batch: time for them to reach it, inside the settle.
      await sleep(3000);
      expect(await stop(run), diag(run)).toBe(0);
      // As the next push finds it: keep2-5 and new.txt; keep2 and new.txt to send (and keep1 to delete).
      expect(run.events.at(-1), `${what}\n${diag(run)}`).toMatchObject({
        type: 'summary',
        scanned: 5,
        unchanged: 3,
        uploaded: 0,
        pending: deletes ? 3 : 2,
      });
      const next = await runCli(['push', src, url, '--json', ...flags], server);
      expect(next.summary, next.stderr).toMatchObject({
        scanned: 5,
        unchanged: 3,
        uploaded: 2,
        deleted: deletes ? 1 : 0,
      });
    },
  );

  // The fourth column: what the next push has to do (copies of renamed files, uploads, deletes); the
  // fifth, what the tree holds besides before the first push.
  it.each<[string, string[], (src: string) => void, number, ((src: string) => void)?]>([
    ['a folder renamed', [], (src) => renameSync(path.join(src, 's'), path.join(src, 's2')), 2],
    [
      'a folder renamed, --delete',
      ['--delete'],
      (src) => renameSync(path.join(src, 's'), path.join(src, 's2')),
      4,
    ],
    [
      'a folder copied in',
      [],
      (src) => cpSync(path.join(src, 's'), path.join(src, 's3'), { recursive: true }),
      2,
    ],
    [
      'a file replaced by a folder, --delete',
      ['--delete'],
      (src) => {
        rmSync(path.join(src, 'f1'));
        mkdirSync(path.join(src, 'f1'));
        writeFileSync(path.join(src, 'f1', 'x'), 'x');
      },
      2,
    ],
    [
      'links added, not followed',
      [],
      (src) => {
        symlinkSync('f1', path.join(src, 'L'));
        symlinkSync('s', path.join(src, 'LD'));
      },
      0,
    ],
    [
      'links added, followed',
      ['--follow-symlinks'],
      (src) => {
        symlinkSync('f1', path.join(src, 'L'));
        symlinkSync('s', path.join(src, 'LD'));
      },
      3,
    ],
    [
      'the ignore file removed',
      [],
      (src) => rmSync(path.join(src, '.s3syncignore')),
      1,
      (src) => {
        writeOld(path.join(src, 'a.log'), 'a log');
        writeOld(path.join(src, '.s3syncignore'), '*.log\n');
      },
    ],
    [
      'the ignore file written, leaving out a file changed',
      ['--delete'],
      (src) => {
        writeFileSync(path.join(src, 'old.log'), 'changed');
        writeFileSync(path.join(src, '.s3syncignore'), '*.log\n');
      },
      0,
      (src) => writeOld(path.join(src, 'old.log'), 'old'),
    ],
  ])(
    'stopped before its batch, %s: the summary says what the next push finds to do',
    async (_what, flags, change, todo, before) => {
      const { src, url } = await setup(`counts-tree-${_what.replace(/\W+/g, '-')}`);
      for (const rel of ['f1', 'f2', 'f3', 's/c', 's/d']) {
        mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
        writeOld(path.join(src, rel), rel);
      }
      before?.(src);
      expect((await runCli(['push', src, url, ...flags], server)).code).toBe(0);
      const run = start(['push', src, url, '--watch', '--json', '--settle', '20s', ...flags]);
      expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
      change(src);
      await sleep(1500);
      expect(await stop(run), diag(run)).toBe(0);
      const watched = run.events.at(-1) as Record<string, number>;
      const next = await runCli(['push', src, url, '--json', ...flags], server);
      expect(next.code, next.stderr).toBe(0);
      const r = next.summary!;
      const work = r.uploaded + r.copied + r.recorded + r.deleted;
      expect(work, next.stdout).toBe(todo);
      expect(
        { scanned: watched.scanned, unchanged: watched.unchanged, pending: watched.pending },
        `${diag(run)}\n${next.stdout}`,
      ).toEqual({ scanned: r.scanned, unchanged: r.unchanged, pending: work });
    },
  );

  // Removed files whose deletes a guard refused are no files of the tree, and their objects are still
  // there. Their events may come apart, so in batches of their own: with no --max-delete a batch
  // deleting a while b is there is let through, and b's then refused; --max-delete 0 refuses every one.
  it.each<[string, string[], string[], string[]]>([
    ['every file removed (the empty-source guard)', [], ['a', 'b'], []],
    ['over --max-delete', ['--max-delete', '0'], ['a', 'b', 'c'], ['d', 'e']],
  ])(
    'deletes refused, %s: the summary counts them failed and pending, no files of the tree',
    async (_what, flags, removed, kept) => {
      const { src, url } = await setup(`refused-deletes-${kept.length}`);
      for (const rel of [...removed, ...kept]) writeOld(path.join(src, rel), rel);
      expect((await runCli(['push', src, url, '--delete'], server)).code).toBe(0);
      const run = start(['push', src, url, '--watch', '--json', '--settle', '1s', '--delete', ...flags]);
      expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
      for (const rel of removed) rmSync(path.join(src, rel));
      const refused = () =>
        run.events.some((e) => e.type === 'error' && /^refusing to delete/.test(String(e.message)));
      expect(await waitFor(refused, run, 30_000), diag(run)).toBe(true);
      // The batches settle: what a first one let through is deleted by the time the refusal is said.
      await sleep(1500);
      expect(await stop(run), diag(run)).toBe(1);
      const last = run.events.at(-1) as Record<string, unknown>;
      expect(last, diag(run)).toMatchObject({ type: 'summary', scanned: kept.length, recorded: 0 });
      const { deleted, failed, pending } = last as Record<string, number>;
      expect({ failed: failed! > 0, pending, all: deleted! + pending! }, diag(run)).toEqual({
        failed: true,
        pending: failed,
        all: removed.length,
      });
    },
  );

  it('--max-size: the summary counts the files the limit lets through, as a push does', async () => {
    const { src, url } = await setup('counts-limits');
    writeOld(path.join(src, 'small.txt'), 'ab');
    writeOld(path.join(src, 'big1.txt'), 'large enough');
    writeOld(path.join(src, 'big2.txt'), 'large enough too');
    // The manifest holds all three; the watch sends only files of 4 bytes or less.
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const limit = ['--max-size', '4'];
    const plain = await runCli(['push', src, url, '--json', ...limit], server);
    expect(plain.summary, plain.stderr).toMatchObject({ scanned: 1, unchanged: 1 });
    const run = start(['push', src, url, '--watch', '--json', '--settle', '300ms', ...limit]);
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    // small.txt grows past the limit; a new small file comes.
    writeFileSync(path.join(src, 'small.txt'), 'now over the limit');
    writeFileSync(path.join(src, 'tiny.txt'), 't');
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect(await stop(run), diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      scanned: 1,
      unchanged: 0,
      uploaded: 1,
      pending: 0,
    });
    const next = await runCli(['push', src, url, '--json', ...limit], server);
    expect(next.summary, next.stderr).toMatchObject({ scanned: 1, unchanged: 1, uploaded: 0 });
  });

  it('the summary counts the files the filters select, as a push does, not the entries kept of the others', async () => {
    const { src, url } = await setup('counts-filtered');
    writeOld(path.join(src, 'a.txt'), 'a');
    writeOld(path.join(src, 'x.log'), 'x');
    writeOld(path.join(src, 'y.log'), 'y');
    // The manifest holds the .log files' entries; the watch leaves them out, and keeps their entries.
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const filtered = ['--exclude', '*.log'];
    const plain = await runCli(['push', src, url, '--json', ...filtered], server);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      scanned: 1,
      unchanged: 1,
    });
    const run = start(['push', src, url, '--watch', '--json', '--settle', '300ms', ...filtered]);
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    // One kept, one gone since: neither is a file the watch syncs.
    rmSync(path.join(src, 'y.log'));
    writeFileSync(path.join(src, 'b.txt'), 'b');
    expect(await waitFor(() => uploaded(run) >= 1, run, 30_000), diag(run)).toBe(true);
    expect(await stop(run), diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      scanned: 2,
      unchanged: 1,
      uploaded: 1,
      pending: 0,
    });
  });
  it.each(['json', 'human'])(
    '%s: stopped during its first sync, the watch ends cancelled, the files it did not send pending',
    async (mode) => {
      const { src, url, transport } = await setup(`first-walk-${mode}`);
      const n = 40;
      for (let i = 0; i < n; i++) writeOld(path.join(src, `f${i}.txt`), `file ${i}`);
      const json = mode === 'json';
      // Four requests a second: the first sync takes ten seconds, and the stop comes in the middle of it,
      // once its first file is on the server (a human run prints nothing before its end to wait for;
      // a fixed pause could end before the sync began on a loaded machine).
      const run = start(['push', src, url, '--watch', '--tpslimit', '4', ...(json ? ['--json'] : [])]);
      let stored = 0;
      const deadline = Date.now() + 30_000;
      while (run.child.exitCode === null && Date.now() < deadline) {
        stored = (await transport.list('w/')).size;
        if (stored > 0) break;
        await sleep(100);
      }
      expect(stored, `no file stored within 30 s\n${diag(run)}`).toBeGreaterThan(0);
      expect(stored, diag(run)).toBeLessThan(n);
      expect(await stop(run), diag(run)).toBe(143);
      expect(run.stderr(), diag(run)).toContain(
        's3sync: cancelled by SIGTERM; the next run continues where this one stopped',
      );
      let sent: number;
      let pending: number;
      if (json) {
        const last = run.events.at(-1) as Record<string, unknown>;
        expect(last, diag(run)).toMatchObject({
          type: 'summary',
          scanned: n,
          cancelled: true,
          exitCode: 143,
        });
        sent = last.uploaded as number;
        pending = last.pending as number;
        // The walk's line says what the summary says: its files left pending, the watch's exit code.
        expect(batches(run).at(-1), diag(run)).toMatchObject({
          trigger: 'walk',
          cancelled: true,
          pending,
          exitCode: 143,
        });
      } else {
        const line = humanLines(run).find((l) => / files: /.test(l) && !/walk of/.test(l)) ?? '';
        const m = /^\[cancelled\] (\d+) files: \d+ unchanged, (\d+) uploaded, .*, (\d+) pending$/.exec(line);
        expect(m, diag(run)).not.toBeNull();
        expect(Number(m![1])).toBe(n);
        sent = Number(m![2]);
        pending = Number(m![3]);
        // The walk's line, if it sent something before the stop, is marked as the stop cut it short.
        for (const l of humanLines(run).filter((x) => /walk of/.test(x)))
          expect(l, diag(run)).toMatch(/^HH:MM:SS \[cancelled\] walk of/);
      }
      expect(sent, diag(run)).toBeLessThan(n);
      expect(pending, diag(run)).toBe(n - sent);
      // The next push sends exactly what the stop said was pending.
      const next = await runCli(['push', src, url, '--json'], server);
      expect(next.summary, next.stderr).toMatchObject({ scanned: n, uploaded: pending, exitCode: 0 });
    },
  );

  it('with no watcher (the system refused one), the stop reads the whole tree: a changed file is pending', async (ctx) => {
    const wrap = inotifyLimit(ctx, 10);
    if (!wrap) return;
    const { src, url } = await setup('unwatched');
    // More folders than the limit allows watches.
    folders(src, 20);
    const run = start(['push', src, url, '--watch', '--json', '--settle', '300ms'], {}, wrap);
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    const refused = run.events.filter(
      (e) => e.type === 'warning' && /^cannot watch for changes/.test(String(e.message)),
    );
    expect(refused, diag(run)).toHaveLength(1);
    writeFileSync(path.join(src, 'd5', 'f.txt'), 'changed');
    await sleep(1500);
    expect(await stop(run), diag(run)).toBe(0);
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      scanned: 20,
      uploaded: 20,
      pending: 1,
      exitCode: 0,
    });
    const next = await runCli(['push', src, url, '--json'], server);
    expect(next.summary, next.stderr).toMatchObject({ scanned: 20, uploaded: 1 });
  });

  it('with no watcher, an ignore file written before the stop is read by it: the summary is what the next push finds', async (ctx) => {
    const wrap = inotifyLimit(ctx, 10);
    if (!wrap) return;
    const { src, url } = await setup('unwatched-rules');
    folders(src, 20);
    writeOld(path.join(src, 'old.log'), 'old');
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const run = start(['push', src, url, '--watch', '--json', '--settle', '20s'], {}, wrap);
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    // No event tells the watch of either write: only the ignore file itself can.
    writeFileSync(path.join(src, 'old.log'), 'changed');
    writeFileSync(path.join(src, '.s3syncignore'), '*.log\n');
    await sleep(300);
    expect(await stop(run), diag(run)).toBe(0);
    const watched = run.events.at(-1) as Record<string, number>;
    const next = await runCli(['push', src, url, '--json'], server);
    expect(next.code, next.stderr).toBe(0);
    const r = next.summary!;
    const work = r.uploaded + r.copied + r.recorded + r.deleted;
    expect(
      { scanned: watched.scanned, unchanged: watched.unchanged, pending: watched.pending },
      `${diag(run)}\n${next.stdout}`,
    ).toEqual({ scanned: r.scanned, unchanged: r.unchanged, pending: work });
  });

  it('with no watcher at the start, each walk tries again: once the system allows it, events send changes', async (ctx) => {
    const wrap = inotifyLimit(ctx, 10);
    if (!wrap) return;
    const { src, url } = await setup('watched-later');
    folders(src, 20);
    const run = start(
      ['push', src, url, '--watch', '--json', '--settle', '300ms', '--reconcile-every', '2s'],
      {},
      wrap,
    );
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    if (!raiseInotifyLimit(run.child.pid!)) {
      console.warn('[watch-stop] NOTICE: cannot enter the namespace to raise its limit: case skipped');
      ctx.skip();
      return;
    }
    // The next walk subscribes again, before it walks.
    const walks = () => batches(run).filter((b) => b.trigger === 'walk').length;
    expect(await waitFor(() => walks() >= 2, run, 30_000), diag(run)).toBe(true);
    writeFileSync(path.join(src, 'd7', 'new.txt'), 'new');
    expect(await waitFor(() => uploaded(run) >= 21, run, 30_000), diag(run)).toBe(true);
    const sentBy = batches(run).find((b) => b.uploaded > 0 && b !== batches(run)[0]);
    expect(sentBy?.trigger, diag(run)).toBe('change');
    // Said once, at the start.
    expect(
      run.events.filter((e) => e.type === 'warning' && /^cannot watch/.test(String(e.message))),
      diag(run),
    ).toHaveLength(1);
    expect(await stop(run), diag(run)).toBe(0);
  });
  it('SIGHUP (a terminal or ssh session closed) stops the watch as SIGTERM does: summary, manifest, exit 0', async () => {
    const { src, url } = await setup('sighup');
    writeOld(path.join(src, 'a.txt'), 'a');
    const run = start(['push', src, url, '--watch', '--json', '--settle', '300ms']);
    expect(await run.until((e) => e.type === 'batch'), diag(run)).toBe(true);
    run.child.kill('SIGHUP');
    const { code, signal } = await run.exited;
    expect({ code, signal }, diag(run)).toEqual({ code: 0, signal: null });
    expect(
      run.events.some((e) => e.type === 'notice' && /^SIGHUP: stopping/.test(String(e.message))),
      diag(run),
    ).toBe(true);
    expect(run.events.at(-1), diag(run)).toMatchObject({
      type: 'summary',
      scanned: 1,
      uploaded: 1,
      exitCode: 0,
    });
    const next = await runCli(['push', src, url, '--json'], server);
    expect(next.summary, next.stderr).toMatchObject({ unchanged: 1, uploaded: 0 });
  });
});
