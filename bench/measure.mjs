// How a process is run and measured: a clean environment, wall time from spawn to exit, the s3sync CLI
// through bench/launch.cjs (peak RSS, CPU, --json summary), the helper scripts, medians, and the
// report section a measurement is recorded in.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { env, HERE, LAUNCH, log, PROFILE, PROFILE_DIR, WORK } from './config.mjs';
import { fmtMs, fmtRss } from './format.mjs';

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** The median of the values measured (a run that wrote no usage file has null). */
export const medianOf = (xs) => {
  const known = xs.filter((x) => typeof x === 'number');
  return known.length ? median(known) : null;
};
export const stats = (xs) =>
  xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null;

/**
 * A clean environment for measured processes: no AWS, S3SYNC or NODE settings leak in from the caller.
 * NODE_* goes too, as such variables change how Node starts: NODE_EXTRA_CA_CERTS makes every process
 * parse a CA file, which the servers on plain HTTP never need. The s3sync command's code cache lives in
 * the work directory: made by this run's first runs, as a new user's, never by an earlier session's.
 */
export function cleanEnv(extra = {}) {
  const out = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('AWS_') || k.startsWith('S3SYNC_') || k.startsWith('NODE_')) continue;
    out[k] = v;
  }
  out.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  out.XDG_CACHE_HOME = path.join(WORK, 'xdg-cache');
  return { ...out, ...extra };
}

/**
 * Spawns a process and measures its wall time from spawn to exit, as a shell's `time` would. With
 * `timeoutMs`, a process still running then is killed and the result says `timedOut`.
 */
export function timed(cmd, args, { env: e = cleanEnv(), cwd = WORK, keepStdout = true, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: e, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, timeoutMs)
      : null;
    const out = [];
    let tail = '';
    let err = '';
    child.stdout.on('data', (d) => {
      if (keepStdout) out.push(d);
      else tail = (tail + d.toString()).slice(-65536);
    });
    child.stderr.on('data', (d) => {
      err = (err + d.toString()).slice(-8192);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (timer) clearTimeout(timer);
      const stdout = keepStdout ? Buffer.concat(out).toString() : tail;
      resolve(timedOut ? { ms, code, stdout, stderr: err, timedOut } : { ms, code, stdout, stderr: err });
    });
  });
}

let profileSeq = 0;
/** Runs the s3sync CLI through bench/launch.cjs: wall time, peak RSS, CPU time and the --json summary. */
export async function s3sync(args, cliEnv, profileName, { summary: wantSummary = true } = {}) {
  const usageFile = path.join(WORK, `usage-${process.pid}`);
  rmSync(usageFile, { force: true });
  const nodeArgs = PROFILE
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${PROFILE_DIR}`,
        `--cpu-prof-name=${String(++profileSeq).padStart(3, '0')}-${profileName}.cpuprofile`,
      ]
    : [];
  const r = await timed(process.execPath, [...nodeArgs, LAUNCH, ...args], {
    env: { ...cliEnv, BENCH_USAGE_FILE: usageFile },
    keepStdout: false,
  });
  let usage = { maxRssKiB: null, cpuMs: null };
  try {
    usage = JSON.parse(readFileSync(usageFile, 'utf8'));
  } catch {}
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  let summary = null;
  try {
    const j = JSON.parse(last);
    if (j.type === 'summary') summary = j;
  } catch {}
  const bad = r.code !== 0 || (wantSummary && !summary);
  if (bad) {
    log(
      `  ! s3sync ${args.slice(0, 3).join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return {
    ms: r.ms,
    exitCode: r.code,
    rssKiB: usage.maxRssKiB,
    cpuMs: usage.cpuMs,
    requests: summary?.requests ?? null,
    requestsTotal: summary?.requestsTotal ?? null,
    uploaded: summary?.uploaded ?? null,
    downloaded: summary?.downloaded ?? null,
    recorded: summary?.recorded ?? null,
    unchanged: summary?.unchanged ?? null,
    failed: summary?.failed ?? null,
    bytesTransferred: summary?.bytesTransferred ?? null,
    elapsedMs: summary?.elapsedMs ?? null,
    error: bad ? r.stderr.trim().split('\n').slice(-3).join(' | ') : undefined,
  };
}

/** Runs a helper script and returns the JSON object its last stdout line holds, with its wall time. */
export async function node(script, args, e = cleanEnv()) {
  const r = await timed(process.execPath, [script, ...args], { env: e });
  if (r.code !== 0)
    throw new Error(`${path.basename(script)} ${args[0] ?? ''} failed (${r.code}): ${r.stderr.trim()}`);
  return { ...JSON.parse(r.stdout.trim().split('\n').at(-1)), wallMs: r.ms };
}

export const raw = (server, cfg) =>
  node(path.join(HERE, 'raw-s3.mjs'), [
    JSON.stringify({
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      ...cfg,
    }),
  ]);

/**
 * Checks what a run left (bench/verify.mjs: a push's prefix or a pull's tree against the dataset), after
 * its timed span, and records it in the run: `verified` counts the files that matched; a mismatch sets
 * `verifyError`, which fails the run as a non-zero exit does. `target` is { server, bucket, prefix } for
 * a push, { dest } for a pull; `root` the dataset tree.
 */
export async function verifyRun(run, root, target) {
  const cfg = target.dest
    ? { mode: 'pull', root, dest: target.dest }
    : {
        mode: 'push',
        root,
        // Straight to the server: a latency proxy's delay, or its request counts, are no part of this.
        endpoint: target.server.directEndpoint ?? target.server.endpoint,
        accessKeyId: target.server.accessKeyId,
        secretAccessKey: target.server.secretAccessKey,
        bucket: target.bucket,
        prefix: `${target.prefix}/`,
      };
  let v;
  try {
    v = await node(path.join(HERE, 'verify.mjs'), [JSON.stringify(cfg)]);
  } catch (err) {
    v = { ok: false, reason: `could not verify: ${err.message.split('\n')[0]}` };
  }
  run.verified = { files: v.files ?? 0, bytes: v.bytes ?? 0, expected: v.expected, hashed: v.hashed };
  if (!v.ok) {
    run.verifyError = v.reason;
    log(`  ! ${target.dest ? 'pull' : 'push'} did not verify: ${v.reason}`);
  }
  return run;
}

/** The files and bytes every run was verified to have moved (the fewest of any run), for its rate. */
export function verifiedCounts(runs) {
  const v = runs.map((r) => r.verified).filter(Boolean);
  if (v.length < runs.length || !v.length) return null;
  return { files: Math.min(...v.map((x) => x.files)), bytes: Math.min(...v.map((x) => x.bytes)) };
}

export const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

export const hasCommand = (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0;

export const rm = (p) => rmSync(p, { recursive: true, force: true });

export async function repeat(n, fn, { warmup = false } = {}) {
  if (warmup) await fn(-1);
  const out = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

/**
 * Runs a floor and the s3sync workload compared with it in turn, A B B A A B …: on a shared machine
 * whose speed drifts, and on a server that slows as the bucket fills (Ceph's bucket index), neither
 * side always runs second.
 */
export async function inTurn(n, a, b) {
  const as = [];
  const bs = [];
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      as.push(await a(i));
      bs.push(await b(i));
    } else {
      bs.push(await b(i));
      as.push(await a(i));
    }
  }
  return [as, bs];
}

export function rateOf(set, gen, ms) {
  if (set === 'big') return { value: gen.bytes / (ms / 1000) / 1e6, unit: 'MB/s' };
  return { value: gen.files / (ms / 1000), unit: 'files/s' };
}

// ------------------------------------------------------------------------------ the report section

/** One server's section of the report. */
export function newSection(server) {
  return {
    server: server.name,
    title: server.title,
    endpoint: server.endpoint,
    floors: [],
    workloads: [],
    targets: [],
    notices: [],
  };
}

export function addFloor(sec, f) {
  sec.floors.push(f);
  log(`  floor ${f.label} [${f.set ?? '-'}]: median ${fmtMs(f.stats?.median)}`);
  return f;
}

/** Why a run failed (non-zero exit, killed, or an outcome that did not verify), or null when it did not. */
export function runFailure(r) {
  if (r.timedOut) return r.error ?? 'timed out';
  if (r.exitCode !== 0) return `exit ${r.exitCode}${r.error ? `: ${r.error}` : ''}`;
  if (r.verifyError) return `verification: ${r.verifyError}`;
  return null;
}

/** The failed runs of a workload, as one line: null when every run succeeded. */
export function failedRuns(w) {
  const bad = (w?.runs ?? []).map(runFailure).filter(Boolean);
  return bad.length ? `${bad.length} of ${w.runs.length} runs failed: ${[...new Set(bad)].join('; ')}` : null;
}

export function addWorkload(sec, w) {
  w.stats = stats(w.runs.map((r) => r.ms));
  w.rssKiB = Math.max(0, ...w.runs.map((r) => r.rssKiB ?? 0)) || null;
  w.cpuMs = medianOf(w.runs.map((r) => r.cpuMs));
  w.failed = failedRuns(w) ?? undefined;
  sec.workloads.push(w);
  const req = w.runs[0]?.requestsTotal;
  log(
    `  ${w.label} [${w.set}]: median ${fmtMs(w.stats?.median)}, ${req ?? '?'} requests, RSS ${fmtRss(w.rssKiB)}${w.failed ? `; ! ${w.failed}` : ''}`,
  );
  return w;
}
