/**
 * A local clock 30 minutes off the server's (libfaketime around the CLI): each command corrects it
 * from the server's answers and goes on, as a user whose clock drifted expects. Ceph RGW refuses
 * requests signed that far from its time; s3rver checks no request time, so these run on RGW only.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { treeHashes } from '../helpers/files.js';
import { newBucket, runCli, seedObject, servers, trackedDirs, versionedBucket } from '../helpers.js';

const { dir, removeAll } = trackedDirs();

// CI installs libfaketime (.ci/run); elsewhere the suite runs without it, said once.
const hasFaketime = spawnSync('faketime', ['-f', '+0', 'true']).status === 0;
if (!hasFaketime) console.warn('clock-skew.test.ts: faketime is not installed: skipped');
afterAll(removeAll);

/** The CLI run with its clock moved by `shift` (libfaketime: +30m ahead, -30m behind). */
const skewed = (shift: string) => ({ wrap: ['faketime', '-f', shift] });

describe.each(servers())('a local clock 30 min off on $name', (server) => {
  const rgwOnly = it.skipIf(server.name === 'embedded' || !hasFaketime);

  rgwOnly('cleanup lists and aborts the uploads, its clock corrected', async () => {
    const { bucket, transport } = await newBucket(server, 'skew-clean');
    for (const key of ['u/a', 'u/b'])
      await transport.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    for (const shift of ['+30m', '-30m']) {
      if (shift === '-30m')
        await transport.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'u/c' }));
      const r = await runCli(
        ['cleanup', `s3://${bucket}/u`, '--older-than', '0s', '--json'],
        server,
        skewed(shift),
      );
      expect(r.stderr, shift).toBe('');
      expect(r.code, shift).toBe(0);
      expect(r.summary, shift).toMatchObject({ aborted: shift === '+30m' ? 2 : 1, failed: 0 });
      expect((await transport.uploadsUnder('u/')).uploads, shift).toEqual([]);
    }
  });

  rgwOnly('pull --files-from: its first requests (HEADs, a 403 without a code) are retried', async () => {
    const { bucket, transport } = await newBucket(server, 'skew-head');
    await seedObject(transport, 'p/a.txt', 'a\n');
    await seedObject(transport, 'p/b.txt', 'b\n');
    const list = path.join(dir('skew-list'), 'list.txt');
    writeFileSync(list, 'a.txt\nb.txt\n');
    for (const shift of ['+30m', '-30m']) {
      const into = dir(`skew-head-${shift}`);
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, into, '--files-from', list, '--json'],
        server,
        skewed(shift),
      );
      expect(r.stderr, shift).toBe('');
      expect(r.code, shift).toBe(0);
      expect(Object.keys(treeHashes(into)).sort(), shift).toEqual(['a.txt', 'b.txt']);
    }
  });

  rgwOnly('a HEAD still refused after the correction names the clock, not only the permissions', async () => {
    const { bucket, transport } = await newBucket(server, 'skew-deny');
    await seedObject(transport, 'p/a.txt', 'a\n');
    const list = path.join(dir('skew-deny-list'), 'list.txt');
    writeFileSync(list, 'a.txt\n');
    // No retry: the first answer's refusal is the last, before a corrected attempt could go out.
    const r = await runCli(
      ['pull', `s3://${bucket}/p`, dir('skew-deny-dst'), '--files-from', list, '--retries', '0'],
      server,
      skewed('+30m'),
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^s3sync: access denied to s3:\/\/\S+ \(HTTP 403 to HeadObject\) with the local clock (29|30|31) min ahead of the server's: set the clock right \(NTP\); if it is right, check the credentials' permissions$/,
    );
  });

  rgwOnly("--at as a duration counts back from the server's clock, not the local one", async () => {
    const { bucket, transport } = await versionedBucket(server, 'skew-at');
    await seedObject(transport, 'p/a.txt', 'a\n');
    // RGW stamps whole seconds: the object is clearly older than --at's 2 s.
    await sleep(3500);
    for (const shift of ['-30m', '+30m']) {
      const into = dir(`skew-at-${shift}`);
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, into, '--at', '2s', '--json'],
        server,
        skewed(shift),
      );
      expect(r.stderr, shift).toBe('');
      expect(r.code, shift).toBe(0);
      expect(Object.keys(treeHashes(into)), shift).toEqual(['a.txt']);
      const c = await runCli(['check', into, `s3://${bucket}/p`, '--at', '2s'], server, skewed(shift));
      expect(c.stderr, shift).toBe('');
      expect(c.code, shift).toBe(0);
    }
    const { bucket: other } = await newBucket(server, 'skew-at-dst');
    const s = await runCli(
      ['sync', `s3://${bucket}/p`, `s3://${other}/q`, '--at', '2s', '--dry-run', '--json'],
      server,
      skewed('-30m'),
    );
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    expect(s.summary).toMatchObject({ copied: 1 });
  });
});
