/**
 * A local clock 30 minutes off the server's (libfaketime around the CLI): each command corrects it
 * from the server's answers and goes on, as a user whose clock drifted expects. Ceph RGW refuses
 * requests signed that far from its time; s3rver checks no request time, so these run on RGW only.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { treeHashes } from '../helpers/files.js';
import {
  bigFile,
  MiB,
  newBucket,
  readManifest,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  versionedBucket,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];

// CI installs libfaketime (.ci/run); elsewhere the suite runs without it, said once.
const hasFaketime = spawnSync('faketime', ['-f', '+0', 'true']).status === 0;
if (!hasFaketime) console.warn('clock-skew.test.ts: faketime is not installed: skipped');
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

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

/**
 * A local clock 2 minutes off: under the 5 minutes from which the SDK moves its own estimate (RGW takes
 * requests signed that far off), so only s3sync's estimate from the answers' Date corrects it.
 */
describe.each(servers())('a local clock 2 min off on $name', (server) => {
  const rgwOnly = it.skipIf(server.name === 'embedded' || !hasFaketime);

  rgwOnly("--at as a duration is the state that long ago on the server's clock", async () => {
    const { bucket, transport } = await versionedBucket(server, 'skew2-at');
    await seedObject(transport, 'p/a.txt', 'old\n');
    // RGW stamps whole seconds: the first version is clearly older than --at's 3 s, the second newer.
    await sleep(6500);
    await seedObject(transport, 'p/a.txt', 'new\n');
    // Behind, uncorrected, 3 s ago would be before the first write; ahead, after the second.
    for (const shift of ['-2m', '+2m']) {
      const into = dir(`skew2-at-${shift}`);
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, into, '--at', '3s', '--json'],
        server,
        skewed(shift),
      );
      expect(r.stderr, shift).toBe('');
      expect(r.code, shift).toBe(0);
      expect(readFileSync(path.join(into, 'a.txt'), 'utf8'), shift).toBe('old\n');
    }
  });

  rgwOnly("a date is judged on the server's clock: this clock's future, the server's past", async () => {
    const { bucket, transport } = await versionedBucket(server, 'skew2-date');
    await seedObject(transport, 'p/a.txt', 'a\n');
    await sleep(2500);
    // This (the test's) clock is the server's: a second ago there, 2 min after the skewed clock's now.
    const past = new Date(Date.now() - 1000).toISOString();
    const into = dir('skew2-date');
    const r = await runCli(['pull', `s3://${bucket}/p`, into, '--at', past, '--json'], server, skewed('-2m'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Object.keys(treeHashes(into))).toEqual(['a.txt']);
    // A minute from now on the server: this clock, 2 min ahead, has passed it; the server has not.
    const future = new Date(Date.now() + 60_000).toISOString();
    const f = await runCli(
      ['pull', `s3://${bucket}/p`, dir('skew2-future'), '--at', future],
      server,
      skewed('+2m'),
    );
    expect(f.code, f.stderr).toBe(2);
    expect(f.stderr.trim()).toMatch(
      new RegExp(
        `^s3sync: at \\(--at\\): '${future.replace(/\./g, '\\.')}' is in the future: the server's clock reads \\S+, this machine's clock 2 min ahead of it$`,
      ),
    );
  });

  rgwOnly(
    'a CreateMultipartUpload answer lost: the stray is found on the server clock and aborted',
    async () => {
      const { bucket, transport } = await newBucket(server, 'skew2-stray');
      // The first CreateMultipartUpload's answer is reset after RGW made the upload: a stray whose
      // Initiated is the server's time, 2 min after this clock's window of the request.
      let seen = 0;
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 3,
        rate: 1,
        kinds: ['reset-response'],
        filter: (e) => e.method === 'POST' && /[?&]uploads(=|&|$)/.test(e.url) && seen++ < 1,
      });
      proxies.push(proxy);
      for (const shift of ['-2m', '+2m']) {
        seen = 0;
        const prefix = `s${shift}/`;
        const src = dir(`skew2-stray-src${shift}`);
        bigFile(path.join(src, 'big.bin'), 10 * MiB);
        writeTree(src, { 'small.txt': 'keeps the source from being empty' });
        const r = await runCli(
          [
            'push',
            src,
            `s3://${bucket}/${prefix}`,
            '--endpoint-url',
            proxy.endpoint,
            '--json',
            '--workers',
            '1',
            '--multipart-threshold',
            '5MiB',
            '--part-size',
            '5MiB',
          ],
          server,
          skewed(shift),
        );
        expect(r.code, shift + r.stderr).toBe(0);
        expect(seen, shift).toBeGreaterThanOrEqual(2);
        expect(r.stdout, shift).toMatch(/aborted multipart upload .* left at .*big\.bin/);
        expect(readManifest(src)!.pending, shift).toEqual({});
        expect((await transport.uploadsUnder(prefix)).uploads, shift).toEqual([]);
      }
    },
  );
});
