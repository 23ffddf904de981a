// The `push --watch` workloads (issue 19): the latency from a file's close to its object being
// readable, for a steady 50 changes/s over 60 s on a 10k-file tree; and the idle cost (CPU time, RSS)
// of a watcher over a 100k-file tree (10k without BENCH_LARGE=1 or BENCH_WATCH_IDLE_SET=100k) with no
// changes for 60 s; BENCH_WATCH=idle runs the idle row alone.
//
// Run as `node workloads-watch.mjs child <config>` it is the watcher of the latency workload: the
// library's push({ watch: true }), printing the time each upload ended (an object is readable once its
// PUT is answered), which the CLI's --json leaves out (one line per batch).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, env, HERE, log, REPO, SETS, WORK } from './config.mjs';
import { DATASETS, layout, mulberry32 } from './datasets.mjs';
import { node, raw, rm, s3sync } from './measure.mjs';

const SETTLE_MS = 2000;
const RATE = 50;
const SECONDS = 60;

/** Percentile of a sorted list (nearest rank). */
const pctl = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** A process's CPU time (user + system) in ms and its RSS and peak RSS in MB, from /proc. */
function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  const cpuMs = (Number(fields[11]) + Number(fields[12])) * 10;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1] ?? Number.NaN);
  return { cpuMs, rssMB: (kb('VmRSS') * 1024) / 1e6, peakMB: (kb('VmHWM') * 1024) / 1e6 };
}

/** Lines of a child's stdout as JSON objects, to `onLine`. */
function jsonLines(child, onLine) {
  createInterface({ input: child.stdout }).on('line', (l) => {
    if (!l.startsWith('{')) return;
    try {
      onLine(JSON.parse(l));
    } catch {}
  });
}

/** Waits until `pred` holds (polled), or the timeout. */
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(50);
  }
  return pred();
}

/**
 * A dataset generated and pushed once (plain push), so the watcher starts from a synced tree. From 100k
 * files on, the manifest a completed push would leave is written instead (synth-manifest.mjs), as for
 * the 1M no-change push: the first push would take the embedded server most of the hour, and an idle
 * watcher never looks at the remote side.
 */
async function syncedTree(server, set, cliEnv) {
  const root = path.join(WORK, `${server.name}-watch-${set}`);
  rm(root);
  await node(path.join(HERE, 'datasets.mjs'), ['generate', set, root]);
  const bucket = `bench-watch-${set}-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  const url = `s3://${bucket}/w`;
  if (DATASETS[set].count >= 100_000) {
    log(`  writing a synthetic manifest for the ${set} watch tree`);
    await node(path.join(HERE, 'synth-manifest.mjs'), [root, server.endpoint, bucket, 'w']);
    return { root, url };
  }
  const first = await s3sync(
    ['push', root, url, '--endpoint-url', server.endpoint, '--json', ...server.providerArgs],
    cliEnv,
    `${server.name}-watch-${set}-first`,
  );
  if (first.exitCode !== 0) throw new Error(`first push of ${set} failed: ${first.error}`);
  return { root, url };
}

async function latency(server, cliEnv) {
  const { root, url } = await syncedTree(server, '10k', cliEnv);
  const files = layout(DATASETS['10k']);
  const cfg = JSON.stringify({ root, url, endpoint: server.endpoint, providerArgs: server.providerArgs });
  const child = spawn(process.execPath, [path.join(HERE, 'workloads-watch.mjs'), 'child', cfg], {
    env: cliEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const closed = new Map();
  const latencies = [];
  let ready = false;
  jsonLines(child, (e) => {
    if (e.ready) ready = true;
    const at = e.rel !== undefined ? closed.get(e.rel) : undefined;
    if (at !== undefined && e.t >= at) {
      latencies.push(e.t - at);
      closed.delete(e.rel);
    }
  });
  try {
    if (!(await until(() => ready, 300_000))) throw new Error('the watcher never finished its first walk');
    log(`  watch latency: ${RATE} changes/s for ${SECONDS} s`);
    const t0 = Date.now();
    let n = 0;
    const rnd = mulberry32(7);
    while (Date.now() - t0 < SECONDS * 1000) {
      const f = files[Math.floor(rnd() * files.length)];
      writeFileSync(path.join(root, ...f.rel.split('/')), `change ${n} of ${f.rel}\n`.repeat(32));
      // Closed when writeFileSync returns; a file changed again before its upload counts from the last close.
      closed.set(f.rel, Date.now());
      n++;
      const next = t0 + (n * 1000) / RATE;
      if (next > Date.now()) await sleep(next - Date.now());
    }
    await until(() => closed.size === 0, SETTLE_MS + 20_000);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    rm(root);
  }
  const sorted = latencies.sort((a, b) => a - b);
  return {
    changes: closed.size + sorted.length,
    missing: closed.size,
    p50: pctl(sorted, 50),
    p99: pctl(sorted, 99),
  };
}

async function idle(server, cliEnv) {
  const set = env.BENCH_WATCH_IDLE_SET ?? (SETS.includes('100k') ? '100k' : '10k');
  const { root, url } = await syncedTree(server, set, cliEnv);
  const args = [
    CLI,
    'push',
    root,
    url,
    '--watch',
    '--json',
    '--endpoint-url',
    server.endpoint,
    ...server.providerArgs,
  ];
  const child = spawn(process.execPath, args, {
    env: cliEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: REPO,
  });
  let ready = false;
  jsonLines(child, (e) => {
    if (e.type === 'batch' && e.trigger === 'walk') ready = true;
  });
  try {
    if (!(await until(() => ready, 600_000))) throw new Error('the watcher never finished its first walk');
    const a = usage(child.pid);
    log(`  watch idle: ${set} files, ${SECONDS} s`);
    await sleep(SECONDS * 1000);
    const b = usage(child.pid);
    return { set, cpuShare: (b.cpuMs - a.cpuMs) / (SECONDS * 1000), rssMB: b.rssMB, peakMB: b.peakMB };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    rm(root);
  }
}

/** Both workloads on one server; their figures go to `sec.watch` for the targets. Off with BENCH_WATCH=0. */
export async function watchWorkloads(sec, server, cliEnv) {
  if (env.BENCH_WATCH === '0') return;
  sec.watch = { settleMs: SETTLE_MS };
  try {
    // BENCH_WATCH=idle: the idle row alone.
    if (env.BENCH_WATCH !== 'idle') sec.watch.latency = await latency(server, cliEnv);
    sec.watch.idle = await idle(server, cliEnv);
  } catch (err) {
    sec.notices.push(`watch workloads aborted: ${err.message.split('\n')[0]}`);
    log(`  ! watch workloads aborted: ${err.stack}`);
  }
}

async function child(cfg) {
  const { root, url, endpoint, providerArgs } = JSON.parse(cfg);
  const { push } = await import(path.join(REPO, 'dist/index.js'));
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  const provider = providerArgs[providerArgs.indexOf('--provider') + 1];
  await push({
    source: root,
    destination: url,
    endpointUrl: endpoint,
    ...(providerArgs.includes('--provider') && { provider }),
    watch: true,
    settle: `${SETTLE_MS}ms`,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'done' && e.action === 'upload')
        process.stdout.write(`${JSON.stringify({ t: Date.now(), rel: e.rel })}\n`);
      if (e.type === 'batch' && e.trigger === 'walk') process.stdout.write('{"ready":true}\n');
    },
  });
}

if (process.argv[2] === 'child') await child(process.argv[3]);
