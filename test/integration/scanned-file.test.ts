/**
 * Push sends exactly the file it scanned and never blocks on a special file. A file swapped after the
 * scan — for a symbolic link to a file the user could not otherwise read, a FIFO, a socket, or another
 * file renamed over it with the same size and mtime — is reported in one line, not uploaded, not
 * recorded, and the run exits 1; the swapped-in bytes never leave the machine. The same holds for every
 * read: hashing, one-pass uploads, multipart parts, and `check`. A file whose size lies (/proc, /sys)
 * is an error too.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  doneOf,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  readManifest,
  runCli,
  seedObject,
  servers,
  spawnCli,
  trackedDirs,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const sockets: net.Server[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  for (const s of sockets) await new Promise((r) => s.close(r));
  removeAll();
});

type Ev = { type: string; rel?: string; message?: string; action?: string };
type Kind = 'symlink' | 'fifo' | 'socket' | 'renamed';
const KINDS: Kind[] = ['symlink', 'fifo', 'socket', 'renamed'];

/** What the one line about a swapped file says, by kind. */
const SAYS: Record<Kind, RegExp> = {
  symlink: /is no longer a regular file \(symbolic link\)|was replaced by a symbolic link/,
  fifo: /is no longer a regular file \(FIFO\)/,
  socket: /is no longer a regular file \(socket\)/,
  renamed: /was replaced by another file \(another inode\)/,
};

const THRESHOLD = ['--multipart-threshold', '10MiB', '--part-size', '5MiB'];
/** One file per read path: in memory (< 8 MiB), streamed single PUT (8 MiB..threshold), multipart. */
const SIZES = { small: 64 * 1024, medium: 9 * MiB, multi: 11 * MiB };
type Role = keyof typeof SIZES;
const ROLES = Object.keys(SIZES) as Role[];

/** A whole second, so that utimes can give another file exactly the same mtime. */
const wholeSecond = (offsetS: number) => new Date((Math.floor(Date.now() / 1000) - 3600 + offsetS) * 1000);

/** Bytes that must never reach the server, one marker per swapped-in file. */
interface Swaps {
  outside: string;
  markers: Buffer[];
}

const fill = (marker: Buffer, size: number) => {
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += marker.length) marker.copy(out, off);
  return out;
};

/** Replaces the file at abs by something else of the given kind (see the file comment). */
async function swap(abs: string, kind: Kind, ctx: Swaps): Promise<void> {
  const was = statSync(abs);
  const name = path.basename(abs);
  if (kind === 'symlink') {
    // Outside the tree, readable by root alone, and of the scanned size: a size check alone would pass.
    const marker = Buffer.from(`SECRET-${randomBytes(12).toString('hex')}-`);
    const secret = path.join(ctx.outside, `secret-${name}`);
    writeFileSync(secret, fill(marker, was.size), { mode: 0o600 });
    ctx.markers.push(marker);
    unlinkSync(abs);
    symlinkSync(secret, abs);
  } else if (kind === 'fifo') {
    unlinkSync(abs);
    expect(spawnSync('mkfifo', [abs]).status).toBe(0);
  } else if (kind === 'socket') {
    unlinkSync(abs);
    const srv = net.createServer();
    sockets.push(srv);
    await new Promise<void>((resolve) => srv.listen(abs, resolve));
  } else {
    // Another inode with the same size and mtime, renamed over the scanned file.
    const marker = Buffer.from(`IMPOSTOR-${randomBytes(12).toString('hex')}-`);
    const tmp = path.join(ctx.outside, `impostor-${name}`);
    writeFileSync(tmp, fill(marker, was.size));
    utimesSync(tmp, was.atime, was.mtime);
    renameSync(tmp, abs);
    const now = lstatSync(abs, { bigint: true });
    const before = was.mtimeMs;
    expect([Number(now.size), Number(now.mtimeNs / 1_000_000n)]).toEqual([was.size, before]);
    ctx.markers.push(marker);
  }
}

type Hold = (req: { method: string; url: string }) => Promise<unknown> | undefined;

/**
 * One proxy for all the runs of a test (a manifest belongs to its endpoint). Once armed, it records
 * every request body and lets the test act while a request of its choosing is held.
 */
async function recordingProxy(server: TestServer) {
  let hold: Hold | undefined;
  const bodies: Buffer[][] = [];
  const byReq = new WeakMap<object, Buffer[]>();
  const proxy = await startFaultProxy({
    target: server.endpoint,
    seed: 1,
    rate: 0,
    hold: (req) => hold?.(req),
    observe: (req, chunk) => {
      if (!hold) return;
      let list = byReq.get(req);
      if (!list) {
        list = [];
        byReq.set(req, list);
        bodies.push(list);
      }
      list.push(Buffer.from(chunk));
    },
  });
  proxies.push(proxy);
  return {
    via: ['--endpoint-url', proxy.endpoint],
    bodies,
    arm: (h: Hold) => {
      hold = h;
    },
  };
}

/** Holds the first listing request while `act` runs; `acted` tells whether it did. */
function atListing(act: () => Promise<void>): { hold: Hold; acted: () => boolean } {
  let done = false;
  return {
    hold: ({ method, url }) => {
      if (done || method !== 'GET' || !url.includes('list-type=2')) return undefined;
      done = true;
      return act();
    },
    acted: () => done,
  };
}

/** No request body, and no object in the bucket, holds any of the markers. */
async function assertNeverSent(bodies: Buffer[][], t: S3Transport, markers: Buffer[]): Promise<void> {
  for (const b of bodies) {
    const all = Buffer.concat(b);
    for (const m of markers) expect(all.includes(m), `a request body carried ${m}`).toBe(false);
  }
  for (const key of (await t.list('')).keys()) {
    const body = await t.get({ key }, async (stream) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    });
    for (const m of markers) expect(body.includes(m), `${key} holds ${m}`).toBe(false);
  }
}

/** Runs the CLI with a watchdog: a read that blocks (a FIFO) must not hang the run. */
async function runGuarded(args: string[], server: TestServer) {
  const live = spawnCli(args, server);
  const watchdog = setTimeout(() => live.child.kill('SIGKILL'), 60_000);
  const { code } = await live.exited;
  clearTimeout(watchdog);
  expect(code, `the run hung and was killed: ${live.stdout().slice(-1500)}`).not.toBe(null);
  return { ...live, code, events: live.events as Ev[] };
}

const reportsAbout = (events: Ev[], rel: string) =>
  events.filter((e) => (e.type === 'error' || e.type === 'warning' || e.type === 'notice') && e.rel === rel);

/** Exactly one error line about each victim, saying what it says; no other report at all. */
function expectReported(events: Ev[], victims: Record<string, RegExp>): void {
  for (const [rel, says] of Object.entries(victims)) {
    const about = reportsAbout(events, rel);
    expect(about, `${rel}: ${JSON.stringify(about)}`).toHaveLength(1);
    expect(about[0]!.type).toBe('error');
    expect(about[0]!.message).toMatch(says);
    expect(about[0]!.message).not.toContain('\n');
  }
  const others = events.filter(
    (e) => (e.type === 'error' || e.type === 'warning') && !Object.keys(victims).includes(e.rel ?? ''),
  );
  expect(others).toEqual([]);
}

const entries = (src: string) => new Map(readManifest(src)?.files ?? new Map<string, ManifestEntry>());

describe.each(servers())('scanned files on $name', (server) => {
  describe.each(KINDS)('swapped for a %s', (kind) => {
    it('after the scan (held at the listing): small, one-pass and multipart new files', async () => {
      const { bucket, transport } = await newBucket(server, 'swap-a');
      const src = dir('swap-a');
      const ctx: Swaps = { outside: dir('swap-a-outside'), markers: [] };
      const { via, bodies, arm } = await recordingProxy(server);
      writeFileSync(path.join(src, 'seed.txt'), 'seed');
      const url = `s3://${bucket}/p`;
      // A manifest that knows one file: the next run reads the tree first and then lists (for the new
      // files), so the swap at the listing comes after the scan.
      expect((await runCli(['push', src, url, ...via], server)).code).toBe(0);
      const files: Record<string, Role> = {
        'small.bin': 'small',
        'onepass.bin': 'medium',
        'multi.bin': 'multi',
      };
      for (const [rel, role] of Object.entries(files)) {
        writeFileSync(path.join(src, rel), randomBytes(SIZES[role]));
        utimesSync(path.join(src, rel), wholeSecond(0), wholeSecond(0));
      }
      writeFileSync(path.join(src, 'calm.txt'), 'calm');
      const listing = atListing(async () => {
        for (const rel of Object.keys(files)) await swap(path.join(src, rel), kind, ctx);
      });
      arm(listing.hold);
      const run = await runGuarded(['push', src, url, ...via, '--json', ...THRESHOLD], server);
      expect(listing.acted()).toBe(true);
      expect(run.stderr()).toBe('');
      expect(run.code).toBe(1);
      expectReported(
        run.events,
        Object.fromEntries(
          Object.keys(files).map((rel) => [rel, new RegExp(`${SAYS[kind].source}: not uploaded`)]),
        ),
      );
      expect(doneOf(run.events, 'upload')).toEqual(['calm.txt']);
      expect([...(await transport.list('p/')).keys()].sort()).toEqual(['calm.txt', 'seed.txt']);
      expect([...entries(src).keys()].sort()).toEqual(['calm.txt', 'seed.txt']);
      await assertNeverSent(bodies, transport, ctx.markers);
    });

    /**
     * Files the manifest knows, rewritten in place: the plan hashes them, then uploads them one at a
     * time in scan order. 'after-hash': all are swapped while the first upload (another file) is held;
     * 'while-sent': each at its own first request (its PUT, or for multipart the CreateMultipartUpload
     * before any part is read).
     */
    it.each(['after-hash', 'while-sent'] as const)(
      '%s: small, hash-first and multipart files',
      async (moment) => {
        const { bucket, transport } = await newBucket(server, 'swap-b');
        const src = dir('swap-b');
        const ctx: Swaps = { outside: dir('swap-b-outside'), markers: [] };
        const { via, bodies, arm } = await recordingProxy(server);
        // Names first, then roles by scan (readdir) order, so that the trigger is uploaded first.
        for (const n of ['n0.bin', 'n1.bin', 'n2.bin', 'n3.bin']) writeFileSync(path.join(src, n), '');
        const order = readdirSync(src);
        const trigger = order[0]!;
        const role = Object.fromEntries(ROLES.map((r, i) => [order[i + 1]!, r])) as Record<string, Role>;
        const victims = Object.keys(role);
        writeFileSync(path.join(src, trigger), 't');
        for (const rel of victims) writeFileSync(path.join(src, rel), randomBytes(SIZES[role[rel]!]));
        const url = `s3://${bucket}/p`;
        expect((await runCli(['push', src, url, ...via, ...THRESHOLD], server)).code).toBe(0);
        const before = entries(src);
        const seeded = Object.fromEntries(victims.map((rel) => [rel, before.get(rel)!.md5]));
        // Same sizes, new content: the manifest cannot vouch, so the plan hashes them.
        const scanned: Record<string, string> = {};
        for (const [i, rel] of victims.entries()) {
          const data = randomBytes(SIZES[role[rel]!]);
          writeFileSync(path.join(src, rel), data);
          utimesSync(path.join(src, rel), wholeSecond(i), wholeSecond(i));
          scanned[rel] = md5Hex(data);
        }
        writeFileSync(path.join(src, trigger), 'tt');
        expect(readdirSync(src).filter((n) => n !== '.s3sync')).toEqual(order);
        const swappedAt: string[] = [];
        arm(({ method, url: u }) => {
          if (moment === 'after-hash') {
            if (swappedAt.length > 0 || method !== 'PUT' || !u.includes(`/p/${trigger}`)) return undefined;
            swappedAt.push(trigger);
            return (async () => {
              for (const rel of victims) await swap(path.join(src, rel), kind, ctx);
            })();
          }
          const rel = victims.find((r) => u.includes(`/p/${r}`));
          if (!rel || swappedAt.includes(rel)) return undefined;
          const first = role[rel] === 'multi' ? method === 'POST' && u.includes('uploads') : method === 'PUT';
          if (!first) return undefined;
          swappedAt.push(rel);
          return swap(path.join(src, rel), kind, ctx);
        });
        const run = await runGuarded(
          ['push', src, url, ...via, '--json', '--workers', '1', ...THRESHOLD],
          server,
        );
        expect(swappedAt).toHaveLength(moment === 'after-hash' ? 1 : 3);
        expect(run.stderr()).toBe('');
        expect(run.code).toBe(1);
        expectReported(run.events, Object.fromEntries(victims.map((rel) => [rel, SAYS[kind]])));
        for (const rel of victims) {
          const said = reportsAbout(run.events, rel)[0]!.message!;
          // While sent, a body already read (small: in memory; streamed: every byte read before the swap,
          // which the socket buffers may allow) goes, as scanned, and the path, now another thing, is not
          // recorded. A streamed body still being read when the swap unlinks its file sees the scanned
          // inode's ctime move and aborts before its last byte; the retry finds another thing at the
          // path: not uploaded. Multipart parts open the file again: refused.
          const sent = said.endsWith(' while it was uploaded: not recorded');
          if (moment === 'after-hash' || role[rel] === 'multi') expect(sent, said).toBe(false);
          if (moment === 'while-sent' && role[rel] === 'small') expect(sent, said).toBe(true);
          expect(said, rel).toMatch(sent ? / while it was uploaded: not recorded$/ : /: not uploaded$/);
          expect(await objectMd5(transport, `p/${rel}`), rel).toBe(sent ? scanned[rel] : seeded[rel]);
          expect(entries(src).get(rel), rel).toEqual(before.get(rel));
        }
        expect(doneOf(run.events, 'upload')).toEqual([trigger]);
        await assertNeverSent(bodies, transport, ctx.markers);
      },
    );
  });

  /**
   * Deleted after the scan: nothing is left to send, as with a file changed and then gone (a warning,
   * not an error: the run sent all there is, and a watch takes it as the file's deletion). At the
   * listing (before any open), and for a multipart file at its CreateMultipartUpload (before a part).
   */
  it.each(['at-listing', 'multipart-started'] as const)(
    'deleted after the scan (%s): one warning each, the rest sent, exit 0',
    async (moment) => {
      const { bucket, transport } = await newBucket(server, 'gone');
      const src = dir('gone');
      const { via, arm } = await recordingProxy(server);
      writeFileSync(path.join(src, 'seed.txt'), 'seed');
      const url = `s3://${bucket}/p`;
      expect((await runCli(['push', src, url, ...via], server)).code).toBe(0);
      const files: Record<string, Role> =
        moment === 'at-listing'
          ? { 'small.bin': 'small', 'onepass.bin': 'medium', 'multi.bin': 'multi' }
          : { 'multi.bin': 'multi' };
      for (const [rel, role] of Object.entries(files))
        writeFileSync(path.join(src, rel), randomBytes(SIZES[role]));
      writeFileSync(path.join(src, 'calm.txt'), 'calm');
      let acted = false;
      const remove = async () => {
        acted = true;
        for (const rel of Object.keys(files)) unlinkSync(path.join(src, rel));
      };
      if (moment === 'at-listing') {
        const listing = atListing(remove);
        arm(listing.hold);
      } else {
        arm(({ method, url: u }) =>
          !acted && method === 'POST' && u.includes('/p/multi.bin') && u.includes('uploads')
            ? remove()
            : undefined,
        );
      }
      const run = await runGuarded(
        ['push', src, url, ...via, '--json', '--workers', '1', ...THRESHOLD],
        server,
      );
      expect(acted).toBe(true);
      expect(run.stderr()).toBe('');
      expect(run.code).toBe(0);
      for (const rel of Object.keys(files)) {
        const about = reportsAbout(run.events, rel);
        expect(about, `${rel}: ${JSON.stringify(about)}`).toHaveLength(1);
        expect(about[0]!.type).toBe('warning');
        expect(about[0]!.message).toBe(`${rel}: disappeared during the run`);
      }
      expect(run.events.filter((e) => e.type === 'error')).toEqual([]);
      expect(doneOf(run.events, 'upload')).toEqual(['calm.txt']);
      expect([...(await transport.list('p/')).keys()].sort()).toEqual(['calm.txt', 'seed.txt']);
      expect([...entries(src).keys()].sort()).toEqual(['calm.txt', 'seed.txt']);
    },
  );

  describe('check reads under the same rule', () => {
    it.each(['fifo', 'symlink', 'renamed'] as const)(
      'a file swapped (%s) after the scan is an error, never compared, never waited on',
      async (kind) => {
        const { bucket } = await newBucket(server, 'swap-check');
        const src = dir('swap-check');
        const ctx: Swaps = { outside: dir('swap-check-outside'), markers: [] };
        const { via, arm } = await recordingProxy(server);
        // Hashed synchronously, on this thread, on a worker thread.
        const files = { 'small.bin': 64 * 1024, 'mid.bin': 2 * MiB, 'big.bin': 9 * MiB, 'calm.txt': 4 };
        for (const [rel, size] of Object.entries(files)) {
          writeFileSync(path.join(src, rel), randomBytes(size));
          utimesSync(path.join(src, rel), wholeSecond(0), wholeSecond(0));
        }
        const url = `s3://${bucket}/p`;
        expect((await runCli(['push', src, url, ...via], server)).code).toBe(0);
        const victims = ['small.bin', 'mid.bin', 'big.bin'];
        // check lists first and reads the tree while the server answers: the listing is held long
        // enough for the scan of four files to be done, then the files are swapped. --full: every file
        // is read, whatever the manifest says.
        const listing = atListing(async () => {
          await new Promise((r) => setTimeout(r, 1500));
          for (const rel of victims) await swap(path.join(src, rel), kind, ctx);
        });
        arm(listing.hold);
        const run = await runGuarded(['check', src, url, ...via, '--json', '--full'], server);
        expect(listing.acted()).toBe(true);
        expect(run.stderr()).toBe('');
        expect(run.code).toBe(1);
        expectReported(run.events, Object.fromEntries(victims.map((rel) => [rel, SAYS[kind]])));
        // Neither the same nor different nor missing on either side: not compared at all.
        expect(run.events.find((e) => e.type === 'check-summary')).toMatchObject({
          same: 1,
          onlyLocal: [],
          onlyRemote: [],
          differ: [],
        });
      },
    );
  });

  describe('files that are not what they claim to be', () => {
    /** A /proc file stats as 0 bytes and reads as more; a /sys file as 4,096 and reads as less. */
    const liars = ['/proc/version', '/sys/devices/system/cpu/online'].filter((p) => {
      try {
        return statSync(p).isFile() && statSync(p).size !== readFileSync(p).length;
      } catch {
        return false;
      }
    });
    if (!liars.includes('/proc/version')) throw new Error('/proc/version is not a lying /proc file here');
    if (liars.length < 2)
      console.warn('[scanned-file] NOTICE: no lying /sys file here: that variation skipped');

    it.each(['new', 'existing'] as const)(
      'linked with --follow-symlinks, %s objects: an error',
      async (state) => {
        const { bucket, transport } = await newBucket(server, 'liar');
        const src = dir('liar');
        writeFileSync(path.join(src, 'a.txt'), 'a');
        const rels = liars.map((target, i) => {
          symlinkSync(target, path.join(src, `liar${i}`));
          return `liar${i}`;
        });
        const url = `s3://${bucket}/p`;
        // Existing: an object of the size the file claims is there, so the plan hashes the file first.
        const seeded: Record<string, string> = {};
        if (state === 'existing') {
          for (const rel of rels) {
            const size = statSync(path.join(src, rel)).size;
            seeded[rel] = await seedObject(transport, `p/${rel}`, Buffer.alloc(size, 1));
          }
        }
        const claims = /is not what it claims to be: its size is \d+ bytes but (more|\d+) could be read/;
        const run = await runGuarded(['push', src, url, '--follow-symlinks', '--json'], server);
        expect(run.stderr()).toBe('');
        expect(run.code).toBe(1);
        expectReported(run.events, Object.fromEntries(rels.map((rel) => [rel, claims])));
        expect(doneOf(run.events, 'upload')).toEqual(['a.txt']);
        const listed = await transport.list('p/');
        for (const rel of rels) expect(listed.get(rel)?.etag, rel).toBe(seeded[rel]);
        expect([...entries(src).keys()]).toEqual(['a.txt']);
        // check reads them the same way (where there is an object to compare them with).
        const check = await runGuarded(['check', src, url, '--follow-symlinks', '--json'], server);
        expect(check.code).toBe(1);
        if (state === 'existing')
          expectReported(check.events, Object.fromEntries(rels.map((rel) => [rel, claims])));
        else expect(check.events.find((e) => e.type === 'check-summary')).toMatchObject({ onlyLocal: rels });
      },
    );
  });

  it('--follow-symlinks: a linked file is uploaded as its target, and a swapped target is refused', async () => {
    const { bucket, transport } = await newBucket(server, 'follow');
    const src = dir('follow');
    const outside = dir('follow-outside');
    const { via, bodies, arm } = await recordingProxy(server);
    const target = path.join(outside, 'target.bin');
    writeFileSync(target, randomBytes(9 * MiB));
    symlinkSync(target, path.join(src, 'link.bin'));
    mkdirSync(path.join(src, 'd'));
    writeFileSync(path.join(src, 'd/small.txt'), 'small');
    const url = `s3://${bucket}/p`;
    const push = (...args: string[]) =>
      runGuarded(['push', src, url, ...via, '--follow-symlinks', '--json', ...args], server);
    const first = await push();
    expect(first.code, first.stdout().slice(-1500)).toBe(0);
    expect(doneOf(first.events, 'upload').sort()).toEqual(['d/small.txt', 'link.bin']);
    expect(await objectMd5(transport, 'p/link.bin')).toBe(md5Hex(readFileSync(target)));
    const again = await push();
    expect(again.events.find((e) => e.type === 'summary')).toMatchObject({
      uploaded: 0,
      requestsTotal: 0,
      exitCode: 0,
    });
    // The target rewritten in place (the same inode): uploaded again, through the link.
    writeFileSync(target, randomBytes(9 * MiB));
    const rewritten = await push();
    expect(rewritten.code, rewritten.stdout().slice(-1500)).toBe(0);
    expect(doneOf(rewritten.events, 'upload')).toEqual(['link.bin']);
    const was = md5Hex(readFileSync(target));
    expect(await objectMd5(transport, 'p/link.bin')).toBe(was);
    // Rewritten again, then replaced by another file after the scan (held at the listing, which
    // --verify asks for first): refused, even though the link is followed.
    const ctx: Swaps = { outside: dir('follow-swap'), markers: [] };
    writeFileSync(target, randomBytes(9 * MiB));
    utimesSync(target, wholeSecond(0), wholeSecond(0));
    const listing = atListing(() => swap(target, 'renamed', ctx));
    arm(listing.hold);
    const run = await push('--verify');
    expect(listing.acted()).toBe(true);
    expect(run.code).toBe(1);
    expectReported(run.events, { 'link.bin': /was replaced by another file \(another inode\)/ });
    expect(doneOf(run.events, 'upload')).toEqual([]);
    expect(await objectMd5(transport, 'p/link.bin')).toBe(was);
    await assertNeverSent(bodies, transport, ctx.markers);
  });
});
