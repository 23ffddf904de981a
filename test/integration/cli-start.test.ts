import { isAscii } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bigFile,
  cliPath,
  MiB,
  newBucket,
  recordLoaded,
  repoRoot,
  runCli,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';

// The s3sync command (src/cli/s3sync.cts) runs the CLI bundle (scripts/bundle.mjs), from V8's code
// cache when the user has a trusted one. What a run loads, and what it does with that cache.

const bundle = path.join(repoRoot, 'dist/cli/bundle.cjs');
/** The cache file `command` uses under `cacheHome` for the bundle built now, on this Node. */
function cacheFile(cacheHome: string, command = 'other'): string {
  const hash = createHash('sha256').update(readFileSync(bundle)).digest('hex').slice(0, 32);
  return path.join(cacheHome, 's3sync', `code-${hash}-${process.version}-${process.arch}-${command}.bin`);
}
const modeOf = (p: string) => statSync(p).mode & 0o777;
/** Built-ins a run that sends nothing and hashes nothing off the main thread has no use for. */
const TRANSFER_BUILTINS = ['http', 'https', 'http2', 'tls', 'zlib', 'worker_threads'];
/** Loaded on first use by the bundle (scripts/bundle.mjs): commander's and the upload modules'. */
const LAZY_BUILTINS = ['child_process', 'fs/promises', 'readline'];
const hook = path.join(repoRoot, 'test/helpers/loaded-modules.cjs');
const takeHook = path.join(repoRoot, 'test/helpers/code-cache-take.cjs');

describe.each(servers())('the s3sync command on $name', (server) => {
  /** A new bucket, and a tree of `n` small files spread over `dirs` folders. */
  async function bucketAndTree(label: string, n: number, dirs: number) {
    const { bucket } = await newBucket(server, label);
    const src = tempDir(`${label}-src`);
    writeTree(
      src,
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i % dirs}/f${i}.txt`, `${i}\n`])),
    );
    return { bucket, src };
  }

  it('a no-change push loads no module file but itself, no HTTP stack, and sends nothing', async () => {
    const { bucket, src } = await bucketAndTree('start', 20, 4);
    const env = { XDG_CACHE_HOME: tempDir('start-cache') };
    const first = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server, { env });
    expect(first.code).toBe(0);
    expect(first.summary?.uploaded).toBe(20);
    const rec = recordLoaded();
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server, {
      env: { ...env, ...rec.env },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary?.requestsTotal).toBe(0);
    const loaded = rec.loaded();
    expect(loaded.codeCache).toBe('used');
    // The bundle ran from the cache: not even it was loaded as a module.
    expect(loaded.modules).toEqual([hook, cliPath]);
    expect(loaded.builtins.filter((b) => TRANSFER_BUILTINS.includes(b))).toEqual([]);
    expect(loaded.builtins.filter((b) => LAZY_BUILTINS.includes(b))).toEqual([]);
  });

  it('a run that uploads takes its code cache at its plan, before the first upload', async () => {
    const { bucket, src } = await bucketAndTree('start-take', 30, 3);
    const home = tempDir('start-take-cache');
    const takes = path.join(tempDir('start-take-record'), 'takes.json');
    const args = ['push', src, `s3://${bucket}/p`, '--json'];
    const first = await runCli(args, server, {
      env: { XDG_CACHE_HOME: home, NODE_OPTIONS: `--require ${takeHook}`, S3SYNC_TEST_TAKES: takes },
    });
    expect(first.code).toBe(0);
    expect(first.summary?.uploaded).toBe(30);
    const { requests } = first.summary!;
    const record = JSON.parse(readFileSync(takes, 'utf8')) as { takes: number[]; requests: number };
    // Once, when every request before the plan (the listing) had gone and no PUT yet: the start-up's
    // functions are in it, whatever a long run's transfers do to them afterwards.
    expect(record.takes).toEqual([first.summary!.requestsTotal - (requests.PutObject ?? 0)]);
    expect(record.requests).toBe(first.summary!.requestsTotal);
    expect(existsSync(cacheFile(home, 'push'))).toBe(true);
    // The next run, with nothing to send, starts from it.
    const rec = recordLoaded();
    const again = await runCli(args, server, { env: { XDG_CACHE_HOME: home, ...rec.env } });
    expect(again.code).toBe(0);
    expect(again.summary?.requestsTotal).toBe(0);
    expect(rec.loaded().codeCache).toBe('used');
  });

  it('a fresh runner hashes a large file on a worker thread, whose code the bundle finds', async () => {
    const { bucket } = await newBucket(server, 'start-worker');
    const src = tempDir('start-worker-src');
    bigFile(path.join(src, 'big.bin'), 9 * MiB);
    writeTree(src, { 'small.txt': 'small\n' });
    expect((await runCli(['push', src, `s3://${bucket}/p`, '--json'], server)).code).toBe(0);
    const rec = recordLoaded();
    // No manifest: the run proves both files by their MD5 against the listing and uploads nothing.
    const manifest = path.join(tempDir('start-worker-manifest'), 'm.json');
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--manifest', manifest, '--json'], server, {
      env: rec.env,
    });
    expect(r.code).toBe(0);
    expect(r.summary?.uploaded ?? 0).toBe(0);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1 });
    // worker_threads is loaded with the first worker (src/local/hash-thread.ts), and only then.
    expect(rec.loaded().builtins).toContain('worker_threads');
  });
});

describe('the code cache of the s3sync command', () => {
  /** `s3sync --help` with the cache under `cacheHome`: its output and what it did with the cache. */
  async function help(cacheHome: string, extra: Record<string, string> = {}) {
    const rec = recordLoaded();
    const r = await runCli(['--help'], undefined, {
      env: { XDG_CACHE_HOME: cacheHome, ...rec.env, ...extra },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    return { stdout: r.stdout, ...rec.loaded() };
  }
  /** A cache home with a cache written by one run, and that run's output. */
  async function warmed() {
    const home = tempDir('cache-home');
    const first = await help(home);
    expect(first.codeCache).toBe('missing');
    return { home, file: cacheFile(home), stdout: first.stdout };
  }

  it('is written once by the first run, private, and used by the next with the same output', async () => {
    const { home, file, stdout } = await warmed();
    expect(stdout).toContain('Usage: s3sync');
    expect(modeOf(path.dirname(file))).toBe(0o700);
    expect(modeOf(file)).toBe(0o600);
    const before = statSync(file);
    const second = await help(home);
    expect(second.codeCache).toBe('used');
    expect(second.stdout).toBe(stdout);
    const after = statSync(file);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it("each command has its own cache: one a bare --help wrote is not a push's", async () => {
    const { home, file } = await warmed();
    const push = async () => {
      const rec = recordLoaded();
      const r = await runCli(['push', '--help'], undefined, { env: { XDG_CACHE_HOME: home, ...rec.env } });
      expect(r.code).toBe(0);
      return rec.loaded().codeCache;
    };
    expect(await push()).toBe('missing');
    expect(existsSync(cacheFile(home, 'push'))).toBe(true);
    expect(await push()).toBe('used');
    expect(existsSync(file)).toBe(true);
  });

  // V8 rejects a damaged cache; the command never reads one that is not private to the user.
  it.each([
    ['damaged: random bytes', (f: string) => writeFileSync(f, randomBytes(4096)), 'rejected'],
    ['damaged: empty', (f: string) => truncateSync(f, 0), 'rejected'],
    ['damaged: cut in half', (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2)), 'rejected'],
    ['group-writable', (f: string) => chmodSync(f, 0o620), 'untrusted'],
    ['world-writable', (f: string) => chmodSync(f, 0o602), 'untrusted'],
    ['owned by another user', (f: string) => chownSync(f, 1, 1), 'untrusted'],
    [
      'a symlink to a good cache',
      (f: string) => {
        const elsewhere = path.join(tempDir('cache-elsewhere'), 'code.bin');
        writeFileSync(elsewhere, readFileSync(f), { mode: 0o600 });
        rmSync(f);
        symlinkSync(elsewhere, f);
      },
      'untrusted',
    ],
  ])('a cache file %s is not used: the run unaffected, the file left as it is', async (_, spoil, status) => {
    const { home, file, stdout } = await warmed();
    spoil(file);
    const before = readFileSync(file);
    const r = await help(home);
    expect(r.codeCache).toBe(status);
    expect(r.stdout).toBe(stdout);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it.each([
    ['writable by its group', (d: string) => chmodSync(d, 0o770)],
    ['writable by anyone', (d: string) => chmodSync(d, 0o777)],
    ['owned by another user', (d: string) => chownSync(d, 1, 1)],
    [
      'a symlink to a private directory',
      (d: string) => {
        const real = tempDir('cache-real');
        chmodSync(real, 0o700);
        rmSync(d, { recursive: true });
        symlinkSync(real, d);
      },
    ],
  ])('a cache directory %s is not used: nothing read, nothing written', async (_, spoil) => {
    const { home, file, stdout } = await warmed();
    const dir = path.dirname(file);
    rmSync(file);
    spoil(dir);
    const r = await help(home);
    expect(r.codeCache).toBe('off');
    expect(r.stdout).toBe(stdout);
    expect(existsSync(file)).toBe(false);
    // Run as a module: the bundle is required.
    expect(r.modules).toContain(bundle);
  });

  it('compiles an ASCII bundle: read as Latin-1, V8 keeps it as a one-byte source', () => {
    // One character above 0x7f anywhere, a comment's arrow or ellipsis, would make the whole source
    // two-byte; scripts/bundle.mjs escapes what esbuild leaves.
    const bytes = readFileSync(bundle);
    const offset = bytes.findIndex((b) => b > 0x7f);
    expect(offset === -1 ? '' : bytes.subarray(Math.max(0, offset - 40), offset + 8).toString('utf8')).toBe(
      '',
    );
    expect(isAscii(bytes)).toBe(true);
  });

  it('S3SYNC_CODE_CACHE=0 turns it off: no directory made', async () => {
    const home = tempDir('cache-off');
    const r = await help(home, { S3SYNC_CODE_CACHE: '0' });
    expect(r.codeCache).toBe('off');
    expect(r.stdout).toContain('Usage: s3sync');
    expect(existsSync(path.join(home, 's3sync'))).toBe(false);
  });

  it('--version loads neither the bundle nor the cache', async () => {
    const home = tempDir('cache-version');
    mkdirSync(home, { recursive: true });
    const rec = recordLoaded();
    const r = await runCli(['--version'], undefined, { env: { XDG_CACHE_HOME: home, ...rec.env } });
    expect(r.code).toBe(0);
    const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(r.stdout).toBe(`${version}\n`);
    const loaded = rec.loaded();
    expect(loaded.modules).toEqual([hook, cliPath]);
    expect(loaded.codeCache).toBe('undefined');
    expect(existsSync(path.join(home, 's3sync'))).toBe(false);
  });
});
