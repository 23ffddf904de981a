import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFile } from '../../src/local/hash.js';
import type { ManifestData } from '../../src/manifest/schema.js';
import { defaultManifestPath, saveManifest } from '../../src/manifest/store.js';
import { validateEndpoint } from '../../src/s3/endpoint-url.js';
import { parseS3Url } from '../../src/s3/url.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { push } from '../../src/sync/push.js';
import {
  type CliRun,
  cleanup,
  connFor,
  loadManifestFile,
  MiB,
  newBucket,
  runCli,
  seedObject,
  servers,
  startCli,
  tempDir,
  treeHashes,
  writeTree,
} from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

const dirs: string[] = [];
afterAll(() => cleanup(...dirs));
const newDir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d;
};

/** 40 files in nested folders, with spaces and non-ASCII names among them. */
function fortyFiles(): Record<string, string | number> {
  const files: Record<string, string | number> = {
    'with space/file name.txt': 'a file whose key has spaces\n',
    'ünïcødé/日本語 ファイル.txt': 'unicode key\n',
    '☃ snow.txt': 'snowman\n',
    'empty.txt': '',
  };
  for (let i = 0; Object.keys(files).length < 40; i++) {
    files[`d${i % 3}/sub${i % 2}/f${i}.bin`] = 100 + i * 37;
  }
  return files;
}

/**
 * Environment for a CLI run that records every AWS SDK package the process loads, by require() or by
 * import, in the returned log file: a run that makes no request must not load the SDK at all.
 */
function sdkLoadLog(): { env: Record<string, string>; loaded: () => string[] } {
  const dir = newDir('sdk-hook');
  const log = path.join(dir, 'loaded.txt');
  writeFileSync(log, '');
  const record = `(spec) => { if (spec.startsWith('@aws-sdk/')) appendFileSync(${JSON.stringify(log)}, spec + '\\n'); }`;
  writeFileSync(
    path.join(dir, 'resolve.mjs'),
    `import { appendFileSync } from 'node:fs';
const record = ${record};
export async function resolve(spec, ctx, next) { record(spec); return next(spec, ctx); }`,
  );
  writeFileSync(
    path.join(dir, 'hook.mjs'),
    `import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
const record = ${record};
register('./resolve.mjs', import.meta.url);
const load = Module._load;
Module._load = function (spec, ...rest) { record(spec); return load.call(this, spec, ...rest); };`,
  );
  const loaded = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { env: { NODE_OPTIONS: `--import ${path.join(dir, 'hook.mjs')}` }, loaded };
}

/** Sets every file's mtime well in the past, so nothing is "racily clean" in tests that expect 'unchanged'. */
function ageTree(root: string, secondsAgo = 3600): void {
  const t = Date.now() / 1000 - secondsAgo;
  for (const rel of Object.keys(treeHashes(root))) utimesSync(path.join(root, rel), t, t);
}

/** A large file with a fast, deterministic, per-MiB-distinct byte pattern (no crypto random). */
function writePatternFile(abs: string, size: number, seed = 1): void {
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i++) block[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  const fd = openSync(abs, 'w');
  try {
    for (let off = 0, n = 0; off < size; off += MiB, n++) {
      block.writeUInt32BE(n, 0);
      block.writeUInt32BE(seed, 4);
      writeSync(fd, block, 0, Math.min(MiB, size - off));
    }
  } finally {
    closeSync(fd);
  }
}

const stateDir = (root: string) => path.join(root, '.s3sync');

/** Where s3sync keeps the manifest of this destination (its default location inside the tree). */
function manifestPathFor(root: string, s: TestServer, dest: string): string {
  const loc = parseS3Url(dest);
  return defaultManifestPath(root, {
    endpoint: validateEndpoint(s.endpoint),
    bucket: loc.bucket,
    prefix: loc.prefix,
  });
}

/**
 * The manifest as s3sync itself loads it (whatever its on-disk format), asserting that it is intact:
 * a manifest s3sync would warn about and rebuild is a failed expectation here.
 */
function loadFor(root: string, s: TestServer, dest: string) {
  const loc = parseS3Url(dest);
  const destination = { endpoint: validateEndpoint(s.endpoint), bucket: loc.bucket, prefix: loc.prefix };
  const file = manifestPathFor(root, s, dest);
  expect(existsSync(file)).toBe(true);
  return loadManifestFile(file, destination);
}

/** Sets a file's mtime to an exact nanosecond value (fs.utimes goes through a double and loses ns). */
function setMtimeNs(abs: string, ns: bigint): void {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-m', '-d', `@${sec}.${frac}`, abs]);
}

const mtimeNsOf = (abs: string) => statSync(abs, { bigint: true }).mtimeNs;

const doneRels = (run: CliRun | { events: SyncEvent[] }, action: string) =>
  run.events
    .filter((e): e is Extract<SyncEvent, { type: 'done' }> => e.type === 'done' && e.action === action)
    .map((e) => e.rel)
    .sort();

/** No stack trace, one line: what every CLI error must look like. */
function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code).toBe(2);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^s3sync: /);
  expect(lines[0]).toMatch(pattern);
}

/** The lock file of the destination once it holds the owner's JSON (written right after O_EXCL create). */
async function waitForLock(root: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(stateDir(root))) {
      const name = readdirSync(stateDir(root)).find((n) => n.endsWith('.lock'));
      if (name) {
        const p = path.join(stateDir(root), name);
        try {
          JSON.parse(readFileSync(p, 'utf8'));
          return p;
        } catch {
          // being written, or just released
        }
      }
    }
    await sleep(1);
  }
  throw new Error('the first push never took the lock');
}

describe.each(servers())('push on $name', (server) => {
  const pushCli = (dir: string, dest: string, ...extra: string[]) =>
    runCli(['push', dir, dest, '--json', ...extra], server);
  const readManifest = (dir: string, dest: string): ManifestData => loadFor(dir, server, dest).data;
  const manifestPath = (dir: string, dest: string) => manifestPathFor(dir, server, dest);

  it('uploads every file on the first push and makes no request at all on the second', async () => {
    const dir = newDir('first');
    // The file over 2 MiB goes through the SDK (smaller ones go without it): the hook below sees it load.
    const files = { ...fortyFiles(), 'large/over-2MiB.bin': 3 * MiB };
    writeTree(dir, files);
    const n = Object.keys(files).length;
    const { bucket, transport } = await newBucket(server, 'first');
    const dest = `s3://${bucket}/backups/db`;

    const sdk1 = sdkLoadLog();
    const r1 = await runCli(['push', dir, dest, '--json'], server, { env: sdk1.env });
    // The hook sees the SDK when it is loaded: its silence on the second run means something.
    expect(sdk1.loaded()).toContain('@aws-sdk/client-s3');
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.summary).toMatchObject({ scanned: n, uploaded: n, failed: 0, recorded: 0 });
    expect(r1.summary!.requests).toEqual({ PutObject: n, ListObjectsV2: 1 });
    expect(r1.summary!.requestsTotal).toBe(n + 1);
    expect(doneRels(r1, 'upload')).toEqual(Object.keys(files).sort());

    // Every object is there, under the prefix, with the local content's MD5 as its ETag.
    const local = treeHashes(dir);
    const remote = await transport.list('backups/db/');
    expect(new Map([...remote].map(([rel, o]) => [rel, o.etag]))).toEqual(new Map(Object.entries(local)));
    // The state folder is never synced.
    expect([...remote.keys()].some((k) => k.startsWith('.s3sync'))).toBe(false);

    const sdk2 = sdkLoadLog();
    const r2 = await runCli(['push', dir, dest, '--json'], server, { env: sdk2.env });
    expect(r2.code).toBe(0);
    expect(r2.summary).toMatchObject({ scanned: n, uploaded: 0, failed: 0, bytesTransferred: 0 });
    expect(r2.summary!.unchanged + r2.summary!.recorded).toBe(n);
    expect(r2.summary!.requestsTotal).toBe(0);
    expect(r2.summary!.requests).toEqual({});
    // No request, so no AWS SDK loaded.
    expect(sdk2.loaded()).toEqual([]);
  });

  it('an empty source with no manifest makes no request (the early listing is for trees with files)', async () => {
    const dir = newDir('empty-src');
    const { bucket } = await newBucket(server, 'empty-src');
    const r = await pushCli(dir, `s3://${bucket}/e`);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ scanned: 0, uploaded: 0, requestsTotal: 0 });
  });

  it('a source with no file (or none the filters select) says so in a notice, exit 0', async () => {
    const { bucket, transport } = await newBucket(server, 'nothing');
    const notices = (r: CliRun) =>
      r.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message);
    const empty = newDir('nothing');
    mkdirSync(path.join(empty, 'a', 'b'), { recursive: true });
    const r = await pushCli(empty, `s3://${bucket}/e`);
    expect(r.code, r.stderr).toBe(0);
    expect(notices(r)).toEqual([`nothing to push: no file under ${empty}`]);
    // With --delete and nothing to delete, the same; with objects to delete, the guard's line alone.
    expect(notices(await pushCli(empty, `s3://${bucket}/e`, '--delete'))).toEqual([
      `nothing to push: no file under ${empty}`,
    ]);
    await seedObject(transport, 'd/old.txt', 'old');
    const guarded = await pushCli(empty, `s3://${bucket}/d`, '--delete');
    expect(guarded.code).toBe(2);
    expect(notices(guarded)).toEqual([]);
    const logs = newDir('nothing-logs');
    writeTree(logs, { 'a.log': 'a', 'sub/b.log': 'b' });
    const filtered = await pushCli(logs, `s3://${bucket}/f`, '--exclude', '*.log');
    expect(filtered.code).toBe(0);
    expect(notices(filtered)).toEqual([`nothing to push: no file under ${logs} is selected by the filters`]);
    // A tree with files says nothing of the kind.
    expect(notices(await pushCli(logs, `s3://${bucket}/f`))).toEqual([]);
  });

  it('touched files (new mtime, same content) are recorded, not uploaded', async () => {
    const dir = newDir('touch');
    const files = fortyFiles();
    writeTree(dir, files);
    ageTree(dir, 7200);
    const { bucket } = await newBucket(server, 'touch');
    const dest = `s3://${bucket}/t`;
    expect((await pushCli(dir, dest)).code).toBe(0);

    const touched = Object.keys(files).filter((_, i) => i % 4 === 0);
    const before = readManifest(dir, dest);
    // An hour ago: a new mtime (and ctime), yet older than the manifest, so not racy.
    const t = Date.now() / 1000 - 3600;
    for (const rel of touched) utimesSync(path.join(dir, rel), t, t);

    // A dry run says what it would record as actions; it records (and saves) nothing.
    const dry = await pushCli(dir, dest, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.summary).toMatchObject({ uploaded: 0, recorded: touched.length, dryRun: true });
    expect(doneRels(dry, 'record')).toEqual([]);
    const would = dry.events.filter((e) => e.type === 'action' && e.action === 'record');
    expect(would.map((e) => (e as { rel: string }).rel).sort()).toEqual([...touched].sort());
    expect(would.every((e) => (e as { dryRun?: boolean }).dryRun === true)).toBe(true);
    expect(readManifest(dir, dest)).toEqual(before);

    const r = await pushCli(dir, dest);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({
      uploaded: 0,
      recorded: touched.length,
      unchanged: Object.keys(files).length - touched.length,
      requestsTotal: 0,
    });
    expect(r.summary!.requests.PutObject).toBeUndefined();
    expect(doneRels(r, 'record')).toEqual([...touched].sort());

    const after = readManifest(dir, dest);
    expect(BigInt(after.writtenAtNs)).toBeGreaterThan(BigInt(before.writtenAtNs));
    for (const rel of touched) {
      expect(after.files.get(rel)!.mtimeNs).not.toBe(before.files.get(rel)!.mtimeNs);
      expect(after.files.get(rel)!.mtimeNs).toBe(mtimeNsOf(path.join(dir, rel)).toString());
      expect(after.files.get(rel)!.md5).toBe(before.files.get(rel)!.md5);
    }
    // And the next push trusts the new stat data: nothing to do at all.
    const r3 = await pushCli(dir, dest);
    expect(r3.summary).toMatchObject({ uploaded: 0, recorded: 0, requestsTotal: 0 });
  });

  it('uploads exactly the 10% of files that changed (same size and new size alike)', async () => {
    const dir = newDir('modify');
    const files = fortyFiles();
    writeTree(dir, files);
    ageTree(dir);
    const { bucket, transport } = await newBucket(server, 'modify');
    const dest = `s3://${bucket}/m`;
    expect((await pushCli(dir, dest)).code).toBe(0);

    const bins = Object.keys(files).filter((rel) => rel.endsWith('.bin'));
    const sameSize = bins.slice(0, 2);
    const newSize = bins.slice(2, 4);
    for (const rel of sameSize) {
      const abs = path.join(dir, rel);
      const buf = readFileSync(abs);
      buf[0] = buf[0]! ^ 0xff;
      buf[buf.length - 1] = buf[buf.length - 1]! ^ 0x55;
      writeFileSync(abs, buf);
    }
    for (const rel of newSize) appendFileSync(path.join(dir, rel), 'more bytes');
    const changed = [...sameSize, ...newSize].sort();

    const r = await pushCli(dir, dest);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 4, recorded: 0, unchanged: 36, failed: 0 });
    expect(doneRels(r, 'upload')).toEqual(changed);
    expect(r.summary!.requests.PutObject).toBe(4);
    expect(r.summary!.requests.ListObjectsV2 ?? 0).toBeLessThanOrEqual(1);
    const reasons = Object.fromEntries(
      r.events
        .filter((e): e is Extract<SyncEvent, { type: 'done' }> => e.type === 'done')
        .map((e) => [e.rel, e.reason]),
    );
    for (const rel of sameSize) expect(reasons[rel]).toBe('content-changed');
    for (const rel of newSize) expect(reasons[rel]).toBe('size-changed');

    const remote = await transport.list('m/');
    const local = treeHashes(dir);
    for (const rel of changed) expect(remote.get(rel)?.etag).toBe(local[rel]);
  });

  it('rebuilds a deleted or corrupt manifest from the listing without uploading anything', async () => {
    const dir = newDir('rebuild');
    const files: Record<string, string | number> = {};
    // Enough small files that the rebuild's hashing is shared with a worker thread, started when the
    // first listing page arrives (a page of at least 256 objects).
    for (let i = 0; i < 600; i++) files[`part-${i % 4}/f${i}.dat`] = 500 + i;
    writeTree(dir, files);
    writePatternFile(path.join(dir, 'big.bin'), 12 * MiB, 3);
    const n = Object.keys(files).length + 1;
    const { bucket, transport } = await newBucket(server, 'rebuild');
    const dest = `s3://${bucket}/r`;
    const mp = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];

    const r1 = await pushCli(dir, dest, ...mp);
    expect(r1.code).toBe(0);
    expect(r1.summary).toMatchObject({ uploaded: n });
    expect(r1.summary!.requests).toMatchObject({
      PutObject: n - 1,
      CreateMultipartUpload: 1,
      UploadPart: 3,
      CompleteMultipartUpload: 1,
    });
    const bigEtag = (await transport.list('r/')).get('big.bin')!.etag;
    if (!server.quirks.multipartEtagIsWholeMd5) expect(bigEtag).toMatch(/-3$/);
    const original = readManifest(dir, dest);

    rmSync(stateDir(dir), { recursive: true, force: true });
    const r2 = await pushCli(dir, dest, ...mp);
    expect(r2.code, r2.stderr + r2.stdout).toBe(0);
    expect(r2.events.filter((e) => e.type === 'warning')).toEqual([]);
    expect(r2.summary).toMatchObject({ uploaded: 0, recorded: n, failed: 0 });
    expect(r2.summary!.requests.ListObjectsV2).toBe(1);
    expect(r2.summary!.requests.PutObject).toBeUndefined();
    expect(r2.summary!.requests.UploadPart).toBeUndefined();
    expect(r2.summary!.requests.CreateMultipartUpload).toBeUndefined();
    const rebuilt = readManifest(dir, dest);
    expect([...rebuilt.files.keys()].sort()).toEqual([...original.files.keys()].sort());
    for (const [rel, e] of [...original.files]) {
      expect(rebuilt.files.get(rel)).toMatchObject({ md5: e.md5, etag: e.etag, size: e.size });
    }
    // The part size is recovered from the multipart ETag (s3rver's whole-file MD5 ETag has none).
    expect(rebuilt.files.get('big.bin')!.partSize).toBe(server.quirks.multipartEtagIsWholeMd5 ? 0 : 5 * MiB);

    // The rebuilt manifest vouches for everything: no request at all.
    const r3 = await pushCli(dir, dest, ...mp);
    expect(r3.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });

    // Corrupt (truncated mid-write): one warning naming the manifest, then the same rebuild.
    const file = manifestPath(dir, dest);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const r4 = await pushCli(dir, dest, ...mp);
    expect(r4.code).toBe(0);
    const warnings = r4.events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect((warnings[0] as { message: string }).message).toMatch(/manifest/);
    expect(r4.summary).toMatchObject({ uploaded: 0, recorded: n, failed: 0 });
    expect(r4.summary!.requests.PutObject).toBeUndefined();
    expect(r4.summary!.requests.UploadPart).toBeUndefined();
    expect(readManifest(dir, dest).files.get('big.bin')!.md5).toBe(original.files.get('big.bin')!.md5);

    // A write time damaged to a non-number (a flipped byte): the same warning and rebuild, no crash;
    // `check` and a dry run say they go by the listing, as they write no manifest.
    const saved = readFileSync(file, 'utf8');
    writeFileSync(file, saved.replace(/"writtenAtNs":"\d+"/, '"writtenAtNs":"17965x"'));
    for (const args of [
      ['check', dir, dest, '--json'],
      ['push', dir, dest, '--dry-run', '--json'],
    ]) {
      const r = await runCli(args, server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.events.filter((e) => e.type === 'warning')).toEqual([
        expect.objectContaining({
          message: `manifest ${file} cannot be trusted (no valid write time): going by the remote listing instead (this run writes no manifest)`,
        }),
      ]);
    }
    const r5 = await pushCli(dir, dest, ...mp);
    expect(r5.code, r5.stderr).toBe(0);
    expect(r5.events.filter((e) => e.type === 'warning')).toEqual([
      expect.objectContaining({
        message: `manifest ${file} cannot be trusted (no valid write time): rebuilding it from the remote listing`,
      }),
    ]);
    expect(r5.summary).toMatchObject({ uploaded: 0, recorded: n, failed: 0 });
    // Emptied (a crash on a filesystem that lost the data): said, not rebuilt in silence.
    writeFileSync(file, '');
    const r6 = await pushCli(dir, dest, ...mp);
    expect(r6.events.filter((e) => e.type === 'warning')).toEqual([
      expect.objectContaining({
        message: `manifest ${file} is empty: rebuilding it from the remote listing`,
      }),
    ]);
    expect(r6.summary).toMatchObject({ uploaded: 0, recorded: n, failed: 0 });
  });

  it('--no-incremental uploads everything; --verify re-uploads only an object deleted behind its back', async () => {
    const dir = newDir('verify');
    const files = fortyFiles();
    writeTree(dir, files);
    ageTree(dir);
    const n = Object.keys(files).length;
    const { bucket, transport } = await newBucket(server, 'verify');
    const dest = `s3://${bucket}/v`;
    expect((await pushCli(dir, dest)).code).toBe(0);

    const forced = await pushCli(dir, dest, '--no-incremental');
    expect(forced.code).toBe(0);
    expect(forced.summary).toMatchObject({ uploaded: n, unchanged: 0 });
    expect(forced.summary!.requests.PutObject).toBe(n);

    const victim = 'ünïcødé/日本語 ファイル.txt';
    expect((await transport.deleteKeys([`v/${victim}`])).size).toBe(0);
    expect((await transport.list('v/')).has(victim)).toBe(false);

    // Without --verify the manifest vouches for it: nothing happens.
    const plain = await pushCli(dir, dest);
    expect(plain.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });

    const verified = await pushCli(dir, dest, '--verify');
    expect(verified.code).toBe(0);
    expect(verified.summary).toMatchObject({ uploaded: 1, unchanged: n - 1 });
    expect(verified.summary!.requests).toEqual({ ListObjectsV2: 1, PutObject: 1 });
    expect(doneRels(verified, 'upload')).toEqual([victim]);
    expect(verified.events.find((e) => e.type === 'done')).toMatchObject({ reason: 'remote-drift' });
    expect((await transport.list('v/')).get(victim)?.etag).toBe(md5(files[victim] as string));
  });

  it('catches a same-size change whose mtime was put back, right after a push', async () => {
    const dir = newDir('racy');
    writeTree(dir, { 'a.txt': 'AAAA version one\n', 'b.txt': 'BBBB stays\n' });
    const { bucket, transport } = await newBucket(server, 'racy');
    const dest = `s3://${bucket}/x`;
    expect((await pushCli(dir, dest)).code).toBe(0);

    // Immediately (same second): same size, different bytes, and the recorded mtime put back exactly.
    const abs = path.join(dir, 'a.txt');
    const recorded = readManifest(dir, dest).files.get('a.txt')!;
    writeFileSync(abs, 'AAAA version two\n');
    setMtimeNs(abs, BigInt(recorded.mtimeNs));
    expect(mtimeNsOf(abs).toString()).toBe(recorded.mtimeNs);
    expect(statSync(abs).size).toBe(recorded.size);

    // Caught because size and mtime are not all the stat data: writing (and touch) set the ctime, which
    // nothing can put back, so the entry no longer matches and the file is hashed. Had the write landed in
    // the same timestamp tick as the one recorded (ctime equal too), the racy rule below would catch it.
    const r = await pushCli(dir, dest);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, unchanged: 1 });
    expect(doneRels(r, 'upload')).toEqual(['a.txt']);
    expect((await transport.list('x/')).get('a.txt')?.etag).toBe(md5('AAAA version two\n'));
  });

  it('hashes a "racily clean" file (mtime >= manifest write time) even when every stat field matches', async () => {
    const dir = newDir('racy2');
    writeTree(dir, { 'racy.txt': 'racy version 1\n', 'old.txt': 'old version 1\n' });
    ageTree(dir);
    const { bucket, transport } = await newBucket(server, 'racy2');
    const dest = `s3://${bucket}/y`;
    expect((await pushCli(dir, dest)).code).toBe(0);

    // Same-size rewrites whose new stat data then gets recorded as if the change had happened within the
    // timestamp tick in which the file was read (git's racy-clean case, which stat data alone cannot
    // see). racy.txt's mtime is at or after the manifest's write time (10 s ahead of it), old.txt's an
    // hour before it.
    const racy = path.join(dir, 'racy.txt');
    const old = path.join(dir, 'old.txt');
    writeFileSync(racy, 'racy version 2\n');
    writeFileSync(old, 'old version 2\n');
    const now = BigInt(Date.now()) * 1_000_000n;
    setMtimeNs(racy, now + 10_000_000_000n);
    setMtimeNs(old, now - 3_600_000_000_000n);
    const mfile = manifestPath(dir, dest);
    const m = readManifest(dir, dest);
    for (const [rel, abs] of [
      ['racy.txt', racy],
      ['old.txt', old],
    ] as const) {
      const st = statSync(abs, { bigint: true });
      Object.assign(m.files.get(rel)!, {
        size: Number(st.size),
        mtimeNs: st.mtimeNs.toString(),
        ctimeNs: st.ctimeNs.toString(),
        ino: st.ino.toString(),
      });
    }
    saveManifest(mfile, m);
    const { racyThresholdNs } = loadFor(dir, server, dest);
    expect(mtimeNsOf(racy)).toBeGreaterThanOrEqual(racyThresholdNs);
    expect(mtimeNsOf(old)).toBeLessThan(racyThresholdNs);

    // racy.txt: mtime >= the manifest's write time ⇒ it may have changed after its stat was taken in the
    // same tick, so it is hashed; the MD5 differs from the recorded one ⇒ uploaded. old.txt is strictly
    // older than the manifest, so its (doctored) stat match is trusted: the control showing that the racy
    // rule, not the stat data, is what caught racy.txt.
    const r = await pushCli(dir, dest);
    expect(r.code).toBe(0);
    expect(doneRels(r, 'upload')).toEqual(['racy.txt']);
    expect(r.summary).toMatchObject({ uploaded: 1, unchanged: 1 });
    expect((await transport.list('y/')).get('racy.txt')?.etag).toBe(md5('racy version 2\n'));
  });

  it('a file dated ahead of the clock is hashed by every push, said as `unproven`, and never sent again', async () => {
    const dir = newDir('ahead');
    writeTree(dir, { 'ahead.txt': 'from a skewed machine\n', 'old.txt': 'old\n' });
    ageTree(dir);
    const ahead = path.join(dir, 'ahead.txt');
    setMtimeNs(ahead, BigInt(Date.now() + 3_600_000) * 1_000_000n);
    const { bucket } = await newBucket(server, 'ahead');
    const dest = `s3://${bucket}/y`;
    expect((await pushCli(dir, dest)).code).toBe(0);
    // Its mtime tick is open at every manifest write until the clock passes it: git's racy rule, which
    // a write later in that tick could hide from the stat data. Hashed, found as recorded, no request.
    for (let run = 0; run < 2; run++) {
      const r = await pushCli(dir, dest);
      expect(r.code).toBe(0);
      const done = r.events.filter((e) => e.type === 'done');
      expect(done).toEqual([
        expect.objectContaining({ action: 'record', rel: 'ahead.txt', reason: 'unproven' }),
      ]);
      expect(r.summary).toMatchObject({ uploaded: 0, unchanged: 1, recorded: 1, requestsTotal: 0 });
    }
  });

  it('uploads a 100 MiB file as 7 parallel parts whose ETag matches the local multipart ETag', async () => {
    const dir = newDir('big');
    const abs = path.join(dir, 'dump.bin');
    writePatternFile(abs, 100 * MiB, 11);
    const { bucket, transport } = await newBucket(server, 'big');
    const dest = `s3://${bucket}/b`;

    // Below the default threshold (128 MiB) it would be one PUT.
    const r = await pushCli(dir, dest, '--multipart-threshold', '64MiB');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, bytesTransferred: 100 * MiB });
    expect(r.summary!.requests).toMatchObject({
      CreateMultipartUpload: 1,
      UploadPart: 7,
      CompleteMultipartUpload: 1,
    });
    expect(r.summary!.requests.PutObject).toBeUndefined();
    expect(r.summary!.requests.AbortMultipartUpload).toBeUndefined();

    const h = await hashFile(abs, [16 * MiB]);
    const expected = server.quirks.multipartEtagIsWholeMd5 ? h.md5 : h.multipart[16 * MiB]!;
    expect(h.multipart[16 * MiB]).toMatch(/-7$/);
    const listed = (await transport.list('b/')).get('dump.bin');
    expect(listed).toMatchObject({ size: 100 * MiB, etag: expected });
    const entry = readManifest(dir, dest).files.get('dump.bin')!;
    expect(entry).toMatchObject({ md5: h.md5, etag: expected, partSize: 16 * MiB });
    expect(readManifest(dir, dest).pending).toEqual({});
    const head = await transport.head('b/dump.bin');
    expect(head?.metadata.md5).toBe(h.md5);

    const again = await pushCli(dir, dest);
    expect(again.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it('streams a file between 8 MiB and the multipart threshold in one PUT (a new one in one pass), and re-sends it when it changes', async () => {
    const dir = newDir('mid');
    const abs = path.join(dir, 'mid.bin');
    writePatternFile(abs, 20 * MiB + 123, 2);
    ageTree(dir);
    const { bucket, transport } = await newBucket(server, 'mid');
    const dest = `s3://${bucket}/mid`;
    const r = await pushCli(dir, dest);
    expect(r.code).toBe(0);
    expect(r.summary!.requests).toEqual({ ListObjectsV2: 1, PutObject: 1 });
    expect((await transport.list('mid/')).get('mid.bin')).toMatchObject({
      size: 20 * MiB + 123,
      etag: md5(readFileSync(abs)),
    });
    // New, so sent in one pass, hashed as it went: no Content-MD5, hence no x-amz-meta-md5 either (the
    // ETag is the MD5), and the manifest has the hash of what was sent.
    const first = await transport.head('mid/mid.bin');
    expect(first?.metadata.md5).toBeUndefined();
    expect(first?.metadata.mtime).toMatch(/^\d+\.\d{9}$/);
    expect(readManifest(dir, dest).files.get('mid.bin')).toMatchObject({
      md5: md5(readFileSync(abs)),
      etag: md5(readFileSync(abs)),
    });

    // Same size, one byte different in the middle: hashed (stat changed), then uploaded again.
    const fd = openSync(abs, 'r+');
    writeSync(fd, Buffer.from([0xee]), 0, 1, 10 * MiB + 7);
    closeSync(fd);
    const r2 = await pushCli(dir, dest);
    expect(r2.code).toBe(0);
    expect(r2.summary).toMatchObject({ uploaded: 1 });
    expect(r2.summary!.requests).toEqual({ PutObject: 1 });
    const now = md5(readFileSync(abs));
    expect((await transport.list('mid/')).get('mid.bin')?.etag).toBe(now);
    expect((await transport.head('mid/mid.bin'))?.metadata.md5).toBe(now);
    expect(readManifest(dir, dest).files.get('mid.bin')).toMatchObject({ md5: now, etag: now, partSize: 0 });
  });

  it('progress counts every byte of every upload path, the one-pass PUT of a new object included', async () => {
    const dir = newDir('progress');
    writeTree(dir, { 'small.txt': 'a few bytes\n' });
    writePatternFile(path.join(dir, 'mid.bin'), 9 * MiB + 5, 6);
    writePatternFile(path.join(dir, 'multi.bin'), 12 * MiB, 7);
    const { bucket } = await newBucket(server, 'progress');
    const bytes = new Map<string, number>();
    let current = '';
    const result = await push({
      ...connFor(server),
      source: dir,
      destination: `s3://${bucket}/p`,
      multipartThreshold: 10 * MiB,
      partSize: 5 * MiB,
      workers: 1,
      onEvent: (e) => {
        if (e.type === 'start') current = e.rel;
        if (e.type === 'bytes') bytes.set(current, (bytes.get(current) ?? 0) + e.bytes);
      },
    });
    expect(result).toMatchObject({ uploaded: 3, outcome: 'ok' });
    expect(Object.fromEntries(bytes)).toEqual({
      'small.txt': 12,
      'mid.bin': 9 * MiB + 5,
      'multi.bin': 12 * MiB,
    });
  });

  it('a --manifest inside the tree is never uploaded, nor is its lock file', async () => {
    const dir = newDir('ownmanifest');
    writeTree(dir, { 'data/a.txt': 'a\n', 'data/b.txt': 'b\n' });
    ageTree(dir);
    const { bucket, transport } = await newBucket(server, 'ownmanifest');
    const dest = `s3://${bucket}/o`;
    const mf = path.join(dir, 'sync-state.json');
    const r = await pushCli(dir, dest, '--manifest', mf);
    expect(r.code).toBe(0);
    expect(doneRels(r, 'upload')).toEqual(['data/a.txt', 'data/b.txt']);
    expect([...(await transport.list('o/')).keys()].sort()).toEqual(['data/a.txt', 'data/b.txt']);
    expect(existsSync(mf)).toBe(true);
    // The second run makes no request: nothing of s3sync's own is mistaken for a new file.
    const r2 = await pushCli(dir, dest, '--manifest', mf);
    expect(r2.summary).toMatchObject({ scanned: 2, uploaded: 0, requestsTotal: 0 });
  });

  it('a second push while one runs fails in one line (exit 2); with --wait-lock it waits', async () => {
    const dir = newDir('lock');
    const files: Record<string, number> = {};
    for (let i = 0; i < 300; i++) files[`g${i % 10}/f${i}.dat`] = 256 + i;
    writeTree(dir, files);
    ageTree(dir);
    const { bucket, transport } = await newBucket(server, 'lock');
    const dest = `s3://${bucket}/l`;

    // Pause the first run while it holds the lock: deterministic, whatever the machine's speed.
    const first = startCli(['push', dir, dest, '--json'], server);
    const lock = await waitForLock(dir);
    first.child.kill('SIGSTOP');
    let second: CliRun;
    try {
      expect(existsSync(lock)).toBe(true);
      second = await startCli(['push', dir, dest, '--json'], server).done;
    } finally {
      first.child.kill('SIGCONT');
    }
    expectOneLineError(second, /--wait-lock/);
    expect(second.summary).toBeUndefined();
    const a = await first.done;
    expect(a.code).toBe(0);
    expect(a.summary).toMatchObject({ uploaded: 300, failed: 0 });
    expect(existsSync(lock)).toBe(false);
    expect([...readManifest(dir, dest).files.keys()]).toHaveLength(300);

    // Again, with --wait-lock: the second run waits, then finds the first run's work done.
    const changed = Object.keys(files).slice(0, 30);
    for (const rel of changed) appendFileSync(path.join(dir, rel), 'v2');
    const third = startCli(['push', dir, dest, '--json'], server);
    await waitForLock(dir);
    third.child.kill('SIGSTOP');
    let fourth: ReturnType<typeof startCli>;
    try {
      fourth = startCli(['push', dir, dest, '--json', '--wait-lock'], server);
      await sleep(1500);
      // Still there: waiting for the lock rather than failing.
      expect(fourth.child.exitCode).toBeNull();
    } finally {
      third.child.kill('SIGCONT');
    }
    const [c, d] = await Promise.all([third.done, fourth.done]);
    expect(c.code).toBe(0);
    expect(c.summary).toMatchObject({ uploaded: 30 });
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    expect(d.summary).toMatchObject({ uploaded: 0, failed: 0 });
    expect(d.summary!.requests.PutObject).toBeUndefined();

    const m = readManifest(dir, dest);
    expect([...m.files.keys()]).toHaveLength(300);
    // No lock or temp file left: only the manifest, and the change mark its uploads wrote.
    const left = readdirSync(stateDir(dir)).filter((n) => n !== path.basename(manifestPath(dir, dest)));
    expect(left).toEqual([expect.stringMatching(/^deletions-[0-9a-f]{12}\.json$/)]);
    const remote = await transport.list('l/');
    const local = treeHashes(dir);
    expect(remote.size).toBe(300);
    for (const rel of changed) expect(remote.get(rel)?.etag).toBe(local[rel]);
  });

  it('two pushes started at the same moment: never both at once, the manifest stays valid', async () => {
    const dir = newDir('race');
    const files: Record<string, number> = {};
    for (let i = 0; i < 300; i++) files[`h${i % 7}/f${i}.dat`] = 128 + i;
    writeTree(dir, files);
    const { bucket, transport } = await newBucket(server, 'race');
    const dest = `s3://${bucket}/z`;
    const runs = await Promise.all([
      startCli(['push', dir, dest, '--json'], server).done,
      startCli(['push', dir, dest, '--json'], server).done,
    ]);
    const codes = runs.map((r) => r.code).sort();
    // Either one found the other holding the lock, or one started after the other had finished.
    expect([
      [0, 0],
      [0, 2],
    ]).toContainEqual(codes);
    for (const r of runs) {
      if (r.code === 2) expectOneLineError(r, /--wait-lock/);
      else expect(r.summary).toMatchObject({ failed: 0 });
    }
    expect(runs.reduce((sum, r) => sum + (r.summary?.uploaded ?? 0), 0)).toBe(300);
    expect([...readManifest(dir, dest).files.keys()]).toHaveLength(300);
    expect((await transport.list('z/')).size).toBe(300);
  });

  describe('errors are one line with exit code 2', () => {
    it('a bucket that does not exist', async () => {
      const dir = newDir('nobucket');
      writeTree(dir, { 'a.txt': 'a' });
      const r = await runCli(['push', dir, `s3://s3sync-missing-${process.pid}-${Date.now()}/p`], server);
      expectOneLineError(r, /does not exist/);
    });

    // s3rver only looks up the access key id (it does not check SigV4 signatures): a wrong secret is
    // accepted there, so that half runs on servers that verify signatures.
    it.skipIf(server.name === 'embedded')('a wrong secret key', async () => {
      const dir = newDir('badkey');
      writeTree(dir, { 'a.txt': 'a' });
      const { bucket, transport } = await newBucket(server, 'badkey');
      const r = await startCli(['push', dir, `s3://${bucket}/p`], server, {
        env: { AWS_SECRET_ACCESS_KEY: 'definitely-not-the-secret-key' },
      }).done;
      expectOneLineError(r, /credentials/);
      expect((await transport.list('')).size).toBe(0);
    });

    it('an unknown access key id', async () => {
      const dir = newDir('badid');
      writeTree(dir, { 'a.txt': 'a' });
      const { bucket, transport } = await newBucket(server, 'badid');
      const r = await startCli(['push', dir, `s3://${bucket}/p`], server, {
        env: { AWS_ACCESS_KEY_ID: 'NOSUCHACCESSKEYID0000' },
      }).done;
      expectOneLineError(r, /credentials/);
      expect((await transport.list('')).size).toBe(0);
    });

    it('a source directory that does not exist', async () => {
      const missing = path.join(newDir('nosrc'), 'not-here');
      const { bucket } = await newBucket(server, 'nosrc');
      const r = await runCli(['push', missing, `s3://${bucket}/p`], server);
      expectOneLineError(r, /does not exist/);
      expect(r.stderr).toContain('not-here');
    });
  });

  it('a file that changes during its upload is retried at the end and recorded as it is then', async () => {
    const dir = newDir('changing');
    writeTree(dir, { 'log.txt': 'line 1\n', 'steady.txt': 'steady\n' });
    const { bucket, transport } = await newBucket(server, 'changing');
    const dest = `s3://${bucket}/c`;
    const abs = path.join(dir, 'log.txt');
    let current = '';
    let changes = 0;
    const events: SyncEvent[] = [];
    const result = await push({
      ...connFor(server),
      source: dir,
      destination: dest,
      workers: 1,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'start') current = e.rel;
        // 'bytes' comes after the PUT and before the check that the file held still: append right there.
        if (e.type === 'bytes' && current === 'log.txt' && changes === 0) {
          changes++;
          appendFileSync(abs, 'line 2\n');
        }
      },
    });
    expect(changes).toBe(1);
    expect(result).toMatchObject({ uploaded: 2, failed: 0, outcome: 'ok' });
    expect(result.requests.PutObject).toBe(3);
    const remote = await transport.list('c/');
    expect(remote.get('log.txt')?.etag).toBe(md5('line 1\nline 2\n'));
    expect(readManifest(dir, dest).files.get('log.txt')).toMatchObject({
      md5: md5('line 1\nline 2\n'),
      size: 14,
    });

    // One that never stops changing: reported after its retry, not recorded, exit code 1.
    appendFileSync(abs, 'line 3\n');
    const result2 = await push({
      ...connFor(server),
      source: dir,
      destination: dest,
      workers: 1,
      onEvent: (e) => {
        if (e.type === 'start') current = e.rel;
        if (e.type === 'bytes' && current === 'log.txt') appendFileSync(abs, 'more\n');
      },
    });
    expect(result2).toMatchObject({ uploaded: 0, failed: 1, outcome: 'failed' });
    expect(result2.errors).toEqual([{ rel: 'log.txt', message: expect.stringMatching(/changed/) }]);
    expect(result2.requests.PutObject).toBe(2);
    // The entry still describes what the first run uploaded: the next run sees the size change again.
    expect(readManifest(dir, dest).files.get('log.txt')).toMatchObject({
      md5: md5('line 1\nline 2\n'),
      size: 14,
    });
  });

  it('a multipart file rewritten between its hash and a later part is retried, not failed', async () => {
    const dir = newDir('mpchange');
    const abs = path.join(dir, 'grow.bin');
    writePatternFile(abs, 12 * MiB, 9);
    const { bucket, transport } = await newBucket(server, 'mpchange');
    const dest = `s3://${bucket}/g`;
    let sent = 0;
    const result = await push({
      ...connFor(server),
      source: dir,
      destination: dest,
      multipartThreshold: 5 * MiB,
      partSize: 5 * MiB,
      // One request at a time: part 3's body is opened only after part 1 has been sent.
      workers: 1,
      onEvent: (e) => {
        // Bytes are reported as they go: part 1 is all handed over once 5 MiB are.
        if (e.type !== 'bytes' || sent >= 5 * MiB) return;
        sent += e.bytes;
        if (sent < 5 * MiB) return;
        // After part 1: change a byte inside part 3 (its Content-MD5, computed from the hash, no longer
        // matches what will be sent: servers that check it answer BadDigest) and grow the file.
        const fd = openSync(abs, 'r+');
        writeSync(fd, Buffer.from([0x5a]), 0, 1, 11 * MiB);
        closeSync(fd);
        appendFileSync(abs, 'tail');
      },
    });
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ uploaded: 1, failed: 0, outcome: 'ok' });
    // The first attempt was abandoned (aborted: a file that changed is no upload to keep), the second
    // (after the run's other work) completed.
    expect(result.requests.CreateMultipartUpload).toBe(2);
    expect(result.requests.AbortMultipartUpload).toBe(1);
    expect(result.requests.CompleteMultipartUpload).toBe(1);
    const h = await hashFile(abs, [5 * MiB]);
    const expected = server.quirks.multipartEtagIsWholeMd5 ? h.md5 : h.multipart[5 * MiB]!;
    expect((await transport.list('g/')).get('grow.bin')).toMatchObject({
      size: 12 * MiB + 4,
      etag: expected,
    });
    const m = readManifest(dir, dest);
    expect(m.files.get('grow.bin')).toMatchObject({ md5: h.md5, size: 12 * MiB + 4 });
    expect(m.pending).toEqual({});
  });

  // Between the planner's hash and the PUT: the bytes to send are no longer the bytes hashed.
  it.each([
    ['rewritten in place', 'poke'],
    ['grown', 'append'],
  ] as const)(
    'a streamed (8 MiB+) file %s after its hash, before its PUT, is retried, not failed',
    async (_, how) => {
      const dir = newDir('midchange');
      const abs = path.join(dir, 'mid.bin');
      writePatternFile(abs, 10 * MiB, 4);
      ageTree(dir);
      const { bucket, transport } = await newBucket(server, 'midchange');
      const dest = `s3://${bucket}/mc`;
      const opts = { ...connFor(server), source: dir, destination: dest };
      expect(await push(opts)).toMatchObject({ uploaded: 1, outcome: 'ok' });

      // Same size, new bytes: the planner hashes it (stat changed) and the upload reuses that hash.
      const poke = (offset: number, byte: number, mtime: number) => {
        const fd = openSync(abs, 'r+');
        writeSync(fd, Buffer.from([byte]), 0, 1, offset);
        closeSync(fd);
        utimesSync(abs, mtime, mtime);
      };
      poke(1 * MiB, 0x11, Date.now() / 1000 - 1800);
      let poked = false;
      const result = await push({
        ...opts,
        onEvent: (e) => {
          if (e.type === 'start' && e.rel === 'mid.bin' && !poked) {
            poked = true;
            if (how === 'poke') poke(9 * MiB, 0x22, Date.now() / 1000 - 900);
            else appendFileSync(abs, 'grown');
          }
        },
      });
      expect(poked).toBe(true);
      expect(result.errors).toEqual([]);
      expect(result).toMatchObject({ uploaded: 1, failed: 0, outcome: 'ok' });
      const now = md5(readFileSync(abs));
      expect((await transport.list('mc/')).get('mid.bin')).toMatchObject({
        etag: now,
        size: statSync(abs).size,
      });
      expect(readManifest(dir, dest).files.get('mid.bin')).toMatchObject({
        md5: now,
        size: statSync(abs).size,
      });
    },
  );

  it('an unreadable file is reported, the others uploaded, exit code 1', async () => {
    const dir = newDir('unreadable');
    const files = { 'ok1.txt': 'one', 'sub/ok2.txt': 'two', 'secret.txt': 'no peeking' };
    writeTree(dir, files);
    chmodSync(path.join(dir, 'secret.txt'), 0o000);
    // Root reads mode-000 files anyway: as root, run the CLI as 'nobody' (owning the tree) instead.
    const asRoot = process.getuid?.() === 0;
    const nobody = 65534;
    if (asRoot) {
      for (const rel of ['', 'sub', ...Object.keys(files)]) chownSync(path.join(dir, rel), nobody, nobody);
    }
    const { bucket, transport } = await newBucket(server, 'unreadable');
    const dest = `s3://${bucket}/u`;
    const r = await startCli(
      ['push', dir, dest, '--json'],
      server,
      asRoot ? { uid: nobody, gid: nobody, env: { HOME: dir } } : {},
    ).done;
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ uploaded: 2, failed: 1 });
    expect(r.summary!.errors).toEqual([{ rel: 'secret.txt', message: expect.stringMatching(/permission/) }]);
    expect(r.events.filter((e) => e.type === 'error').map((e) => (e as { rel?: string }).rel)).toEqual([
      'secret.txt',
    ]);
    expect([...(await transport.list('u/')).keys()].sort()).toEqual(['ok1.txt', 'sub/ok2.txt']);
    expect(readManifest(dir, dest).files.get('secret.txt')).toBeUndefined();
  });

  it('stores x-amz-meta-md5 and x-amz-meta-mtime on single and multipart uploads', async () => {
    const dir = newDir('meta');
    writeTree(dir, { 'small.txt': 'metadata please\n' });
    writePatternFile(path.join(dir, 'multi.bin'), 6 * MiB, 5);
    const { bucket, transport } = await newBucket(server, 'meta');
    const r = await pushCli(
      dir,
      `s3://${bucket}/meta`,
      '--multipart-threshold',
      '5MiB',
      '--part-size',
      '5MiB',
    );
    expect(r.code).toBe(0);
    expect(r.summary!.requests).toMatchObject({ PutObject: 1, UploadPart: 2 });
    for (const rel of ['small.txt', 'multi.bin']) {
      const abs = path.join(dir, rel);
      const ns = mtimeNsOf(abs);
      const head = await transport.head(`meta/${rel}`);
      expect(head).not.toBeNull();
      expect(head!.metadata.md5).toBe(md5(readFileSync(abs)));
      // rclone's format: seconds with a nine-digit nanosecond fraction.
      expect(head!.metadata.mtime).toBe(
        `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`,
      );
    }
  });
});
