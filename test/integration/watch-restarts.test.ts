/**
 * A library caller that starts and stops watches in one process: each watch leaves nothing behind,
 * no pipe nor child process of the file watcher's (its watchman probe) and no socket.
 */
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { push } from 's3sync';
import { afterAll, describe, expect, it } from 'vitest';
import { connFor, newBucket, servers, trackedDirs, writeTree } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const linux = process.platform === 'linux';

/** This process's open file descriptors, and how many of them are pipes. */
function fds(): { all: number; pipes: number } {
  const names = readdirSync('/proc/self/fd');
  let pipes = 0;
  for (const n of names) {
    try {
      if (readlinkSync(`/proc/self/fd/${n}`).startsWith('pipe:')) pipes++;
    } catch {
      // Closed since it was listed (the listing's own descriptor among them).
    }
  }
  return { all: names.length, pipes };
}

/** Children of this process that ended and were never waited for. */
function zombies(): number {
  let n = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // After the command name in parentheses, which may hold spaces: state, then the parent's pid.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z' && Number(ppid) === process.pid) n++;
    } catch {
      // Gone since it was listed.
    }
  }
  return n;
}

describe.each(servers())('watches started and stopped on $name', (server) => {
  it.skipIf(!linux)('leave no pipe, zombie child nor descriptor behind', async () => {
    const { bucket } = await newBucket(server, 'watch-restarts');
    const src = dir('watch-restarts-src');
    writeTree(src, { 'a.txt': 'alpha' });
    const once = async (i: number) => {
      writeFileSync(path.join(src, 'a.txt'), `alpha ${i}`);
      const stop = new AbortController();
      const r = await push({
        ...connFor(server),
        source: src,
        destination: `s3://${bucket}/w`,
        watch: true,
        settle: '100ms',
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type === 'batch') stop.abort();
        },
      });
      expect(r.outcome).not.toBe('failed');
    };
    // The first start loads the watcher and the SDK, which keep what they open for the process.
    await once(0);
    await sleep(200);
    const before = { ...fds(), zombies: zombies() };
    for (let i = 1; i <= 10; i++) await once(i);
    await sleep(200);
    const after = { ...fds(), zombies: zombies() };
    expect({ pipes: after.pipes - before.pipes, zombies: after.zombies - before.zombies }).toEqual({
      pipes: 0,
      zombies: 0,
    });
    // A little slack for what the test runner itself opens meanwhile; ten watches' leaks are far more.
    expect(after.all - before.all).toBeLessThanOrEqual(3);
  });
});
