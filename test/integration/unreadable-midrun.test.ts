/**
 * A folder made unreadable for a while during a push (a chmod by another process) is neither a file
 * gone nor a lock lost: a changed file whose folder cannot be looked at when it is tried again fails
 * in one line (exit 1), never a "disappeared" warning with exit 0; a manifest folder unreadable at a
 * checkpoint is warned of and saved once readable, not taken as the lock removed by another run.
 * Root reads through any mode, so the CLI runs as 'nobody', owning the tree.
 */
import { appendFileSync, chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type LiveRun,
  manifestPaths,
  newBucket,
  objectMd5,
  readManifest,
  runLive,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

/** Every folder and file under `root` (and itself) owned by 'nobody', as a user's own tree is. */
function ownedByNobody(root: string): void {
  chownSync(root, NOBODY, NOBODY);
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true }))
    chownSync(path.join(e.parentPath, e.name), NOBODY, NOBODY);
}

const messages = (r: LiveRun, type: string) =>
  r.events.filter((e) => e.type === type).map((e) => String((e as { message?: string }).message));
const isPut = (key: string) => (e: { method: string; url: string }) =>
  e.method === 'PUT' && new URL(e.url, 'http://h').pathname.endsWith(`/${key}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(servers())('a folder unreadable for a while during a push on $name', (server) => {
  const as = { uid: NOBODY, gid: NOBODY };

  type Hold = (e: { method: string; url: string }) => Promise<unknown> | undefined;
  async function setup(label: string, hold: Hold, holdAnswer?: Hold) {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    writeTree(src, { 'a.txt': 'first file', 'sub/f2.txt': 'second file, changed while it is sent' });
    ownedByNobody(src);
    // Its own home, out of the tree: the CLI keeps its start-up cache there.
    const home = dir(`${label}-home`);
    ownedByNobody(home);
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0, hold, holdAnswer });
    proxies.push(proxy);
    const url = `s3://${bucket}/${label}`;
    const args = ['push', src, url, '--endpoint-url', proxy.endpoint, '--json'];
    return { transport, src, proxy, url, args, env: { HOME: home } };
  }

  it('a changed file whose folder cannot be looked at on its retry fails (exit 1), not "disappeared"', async () => {
    if (!asRoot) return console.warn('[unreadable-midrun] NOTICE: needs root to run the CLI as nobody');
    let src = '';
    let once = true;
    let releaseA: () => void = () => {};
    const aHeld = new Promise<void>((r) => {
      releaseA = r;
    });
    // f2 stored, before its answer: the file has changed since it was read, so it is tried again once
    // the other uploads are done. a.txt is held until then: its folder is made unreadable meanwhile,
    // after f2's own check and before its retry looks at it again.
    const made = await setup(
      'retry',
      (e) => (isPut('a.txt')(e) ? aHeld : undefined),
      (e) => {
        if (!once || !isPut('sub/f2.txt')(e)) return undefined;
        once = false;
        appendFileSync(path.join(src, 'sub/f2.txt'), ' more');
        setTimeout(() => {
          chmodSync(path.join(src, 'sub'), 0o000);
          releaseA();
        }, 500);
        return undefined;
      },
    );
    const { transport, args, proxy, env } = made;
    src = made.src;
    const r = await runLive(args, server, { ...as, env });
    chmodSync(path.join(src, 'sub'), 0o755);
    expect(proxy.log.filter(isPut('sub/f2.txt'))).toHaveLength(1);
    expect(r.code, r.stderr()).toBe(1);
    expect(messages(r, 'warning').filter((m) => /disappeared/.test(m))).toEqual([]);
    expect(summaryOf(r.events)!.errors).toEqual([
      { rel: 'sub/f2.txt', message: 'cannot be looked at now (permission denied): not uploaded' },
    ]);
    expect(readManifest(src)!.files.has('sub/f2.txt')).toBe(false);
    // Readable again: the next run sends the file as it is now.
    const again = await runLive(args, server, { ...as, env });
    expect(again.code, again.stderr()).toBe(0);
    expect(summaryOf(again.events)).toMatchObject({ uploaded: 1, failed: 0 });
    expect(await objectMd5(transport, 'retry/sub/f2.txt')).toBeDefined();
  });

  it('a manifest folder unreadable at a checkpoint is warned of, then saved: not a lock lost (exit 0)', async () => {
    if (!asRoot) return console.warn('[unreadable-midrun] NOTICE: needs root to run the CLI as nobody');
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const { args, src, proxy, env } = await setup('lockdir', (e) =>
      isPut('sub/f2.txt')(e) ? held : undefined,
    );
    const run = spawnCli(args, server, { ...as, env });
    // a.txt is recorded while f2's upload is held: a change the next checkpoint saves.
    expect(await run.until((e) => e.type === 'done' && (e as { rel?: string }).rel === 'a.txt', 30_000)).toBe(
      true,
    );
    const state = path.join(src, '.s3sync');
    chmodSync(state, 0o000);
    // Past a checkpoint's period: the timer looks at the lock and cannot.
    await sleep(2600);
    chmodSync(state, 0o755);
    release();
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(proxy.log.filter(isPut('sub/f2.txt'))).toHaveLength(1);
    expect(messages(run, 'warning')).toContainEqual(
      expect.stringMatching(
        /^cannot look at the lock file .*\.lock: permission denied; trying again at the next checkpoint$/,
      ),
    );
    expect(run.stderr()).not.toMatch(/lost the lock/);
    expect(summaryOf(run.events)).toMatchObject({ uploaded: 2, failed: 0 });
    expect([...readManifest(src)!.files.keys()].sort()).toEqual(['a.txt', 'sub/f2.txt']);
    expect(existsSync(`${manifestPaths(src)[0]!}.lock`)).toBe(false);
  });
});
