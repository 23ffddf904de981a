import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printable } from '../../src/escape.js';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  doneOf,
  editSameSize,
  MiB,
  newBucket,
  plainLines,
  pushedSmallFiles,
  runCli,
  seedObject,
  servers,
  spawnCli,
  summaryOf,
  tempDir,
  tempFolders,
  treeHashes,
  waitFor,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/** A proxy that inverts the first byte of GetObject bodies: `onlyFirst`, of each object's first GET. */
async function flippingProxy(target: string, onlyFirst: boolean): Promise<FaultProxy> {
  const seen = new Set<string>();
  const p = await startFaultProxy({
    target,
    seed: 11,
    rate: 1,
    kinds: ['flip-body'],
    filter: ({ method, url }) => {
      if (method !== 'GET' || !url.includes('x-id=GetObject')) return false;
      if (!onlyFirst) return true;
      const first = !seen.has(url);
      seen.add(url);
      return first;
    },
  });
  proxies.push(p);
  return p;
}

/** Puts an object directly, bypassing s3sync (keys and contents it would never write itself). */
const seed = seedObject;

/** Every path (files and directories) below dir, relative, '/'-separated. */
function allPaths(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(path.join(abs, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** A pull never leaves temp files under real names, nor leftovers in its temp folder. */
function expectNoTempFiles(dir: string): void {
  const stray = allPaths(dir).filter((p) => !p.startsWith('.s3sync/') && p.endsWith('.part'));
  expect(stray).toEqual([]);
  const tmp = path.join(dir, '.s3sync', 'tmp');
  if (existsSync(tmp)) expect(readdirSync(tmp)).toEqual([]);
}

const dones = (events: SyncEvent[], action: string) =>
  events
    .filter((e): e is Extract<SyncEvent, { type: 'done' }> => e.type === 'done' && e.action === action)
    .map((e) => ({ rel: e.rel, reason: e.reason }))
    .sort((a, b) => (a.rel < b.rel ? -1 : 1));

/** Keys s3sync must carry through push and pull unchanged. */
const ODD_NAMES = {
  'with space.txt': 'spaces in the name\n',
  'ünïcødé/日本語 ファイル.txt': 'unicode names\n',
  'plus+percent%amp&eq=.txt': 'reserved URL characters\n',
  'dir with space/a+b=c&d%20e.txt': 'nested reserved characters\n',
};

describe.each(servers())('pull on $name', (server) => {
  it('reproduces a pushed tree byte for byte, then a second pull and a push make no transfers', async () => {
    const { bucket } = await newBucket(server, 'pull');
    const src = tempDir('pull-src');
    writeTree(src, {
      'a.txt': 'alpha\n',
      'empty.txt': '',
      'dir/sub/b.bin': 100_000,
      'big.bin': 12 * MiB + 12345,
      ...ODD_NAMES,
    });
    const url = `s3://${bucket}/data`;
    const pushed = await runCli(
      ['push', src, url, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json'],
      server,
    );
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    expect(pushed.summary?.uploaded).toBe(8);
    expect(pushed.summary?.requests.CreateMultipartUpload).toBe(1);
    expect(pushed.summary?.requests.UploadPart).toBe(3);

    const dst = path.join(tempDir('pull-dst'), 'restore'); // created by pull
    const pulled = await runCli(['pull', url, dst, '--json'], server);
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.summary).toMatchObject({ downloaded: 8, failed: 0, deleted: 0 });
    expect(pulled.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 8 });
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    expect(dones(pulled.events, 'download').every((d) => d.reason === 'new')).toBe(true);
    expectNoTempFiles(dst);
    // The mtime travels in x-amz-meta-mtime and is restored.
    for (const rel of ['a.txt', 'big.bin', 'ünïcødé/日本語 ファイル.txt']) {
      expect(
        Math.abs(statSync(path.join(dst, rel)).mtimeMs - statSync(path.join(src, rel)).mtimeMs),
      ).toBeLessThan(1);
    }

    const again = await runCli(['pull', url, dst, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 0, recorded: 0, unchanged: 8, failed: 0 });
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1 });
    expectNoTempFiles(dst);

    // The manifest the pull wrote vouches for every file: pushing the same tree back costs nothing.
    const back = await runCli(['push', dst, url, '--json'], server);
    expect(back.code).toBe(0);
    expect(back.summary).toMatchObject({ uploaded: 0, recorded: 0, unchanged: 8, requestsTotal: 0 });
    expect(back.summary?.requests).toEqual({});
  });

  it('fetches a large object as parallel ranges', async () => {
    const { bucket } = await newBucket(server, 'ranges');
    const src = tempDir('ranges-src');
    writeTree(src, { 'big.bin': 12 * MiB + 7, 'small.txt': 'small\n' });
    const url = `s3://${bucket}/r`;
    const pushed = await runCli(
      ['push', src, url, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json'],
      server,
    );
    expect(pushed.code).toBe(0);

    const dst = tempDir('ranges-dst');
    const pulled = await runCli(
      ['pull', url, dst, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json'],
      server,
    );
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.summary?.downloaded).toBe(2);
    // 3 ranges of at most 5 MiB for big.bin, one GET for small.txt.
    expect(pulled.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 4 });
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    expectNoTempFiles(dst);
    expect(statSync(path.join(dst, 'big.bin')).mtimeMs).toBeCloseTo(
      statSync(path.join(src, 'big.bin')).mtimeMs,
      0,
    );
  });

  it('two pulls of other prefixes into one folder at once each keep their temp files: both succeed', async () => {
    const { bucket, transport } = await newBucket(server, 'twopulls');
    const big = randomBytes(8 * MiB);
    await seed(transport, 'slow/big.bin', big);
    await seed(transport, 'fast/b.txt', 'b');
    const dst = tempDir('twopulls');
    const ranged = ['--multipart-threshold', '1MiB', '--part-size', '1MiB', '--workers', '2'];
    const slow = spawnCli(
      ['pull', `s3://${bucket}/slow`, dst, ...ranged, '--bwlimit', '2MiB', '--json'],
      server,
    );
    // Under way: its temp folder holds the ranged download when the other pull starts and ends.
    const busy = () => tempFolders(dst).some((t) => readdirSync(t).length > 0);
    expect(await waitFor(busy, slow)).toBe(true);
    const fast = await runCli(['pull', `s3://${bucket}/fast`, dst, '--json'], server);
    expect(fast.code, fast.stderr).toBe(0);
    expect(busy()).toBe(true);
    const { code } = await slow.exited;
    expect(code, slow.stderr()).toBe(0);
    expect(readFileSync(path.join(dst, 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(path.join(dst, 'b.txt'), 'utf8')).toBe('b');
    expect(tempFolders(dst)).toEqual([]);
  });

  it('a file pull replaces keeps its permission bits; a new file takes the umask', async () => {
    const { bucket, transport } = await newBucket(server, 'modes');
    // One small (written at once) and one streamed body each, so both write paths are seen.
    const bodies = (v: string) => ({
      'secret.env': `token=${v}`,
      'run.sh': `#!/bin/sh\necho ${v}\n`,
      'big.bin': Buffer.concat([randomBytes(3 * MiB), Buffer.from(v)]),
    });
    for (const [k, b] of Object.entries(bodies('a'))) await seed(transport, `p/${k}`, b);
    const dst = tempDir('modes');
    const url = `s3://${bucket}/p`;
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    const modes = { 'secret.env': 0o600, 'run.sh': 0o750, 'big.bin': 0o640 };
    for (const [rel, mode] of Object.entries(modes)) chmodSync(path.join(dst, rel), mode);
    for (const [k, b] of Object.entries(bodies('b'))) await seed(transport, `p/${k}`, b);
    await seed(transport, 'p/new.txt', 'new');
    const r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 4, failed: 0 });
    expect(readFileSync(path.join(dst, 'secret.env'), 'utf8')).toBe('token=b');
    const modeOf = (rel: string) => statSync(path.join(dst, rel)).mode & 0o7777;
    for (const [rel, mode] of Object.entries(modes)) expect(modeOf(rel), rel).toBe(mode);
    expect(modeOf('new.txt')).toBe(0o666 & ~process.umask());
  });

  it('a pulled file takes the group a file made in its folder gets (a setgid folder), new or replaced', async (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('[pull] NOTICE: not root: cannot give folders other groups; the setgid test is skipped');
      return ctx.skip();
    }
    const { bucket, transport } = await newBucket(server, 'setgid');
    // Small (written at once) and streamed bodies, new files and one replaced.
    const big = randomBytes(3 * MiB);
    const objects = {
      'top.txt': 'top',
      'shared/new.txt': 'new',
      'shared/exist.txt': 'exist',
      'shared/big.bin': big,
      'shared/plain/p.txt': 'p',
    };
    for (const [k, b] of Object.entries(objects)) await seed(transport, `p/${k}`, b);
    const url = `s3://${bucket}/p`;
    const [rootGroup, sharedGroup] = [65534, 1];
    const groupOf = (at: string, rel: string) => statSync(path.join(at, rel)).gid;

    // The target is setgid (so DIR/.s3sync, made in it, is too), 'shared' setgid of another group, and
    // 'shared/plain' not setgid: a file made there gets the process's group.
    const dst = tempDir('setgid');
    mkdirSync(path.join(dst, 'shared/plain'), { recursive: true });
    chownSync(dst, 0, rootGroup);
    chmodSync(dst, 0o2775);
    chownSync(path.join(dst, 'shared'), 0, sharedGroup);
    chmodSync(path.join(dst, 'shared'), 0o2775);
    chmodSync(path.join(dst, 'shared/plain'), 0o755);
    writeFileSync(path.join(dst, 'shared/exist.txt'), 'old');
    chownSync(path.join(dst, 'shared/exist.txt'), 0, sharedGroup);
    chmodSync(path.join(dst, 'shared/exist.txt'), 0o664);
    const r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 5, failed: 0 });
    const groups = Object.fromEntries(Object.keys(objects).map((rel) => [rel, groupOf(dst, rel)]));
    expect(groups).toEqual({
      'top.txt': rootGroup,
      'shared/new.txt': sharedGroup,
      'shared/exist.txt': sharedGroup,
      'shared/big.bin': sharedGroup,
      'shared/plain/p.txt': process.getgid?.(),
    });
    expect(statSync(path.join(dst, 'shared/exist.txt')).mode & 0o7777).toBe(0o664);

    // A user not in the folder's group cannot give a file that group, but a file it makes there gets
    // it: such a folder's downloads are written in it (as rsync writes every temp file).
    const nobody = { uid: 65534, gid: 65534 };
    const probe = spawnSync('true', [], nobody);
    if (probe.error || probe.status !== 0) {
      console.warn('[pull] NOTICE: cannot switch to nobody: the setgid case of another group is skipped');
      return;
    }
    const other = tempDir('setgid-other');
    chmodSync(other, 0o755);
    chownSync(other, nobody.uid, nobody.gid);
    mkdirSync(path.join(other, 'shared'));
    chownSync(path.join(other, 'shared'), 0, sharedGroup);
    chmodSync(path.join(other, 'shared'), 0o2777);
    // Its own home: root's AWS config is not nobody's to read.
    const home = tempDir('setgid-home');
    chownSync(home, nobody.uid, nobody.gid);
    const asNobody = await runCli(['pull', url, other, '--json'], server, { ...nobody, env: { HOME: home } });
    expect(asNobody.code, asNobody.stderr).toBe(0);
    expect(readFileSync(path.join(other, 'shared/big.bin')).equals(big)).toBe(true);
    for (const rel of ['shared/new.txt', 'shared/exist.txt', 'shared/big.bin'])
      expect(groupOf(other, rel), rel).toBe(sharedGroup);
    expect(groupOf(other, 'top.txt')).toBe(nobody.gid);
    expect(readdirSync(path.join(other, 'shared')).filter((n) => n.endsWith('.part'))).toEqual([]);
  });

  it("two pulls of other prefixes into one tree never remove each other's temp files beside their files", async (ctx) => {
    // A setgid folder of a group the user is not in: its downloads are written beside their files, as
    // in a folder on another mount; no mount needed.
    const nobody = { uid: 65534, gid: 65534 };
    const probe = spawnSync('true', [], nobody);
    if (process.getuid?.() !== 0 || probe.error || probe.status !== 0) {
      console.warn('[pull] NOTICE: not root or cannot switch to nobody: the temp files test is skipped');
      return ctx.skip();
    }
    const { bucket, transport } = await newBucket(server, 'beside-two');
    const big = randomBytes(3 * MiB);
    await seed(transport, 'pa/sub/big.bin', big);
    await seed(transport, 'pb/sub/small.txt', 'small');
    await seed(transport, 'pb/top.txt', 'top');
    const dst = tempDir('beside-two');
    chmodSync(dst, 0o755);
    chownSync(dst, nobody.uid, nobody.gid);
    const sub = path.join(dst, 'sub');
    mkdirSync(sub);
    chownSync(sub, 0, 1);
    chmodSync(sub, 0o2777);
    const home = tempDir('beside-two-home');
    chownSync(home, nobody.uid, nobody.gid);
    const as = { ...nobody, env: { HOME: home } };
    const parts = () => readdirSync(sub).filter((n) => n.endsWith('.s3sync.part'));
    const a = spawnCli(['pull', `s3://${bucket}/pa`, dst, '--bwlimit', '1MiB', '--json'], server, as);
    expect(await waitFor(() => parts().length > 0, a, 30_000)).toBe(true);
    const b = await runCli(['pull', `s3://${bucket}/pb`, dst, '--json'], server, as);
    expect(b.code, b.stderr).toBe(0);
    expect(parts()).toHaveLength(1);
    const { code } = await a.exited;
    expect(code, a.stderr()).toBe(0);
    expect(summaryOf(a.events)).toMatchObject({ downloaded: 1, failed: 0 });
    expect(readFileSync(path.join(sub, 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(path.join(sub, 'small.txt'), 'utf8')).toBe('small');
    expect(parts()).toEqual([]);
  });

  it('an x-amz-meta-mtime no file can have falls back to LastModified, never failing the pull', async () => {
    const { bucket, transport } = await newBucket(server, 'mtime-meta');
    const valid = { '1.5': 1500, '1700000000.25': 1_700_000_000_250, ' 12': 12_000, '0': 0, '-1': -1000 };
    const invalid = [
      '1e20',
      '1e9',
      '0x10',
      '0b1',
      '1.',
      '99999999999999999999',
      '253402300800',
      '-2147483649',
      'abc',
      'NaN',
      'Infinity',
      '',
    ];
    const metas = [...Object.keys(valid), ...invalid];
    const started = Date.now();
    for (const [i, mtime] of metas.entries()) await seed(transport, `m/f${i}`, `file ${i}`, { mtime });
    // A body the streamed path writes (above the small-object size), with a value utimes rejects.
    await seed(transport, 'm/big', randomBytes(3 * MiB), { mtime: '1e20' });
    const dst = tempDir('mtime-meta');
    const url = `s3://${bucket}/m`;
    const r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: metas.length + 1, failed: 0 });
    for (const [i, mtime] of metas.entries()) {
      const ms = statSync(path.join(dst, `f${i}`)).mtimeMs;
      const want = valid[mtime as keyof typeof valid];
      if (want !== undefined) expect(ms, mtime).toBeCloseTo(want, 0);
      else expect(Math.abs(ms - started), mtime).toBeLessThan(120_000);
    }
    expect(Math.abs(statSync(path.join(dst, 'big')).mtimeMs - started)).toBeLessThan(120_000);
    const again = await runCli(['pull', url, dst, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 0, failed: 0 });
  });

  it('keeps a file time of 1970-01-01 and one before it through a push and a pull', async () => {
    const { bucket } = await newBucket(server, 'mtime-epoch');
    const src = tempDir('epoch-src');
    writeTree(src, { 'zero.txt': 'zero', 'before.txt': 'before' });
    utimesSync(path.join(src, 'zero.txt'), 0, 0);
    // A Date: Node's utimes takes a negative number of seconds as now.
    utimesSync(path.join(src, 'before.txt'), new Date(-1500), new Date(-1500));
    expect(statSync(path.join(src, 'before.txt')).mtimeMs).toBe(-1500);
    const url = `s3://${bucket}/e`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('epoch-dst');
    const r = await runCli(['pull', url, dst], server);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(path.join(dst, 'zero.txt')).mtimeMs).toBe(0);
    expect(statSync(path.join(dst, 'before.txt')).mtimeMs).toBe(-1500);
    // Both ends settled: nothing moves again.
    expect((await runCli(['push', src, url], server)).stdout).toMatch(/ 0 uploaded, .* 0 S3 requests/s);
    expect((await runCli(['pull', url, dst], server)).stdout).toMatch(/ 2 unchanged, 0 downloaded, /);
  });

  it('keeps a file time in its own second through a push and a pull, to the microsecond', async () => {
    const { bucket } = await newBucket(server, 'mtime-second');
    const src = tempDir('second-src');
    const times = {
      'last.txt': '2026-03-08 06:59:59.999999999 UTC',
      'odd.txt': '2026-03-08 06:59:58.000001 UTC',
    };
    writeTree(src, { 'last.txt': 'last', 'odd.txt': 'odd' });
    for (const [name, when] of Object.entries(times))
      expect(spawnSync('touch', ['-d', when, path.join(src, name)]).status).toBe(0);
    const url = `s3://${bucket}/s`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('second-dst');
    const r = await runCli(['pull', url, dst], server);
    expect(r.code, r.stderr).toBe(0);
    const ns = (name: string) => statSync(path.join(dst, name), { bigint: true }).mtimeNs;
    expect(ns('last.txt')).toBe(1772953199_999999000n);
    expect(ns('odd.txt')).toBe(1772953198_000001000n);
    expect((await runCli(['pull', url, dst], server)).stdout).toMatch(/ 2 unchanged, 0 downloaded, /);
  });

  it('downloads exactly the object that changed remotely', async () => {
    const { bucket, transport } = await newBucket(server, 'changed');
    const src = tempDir('changed-src');
    writeTree(src, { 'a.txt': 'aaaa', 'b.txt': 'bbbb', 'c/c.txt': 'cccc', 'd.txt': 'dddd' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('changed-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);

    // Re-uploaded from another directory with different content (and size).
    const other = tempDir('changed-other');
    writeTree(other, { 'b.txt': 'a longer b\n' });
    expect((await runCli(['push', other, url], server)).code).toBe(0);
    let r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code).toBe(0);
    expect(dones(r.events, 'download')).toEqual([{ rel: 'b.txt', reason: 'remote-changed' }]);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 1 });
    expect(readFileSync(path.join(dst, 'b.txt'), 'utf8')).toBe('a longer b\n');

    // Overwritten behind s3sync's back with the same size: the ETag gives it away.
    await seed(transport, 'p/c/c.txt', 'CCCC');
    r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code).toBe(0);
    expect(dones(r.events, 'download')).toEqual([{ rel: 'c/c.txt', reason: 'remote-changed' }]);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 1 });
    expect(readFileSync(path.join(dst, 'c/c.txt'), 'utf8')).toBe('CCCC');
    expect(readFileSync(path.join(dst, 'a.txt'), 'utf8')).toBe('aaaa');
    expectNoTempFiles(dst);

    // Edited locally, the object as the last pull left it: the download replaces the edit, and says so.
    writeFileSync(path.join(dst, 'a.txt'), 'AAAA');
    writeFileSync(path.join(dst, 'd.txt'), 'a longer local d\n');
    const dry = await runCli(['pull', url, dst, '--dry-run'], server);
    expect(dry.code).toBe(0);
    expect(
      plainLines(dry.stdout)
        .filter((l) => l.startsWith('(dry run) download'))
        .sort(),
    ).toEqual(['(dry run) download a.txt [local-changed]', '(dry run) download d.txt [local-changed]']);
    r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code).toBe(0);
    expect(dones(r.events, 'download').sort((x, y) => x.rel.localeCompare(y.rel))).toEqual([
      { rel: 'a.txt', reason: 'local-changed' },
      { rel: 'd.txt', reason: 'local-changed' },
    ]);
    expect(readFileSync(path.join(dst, 'a.txt'), 'utf8')).toBe('aaaa');
  });

  it('a prefix with no object (a misspelt one), or none the filters select: exit 0, and said', async () => {
    const { bucket, transport } = await newBucket(server, 'nothing');
    await seed(transport, 'backups/a.txt', 'a');
    const dst = tempDir('nothing-dst');
    const notices = (events: { type: string }[]) =>
      events.filter((e) => e.type === 'notice').map((e) => String((e as { message?: string }).message));
    const typo = await runCli(['pull', `s3://${bucket}/bakcups`, dst, '--json'], server);
    expect(typo.code).toBe(0);
    expect(notices(typo.events)).toEqual([`nothing to pull: no object under s3://${bucket}/bakcups/`]);
    const none = await runCli(['pull', `s3://${bucket}/backups`, dst, '--exclude', '*.txt'], server);
    expect(none.code).toBe(0);
    expect(none.stderr).toContain(
      `notice: nothing to pull: no object under s3://${bucket}/backups/ is selected by the filters`,
    );
    // One to pull: no such notice.
    const one = await runCli(['pull', `s3://${bucket}/backups`, dst, '--json'], server);
    expect(one.code).toBe(0);
    expect(notices(one.events)).toEqual([]);
    expect(readFileSync(path.join(dst, 'a.txt'), 'utf8')).toBe('a');
  });

  it('writes no byte that does not match the ETag, and fetches a body damaged once again', async () => {
    const { bucket } = await newBucket(server, 'flip');
    const src = tempDir('flip-src');
    // Below 1 MiB (checked in memory, then written) and above it (checked as it is written).
    writeTree(src, { 'small.txt': 'small body\n', 'd/mid.bin': 2 * MiB });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);

    // Every body damaged: each file fails after its retries, and nothing is left under a real name.
    const always = await flippingProxy(server.endpoint, false);
    const dst = tempDir('flip-dst');
    const bad = await runCli(['pull', url, dst, '--endpoint-url', always.endpoint, '--json'], server);
    expect(bad.code).toBe(1);
    expect(bad.summary).toMatchObject({ downloaded: 0, failed: 2 });
    const errors = bad.events
      .filter((e): e is Extract<SyncEvent, { type: 'error' }> => e.type === 'error')
      .map((e) => e.message)
      .sort();
    expect(errors).toEqual([
      'd/mid.bin: downloaded bytes do not match the object ETag (on every attempt)',
      'small.txt: downloaded bytes do not match the object ETag (on every attempt)',
    ]);
    expect(allPaths(dst).filter((p) => !p.startsWith('.s3sync'))).toEqual(['d']);
    expectNoTempFiles(dst);
    expect(always.stats.faults['flip-body']).toBeGreaterThan(2);

    // Each object's first answer damaged: the retry gets the right bytes.
    const once = await flippingProxy(server.endpoint, true);
    const good = await runCli(['pull', url, dst, '--endpoint-url', once.endpoint, '--json'], server);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 4 });
    expect(once.stats.faults['flip-body']).toBe(2);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    expectNoTempFiles(dst);
  });

  it('overwrites a same-size local edit (local-changed) but only records a touched file', async () => {
    const { bucket } = await newBucket(server, 'local');
    const src = tempDir('local-src');
    writeTree(src, { 'edit.txt': 'original', 'touch.txt': 'touched', 'keep.txt': 'keep' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('local-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);

    writeFileSync(path.join(dst, 'edit.txt'), 'ORIGINAL'); // same size, other bytes
    const past = new Date('2001-02-03T04:05:06Z');
    utimesSync(path.join(dst, 'touch.txt'), past, past); // stat changes, content does not

    const r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(dones(r.events, 'download')).toEqual([{ rel: 'edit.txt', reason: 'local-changed' }]);
    expect(r.summary).toMatchObject({ downloaded: 1, recorded: 1, unchanged: 1, failed: 0 });
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 1 });
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    // The touched file keeps its local mtime: nothing was written to it.
    expect(statSync(path.join(dst, 'touch.txt')).mtimeMs).toBe(past.getTime());

    // What was recorded is now trusted from stat data alone.
    const again = await runCli(['pull', url, dst, '--json'], server);
    expect(again.summary).toMatchObject({ downloaded: 0, recorded: 0, unchanged: 3 });
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1 });
    expectNoTempFiles(dst);
  });

  it('writes nothing outside the target for hostile keys, reports each one and exits 1', async () => {
    const { bucket, transport } = await newBucket(server, 'hostile');
    const all = [
      'p/../escape', // rel '../escape'
      'p//abs', // rel '/abs'
      'p/a/../../b',
      'p/./dot',
      'p/a', // 'a' and 'a/b': a file that is also a directory
      'p/a/b',
      'p/back\\slash',
      'p/x/..',
      'p/..',
    ];
    // Server deviation: s3rver resolves dot segments in the request path before storing ('p/../escape'
    // is stored as 'escape') and answers 404 for '//'; only Ceph RGW keeps those keys verbatim.
    const hostile = server.name === 'embedded' ? all.filter((k) => !/\/\.{1,2}\/|\/\//.test(k)) : all;
    for (const key of hostile) await seed(transport, key, `evil ${key}\n`);
    await seed(transport, 'p/good.txt', 'good\n');
    await seed(transport, 'p/dir/ok.txt', 'ok\n');
    const listed = [...(await transport.list('p/')).values()].map((o) => o.key).sort();
    // The server stored every hostile key verbatim (else this test would prove nothing).
    expect(listed).toEqual([...hostile, 'p/good.txt', 'p/dir/ok.txt'].sort());

    const parent = tempDir('hostile-parent');
    const target = path.join(parent, 'target');
    const r = await runCli(['pull', `s3://${bucket}/p`, target], server);
    expect(r.code).toBe(1);
    // Nothing outside the target; inside it only the good keys (and s3sync's state folder).
    expect(readdirSync(parent)).toEqual(['target']);
    expect(allPaths(target).filter((p) => p !== '.s3sync' && !p.startsWith('.s3sync/'))).toEqual([
      'dir',
      'dir/ok.txt',
      'good.txt',
    ]);
    expect(readFileSync(path.join(target, 'good.txt'), 'utf8')).toBe('good\n');
    expect(readFileSync(path.join(target, 'dir/ok.txt'), 'utf8')).toBe('ok\n');
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    // Named by the path under the prefix, as every event names a file, and as printed: a backslash
    // shows as '\\', like every escape (see src/escape.ts).
    const relOf = (key: string) => key.slice('p/'.length);
    for (const key of hostile) {
      expect(
        errorLines.some((l) =>
          l.startsWith(`error: ${printable(relOf(key))}: unsafe object key, not written: `),
        ),
        `no error line names ${key}`,
      ).toBe(true);
    }
    expect(errorLines).toHaveLength(hostile.length);
    expectNoTempFiles(target);

    // --json: one error event per hostile key, the good keys downloaded.
    const target2 = path.join(parent, 'target2');
    const j = await runCli(['pull', `s3://${bucket}/p`, target2, '--json'], server);
    expect(j.code).toBe(1);
    const errors = j.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(hostile.length);
    expect(errors.map((e) => e.rel).sort()).toEqual(hostile.map(relOf).sort());
    expect(j.summary).toMatchObject({ downloaded: 2, failed: hostile.length });
    expect(j.summary!.errors.map((e) => e.rel).sort()).toEqual(hostile.map(relOf).sort());
    expect(readdirSync(parent).sort()).toEqual(['target', 'target2']);
  });

  it('skips folder placeholders, and says so for one that holds bytes', async () => {
    const { bucket, transport } = await newBucket(server, 'placeholders');
    await seed(transport, 'p/d/', '');
    await seed(transport, 'p/e/', 'bytes');
    await seed(transport, 'p/d/in.txt', 'in');
    const dst = tempDir('placeholders');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.type === 'notice').map((e) => e.message)).toEqual([
      "p/e/: a key ending in '/' holds 5 bytes; no file can have its name: skipped",
    ]);
    expect(r.summary).toMatchObject({ scanned: 1, downloaded: 1, failed: 0 });
    expect(allPaths(dst).filter((p) => !p.startsWith('.s3sync'))).toEqual(['d', 'd/in.txt']);
  });

  it('a folder marker or a refused key beside a file does not keep the file from being pulled', async () => {
    const { bucket, transport } = await newBucket(server, 'marker-file');
    await seed(transport, 'p/a', 'A');
    await seed(transport, 'p/a/', '');
    await seed(transport, 'p/b', 'B');
    await seed(transport, 'p/b/', 'bytes');
    await seed(transport, 'p/e', 'E');
    await seed(transport, 'p/e/back\\slash', 'X');
    // Two real objects in each other's way: still refused, both.
    await seed(transport, 'p/c', 'C');
    await seed(transport, 'p/c/x.txt', 'CX');
    const url = `s3://${bucket}/p`;
    const dst = tempDir('marker-file');
    const errorsOf = (r: { events: SyncEvent[] }) =>
      r.events
        .filter((e) => e.type === 'error')
        .map((e) => [e.rel, e.message])
        .sort();
    const refused = [
      ['c', "c: unsafe object key, not written: is a file but also the directory of 'c/x.txt'"],
      ['c/x.txt', "c/x.txt: unsafe object key, not written: is below 'c', which is also a file"],
      ['e/back\\slash', 'e/back\\slash: unsafe object key, not written: contains a backslash'],
    ];
    const r = await runCli(['pull', url, dst, '--json'], server);
    expect(r.code).toBe(1);
    expect(errorsOf(r)).toEqual(refused);
    expect(r.events.filter((e) => e.type === 'notice').map((e) => e.message)).toEqual([
      "p/b/: a key ending in '/' holds 5 bytes; no file can have its name: skipped",
    ]);
    // The markers are folders, not files: 6 files, each downloaded or failed.
    expect(r.summary).toMatchObject({ scanned: 6, downloaded: 3, failed: 3 });
    expect(allPaths(dst).filter((p) => !p.startsWith('.s3sync'))).toEqual(['a', 'b', 'e']);
    expect(['a', 'b', 'e'].map((f) => readFileSync(path.join(dst, f), 'utf8'))).toEqual(['A', 'B', 'E']);

    // Changed remotely: the next pull updates it, and a plan says the same.
    await seed(transport, 'p/a', 'A, changed');
    const planFile = path.join(tempDir('marker-plan'), 'plan.json');
    const planned = await runCli(['plan', 'pull', url, dst, '--out', planFile, '--json'], server);
    expect(planned.code).toBe(1);
    expect(errorsOf(planned)).toEqual(refused);
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as { actions: { kind: string; rel: string }[] };
    expect(doc.actions.map((a) => [a.kind, a.rel])).toEqual([['download', 'a']]);
    const again = await runCli(['pull', url, dst, '--json'], server);
    expect(again.code).toBe(1);
    expect(errorsOf(again)).toEqual(refused);
    expect(again.summary).toMatchObject({ downloaded: 1, failed: 3 });
    expect(readFileSync(path.join(dst, 'a'), 'utf8')).toBe('A, changed');
  });

  it('leaves no temp files after a pull that fails part-way', async () => {
    const { bucket, transport } = await newBucket(server, 'tmp');
    await seed(transport, 'p/ok.txt', 'ok\n');
    await seed(transport, 'p/blocked/file.txt', randomBytes(1000));
    const dst = tempDir('tmp-dst');
    // A file where a directory must go: that download fails, the other one succeeds.
    writeFileSync(path.join(dst, 'blocked'), 'in the way');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 1 });
    expect(r.events.some((e) => e.type === 'error' && e.rel === 'blocked/file.txt')).toBe(true);
    expect(readFileSync(path.join(dst, 'blocked'), 'utf8')).toBe('in the way');
    expectNoTempFiles(dst);
  });
  it('into hundreds of files it has no manifest for: hashes them all, downloads only same-size edits', async () => {
    const { dir: src, url, rels } = await pushedSmallFiles(server, 'pull-many', 700);
    // Same sizes, other bytes, in several places of the queue.
    const edited = [0, 2, 351, 697, 699].map((i) => rels[i]!);
    editSameSize(src, edited);
    const r = await runCli(['pull', url, src, '--json'], server);
    expect(r.code).toBe(0);
    expect(doneOf(r.events, 'download').sort()).toEqual([...edited].sort());
    expect(summaryOf(r.events)).toMatchObject({ downloaded: edited.length, failed: 0 });
    const again = await runCli(['check', src, url], server);
    expect(again.code).toBe(0);
  });
});
