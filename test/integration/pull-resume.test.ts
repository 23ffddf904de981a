/**
 * A pull of a large object that does not finish keeps the ranges it wrote and synced: the next pull
 * fetches only the missing ones, and proves the whole file against the ETag before it takes it. An
 * object changed since, or kept bytes damaged since, cost a full fetch and never a wrong file.
 */
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  killLeftRuns,
  type LiveRun,
  MiB,
  md5Hex,
  newBucket,
  runCli,
  servers,
  spawnCli,
  tempFolders,
  trackedDirs,
  waitFor,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const children: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(children);
  for (const p of proxies) await p.close();
  removeAll();
});

/** Five ranges of 5 MiB, the last of one byte. */
const SIZE = 20 * MiB + 1;
const RANGE = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
const starts = (...mib: number[]) => mib.map((m) => `bytes=${m * MiB}-`);

/** The ranges the kept download's log says are on disk. */
function loggedRanges(dest: string): number {
  const [tmp] = tempFolders(dest);
  if (tmp === undefined) return 0;
  const log = readdirSync(tmp).find((n) => n.endsWith('.ranges'));
  return log ? readFileSync(path.join(tmp, log), 'utf8').split('\n').filter(Boolean).length : 0;
}

describe.each(servers())('pull resumes a large download on $name', (server) => {
  /**
   * Pushes a large file, then pulls it through a proxy that lets the first two ranges through and
   * holds the others, stopping the pull (`signal`) once those two are on disk. `ranges`: the Range
   * headers of the GETs since the last `ranges.length = 0`.
   */
  async function interrupted(label: string, signal: NodeJS.Signals, multipartEtag: boolean) {
    const src = dir(`resume-src-${label}`);
    const file = path.join(src, 'big.bin');
    bigFile(file, SIZE);
    const { bucket } = await newBucket(server, `resume-${label}`);
    const url = `s3://${bucket}/r`;
    const pushFlags = multipartEtag ? RANGE : [];
    const pushed = await runCli(['push', src, url, ...pushFlags], server);
    expect(pushed.code, pushed.stderr).toBe(0);
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
    const dest = dir(`resume-dest-${label}`);
    const args = ['pull', url, dest, '--endpoint-url', proxy.endpoint, ...RANGE, '--json'];
    const run = spawnCli(args, server);
    children.push(run);
    expect(await waitFor(() => loggedRanges(dest) >= 2, run, 30_000), run.stderr()).toBe(true);
    run.child.kill(signal);
    await run.exited;
    holding = false;
    for (const release of held) release();
    // Nothing under the real name; the kept temp file and its log are there for the next run.
    expect(existsSync(path.join(dest, 'big.bin'))).toBe(false);
    expect(loggedRanges(dest)).toBe(2);
    ranges.length = 0;
    // The next run held as this one was (the endpoint is the same: its temp folder is this one's).
    const holdAgain = () => {
      holding = true;
      held.length = 0;
      return {
        held,
        release: () => {
          holding = false;
          for (const r of held) r();
        },
      };
    };
    return { src, file, url, dest, args, ranges, holdAgain };
  }

  const noticesOf = (r: { events: LiveRun['events'] }) =>
    r.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message);

  it.each([
    ['stopped by SIGINT, a multipart ETag', 'SIGINT', true, 'int'],
    ['stopped by SIGTERM, a single-part MD5 ETag', 'SIGTERM', false, 'term'],
    ['killed -9, a multipart ETag', 'SIGKILL', true, 'kill'],
  ] as const)(
    '%s: the next pull fetches only the missing ranges',
    async (_what, signal, multipart, label) => {
      const { file, dest, args, ranges } = await interrupted(label, signal, multipart);
      const again = await runCli(args, server);
      expect(again.code, again.stderr).toBe(0);
      expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
      expect(ranges.sort()).toEqual(starts(10, 15, 20).sort());
      expect(noticesOf(again)).toContain('big.bin: resuming: 2 of 5 ranges kept from an earlier pull');
      // Only what this run fetched counts as transferred.
      expect(again.summary).toMatchObject({ downloaded: 1, failed: 0, bytesTransferred: SIZE - 10 * MiB });
      expect(tempFolders(dest)).toEqual([]);
    },
  );

  it('an object changed since is fetched whole, and the part kept for the old one removed', async () => {
    const { src, file, url, dest, args, ranges } = await interrupted('changed', 'SIGINT', true);
    // The same size and name, other bytes: another ETag.
    writeFileSync(file, Buffer.alloc(SIZE, 0x5a));
    const pushed = await runCli(['push', src, url, ...RANGE], server);
    expect(pushed.code, pushed.stderr).toBe(0);
    const again = await runCli(args, server);
    expect(again.code, again.stderr).toBe(0);
    expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
    expect(ranges.sort()).toEqual(starts(0, 5, 10, 15, 20).sort());
    expect(noticesOf(again).filter((m) => m.includes('resuming'))).toEqual([]);
    expect(again.summary).toMatchObject({ downloaded: 1, bytesTransferred: SIZE });
    expect(tempFolders(dest)).toEqual([]);
  });

  it("a dead run's temp files it will not resume are removed as the next pull starts", async () => {
    const { file, dest, args, holdAgain } = await interrupted('dead', 'SIGKILL', true);
    const [tmp] = tempFolders(dest);
    const kept = readdirSync(tmp!).filter((n) => n.startsWith('resume-'));
    // As killed runs leave them: a small file's temp file, and a kept download of an object gone since.
    const planted = [
      '0123456789abcdef-0.part',
      `resume-${'0'.repeat(32)}.part`,
      `resume-${'0'.repeat(32)}.ranges`,
    ];
    for (const n of planted) writeFileSync(path.join(tmp!, n), Buffer.alloc(64 * 1024, 1));
    // The next pull held at its first range fetched anew: what it found is already gone, its own kept.
    const { held, release } = holdAgain();
    const run = spawnCli(args, server);
    children.push(run);
    try {
      expect(await waitFor(() => held.length > 0, run, 30_000), run.stderr()).toBe(true);
      const there = readdirSync(tmp!);
      expect(there.filter((n) => planted.includes(n))).toEqual([]);
      expect(there.filter((n) => n.startsWith('resume-'))).toEqual(kept);
    } finally {
      release();
    }
    expect((await run.exited).code, run.stderr()).toBe(0);
    expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
    expect(tempFolders(dest)).toEqual([]);
  });

  it('kept bytes damaged since do not verify: the file is fetched whole, never taken wrong', async () => {
    const { file, dest, args, ranges } = await interrupted('damaged', 'SIGINT', true);
    const [tmp] = tempFolders(dest);
    const part = path.join(tmp!, readdirSync(tmp!).find((n) => n.endsWith('.part'))!);
    const bytes = readFileSync(part);
    bytes[1234] = bytes[1234]! ^ 0xff; // in range 0, logged as on disk
    writeFileSync(part, bytes);
    const again = await runCli(args, server);
    expect(again.code, again.stderr).toBe(0);
    expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
    // The missing ranges, then, the whole not verifying, every range again.
    expect(ranges.sort()).toEqual([...starts(10, 15, 20), ...starts(0, 5, 10, 15, 20)].sort());
    // Said without --debug: the run said it was resuming, and transfers all of it.
    expect(noticesOf(again)).toContain(
      'big.bin: the part kept from an earlier pull did not verify: fetching it whole',
    );
    expect(again.summary).toMatchObject({ downloaded: 1, failed: 0, bytesTransferred: SIZE });
    expect(tempFolders(dest)).toEqual([]);
  });

  it('a kept part cut short since is fetched whole, and the run says so', async () => {
    const { file, dest, args, ranges } = await interrupted('cut', 'SIGINT', true);
    const [tmp] = tempFolders(dest);
    truncateSync(path.join(tmp!, readdirSync(tmp!).find((n) => n.endsWith('.part'))!), 3 * MiB);
    const again = await runCli(args, server);
    expect(again.code, again.stderr).toBe(0);
    expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
    // Every range, the kept ones too (a loaded machine may retry one).
    expect([...new Set(ranges)].sort()).toEqual(starts(0, 5, 10, 15, 20).sort());
    expect(noticesOf(again)).toContain(
      `big.bin: the part kept from an earlier pull is not the object's size (${3 * MiB} of ${SIZE} bytes): fetching it whole`,
    );
    expect(again.summary).toMatchObject({ downloaded: 1, failed: 0, bytesTransferred: SIZE });
    expect(tempFolders(dest)).toEqual([]);
  });

  /** Each puts its thing at the kept download's file `at` (`outside`: a file not to change); returns why it goes. */
  const plants = {
    'a directory at the part': (at: string) => {
      rmSync(at);
      mkdirSync(path.join(at, 'inner'), { recursive: true });
      writeFileSync(path.join(at, 'inner', 'f'), 'x');
      return 'is a directory';
    },
    'a link at the part': (at: string, outside: string) => {
      rmSync(at);
      symlinkSync(outside, at);
      return 'is a symbolic link';
    },
    'a hard link at the part': (at: string, outside: string) => {
      rmSync(at);
      linkSync(outside, at);
      return 'is a file with other hard links';
    },
    'a directory at the range log': (at: string) => {
      rmSync(at);
      mkdirSync(at);
      return 'is a directory';
    },
  } as const;
  it.each([
    ['a directory at the part', '.part'],
    ['a link at the part', '.part'],
    ['a hard link at the part', '.part'],
    ['a directory at the range log', '.ranges'],
  ] as const)(
    '%s: discarded with a notice, never followed, and the object fetched whole in the same run',
    async (what, ext) => {
      const label = `plant${Object.keys(plants).indexOf(what)}`;
      const { file, dest, args, ranges } = await interrupted(label, 'SIGINT', true);
      const [tmp] = tempFolders(dest);
      const name = readdirSync(tmp!).find((n) => n.endsWith(ext))!;
      const outside = path.join(dir(`${label}-outside`), 'victim');
      writeFileSync(outside, 'not to be touched\n');
      const why = plants[what](path.join(tmp!, name), outside);
      const again = await runCli(args, server);
      expect(again.code, again.stderr).toBe(0);
      expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
      expect(ranges.sort()).toEqual(starts(0, 5, 10, 15, 20).sort());
      expect(noticesOf(again)).toContain(
        `big.bin: what an earlier pull kept of it is not resumed (${name} ${why}): discarded, fetching it whole`,
      );
      expect(noticesOf(again).filter((m) => m.includes('resuming'))).toEqual([]);
      expect(again.summary).toMatchObject({ downloaded: 1, failed: 0, bytesTransferred: SIZE });
      expect(readFileSync(outside, 'utf8')).toBe('not to be touched\n');
      expect(statSync(outside).nlink).toBe(1);
      expect(tempFolders(dest)).toEqual([]);
      // Nothing of it comes back: the next pull has nothing to do.
      const third = await runCli(args, server);
      expect(third.code, third.stderr).toBe(0);
      expect(third.summary).toMatchObject({ downloaded: 0, failed: 0 });
    },
  );
});
