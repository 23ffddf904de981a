/**
 * Pull writes files unsynced and flushes them in batches before the manifest records them. A pull
 * killed -9 at seeded moments: every file the manifest recorded is complete and correct, no file under
 * a real name is partial, and the next pull ends with the source tree.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  doneOf,
  kill9,
  killLeftRuns,
  type LiveRun,
  MiB,
  md5Hex,
  newBucket,
  readManifest,
  runCli,
  seededTree,
  servers,
  spawnCli,
  trackedDirs,
  treeHashes,
  waitFor,
} from '../helpers.js';
import { type FaultProxy, mulberry32, startFaultProxy } from '../servers/fault-proxy.js';

const N = 240;
const WORKERS = 4;

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const children: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(children);
  for (const p of proxies) await p.close();
  removeAll();
});

/** What a kill may leave: recorded files exactly right, and every other file whole or absent. */
function expectNothingPartial(dest: string, want: Record<string, string>, label: string) {
  const recorded = readManifest(dest)?.files ?? new Map();
  for (const [rel, entry] of recorded) {
    const body = readFileSync(path.join(dest, rel));
    expect(md5Hex(body), `${label}: recorded ${rel}`).toBe(want[rel]);
    expect(entry.md5, `${label}: recorded ${rel}`).toBe(want[rel]);
    expect(entry.size).toBe(body.length);
  }
  for (const [rel, md5] of Object.entries(treeHashes(dest)))
    expect(md5, `${label}: ${rel} under its real name`).toBe(want[rel]);
  return recorded.size;
}

describe.each(servers())('pull durability on $name', (server) => {
  it.each([
    ['small files (batched fsync)', 0],
    ['small and streamed files', 3],
  ])('a pull of %s killed -9 three times, then run to completion', async (label, streamed) => {
    const src = dir(`dur-src-${streamed}`);
    seededTree(src, N, 99 + streamed, { maxSize: 32 * 1024 });
    // Above the in-memory size: written as they arrive, synced before the batch, renamed by it.
    for (let i = 0; i < streamed; i++) bigFile(path.join(src, `big/b${i}.bin`), 2 * MiB + i);
    const want = treeHashes(src);
    const { bucket } = await newBucket(server, 'durable');
    const url = `s3://${bucket}/dur`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);

    // Every request slowed, so that a pull lasts several seconds and spans several 2 s checkpoints.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 3,
      rate: 1,
      kinds: ['delay'],
      delayMs: Math.ceil((8000 * WORKERS) / N),
    });
    proxies.push(proxy);
    const dest = dir(`dur-dest-${streamed}`);
    const args = [
      'pull',
      url,
      dest,
      '--endpoint-url',
      proxy.endpoint,
      '--json',
      '--workers',
      String(WORKERS),
    ];
    const rand = mulberry32(500 + streamed);
    let lastRecorded = 0;
    for (let i = 0; i < 3; i++) {
      const run = spawnCli(args, server);
      children.push(run);
      const k = 1 + Math.floor(rand() * N * 0.15);
      const reached = await waitFor(() => {
        if (doneOf(run.events, 'download').length < k) return false;
        return i === 0 || (readManifest(dest)?.files.size ?? 0) > lastRecorded;
      }, run);
      expect(reached, `${label}: run ${i + 1} ended before its kill point: ${run.stderr()}`).toBe(true);
      expect(await kill9(run)).toBe('SIGKILL');
      lastRecorded = expectNothingPartial(dest, want, `${label}, kill ${i + 1}`);
    }
    expect(lastRecorded).toBeGreaterThan(0);

    proxy.setRate(0);
    const final = await runCli(['pull', url, dest, '--endpoint-url', proxy.endpoint], server);
    expect(final.code, final.stderr).toBe(0);
    expect(treeHashes(dest)).toEqual(want);
    expect(expectNothingPartial(dest, want, `${label}, final`)).toBe(Object.keys(want).length);
  });
});
