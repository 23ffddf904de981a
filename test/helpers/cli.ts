/**
 * The one way tests run the built CLI: spawnCli starts it (events watched as they arrive, killable),
 * runCli and runLive run it to its end.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll } from 'vitest';
import type { SyncEvent } from '../../src/sync/events.js';
import type { TestServer } from '../servers/servers.js';
import { cliPath, MiB } from './constants.js';
import { tempDir, trackedDirs, writeSmallFiles } from './files.js';
import { newBucket } from './s3.js';

export interface CliOptions {
  /** Applied last, so a test can override the server's credentials; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Start from PATH alone instead of the test process's environment, so no AWS_* variable leaks in. */
  bare?: boolean;
  cwd?: string;
  /** Run as this user (the suite runs as root; some cases need an unprivileged process). */
  uid?: number;
  gid?: number;
  /**
   * A command that runs the CLI, given it as its last arguments, and execs it (so the child is the CLI
   * and its signals reach it): `unshare` with its own limits, say.
   */
  wrap?: string[];
  /** A descriptor the child writes its stdout or stderr to in place of the pipe to the test (`/dev/full`). */
  stdout?: number;
  stderr?: number;
}

/** The environment a user running against the server has: its credentials, endpoint and region. */
export function cliEnv(s?: TestServer, extra: CliOptions['env'] = {}, bare = false): Record<string, string> {
  const env: Record<string, string | undefined> = {
    ...(bare ? { PATH: process.env.PATH ?? '/usr/bin:/bin' } : process.env),
    ...(s && {
      AWS_ACCESS_KEY_ID: s.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
      AWS_ENDPOINT_URL_S3: s.endpoint,
      AWS_REGION: 'us-east-1',
    }),
    ...extra,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return env as Record<string, string>;
}

export type AnyEvent = SyncEvent | { type: string; [k: string]: unknown };

/** A CLI run whose NDJSON events can be watched as they arrive, and which can be killed. */
export interface LiveRun {
  child: ChildProcess;
  events: AnyEvent[];
  stdout: () => string;
  stderr: () => string;
  /**
   * True once `pred` holds for some event, those seen already included (each checked with the events
   * up to it); false when the run ends, or `timeoutMs` passes, first.
   */
  until(pred: (e: AnyEvent, all: AnyEvent[]) => boolean, timeoutMs?: number): Promise<boolean>;
  /** Exit code (null when killed) and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the CLI. Lines of stdout that start with `{` are events; with --json each must parse (the
 * NDJSON contract), without it one that does not parse stays plain text.
 */
export function spawnCli(args: string[], s?: TestServer, opts: CliOptions = {}): LiveRun {
  const [command, ...wrapArgs] = [...(opts.wrap ?? []), process.execPath];
  const child = spawn(command!, [...wrapArgs, cliPath, ...args], {
    env: cliEnv(s, opts.env, opts.bare),
    cwd: opts.cwd,
    stdio: ['ignore', opts.stdout ?? 'pipe', opts.stderr ?? 'pipe'],
    uid: opts.uid,
    gid: opts.gid,
  });
  const strict = args.includes('--json');
  const events: AnyEvent[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const watchers: Array<{ pred: (e: AnyEvent, all: AnyEvent[]) => boolean; resolve: (v: boolean) => void }> =
    [];
  const onLine = (line: string) => {
    if (!line.startsWith('{')) return;
    let e: AnyEvent;
    try {
      e = JSON.parse(line) as AnyEvent;
    } catch (parseError) {
      if (strict) throw parseError;
      return;
    }
    events.push(e);
    for (const w of [...watchers]) {
      if (w.pred(e, events)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(true);
      }
    }
  };
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  child.stderr?.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      onLine(partial);
      partial = '';
      for (const w of watchers.splice(0)) w.resolve(false);
      resolve({ code, signal });
    });
  });
  return {
    child,
    events,
    stdout: () => out,
    stderr: () => err,
    until: (pred, timeoutMs) =>
      new Promise((resolve) => {
        // Events that came in one chunk with the one awaited before are in already: a wait for the
        // next one alone never saw them (a run busy for an hour after them printed nothing more).
        const seen: AnyEvent[] = [];
        for (const e of events) {
          seen.push(e);
          if (pred(e, seen)) return resolve(true);
        }
        if (child.exitCode !== null || child.signalCode !== null) return resolve(false);
        let timer: NodeJS.Timeout | undefined;
        const w = {
          pred,
          resolve: (v: boolean) => {
            clearTimeout(timer);
            resolve(v);
          },
        };
        watchers.push(w);
        if (timeoutMs !== undefined)
          timer = setTimeout(() => {
            const i = watchers.indexOf(w);
            if (i >= 0) watchers.splice(i, 1);
            resolve(false);
          }, timeoutMs);
      }),
    exited,
  };
}

/** Runs the CLI to its end; the LiveRun has every event and the output. */
export async function runLive(
  args: string[],
  s?: TestServer,
  opts: CliOptions = {},
): Promise<LiveRun & { code: number | null }> {
  const r = spawnCli(args, s, opts);
  const { code } = await r.exited;
  return { ...r, code };
}

export interface CliRun {
  /** The exit code; 1 when the process was killed. */
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed NDJSON lines when --json was given. */
  events: SyncEvent[];
  summary?: Extract<SyncEvent, { type: 'summary' }>;
}

/** The CLI started, its child at hand (to pause it), and what it printed and exited with once it ends. */
export function startCli(
  args: string[],
  s?: TestServer,
  opts: CliOptions = {},
): { child: ChildProcess; done: Promise<CliRun> } {
  const live = spawnCli(args, s, opts);
  const done = live.exited.then(({ code }): CliRun => {
    const events = args.includes('--json') ? (live.events as SyncEvent[]) : [];
    return {
      code: code ?? 1,
      stdout: live.stdout(),
      stderr: live.stderr(),
      events,
      summary: summaryOf(events),
    };
  });
  return { child: live.child, done };
}

/** Runs the CLI to its end as a user would, with the server's credentials in the environment. */
export const runCli = (args: string[], s?: TestServer, opts: CliOptions = {}): Promise<CliRun> =>
  startCli(args, s, opts).done;

/**
 * The CLI in a terminal (`script`, from util-linux, gives it one), 120 columns unless `cols` says
 * otherwise; the raw bytes it wrote there. `env` as for spawnCli; `interruptAfter`: Ctrl-C's SIGINT
 * after that many seconds (a watch runs until then).
 */
export function runCliInTerminal(
  args: string[],
  s: TestServer,
  opts: { env?: CliOptions['env']; cols?: number; interruptAfter?: number } = {},
): string {
  const stop =
    opts.interruptAfter === undefined ? '' : `timeout --preserve-status -s INT ${opts.interruptAfter} `;
  const cli = [process.execPath, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  const cmd = `stty cols ${opts.cols ?? 120} rows 10; exec ${stop}${cli}`;
  try {
    return execFileSync('script', ['-qefc', cmd, '/dev/null'], {
      encoding: 'utf8',
      env: cliEnv(s, opts.env),
      maxBuffer: 64 * MiB,
    });
  } catch (err) {
    // Interrupted, the exit code depends on how far the run got (130 if it cut the first sync short):
    // the caller judges the screen.
    if (opts.interruptAfter !== undefined) return (err as { stdout: string }).stdout;
    throw err;
  }
}

const ended = (run: LiveRun) => run.child.exitCode !== null || run.child.signalCode !== null;

/**
 * What a live run has said so far, for the message of a wait that failed: its stderr and its last
 * `last` events, with how many came before them.
 */
export function seenOf(run: LiveRun, last = 20): string {
  const shown = run.events.slice(-last);
  const before = run.events.length - shown.length;
  return [
    `stderr:\n${run.stderr() || '(none)'}`,
    `events (${run.events.length}${before > 0 ? `, the last ${shown.length}` : ''}):`,
    ...shown.map((e) => JSON.stringify(e)),
  ].join('\n');
}

/** The run's exit, which must come within `timeoutMs`; else fails with what the run said (seenOf). */
export async function exitWithin(
  run: LiveRun,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the run did not exit within ${timeoutMs} ms\n${seenOf(run)}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([run.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

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

/** For a suite's afterAll: kills (SIGKILL) every run a failed test left running. */
export function killLeftRuns(runs: LiveRun[]): void {
  for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
}

/** Kills the run as a crash would (SIGKILL) and waits until it is gone; the signal it died of. */
export async function kill9(run: LiveRun): Promise<NodeJS.Signals | null> {
  run.child.kill('SIGKILL');
  return (await run.exited).signal;
}

export const doneOf = (events: AnyEvent[], action: string): string[] =>
  events
    .filter((e) => e.type === 'done' && (e as { action?: string }).action === action)
    .map((e) => (e as { rel: string }).rel);

export const summaryOf = (events: AnyEvent[]) =>
  events.find((e) => e.type === 'summary') as Extract<SyncEvent, { type: 'summary' }> | undefined;

/** Lines of text that are neither empty nor NDJSON events. */
export const plainLines = (text: string) =>
  text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));

const loadedHook = path.join(import.meta.dirname, 'loaded-modules.cjs');

/** What a CLI run loaded, as loaded-modules.cjs records it at exit. */
export interface LoadedRecord {
  /** CommonJS module files. */
  modules: string[];
  /** Node's built-in modules, by name (`http`, `zlib` …). */
  builtins: string[];
  /** What the s3sync command did with its code cache (src/cli/s3sync.cts). */
  codeCache: string;
}

/** The environment that makes a CLI run record what it loaded, and the reader of that record. */
export function recordLoaded(): { env: Record<string, string>; loaded: () => LoadedRecord } {
  const file = path.join(tempDir('loaded'), 'modules.txt');
  return {
    env: { NODE_OPTIONS: `--require ${loadedHook}`, S3SYNC_TEST_LOADED: file },
    loaded: () => {
      const lines = readFileSync(file, 'utf8').split('\n');
      const tagged = (tag: string) => lines.filter((l) => l.startsWith(tag)).map((l) => l.slice(tag.length));
      return {
        modules: lines.filter((l) => !/^(builtin|code-cache):/.test(l)),
        builtins: tagged('builtin:'),
        codeCache: tagged('code-cache:')[0] ?? '',
      };
    },
  };
}

/**
 * `n` small files (see writeSmallFiles) pushed to a new bucket, the manifest then removed: a tree whose
 * every file the next run must hash.
 */
export async function pushedSmallFiles(s: TestServer, label: string, n: number) {
  const { bucket } = await newBucket(s, label);
  const dir = tempDir(label);
  const url = `s3://${bucket}/m`;
  const rels = writeSmallFiles(dir, n);
  const push = await runCli(['push', dir, url], s);
  if (push.code !== 0) throw new Error(`push of ${n} small files failed: ${push.stderr}`);
  rmSync(path.join(dir, '.s3sync'), { recursive: true, force: true });
  return { dir, url, rels };
}

/**
 * A suite's temp folders and the live runs it starts: after the suite, runs a failed test left are
 * killed and the folders removed.
 */
export function liveSuite(): { dir: (label: string) => string; runs: LiveRun[] } {
  const { dir, removeAll } = trackedDirs();
  const runs: LiveRun[] = [];
  afterAll(() => {
    killLeftRuns(runs);
    removeAll();
  });
  return { dir, runs };
}
