/**
 * --min-size, --max-size, --min-age, --max-age: push and check select by the local file (size, mtime),
 * pull by the object (size, LastModified), and the same limits select the same files in all three;
 * nothing a limit leaves out is deleted on either side, unless --delete-excluded.
 */
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { SyncEvent } from '../../src/sync/events.js';
import { doneOf, newBucket, runCli, seedObject, servers, trackedDirs, writeTree } from '../helpers.js';

const dirs = trackedDirs();
afterAll(() => dirs.removeAll());

const DAY = 86_400_000;
const relsOf = async (t: Awaited<ReturnType<typeof newBucket>>['transport'], prefix = 'p/') =>
  [...(await t.list(prefix)).keys()].sort();
const checkSummary = (events: SyncEvent[]) =>
  events.find((e) => (e.type as string) === 'check-summary') as unknown as Record<string, unknown>;
const filesIn = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !path.join(e.parentPath, e.name).includes('.s3sync'))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
const setMtime = (abs: string, ms: number) => utimesSync(abs, new Date(ms), new Date(ms));

/** The next whole second from now, as S3 dates go (LastModified has whole seconds). */
async function secondMark(): Promise<string> {
  await sleep(1100);
  const mark = Math.ceil(Date.now() / 1000) * 1000;
  await sleep(mark - Date.now() + 1100);
  return new Date(mark).toISOString().replace('.000Z', 'Z');
}

describe.each(servers())('size and age limits on $name', (server) => {
  it('push and check select by the local file; bounds are inclusive; a no-change run stays at 0 requests', async () => {
    const { bucket, transport } = await newBucket(server, 'szpush');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('szpush');
    writeTree(dir, {
      'small-old.txt': 'x'.repeat(100),
      'small-new.txt': 'y'.repeat(100),
      'kib-new.txt': 'z'.repeat(1024),
      'big-old.bin': 'b'.repeat(5000),
      'big-new.bin': 'c'.repeat(5000),
    });
    const now = Date.now();
    for (const rel of ['small-old.txt', 'big-old.bin']) setMtime(path.join(dir, rel), now - 30 * DAY);
    for (const rel of ['small-new.txt', 'kib-new.txt', 'big-new.bin'])
      setMtime(path.join(dir, rel), now - 3_600_000);

    const small = await runCli(['push', dir, url, '--max-size', '1k', '--max-age', '7d', '--json'], server);
    expect(small.code, small.stderr).toBe(0);
    expect(doneOf(small.events, 'upload').sort()).toEqual(['kib-new.txt', 'small-new.txt']);
    expect(await relsOf(transport)).toEqual(['kib-new.txt', 'small-new.txt']);
    // check with the same limits finds them the same; without, the rest is only local.
    const same = await runCli(['check', dir, url, '--max-size', '1k', '--max-age', '7d', '--json'], server);
    expect(same.code, same.stderr).toBe(0);
    expect(checkSummary(same.events)).toMatchObject({ same: 2, onlyLocal: [], onlyRemote: [] });
    const all = await runCli(['check', dir, url, '--json'], server);
    expect(checkSummary(all.events)).toMatchObject({
      onlyLocal: ['big-new.bin', 'big-old.bin', 'small-old.txt'],
    });

    // The complement: at least 1025 bytes, or older than 7 days.
    const big = await runCli(['push', dir, url, '--min-size', '1025', '--json'], server);
    expect(doneOf(big.events, 'upload').sort()).toEqual(['big-new.bin', 'big-old.bin']);
    const old = await runCli(['push', dir, url, '--min-age', '7d', '--json'], server);
    expect(doneOf(old.events, 'upload')).toEqual(['small-old.txt']);
    expect(await relsOf(transport)).toHaveLength(5);

    // A run with limits keeps the manifest's other entries: a full run after it sends nothing.
    for (const args of [['--max-size', '1k'], []]) {
      const r = await runCli(['push', dir, url, ...args, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    }
  });

  it('a check whose limits select no file nor object says so, as push does, not only "identical"', async () => {
    const { bucket } = await newBucket(server, 'sznone');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('sznone');
    writeTree(dir, { 'a.txt': 'a', 'b.txt': 'b' });
    const pushed = await runCli(['push', dir, url], server);
    expect(pushed.code, pushed.stderr).toBe(0);
    const none = ['--min-age', '36500d'];
    const push = await runCli(['push', dir, url, ...none], server);
    expect(push.stderr).toContain(`nothing to push: no file under ${dir} is selected by the filters`);
    const check = await runCli(['check', dir, url, ...none], server);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toContain(
      `nothing to check: no file under ${dir} nor object under ${url}/ is selected by the filters`,
    );
    expect(check.stdout).toMatch(/identical: 0 same/);
    // Something selected: no such notice.
    const some = await runCli(['check', dir, url, '--max-age', '1d'], server);
    expect(some.code, some.stderr).toBe(0);
    expect(some.stderr).not.toContain('nothing to check');
  });

  it('push, pull and check select the same files by age across a point in time, and pull by size', async () => {
    const { bucket, transport } = await newBucket(server, 'szage');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('szage');
    writeTree(dir, { 'a.txt': 'a1', 'b.txt': 'b1', 'sub/c.txt': 'c1', 'sub/d.txt': 'd1' });
    const long = Date.now() - 10 * DAY;
    for (const rel of ['a.txt', 'b.txt', 'sub/c.txt', 'sub/d.txt']) setMtime(path.join(dir, rel), long);
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    // After the mark, two files change and are pushed again: their mtime and their LastModified both
    // fall after it; the other two are before it on both sides.
    const mark = await secondMark();
    writeTree(dir, { 'b.txt': 'b2 longer', 'sub/d.txt': 'd2 longer' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    const after = ['b.txt', 'sub/d.txt'];
    const before = ['a.txt', 'sub/c.txt'];

    for (const [flag, want] of [
      ['--max-age', after],
      ['--min-age', before],
    ] as const) {
      // push: all selected files are in place already.
      const pushed = await runCli(['push', dir, url, flag, mark, '--json'], server);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.summary, flag).toMatchObject({ scanned: 2, uploaded: 0 });
      const checked = await runCli(['check', dir, url, flag, mark, '--json'], server);
      expect(checkSummary(checked.events), flag).toMatchObject({ same: 2, onlyLocal: [], onlyRemote: [] });
      const into = dirs.dir('szagepull');
      const pulled = await runCli(['pull', url, into, flag, mark, '--json'], server);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(filesIn(into), flag).toEqual([...want].sort());
    }

    // By size, pull selects by the object: 2 bytes (a, c) against 9 (b, d).
    const into = dirs.dir('szsizepull');
    const pulled = await runCli(['pull', url, into, '--max-size', '2', '--json'], server);
    expect(filesIn(into)).toEqual(['a.txt', 'sub/c.txt']);
    expect(pulled.summary).toMatchObject({ scanned: 2, downloaded: 2 });
    expect(await relsOf(transport)).toHaveLength(4);
  });

  it('--delete never deletes what a limit leaves out, on either side, unless --delete-excluded', async () => {
    const { bucket, transport } = await newBucket(server, 'szdel');
    const url = `s3://${bucket}/p`;
    const dir = dirs.dir('szdel');
    writeTree(dir, { 'keep.txt': 'k', 'grown.txt': 'g' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    // grown.txt is now big locally, still small remotely; strays on the remote, one small, one big.
    writeFileSync(path.join(dir, 'grown.txt'), 'G'.repeat(3000));
    await seedObject(transport, 'p/stray-small.txt', 's');
    await seedObject(transport, 'p/stray-big.bin', 'S'.repeat(3000));

    const pushed = await runCli(['push', dir, url, '--delete', '--max-size', '1k', '--json'], server);
    expect(pushed.code, pushed.stderr).toBe(0);
    // Deleted: the small stray only. Kept: the big stray (left out), and grown.txt (it has a local file).
    expect(doneOf(pushed.events, 'delete')).toEqual(['stray-small.txt']);
    expect(doneOf(pushed.events, 'upload')).toEqual([]);
    expect(await relsOf(transport)).toEqual(['grown.txt', 'keep.txt', 'stray-big.bin']);

    // Pull: a local-only big file stays, a local-only small one goes, a small local file whose object is
    // left out by the limit (big) stays.
    const into = dirs.dir('szdelpull');
    writeTree(into, {
      'keep.txt': 'k',
      'mine-big.bin': 'M'.repeat(3000),
      'mine-small.txt': 'm',
      'stray-big.bin': 'x',
    });
    const pulled = await runCli(
      ['pull', url, into, '--delete', '--max-size', '1k', '--max-delete', '100%', '--json'],
      server,
    );
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(doneOf(pulled.events, 'delete')).toEqual(['mine-small.txt']);
    expect(filesIn(into)).toEqual(['grown.txt', 'keep.txt', 'mine-big.bin', 'stray-big.bin']);

    // --delete-excluded: what the limit leaves out goes too (the big stray remotely; grown.txt, whose
    // local file is left out).
    const all = await runCli(
      [
        'push',
        dir,
        url,
        '--delete',
        '--delete-excluded',
        '--max-size',
        '1k',
        '--max-delete',
        '100%',
        '--json',
      ],
      server,
    );
    expect(all.code, all.stderr).toBe(0);
    expect(doneOf(all.events, 'delete').sort()).toEqual(['grown.txt', 'stray-big.bin']);
    expect(await relsOf(transport)).toEqual(['keep.txt']);
    expect(existsSync(path.join(dir, 'grown.txt'))).toBe(true);
  });

  it.each([
    ['a number without a unit', ['--max-age', '7'], /--max-age must be .*: add a unit, e\.g\. "7d"/],
    ['a time without its zone', ['--min-age', '2026-11-01T10:00'], /add the time zone/],
    ['a day that does not exist', ['--max-age', '2026-02-30'], /--max-age must be a duration like 7d/],
    [
      'an age past any date',
      ['--min-age', '9999999999999999999999d'],
      /--min-age must be .*: at most 36500d/,
    ],
    ['an age of 100000000 days', ['--max-age', '100000000d'], /--max-age must be .*: at most 36500d/],
    ['a size that does not parse', ['--min-size', '1 kilo'], /--min-size must be a size/],
    [
      'a minimum size above the maximum',
      ['--min-size', '2k', '--max-size', '1k'],
      /is above maxSize \(--max-size\)/,
    ],
    ['an empty window of time', ['--max-age', '1d', '--min-age', '2d'], /is after minAge \(--min-age\)/],
  ])('%s is a one-line usage error before any request', async (_why, args, message) => {
    const { bucket, transport } = await newBucket(server, 'szbad');
    const dir = dirs.dir('szbad');
    writeTree(dir, { 'a.txt': 'a' });
    for (const command of ['push', 'pull', 'check']) {
      const ends = command === 'pull' ? [`s3://${bucket}/p`, dir] : [dir, `s3://${bucket}/p`];
      const r = await runCli([command, ...ends, ...args], server);
      expect(r.code, command).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }
    expect(await relsOf(transport)).toEqual([]);
  });
});
