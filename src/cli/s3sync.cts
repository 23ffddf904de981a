#!/usr/bin/env node
/**
 * The s3sync command. It runs the CLI bundle (bundle.cjs, written by scripts/bundle.mjs) compiled from
 * V8's code cache when this user has one for this exact bundle and this Node, and writes one at the
 * end of a run that had none: compiling the bundle is most of what a short run adds to Node's own
 * start-up (docs/performance.md). Without a usable cache the bundle runs as any CommonJS module.
 *
 * The cache is bytecode this process will run, so it is trusted only as ssh trusts its files: a
 * directory and a regular file owned by this user that no one else can write, never through a symlink.
 */
import bufferModule = require('node:buffer');
import crypto = require('node:crypto');
import fs = require('node:fs');
import nodeModule = require('node:module');
import os = require('node:os');
import path = require('node:path');
import vm = require('node:vm');

const bundle = path.join(__dirname, 'bundle.cjs');
/** What happened to the cache in this run, for the tests (test/helpers/loaded-modules.cjs reads it). */
const STATUS = Symbol.for('s3sync.codeCache');
type Status = 'off' | 'untrusted' | 'missing' | 'used' | 'rejected';
/** Set in a run that writes the cache: takes its data now (src/cli/code-cache.ts calls it). */
const TAKE = Symbol.for('s3sync.takeCodeCache');
/** Caches not written for this long are left by older releases or Nodes: removed when one is written. */
const STALE_MS = 30 * 24 * 3600 * 1000;

const COMMANDS = new Set(['push', 'pull', 'sync', 'check', 'plan', 'apply', 'cleanup', 'versions', 'demo']);

/**
 * The command a run names (its first word that is one), else `other`: each has its own cache, made by
 * a run of it, so that a cache a `--help` wrote does not stand in for a push's for good.
 */
const commandOf = (argv: string[]) => argv.slice(2).find((a) => COMMANDS.has(a)) ?? 'other';

const ownedPrivate = (st: fs.Stats, uid: number) => st.uid === uid && (st.mode & 0o022) === 0;

/** The cache directory, created private if missing; undefined where no cache is kept or trusted. */
function cacheDir(uid: number): string | undefined {
  if (process.env.S3SYNC_CODE_CACHE === '0') return undefined;
  const base =
    process.env.XDG_CACHE_HOME ||
    (process.platform === 'darwin'
      ? path.join(os.homedir(), 'Library', 'Caches')
      : path.join(os.homedir(), '.cache'));
  const dir = path.join(base, 's3sync');
  try {
    // Two levels, not `recursive`, which loops forever where mkdir answers ENOENT under a parent that
    // exists (/proc); a base whose own parent is missing goes without a cache.
    for (const d of [base, dir]) {
      try {
        fs.mkdirSync(d, { mode: 0o700 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const st = fs.lstatSync(dir);
    return st.isDirectory() && ownedPrivate(st, uid) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The cache file's bytes, read through a descriptor checked for owner and mode; 'untrusted' else. */
function readCache(file: string, uid: number): Buffer | 'missing' | 'untrusted' {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'untrusted';
  }
  try {
    const st = fs.fstatSync(fd);
    return st.isFile() && ownedPrivate(st, uid) ? fs.readFileSync(fd) : 'untrusted';
  } catch {
    return 'untrusted';
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the cache whole or not at all (a private temp file renamed over), and drops stale ones. */
function writeCache(dir: string, file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(
      tmp,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
    try {
      fs.writeFileSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const now = Date.now();
    for (const name of fs.readdirSync(dir)) {
      if (!name.startsWith('code-')) continue;
      const p = path.join(dir, name);
      if (p !== file && now - fs.lstatSync(p).mtimeMs > STALE_MS) fs.rmSync(p, { force: true });
    }
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

function run(): void {
  const status = (s: Status) => Reflect.set(globalThis, STATUS, s);
  const uid = process.getuid?.();
  const dir = uid === undefined ? undefined : cacheDir(uid);
  if (dir === undefined || uid === undefined) {
    status('off');
    require(bundle);
    return;
  }
  const bytes = fs.readFileSync(bundle);
  // scripts/bundle.mjs writes ASCII: Latin-1 decodes fastest, and V8 keeps a one-byte source.
  const source = bufferModule.isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  // V8 checks a cache against its version and flags and the source's length only: the name carries
  // the bundle's content hash, so a cache is only ever offered to the bundle it was made from.
  const hash = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 32);
  const file = path.join(
    dir,
    `code-${hash}-${process.version}-${process.arch}-${commandOf(process.argv)}.bin`,
  );
  const cached = readCache(file, uid);
  if (cached === 'untrusted') status('untrusted');
  // The hashbang of the bundle's entry, kept as a comment so that line numbers stay.
  const body = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${body}\n})`, {
    filename: bundle,
    // No loader for import(): the bundle has none (scripts/bundle.mjs refuses to write one that has).
    cachedData: Buffer.isBuffer(cached) ? cached : undefined,
  });
  if (Buffer.isBuffer(cached)) status(script.cachedDataRejected ? 'rejected' : 'used');
  else if (cached === 'missing') {
    status('missing');
    // Taken when the run's start-up is over (the CLI calls this at its plan), else at exit: so that
    // the functions the run compiled are in it, and before a long run's transfers, over which V8
    // drops the bytecode of functions not run since (the start-up's, which the next runs need).
    let data: Buffer | undefined;
    Reflect.set(globalThis, TAKE, () => {
      data ??= script.createCachedData();
    });
    process.once('exit', () => writeCache(dir, file, data ?? script.createCachedData()));
  }
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, nodeModule.createRequire(bundle), mod, bundle, __dirname);
}

// --version before anything else is loaded: it must cost no more than Node's own start-up.
if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as {
    version: string;
  };
  // As runCli ends a run whose output failed: a closed pipe as SIGPIPE would, a full disk in one line.
  process.stderr.on('error', () => {});
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE')
      process.stderr.write(`s3sync: cannot write the output: ${err.message.replace(/, write$/, '')}\n`);
    process.exitCode = err.code === 'EPIPE' ? 141 : 1;
  });
  process.stdout.write(`${pkg.version}\n`);
} else run();
