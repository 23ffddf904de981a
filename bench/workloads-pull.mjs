// The pull workloads of one dataset (first pull in turn with the raw GetObject loop, no-change pull)
// and the forced multipart push of the 4 × 64 MiB set.
import path from 'node:path';
import { heavyRuns, RUNS, WORK } from './config.mjs';
import {
  addFloor,
  addWorkload,
  inTurn,
  median,
  medianOf,
  rateOf,
  raw,
  repeat,
  rm,
  s3sync,
  stats,
  verifiedCounts,
  verifyRun,
} from './measure.mjs';

export async function pullWorkloads(ctx, main) {
  const { sec, server, set, root, bucket, pull, ds } = ctx;
  const rawDest = path.join(WORK, `${server.name}-${set}-rawget`);
  const dest = path.join(WORK, `${server.name}-${set}-pull`);
  const [gets, pulls] = await inTurn(
    heavyRuns(set),
    () => {
      rm(rawDest);
      return raw(server, { mode: 'get', bucket, prefix: `${main}/`, dest: rawDest });
    },
    async (i) => {
      rm(rawDest);
      rm(dest);
      // After the timed run: does the pulled tree hold every file of the dataset, at its size and content?
      return verifyRun(await pull(main, dest, `pullfirst${i}`), root, { dest });
    },
  );
  rm(rawDest);
  const got = { files: gets[0].files, bytes: gets[0].bytes };
  ds.rawGetLoop = addFloor(sec, {
    id: 'raw-get-loop',
    label: 'raw GetObject loop, 16 concurrent (the loop alone, after one listing)',
    set,
    stats: stats(gets.map((g) => g.ms)),
    rate: rateOf(set, got, median(gets.map((g) => g.ms))),
  });
  ds.rawGet = addFloor(sec, {
    id: 'raw-get',
    label: 'raw listing + GetObject loop, 16 concurrent (whole process)',
    set,
    stats: stats(gets.map((g) => g.wallMs)),
    cpuMs: medianOf(gets.map((g) => g.cpuMs)),
    rate: rateOf(set, got, median(gets.map((g) => g.wallMs))),
  });
  ds.firstPull = addWorkload(sec, {
    id: 'pull-first',
    label: 'pull, first (into an empty directory)',
    set,
    runs: pulls,
    // Per file or byte the pulled tree was verified to hold, not per object the raw loop listed.
    rate: rateOf(set, verifiedCounts(pulls) ?? got, median(pulls.map((r) => r.ms))),
  });
  const pullNo = await repeat(RUNS, (i) => pull(main, dest, `pullnochange${i}`), { warmup: true });
  ds.noChangePull = addWorkload(sec, { id: 'pull-nochange', label: 'pull, no change', set, runs: pullNo });
  rm(dest);
}

/**
 * The multipart path, measured on its own (informational: no target): the same files forced
 * multipart with 16 MiB parts, against a raw multipart loop of the same parts. Each s3sync run a new
 * destination, so a manifest of its own: nothing of the other workloads is touched.
 */
export async function multipartWorkload(ctx) {
  const { sec, server, set, root, gen, bucket, url, common, cliEnv, ds } = ctx;
  const check = (r, prefix) => verifyRun(r, root, { server, bucket, prefix });
  const [mps, mp] = await inTurn(
    heavyRuns(set),
    (i) => raw(server, { mode: 'mpput', bucket, prefix: `raw-mp-${i}/`, root, partSize: 16 * 1024 * 1024 }),
    async (i) =>
      check(
        await s3sync(
          ['push', root, url(`push-mp-${i}`), ...common, '--multipart-threshold', '16MiB'],
          cliEnv,
          `${server.name}-${set}-multipart${i}`,
        ),
        `push-mp-${i}`,
      ),
  );
  ds.rawMultipart = addFloor(sec, {
    id: 'raw-multipart',
    label: 'raw multipart loop, 16 MiB parts, 16 in flight (whole process)',
    set,
    stats: stats(mps.map((p) => p.wallMs)),
    cpuMs: medianOf(mps.map((p) => p.cpuMs)),
    rate: rateOf(set, gen, median(mps.map((p) => p.wallMs))),
  });
  ds.multipartPush = addWorkload(sec, {
    id: 'push-multipart',
    label: 'push, first, forced multipart (`--multipart-threshold 16MiB`)',
    set,
    runs: mp,
    rate: rateOf(set, verifiedCounts(mp) ?? gen, median(mp.map((r) => r.ms))),
  });
}
