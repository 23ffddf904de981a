/**
 * Hostile input: files that change or vanish under the tool, entries that are not files or cannot be
 * keys, broken manifests and locks, a disk that fills up, and secrets that must never be printed.
 * Each problem gets one line; the rest of the run proceeds.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  deadPid,
  doneOf,
  MiB,
  manifestPaths,
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  readManifest,
  runCli,
  runLive,
  seededTree,
  servers,
  spawnCli,
  startCli,
  tempFolders,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const mounts: string[] = [];
const writers: ChildProcess[] = [];
afterAll(async () => {
  for (const w of writers) w.kill('SIGKILL');
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  for (const p of proxies) await p.close();
  removeAll();
});
const isRoot = process.getuid?.() === 0;

/**
 * root reads any file: a case about unreadable files runs as nobody, owner of `paths`; undefined when
 * the suite is not root (it runs as itself), null (with a notice) when it cannot switch.
 */
function unprivileged(paths: string[]): { uid: number; gid: number } | undefined | null {
  if (!isRoot) return undefined;
  const nobody = { uid: 65534, gid: 65534 };
  const probe = spawnSync('true', [], nobody);
  if (probe.error || probe.status !== 0) {
    console.warn(
      '[bad-input] NOTICE: running as root and cannot switch to nobody: unreadable-file case skipped',
    );
    return null;
  }
  for (const p of paths) chownSync(p, nobody.uid, nobody.gid);
  return nobody;
}

type Ev = { type: string; rel?: string; message?: string };
const reports = (events: Ev[]) =>
  events.filter((e) => e.type === 'error' || e.type === 'warning' || e.type === 'notice');
const oneLine = (e: Ev) => !String(e.message).includes('\n');

describe.each(servers())('bad input on $name', (server) => {
  describe('files changing under the tool', () => {
    it('a file rewritten continuously while it is pushed is never recorded with a wrong hash', async () => {
      const { bucket, transport } = await newBucket(server, 'hot');
      const src = dir('hot-src');
      const calm = seededTree(src, 40, 11);
      // Three upload paths: buffered PUT (small), streamed PUT (9 MiB), multipart (12 MiB).
      const hot = { 'hot/small.bin': 64 * 1024, 'hot/stream.bin': 9 * MiB, 'hot/multi.bin': 12 * MiB };
      for (const [rel, size] of Object.entries(hot)) bigFile(path.join(src, rel), size);
      const script = `
        const fs = require('fs'), crypto = require('crypto');
        const files = ${JSON.stringify(Object.entries(hot).map(([rel, size]) => [path.join(src, rel), size]))};
        const pause = new Int32Array(new SharedArrayBuffer(4));
        for (;;) {
          for (const [p, n] of files) fs.writeFileSync(p, crypto.randomBytes(n));
          Atomics.wait(pause, 0, 0, 2); // a breath for the two cores, not a quiet window
        }
      `;
      const writer = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
      writers.push(writer);
      // The writer stops after a while, whatever happens: from then on the files hold still, and the
      // run must finish promptly (a request left waiting for body bytes that never come would not).
      const stopWriter = setTimeout(() => writer.kill('SIGKILL'), 8000);
      const started = Date.now();
      const live = spawnCli(
        [
          'push',
          src,
          `s3://${bucket}/hot`,
          '--json',
          '--debug',
          '--multipart-threshold',
          '10MiB',
          '--part-size',
          '5MiB',
        ],
        server,
      );
      const watchdog = setTimeout(() => live.child.kill('SIGKILL'), 40_000);
      const { code } = await live.exited;
      clearTimeout(watchdog);
      clearTimeout(stopWriter);
      writer.kill('SIGKILL');
      const run = { ...live, code };
      expect(
        code,
        `push hung for ${Date.now() - started} ms and was killed: ${live.stdout().slice(-2000)}`,
      ).not.toBe(null);
      expect([0, 1]).toContain(run.code);
      const uploaded = doneOf(run.events, 'upload');
      // The calm files are unaffected.
      for (const rel of calm) expect(uploaded).toContain(rel);
      const m = readManifest(src)!;
      const errors = run.events.filter((e) => e.type === 'error') as Ev[];
      for (const e of errors) expect(Object.keys(hot)).toContain(e.rel);
      for (const rel of Object.keys(hot)) {
        const entry = m.files.get(rel);
        const err = errors.find((e) => e.rel === rel);
        if (entry) {
          // Recorded: the hash is the object's content, whichever version of the file that was.
          expect(err, rel).toBeUndefined();
          expect(await objectMd5(transport, `hot/${rel}`), rel).toBe(entry.md5);
          expect((await transport.list('hot/')).get(rel)?.etag, rel).toBe(entry.etag);
        } else {
          expect(err?.message, rel).toMatch(/changed while/);
          expect(oneLine(err!)).toBe(true);
        }
      }
      expect(run.code).toBe(errors.length > 0 ? 1 : 0);
      expect(m.pending).toEqual({});
      // Once the file holds still, the next run settles it.
      const again = await runCli(
        ['push', src, `s3://${bucket}/hot`, '--multipart-threshold', '10MiB'],
        server,
      );
      expect(again.code).toBe(0);
      expect((await runCli(['check', src, `s3://${bucket}/hot`], server)).code).toBe(0);
    });

    it('a new large file that changes while it is sent in one pass leaves no torn object', async () => {
      const { bucket, transport } = await newBucket(server, 'onepass');
      const src = dir('onepass-src');
      const abs = path.join(src, 'dump.bin');
      bigFile(abs, 20 * MiB);
      const hourAgo = new Date(Date.now() - 3_600_000);
      utimesSync(abs, hourAgo, hourAgo);
      let puts = 0;
      let between: Promise<unknown> | undefined;
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 5,
        rate: 0,
        filter: ({ method, url }) => {
          if (method !== 'PUT' || !url.includes('dump.bin')) return false;
          if (++puts === 1) {
            // The body is on its way: flip its first byte, which has been read or is about to be.
            const fd = openSync(abs, 'r+');
            const b = Buffer.alloc(1);
            readSync(fd, b, 0, 1, 0);
            writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, 0);
            closeSync(fd);
          } else if (puts === 2) {
            // The retry: the first attempt must have left nothing behind.
            between = transport.head('op/dump.bin');
          }
          return false;
        },
      });
      proxies.push(proxy);
      const url = `s3://${bucket}/op`;
      const run = await runLive(['push', src, url, '--endpoint-url', proxy.endpoint, '--json'], server);
      expect(run.code, run.stdout().slice(-2000)).toBe(0);
      expect(puts).toBe(2);
      expect(await between).toBeNull();
      const now = md5Hex(readFileSync(abs));
      expect(await objectMd5(transport, 'op/dump.bin')).toBe(now);
      expect(readManifest(src)!.files.get('dump.bin')?.md5).toBe(now);
      expect((await runCli(['check', src, url], server)).code).toBe(0);
    });

    it('a secret the server echoes in its error message is never printed', async () => {
      const token = `TOKEN-${process.pid}-echoed-back`;
      const secret = `SECRET-${process.pid}-echoed-back`;
      // Every request refused at the proxy, its message quoting the credentials a careless store saw.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 5,
        rate: 0,
        answer: () => ({
          status: 400,
          code: 'InvalidArgument',
          message: `Bad token ${token} signed with ${secret}`,
        }),
      });
      proxies.push(proxy);
      const src = dir('echo-src');
      writeFileSync(path.join(src, 'a.txt'), 'a');
      for (const extra of [[], ['--json'], ['--debug']]) {
        const run = await runLive(
          ['push', src, 's3://echo/p', '--endpoint-url', proxy.endpoint, '--retries', '0', ...extra],
          server,
          { env: { AWS_SESSION_TOKEN: token, AWS_SECRET_ACCESS_KEY: secret } },
        );
        const out = run.stdout() + run.stderr();
        expect(run.code, out).not.toBe(0);
        expect(out).toContain('Bad token *** signed with ***');
        expect(out).not.toContain(token);
        expect(out).not.toContain(secret);
      }
      expect(proxy.log.length).toBeGreaterThan(0);
    });

    it('a file deleted between scan and upload is reported, and the run goes on', async () => {
      const { bucket, transport } = await newBucket(server, 'gone');
      const src = dir('gone-src');
      const rels = seededTree(src, 30, 12);
      let victim: string | undefined;
      // The first upload's request is after the scan and before the other uploads (one at a time):
      // another file goes then.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 3,
        rate: 0,
        filter: ({ method, url }) => {
          if (victim === undefined && method === 'PUT') {
            const putting = decodeURIComponent(url.split('?')[0]!);
            victim = [rels[17]!, rels[18]!].find((r) => !putting.endsWith(`/gone/${r}`))!;
            unlinkSync(path.join(src, victim));
          }
          return false;
        },
      });
      proxies.push(proxy);
      const url = `s3://${bucket}/gone`;
      const run = await runLive(
        ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', '--workers', '1'],
        server,
      );
      expect(victim).toBeDefined();
      expect([0, 1]).toContain(run.code);
      expect(run.stderr()).toBe('');
      const about = reports(run.events as Ev[]).filter((e) => e.rel === victim);
      expect(about).toHaveLength(1);
      expect(about[0]!.message).toMatch(/disappeared|vanished|no longer exists/);
      expect(oneLine(about[0]!)).toBe(true);
      expect(run.code).toBe(about[0]!.type === 'error' ? 1 : 0);
      const others = rels.filter((r) => r !== victim);
      expect(doneOf(run.events, 'upload').sort()).toEqual(others.sort());
      expect([...(await transport.list('gone/')).keys()].sort()).toEqual(others.sort());
      expect([...readManifest(src)!.files.keys()].sort()).toEqual(others.sort());
      expect((await runCli(['check', src, url], server)).code).toBe(0);
    });

    it('a big file emptied between scan and upload is uploaded as it now is', async () => {
      const { bucket, transport } = await newBucket(server, 'trunc');
      const src = dir('trunc-src');
      writeTree(src, { 'a.txt': 'a' });
      bigFile(path.join(src, 'big.bin'), 12 * MiB);
      let emptied = false;
      // As above: at the listing the scan (which saw 12 MiB, so multipart) is done and no upload started.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 4,
        rate: 0,
        filter: ({ method, url }) => {
          if (!emptied && method === 'GET' && url.includes('list-type=2')) {
            writeFileSync(path.join(src, 'big.bin'), '');
            emptied = true;
          }
          return false;
        },
      });
      proxies.push(proxy);
      const url = `s3://${bucket}/trunc`;
      const run = await runLive(
        ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', '--multipart-threshold', '5MiB'],
        server,
      );
      expect(emptied).toBe(true);
      expect(reports(run.events as Ev[]).filter((e) => e.type === 'error')).toEqual([]);
      expect(run.code).toBe(0);
      expect(doneOf(run.events, 'upload').sort()).toEqual(['a.txt', 'big.bin']);
      expect((await transport.list('trunc/')).get('big.bin')?.size).toBe(0);
      expect(readManifest(src)!.files.get('big.bin')).toMatchObject({ size: 0, md5: md5Hex('') });
      expect((await runCli(['check', src, url], server)).code).toBe(0);
    });
    it('a file that shrinks while its body is being sent fails fast and is retried, no stalled request', async () => {
      const { bucket, transport } = await newBucket(server, 'shrink');
      const src = dir('shrink-src');
      // 40 MiB: a streamed single PUT (under the default 64 MiB threshold), far more than socket buffers.
      bigFile(path.join(src, 'big.bin'), 40 * MiB);
      let shrunk = false;
      // When the PUT's headers reach the proxy its body is still being read from the file: cut it to 1 MiB.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 6,
        rate: 0,
        filter: ({ method, url }) => {
          if (!shrunk && method === 'PUT' && url.includes('big.bin')) {
            truncateSync(path.join(src, 'big.bin'), MiB);
            shrunk = true;
          }
          return false;
        },
      });
      proxies.push(proxy);
      const url = `s3://${bucket}/shrink`;
      const started = Date.now();
      const live = spawnCli(['push', src, url, '--endpoint-url', proxy.endpoint, '--json'], server);
      // The SDK's socket timeout is 60 s: a request whose body came up short must not wait for it.
      const watchdog = setTimeout(() => live.child.kill('SIGKILL'), 25_000);
      const { code } = await live.exited;
      clearTimeout(watchdog);
      const elapsed = Date.now() - started;
      expect(shrunk).toBe(true);
      expect(code, `killed after ${elapsed} ms: ${live.stdout().slice(-1500)}`).not.toBe(null);
      expect(elapsed).toBeLessThan(20_000);
      expect(code, live.stdout().slice(-1500)).toBe(0);
      expect(doneOf(live.events, 'upload')).toEqual(['big.bin']);
      expect((await transport.list('shrink/')).get('big.bin')?.size).toBe(MiB);
      expect((await runCli(['check', src, url], server)).code).toBe(0);
    });
  });

  describe('bad local input: one line each, the rest is uploaded', () => {
    interface BadCase {
      name: string;
      make: (root: string) => Promise<(() => Promise<void>) | undefined> | undefined;
      /** rel paths of the bad entries as s3sync reports them. */
      bad: string[];
      kind: 'notice' | 'error';
      message: RegExp;
      args?: string[];
    }
    const long = Array.from({ length: 6 }, (_, i) => String.fromCharCode(97 + i).repeat(200)).join('/');
    const cases: BadCase[] = [
      {
        name: 'a FIFO',
        make: (root) => {
          expect(spawnSync('mkfifo', [path.join(root, 'pipe')]).status).toBe(0);
          return undefined;
        },
        bad: ['pipe'],
        kind: 'notice',
        message: /not a regular file/,
      },
      {
        name: 'a unix socket',
        make: async (root) => {
          const srv = net.createServer();
          await new Promise<void>((r) => srv.listen(path.join(root, 'sock'), r));
          return () => new Promise<void>((r) => srv.close(() => r()));
        },
        bad: ['sock'],
        kind: 'notice',
        message: /not a regular file/,
      },
      {
        name: 'a file name that is not valid UTF-8',
        make: (root) => {
          writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0xff, 0xfe, 0x41])]), 'x');
          return undefined;
        },
        bad: ['\uFFFD\uFFFDA'],
        kind: 'error',
        message: /UTF-8/,
      },
      {
        name: "a path longer than S3's 1,024-byte key limit",
        make: (root) => {
          writeTree(root, { [`${long}/file.txt`]: 'deep' });
          return undefined;
        },
        bad: [`${long}/file.txt`],
        kind: 'error',
        message: /1,?024/,
      },
      {
        name: 'a symlink loop with --follow-symlinks',
        make: (root) => {
          mkdirSync(path.join(root, 'sub'));
          symlinkSync('..', path.join(root, 'sub/up'));
          symlinkSync('self', path.join(root, 'self'));
          return undefined;
        },
        bad: ['sub/up', 'self'],
        kind: 'error',
        message: /loop|ELOOP/,
        args: ['--follow-symlinks'],
      },
    ];

    it.each(cases)('$name', async (c) => {
      const { bucket, transport } = await newBucket(server, 'bad');
      const src = dir('bad-src');
      const good = { 'a.txt': 'a', 'nested/b.txt': 'b', 'nested/deeper/c.bin': 3000 };
      writeTree(src, good);
      const undo = await c.make(src);
      const url = `s3://${bucket}/bad`;
      let run: Awaited<ReturnType<typeof runLive>>;
      try {
        run = await runLive(['push', src, url, '--json', ...(c.args ?? [])], server);
      } finally {
        await undo?.();
      }
      expect(run.stderr()).toBe('');
      const rs = reports(run.events as Ev[]);
      for (const rel of c.bad) {
        const about = rs.filter((e) => e.rel === rel);
        expect(about, `${rel}: ${JSON.stringify(rs)}`).toHaveLength(1);
        expect(about[0]!.type).toBe(c.kind);
        expect(about[0]!.message).toMatch(c.message);
        expect(oneLine(about[0]!)).toBe(true);
      }
      expect(rs.filter((e) => !c.bad.includes(e.rel ?? ''))).toEqual([]);
      expect(run.code).toBe(c.kind === 'error' ? 1 : 0);
      expect(doneOf(run.events, 'upload').sort()).toEqual(Object.keys(good).sort());
      expect([...(await transport.list('bad/')).keys()].sort()).toEqual(Object.keys(good).sort());
      if (c.kind === 'notice') expect((await runCli(['check', src, url], server)).code).toBe(0);
    });

    it('an unreadable file', async () => {
      const { bucket, transport } = await newBucket(server, 'perm');
      const src = dir('perm-src');
      writeTree(src, { 'a.txt': 'a', 'b/c.txt': 'c', 'secret.txt': 'no' });
      chmodSync(path.join(src, 'secret.txt'), 0o000);
      const home = dir('perm-home');
      const as = unprivileged([
        src,
        path.join(src, 'a.txt'),
        path.join(src, 'b'),
        path.join(src, 'b/c.txt'),
        home,
      ]);
      if (as === null) return;
      const run = await runLive(['push', src, `s3://${bucket}/perm`, '--json'], server, {
        ...as,
        env: { HOME: home },
      });
      expect(run.stderr()).toBe('');
      const rs = reports(run.events as Ev[]);
      expect(rs).toHaveLength(1);
      expect(rs[0]).toMatchObject({ type: 'error', rel: 'secret.txt' });
      // Said as an upload's read says it, whichever read found it (here the hash of a file new to it).
      expect(rs[0]!.message).toBe('secret.txt: cannot read file: permission denied');
      expect(oneLine(rs[0]!)).toBe(true);
      expect(run.code).toBe(1);
      expect(doneOf(run.events, 'upload').sort()).toEqual(['a.txt', 'b/c.txt']);
      expect([...(await transport.list('perm/')).keys()].sort()).toEqual(['a.txt', 'b/c.txt']);
    });

    it('a source directory it cannot read: one line that says so, not the ignore file (exit 2)', async () => {
      const { bucket } = await newBucket(server, 'permdir');
      const src = dir('permdir-src');
      writeTree(src, { 'a.txt': 'a' });
      const home = dir('permdir-home');
      const as = unprivileged([src, path.join(src, 'a.txt'), home]);
      if (as === null) return;
      chmodSync(src, 0o000);
      try {
        const r = await runCli(['push', src, `s3://${bucket}/permdir`, '--delete'], server, {
          ...as,
          env: { HOME: home },
        });
        expect(r.code).toBe(2);
        expect(plainLines(r.stderr)).toEqual([`s3sync: cannot read the source directory '${src}': EACCES`]);
      } finally {
        chmodSync(src, 0o755);
      }
    });

    it('pull and check beside an unreadable file or folder: one error each, nothing written over it', async () => {
      const { bucket } = await newBucket(server, 'permpull');
      const src = dir('permpull-src');
      const tree = { 'a.txt': 'a', 'secret.txt': 'remote', 'locked/x.txt': 'x', 'locked/y.txt': 'y' };
      writeTree(src, tree);
      const url = `s3://${bucket}/pp`;
      expect((await runCli(['push', src, url], server)).code).toBe(0);
      const dst = dir('permpull-dst');
      const home = dir('permpull-home');
      const as = unprivileged([dst, home]);
      if (as === null) return;
      const opts = { ...as, env: { HOME: home } };
      expect((await runCli(['pull', url, dst], server, opts)).code).toBe(0);
      // Each run below finds the files changed since the manifest (or with no manifest): a same-size
      // file has to be read to tell, and cannot be; a folder's names are listed but cannot be stat'ed.
      const secret = path.join(dst, 'secret.txt');
      const locked = path.join(dst, 'locked');
      const cases: [string, () => void, string[]][] = [
        ['a changed file', () => writeFileSync(secret, 'local!'), ['secret.txt']],
        [
          'the same without a manifest',
          () => rmSync(path.join(dst, '.s3sync'), { recursive: true, force: true }),
          ['secret.txt'],
        ],
        [
          'a folder that cannot be searched',
          () => chmodSync(locked, 0o444),
          ['locked/x.txt', 'locked/y.txt'],
        ],
      ];
      for (const [what, change, bad] of cases) {
        chmodSync(secret, 0o644);
        change();
        chmodSync(secret, 0o000);
        for (const args of [
          ['pull', url, dst, '--delete'],
          ['check', dst, url],
        ]) {
          const run = await runLive([...args, '--json'], server, opts);
          expect(run.stderr(), `${what}, ${args[0]}`).toBe('');
          const rs = reports(run.events as Ev[]);
          const errors = rs.filter((e) => e.type === 'error');
          // One line per path, the unreadable file's included: never "not written" over it too.
          const want = [...new Set([...bad, 'secret.txt'])].sort();
          expect(errors.map((e) => e.rel).sort(), `${what}, ${args[0]}`).toEqual(want);
          for (const e of errors) expect(oneLine(e)).toBe(true);
          expect(run.code, `${what}, ${args[0]}`).toBe(1);
          if (args[0] === 'check') {
            const sum = run.events.find((e) => e.type === 'check-summary') as
              | { errors?: unknown[] }
              | undefined;
            expect(sum?.errors, what).toHaveLength(want.length);
          }
        }
        // The file is as it was (read as root), and the others are the objects' copies.
        expect(readFileSync(secret, 'utf8')).toBe('local!');
        expect(readFileSync(path.join(dst, 'a.txt'), 'utf8')).toBe('a');
      }
      // Without --json, check's line says it could not compare everything.
      const plain = await runCli(['check', dst, url], server, opts);
      expect(plain.code).toBe(1);
      expect(plain.stdout).toMatch(/^3 error\(s\), no difference found: 1 same, /m);
      chmodSync(locked, 0o755);
    });
  });

  describe('bad state', () => {
    const M = 40;
    /** One pushed tree shared by the cases below (each leaves its manifest valid again). */
    async function setup() {
      const { bucket, transport } = await newBucket(server, 'state');
      const src = dir('state-src');
      seededTree(src, M, 21);
      const url = `s3://${bucket}/state`;
      const first = await runCli(['push', src, url, '--json'], server);
      expect(first.code).toBe(0);
      expect(first.summary?.uploaded).toBe(M);
      const [file] = manifestPaths(src);
      return { bucket, transport, src, url, file: file! };
    }
    let shared: ReturnType<typeof setup> | undefined;
    const pushed = () => {
      shared ??= setup();
      return shared;
    };

    /** After a broken manifest: one warning, rebuilt from the listing, nothing uploaded. */
    async function expectRebuilt(src: string, url: string, file: string, reason: RegExp) {
      const run = await runCli(['push', src, url, '--json'], server);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toBe('');
      const rs = reports(run.events as Ev[]);
      expect(rs).toHaveLength(1);
      expect(rs[0]!.type).toBe('warning');
      expect(rs[0]!.message).toMatch(/manifest/);
      expect(rs[0]!.message).toMatch(reason);
      expect(oneLine(rs[0]!)).toBe(true);
      expect(run.summary).toMatchObject({ uploaded: 0, recorded: M, failed: 0 });
      expect(run.summary!.requests.PutObject ?? 0).toBe(0);
      expect(run.summary!.requests.ListObjectsV2).toBeGreaterThanOrEqual(1);
      // Rebuilt: valid again, and the next run needs no request at all.
      expect([...readManifestAt(file).files.keys()]).toHaveLength(M);
      const next = await runCli(['push', src, url, '--json'], server);
      expect(next.summary).toMatchObject({ uploaded: 0, unchanged: M, requestsTotal: 0 });
      expect(reports(next.events as Ev[])).toEqual([]);
    }
    const readManifestAt = (file: string) => readManifest(path.dirname(path.dirname(file)))!;

    it('a truncated manifest', async () => {
      const { src, url, file } = await pushed();
      const text = readFileSync(file);
      writeFileSync(file, text.subarray(0, Math.floor(text.length / 2)));
      await expectRebuilt(src, url, file, /truncated|malformed|end line/);
    });

    it('a manifest full of garbage bytes', async () => {
      const { src, url, file } = await pushed();
      const garbage = Buffer.alloc(4096);
      for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 7) % 256;
      writeFileSync(file, garbage);
      await expectRebuilt(src, url, file, /JSON|corrupt|not an s3sync manifest/);
    });

    it('a manifest with "version": 99', async () => {
      const { src, url, file } = await pushed();
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('"version":1');
      writeFileSync(file, text.replace('"version":1', '"version":99'));
      await expectRebuilt(src, url, file, /version 99/);
    });

    it("another destination's manifest copied onto this one's path", async () => {
      const { bucket, src, url, file } = await pushed();
      const other = await runCli(['push', src, `s3://${bucket}/other`, '--json'], server);
      expect(other.code).toBe(0);
      const otherFile = manifestPaths(src).find((p) => p !== file)!;
      copyFileSync(otherFile, file);
      rmSync(otherFile);
      await expectRebuilt(src, url, file, /another destination/);
    });

    it('a lock left by a dead process is taken over with a notice; a live one is refused', async () => {
      const { src, url, file } = await pushed();
      const lock = `${file}.lock`;
      const pid = deadPid();
      writeFileSync(lock, JSON.stringify({ pid, host: hostname(), startedAt: new Date().toISOString() }));
      const run = await runCli(['push', src, url, '--json'], server);
      expect(run.code).toBe(0);
      const rs = reports(run.events as Ev[]);
      expect(rs.map((r) => r.type)).toEqual(['notice', 'notice']);
      expect(rs[0]!.message).toMatch(new RegExp(`stale lock.*${pid}`));
      // The dead run may have replaced objects after its last checkpoint: one listing checks them.
      expect(rs[1]!.message).toMatch(/^the last run on this destination did not finish/);
      expect(run.summary).toMatchObject({ uploaded: 0, unchanged: M });
      expect(run.summary!.requestsTotal).toBeGreaterThan(0);
      expect(existsSync(lock)).toBe(false);
      const after = await runCli(['push', src, url, '--json'], server);
      expect(after.summary).toMatchObject({ uploaded: 0, unchanged: M, requestsTotal: 0 });

      // This test process is alive: its lock stands, and the run stops with one line, exit 2.
      writeFileSync(
        lock,
        JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }),
      );
      const refused = await runCli(['push', src, url], server);
      expect(refused.code).toBe(2);
      const lines = plainLines(refused.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`another s3sync run \\(pid ${process.pid}`));
      expect(existsSync(lock)).toBe(true);
      unlinkSync(lock);
    });
  });

  it('a full disk on pull: a clear error, and no partial file under a real name', async () => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: cannot mount a small tmpfs; disk-full case skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'full');
    const src = dir('full-src');
    const files: Record<string, number> = { 'big/ranged.bin': 2 * MiB };
    for (let i = 0; i < 6; i++) files[`f${i}.bin`] = 512 * 1024;
    writeTree(src, files);
    const url = `s3://${bucket}/full`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('full-dst');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dst], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(
        `[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): disk-full case skipped`,
      );
      return;
    }
    mounts.push(dst);
    try {
      const pull = await runCli(
        ['pull', url, dst, '--multipart-threshold', '1MiB', '--part-size', '1MiB', '--workers', '4'],
        server,
      );
      expect(pull.code).not.toBe(0);
      const want = treeHashes(src);
      const got = treeHashes(dst);
      expect(Object.keys(got).length).toBeLessThan(Object.keys(want).length);
      for (const [rel, md5] of Object.entries(got)) {
        expect(want[rel], rel).toBe(md5);
        expect(statSync(path.join(dst, rel)).size).toBe(files[rel]);
      }
      // No temp files left behind either.
      expect(tempFolders(dst).flatMap((tmp) => readdirSync(tmp))).toEqual([]);
      // Whatever the manifest records is on disk as recorded.
      const m = readManifest(dst);
      for (const [rel, e] of m?.files ?? new Map<string, { md5: string }>())
        expect(got[rel], rel).toBe(e.md5);
      // The run stops at the first ENOSPC with one line that says so (not an error per remaining file).
      const lines = plainLines(pull.stderr);
      expect(lines, pull.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^s3sync: disk full/);
    } finally {
      spawnSync('umount', [dst]);
      mounts.splice(mounts.indexOf(dst), 1);
    }
  });

  it('a full disk on pull --delete: the deletions skipped are said, as after any error', async () => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: cannot mount a small tmpfs; disk-full delete case skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'fulldel');
    const olds: Record<string, number> = {};
    const news: Record<string, number> = {};
    for (let i = 0; i < 8; i++) {
      olds[`a${i}.bin`] = 200_000;
      news[`b${i}.bin`] = 200_000;
    }
    const a = dir('fulldel-a');
    const b = dir('fulldel-b');
    writeTree(a, olds);
    writeTree(b, news);
    const url = `s3://${bucket}/rot`;
    expect((await runCli(['push', a, url], server)).code).toBe(0);
    const mnt = dir('fulldel-dst');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): case skipped`);
      return;
    }
    mounts.push(mnt);
    try {
      const dst = path.join(mnt, 'd');
      expect((await runCli(['pull', url, dst, '--delete'], server)).code).toBe(0);
      // The prefix now holds other files only: the pull must delete 8 and download 8, and has no room.
      const manifest = path.join(dir('fulldel-m'), 'm.json');
      const replaced = await runCli(['push', b, url, '--delete', '--force', '--manifest', manifest], server);
      expect(replaced.code, replaced.stderr).toBe(0);
      const pull = await runCli(['pull', url, dst, '--delete'], server);
      expect(pull.code).toBe(1);
      expect(plainLines(pull.stderr), pull.stderr).toEqual([
        'error: not deleting 8 file(s): the disk filled up in this run (deletions come after the downloads): free space and pull again',
        expect.stringMatching(/^s3sync: disk full .* \(ENOSPC\): stopped; no partial file was left$/),
      ]);
      expect(Object.keys(treeHashes(dst)).filter((f) => f.startsWith('a'))).toHaveLength(8);
    } finally {
      spawnSync('umount', [mnt]);
      mounts.splice(mounts.indexOf(mnt), 1);
    }
  });

  it.each([
    { label: 'no space', opts: 'size=2m', n: 40, size: 200_000 },
    { label: 'no free inodes', opts: 'nr_inodes=20', n: 50, size: 2000 },
  ])('a full disk ($label) with many downloads in flight: one line, no file failed', async (c) => {
    if (!isRoot) {
      console.warn(
        '[bad-input] NOTICE: not root: cannot mount a small tmpfs; in-flight disk-full case skipped',
      );
      return;
    }
    const { bucket } = await newBucket(server, 'flight');
    const src = dir('flight-src');
    const files: Record<string, number> = {};
    for (let i = 0; i < c.n; i++) files[`f${i}.bin`] = c.size;
    writeTree(src, files);
    const url = `s3://${bucket}/flight`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('flight-dst');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', c.opts, 'tmpfs', dst], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): case skipped`);
      return;
    }
    mounts.push(dst);
    try {
      // The default workers: more downloads than requests at once, some waiting for a slot at the stop.
      const pull = await runCli(['pull', url, dst, '--json'], server);
      expect(pull.code).toBe(1);
      // The downloads the stop cut short are neither failed nor reported: the next run fetches them.
      expect(pull.events.filter((e) => e.type === 'error')).toEqual([]);
      expect(pull.summary).toMatchObject({ failed: 0, exitCode: 1 });
      expect(plainLines(pull.stderr), pull.stderr).toEqual([
        expect.stringMatching(
          /^s3sync: disk full \(no space or no free inodes\) while writing f\d+\.bin \(ENOSPC\): stopped; no partial file was left$/,
        ),
      ]);
      expect(pull.summary!.downloaded).toBeLessThan(c.n);
      expect(tempFolders(dst).flatMap((tmp) => readdirSync(tmp))).toEqual([]);
    } finally {
      spawnSync('umount', [dst]);
      mounts.splice(mounts.indexOf(dst), 1);
    }
  });

  it('a full disk while decompressing a --compress object: disk full, not "not valid gzip"', async () => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: cannot mount a small tmpfs; gunzip disk-full case skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'fullgz');
    const src = dir('fullgz-src');
    // A few kilobytes gzipped, each 6 MiB once decompressed: the download fits, its plain bytes do not.
    const plain = Buffer.alloc(6 * MiB, 'compressible text ');
    writeTree(src, { 'a.bin': plain, 'b.bin': plain, 'c.bin': plain });
    const url = `s3://${bucket}/gz`;
    expect((await runCli(['push', src, url, '--compress', '*.bin'], server)).code).toBe(0);
    const dst = dir('fullgz-dst');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dst], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): case skipped`);
      return;
    }
    mounts.push(dst);
    try {
      const pull = await runCli(['pull', url, dst, '--workers', '1'], server);
      expect(pull.code).toBe(1);
      expect(plainLines(pull.stderr), pull.stderr).toEqual([
        expect.stringMatching(
          /^s3sync: disk full \(no space or no free inodes\) while writing [abc]\.bin \(ENOSPC\): stopped; no partial file was left$/,
        ),
      ]);
      expect(treeHashes(dst)).toEqual({});
      expect(tempFolders(dst).flatMap((tmp) => readdirSync(tmp))).toEqual([]);
    } finally {
      spawnSync('umount', [dst]);
      mounts.splice(mounts.indexOf(dst), 1);
    }
  });

  it('a target remounted read-only during a pull: its errors, exit 1, never an unexpected error', async () => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: cannot mount a tmpfs; read-only remount case skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'rofs');
    const src = dir('rofs-src');
    const files: Record<string, number> = {};
    for (let i = 0; i < 30; i++) files[`f${i}.bin`] = 256 * 1024;
    writeTree(src, files);
    const url = `s3://${bucket}/rofs`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('rofs-dst');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dst], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): case skipped`);
      return;
    }
    mounts.push(dst);
    // Slowed, so that the remount comes while most files are still to be written.
    const live = spawnCli(['pull', url, dst, '--bwlimit', '1MiB', '--json'], server);
    try {
      expect(await live.until((e) => e.type === 'done')).toBe(true);
      // The kernel refuses the remount (EBUSY) while a file is open for writing, so it is tried
      // until a moment between files; under load that moment can take a while to come.
      let ended = false;
      void live.exited.then(() => {
        ended = true;
      });
      let ro = spawnSync('mount', ['-o', 'remount,ro', dst], { encoding: 'utf8' });
      while (ro.status !== 0 && !ended) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        ro = spawnSync('mount', ['-o', 'remount,ro', dst], { encoding: 'utf8' });
      }
      expect(ro.status, ro.stderr).toBe(0);
      const { code } = await live.exited;
      expect(code).toBe(1);
      const stderr = plainLines(live.stderr());
      expect(
        stderr.filter((l) => /unexpected error/.test(l)),
        live.stderr(),
      ).toEqual([]);
      // The files it could not write are named with the reason; the temp folder it could not remove
      // is a warning, which the next writable run clears.
      const errors = (live.events as Ev[]).filter((e) => e.type === 'error').map((e) => String(e.message));
      expect(
        errors.some((m) => /^f\d+\.bin: .*EROFS/.test(m)),
        errors.join('\n'),
      ).toBe(true);
      const warnings = (live.events as Ev[])
        .filter((e) => e.type === 'warning')
        .map((e) => String(e.message));
      expect(warnings).toContainEqual(
        expect.stringMatching(
          /^cannot remove the temp folder \.s3sync\/tmp-[0-9a-f]+ \(EROFS\): the next pull removes it$/,
        ),
      );
      const last = JSON.parse(live.stdout().trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ type: 'summary', exitCode: 1 });
      expect(spawnSync('mount', ['-o', 'remount,rw', dst]).status).toBe(0);
      const again = await runCli(['pull', url, dst, '--json'], server);
      expect(again.code, again.stderr).toBe(0);
      expect(treeHashes(dst)).toEqual(treeHashes(src));
      expect(tempFolders(dst).flatMap((tmp) => readdirSync(tmp))).toEqual([]);
    } finally {
      // A pull still writing keeps the mount busy; it is stopped first so that the umount works.
      live.child.kill('SIGKILL');
      await live.exited;
      spawnSync('umount', [dst]);
      mounts.splice(mounts.indexOf(dst), 1);
    }
  });

  it('a full disk on plan --out: one line, and the plan that was there is left whole', async () => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: cannot mount a small tmpfs; plan disk-full case skipped');
      return;
    }
    const { bucket } = await newBucket(server, 'planfull');
    const src = dir('planfull-src');
    seededTree(src, 40, 66, { maxSize: 128 });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const out = dir('planfull-out');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', out], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): plan case skipped`);
      return;
    }
    mounts.push(out);
    try {
      const planFile = path.join(out, 'plan.json');
      // An earlier plan (by its first field): plan --out overwrites only a plan.
      const before = '{"s3syncPlan": 1, "reviewed": "yesterday"}\n';
      writeFileSync(planFile, before);
      // One page left: the plan of 40 downloads (about 10 KiB) does not fit.
      writeFileSync(path.join(out, 'filler'), Buffer.alloc(14 * 4096));
      const r = await runCli(['plan', 'pull', url, dir('planfull-dst'), '--out', planFile, '-q'], server);
      expect(r.code).toBe(1);
      const lines = plainLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^s3sync: cannot write plan .*plan\.json: ENOSPC/);
      expect(readFileSync(planFile, 'utf8')).toBe(before);
      expect(readdirSync(out).sort()).toEqual(['filler', 'plan.json']);
    } finally {
      spawnSync('umount', [out]);
      mounts.splice(mounts.indexOf(out), 1);
    }
  });

  /** A tmpfs with `free` pages free besides a 3-page filler (one: room for the lock, none for the manifest). */
  function fullManifestDisk(label: string, free = 1): string | undefined {
    if (!isRoot) {
      console.warn(
        '[bad-input] NOTICE: not root: cannot mount a small tmpfs; manifest disk-full case skipped',
      );
      return undefined;
    }
    const at = dir(label);
    const size = `size=${(3 + free) * 4}k`;
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', size, 'tmpfs', at], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      console.warn(`[bad-input] NOTICE: cannot mount a tmpfs (${mounted.stderr.trim()}): case skipped`);
      return undefined;
    }
    mounts.push(at);
    writeFileSync(path.join(at, 'filler'), Buffer.alloc(3 * 4096));
    return at;
  }
  const unmount = (at: string) => {
    spawnSync('umount', [at]);
    mounts.splice(mounts.indexOf(at), 1);
  };

  it('a full disk at the last manifest save: one line, exit 1, and the summary is still the last line', async () => {
    const at = fullManifestDisk('mfull');
    if (!at) return;
    try {
      const { bucket } = await newBucket(server, 'mfull');
      const src = dir('mfull-src');
      seededTree(src, 10, 67);
      const manifest = path.join(at, 'm.json');
      const r = await runCli(['push', src, `s3://${bucket}/p`, '--manifest', manifest, '--json'], server);
      expect(r.code).toBe(1);
      const lines = plainLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^s3sync: cannot write manifest .*m\.json: ENOSPC/);
      // The change mark beside the manifest cannot be written either: warned of, the uploads go on.
      expect(r.stdout).toMatch(/cannot write the change mark [^\n]*ENOSPC[^\n]*the uploads go on/);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ type: 'summary', uploaded: 10, exitCode: 1 });
      expect(readdirSync(at)).toEqual(['filler']);
    } finally {
      unmount(at);
    }
  });

  it('a pull stopped by a full disk that cannot save its manifest either: both said, the file named', async () => {
    // Three pages: the lock's and two small files'; none for the big file, nor then for the manifest.
    const at = fullManifestDisk('pfull', 3);
    if (!at) return;
    try {
      const { bucket } = await newBucket(server, 'pfull');
      const src = dir('pfull-src');
      writeTree(src, { 'a1.txt': 'one', 'a2.txt': 'two', 'big.bin': 64 * 1024 });
      const url = `s3://${bucket}/p`;
      expect((await runCli(['push', src, url], server)).code).toBe(0);
      const r = await runCli(['pull', url, at, '--workers', '1', '--json'], server);
      expect(r.code).toBe(1);
      expect(plainLines(r.stderr)).toEqual([
        's3sync: disk full (no space or no free inodes) while writing big.bin (ENOSPC): stopped; no partial file was left',
      ]);
      const errors = r.events.filter((e) => e.type === 'error').map((e) => String(e.message));
      expect(errors).toEqual([expect.stringMatching(/^cannot write manifest .*: ENOSPC/)]);
      // Without --json, both lines on stderr: the save's failure, then what stopped the run.
      const human = await runCli(['pull', url, at, '--workers', '1'], server);
      expect(plainLines(human.stderr)).toEqual([
        expect.stringMatching(/^error: cannot write manifest .*: ENOSPC/),
        's3sync: disk full (no space or no free inodes) while writing big.bin (ENOSPC): stopped; no partial file was left',
      ]);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ type: 'summary', downloaded: 2, exitCode: 1 });
      expect(readdirSync(at).filter((n) => n !== '.s3sync')).toEqual(['a1.txt', 'a2.txt', 'filler']);
    } finally {
      unmount(at);
    }
  });

  it('a full disk at a periodic checkpoint: a warning, not a crash; the run ends with its summary', async () => {
    const at = fullManifestDisk('cpfull');
    if (!at) return;
    try {
      const { bucket } = await newBucket(server, 'cpfull');
      const src = dir('cpfull-src');
      seededTree(src, 20, 68);
      // Every request held 0.4 s, two at a time: the run outlasts the 2 s checkpoint interval.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 3,
        rate: 1,
        kinds: ['delay'],
        delayMs: 400,
      });
      proxies.push(proxy);
      const manifest = path.join(at, 'm.json');
      const args = ['--endpoint-url', proxy.endpoint, '--workers', '2', '--manifest', manifest, '--json'];
      const r = await runCli(['push', src, `s3://${bucket}/p`, ...args], server);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(`${r.stdout}${r.stderr}`).toContain('ENOSPC: no space left on device, write; trying again');
      expect(plainLines(r.stderr).at(-1)).toMatch(/^s3sync: cannot write manifest .*m\.json: ENOSPC/);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ type: 'summary', uploaded: 20, exitCode: 1 });
      expect(readdirSync(at)).toEqual(['filler']);
    } finally {
      unmount(at);
    }
  });

  it('a folder that mkdir cannot make under a parent that exists (/proc): one line, never a hang', async () => {
    // Node 20's recursive mkdir loops there for good, the event loop blocked: deaf to SIGTERM too.
    const { bucket, transport } = await newBucket(server, 'procdir');
    const src = dir('procdir-src');
    seededTree(src, 3, 71);
    const url = `s3://${bucket}/p`;
    const bounded = async (args: string[], env: Record<string, string> = {}) => {
      const run = startCli(args, server, { env });
      const killer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
      try {
        const r = await run.done;
        expect(run.child.signalCode, `hung: ${args.join(' ')}`).toBeNull();
        return r;
      } finally {
        clearTimeout(killer);
      }
    };
    const missing = `/proc/s3sync-no-such-${process.pid}`;
    for (const manifest of [`${missing}/m.json`, `${missing}/a/b/m.json`]) {
      const r = await bounded(['push', src, url, '--manifest', manifest]);
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toEqual([
        `s3sync: cannot create the manifest's folder ${path.dirname(manifest)}: ENOENT: no such file or directory, mkdir '${missing}'`,
      ]);
    }
    for (const target of [missing, `${missing}/a/b`]) {
      const r = await bounded(['pull', url, target]);
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toEqual([
        `s3sync: cannot create destination directory '${target}' (ENOENT)`,
      ]);
    }
    expect((await transport.list('p/')).size).toBe(0);
    // A cache home there: the command runs without its code cache.
    const r = await bounded(['push', src, url, '--json'], { XDG_CACHE_HOME: `${missing}/cache` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 3, failed: 0 });
  });

  it('a folder of the target a pull cannot write in is named, not the temp file', async (ctx) => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: the unwritable-folder case is skipped');
      return ctx.skip();
    }
    const { bucket } = await newBucket(server, 'unwritable');
    const url = `s3://${bucket}/p`;
    const src = dir('unwritable-src');
    writeTree(src, { a: 'a', 'sub/b': 'b', 'sub/c': 'c', 'ro/d': 'd' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('unwritable-dst');
    // 'sub' is root's (EACCES for nobody); 'ro' is a read-only mount (EROFS for anyone).
    mkdirSync(path.join(dst, 'sub'), { mode: 0o755 });
    mkdirSync(path.join(dst, 'ro'));
    const roSource = dir('unwritable-ro');
    chmodSync(roSource, 0o755);
    const bind = spawnSync('mount', ['--bind', roSource, path.join(dst, 'ro')], {
      encoding: 'utf8',
    });
    expect(bind.status, bind.stderr).toBe(0);
    mounts.push(path.join(dst, 'ro'));
    const remount = spawnSync('mount', ['-o', 'remount,ro,bind', path.join(dst, 'ro')], { encoding: 'utf8' });
    expect(remount.status, remount.stderr).toBe(0);
    const owner = unprivileged([dst]);
    const r = await runCli(['pull', url, dst], server, owner ? { ...owner, env: { HOME: dst } } : {});
    expect(r.code, r.stderr).toBe(1);
    const lines = plainLines(r.stderr).filter((l) => !l.startsWith('error: not deleting'));
    expect(lines.sort()).toEqual(
      [
        "error: ro/d: not written: cannot write in folder 'ro' (EROFS)",
        ...(owner
          ? [
              "error: sub/b: not written: cannot write in folder 'sub' (EACCES)",
              "error: sub/c: not written: cannot write in folder 'sub' (EACCES)",
            ]
          : []),
      ].sort(),
    );
  });

  it('a tree pushed before, now read-only (a snapshot): one line with the way out, no temp path', async (ctx) => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: the read-only snapshot case is skipped');
      return ctx.skip();
    }
    const { bucket } = await newBucket(server, 'ro-snap');
    const url = `s3://${bucket}/p`;
    const src = dir('ro-snap');
    seededTree(src, 3, 74);
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = dir('ro-snap-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    const lines: Record<string, string[]> = {};
    for (const [label, tree] of [
      ['push', src],
      ['pull', dst],
    ] as const) {
      const ro = dir(`ro-snap-${label}`);
      const bind = spawnSync('mount', ['--bind', tree, ro], { encoding: 'utf8' });
      expect(bind.status, bind.stderr).toBe(0);
      mounts.push(ro);
      const remount = spawnSync('mount', ['-o', 'remount,ro,bind', ro], { encoding: 'utf8' });
      expect(remount.status, remount.stderr).toBe(0);
      const r = await runCli(label === 'push' ? ['push', ro, url] : ['pull', url, ro], server);
      expect(r.code, r.stderr).toBe(2);
      const [manifest] = manifestPaths(ro);
      lines[label] = plainLines(r.stderr).map((l) => l.replace(manifest!, 'MANIFEST'));
    }
    expect(lines).toEqual({
      push: [
        's3sync: cannot create lock file MANIFEST.lock: EROFS: read-only file system (a source this user cannot write in: give --manifest a path on a disk it can)',
      ],
      pull: [
        's3sync: cannot create lock file MANIFEST.lock: EROFS: read-only file system (a destination this user cannot write in: check its permissions, or that it is mounted read-write)',
      ],
    });
  });

  it('a source push cannot keep its manifest in says how to go on: --manifest elsewhere', async (ctx) => {
    if (!isRoot) {
      console.warn('[bad-input] NOTICE: not root: the read-only source case is skipped');
      return ctx.skip();
    }
    const { bucket } = await newBucket(server, 'ro-src');
    const src = dir('ro-src');
    seededTree(src, 3, 72);
    const ro = dir('ro-src-mount');
    const bind = spawnSync('mount', ['--bind', src, ro], { encoding: 'utf8' });
    expect(bind.status, bind.stderr).toBe(0);
    mounts.push(ro);
    const remount = spawnSync('mount', ['-o', 'remount,ro,bind', ro], { encoding: 'utf8' });
    expect(remount.status, remount.stderr).toBe(0);
    const url = `s3://${bucket}/p`;
    const hint = ' (a source this user cannot write in: give --manifest a path on a disk it can)';
    const r = await runCli(['push', ro, url], server);
    expect(r.code).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      `s3sync: cannot create the manifest's folder ${ro}/.s3sync: EROFS: read-only file system, mkdir '${ro}/.s3sync'${hint}`,
    ]);
    // Given, the path is the user's: its failure is said as it is, with no advice.
    const elsewhere = path.join(dir('ro-src-manifest'), 'm.json');
    const first = await runCli(['push', ro, url, '--manifest', elsewhere, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ uploaded: 3 });
    const again = await runCli(['push', ro, url, '--manifest', elsewhere, '--json'], server);
    expect(again.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    // A folder owned by another user reads the same (EACCES).
    const home = dir('ro-src-home');
    const owner = unprivileged([home]);
    if (owner) {
      const mine = dir('ro-src-root');
      seededTree(mine, 2, 73);
      chmodSync(mine, 0o755);
      const denied = await runCli(['push', mine, url], server, {
        ...owner,
        env: { HOME: home },
      });
      expect(denied.code).toBe(2);
      expect(plainLines(denied.stderr)).toEqual([
        `s3sync: cannot create the manifest's folder ${mine}/.s3sync: EACCES: permission denied, mkdir '${mine}/.s3sync'${hint}`,
      ]);
    }
  });

  it('secrets never appear in output, with --debug, on success and on error paths', async () => {
    const { bucket } = await newBucket(server, 'sec');
    const src = dir('sec-src');
    seededTree(src, 20, 31);
    bigFile(path.join(src, 'big.bin'), 6 * MiB);
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 5, rate: 0.3 });
    proxies.push(proxy);
    // A port nothing listens on.
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const wrongSecret = 'wR0ngS3cretKeyValue/abcdefghijklmnopqrstu';
    const url = `s3://${bucket}/sec`;
    // Retries enough that a 30% fault rate never fails a request outright (0.3^11 per request).
    const mp = ['--multipart-threshold', '5MiB', '--part-size', '5MiB', '--retries', '10'];
    const human = ['--debug'];
    const json = ['--debug', '--json'];
    // s3rver does not verify signatures: there a wrong secret key is accepted, which is not the point.
    const verifiesSignatures = server.name !== 'embedded';
    const noBucket = `s3://no-such-bucket-${process.pid}/x`;
    const runs: {
      what: string;
      args: string[];
      env?: Record<string, string>;
      outcome?: 'ok' | 'fail' | 'any';
      modes: string[][];
    }[] = [
      {
        what: 'push through faults',
        args: ['push', src, url, '--endpoint-url', proxy.endpoint, ...mp],
        outcome: 'ok',
        modes: [human],
      },
      {
        what: 'pull through faults',
        args: ['pull', url, dir('sec-dst'), '--endpoint-url', proxy.endpoint, ...mp],
        outcome: 'ok',
        modes: [json],
      },
      { what: 'check', args: ['check', src, url], outcome: 'ok', modes: [human] },
      { what: 'wrong bucket', args: ['push', src, noBucket], modes: [human, json] },
      {
        what: 'wrong endpoint',
        args: ['push', src, url, '--endpoint-url', `http://127.0.0.1:${closed}`, '--retries', '1'],
        modes: [human],
      },
      { what: 'pull from wrong bucket', args: ['pull', noBucket, dir('sec-dst2')], modes: [human] },
      { what: 'cleanup on wrong bucket', args: ['cleanup', noBucket], modes: [human] },
      {
        what: 'wrong secret',
        args: ['push', src, `${url}2`],
        env: { AWS_SECRET_ACCESS_KEY: wrongSecret },
        outcome: verifiesSignatures ? 'fail' : 'any',
        modes: [human, json],
      },
    ];
    for (const r of runs) {
      for (const mode of r.modes) {
        // runLive, not runCli: the env given here must win over the server's credentials.
        const out = await runLive([...r.args, ...mode], server, { env: r.env ?? {} });
        const all = out.stdout() + out.stderr();
        const outcome = r.outcome ?? 'fail';
        if (outcome === 'ok') expect(out.code, `${r.what}: ${out.stderr()}`).toBe(0);
        if (outcome === 'fail') expect(out.code, `${r.what}: ${all}`).not.toBe(0);
        expect(all.includes(server.secretAccessKey), `${r.what}: secret key printed`).toBe(false);
        expect(all.includes(wrongSecret), `${r.what}: secret key printed`).toBe(false);
        expect(all, r.what).not.toMatch(/Signature=|X-Amz-Signature/i);
      }
    }
    expect(Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
