/**
 * kill -9 in the middle of a push, then run again: the result is the source, the checkpointed manifest
 * stays valid and is honoured, completed work is not redone, and a multipart upload resumes from its
 * completed parts (or, where it cannot be resumed, is restarted or cleaned up).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ManifestData } from '../../src/manifest/schema.js';
import {
  bigFile,
  cliEnv,
  cliPath,
  deadPid,
  doneOf,
  FULL,
  kill9,
  killLeftRuns,
  type LiveRun,
  MiB,
  manifestPaths,
  newBucket,
  objectMd5,
  plainLines,
  readManifest,
  runCli,
  seededTree,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  waitFor,
} from '../helpers.js';
import { type FaultProxy, mulberry32, startFaultProxy } from '../servers/fault-proxy.js';

const N = FULL ? 2000 : 300;
const WORKERS = 4;

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const children: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(children);
  for (const p of proxies) await p.close();
  removeAll();
});
const spawnPush = (args: string[], server: Parameters<typeof spawnCli>[1]) => {
  const r = spawnCli(['push', ...args], server);
  children.push(r);
  return r;
};

const manifestOrEmpty = (d: string): ManifestData['files'] => readManifest(d)?.files ?? new Map();
const isPlainPut = (e: { method: string; url: string }) => e.method === 'PUT' && !e.url.includes('uploadId=');
const staleLockNotice = (r: LiveRun) =>
  r.events.some((e) => e.type === 'notice' && /stale lock/.test(String((e as { message?: string }).message)));

describe.each(servers())('crash and resume on $name', (server) => {
  it(`a push of ${N} files killed -9 three times at seeded moments, then run to completion`, async () => {
    const { bucket, transport } = await newBucket(server, 'crash');
    const src = dir('crash-src');
    const rels = seededTree(src, N, 4242);
    // Every request slowed so that a run lasts several seconds whatever N is, long enough for the 2 s
    // checkpoints to happen before some of the kills.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 1,
      kinds: ['delay'],
      delayMs: Math.ceil((6000 * WORKERS) / N),
    });
    proxies.push(proxy);
    const url = `s3://${bucket}/crash`;
    const args = [src, url, '--endpoint-url', proxy.endpoint, '--json', '--workers', String(WORKERS)];
    const rand = mulberry32(77);

    interface Killed {
      uploaded: string[];
      recorded: string[];
      /** Files in the manifest as checkpointed when the process died. */
      checkpointed: Set<string>;
      run: LiveRun;
    }
    const killed: Killed[] = [];
    for (let i = 0; i < 3; i++) {
      const run = spawnPush(args, server);
      const k = 1 + Math.floor(rand() * N * 0.12);
      // The first kill may land before any checkpoint; the later ones wait for a checkpoint first.
      const reached = await waitFor(() => {
        if (doneOf(run.events, 'upload').length < k) return false;
        return i === 0 || manifestOrEmpty(src).size > (killed.at(-1)?.checkpointed.size ?? 0);
      }, run);
      expect(reached, `run ${i + 1} ended before its kill point: ${run.stderr()}`).toBe(true);
      expect(await kill9(run)).toBe('SIGKILL');
      // Atomic checkpoints: whatever the moment of the kill, the manifest decodes.
      const checkpointed = new Set(manifestOrEmpty(src).keys());
      killed.push({
        uploaded: doneOf(run.events, 'upload'),
        recorded: doneOf(run.events, 'record'),
        checkpointed,
        run,
      });
      if (i > 0) expect(staleLockNotice(run)).toBe(true);
    }
    expect(killed.at(-1)!.checkpointed.size).toBeGreaterThan(0);

    proxy.setRate(0);
    const final = spawnPush(args, server);
    const { code } = await final.exited;
    expect(code, final.stderr()).toBe(0);
    expect(staleLockNotice(final)).toBe(true);
    const runs = [...killed.map((k) => k.run), final];
    const uploadedBy = runs.map((r) => doneOf(r.events, 'upload'));

    for (let i = 0; i < killed.length; i++) {
      const later = new Set(uploadedBy.slice(i + 1).flat());
      // What the checkpoint recorded is never uploaded again...
      expect([...killed[i]!.checkpointed].filter((rel) => later.has(rel))).toEqual([]);
      // ...nor is what finished before the kill without being checkpointed: the next run finds the
      // object already in place (listing + hash) and records it.
      expect(killed[i]!.uploaded.filter((rel) => later.has(rel))).toEqual([]);
    }
    const allUploads = uploadedBy.flat();
    expect(new Set(allUploads).size).toBe(allUploads.length);
    expect(allUploads.length).toBeLessThanOrEqual(N);
    // Each kill interrupts at most WORKERS uploads, which are sent again by the next run.
    const puts = proxy.log.filter(isPlainPut).length;
    expect(puts).toBeGreaterThanOrEqual(N);
    expect(puts).toBeLessThanOrEqual(N + WORKERS * killed.length);

    const summary = summaryOf(final.events)!;
    expect(summary.failed).toBe(0);
    expect(summary.uploaded + summary.recorded + summary.unchanged).toBe(N);
    expect(summary.requests.PutObject ?? 0).toBe(summary.uploaded);
    const m = readManifest(src)!;
    expect([...m.files.keys()].sort()).toEqual([...rels].sort());
    expect(m.pending).toEqual({});
    const listed = await transport.list('crash/');
    for (const rel of rels) expect(listed.get(rel)?.etag, rel).toBe(m.files.get(rel)!.etag);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });

  /**
   * Starts a multipart push (12 parts of 5 MiB, 2 at a time, each request slowed by 0.8 s) and kills it
   * as soon as a checkpoint records a completed part: the 2 s checkpoints land well inside the ~5 s upload.
   */
  async function killMidMultipart(label: string, size: number) {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    bigFile(path.join(src, 'big.bin'), size);
    const md5 = createHash('md5')
      .update(readFileSync(path.join(src, 'big.bin')))
      .digest('hex');
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 2,
      rate: 1,
      kinds: ['delay'],
      delayMs: 800,
    });
    proxies.push(proxy);
    const url = `s3://${bucket}/${label}`;
    const args = [
      src,
      url,
      '--endpoint-url',
      proxy.endpoint,
      '--json',
      '--workers',
      '2',
      '--multipart-threshold',
      '5MiB',
      '--part-size',
      '5MiB',
    ];
    const run = spawnPush(args, server);
    const parts = () => Object.keys(readManifest(src)?.pending['big.bin']?.parts ?? {}).length;
    expect(await waitFor(() => manifestPaths(src).length > 0 && parts() >= 1, run)).toBe(true);
    expect(await kill9(run)).toBe('SIGKILL');
    const pending = readManifest(src)!.pending['big.bin']!;
    expect(pending).toBeDefined();
    const recordedParts = Object.keys(pending.parts).length;
    expect(recordedParts).toBeGreaterThanOrEqual(1);
    expect(recordedParts).toBeLessThan(size / (5 * MiB));
    proxy.setRate(0);
    return { bucket, transport, src, md5, url, args, pending, recordedParts, proxy };
  }

  it('a multipart upload killed mid-way resumes from its completed parts', async () => {
    const size = 60 * MiB;
    const totalParts = 12;
    const { transport, src, md5, url, args, pending, recordedParts } = await killMidMultipart('mpk', size);
    const rerun = spawnPush(args, server);
    const { code } = await rerun.exited;
    expect(code, rerun.stderr() + rerun.stdout()).toBe(0);
    const summary = summaryOf(rerun.events)!;
    expect(summary).toMatchObject({ uploaded: 1, failed: 0 });
    const resumed = rerun.events.find(
      (e) =>
        e.type === 'notice' && /resuming multipart upload/.test(String((e as { message?: string }).message)),
    );
    const partsSent = summary.requests.UploadPart ?? 0;
    if (server.quirks.hasListParts) {
      // ListParts shows at least the parts the checkpoint recorded (and any finished after it).
      expect(resumed).toBeDefined();
      expect(summary.requests.ListParts).toBeGreaterThanOrEqual(1);
      expect(partsSent).toBeLessThanOrEqual(totalParts - recordedParts);
      expect(summary.requests.CreateMultipartUpload ?? 0).toBe(0);
    } else if (resumed) {
      // No ListParts: the parts recorded in the manifest are the evidence.
      expect(partsSent).toBe(totalParts - recordedParts);
    } else {
      // Or a clean restart.
      expect(partsSent).toBe(totalParts);
      expect(summary.requests.CreateMultipartUpload).toBe(1);
    }
    const m = readManifest(src)!;
    expect(m.pending).toEqual({});
    expect(m.files.get('big.bin')?.md5).toBe(md5);
    expect(await objectMd5(transport, pending.key)).toBe(md5);
    expect((await transport.list('mpk/')).get('big.bin')?.etag).toBe(m.files.get('big.bin')?.etag);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });

  it('a multipart upload killed before any part landed starts over with no resuming notice', async () => {
    const { bucket, transport } = await newBucket(server, 'mp0');
    const src = dir('mp0-src');
    bigFile(path.join(src, 'big.bin'), 20 * MiB);
    // Every part held: the upload is created and recorded, and no part of it reaches the server.
    let holding = true;
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 2,
      rate: 0,
      hold: ({ method, url }) =>
        holding && method === 'PUT' && url.includes('uploadId=') ? new Promise(() => {}) : undefined,
    });
    proxies.push(proxy);
    const flags = [
      '--endpoint-url',
      proxy.endpoint,
      '--json',
      '--multipart-threshold',
      '5MiB',
      '--part-size',
      '5MiB',
    ];
    const url = `s3://${bucket}/mp0`;
    const held = spawnPush([src, url, ...flags], server);
    const uploadId = () => readManifest(src)?.pending['big.bin']?.uploadId ?? '';
    expect(await waitFor(() => uploadId() !== '', held), held.stderr()).toBe(true);
    expect(await kill9(held)).toBe('SIGKILL');
    expect(Object.keys(readManifest(src)!.pending['big.bin']!.parts)).toEqual([]);
    holding = false;
    const rerun = await runCli(['push', src, url, ...flags], server);
    expect(rerun.code, rerun.stderr).toBe(0);
    const notices = rerun.events
      .filter((e) => e.type === 'notice')
      .map((e) => String((e as { message?: string }).message));
    expect(notices.filter((m) => /resuming multipart upload/.test(m))).toEqual([]);
    expect(rerun.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(rerun.summary?.requests.UploadPart).toBe(4);
    expect(readManifest(src)!.pending).toEqual({});
    expect((await transport.list('mp0/')).get('big.bin')?.etag).toBe(
      readManifest(src)!.files.get('big.bin')?.etag,
    );
  });

  it('a rerun that sends other headers starts the upload again: the object gets the new ones', async () => {
    const size = 60 * MiB;
    const totalParts = 12;
    const { transport, src, md5, args, pending } = await killMidMultipart('mph', size);
    // Same file, same part size: only the object's headers differ from the killed run's.
    const rerun = spawnPush([...args, '--cache-control', 'max-age=999'], server);
    const { code } = await rerun.exited;
    expect(code, rerun.stderr() + rerun.stdout()).toBe(0);
    const notices = rerun.events
      .filter((e) => e.type === 'notice')
      .map((e) => String((e as { message?: string }).message));
    expect(notices.some((m) => /resuming multipart upload/.test(m))).toBe(false);
    expect(notices).toContain(
      'the interrupted multipart upload was created with other headers or metadata than this run sends (content type, metadata, storage class, ACL or another header): starting it again',
    );
    const summary = summaryOf(rerun.events)!;
    expect(summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(summary.requests.CreateMultipartUpload).toBe(1);
    expect(summary.requests.UploadPart).toBe(totalParts);
    const h = await transport.client.send(
      new HeadObjectCommand({ Bucket: transport.bucket, Key: pending.key }),
    );
    expect(h.CacheControl).toBe('max-age=999');
    expect(await objectMd5(transport, pending.key)).toBe(md5);
    expect(readManifest(src)!.pending).toEqual({});
    // The killed run's upload is aborted, not left to cleanup.
    if (server.quirks.hasListParts) {
      const left = await transport.listMultipartUploads('mph/');
      expect(left.map((u) => u.uploadId)).not.toContain(pending.uploadId);
    }
  });

  it('a rerun of a file touched since says its modification time changed, not its headers', async () => {
    const { transport, src, md5, args, pending } = await killMidMultipart('mpt', 60 * MiB);
    // Same bytes, a new mtime: which the object's metadata records, so the upload starts again.
    const t = new Date('2026-01-02T03:04:05Z');
    utimesSync(path.join(src, 'big.bin'), t, t);
    const rerun = spawnPush(args, server);
    const { code } = await rerun.exited;
    expect(code, rerun.stderr() + rerun.stdout()).toBe(0);
    const notices = rerun.events
      .filter((e) => e.type === 'notice')
      .map((e) => String((e as { message?: string }).message));
    expect(notices).toContain(
      "the file's modification time changed since the interrupted multipart upload was created (the object's metadata records it): starting it again",
    );
    expect(notices.filter((m) => /other headers|resuming multipart upload/.test(m))).toEqual([]);
    expect(summaryOf(rerun.events)).toMatchObject({ uploaded: 1, failed: 0 });
    const h = await transport.client.send(
      new HeadObjectCommand({ Bucket: transport.bucket, Key: pending.key }),
    );
    expect(h.Metadata?.mtime).toBe(`${t.getTime() / 1000}.000000000`);
    expect(await objectMd5(transport, pending.key)).toBe(md5);
    expect(readManifest(src)!.pending).toEqual({});
  });

  it('a rerun that sends the file compressed aborts the upload the kill left', async () => {
    const { transport, src, md5, args, pending } = await killMidMultipart('mpz', 60 * MiB);
    const rerun = spawnPush([...args, '--compress', '*.bin'], server);
    const { code } = await rerun.exited;
    expect(code, rerun.stderr() + rerun.stdout()).toBe(0);
    const summary = summaryOf(rerun.events)!;
    expect(summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(summary.requests.UploadPart ?? 0).toBe(0);
    // One PUT of the compressed bytes; the killed run's upload is not left for the run after.
    expect(readManifest(src)!.pending).toEqual({});
    if (server.quirks.hasListParts) {
      expect(summary.requests.AbortMultipartUpload).toBe(1);
      const left = await transport.listMultipartUploads('mpz/');
      expect(left.map((u) => u.uploadId)).not.toContain(pending.uploadId);
    }
    const pulled = dir('mpz-pulled');
    expect((await runCli(['pull', args[1]!, pulled], server)).code).toBe(0);
    expect(
      createHash('md5')
        .update(readFileSync(path.join(pulled, 'big.bin')))
        .digest('hex'),
    ).toBe(md5);
  });

  it.each([
    ['a future schema version', 'mpv', (t: string) => t.replace('"version":1', '"version":2'), []],
    ['no end line', 'mpe', (t: string) => t.replace(/#end \d+\n$/, ''), ['--compress', '*.bin']],
  ])(
    'a manifest with %s is rebuilt, and the upload the kill left is still settled',
    async (_n, label, damage, more) => {
      const { transport, src, md5, args, pending } = await killMidMultipart(label, 60 * MiB);
      const file = manifestPaths(src)[0]!;
      writeFileSync(file, damage(readFileSync(file, 'utf8')));
      // Resumed as is, or aborted as the compressed run sends one PUT instead.
      const rerun = spawnPush([...args, ...more], server);
      const { code } = await rerun.exited;
      expect(code, rerun.stderr() + rerun.stdout()).toBe(0);
      expect(rerun.events).toContainEqual(
        expect.objectContaining({
          type: 'warning',
          message: expect.stringMatching(
            /cannot be trusted .*: rebuilding it from the remote listing \(keeping the multipart upload it records as unfinished\)$/,
          ),
        }),
      );
      expect(summaryOf(rerun.events)).toMatchObject({ uploaded: 1, failed: 0 });
      expect(readManifest(src)!.pending).toEqual({});
      // The compressed object holds other bytes: a pull gives back the file.
      const pulled = dir(`${label}-pulled`);
      const pull = await runCli(['pull', args[1]!, pulled], server);
      expect(pull.code, pull.stderr).toBe(0);
      const pulledMd5 = createHash('md5').update(readFileSync(path.join(pulled, 'big.bin')));
      expect(pulledMd5.digest('hex')).toBe(md5);
      if (more.length === 0) expect(await objectMd5(transport, pending.key)).toBe(md5);
      if (server.quirks.hasListParts) {
        const left = await transport.listMultipartUploads(`${label}/`);
        expect(left.map((u) => u.uploadId)).not.toContain(pending.uploadId);
      }
    },
  );

  it("a save's temp file left by a kill is reused by the next save; a file not ours stays", async () => {
    const { bucket } = await newBucket(server, 'tmpleft');
    const src = dir('tmpleft');
    seededTree(src, 3, 7);
    const url = `s3://${bucket}/t`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const manifest = manifestPaths(src)[0]!;
    const saving = `${manifest}.saving`;
    const whole = readFileSync(manifest);
    const leftovers = () => readdirSync(path.dirname(manifest)).filter((n) => n.includes('.tmp-')).length;
    // What a kill -9 inside a save leaves before its rename: a cut copy, or a file opened and not written.
    for (const left of [whole.subarray(0, 4096), whole.subarray(0, 9), Buffer.alloc(0)]) {
      writeFileSync(saving, left);
      writeFileSync(path.join(src, 'new.txt'), `changed ${left.length}`);
      const r = await runCli(['push', src, url], server);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(saving)).toBe(false);
      expect(readManifest(src)!.files.get('new.txt')).toBeDefined();
      expect(leftovers()).toBe(0);
    }
    // A file at that name that no save wrote, or a link there, is left as it is; the save goes on.
    const mine = path.join(dir('tmpleft-mine'), 'mine.txt');
    writeFileSync(mine, 'mine');
    for (const place of [() => writeFileSync(saving, 'notes of mine'), () => symlinkSync(mine, saving)]) {
      place();
      writeFileSync(path.join(src, 'new.txt'), `changed again ${String(place)}`);
      const r = await runCli(['push', src, url], server);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(saving)).toBe(true);
      expect(readFileSync(mine, 'utf8')).toBe('mine');
      expect(leftovers()).toBe(0);
      expect((await runCli(['check', src, url], server)).code).toBe(0);
      rmSync(saving);
    }
    // A dry run takes no lock: it leaves a save's temp file to the next locked run.
    writeFileSync(saving, whole.subarray(0, 100));
    expect((await runCli(['push', src, url, '--dry-run'], server)).code).toBe(0);
    expect(existsSync(saving)).toBe(true);
  });

  it('a file put back to its recorded content after a killed push is uploaded: the object holds the other', async () => {
    const { bucket, transport } = await newBucket(server, 'revert');
    const src = dir('revert-src');
    const a = path.join(src, 'a.txt');
    writeFileSync(a, 'v1\n');
    writeFileSync(path.join(src, 'b.txt'), 'b\n');
    const url = `s3://${bucket}/revert`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const [file] = manifestPaths(src);
    const v1Manifest = readFileSync(file!);
    writeFileSync(a, 'v2\n');
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    // What a kill between a.txt's upload and the next checkpoint leaves: the object holds v2, the
    // manifest still records v1, and the dead run's lock is there.
    writeFileSync(file!, v1Manifest);
    writeFileSync(
      `${file}.lock`,
      JSON.stringify({ pid: deadPid(), host: hostname(), startedAt: new Date().toISOString() }),
    );
    // v1 put back, with another mtime than the one recorded: its hash matches the manifest's MD5.
    writeFileSync(a, 'v1\n');
    const t = new Date(Date.now() - 100_000);
    utimesSync(a, t, t);
    // A dry run takes no lock, yet sees the one left behind: it lists, and says what the run will do.
    const dry = await runCli(['push', src, url, '--dry-run', '--json'], server);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.events.filter((e) => e.type === 'action').map((e) => [e.action, e.rel])).toEqual([
      ['upload', 'a.txt'],
    ]);
    expect(dry.events).toContainEqual(
      expect.objectContaining({
        type: 'notice',
        message:
          'the last run on this destination did not finish (its lock is left behind): listing the destination to check what it left',
      }),
    );
    expect(existsSync(`${file}.lock`)).toBe(true);
    const run = await runCli(['push', src, url, '--json'], server);
    expect(run.code, run.stderr).toBe(0);
    expect(doneOf(run.events, 'upload')).toEqual(['a.txt']);
    expect(await objectMd5(transport, 'revert/a.txt')).toBe(createHash('md5').update('v1\n').digest('hex'));
    expect(run.events).toContainEqual(
      expect.objectContaining({
        type: 'notice',
        message:
          'the last run on this destination did not finish (stale lock taken over): listing the destination to check what it left',
      }),
    );
    expect((await runCli(['check', src, url], server)).code).toBe(0);
    // No run died since: the manifest is trusted again, and nothing changed needs no request.
    const next = await runCli(['push', src, url, '--json'], server);
    expect(next.code, next.stderr).toBe(0);
    expect(next.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it('cleanup lists and aborts the upload a kill left behind; the next push still completes', async () => {
    const size = 60 * MiB;
    const { bucket, transport, src, md5, url, args, pending } = await killMidMultipart('mpc', size);
    const target = `s3://${bucket}/mpc`;
    const dry = await runCli(['cleanup', target, '--older-than', '0s', '--dry-run', '--json'], server);
    if (!server.quirks.hasListParts) {
      // s3rver has no ListMultipartUploads (501): one line naming it, exit 2 as for a store lacking
      // versioning, and a summary that says the run stopped.
      expect(dry.code).toBe(2);
      expect(plainLines(dry.stderr)).toEqual([
        's3sync: listing unfinished multipart uploads needs ListMultipartUploads, and this S3 store does not support it (NotImplemented)',
      ]);
      expect(dry.summary).toMatchObject({ command: 'cleanup', exitCode: 2 });
      expect(dry.summary?.stoppedBy).toMatch(/^listing unfinished multipart uploads needs /);
    } else {
      expect(dry.code, dry.stderr).toBe(0);
      const found = (dry.summary as unknown as { found: { key: string; uploadId: string }[] }).found;
      expect(found).toEqual([expect.objectContaining({ key: pending.key, uploadId: pending.uploadId })]);
      const real = await runCli(['cleanup', target, '--older-than', '0s', '--json'], server);
      expect(real.code, real.stderr).toBe(0);
      expect(real.summary).toMatchObject({ aborted: 1, failed: 0 });
      const after = await runCli(['cleanup', target, '--older-than', '0s', '--dry-run', '--json'], server);
      expect((after.summary as unknown as { found: unknown[] }).found).toEqual([]);
    }
    // The manifest still names the (now aborted, on Ceph) upload: the next push must not trip over it.
    const rerun = spawnPush(args, server);
    const { code } = await rerun.exited;
    expect(code, `${rerun.stderr()}\n${rerun.stdout().slice(-1500)}`).toBe(0);
    expect(summaryOf(rerun.events)).toMatchObject({ uploaded: 1, failed: 0 });
    expect(readManifest(src)!.pending).toEqual({});
    expect(await objectMd5(transport, pending.key)).toBe(md5);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });
});

describe("a run killed -9 as PID 1 of its own pid namespace (s3sync as a container's entrypoint)", () => {
  const server = servers()[0]!;
  it('leaves a lock of pid 1, which the next run takes over: pid 1 there is another process', async () => {
    if (process.getuid?.() !== 0) {
      console.warn('[crash] NOTICE: not root: cannot unshare a pid namespace; the PID 1 case is skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'pid1');
    const src = dir('pid1-src');
    bigFile(path.join(src, 'big.bin'), 8 * MiB);
    const url = `s3://${bucket}/pid1`;
    // --kill-child: the SIGKILL sent to unshare reaches the run, as `docker kill` reaches a container's PID 1.
    const child = spawn(
      'unshare',
      [
        '--pid',
        '--fork',
        '--mount-proc',
        '--kill-child',
        process.execPath,
        cliPath,
        'push',
        src,
        url,
        '--bwlimit',
        '1MiB',
      ],
      { env: cliEnv(server), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = once(child, 'exit');
    // The first run's manifest is not written yet: its lock is the one file of its kind.
    const state = path.join(src, '.s3sync');
    const lockOf = () => {
      const name = existsSync(state) ? readdirSync(state).find((n) => n.endsWith('.json.lock')) : undefined;
      return name && path.join(state, name);
    };
    const deadline = Date.now() + 30_000;
    while (!lockOf() && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const lock = lockOf();
    expect(lock, `the run took no lock: ${stderr}`).toBeDefined();
    expect(JSON.parse(readFileSync(lock!, 'utf8'))).toMatchObject({ pid: 1 });
    child.kill('SIGKILL');
    await exited;
    // Its namespace is gone with it; on this host pid 1 is init, alive, the lock still there.
    expect(existsSync(lock!)).toBe(true);
    const run = await runCli(['push', src, url, '--json'], server);
    expect(run.code, run.stderr).toBe(0);
    expect(run.events).toContainEqual(
      expect.objectContaining({
        type: 'notice',
        message:
          'taking over a stale lock left by process 1 (no longer running: pid 1 is another process now)',
      }),
    );
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });
});
