/**
 * Config-file jobs with "command": "sync": S3 → S3 runs syncBuckets, a local end push or pull, each
 * with the options of what it runs (checked when the file is read, as the CLI's sync checks its flags).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  killLeftRuns,
  type LiveRun,
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  runCli,
  seedObject,
  servers,
  spawnCli,
  trackedDirs,
  treeHashes,
  waitFor,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startCopyHold } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const runs: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(runs);
  for (const p of proxies) await p.close();
  removeAll();
});

/** A config file in its own directory, found through S3SYNC_CONFIG. */
function config(content: object): { env: Record<string, string> } {
  const file = path.join(dir('sync-jobs-cfg'), 's3sync.config.json');
  writeFileSync(file, JSON.stringify(content));
  return { env: { S3SYNC_CONFIG: file } };
}

/** Every object under a prefix: rel → MD5 of its content as downloaded. */
async function contents(t: S3Transport, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of (await t.list(prefix)).values()) out[o.rel] = await objectMd5(t, o.key);
  return out;
}

const FILES = { 'a.txt': 'alpha', 'sub/b.txt': 'bravo' };
const HASHES = { 'a.txt': md5Hex('alpha'), 'sub/b.txt': md5Hex('bravo') };

describe.each(servers())('config sync jobs on $name', (server) => {
  it('a push job, then an S3 → S3 sync job and a sync job to a directory: a bare s3sync runs all three', async () => {
    const { bucket: a, transport: ta } = await newBucket(server, 'sja');
    const { bucket: b, transport: tb } = await newBucket(server, 'sjb');
    const src = dir('sync-jobs-src');
    writeTree(src, FILES);
    const restored = path.join(dir('sync-jobs-dst'), 'restored');
    const { env } = config({
      // A push-only default (verify) is not an option of the S3 → S3 job: it does not reach it.
      defaults: { verify: true, workers: 4 },
      jobs: [
        { command: 'push', source: src, destination: `s3://${a}/data` },
        { command: 'sync', source: `s3://${a}/data`, destination: `s3://${b}/mirror`, delete: true },
        { command: 'sync', source: `s3://${b}/mirror`, destination: restored },
      ],
    });
    const r = await runCli(['--json'], server, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const jobs = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { type: string; command?: string; exitCode?: number })
      .filter((e) => e.type === 'job');
    expect(jobs.map((j) => [j.command, j.exitCode])).toEqual([
      ['push', 0],
      ['sync', 0],
      ['sync', 0],
    ]);
    const summaries = r.events.filter((e) => e.type === 'summary') as { command: string; requests: object }[];
    expect(summaries.map((s) => s.command)).toEqual(['push', 'sync', 'pull']);
    // The S3 → S3 job: two listings and a copy per object, inside the store.
    expect(summaries[1]!.requests).toEqual({ ListObjectsV2: 2, CopyObject: 2 });
    expect(await contents(ta, 'data/')).toEqual(HASHES);
    expect(await contents(tb, 'mirror/')).toEqual(HASHES);
    expect(treeHashes(restored)).toEqual(HASHES);

    // Again: nothing to do; the S3 → S3 job makes its two listings only.
    const again = await runCli(['--json'], server, { env });
    expect(again.code).toBe(0);
    const second = again.events.filter((e) => e.type === 'summary') as { requests: object }[];
    expect(second[1]!.requests).toEqual({ ListObjectsV2: 2 });

    // A global --dry-run applies to the sync job as to the others: the object it would copy is not.
    await seedObject(ta, 'data/c.txt', 'charlie');
    const dry = await runCli(['--dry-run'], server, { env });
    expect(dry.code).toBe(0);
    expect(await contents(tb, 'mirror/')).toEqual(HASHES);
  });

  it.each([
    [
      'an S3 → S3 job with a push option',
      (u: string) => ({ command: 'sync', source: `${u}/x`, destination: `${u}/y`, verify: true }),
      /job 1: "verify" does not apply to an S3 → S3 sync \(only to push\)$/,
    ],
    [
      'an upload job with --at',
      (u: string) => ({ command: 'sync', source: dir('sj-at'), destination: `${u}/y`, at: '1h' }),
      /job 1: "at" does not apply to push \(only to pull, check, sync\)$/,
    ],
    [
      'an S3 → S3 job with a source option of a local job',
      (u: string) => ({ command: 'sync', source: dir('sj-src'), destination: `${u}/y`, sourceRegion: 'x' }),
      /job 1: "sourceRegion" does not apply to push \(only to sync\)$/,
    ],
    [
      'two local directories',
      () => ({ command: 'sync', source: dir('sj-l1'), destination: dir('sj-l2') }),
      /job 1: sync takes at least one s3:\/\/bucket\/prefix/,
    ],
    [
      'a misspelt command',
      () => ({ command: 'synk', source: 'a', destination: 'b' }),
      /did you mean "sync"\?/,
    ],
  ])('%s: exit 2, one line naming the file and job, no job run', async (_name, job, why) => {
    const { bucket } = await newBucket(server, 'sjbad');
    const { env } = config({ jobs: [job(`s3://${bucket}`)] });
    const r = await runCli([], server, { env });
    expect(r.code).toBe(2);
    const lines = plainLines(r.stderr).filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(why);
    expect(lines[0]).toMatch(/s3sync\.config\.json/);
  });

  it('a job cancelled by SIGINT says what its own command leaves behind, not what a finished job would', async () => {
    const COPIED = 2;
    const { bucket: a, transport: ta } = await newBucket(server, 'sjc-a');
    const { bucket: b } = await newBucket(server, 'sjc-b');
    for (let i = 0; i < 6; i++) await seedObject(ta, `data/o${i}.txt`, `object ${i}`);
    const src = dir('sync-jobs-cancel-src');
    writeTree(src, FILES);
    // The S3 → S3 job's copies after the first COPIED wait: it is cancelled with those done.
    const { proxy, copies, release } = await startCopyHold(server.endpoint, COPIED);
    proxies.push(proxy);
    const { env } = config({
      defaults: { endpointUrl: proxy.endpoint, workers: 1 },
      jobs: [
        { command: 'push', source: src, destination: `s3://${a}/pushed` },
        { command: 'sync', source: `s3://${a}/data`, destination: `s3://${b}/copy` },
        { command: 'push', source: src, destination: `s3://${b}/never` },
      ],
    });
    const run = spawnCli(['--json'], server, { env });
    runs.push(run);
    expect(await waitFor(() => copies() > COPIED, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    release();
    expect(code, run.stderr()).toBe(130);
    const notices = run.events
      .filter((e) => e.type === 'notice')
      .map((e) => String((e as { message?: string }).message));
    // Once, in the running job's words: the finished push's output is not told again.
    expect(notices).toEqual([
      'SIGINT: stopping (S3 to S3 keeps no manifest: the objects copied so far stay); Ctrl-C again exits at once',
    ]);
    const summaries = run.events.filter((e) => e.type === 'summary');
    expect(summaries.map((e) => (e as { command?: string }).command)).toEqual(['push', 'sync']);
    expect(summaries[1]).toMatchObject({ cancelled: true, copied: COPIED });
    // The cancelled job's line, as a finished job's (its exit code the signal's), then how the run ended.
    expect(plainLines(run.stderr())).toEqual([
      expect.stringMatching(
        /^s3sync: job 2\/3 sync s3:\/\/.* -> s3:\/\/.*: \[cancelled\] 6 objects: 0 unchanged, 2 copied, 0 deleted, 0 failed \(exit 130\)$/,
      ),
      's3sync: 3 job(s): 1 ok, 0 failed, 1 cancelled, 1 not run (exit 130)',
      's3sync: cancelled by SIGINT; the next run lists both prefixes again and copies only what is still missing or different',
    ]);
    expect(run.stdout() + run.stderr()).not.toMatch(/manifest is saved|continues where/);
    // The job after the cancelled one never started.
    expect((await ta.list('pushed/')).size).toBe(2);
    expect(run.events.filter((e) => e.type === 'job')).toEqual([
      expect.objectContaining({ job: 1, exitCode: 0 }),
      expect.objectContaining({ job: 2, command: 'sync', exitCode: 130 }),
    ]);
    expect(run.events.at(-2)).toMatchObject({ type: 'job', job: 2, exitCode: 130 });
    expect(run.events.at(-1)).toMatchObject({
      type: 'jobs-summary',
      ok: 1,
      cancelled: 1,
      notRun: 1,
      exitCode: 130,
    });
  });
});
