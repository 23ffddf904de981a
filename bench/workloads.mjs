// The workloads of one server: the floors every dataset shares, and every workload of one dataset
// (bench/workloads-push.mjs, bench/workloads-pull.mjs) with the floors it is compared with.
import path from 'node:path';
import { CLI, HERE, KEEP, log, REPO, RUNS, WORK } from './config.mjs';
import { DATASETS, layout, totalBytes } from './datasets.mjs';
import { fmtMs } from './format.mjs';
import {
  addFloor,
  addWorkload,
  hasCommand,
  median,
  node,
  raw,
  repeat,
  rm,
  s3sync,
  stats,
  timed,
} from './measure.mjs';
import { multipartWorkload, pullWorkloads } from './workloads-pull.mjs';
import { pushWorkloads } from './workloads-push.mjs';

export async function floorsCommon(sec, cliEnv) {
  const start = await repeat(RUNS, () => timed(process.execPath, ['-e', '']), { warmup: true });
  sec.nodeStart = addFloor(sec, {
    id: 'node-start',
    label: 'Node start-up (`node -e ""`)',
    stats: stats(start.map((r) => r.ms)),
  });
  const sdk = await repeat(
    RUNS,
    () =>
      timed(process.execPath, ['-e', "require('@aws-sdk/client-s3')"], {
        cwd: REPO,
      }),
    { warmup: true },
  );
  sec.sdkStart = addFloor(sec, {
    id: 'sdk-start',
    label: "Node start-up + `require('@aws-sdk/client-s3')`",
    stats: stats(sdk.map((r) => r.ms)),
  });
  const ver = await repeat(RUNS, () => timed(process.execPath, [CLI, '--version'], { env: cliEnv }), {
    warmup: true,
  });
  const verRss = await s3sync(['--version'], cliEnv, 'version', { summary: false });
  const w = addWorkload(sec, {
    id: 'version',
    label: '`s3sync --version`',
    set: '-',
    runs: ver.map((r) => ({ ms: r.ms, exitCode: r.code, rssKiB: null })),
  });
  w.rssKiB = verRss.rssKiB;
}

export async function md5sumFloor(sec, dir, files, label, set, runs) {
  if (!hasCommand('md5sum')) {
    sec.notices.push('md5sum not installed: its floor is skipped');
    return null;
  }
  const bytes = totalBytes(files);
  const r = await repeat(
    runs,
    async () => {
      const t = await timed(
        'sh',
        ['-c', "find . -type f -not -path './.s3sync/*' -print0 | xargs -0 md5sum > /dev/null"],
        {
          cwd: dir,
        },
      );
      if (t.code !== 0) throw new Error(`md5sum failed: ${t.stderr}`);
      return t.ms;
    },
    { warmup: true },
  );
  return addFloor(sec, {
    id: `md5sum-${set}`,
    label,
    set,
    stats: stats(r),
    bytes,
    rate: { value: bytes / (median(r) / 1000) / 1e6, unit: 'MB/s' },
  });
}

/**
 * What every workload of one dataset needs: the tree, its bucket, and `push`/`pull` runners of the CLI
 * against it. `ds` is the dataset's record in the report, where each workload and floor is kept.
 */
async function datasetContext(sec, server, set, cliEnv) {
  const spec = DATASETS[set];
  const root = path.join(WORK, `${server.name}-${set}`);
  rm(root);
  log(`[${server.name}] dataset ${set}: generating in ${root}`);
  const gen = await node(path.join(HERE, 'datasets.mjs'), ['generate', set, root]);
  log(`  ${gen.files} files, ${(gen.bytes / 1e6).toFixed(1)} MB in ${fmtMs(gen.wallMs)}`);
  const files = set === '1k' ? layout(spec) : null; // the mutator needs the file list
  const bucket = `bench-${set}-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  const url = (prefix) => `s3://${bucket}/${prefix}`;
  const common = ['--endpoint-url', server.endpoint, '--json', ...server.providerArgs];
  const push = (prefix, tag) =>
    s3sync(['push', root, url(prefix), ...common], cliEnv, `${server.name}-${set}-${tag}`);
  const pull = (prefix, dest, tag) =>
    s3sync(['pull', url(prefix), dest, ...common], cliEnv, `${server.name}-${set}-${tag}`);
  const ds = { set, files: gen.files, bytes: gen.bytes, bucket };
  sec.datasets ??= [];
  sec.datasets.push(ds);
  return { sec, server, set, spec, root, gen, files, bucket, url, common, push, pull, ds, cliEnv };
}

/** Every workload for one dataset on one server. */
export async function runDataset(sec, server, set, cliEnv, pullOk) {
  const ctx = await datasetContext(sec, server, set, cliEnv);
  const { root, gen, ds, bucket, push } = ctx;

  // Floor: the bare walk, in-process time (without start-up) and the walk script's wall time.
  const walks = await repeat(RUNS, () => node(path.join(HERE, 'walk.mjs'), [root]), { warmup: true });
  const walk = addFloor(sec, {
    id: 'walk',
    label: 'bare lstat walk (in-process)',
    set,
    stats: stats(walks.map((w) => w.ms)),
    wallStats: stats(walks.map((w) => w.wallMs)),
    rate: { value: gen.files / (median(walks.map((w) => w.ms)) / 1000), unit: 'files/s' },
  });
  ds.walk = walk;

  if (set === '1m') {
    // A real first push of a million objects would take most of an hour: measure the no-change push
    // against a manifest written as a completed push would have left it (see synth-manifest.mjs).
    log('  writing a synthetic manifest for the 1M tree');
    await node(path.join(HERE, 'synth-manifest.mjs'), [root, server.endpoint, bucket, 'main']);
    const runs = await repeat(Math.min(RUNS, 3), (i) => push('main', `nochange${i}`));
    ds.noChange = addWorkload(sec, {
      id: 'push-nochange',
      label: 'push, no change (synthetic manifest)',
      set,
      runs,
    });
    if (!KEEP) rm(root);
    return;
  }

  if (set !== 'big') {
    ds.md5sum = await md5sumFloor(
      sec,
      root,
      [{ size: gen.bytes }],
      'md5sum, every file (one process)',
      set,
      3,
    );
  }

  const main = await pushWorkloads(ctx);
  if (pullOk) await pullWorkloads(ctx, main);
  if (set === 'big') {
    await multipartWorkload(ctx);
    ds.md5sum = await md5sumFloor(sec, root, [{ size: gen.bytes }], 'md5sum of the 4 × 64 MiB files', set, 3);
  }
  if (!KEEP) rm(root);
}
