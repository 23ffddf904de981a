#!/usr/bin/env node
// s3sync benchmark: `npm run bench` (builds first). See bench/README.md.
//
// For every server (embedded s3rver; Ceph RGW when radosgw is installed) and every dataset it measures
// the s3sync CLI end to end (wall time, peak RSS, S3 requests by type) next to the floors measured in
// the same run (Node start-up, a bare lstat walk, md5sum, raw SDK PutObject/GetObject/List loops), and
// prints PASS/FAIL lines for the performance targets. It never fails the process on a FAIL.
//
// Knobs (environment):
//   BENCH_SETS=1k,10k,big      datasets (also 100k, 1m); BENCH_LARGE=1 adds 100k, BENCH_1M=1 adds 1m
//   BENCH_SERVERS=embedded,ceph  servers (ceph only when radosgw is installed)
//   BENCH_RUNS=5               runs of the cheap workloads (no-change push/pull, --version, floors)
//   BENCH_HEAVY_RUNS=N         runs of first push/pull and the raw loops, each raw run beside an s3sync
//                              run (default: 3 for 1k, 2 for 10k, 5 for big, 1 for 100k); rebuilds
//                              run at least 3 times
//   BENCH_PROFILE=1            run every s3sync process with --cpu-prof (bench/results/profiles/)
//   BENCH_KEEP=1               keep the datasets (they are deleted as each is done)
//   BENCH_TMPDIR=DIR           where datasets go (default: a new directory under os.tmpdir())
//   BENCH_OUT=NAME             results file names: bench/results/NAME.{md,json} (default: latest)
//   BENCH_PEERS=rclone,aws,s3cmd,s3-sync-client  compare with these tools in the same run (installed
//                              when missing; `floor`: the minimal client, bench/floor-client.mjs);
//                              BENCH_COMPARE=1 runs the comparison with s3sync alone
//   BENCH_COMPARE_SETS=1k,10k,big,list  the comparison's datasets; BENCH_COMPARE_RUNS=1 runs of each
//   BENCH_LIST_KEYS=100000     keys of the listing workload; BENCH_PEER_TIMEOUT=900 s per tool run
//   BENCH_RTT_MS=20            every workload through a proxy adding this round-trip time
//   BENCH_WATCH=0              no watch workloads; BENCH_WATCH=idle the idle row alone, over
//                              BENCH_WATCH_IDLE_SET (default 100k with BENCH_LARGE=1, else 10k)
//
// Modules: config.mjs (knobs, paths), servers.mjs (server lifecycle), measure.mjs (spawning and timing),
// workloads*.mjs (what is run per dataset), targets.mjs (the targets table), report.mjs (Markdown);
// for issue 18: proxy.mjs (counting and latency proxy), peers.mjs (the tools), compare.mjs (their
// workloads), targets-peers.mjs and report-peers.mjs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runComparison } from './compare.mjs';
import {
  CLI,
  COMPARE,
  COMPARE_RUNS,
  COMPARE_SETS,
  env,
  HERE,
  heavyRuns,
  KEEP,
  LIST_KEYS,
  log,
  makeWorkDir,
  OUT,
  PEER_TIMEOUT_MS,
  PEERS,
  REPO,
  RESULTS,
  RTT_MS,
  RUNS,
  SERVERS,
  SETS,
  WORK,
} from './config.mjs';
import { fmtMs } from './format.mjs';
import { cleanEnv, hasCommand, newSection, node, repeat, rm } from './measure.mjs';
import { ensurePeers } from './peers.mjs';
import { startProxy } from './proxy.mjs';
import { markdown } from './report.mjs';
import { startServer } from './servers.mjs';
import { evaluate, judgeAll, MANIFEST_TARGETS } from './targets.mjs';
import { evaluatePeers } from './targets-peers.mjs';
import { floorsCommon, md5sumFloor, runDataset } from './workloads.mjs';
import { limitsWorkload } from './workloads-limits.mjs';
import { watchWorkloads } from './workloads-watch.mjs';

function gitInfo() {
  const git = (...a) => spawnSync('git', a, { cwd: REPO, encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    commit: git('rev-parse', '--short', 'HEAD') || 'unknown',
    dirty: git('status', '--porcelain', '--', 'src').length > 0,
  };
}

async function main() {
  makeWorkDir();
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const report = {
    meta: {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown CPU',
      memGB: Math.round(os.totalmem() / 1e9),
      platform: `${os.type()} ${os.release()}`,
      node: process.version,
      version: pkg.version,
      ...gitInfo(),
      sets: SETS,
      servers: SERVERS,
      runs: RUNS,
      heavyRuns: Object.fromEntries(SETS.map((s) => [s, heavyRuns(s)])),
      workDir: WORK,
      loadAvgStart: os.loadavg().map((x) => Number(x.toFixed(2))),
      ...(COMPARE || RTT_MS ? { peers: PEERS, rttMs: RTT_MS, compareSets: COMPARE ? COMPARE_SETS : [] } : {}),
    },
    notices: [],
    sections: [],
  };
  const t0 = performance.now();
  if (os.loadavg()[0] > os.cpus().length) {
    report.notices.push(
      `NOTICE: the machine was busy when the run started (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores): expect noisy figures.`,
    );
  }
  log(`datasets ${SETS.join(', ')}; servers ${SERVERS.join(', ')}; work dir ${WORK}`);

  const pullOk = spawnSync(process.execPath, [CLI, 'pull', '--help'], { stdio: 'ignore' }).status === 0;
  if (!pullOk) {
    const n = 'NOTICE: `s3sync pull --help` fails in this build: the pull workloads are skipped.';
    report.notices.push(n);
    console.log(n);
  }

  // Manifest load/save at 100k entries: server-independent, in its own process.
  log('manifest load/save, 100k entries');
  const mdir = path.join(WORK, 'manifest-io');
  mkdirSync(mdir, { recursive: true });
  const setup = await node(path.join(HERE, 'manifest-io.mjs'), ['setup', mdir, '100000']);
  const ios = await repeat(RUNS, () => node(path.join(HERE, 'manifest-io.mjs'), ['measure', mdir]), {
    warmup: true,
  });
  rm(mdir);
  const io = { entries: setup.entries, bytes: setup.bytes };
  for (const k of ['load', 'save', 'read', 'write']) io[k] = ios.map((r) => r[k]);
  report.manifestIo = io;
  report.manifestTargets = judgeAll(MANIFEST_TARGETS, io);

  const servers = [];
  for (const name of SERVERS) {
    if (name === 'ceph' && !hasCommand('radosgw')) {
      const n = 'NOTICE: Ceph RGW (radosgw) is not installed: the ceph half of the benchmark is SKIPPED.';
      report.notices.push(n);
      console.log(n);
      continue;
    }
    servers.push(name);
  }

  let peers = [];
  if (PEERS.length) {
    const r = ensurePeers(PEERS);
    peers = r.available;
    for (const n of r.notices) report.notices.push(`NOTICE: ${n}`);
  }

  let current;
  let proxy;
  const stopCurrent = async () => {
    const c = current;
    current = undefined;
    await proxy?.close();
    proxy = undefined;
    if (c) await c.stop().catch((e) => log(`stopping ${c.name}: ${e.message}`));
  };
  const onSignal = (sig) => {
    log(`${sig}: stopping the server and exiting`);
    stopCurrent().finally(() => {
      if (!KEEP && !env.BENCH_TMPDIR) rm(WORK);
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    for (const name of servers) {
      log(`[${name}] starting`);
      current = await startServer(name);
      let server = current;
      log(`[${name}] ${server.endpoint}`);
      if (COMPARE || RTT_MS) {
        const u = new URL(server.endpoint);
        proxy = await startProxy({
          upstream: { host: u.hostname, port: Number(u.port) },
          delayMs: RTT_MS / 2,
        });
        log(`[${name}] proxy ${proxy.endpoint}${RTT_MS ? `, ${RTT_MS} ms RTT` : ''}`);
      }
      if (RTT_MS) {
        // Every workload goes through the latency proxy; only bulk set-up (the listing's fill) does not.
        server = {
          ...server,
          directEndpoint: server.endpoint,
          endpoint: proxy.endpoint,
          title: `${server.title}, behind the latency proxy (${RTT_MS} ms RTT)`,
        };
      }
      const sec = newSection(server);
      report.sections.push(sec);
      const cliEnv = cleanEnv({
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
        AWS_REGION: 'us-east-1',
      });
      await floorsCommon(sec, cliEnv);
      for (const set of SETS) {
        const ts = performance.now();
        try {
          await runDataset(sec, server, set, cliEnv, pullOk);
        } catch (err) {
          sec.notices.push(`dataset ${set} aborted: ${err.message.split('\n')[0]}`);
          log(`  ! dataset ${set} aborted: ${err.stack}`);
        }
        log(`[${name}] dataset ${set} done in ${fmtMs(performance.now() - ts)}`);
      }
      await limitsWorkload(sec, server, cliEnv).catch((e) => sec.notices.push(`bwlimit: ${e.message}`));
      // The md5sum throughput floor is measured on the big files; without the big set, on its own copy.
      sec.md5Floor = sec.floors.find((f) => f.id === 'md5sum-big');
      if (!sec.md5Floor) {
        const dir = path.join(WORK, `${name}-md5`);
        await node(path.join(HERE, 'datasets.mjs'), ['generate', 'big', dir]);
        sec.md5Floor = await md5sumFloor(
          sec,
          dir,
          [{ size: 4 * 64 * 1024 * 1024 }],
          'md5sum of the 4 × 64 MiB files',
          'big',
          3,
        );
        rm(dir);
      }
      await watchWorkloads(sec, server, cliEnv);
      evaluate(sec, sec.md5Floor);
      if (COMPARE) {
        await runComparison(sec, server, proxy, {
          peers,
          sets: COMPARE_SETS,
          runs: COMPARE_RUNS,
          rttMs: RTT_MS,
          listKeys: LIST_KEYS,
          timeoutMs: PEER_TIMEOUT_MS,
        });
        sec.targets.push(...evaluatePeers(sec));
      }
      await stopCurrent();
    }
  } finally {
    await stopCurrent();
    if (!KEEP && !env.BENCH_TMPDIR) rm(WORK);
  }
  report.meta.totalSeconds = Math.round((performance.now() - t0) / 1000);
  report.meta.loadAvgEnd = os.loadavg().map((x) => Number(x.toFixed(2)));

  const md = markdown(report);
  writeFileSync(path.join(RESULTS, `${OUT}.md`), md);
  writeFileSync(path.join(RESULTS, `${OUT}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(md);
  log(
    `done in ${report.meta.totalSeconds} s; results in ${path.relative(process.cwd(), RESULTS)}/${OUT}.{md,json}`,
  );
}

await main();
