/**
 * Shared pieces of the reliability suites (faults, crash, bad input): a streaming CLI runner that can be
 * killed mid-run, seeded trees, manifest readers and server-side content checks.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Destination, decodeManifest, type ManifestData } from '../../src/manifest/schema.js';
import type { S3Transport } from '../../src/s3/transport.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { cleanup, cliPath, tempDir } from '../helpers.js';
import { mulberry32 } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

export const MiB = 1024 * 1024;
/** Full sizes in CI (.ci/run sets S3SYNC_FULL=1), smaller ones for a quick `npm test`. */
export const FULL = process.env.S3SYNC_FULL === '1';

export function cliEnv(s: TestServer, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    AWS_ACCESS_KEY_ID: s.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s.endpoint,
    AWS_REGION: 'us-east-1',
    ...extra,
  };
}

type AnyEvent = SyncEvent | { type: string; [k: string]: unknown };

/** A CLI run whose NDJSON events can be watched as they arrive, and which can be killed. */
export interface LiveRun {
  child: ChildProcess;
  events: AnyEvent[];
  stdout: () => string;
  stderr: () => string;
  /** Resolves once `pred` holds for some event (checked on every new one), or when the run ends. */
  until(pred: (e: AnyEvent, all: AnyEvent[]) => boolean): Promise<boolean>;
  /** Exit code (null when killed) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const ended = (run: LiveRun) => run.child.exitCode !== null || run.child.signalCode !== null;

/** Polls until cond() holds; false if the run ended (or the time ran out) first. */
export async function waitFor(cond: () => boolean, run: LiveRun, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return true;
    if (ended(run)) return false;
    await sleep(10);
  }
  return false;
}

/** Kills the run as a crash would (SIGKILL) and waits until it is gone; the signal it died of. */
export async function kill9(run: LiveRun): Promise<NodeJS.Signals | null> {
  run.child.kill('SIGKILL');
  return (await run.exited).signal;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Run as this user (the suite runs as root; some cases need an unprivileged process). */
  uid?: number;
  gid?: number;
}

export function spawnCli(args: string[], s: TestServer, opts: SpawnOptions = {}): LiveRun {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: cliEnv(s, opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: opts.uid,
    gid: opts.gid,
  });
  const events: AnyEvent[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const watchers: Array<{ pred: (e: AnyEvent, all: AnyEvent[]) => boolean; resolve: (v: boolean) => void }> =
    [];
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line) as AnyEvent;
      events.push(e);
      for (const w of [...watchers]) {
        if (w.pred(e, events)) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(true);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const w of watchers.splice(0)) w.resolve(false);
      resolve({ code, signal });
    });
  });
  return {
    child,
    events,
    stdout: () => out,
    stderr: () => err,
    until: (pred) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(false);
        watchers.push({ pred, resolve });
      }),
    exited,
  };
}

/** Runs the CLI to its end; the LiveRun has every event and the output. */
export async function runLive(
  args: string[],
  s: TestServer,
  opts: SpawnOptions = {},
): Promise<LiveRun & { code: number | null }> {
  const r = spawnCli(args, s, opts);
  const { code } = await r.exited;
  return { ...r, code };
}

export const doneOf = (events: AnyEvent[], action: string): string[] =>
  events
    .filter((e) => e.type === 'done' && (e as { action?: string }).action === action)
    .map((e) => (e as { rel: string }).rel);

export const summaryOf = (events: AnyEvent[]) =>
  events.find((e) => e.type === 'summary') as Extract<SyncEvent, { type: 'summary' }> | undefined;

export const md5Hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** Seeded sizes (and layout), random content: n files spread over a few folders. */
export function seededTree(
  root: string,
  n: number,
  seed: number,
  opts: { minSize?: number; maxSize?: number; prefix?: string } = {},
): string[] {
  const rand = mulberry32(seed);
  const min = opts.minSize ?? 64;
  const max = opts.maxSize ?? 4096;
  const rels: string[] = [];
  for (let i = 0; i < n; i++) {
    const rel = `${opts.prefix ?? ''}d${i % 17}/f${String(i).padStart(5, '0')}.bin`;
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    const fd = openSync(abs, 'w');
    writeSync(fd, randomBytes(min + Math.floor(rand() * (max - min))));
    closeSync(fd);
    rels.push(rel);
  }
  return rels;
}

/** Writes a big random file in 1 MiB chunks. */
export function bigFile(abs: string, size: number): void {
  mkdirSync(path.dirname(abs), { recursive: true });
  const fd = openSync(abs, 'w');
  try {
    for (let off = 0; off < size; off += MiB) writeSync(fd, randomBytes(Math.min(MiB, size - off)));
  } finally {
    closeSync(fd);
  }
}

export function manifestPaths(dir: string): string[] {
  const state = path.join(dir, '.s3sync');
  if (!existsSync(state)) return [];
  return readdirSync(state)
    .filter((n) => /^manifest-.*\.json$/.test(n))
    .map((n) => path.join(state, n));
}

/**
 * A manifest file decoded by s3sync's own decoder, against the destination its header names; throws
 * when the file is not a valid, complete manifest.
 */
export function decodeManifestFile(file: string): ManifestData {
  const text = readFileSync(file, 'utf8');
  const nl = text.indexOf('\n');
  const header = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { destination: Destination };
  const m = decodeManifest(text, header.destination);
  if (typeof m === 'string') throw new Error(`manifest ${file} is not valid: ${m}`);
  return m;
}

/** The one manifest under dir, decoded (throws when it is not valid); undefined when none exists. */
export function readManifest(dir: string): ManifestData | undefined {
  const paths = manifestPaths(dir);
  if (paths.length === 0) return undefined;
  if (paths.length > 1) throw new Error(`expected one manifest in ${dir}, found ${paths.join(', ')}`);
  return decodeManifestFile(paths[0]!);
}

/** MD5 of an object's content as downloaded. */
export async function objectMd5(t: S3Transport, key: string): Promise<string> {
  return t.get({ key }, async (body) => {
    const h = createHash('md5');
    for await (const c of body) h.update(c as Buffer);
    return h.digest('hex');
  });
}

/** A pid that certainly belongs to no running process: a child's, after it exited and was reaped. */
export function deadPid(): number {
  const r = spawnSync('true');
  if (!r.pid) throw new Error('could not spawn true');
  return r.pid;
}

/** Lines of text that are neither empty nor NDJSON events. */
export const plainLines = (text: string) =>
  text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));

/**
 * Temp directories a test file creates, removed together after the file's tests (kept with
 * S3SYNC_KEEP=1 for post-mortems).
 */
export function trackedDirs(): { dir: (label: string) => string; removeAll: () => void } {
  const dirs: string[] = [];
  return {
    dir: (label) => {
      const d = tempDir(label);
      dirs.push(d);
      return d;
    },
    removeAll: () => {
      if (!process.env.S3SYNC_KEEP) cleanup(...dirs);
    },
  };
}
