/**
 * pull onto a file system that cannot set a file's length nor hold holes (fusefat refuses every
 * ftruncate that does not shrink the file, even to the length it has, and every write past the end):
 * --sparse writes the zeros there, and a large object fetched in ranges is written in order, so every
 * file is written whole and the run says nothing of it. A download tried again (a body cut, a failed
 * check) writes a file made anew: fusefat refuses to write one it truncated. Needs root and fusefat;
 * skipped with a notice otherwise.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exitWithin,
  imageFs,
  killLeftRuns,
  type LiveRun,
  MiB,
  md5Hex,
  newBucket,
  plainLines,
  runCli,
  seedObject,
  seenOf,
  servers,
  spawnCli,
  summaryOf,
  tempDir,
  tempFolders,
  waitFor,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const fat = imageFs({
  test: 'no-ftruncate',
  kind: 'FAT32 (fusefat)',
  // Room for the largest test's files at once; each test removes its own.
  size: '96M',
  mkfs: (image) => ['mkfs.vfat', ['-F', '32', image]],
  mountCommand: (image, dir) => ['fusefat', ['-o', 'rw+', image, dir]],
});
const proxies: FaultProxy[] = [];
const children: LiveRun[] = [];
beforeAll(() => fat.mount());
afterAll(async () => {
  killLeftRuns(children);
  for (const p of proxies) await p.close();
  fat.unmount();
});

/** A folder on the FAT image for one pull, removed by the test that made it. */
const onFat = (label: string) => mkdtempSync(path.join(fat.dir, `${label}-`));

/** Random data with zero blocks at `zeros` (offset, length pairs). */
function withZeros(size: number, ...zeros: [number, number][]): Buffer {
  const b = randomBytes(size);
  for (const [at, len] of zeros) b.fill(0, at, at + len);
  return b;
}

const RANGED = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
const WHOLE = ['--multipart-threshold', '64MiB'];

describe.each(servers())('pull without ftruncate on $name', (server) => {
  /** The CLI run onto the image, failed by a timeout of its own rather than left stuck on the driver. */
  async function runOnFat(args: string[]) {
    const run = spawnCli(args, server);
    children.push(run);
    try {
      const { code } = await exitWithin(run, 60_000);
      return { run, code };
    } catch (err) {
      // Stuck on the driver: only its end releases the run (and the umount of afterAll).
      fat.abort();
      run.child.kill('SIGKILL');
      throw err;
    }
  }

  it('--sparse: every file is written whole, ending in zeros or with zeros inside', async (ctx) => {
    if (fat.skipped(ctx)) return;
    const { bucket, transport } = await newBucket(server, 'noftrunc');
    const files: Record<string, Buffer> = {
      'small.bin': randomBytes(64 * 1024),
      'big.bin': randomBytes(3 * MiB),
      // A zero block before the last: left as a hole, the next write would be past the end.
      'middle.bin': withZeros(3 * MiB, [MiB, MiB]),
      'small-middle.bin': withZeros(320 * 1024, [64 * 1024, 128 * 1024]),
      // Ending in zeros: left as a hole, only a length set would write them.
      'tail.bin': Buffer.concat([randomBytes(64 * 1024), Buffer.alloc(256 * 1024)]),
      'big-tail.bin': withZeros(3 * MiB, [2 * MiB, MiB]),
      'zeros.bin': Buffer.alloc(2 * MiB),
    };
    for (const [name, b] of Object.entries(files)) await seedObject(transport, `p/${name}`, b);
    // A compressed object: its decompressed bytes are written sparse too.
    const src = tempDir('noftrunc-src');
    const text = `${'some text '.repeat(100_000)}${'\0'.repeat(300_000)}`;
    writeFileSync(path.join(src, 'text.txt'), text);
    expect((await runCli(['push', src, `s3://${bucket}/p`, '--compress', '*.txt'], server)).code).toBe(0);
    const target = onFat('sparse');
    const r = await runCli(['pull', `s3://${bucket}/p`, target, '--sparse'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(plainLines(r.stderr), r.stderr).toEqual([]);
    for (const [name, b] of Object.entries(files))
      expect(md5Hex(readFileSync(path.join(target, name))), name).toBe(md5Hex(b));
    expect(readFileSync(path.join(target, 'text.txt'), 'utf8')).toBe(text);
    rmSync(target, { recursive: true });
  });

  for (const flags of [[], ['--sparse']])
    it(`a large object fetched in ranges is written whole ${flags.join(' ')}`, async (ctx) => {
      if (fat.skipped(ctx)) return;
      const { bucket, transport } = await newBucket(server, 'noftrunc-ranged');
      // Its ranges of 5 MiB: one with zeros inside, the last ending in them.
      const big = withZeros(12 * MiB, [6 * MiB, MiB], [11 * MiB, MiB]);
      await seedObject(transport, 'r/big.bin', big);
      const target = onFat('ranged');
      const r = await runCli(['pull', `s3://${bucket}/r`, target, ...RANGED, ...flags], server);
      expect(r.code, r.stderr).toBe(0);
      expect(plainLines(r.stderr), r.stderr).toEqual([]);
      expect(md5Hex(readFileSync(path.join(target, 'big.bin')))).toBe(md5Hex(big));
      expect(tempFolders(target)).toEqual([]);
      rmSync(target, { recursive: true });
    });

  for (const flags of [[], ['--sparse']])
    it(`a whole download cut part way is fetched again into a file made anew ${flags.join(' ')}`, async (ctx) => {
      if (fat.skipped(ctx)) return;
      const { bucket, transport } = await newBucket(server, 'noftrunc-cut');
      // Above the size gathered in memory, below the threshold: one GET streamed to the temp file.
      const two = randomBytes(2 * MiB);
      await seedObject(transport, 'w/two.bin', two);
      let gets = 0;
      // The first GET's body cut at its half, once: the retry writes the temp file again.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 1,
        rate: 1,
        kinds: ['truncate-body'],
        filter: ({ method, url }) => method === 'GET' && url.includes('two.bin') && gets++ === 0,
      });
      proxies.push(proxy);
      const target = onFat('cut');
      const args = ['pull', `s3://${bucket}/w`, target, '--endpoint-url', proxy.endpoint, ...WHOLE, '--json'];
      // Reopened with O_TRUNC, the file was refused its writes, and removing it hung fusefat.
      const { run, code } = await runOnFat([...args, ...flags]);
      expect(proxy.stats.faults['truncate-body']).toBe(1);
      expect(code, seenOf(run)).toBe(0);
      expect(plainLines(run.stderr()), run.stderr()).toEqual([]);
      expect(summaryOf(run.events)).toMatchObject({ downloaded: 1, failed: 0 });
      expect(md5Hex(readFileSync(path.join(target, 'two.bin')))).toBe(md5Hex(two));
      expect(tempFolders(target).flatMap((t) => readdirSync(t))).toEqual([]);
      rmSync(target, { recursive: true });
    });

  it('a ranged download that fails its ETag check is fetched again in order', async (ctx) => {
    if (fat.skipped(ctx)) return;
    const { bucket, transport } = await newBucket(server, 'noftrunc-flip');
    const big = randomBytes(12 * MiB);
    await seedObject(transport, 'r/big.bin', big);
    let gets = 0;
    // The first range's first byte flipped, once: the whole file fails its check, every range again.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 1,
      kinds: ['flip-body'],
      filter: ({ method, url }) => method === 'GET' && url.includes('big.bin') && gets++ === 0,
    });
    proxies.push(proxy);
    const target = onFat('flip');
    const args = ['pull', `s3://${bucket}/r`, target, '--endpoint-url', proxy.endpoint, ...RANGED, '--json'];
    const { run, code } = await runOnFat(args);
    expect(proxy.stats.faults['flip-body']).toBe(1);
    expect(code, seenOf(run)).toBe(0);
    // Its three ranges, twice: the file reopened is made anew before they are written again.
    expect(summaryOf(run.events)?.requests).toMatchObject({ GetObject: 6 });
    expect(md5Hex(readFileSync(path.join(target, 'big.bin')))).toBe(md5Hex(big));
    expect(tempFolders(target).flatMap((t) => readdirSync(t))).toEqual([]);
    rmSync(target, { recursive: true });
  });

  it('a ranged pull stopped part way keeps nothing; the next one fetches it whole', async (ctx) => {
    if (fat.skipped(ctx)) return;
    const { bucket, transport } = await newBucket(server, 'noftrunc-resume');
    // Five ranges of 5 MiB, the last of one byte.
    const big = randomBytes(20 * MiB + 1);
    await seedObject(transport, 'r/big.bin', big);
    const starts = (...mib: number[]) => mib.map((m) => `bytes=${m * MiB}-`);
    const ranges: string[] = [];
    const held: (() => void)[] = [];
    let holding = true;
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: (req) => {
        const range = req.headers.range;
        if (req.method !== 'GET' || typeof range !== 'string') return undefined;
        ranges.push(range.slice(0, range.indexOf('-') + 1));
        if (!holding || starts(0, 5).some((s) => range.startsWith(s))) return undefined;
        return new Promise<void>((resolve) => held.push(resolve));
      },
    });
    proxies.push(proxy);
    const target = onFat('resume');
    const args = ['pull', `s3://${bucket}/r`, target, '--endpoint-url', proxy.endpoint, ...RANGED, '--json'];
    const run = spawnCli(args, server);
    children.push(run);
    // Written in order: the third range is asked for once the first two are written.
    expect(await waitFor(() => held.length > 0, run, 30_000), run.stderr()).toBe(true);
    expect(ranges).toEqual(starts(0, 5, 10));
    run.child.kill('SIGINT');
    await run.exited;
    holding = false;
    for (const release of held) release();
    // Nothing under the real name, nothing kept: fusefat cannot grow a file it reopened.
    expect(existsSync(path.join(target, 'big.bin'))).toBe(false);
    expect(tempFolders(target).flatMap((t) => readdirSync(t))).toEqual([]);
    ranges.length = 0;
    const again = await runCli(args, server);
    expect(again.code, again.stderr).toBe(0);
    expect(md5Hex(readFileSync(path.join(target, 'big.bin')))).toBe(md5Hex(big));
    expect(ranges).toEqual(starts(0, 5, 10, 15, 20));
    const notices = again.events
      .filter((e) => e.type === 'notice')
      .map((e) => (e as { message: string }).message);
    expect(notices.filter((m) => m.includes('resum'))).toEqual([]);
    expect(again.summary).toMatchObject({ downloaded: 1, failed: 0, bytesTransferred: 20 * MiB + 1 });
    expect(tempFolders(target)).toEqual([]);
    rmSync(target, { recursive: true });
  });
});
