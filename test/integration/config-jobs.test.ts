/**
 * The config file and a bare `s3sync`. Every job runs, in order, even after one fails; each prints one
 * line; the exit code is the worst; global flags (--json, --quiet, --dry-run) apply to every job. A
 * config file with an unknown key (with a suggestion) or a bad value stops everything before a single
 * request, in one line, exit 2, whichever command reads it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import { versionedBucket } from '../helpers/versioned.js';
import {
  type CliRun,
  killLeftRuns,
  type LiveRun,
  manifestPaths,
  newBucket,
  plainLines,
  runCli,
  seedObject,
  servers,
  spawnCli,
  trackedDirs,
  writeSmallFiles,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const runs: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(runs);
  for (const p of proxies) await p.close();
  removeAll();
});

/** A config file in its own directory, found through S3SYNC_CONFIG. */
function config(content: object): { env: Record<string, string>; file: string } {
  const file = path.join(dir('jobs-cfg'), 's3sync.config.json');
  writeFileSync(file, JSON.stringify(content));
  return { env: { S3SYNC_CONFIG: file }, file };
}

/** The NDJSON lines of stdout, parsed: every line of it must be one. */
const ndjson = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string });

/** The job lines of a run: stdout's and stderr's, each in order. */
function jobLines(r: CliRun) {
  const re = /^(s3sync: )?job \d+\/\d+ /;
  return {
    out: plainLines(r.stdout).filter((l) => re.test(l)),
    err: plainLines(r.stderr).filter((l) => re.test(l)),
  };
}

describe.each(servers())('config jobs on $name', (server) => {
  let bucket: string;
  let t: S3Transport;
  let n = 0;

  beforeAll(async () => {
    ({ bucket, transport: t } = await newBucket(server, 'jobs'));
  });

  const keys = async (prefix: string) => [...(await t.list(`${prefix}/`)).keys()].sort();

  /** A push job of a fresh two-file directory to a fresh prefix. */
  function pushJob(): { job: Record<string, unknown>; prefix: string } {
    const prefix = `p${n++}`;
    const src = dir('jobs-src');
    writeTree(src, { 'a.txt': `alpha ${prefix}`, 'sub/b.txt': `beta ${prefix}` });
    return { job: { command: 'push', source: src, destination: `s3://${bucket}/${prefix}` }, prefix };
  }

  /** Jobs made to fail, each with its exit code and what its line says. */
  const failing: [string, () => Promise<Record<string, unknown>>, number, RegExp][] = [
    [
      'a missing source directory',
      async () => ({
        command: 'push',
        source: path.join(dir('jobs-gone'), 'nope'),
        destination: `s3://${bucket}/x`,
      }),
      2,
      /source directory '.*nope' does not exist \(exit 2\)$/,
    ],
    [
      'a check that finds a difference',
      async () => {
        const prefix = `c${n++}`;
        await seedObject(t, `${prefix}/remote-only.txt`, 'r');
        const local = dir('jobs-chk');
        writeTree(local, { 'remote-only.txt': 'r', 'local-only.txt': 'l' });
        return { command: 'check', source: local, destination: `s3://${bucket}/${prefix}` };
      },
      1,
      /1 difference\(s\): 1 same, 1 only local, 0 only remote, 0 differ \(exit 1\)$/,
    ],
    [
      'a delete the guard refuses',
      async () => {
        const prefix = `g${n++}`;
        for (const k of ['o1', 'o2', 'o3']) await seedObject(t, `${prefix}/${k}`, k);
        const src = dir('jobs-guard');
        writeTree(src, { 'new.txt': 'new' });
        return { command: 'push', source: src, destination: `s3://${bucket}/${prefix}`, delete: true };
      },
      2,
      /refusing to delete 3 of 3 file\(s\): over --max-delete 50% \(1\); raise it or use --force \(exit 2\)$/,
    ],
    [
      'an endpoint that refuses connections',
      async () => ({
        ...pushJob().job,
        endpointUrl: 'http://127.0.0.1:1',
        retries: 0,
      }),
      2,
      /127\.0\.0\.1:1.*\(exit 2\)$/,
    ],
  ];

  it.each(failing)(
    'three jobs, the second failing (%s): all three run, one line each, exit = worst',
    async (_name, makeSecond, code, line) => {
      const first = pushJob();
      const third = pushJob();
      const { env } = config({ jobs: [first.job, await makeSecond(), third.job] });
      const r = await runCli([], server, { env });
      expect(r.code, r.stderr).toBe(code);
      const { out, err } = jobLines(r);
      expect(out).toEqual([
        expect.stringMatching(
          /^job 1\/3 push .* -> s3:\/\/.*: 2 files: 0 unchanged, 2 uploaded, 0 recorded, 0 deleted, 0 failed$/,
        ),
        expect.stringMatching(/^job 3\/3 push .* -> s3:\/\/.*: 2 files: 0 unchanged, 2 uploaded/),
      ]);
      expect(err).toEqual([expect.stringMatching(/^s3sync: job 2\/3 (push|pull|check) /)]);
      expect(err[0]).toMatch(line);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // The job after the failing one did run.
      expect(await keys(first.prefix)).toEqual(['a.txt', 'sub/b.txt']);
      expect(await keys(third.prefix)).toEqual(['a.txt', 'sub/b.txt']);
    },
  );

  it('one "manifest" in defaults for two destinations is refused before the first job runs', async () => {
    const first = pushJob();
    const second = pushJob();
    const { env, file } = config({ defaults: { manifest: './shared.json' }, jobs: [first.job, second.job] });
    const manifest = path.join(path.dirname(file), 'shared.json');
    const r = await runCli([], server, { env });
    expect(r.code, r.stderr).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      `s3sync: config file ${file}: jobs 1 and 2 share the manifest ${manifest} for other ends (${first.job.source} -> ${first.job.destination}, ${second.job.source} -> ${second.job.destination}): give each its own "manifest"`,
    ]);
    expect(await keys(first.prefix)).toEqual([]);
    // A push and a check of the same ends may share it: the check only reads it.
    const { env: same } = config({
      defaults: { manifest: './shared.json' },
      jobs: [first.job, { ...first.job, command: 'check' }],
    });
    const ok = await runCli([], server, { env: same });
    expect(ok.code, ok.stderr).toBe(0);
  });

  /** A later job's settings over a push job's, or made from it (they name its ends). */
  type Bad = Record<string, unknown> | ((job: Record<string, unknown>) => Record<string, unknown>);

  it('a bare s3sync --dry-run with a watch job is refused before the first job runs', async () => {
    const first = pushJob();
    const second = pushJob();
    const { env, file } = config({ jobs: [first.job, { ...second.job, watch: true }] });
    const r = await runCli(['--dry-run'], server, { env });
    expect(r.code).toBe(2);
    expect(plainLines(r.stderr), r.stderr).toEqual([
      `s3sync: config file ${file}: job 2: watch (--watch) does not take dryRun (--dry-run): a plain push with dryRun shows what it would send`,
    ]);
    expect(r.stdout).toBe('');
    expect(await keys(first.prefix)).toEqual([]);
    expect(await keys(second.prefix)).toEqual([]);
  });

  it.each([
    [
      'a suffix without a backup location',
      { suffix: '.bak' },
      /suffix \(--suffix\) applies only with backupDir/,
    ],
    [
      'settleMax under settle',
      { watch: true, settle: '5s', settleMax: '2s' },
      /settleMax \(--settle-max\) 2s is shorter/,
    ],
    [
      'a burst without a rate',
      { tpslimitBurst: 5 },
      /tpslimitBurst \(--tpslimit-burst\) applies only with tpslimit/,
    ],
    [
      'a minimum size above the maximum',
      { minSize: '2M', maxSize: '1M' },
      /minSize \(--min-size\) 2097152 bytes is above maxSize \(--max-size\)/,
    ],
    [
      'a maximum age before the minimum',
      { maxAge: '1d', minAge: '7d' },
      /maxAge \(--max-age\) .* is after minAge \(--min-age\)/,
    ],
    // Its ends as the command takes them, as the CLI checks its arguments.
    [
      "a pull whose ends are a push's",
      { command: 'pull' },
      /pull takes s3:\/\/bucket\/prefix, then a local directory: the arguments are reversed/,
    ],
    // Refused by the library only when it read the list: the first job had run by then.
    [
      'standard input read twice',
      { filesFrom: ['-', '-'] },
      /--files-from - is given twice: standard input holds one list/,
    ],
    [
      'filesFrom with filesFrom0',
      { filesFrom: 'list.txt', filesFrom0: 'list.nul' },
      /give --files-from or --files-from0, not both/,
    ],
    ['a destination with no bucket', { destination: 's3://' }, /not an S3 URL: 's3:\/\/'/],
    [
      'a check of two folders',
      { command: 'check', destination: '/srv/not-s3' },
      /not an S3 URL: '\/srv\/not-s3'/,
    ],
    [
      'an S3 → S3 sync into no bucket',
      { command: 'sync', source: 's3://some-bucket/p', destination: 's3://' },
      /not an S3 URL: 's3:\/\/'/,
    ],
    // Refused by the library only as the job started: the first job had run by then.
    [
      'a watch with dryRun',
      { watch: true, dryRun: true },
      /watch \(--watch\) does not take dryRun \(--dry-run\)/,
    ],
    ['settle without watch', { settle: '2s' }, /settle \(--settle\) applies to watch \(--watch\) only/],
    [
      'a local backupDir for a push',
      { delete: true, backupDir: './bk' },
      /backupDir \(--backup-dir\) for an S3 destination must be an s3:\/\/bucket\/prefix URL, not '.*bk'/,
    ],
    [
      'a backupDir inside the destination',
      (j) => ({ backupDir: `${j.destination}/old` }),
      /backupDir \(--backup-dir\) s3:\/\/.*\/old\/ overlaps the destination s3:\/\/.*: choose a prefix outside it/,
    ],
    [
      "a pull's backupDir inside its target",
      (j) => ({
        command: 'pull',
        source: j.destination,
        destination: j.source,
        backupDir: path.join(String(j.source), 'bk'),
      }),
      /--backup-dir .*bk overlaps the pull target .*: choose a directory outside it/,
    ],
    [
      'an S3 → S3 sync into its own source',
      (j) => ({ command: 'sync', source: j.destination, destination: `${j.destination}/inner` }),
      /the source s3:\/\/.* and the destination s3:\/\/.*\/inner overlap: a sync would copy into what it reads/,
    ],
    [
      'an S3 → S3 backupDir inside the source',
      (j) => ({
        command: 'sync',
        source: j.destination,
        destination: `${j.destination}-copy`,
        backupDir: `${j.destination}/old`,
      }),
      /backupDir \(--backup-dir\) s3:\/\/.*\/old overlaps the source s3:\/\/.*: choose a prefix outside it/,
    ],
    ['a time --at cannot read', { command: 'check', at: 'soonish' }, /at \(--at\): /],
  ] as [string, Bad, RegExp][])(
    'options that conflict in a later job (%s) stop the file before its first job runs',
    async (_what, bad, re) => {
      const first = pushJob();
      const second = pushJob();
      const overrides = typeof bad === 'function' ? bad(second.job) : bad;
      const { env, file } = config({ jobs: [first.job, { ...second.job, ...overrides }] });
      const r = await runCli([], server, { env });
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toHaveLength(1);
      expect(r.stderr.startsWith(`s3sync: config file ${file}: job 2: `)).toBe(true);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe('');
      expect(await keys(first.prefix)).toEqual([]);
      expect(await keys(second.prefix)).toEqual([]);
    },
  );

  it('a default needing --delete serves the jobs that delete; given alone to a run, it is refused', async () => {
    const keep = pushJob();
    const del = pushJob();
    expect(
      (await runCli(['push', String(del.job.source), `s3://${bucket}/${del.prefix}`], server)).code,
    ).toBe(0);
    const delSrc = String(del.job.source);
    rmSync(path.join(delSrc, 'a.txt'));
    rmSync(path.join(delSrc, 'sub'), { recursive: true });
    writeTree(delSrc, { 'c.txt': 'gamma' });
    const { env } = config({
      defaults: { maxDelete: 1, deleteExcluded: true },
      jobs: [keep.job, { ...del.job, delete: true }],
    });
    const r = await runCli([], server, { env });
    expect(r.code, r.stderr).toBe(2);
    expect(jobLines(r).out).toEqual([expect.stringMatching(/^job 1\/2 push .*: 2 files: .*2 uploaded/)]);
    expect(jobLines(r).err).toEqual([expect.stringMatching(/^s3sync: job 2\/2 push .*\(exit 2\)$/)]);
    expect(r.stderr).toMatch(/over --max-delete 1/);
    expect(await keys(keep.prefix)).toEqual(['a.txt', 'sub/b.txt']);
    expect(await keys(del.prefix)).toEqual(['a.txt', 'c.txt', 'sub/b.txt']);
    for (const flag of [['--max-delete', '1'], ['--delete-excluded'], ['--force']]) {
      const alone = await runCli(
        ['push', String(keep.job.source), `s3://${bucket}/${keep.prefix}`, ...flag],
        server,
      );
      expect(alone.code).toBe(2);
      expect(alone.stderr).toMatch(/^s3sync: \w+ \(--[\w-]+\) applies only with delete \(--delete\)\n$/);
    }
  });

  it("a bare s3sync --no-delete runs every job deleting nothing, over a job's delete and a default's", async () => {
    const own = pushJob();
    const byDefault = pushJob();
    for (const j of [own, byDefault]) await seedObject(t, `${j.prefix}/stale.txt`, 'stale');
    const { env } = config({
      defaults: { delete: true, maxDelete: '100%' },
      jobs: [
        // Its own delete, and a value that needs it: neither is a mistake of this run.
        { ...own.job, delete: true, maxDelete: 5 },
        byDefault.job,
        // A check takes no delete: the flag is not refused for it.
        { command: 'check', source: String(own.job.source), destination: `s3://${bucket}/${own.prefix}` },
      ],
    });
    const r = await runCli(['--no-delete', '--json'], server, { env });
    const jobs = ndjson(r.stdout).filter((e) => e.type === 'job');
    expect(
      jobs.map((e) => e.exitCode),
      r.stderr,
    ).toEqual([0, 0, 1]);
    const summaries = ndjson(r.stdout).filter((e) => e.type === 'summary');
    expect(summaries).toEqual([
      expect.objectContaining({ uploaded: 2, deleted: 0 }),
      expect.objectContaining({ uploaded: 2, deleted: 0 }),
    ]);
    expect(await keys(own.prefix)).toEqual(['a.txt', 'stale.txt', 'sub/b.txt']);
    expect(await keys(byDefault.prefix)).toEqual(['a.txt', 'stale.txt', 'sub/b.txt']);
    // Turning deletes on for every job at once is not a flag.
    const on = await runCli(['--delete'], server, { env });
    expect(on.code).toBe(2);
    expect(on.stderr).toMatch(/^s3sync: --delete is a command's flag: give it after the command/);
    // Without the flag, the same file deletes.
    const again = await runCli([], server, { env });
    expect(again.code, again.stderr).toBe(0);
    expect(await keys(own.prefix)).toEqual(['a.txt', 'sub/b.txt']);
    expect(await keys(byDefault.prefix)).toEqual(['a.txt', 'sub/b.txt']);
  });

  it("--no-delete and --no-dry-run say no to the config file's defaults for one run", async () => {
    const one = pushJob();
    const src = String(one.job.source);
    const url = `s3://${bucket}/${one.prefix}`;
    const { env } = config({ defaults: { delete: true, maxDelete: '100%', dryRun: true } });
    const real = await runCli(['push', src, url, '--no-dry-run', '--json'], server, { env });
    expect(real.code, real.stderr).toBe(0);
    expect(real.summary).toMatchObject({ dryRun: false, uploaded: 2 });
    rmSync(path.join(src, 'a.txt'));
    const kept = await runCli(['push', src, url, '--no-dry-run', '--no-delete', '--json'], server, { env });
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.summary).toMatchObject({ dryRun: false, deleted: 0 });
    expect(await keys(one.prefix)).toEqual(['a.txt', 'sub/b.txt']);
    const dry = await runCli(['push', src, url, '--json'], server, { env });
    expect(dry.summary).toMatchObject({ dryRun: true, deleted: 1 });
    expect(await keys(one.prefix)).toEqual(['a.txt', 'sub/b.txt']);
    const del = await runCli(['push', src, url, '--no-dry-run', '--json'], server, { env });
    expect(del.code, del.stderr).toBe(0);
    expect(del.summary).toMatchObject({ dryRun: false, deleted: 1 });
    expect(await keys(one.prefix)).toEqual(['sub/b.txt']);
  });

  it("a hand-typed command says once which settings it takes from the config file's defaults", async () => {
    const one = pushJob();
    const src = String(one.job.source);
    const url = `s3://${bucket}/${one.prefix}`;
    const { env, file } = config({ defaults: { workers: 3, delete: true, stallTimeout: '30s' } });
    const human = await runCli(['push', src, url], server, { env });
    expect(human.code, human.stderr).toBe(0);
    expect(plainLines(human.stderr)).toEqual([
      `notice: using defaults from ${file}: --workers 3, --delete, --stall-timeout 30s`,
    ]);
    // A flag given for the run is not the file's: left out of the line.
    const json = await runCli(['push', src, url, '--workers', '2', '--json'], server, { env });
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toBe('');
    expect(json.events.filter((e) => e.type === 'notice')).toEqual([
      { type: 'notice', message: `using defaults from ${file}: --delete, --stall-timeout 30s` },
    ]);
    const quiet = await runCli(['push', src, url, '--quiet'], server, { env });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr + quiet.stdout).toBe('');
    // Nothing taken from the file: nothing said.
    const none = await runCli(
      ['push', src, url, '--workers', '2', '--delete', '--stall-timeout', '1m'],
      server,
      {
        env,
      },
    );
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toBe('');
  });

  it('a hand-typed command that sends no event still says the defaults it takes, once, before its result', async () => {
    const src = String(pushJob().job.source);
    // s3rver keeps no versions and lists no multipart uploads: there a plan alone.
    const full = server.name !== 'embedded';
    const url = `s3://${(full ? await versionedBucket(server, 'jobsnotice') : await newBucket(server, 'jobsnotice')).bucket}/p`;
    const { env, file } = config({ defaults: { stallTimeout: '30s' } });
    const notice = `notice: using defaults from ${file}: --stall-timeout 30s`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const plan = path.join(dir('jobs-plan'), 'p.json');
    for (const args of [
      // Nothing changed: a plan of no action.
      ['plan', 'push', src, url, '--out', plan],
      // No multipart upload to abort.
      ...(full
        ? [
            ['versions', url],
            ['cleanup', url],
          ]
        : []),
    ]) {
      const r = await runCli(args, server, { env });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
      expect(plainLines(r.stderr), args[0]).toEqual([notice]);
      const json = await runCli([...args, '--json'], server, { env });
      expect(json.code, `${args[0]}: ${json.stderr}`).toBe(0);
      expect(
        json.events.filter((e) => e.type === 'notice'),
        args[0],
      ).toEqual([{ type: 'notice', message: notice.slice('notice: '.length) }]);
    }
  });

  it.each([false, true])(
    'SIGTERM during job 1 (--json: %s): its line, marked cancelled, then no other job; exit 143',
    async (json) => {
      const FILES = 200;
      const first = { prefix: `k${n++}`, src: dir('jobs-many') };
      writeSmallFiles(first.src, FILES);
      const second = pushJob();
      // Every request held: job 1 is still uploading when the signal comes.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 3,
        rate: 1,
        kinds: ['delay'],
        delayMs: 200,
      });
      proxies.push(proxy);
      const { env } = config({
        defaults: { endpointUrl: proxy.endpoint, workers: 2 },
        jobs: [
          { command: 'push', source: first.src, destination: `s3://${bucket}/${first.prefix}` },
          second.job,
        ],
      });
      const run = spawnCli(json ? ['--json'] : [], server, { env });
      runs.push(run);
      const deadline = Date.now() + 60_000;
      // Three objects stored by two workers: one of them had its first upload answered, and counted.
      while ((await keys(first.prefix)).length < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      run.child.kill('SIGTERM');
      const { code } = await run.exited;
      expect(code, run.stderr()).toBe(143);
      const cancelledLine = new RegExp(
        `^\\[cancelled\\] ${FILES} files: 0 unchanged, (\\d+) uploaded, .*, 0 failed$`,
      );
      const err = plainLines(run.stderr());
      const jobErr = err.filter((l) => /^s3sync: job /.test(l));
      // As a failing job's: on stderr, with its exit code; then how the run was cancelled.
      expect(jobErr).toEqual([
        expect.stringMatching(/^s3sync: job 1\/2 push .* -> s3:\/\/.*: \[cancelled\] .* \(exit 143\)$/),
      ]);
      const text = /: (\[cancelled\] .*) \(exit 143\)$/.exec(jobErr[0]!)![1]!;
      const uploaded = Number(cancelledLine.exec(text)?.[1]);
      expect(uploaded).toBeGreaterThan(0);
      expect(uploaded).toBeLessThan(FILES);
      // Then the run's line (a job cancelled, one never started), then how the run was cancelled.
      expect(err.slice(-2)).toEqual([
        's3sync: 2 job(s): 0 ok, 0 failed, 1 cancelled, 1 not run (exit 143)',
        's3sync: cancelled by SIGTERM; the next run continues where this one stopped',
      ]);
      if (json) {
        const lines = ndjson(run.stdout());
        const jobs = lines.filter((e) => e.type === 'job');
        expect(jobs).toEqual([
          {
            type: 'job',
            job: 1,
            jobs: 2,
            command: 'push',
            source: first.src,
            destination: `s3://${bucket}/${first.prefix}`,
            exitCode: 143,
            result: text,
          },
        ]);
        expect(lines.filter((e) => e.type === 'summary')).toEqual([
          expect.objectContaining({ cancelled: true, uploaded, exitCode: 143 }),
        ]);
        // The job's object, then the run's, last: how the run ended.
        expect(lines.at(-2)).toEqual(jobs[0]);
        expect(lines.at(-1)).toEqual({
          type: 'jobs-summary',
          jobs: 2,
          ok: 0,
          failed: 0,
          cancelled: 1,
          notRun: 1,
          exitCode: 143,
        });
      } else expect(run.stdout()).toBe('');
      // No job after the cancelled one started.
      expect(await keys(second.prefix)).toEqual([]);
    },
  );

  it('a file that starts with a byte order mark is read; a number JSON cannot hold is named as it reads', async () => {
    const first = pushJob();
    const { env, file } = config({ jobs: [first.job] });
    writeFileSync(file, `\uFEFF${readFileSync(file, 'utf8')}`);
    const r = await runCli([], server, { env });
    expect(r.code, r.stderr).toBe(0);
    expect(await keys(first.prefix)).not.toEqual([]);
    writeFileSync(file, '{"defaults": {"maxDelete": 1e400}}');
    const big = await runCli([], server, { env });
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('got Infinity');
  });

  it('S3SYNC_CONFIG set empty is refused, not read as the working folder', async () => {
    const first = pushJob();
    const r = await runCli([], server, {
      env: { S3SYNC_CONFIG: '' },
      cwd: path.dirname(String(first.job.source)),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      's3sync: S3SYNC_CONFIG is empty: name a config file, or unset it for ./s3sync.config.json\n',
    );
    expect(await keys(first.prefix)).toEqual([]);
  });

  it('S3SYNC_CONFIG naming a folder is a file it cannot read, not a JSON mistake', async () => {
    const folder = dir('jobs-cfg-dir');
    const r = await runCli([], server, { env: { S3SYNC_CONFIG: folder } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`s3sync: cannot read the config file ${folder}: it is a directory\n`);
    expect(r.stdout).toBe('');
  });

  /** The CLI run, killed (SIGKILL) if still running after 15 s: a read that blocks ignores SIGTERM. */
  async function runBounded(args: string[], opts: Parameters<typeof spawnCli>[2]) {
    const live = spawnCli(args, server, opts);
    runs.push(live);
    const timer = setTimeout(() => live.child.kill('SIGKILL'), 15_000);
    const { code, signal } = await live.exited.finally(() => clearTimeout(timer));
    return { code, signal, stdout: live.stdout(), stderr: live.stderr() };
  }

  it('a FIFO named s3sync.config.json in the working folder is refused at once, not read (exit 2)', async () => {
    const first = pushJob();
    const cwd = dir('jobs-cfg-fifo');
    const fifo = path.join(cwd, 's3sync.config.json');
    execFileSync('mkfifo', [fifo]);
    const url = String(first.job.destination);
    const r = await runBounded(['push', String(first.job.source), url], { cwd });
    expect(r.signal, 'killed: the read of the FIFO blocked').toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`s3sync: cannot read the config file ${fifo}: not a regular file (FIFO)\n`);
    expect(r.stdout).toBe('');
    expect(await keys(first.prefix)).toEqual([]);
  });

  it('S3SYNC_CONFIG naming /dev/zero is refused at once, not read without end (exit 2)', async () => {
    const r = await runBounded([], { env: { S3SYNC_CONFIG: '/dev/zero' } });
    expect(r.signal, 'killed: the read of /dev/zero did not end').toBeNull();
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      's3sync: cannot read the config file /dev/zero: not a regular file (character device)\n',
    );
  });

  it('two jobs that read their list from standard input are refused: the first took it all', async () => {
    const first = pushJob();
    const second = pushJob();
    const { env } = config({
      defaults: { filesFrom: '-' },
      jobs: [
        first.job,
        { command: 'check', source: dir('jobs-chk-in'), destination: `s3://${bucket}/chk` },
        second.job,
      ],
    });
    const r = await runCli([], server, { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "s3sync: jobs 1, 2 and 3 all read their list from standard input (files-from '-'): only one job can; give the others a file\n",
    );
    expect(await keys(first.prefix)).toEqual([]);
    expect(await keys(second.prefix)).toEqual([]);
  });

  it('the worst code wins wherever it comes: 1, then 0, then 2 → 2; 1 and 0 → 1', async () => {
    const [, makeDiff] = failing[1]!;
    const [, makeMissing] = failing[0]!;
    const r = await runCli([], server, {
      env: config({ jobs: [await makeDiff(), pushJob().job, await makeMissing()] }).env,
    });
    expect(r.code).toBe(2);
    expect(jobLines(r).err).toEqual([
      expect.stringMatching(/^s3sync: job 1\/3 check .*\(exit 1\)$/),
      expect.stringMatching(/^s3sync: job 3\/3 push .*\(exit 2\)$/),
    ]);
    const r2 = await runCli([], server, { env: config({ jobs: [pushJob().job, await makeDiff()] }).env });
    expect(r2.code).toBe(1);
    expect(jobLines(r2).out).toEqual([expect.stringMatching(/^job 1\/2 push /)]);
    expect(jobLines(r2).err).toEqual([expect.stringMatching(/^s3sync: job 2\/2 check /)]);
    expect(plainLines(r2.stderr).at(-1)).toBe('s3sync: 2 job(s): 1 ok, 1 failed (exit 1)');
    // All well: the run's line is on stdout, last.
    const ok = await runCli([], server, { env: config({ jobs: [pushJob().job, pushJob().job] }).env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(plainLines(ok.stdout).at(-1)).toBe('2 job(s): 2 ok, 0 failed');
    expect(ok.stderr).toBe('');
  });

  it('--json: each job its events, then a job object; exit = worst; the failure on stderr too', async () => {
    const [, makeMissing] = failing[0]!;
    const jobs = [pushJob(), { job: await makeMissing() }, pushJob()];
    const r = await runCli(['--json'], server, { env: config({ jobs: jobs.map((j) => j.job) }).env });
    expect(r.code).toBe(2);
    const lines = ndjson(r.stdout);
    const jobObjects = lines.filter((e) => e.type === 'job');
    expect(jobObjects).toEqual([
      expect.objectContaining({
        job: 1,
        jobs: 3,
        command: 'push',
        exitCode: 0,
        result: expect.stringMatching(/2 uploaded/),
      }),
      expect.objectContaining({
        job: 2,
        jobs: 3,
        command: 'push',
        exitCode: 2,
        result: expect.stringMatching(/does not exist/),
      }),
      expect.objectContaining({ job: 3, jobs: 3, command: 'push', exitCode: 0 }),
    ]);
    // Each successful job's summary comes before its job object.
    const types = lines.map((e) => e.type);
    const summaries = types.flatMap((ty, i) => (ty === 'summary' ? [i] : []));
    const jobsAt = types.flatMap((ty, i) => (ty === 'job' ? [i] : []));
    expect(summaries).toHaveLength(2);
    expect(summaries[0]).toBeLessThan(jobsAt[0]!);
    expect(summaries[1]).toBeGreaterThan(jobsAt[1]!);
    expect(summaries[1]).toBeLessThan(jobsAt[2]!);
    expect(jobLines(r).err).toEqual([expect.stringMatching(/^s3sync: job 2\/3 push /)]);
    // The last line is the run's: its exit code, and how many jobs ended well, for a reader of it alone.
    expect(lines.at(-1)).toEqual({
      type: 'jobs-summary',
      jobs: 3,
      ok: 2,
      failed: 1,
      cancelled: 0,
      notRun: 0,
      exitCode: 2,
    });
    expect(plainLines(r.stderr).at(-1)).toBe('s3sync: 3 job(s): 2 ok, 1 failed (exit 2)');
  });

  it('--quiet: nothing on stdout, only the failing job on stderr; every job still runs', async () => {
    const [, makeDiff] = failing[1]!;
    const a = pushJob();
    const b = pushJob();
    const r = await runCli(['--quiet'], server, {
      env: config({ jobs: [a.job, await makeDiff(), b.job] }).env,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(plainLines(r.stderr)).toEqual([
      expect.stringMatching(/^s3sync: job 2\/3 check .*\(exit 1\)$/),
      's3sync: 3 job(s): 2 ok, 1 failed (exit 1)',
    ]);
    expect(await keys(b.prefix)).toEqual(['a.txt', 'sub/b.txt']);
  });

  it("relative paths in the file are the file's, not the working directory's: a cron job from $HOME touches nothing there", async () => {
    const { file, env } = config({});
    const base = path.dirname(file);
    writeTree(base, { 'site/index.html': 'real', 'site/skip.tmp': 'no', 'rules.txt': '*.tmp\n' });
    const prefix = `rel${n++}`;
    // Another folder with the same names, as cron's working directory would have: never read, never written.
    const cwd = dir('jobs-cwd');
    writeTree(cwd, { 'site/index.html': 'decoy', 'restore/keep.txt': 'mine', 'rules.txt': '' });
    writeFileSync(
      file,
      JSON.stringify({
        defaults: { manifest: 'state/manifest.json' },
        jobs: [
          {
            command: 'push',
            source: './site',
            destination: `s3://${bucket}/${prefix}`,
            excludeFrom: 'rules.txt',
          },
          {
            command: 'sync',
            source: `s3://${bucket}/${prefix}`,
            destination: 'restore',
            delete: true,
            manifest: 'state/r.json',
          },
        ],
      }),
    );
    const r = await runCli([], server, { env, cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(await keys(prefix)).toEqual(['index.html']);
    expect(readFileSync(path.join(base, 'restore/index.html'), 'utf8')).toBe('real');
    expect(existsSync(path.join(base, 'state/manifest.json'))).toBe(true);
    expect(existsSync(path.join(base, 'state/r.json'))).toBe(true);
    // The working directory's files are as they were, and it gained nothing.
    expect(readFileSync(path.join(cwd, 'restore/keep.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(cwd).sort()).toEqual(['restore', 'rules.txt', 'site']);
    expect(readdirSync(path.join(cwd, 'restore'))).toEqual(['keep.txt']);
  });

  it('-q in config defaults does the same', async () => {
    const a = pushJob();
    const r = await runCli([], server, { env: config({ defaults: { quiet: true }, jobs: [a.job] }).env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
  });

  it.each([['--dry-run'], ['-n'], ['--dry-run', '--json']])(
    '%s %s: every push and pull job is a dry run, a check runs as it is; nothing is written',
    async (...flags) => {
      const a = pushJob();
      const b = pushJob();
      const pullDst = path.join(dir('jobs-pull'), 'dst');
      const seeded = `s${n++}`;
      await seedObject(t, `${seeded}/y.txt`, 'y');
      const pull = { command: 'pull', source: `s3://${bucket}/${seeded}`, destination: pullDst };
      const check = { ...b.job, command: 'check' };
      const r = await runCli(flags, server, { env: config({ jobs: [a.job, pull, b.job, check] }).env });
      // The check compares a directory with a prefix the dry-run push left empty.
      expect(r.code, r.stderr).toBe(1);
      expect(await keys(a.prefix)).toEqual([]);
      expect(await keys(b.prefix)).toEqual([]);
      expect(existsSync(pullDst)).toBe(false);
      expect(manifestPaths(a.job.source as string)).toEqual([]);
      if (flags.includes('--json')) {
        const events = ndjson(r.stdout);
        expect(events.filter((e) => e.type === 'summary').map((e) => e.dryRun)).toEqual([true, true, true]);
        expect(events.filter((e) => e.type === 'action').map((e) => e.action)).toEqual([
          'upload',
          'upload',
          'download',
          'upload',
          'upload',
        ]);
      } else {
        expect(jobLines(r).out).toEqual([
          expect.stringMatching(/^job 1\/4 push .*: \[dry run\] 2 files: 0 unchanged, would be 2 uploaded/),
          expect.stringMatching(/^job 2\/4 pull .*: \[dry run\] 1 files: 0 unchanged, would be 1 downloaded/),
          expect.stringMatching(/^job 3\/4 push .*: \[dry run\] 2 files: /),
        ]);
        expect(jobLines(r).err).toEqual([
          expect.stringMatching(/^s3sync: job 4\/4 check .*2 only local.*\(exit 1\)$/),
        ]);
        expect(plainLines(r.stdout).filter((l) => l.startsWith('(dry run) upload '))).toHaveLength(4);
      }
    },
  );

  it('global flags before a command apply to it, and one that does not apply is refused', async () => {
    const a = pushJob();
    const r = await runCli(['--json', 'push', a.job.source as string, a.job.destination as string], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ type: 'summary', uploaded: 2 });
    for (const args of [
      ['--dry-run', 'check', a.job.source as string, a.job.destination as string],
      ['--wait-lock', 'cleanup', a.job.destination as string],
      ['--json', 'demo'],
      // Named as given, not as the option it turns off.
      ['--no-delete', 'check', a.job.source as string, a.job.destination as string],
    ]) {
      const bad = await runCli(args, server);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(plainLines(bad.stderr)).toEqual([`s3sync: ${args[0]} does not apply to ${args[1]}`]);
    }
  });

  it('a bare s3sync with no jobs prints the help on stderr and fails (exit 2); a mistyped command is not a bare s3sync', async () => {
    // The file S3SYNC_CONFIG names is the one said to hold no jobs; stdout stays empty (--json, --quiet too).
    const other = path.join(dir('jobs-other'), 'other.json');
    writeFileSync(other, JSON.stringify({ defaults: { workers: 2 } }));
    const empty = path.join(dir('jobs-empty'), 'empty.json');
    writeFileSync(empty, JSON.stringify({ jobs: [] }));
    for (const [file, flags] of [
      [other, []],
      [other, ['--json']],
      [other, ['--quiet']],
      [empty, ['--json']],
    ] as const) {
      const r = await runCli([...flags], server, { env: { S3SYNC_CONFIG: file } });
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stdout, flags.join(' ')).toBe('');
      expect(r.stderr).toMatch(/^Usage: s3sync /);
      expect(r.stderr).toMatch(/Config-file mode: with no command/);
      expect(plainLines(r.stderr).at(-1)).toBe(`s3sync: no command given and no jobs in ${file}`);
    }
    // No file at all: said so, with the folder it looked in (not "no jobs", as if the file were there).
    const cwd = dir('jobs-none');
    const none = await runCli([], server, { cwd, env: { S3SYNC_CONFIG: undefined } });
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/Config-file mode: with no command/);
    expect(plainLines(none.stderr).at(-1)).toBe(
      `s3sync: no command given and no s3sync.config.json in ${cwd}`,
    );
    const typo = await runCli(['pusj'], server, { env: config({ jobs: [pushJob().job] }).env });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'pusj'/);
    expect(typo.stdout).toBe('');
  });
});

describe.each(servers())('config file mistakes on $name', (server) => {
  let proxy: FaultProxy;
  let src: string;
  let url: string;

  beforeAll(async () => {
    const { bucket } = await newBucket(server, 'cfgbad');
    proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    url = `s3://${bucket}/p`;
    src = dir('cfgbad-src');
    writeTree(src, { 'a.txt': 'alpha' });
  });

  const job = () => ({ command: 'push', source: src, destination: url });

  /** [what, config, what its one line says] */
  const mistakes: [string, () => object, RegExp][] = [
    [
      '"dryrun" in defaults',
      () => ({ defaults: { dryrun: true } }),
      /defaults: unknown key "dryrun" \(did you mean "dryRun"\?\)$/,
    ],
    [
      '"dry-run" in defaults',
      () => ({ defaults: { 'dry-run': true } }),
      /unknown key "dry-run" \(did you mean "dryRun"\?\)$/,
    ],
    [
      '"Delete" in a job',
      () => ({ jobs: [{ ...job(), Delete: true }] }),
      /job 1: unknown key "Delete" \(did you mean "delete"\?\)$/,
    ],
    [
      '"worker" in a job',
      () => ({ jobs: [{ ...job(), worker: 4 }] }),
      /job 1: unknown key "worker" \(did you mean "workers"\?\)$/,
    ],
    [
      '"destinaton" in a job',
      () => ({ jobs: [{ command: 'push', source: src, destinaton: url }] }),
      /job 1: unknown key "destinaton" \(did you mean "destination"\?\)$/,
    ],
    ['"job" at the top', () => ({ job: [job()] }), /unknown key "job" \(did you mean "jobs"\?\)$/],
    ['a key like nothing', () => ({ defaults: { colour: 'blue' } }), /defaults: unknown key "colour"$/],
    [
      'the former "stallTimeoutMs"',
      () => ({ defaults: { stallTimeoutMs: 30_000 } }),
      /"stallTimeoutMs" is now "stallTimeout", which takes a unit as the flag does \(e\.g\. "60s"\)$/,
    ],
    [
      '"stallTimeout": 30',
      () => ({ defaults: { stallTimeout: 30 } }),
      /"stallTimeout" must be a duration from 1s to 24h .*, got 30: add a unit, e\.g\. "30s"$/,
    ],
    [
      '"stallTimeout": "30"',
      () => ({ defaults: { stallTimeout: '30' } }),
      /got "30": add a unit, e\.g\. "30s"$/,
    ],
    [
      '"multipartThreshold": "64KiB"',
      () => ({ defaults: { multipartThreshold: '64KiB' } }),
      /"multipartThreshold" must be a size from 1MiB to 5GiB/,
    ],
    [
      '"full" in a push job',
      () => ({ jobs: [{ ...job(), full: true }] }),
      /job 1: "full" does not apply to push \(only to check\)$/,
    ],
    [
      '"credentials" in defaults',
      () => ({ defaults: { credentials: { accessKeyId: 'AKIA', secretAccessKey: 'hush' } } }),
      /"credentials" is for library calls only, not the config file$/,
    ],
    [
      '"exclude": 5',
      () => ({ defaults: { exclude: 5 } }),
      /"exclude" must be a glob or a list of globs, got 5$/,
    ],
    [
      'an empty "source" (it would be the file\'s folder)',
      () => ({ jobs: [{ ...job(), source: '' }] }),
      /job 1: "source" is empty: give a folder or an s3:\/\/ URL$/,
    ],
    [
      'a blank "destination"',
      () => ({ jobs: [{ ...job(), command: 'pull', source: url, destination: ' ' }] }),
      /job 1: "destination" is empty/,
    ],
    [
      '"source": "-" in a push job (the CLI refuses - as a local folder)',
      () => ({ jobs: [{ ...job(), source: '-' }] }),
      /job 1: "source": '-' is not standard input or output here, .*: write \.\/- for a folder named -$/,
    ],
    [
      '"destination": "-" in a sync job that pulls',
      () => ({ jobs: [{ command: 'sync', source: url, destination: '-' }] }),
      /job 1: "destination": '-' is not standard input or output here, .*: write \.\/- for a folder named -$/,
    ],
    [
      'a job without a command',
      () => ({ jobs: [{ source: src, destination: url }] }),
      /job 1 needs "command": "push", "pull", "check" or "sync"$/,
    ],
  ];

  it.each(mistakes)(
    '%s: exit 2, one line naming the file, no request, for a bare s3sync and for push',
    async (_name, content, re) => {
      const { env, file } = config(content());
      for (const args of [[], ['push', src, url]]) {
        const before = proxy.stats.requests;
        const r = await runCli(
          [...args, ...(args.length ? ['--endpoint-url', proxy.endpoint] : [])],
          server,
          {
            env: { ...env, AWS_ENDPOINT_URL_S3: proxy.endpoint },
          },
        );
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        const lines = plainLines(r.stderr);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(
          new RegExp(`^s3sync: config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
        );
        expect(lines[0]).toMatch(re);
        expect(r.stderr).not.toContain('hush');
        expect(r.stdout).toBe('');
        expect(proxy.stats.requests).toBe(before);
        expect(manifestPaths(src)).toEqual([]);
      }
    },
  );
});

describe.each(servers())('a later job that cannot reach its store on $name', (server) => {
  let proxy: FaultProxy;
  let src: string;
  let url: string;

  beforeAll(async () => {
    const { bucket } = await newBucket(server, 'cfgep');
    proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    url = `s3://${bucket}`;
    src = dir('cfgep-src');
    writeTree(src, { 'a.txt': 'alpha' });
  });

  /** [what, job 2's settings, environment, what the job's line says] */
  const cases: [string, Record<string, unknown>, Record<string, string | undefined>, RegExp][] = [
    [
      'a port out of range',
      { endpointUrl: 'http://127.0.0.1:99999' },
      {},
      /job 2: malformed endpoint URL 'http:\/\/127\.0\.0\.1:99999' in "endpointUrl" in the config file's job 2 \(expected e\.g\. http:\/\/127\.0\.0\.1:9000\)$/,
    ],
    [
      'an unknown profile',
      { profile: 'nosuchprofile' },
      {},
      /job 2: unknown AWS profile 'nosuchprofile' \(not in .*nowhere-config or .*nowhere-credentials, named by "profile" in the config file's job 2\)$/,
    ],
    [
      'a provider that needs an endpoint, with none',
      { provider: 'minio' },
      { AWS_ENDPOINT_URL_S3: undefined },
      /job 2: provider 'minio' needs --endpoint-url \(or AWS_ENDPOINT_URL_S3\)$/,
    ],
    [
      'a source endpoint that is no URL (S3 → S3)',
      { command: 'sync', source: 's3://other/x', sourceEndpointUrl: 'notaurl' },
      {},
      /job 2: malformed endpoint URL 'notaurl' in "sourceEndpointUrl" in the config file's job 2 \(expected e\.g\. http:\/\/127\.0\.0\.1:9000\)$/,
    ],
  ];

  it.each(cases)(
    '%s: the whole file is refused before job 1 runs (exit 2, one line, no request)',
    async (_name, job2, env, re) => {
      const gone = dir('cfgep-aws');
      const { env: cfgEnv, file } = config({
        jobs: [
          { command: 'push', source: src, destination: `${url}/j1`, endpointUrl: proxy.endpoint },
          { command: 'push', source: src, destination: `${url}/j2`, ...job2 },
        ],
      });
      const before = proxy.stats.requests;
      const r = await runCli([], server, {
        env: {
          ...cfgEnv,
          AWS_CONFIG_FILE: path.join(gone, 'nowhere-config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(gone, 'nowhere-credentials'),
          AWS_ENDPOINT_URL_S3: proxy.endpoint,
          ...env,
        },
      });
      expect(r.code, r.stderr).toBe(2);
      const lines = plainLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]!.startsWith(`s3sync: config file ${file}: job 2: `), lines[0]).toBe(true);
      expect(lines[0]).toMatch(re);
      expect(r.stdout).toBe('');
      expect(proxy.stats.requests).toBe(before);
      expect(manifestPaths(src)).toEqual([]);
    },
  );

  // The flags apply to every job: a refusal they alone cause is theirs, not the file's job's.
  it.each([
    [
      '--profile',
      ['--profile', 'nope2'],
      {},
      /^s3sync: unknown AWS profile 'nope2' \(not in .*nowhere-config or .*nowhere-credentials, named by --profile\)$/,
    ],
    ['AWS_REGION', [], { AWS_REGION: 'eu/west' }, /^s3sync: AWS_REGION must be a region name .*"eu\/west"$/],
  ] as [string, string[], Record<string, string>, RegExp][])(
    'a bare s3sync whose %s cannot be used: one line naming it, not the file (exit 2, no request)',
    async (_what, flags, env, re) => {
      const gone = dir('cfgep-flag');
      const { env: cfgEnv } = config({
        defaults: { endpointUrl: proxy.endpoint },
        jobs: [{ command: 'push', source: src, destination: `${url}/f1` }],
      });
      const before = proxy.stats.requests;
      const r = await runCli(flags, server, {
        env: {
          ...cfgEnv,
          AWS_CONFIG_FILE: path.join(gone, 'nowhere-config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(gone, 'nowhere-credentials'),
          ...env,
        },
      });
      expect(r.code, r.stderr).toBe(2);
      expect(plainLines(r.stderr), r.stderr).toHaveLength(1);
      expect(plainLines(r.stderr)[0]).toMatch(re);
      expect(r.stderr).not.toContain('config file');
      expect(proxy.stats.requests).toBe(before);
    },
  );
});
