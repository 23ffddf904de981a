/**
 * The CLI's own output failing under it: stderr on a full disk or a closed pipe never stops a run (its
 * transfers, manifest and exit code are what they would have been).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CliOptions,
  newBucket,
  readManifest,
  runCli,
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
});
