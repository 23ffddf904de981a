/**
 * The racy-clean rule on real coarse-timestamp filesystems, loop-mounted: ext2 with 128-byte inodes
 * (1-second timestamps) and FAT (2 seconds). A same-size rewrite that leaves every stat field as the
 * manifest recorded it (same tick, same inode) is found by the next push and by `check`:
 *
 * - rewritten right after the push ends, in the same tick (the case);
 * - rewritten during the push, right after the file was uploaded, with the run ending in a later tick
 *   (the manifest's own write time then vouches for nothing);
 *
 * each with the manifest beside the data (its default place) and on another (nanosecond) filesystem.
 * Needs root (as CI runs); skipped with a notice otherwise, or where the kernel lacks the filesystem.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../../src/sync/check.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { push } from '../../src/sync/push.js';
import { connFor, newBucket, servers } from '../helpers.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), 's3sync-coarse-'));
const mounted: string[] = [];

interface Fs {
  name: string;
  tickMs: number;
  mkfs: string[];
  /** Where it is mounted, or why it could not be. */
  root?: string;
  missing?: string;
}
const filesystems: Fs[] = [
  { name: 'ext2 -I 128 (1 s)', tickMs: 1000, mkfs: ['mkfs.ext2', '-q', '-F', '-I', '128'] },
  { name: 'vfat (2 s)', tickMs: 2000, mkfs: ['mkfs.vfat'] },
];

beforeAll(() => {
  for (const [i, fs] of filesystems.entries()) {
    if (!isRoot) {
      fs.missing = 'not root: cannot mount a filesystem';
      continue;
    }
    const image = path.join(work, `fs${i}.img`);
    const root = path.join(work, `mnt${i}`);
    mkdirSync(root);
    spawnSync('truncate', ['-s', '40M', image]);
    const made = spawnSync(fs.mkfs[0]!, [...fs.mkfs.slice(1), image], { encoding: 'utf8' });
    const mount =
      made.status === 0 ? spawnSync('mount', ['-o', 'loop', image, root], { encoding: 'utf8' }) : made;
    if (mount.status !== 0) {
      fs.missing = `${fs.mkfs[0]} / mount failed: ${(mount.stderr || String(mount.error)).trim().split('\n')[0]}`;
      continue;
    }
    mounted.push(root);
    fs.root = root;
  }
});

afterAll(() => {
  for (const m of mounted) spawnSync('umount', ['-l', m]);
  rmSync(work, { recursive: true, force: true });
});

/**
 * Sleeps until just after the start of a tick of the filesystem (the kernel's clock is ours). For
 * 1 s ticks, of an odd second: a whole even second may be FAT's and is treated as a 2 s tick, which
 * would hide a rule that is right only for 2 s.
 */
async function startOfTick(tickMs: number): Promise<void> {
  let next = Math.floor(Date.now() / tickMs) * tickMs + tickMs;
  if (tickMs === 1000 && (next / 1000) % 2 === 0) next += 1000;
  await sleep(next - Date.now() + 5);
}

/** Blocks the event loop (and so the run) until the next tick has begun. */
function holdUntilNextTick(tickMs: number): void {
  const until = (Math.floor(Date.now() / tickMs) + 1) * tickMs + 50;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < until) Atomics.wait(cell, 0, 0, until - Date.now());
}

const statOf = (p: string) => {
  const st = statSync(p, { bigint: true });
  return `size ${st.size} mtime ${st.mtimeNs} ctime ${st.ctimeNs} ino ${st.ino}`;
};

const V1 = 'version one of the file\n';
const V2 = 'VERSION TWO of the file\n';

describe.each(servers())('coarse timestamps on $name', (server) => {
  const conn = connFor(server);
  let bucket: string;
  let transport: Awaited<ReturnType<typeof newBucket>>['transport'];
  beforeAll(async () => {
    ({ bucket, transport } = await newBucket(server, 'coarse'));
    // Loads the SDK and warms the connection, so that a push fits in a tick.
    const warm = mkdtempSync(path.join(work, 'warm-'));
    writeFileSync(path.join(warm, 'w.txt'), 'warm');
    await push({ ...conn, source: warm, destination: `s3://${bucket}/warm` });
  });

  const cases = filesystems.flatMap((fs) =>
    (['after the push ends', 'during the push, the run ending a tick later'] as const).flatMap((when) =>
      (['beside the data', 'on another filesystem'] as const).map((where) => ({ fs, when, where })),
    ),
  );
  let seq = 0;

  it.for(cases)(
    '$fs.name: a same-size rewrite in the same tick $when, manifest $where, is found',
    async ({ fs, when, where }, ctx) => {
      if (!fs.root) {
        console.warn(`[coarse-timestamps] NOTICE: ${fs.name} skipped: ${fs.missing}`);
        ctx.skip();
        return;
      }
      let url = '';
      let prefix = '';
      let dir = '';
      let manifest: string | undefined;
      let hidden = false;
      // The write, the push's read and the rewrite must fall in one tick: retried until they do.
      for (let attempt = 0; attempt < 6 && !hidden; attempt++) {
        prefix = `c${seq++}`;
        url = `s3://${bucket}/${prefix}`;
        dir = mkdtempSync(path.join(fs.root, 'data-'));
        manifest =
          where === 'on another filesystem'
            ? path.join(mkdtempSync(path.join(work, 'm-')), 'm.json')
            : undefined;
        writeFileSync(path.join(dir, 'old.txt'), 'an old file\n');
        const hourAgo = Date.now() / 1000 - 3600;
        utimesSync(path.join(dir, 'old.txt'), hourAgo, hourAgo);
        await startOfTick(fs.tickMs);
        const file = path.join(dir, 'a.txt');
        writeFileSync(file, V1);
        const written = statOf(file);
        let rewritten: ReturnType<typeof statOf> | undefined;
        const onEvent = (e: SyncEvent) => {
          if (when === 'after the push ends') return;
          if (e.type === 'done' && e.action === 'upload' && e.rel === 'a.txt') {
            writeFileSync(file, V2);
            rewritten = statOf(file);
            holdUntilNextTick(fs.tickMs);
          }
        };
        const first = await push({ ...conn, source: dir, destination: url, manifest, onEvent });
        expect(first).toMatchObject({ uploaded: 2, outcome: 'ok' });
        if (when === 'after the push ends') {
          writeFileSync(file, V2);
          rewritten = statOf(file);
        }
        // Hidden: nothing that stat shows changed (size, mtime, ctime, inode).
        hidden = rewritten === written;
      }
      expect(hidden, 'no attempt managed a rewrite within the tick').toBe(true);
      // The object holds version one; the file, version two, with the very stat data of version one.
      expect((await transport.list(`${prefix}/`)).get('a.txt')?.etag).toBe(md5(V1));

      const differs = await check({ ...conn, local: dir, remote: url, manifest });
      expect(differs).toMatchObject({ outcome: 'differ', differ: ['a.txt'], same: 1 });

      const events: SyncEvent[] = [];
      const second = await push({
        ...conn,
        source: dir,
        destination: url,
        manifest,
        onEvent: (e) => events.push(e),
      });
      expect(second).toMatchObject({ uploaded: 1, unchanged: 1, outcome: 'ok' });
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'done', action: 'upload', rel: 'a.txt', reason: 'content-changed' }),
      );
      expect((await transport.list(`${prefix}/`)).get('a.txt')?.etag).toBe(md5(V2));

      // And then quiet: nothing to upload, no request (a file still within its tick is hashed, not sent).
      const third = await push({ ...conn, source: dir, destination: url, manifest });
      expect(third).toMatchObject({ uploaded: 0, requestsTotal: 0, outcome: 'ok' });
      expect(await check({ ...conn, local: dir, remote: url, manifest })).toMatchObject({
        outcome: 'ok',
        same: 2,
      });
    },
  );

  it('on a nanosecond filesystem a tree that holds still stays unhashed after one push', async () => {
    const dir = mkdtempSync(path.join(work, 'ns-'));
    for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`);
    // Past the kernel clock's tick (a few ms): the files were written before the run began.
    await sleep(50);
    const url = `s3://${bucket}/ns`;
    expect(await push({ ...conn, source: dir, destination: url })).toMatchObject({ uploaded: 5 });
    // Not one entry recorded unproven: the next run neither hashes (records) nor uploads.
    const again = await push({ ...conn, source: dir, destination: url });
    expect(again).toMatchObject({ uploaded: 0, recorded: 0, unchanged: 5, requestsTotal: 0 });
  });
});
