/**
 * Two hosts, one destination and one manifest (a shared folder): run B, on a host whose clock is ahead,
 * judges run A's lock stale and takes it over while A still runs. A must find out, stop as a failure
 * and write nothing over B's manifest; B's result stands. Hosts are faked with a UTS namespace
 * (`unshare -u`, root only) and B's clock with libfaketime.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  killLeftRuns,
  type LiveRun,
  MiB,
  manifestPaths,
  newBucket,
  objectMd5,
  readManifest,
  runCli,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  waitFor,
} from '../helpers.js';

const { dir, removeAll } = trackedDirs();
const children: LiveRun[] = [];
afterAll(() => {
  killLeftRuns(children);
  removeAll();
});

/** Runs the CLI on host `host` (its own UTS namespace), its clock moved by `clock` (faketime) if given. */
const onHost = (host: string, clock?: string) => [
  'unshare',
  '-u',
  'sh',
  '-c',
  `hostname ${host} && exec ${clock ? `faketime -f ${clock} ` : ''}"$0" "$@"`,
];

const canFake = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('unshare', ['-u', 'faketime', '-f', '+1m', 'true']);
    return true;
  } catch {
    return false;
  }
})();

const messages = (r: LiveRun, type: string) =>
  r.events.filter((e) => e.type === type).map((e) => String((e as { message?: string }).message));

describe.each(servers())('a lock taken over from another host on $name', (server) => {
  it('stops the run that lost it, which saves nothing over the manifest of the run that took it', async () => {
    if (!canFake) {
      console.warn('[lock-hosts] NOTICE: needs root, unshare and faketime: the two-host case is skipped');
      return;
    }
    const { bucket, transport } = await newBucket(server, 'hosts');
    const src = dir('hosts-src');
    bigFile(path.join(src, 'big.bin'), 100 * MiB);
    const md5 = createHash('md5')
      .update(readFileSync(path.join(src, 'big.bin')))
      .digest('hex');
    const url = `s3://${bucket}/hosts`;
    const args = ['push', src, url, '--json', '--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const a = spawnCli([...args, '--bwlimit', '5MiB'], server, { wrap: onHost('hostA') });
    children.push(a);
    // A's upload is under way, its record saved: B finds it in the manifest.
    const uploadId = () => readManifest(src)?.pending['big.bin']?.uploadId ?? '';
    expect(await waitFor(() => manifestPaths(src).length > 0 && uploadId() !== '', a), a.stderr()).toBe(true);
    const aUpload = uploadId();
    // B's clock is 15 minutes ahead: A's fresh lock looks 15 minutes old to it.
    const b = spawnCli(args, server, { wrap: onHost('hostB', '+15m') });
    children.push(b);
    const bDone = await b.exited;
    expect(bDone.code, b.stderr() + b.stdout()).toBe(0);
    expect(messages(b, 'notice')).toContainEqual(
      expect.stringMatching(/^taking over a stale lock left by process \d+ \(on hostA, not refreshed for /),
    );
    expect(summaryOf(b.events)).toMatchObject({ uploaded: 1, failed: 0 });
    const afterB = readFileSync(manifestPaths(src)[0]!, 'utf8');
    const aDone = await a.exited;
    // A fails, in one line naming the run that holds the destination now.
    expect(aDone.code, a.stderr() + a.stdout()).toBe(1);
    const lockPath = `${manifestPaths(src)[0]!}.lock`;
    const lost = `lost the lock on this destination (${lockPath})`;
    const stopped = summaryOf(a.events)?.stoppedBy ?? '';
    expect(stopped, a.stderr() + a.stdout()).toMatch(
      new RegExp(
        `^${lost.replace(/[\\[\]()^$.*+?]/g, '\\$&')}( to process \\d+ on hostB|, removed by another run \\(since finished\\) or by hand): stopped; nothing after this point was recorded in the manifest$`,
      ),
    );
    // Said once, not as an error line besides.
    expect(messages(a, 'error').filter((m) => m.includes('lost the lock'))).toEqual([]);
    // B's manifest stands, untouched by A, and the object is the file.
    expect(readFileSync(manifestPaths(src)[0]!, 'utf8')).toBe(afterB);
    const m = readManifest(src)!;
    expect(m.pending).toEqual({});
    expect(m.files.get('big.bin')?.md5).toBe(md5);
    expect(await objectMd5(transport, 'hosts/big.bin')).toBe(md5);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
    if (server.quirks.hasListParts) {
      const left = await transport.listMultipartUploads('hosts/');
      expect(left.map((u) => u.uploadId)).not.toContain(aUpload);
    }
  });
});
