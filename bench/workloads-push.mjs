// The push workloads of one dataset: first push (in turn with the raw PutObject loop), no-change push,
// the 10% mutation (1k), the manifest rebuild, and the raw listing floor.
import path from 'node:path';
import { heavyRuns, RUNS } from './config.mjs';
import { mutate, totalBytes } from './datasets.mjs';
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
  stats,
  verifiedCounts,
  verifyRun,
} from './measure.mjs';

/** Runs the push workloads; returns the prefix of the push the later workloads start from. */
export async function pushWorkloads(ctx) {
  const { sec, server, set, spec, root, gen, files, bucket, push, ds } = ctx;
  // After each timed run: did the prefix get every file of the tree, at its size and content?
  const check = (r, prefix) => verifyRun(r, root, { server, bucket, prefix });
  // Floor: raw PutObject ×16 with the SDK, run in turn with the first push (see inTurn).
  const [puts, first] = await inTurn(
    heavyRuns(set),
    (i) => raw(server, { mode: 'put', bucket, prefix: `raw-put-${i}/`, root }),
    async (i) => {
      // A fresh prefix and no manifest each time.
      rm(path.join(root, '.s3sync'));
      return check(await push(`push-${i}`, `first${i}`), `push-${i}`);
    },
  );
  // Two bases: the loop alone, and its whole process (spawn to exit, as every s3sync run is timed:
  // Node start-up and the SDK import included). The targets compare like with like, the second.
  ds.rawPutLoop = addFloor(sec, {
    id: 'raw-put-loop',
    label: 'raw PutObject loop, 16 concurrent (the loop alone)',
    set,
    stats: stats(puts.map((p) => p.ms)),
    rate: rateOf(set, gen, median(puts.map((p) => p.ms))),
  });
  ds.rawPut = addFloor(sec, {
    id: 'raw-put',
    label: 'raw PutObject loop, 16 concurrent (whole process)',
    set,
    stats: stats(puts.map((p) => p.wallMs)),
    cpuMs: medianOf(puts.map((p) => p.cpuMs)),
    rate: rateOf(set, gen, median(puts.map((p) => p.wallMs))),
  });

  const main = `push-${first.length - 1}`;
  ds.firstPush = addWorkload(sec, {
    id: 'push-first',
    label: 'push, first (empty prefix, no manifest)',
    set,
    runs: first,
    // Per file or byte the prefix was verified to hold, not per file generated.
    rate: rateOf(set, verifiedCounts(first) ?? gen, median(first.map((r) => r.ms))),
  });

  const nochange = await repeat(RUNS, (i) => push(main, `nochange${i}`), { warmup: true });
  ds.noChange = addWorkload(sec, { id: 'push-nochange', label: 'push, no change', set, runs: nochange });

  if (set === '1k') {
    const rounds = 3;
    let remoteObjects = gen.files;
    const runs = [];
    for (let round = 1; round <= rounds; round++) {
      const m = mutate(root, spec, files, round);
      const r = await check(await push(main, `mutated${round}`), main);
      r.expected = {
        uploads: m.changed,
        // One listing of the prefix: one ListObjectsV2 page per 1,000 objects.
        listPages: Math.max(1, Math.ceil(remoteObjects / 1000)),
        sameSizeEdits: m.sameSize.length,
        resizedEdits: m.resized.length,
        newFiles: m.added.length,
      };
      remoteObjects += m.added.length;
      runs.push(r);
    }
    ds.mutated = addWorkload(sec, {
      id: 'push-mutated',
      label: 'push after 10% changed (+5 new)',
      set,
      runs,
    });
    ds.bytes = totalBytes(files);
    // The tree, and the prefix, now hold the new files too.
    ds.files = files.length;
  }

  // A rebuild costs seconds, not minutes: at least 3 runs, so one noisy run does not decide.
  const rebuild = await repeat(Math.max(3, heavyRuns(set)), async (i) => {
    rm(path.join(root, '.s3sync'));
    return check(await push(main, `rebuild${i}`), main);
  });
  ds.rebuild = addWorkload(sec, {
    id: 'push-rebuild',
    label: 'push, manifest deleted (rebuild: list + hash all)',
    set,
    runs: rebuild,
  });

  // Floor: one full listing of the prefix with the SDK (what pull and rebuild cannot avoid).
  const lists = await repeat(Math.min(RUNS, 3), () =>
    raw(server, { mode: 'list', bucket, prefix: `${main}/` }),
  );
  ds.rawList = addFloor(sec, {
    id: 'raw-list',
    label: 'raw ListObjectsV2, whole prefix',
    set,
    stats: stats(lists.map((l) => l.listMs)),
    requests: lists[0].listRequests,
  });
  return main;
}
