// The comparison with the peers (issue 18): s3sync and each peer on the same datasets, the same server
// and the same counting proxy (which adds the RTT when one is asked for), one workload at a time, each
// tool on a prefix of its own. Requests are counted by the proxy for every tool alike.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { HERE, log, RUNS, WORK } from './config.mjs';
import { fmtMs } from './format.mjs';
import { median, node, raw, repeat, rm, runFailure, stats, timed, verifyRun } from './measure.mjs';
import { shownCommand, tools } from './peers.mjs';

const sum = (o) => Object.values(o).reduce((n, v) => n + v, 0);
/** Objects written: single PUTs and completed multipart uploads (a server-side copy is not counted). */
const uploadsOf = (req) => (req.PutObject ?? 0) + (req.CompleteMultipartUpload ?? 0);

/** Runs one tool invocation through the proxy; returns its wall time and the requests it made. */
async function runOne(proxy, inv, timeoutMs) {
  proxy.reset();
  const r = await timed(inv.cmd, inv.args, { env: inv.env, keepStdout: false, timeoutMs });
  const requests = proxy.counts();
  const ok = r.code === 0 && !r.timedOut;
  const run = {
    ms: r.ms,
    exitCode: r.code,
    requests,
    requestsTotal: sum(requests),
    uploads: uploadsOf(requests),
  };
  if (r.timedOut) run.timedOut = true;
  if (!ok) {
    run.error = r.timedOut
      ? `killed after ${fmtMs(timeoutMs)}`
      : (r.stderr.trim().split('\n').slice(-2).join(' | ') || `exit ${r.code}`).slice(0, 300);
    log(`    ! ${path.basename(inv.cmd)} ${inv.args.slice(0, 2).join(' ')}: ${run.error}`);
  }
  return run;
}

/**
 * The figure a tool's runs stand for: the median of the successful ones (null when any failed: exit≠0,
 * killed, or an outcome that did not verify), and the most requests and uploads of any run, so that
 * "0 requests" or "0 uploads" holds for every run and not the first alone.
 */
export function summarise(runs) {
  const good = runs.filter((r) => runFailure(r) === null);
  const most = runs.reduce((a, r) => ((r.requestsTotal ?? -1) > (a?.requestsTotal ?? -1) ? r : a), runs[0]);
  const uploads = runs.map((r) => r.uploads).filter((u) => typeof u === 'number');
  const failed = runs.map(runFailure).find(Boolean);
  return {
    runs,
    median: good.length === runs.length && good.length ? median(good.map((r) => r.ms)) : null,
    stats: good.length ? stats(good.map((r) => r.ms)) : null,
    requests: most?.requests ?? null,
    requestsTotal: most?.requestsTotal ?? null,
    uploads: uploads.length ? Math.max(...uploads) : null,
    error: runs.find((r) => r.error)?.error ?? failed ?? undefined,
  };
}

/** The comparison state of one server section, and the runner of one workload over every tool. */
function comparison(sec, server, proxy, opt) {
  const ts = tools(server, proxy.endpoint, opt.peers);
  const subst = [
    [WORK, '$WORK'],
    [proxy.endpoint, '$ENDPOINT'],
  ];
  const cmp = {
    rttMs: opt.rttMs,
    runs: opt.runs,
    concurrency: 'peers 8 (s3cmd 1: no setting), s3sync at its defaults',
    tools: ts.map((t) => ({ name: t.name, version: t.version, setup: t.setup, commands: {} })),
    workloads: [],
    notices: [],
  };
  sec.compare = cmp;
  let turn = 0;
  /**
   * Runs `op(tool, i)` for every tool, `runs` times; the order of the tools rotates per workload so
   * that none always runs first on a fresh bucket. `prepare(i)` runs before each round; `verify(t, i)`,
   * when given, names what the run must have left ({ root, bucket, prefix } or { root, dest }), which
   * is checked after the run's timed span and its request counts: a mismatch fails the run.
   */
  const workload = async ({ id, label, set, runs = opt.runs, op, prepare, verify }) => {
    const w = { id, label, set, results: {} };
    const order = ts.map((_, k) => ts[(k + turn) % ts.length]);
    turn++;
    const per = Object.fromEntries(ts.map((t) => [t.name, []]));
    for (let i = 0; i < runs; i++) {
      await prepare?.(i);
      for (const t of order) {
        const inv = op(t, i);
        if (!inv) continue;
        const tc = cmp.tools.find((x) => x.name === t.name).commands;
        tc[id] ??= shownCommand(inv, subst);
        const run = await runOne(proxy, inv, opt.timeoutMs);
        const v = verify?.(t, i);
        if (v) {
          await verifyRun(
            run,
            v.root,
            v.dest ? { dest: v.dest } : { server, bucket: v.bucket, prefix: v.prefix },
          );
          if (run.verifyError && !run.error) run.error = `verification: ${run.verifyError}`;
        }
        per[t.name].push(run);
      }
    }
    for (const t of ts) if (per[t.name].length) w.results[t.name] = summarise(per[t.name]);
    const line = ts.map((t) => `${t.name} ${fmtMs(w.results[t.name]?.median)}`).join(', ');
    log(`  compare ${label} [${set}]: ${line}`);
    cmp.workloads.push(w);
    return w;
  };
  return { cmp, ts, workload };
}

/** The small-file workloads of one set: first push, no change, fresh runner, fresh checkout, first pull. */
async function smallFiles(c, server, set, opt) {
  const root = path.join(WORK, `cmp-${server.name}-${set}`);
  rm(root);
  const gen = await node(path.join(HERE, 'datasets.mjs'), ['generate', set, root]);
  const bucket = `cmp-${set}-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  const walks = await repeat(RUNS, () => node(path.join(HERE, 'walk.mjs'), [root]), { warmup: true });
  const ds = { set, files: gen.files, bytes: gen.bytes, walk: stats(walks.map((w) => w.ms)) };
  c.cmp.datasets ??= [];
  c.cmp.datasets.push(ds);
  const main = (t) => `${t.name}-${opt.runs - 1}`;

  await c.workload({
    id: 'push-first',
    label: 'push, first (empty prefix, no manifest)',
    set,
    op: (t, i) => {
      if (t.manifest) rm(t.manifest(bucket, `${t.name}-${i}`));
      return t.push(root, bucket, `${t.name}-${i}`);
    },
    verify: (t, i) => ({ root, bucket, prefix: `${t.name}-${i}` }),
  });
  // The target's floor (Node start-up + the bare walk) is timed in the same rounds: timed at the start
  // of the section, minutes earlier, it moved with the machine while s3sync's time did not.
  const startupWalk = { start: [], walk: [] };
  const nochange = await c.workload({
    id: 'push-nochange',
    label: 'push, no change (peers: a rerun)',
    set,
    runs: Math.max(opt.runs, 3),
    prepare: async () => {
      startupWalk.start.push((await timed(process.execPath, ['-e', ''])).ms);
      startupWalk.walk.push((await node(path.join(HERE, 'walk.mjs'), [root])).ms);
    },
    op: (t) => t.push(root, bucket, main(t)),
  });
  nochange.startupWalk = { start: stats(startupWalk.start), walk: stats(startupWalk.walk) };
  // A peer keeps no state between runs: its fresh runner is its no-change rerun, run again here in
  // turn with s3sync's, so that both are measured in the same minutes (a server still busy after the
  // first pushes, or another hour's load, moved a figure taken earlier by 10–20%).
  await c.workload({
    id: 'push-fresh-runner',
    label: 'fresh runner: push, no manifest, files unchanged (peers: their no-change rerun)',
    set,
    runs: Math.max(opt.runs, 3),
    op: (t) => {
      if (t.manifest) rm(t.manifest(bucket, main(t)));
      return t.push(root, bucket, main(t));
    },
    verify: (t) => ({ root, bucket, prefix: main(t) }),
  });
  await c.workload({
    id: 'push-fresh-checkout',
    label: 'fresh checkout: push, no manifest, every mtime set to now',
    set,
    prepare: async () => {
      for (const t of c.ts) if (t.manifest) rm(t.manifest(bucket, main(t)));
      const t = await timed('sh', ['-c', "find . -type f -not -path './.s3sync/*' -exec touch {} +"], {
        cwd: root,
      });
      if (t.code !== 0) throw new Error(`touch failed: ${t.stderr}`);
    },
    op: (t) => t.push(root, bucket, main(t)),
    verify: (t) => ({ root, bucket, prefix: main(t) }),
  });
  // Every tool pulls the same objects: the prefix s3sync pushed.
  const s3syncMain = `s3sync-${opt.runs - 1}`;
  await c.workload({
    id: 'pull-first',
    label: 'pull, first (into an empty directory)',
    set,
    op: (t, i) => {
      const dest = path.join(WORK, `cmp-pull-${t.name}-${i}`);
      rm(dest);
      mkdirSync(dest, { recursive: true });
      c.cleanup.push(dest);
      return t.pull(bucket, s3syncMain, dest);
    },
    verify: (t, i) => ({ root, dest: path.join(WORK, `cmp-pull-${t.name}-${i}`) }),
  });
  for (const d of c.cleanup.splice(0)) rm(d);
  rm(root);
}

async function bigFiles(c, server) {
  const set = 'big';
  const root = path.join(WORK, `cmp-${server.name}-${set}`);
  rm(root);
  const gen = await node(path.join(HERE, 'datasets.mjs'), ['generate', set, root]);
  const bucket = `cmp-${set}-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  c.cmp.datasets ??= [];
  c.cmp.datasets.push({ set, files: gen.files, bytes: gen.bytes });
  await c.workload({
    id: 'push-first',
    label: 'push, first, 4 × 64 MiB (empty prefix, no manifest)',
    set,
    op: (t, i) => {
      if (t.manifest) rm(t.manifest(bucket, `${t.name}-${i}`));
      return t.push(root, bucket, `${t.name}-${i}`);
    },
    verify: (t, i) => ({ root, bucket, prefix: `${t.name}-${i}` }),
  });
  rm(root);
}

/** Listing of a large flat prefix, against the raw single-stream ListObjectsV2 loop through the same proxy. */
async function listing(c, server, proxy, opt) {
  const set = `list${opt.listKeys >= 1000 ? `${opt.listKeys / 1000}k` : opt.listKeys}`;
  const bucket = `cmp-list-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  log(`  filling ${opt.listKeys} keys for the listing`);
  const direct = { ...server, endpoint: server.directEndpoint ?? server.endpoint };
  const fill = await raw(direct, {
    mode: 'fill',
    bucket,
    prefix: 'list/',
    count: opt.listKeys,
    concurrency: 32,
  });
  log(`  filled in ${fmtMs(fill.wallMs)}`);
  c.cmp.datasets ??= [];
  c.cmp.datasets.push({ set, files: opt.listKeys, bytes: 0 });
  const lists = await repeat(opt.runs, () =>
    raw({ ...server, endpoint: proxy.endpoint }, { mode: 'list', bucket, prefix: 'list/' }),
  );
  c.cmp.rawList = {
    set,
    label: 'raw ListObjectsV2, one stream (whole process)',
    stats: stats(lists.map((l) => l.wallMs)),
    loop: stats(lists.map((l) => l.listMs)),
    pages: lists[0].listRequests,
  };
  log(`  raw one-stream listing: ${fmtMs(c.cmp.rawList.stats.median)} (${lists[0].listRequests} pages)`);
  // What an earlier pull of the prefix left: s3sync knows the keys and may split the listing at them.
  const known = path.join(WORK, `cmp-list-known-${bucket}.json`);
  await node(path.join(HERE, 'known-keys.mjs'), [
    proxy.endpoint,
    bucket,
    'list',
    String(opt.listKeys),
    known,
  ]);
  c.cleanup.push(known);
  await c.workload({
    id: 'list',
    label: `listing of a ${opt.listKeys.toLocaleString('en')}-key prefix (s3sync: \`plan pull\` with the manifest of an earlier pull)`,
    set,
    op: (t, i) => {
      if (!t.list) return null;
      const scratch = path.join(WORK, `cmp-list-${t.name}-${i}`, 'empty');
      rm(path.dirname(scratch));
      mkdirSync(scratch, { recursive: true });
      c.cleanup.push(path.dirname(scratch));
      return t.list(bucket, 'list', scratch, t.s3sync ? known : undefined);
    },
  });
  for (const d of c.cleanup.splice(0)) rm(d);
}

/** Runs the comparison on one server; `opt` = { peers, sets, runs, rttMs, listKeys, timeoutMs }. */
export async function runComparison(sec, server, proxy, opt) {
  const c = { ...comparison(sec, server, proxy, opt), cleanup: [] };
  for (const set of opt.sets) {
    const t0 = performance.now();
    try {
      if (set === 'big') await bigFiles(c, server);
      else if (set === 'list') await listing(c, server, proxy, opt);
      else await smallFiles(c, server, set, opt);
    } catch (err) {
      c.cmp.notices.push(`comparison ${set} aborted: ${err.message.split('\n')[0]}`);
      log(`  ! comparison ${set} aborted: ${err.stack}`);
    }
    log(`[${server.name}] comparison ${set} done in ${fmtMs(performance.now() - t0)}`);
  }
  return c.cmp;
}
