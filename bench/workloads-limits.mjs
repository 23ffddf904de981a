// The --bwlimit workload (issue 19): 50 MiB pushed, then pulled back, at --bwlimit 5MiB, and the
// target that judges the rate achieved each way against the limit (±10%). The rate is the bytes moved
// over the time spent moving them: the run's own elapsed time (its --json summary) less that of the
// same run with --dry-run (scan, listing, plan), so neither start-up nor planning counts against it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WORK } from './config.mjs';
import { addWorkload, raw, rm, s3sync } from './measure.mjs';

const MiB = 1024 * 1024;
const LIMIT = { flag: '5MiB', rate: 5 * MiB };

/** Two 20 MiB files (multipart up, ranged down) and ten 1 MiB ones (single bodies): 50 MiB. */
function tree(root) {
  rm(root);
  mkdirSync(root, { recursive: true });
  for (const n of [0, 1]) writeFileSync(path.join(root, `big${n}.bin`), randomBytes(20 * MiB));
  for (let i = 0; i < 10; i++) writeFileSync(path.join(root, `small${i}.bin`), randomBytes(MiB));
}

const achieved = (r, dry) =>
  r.bytesTransferred && r.elapsedMs && dry.elapsedMs !== null
    ? { value: r.bytesTransferred / MiB / ((r.elapsedMs - dry.elapsedMs) / 1000), unit: 'MiB/s' }
    : undefined;

export async function limitsWorkload(sec, server, cliEnv) {
  const root = path.join(WORK, `${server.name}-bwlimit`);
  const dest = path.join(WORK, `${server.name}-bwlimit-pull`);
  tree(root);
  rm(dest);
  const bucket = `bench-bwlimit-${Date.now().toString(36)}`;
  await raw(server, { mode: 'bucket', bucket });
  const url = `s3://${bucket}/bw`;
  const args = ['--endpoint-url', server.endpoint, '--json', ...server.providerArgs];
  const limited = [...args, '--bwlimit', LIMIT.flag, '--multipart-threshold', '16MiB', '--part-size', '8MiB'];
  const run = (ends, tag, more = []) =>
    s3sync([...ends, ...limited, ...more], cliEnv, `${server.name}-bwlimit-${tag}`);
  const upDry = await run(['push', root, url], 'push-dry', ['--dry-run']);
  const up = await run(['push', root, url], 'push');
  const downDry = await run(['pull', url, dest], 'pull-dry', ['--dry-run']);
  const down = await run(['pull', url, dest], 'pull');
  rm(root);
  rm(dest);
  const label = (cmd) => `${cmd} 50 MiB at --bwlimit ${LIMIT.flag}`;
  sec.bwlimit = {
    push: addWorkload(sec, {
      id: 'bwlimit-push',
      label: label('push'),
      set: '50 MiB',
      runs: [up],
      rate: achieved(up, upDry),
    }),
    pull: addWorkload(sec, {
      id: 'bwlimit-pull',
      label: label('pull'),
      set: '50 MiB',
      runs: [down],
      rate: achieved(down, downDry),
    }),
  };
}

/** The target: the rate achieved within ±10% of the limit, push and pull each. */
export const BWLIMIT_TARGET = {
  label: `--bwlimit ${LIMIT.flag} over 50 MiB: achieved rate within ±10% of the limit, push and pull`,
  workload: 'push and pull of 50 MiB at --bwlimit 5MiB',
  metric: 'bytes moved / (elapsed time − elapsed time of the same run with --dry-run), MiB/s',
  threshold: '4.5 to 5.5 MiB/s each way',
  judge: (c) => {
    const b = c.sec.bwlimit;
    if (!b) return undefined;
    const want = LIMIT.rate / MiB;
    const within = (w) => w.rate !== undefined && Math.abs(w.rate.value - want) <= 0.1 * want;
    const show = (w) => (w.rate ? `${w.rate.value.toFixed(2)} MiB/s` : 'no summary');
    return {
      pass: within(b.push) && within(b.pull),
      detail: `push ${show(b.push)}, pull ${show(b.pull)} (limit ${want} MiB/s)`,
    };
  },
};
