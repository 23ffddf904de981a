/**
 * The CLI's own output failing under it: stderr on a full disk or a closed pipe never stops a run (its
 * transfers, manifest and exit code are what they would have been), stdout on a full disk is said in
 * one line and makes the exit non-zero, and a closed stdout exits 141 as SIGPIPE would, a dry run's and
 * a check's too.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CliOptions,
  newBucket,
  plainLines,
  readManifest,
  runCli,
  runLive,
  servers,
  spawnCli,
  trackedDirs,
  writeTree,
} from '../helpers.js';

const { dir, removeAll } = trackedDirs();
// Every write to it fails with ENOSPC.
const full = openSync('/dev/full', 'w');
afterAll(() => {
  closeSync(full);
  removeAll();
});

const N = 24;
const tree = (root: string) =>
  writeTree(
    root,
    Object.fromEntries(Array.from({ length: N }, (_, i) => [`d${i % 3}/f${i}.txt`, `v${i}\n`])),
  );

/** Runs the CLI to its end with the reading end of its stdout or stderr pipe closed before it writes. */
async function closedPipe(args: string[], server: Parameters<typeof runCli>[1], stream: 'stdout' | 'stderr') {
  const run = spawnCli(args, server);
  run.child[stream]!.destroy();
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

const outputLines = (stderr: string) =>
  plainLines(stderr).filter((l) => l.includes('cannot write the output'));

describe.each(servers())('output errors on $name', (server) => {
  const onFull = (which: 'stdout' | 'stderr'): CliOptions => ({ [which]: full });

  it('stderr on a full disk: a push with a notice uploads everything, saves its manifest and exits 0', async () => {
    const { bucket } = await newBucket(server, 'errfull-push');
    const src = dir('errfull-push');
    tree(src);
    // Its "not a regular file … skipped" notice is the first write to stderr, before any upload.
    execFileSync('mkfifo', [path.join(src, 'a-fifo')]);
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', src, url], server, onFull('stderr'));
    expect(r.code).toBe(0);
    expect(readManifest(src)!.files.size).toBe(N);
    const again = await runCli(['push', src, url, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ unchanged: N, uploaded: 0, failed: 0 });
  });

  it('stderr on a full disk or a closed pipe: a pull with a failed file writes the rest and exits 1', async () => {
    const { bucket } = await newBucket(server, 'errfull-pull');
    const src = dir('errfull-pull-src');
    tree(src);
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    for (const [how, quiet] of [
      ['full', []],
      ['full', ['--quiet']],
      ['closed', []],
    ] as const) {
      const dst = dir(`errfull-pull-${how}${quiet.length}`);
      // One key is refused: a FIFO is in its way, and its error is a write to stderr mid-run.
      mkdirSync(path.join(dst, 'd1'), { recursive: true });
      execFileSync('mkfifo', [path.join(dst, 'd1/f1.txt')]);
      const args = ['pull', url, dst, ...quiet];
      const r =
        how === 'full'
          ? await runCli(args, server, onFull('stderr'))
          : await closedPipe(args, server, 'stderr');
      expect(r.code, `${how} ${quiet}`).toBe(1);
      expect(readManifest(dst)!.files.size, `${how} ${quiet}`).toBe(N - 1);
    }
  });

  it('stderr on a full disk: a usage error still exits 2', async () => {
    const src = dir('errfull-usage');
    tree(src);
    const bad = await runCli(['push', src, 's3://b/p', '--bogus'], server, onFull('stderr'));
    expect(bad.code).toBe(2);
    const missing = await runCli(['push', src, 's3://no-such-bucket-s3sync/p'], server, onFull('stderr'));
    expect(missing.code).toBe(2);
  });

  it('stdout on a full disk: one line on stderr, the run finishes, and it exits 1', async () => {
    const { bucket } = await newBucket(server, 'outfull');
    const src = dir('outfull');
    tree(src);
    const url = `s3://${bucket}/p`;
    // The dry run's listing is its product: lost, it is not a success.
    const dry = await runCli(['push', src, url, '--dry-run'], server, onFull('stdout'));
    expect(dry.code).toBe(1);
    expect(outputLines(dry.stderr)).toEqual([
      expect.stringMatching(/^s3sync: cannot write the output: ENOSPC/),
    ]);
    expect(readManifest(src)).toBeUndefined();
    // --json: its events are lost, not the transfers.
    const json = await runCli(['push', src, url, '--json'], server, onFull('stdout'));
    expect(json.code).toBe(1);
    expect(outputLines(json.stderr)).toHaveLength(1);
    expect(readManifest(src)!.files.size).toBe(N);
    // Human mode, and both streams on the full disk: nowhere to say it, still not 0.
    writeFileSync(path.join(src, 'd0/f0.txt'), 'changed\n');
    for (const opts of [onFull('stdout'), { stdout: full, stderr: full }]) {
      const r = await runCli(['push', src, url], server, opts);
      expect(r.code).toBe(1);
    }
    const again = await runCli(['push', src, url, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ unchanged: N, uploaded: 0, failed: 0 });
  });

  it('a closed stdout: a dry run and a check exit 141, as SIGPIPE would end them', async () => {
    const { bucket } = await newBucket(server, 'dry-pipe');
    const src = dir('dry-pipe');
    tree(src);
    const url = `s3://${bucket}/p`;
    const dry = await closedPipe(['push', src, url, '--dry-run'], server, 'stdout');
    expect(dry.code, dry.stderr).toBe(141);
    const json = await closedPipe(['push', src, url, '--dry-run', '--json'], server, 'stdout');
    expect(json.code, json.stderr).toBe(141);
    // A check with differences to list.
    const check = await closedPipe(['check', src, url], server, 'stdout');
    expect(check.code, check.stderr).toBe(141);
    // With the stdout read, the same runs end as ever.
    expect((await runLive(['push', src, url, '--dry-run'], server)).code).toBe(0);
    expect((await runLive(['check', src, url], server)).code).toBe(1);
  });
});

describe('output errors before any run', () => {
  it.each([
    ['--version, answered before the CLI loads', ['--version']],
    ['the help', ['push', '--help']],
  ])('stdout on a full disk: %s exits 1 with one line, no stack', async (_why, args) => {
    const r = await runCli(args, undefined, { stdout: full });
    expect(r.code).toBe(1);
    expect(plainLines(r.stderr)).toEqual([expect.stringMatching(/^s3sync: cannot write the output: ENOSPC/)]);
  });
});
