// The bench's knobs (environment), paths and log line. Read once at start-up; see bench/README.md.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATASETS } from './datasets.mjs';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..');
export const CLI = path.join(REPO, 'dist/cli/s3sync.cjs');
export const LAUNCH = path.join(HERE, 'launch.cjs');
export const RESULTS = path.join(HERE, 'results');
export const CEPH_SCRIPT = path.join(REPO, 'test/servers/ceph-rgw.sh');

export const env = process.env;
export const intEnv = (name, dflt) => {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
};
export const listEnv = (name, dflt) =>
  (env[name] ?? dflt)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

export const RUNS = intEnv('BENCH_RUNS', 5);
export const HEAVY_DEFAULT = { '1k': 3, '10k': 2, '100k': 1, big: 5, '1m': 1 };
export const heavyRuns = (set) => intEnv('BENCH_HEAVY_RUNS', HEAVY_DEFAULT[set]);
const SET_ORDER = ['1k', '10k', '100k', 'big', '1m'];
const wantedSets = new Set(listEnv('BENCH_SETS', '1k,10k,big'));
if (env.BENCH_LARGE === '1') wantedSets.add('100k');
if (env.BENCH_1M === '1') wantedSets.add('1m');
for (const s of wantedSets) if (!DATASETS[s]) throw new Error(`unknown dataset '${s}' (known: ${SET_ORDER})`);
export const SETS = SET_ORDER.filter((s) => wantedSets.has(s));
export const SERVERS = listEnv('BENCH_SERVERS', 'embedded,ceph');
export const PROFILE = env.BENCH_PROFILE === '1';
export const KEEP = env.BENCH_KEEP === '1';
export const OUT = env.BENCH_OUT || 'latest';
if (!/^[\w.-]+$/.test(OUT)) throw new Error(`BENCH_OUT must be a plain file name, got '${OUT}'`);
export const WORK = env.BENCH_TMPDIR
  ? path.resolve(env.BENCH_TMPDIR)
  : path.join(os.tmpdir(), `s3sync-bench-${process.pid}-${Date.now().toString(36)}`);
/** Made by a run (run.mjs), not on import: a unit test importing a bench module leaves no folder. */
export const makeWorkDir = () => mkdirSync(WORK, { recursive: Boolean(env.BENCH_TMPDIR), mode: 0o700 });
mkdirSync(RESULTS, { recursive: true });
export const PROFILE_DIR = path.join(RESULTS, 'profiles');
if (PROFILE) mkdirSync(PROFILE_DIR, { recursive: true });

export const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// The comparison with the peers (issue 18): on when BENCH_PEERS names any, or BENCH_COMPARE=1.
export const PEERS = listEnv('BENCH_PEERS', '');
export const COMPARE = PEERS.length > 0 || env.BENCH_COMPARE === '1';
export const COMPARE_SETS = listEnv('BENCH_COMPARE_SETS', '1k,10k,big,list');
for (const s of COMPARE_SETS)
  if (!['1k', '10k', '100k', 'big', 'list'].includes(s))
    throw new Error(`unknown comparison set '${s}' (known: 1k, 10k, 100k, big, list)`);
export const COMPARE_RUNS = intEnv('BENCH_COMPARE_RUNS', 1);
export const LIST_KEYS = intEnv('BENCH_LIST_KEYS', 100_000);
export const PEER_TIMEOUT_MS = intEnv('BENCH_PEER_TIMEOUT', 900) * 1000;
/** Round-trip time the latency proxy adds (ms, even: half each way); 0 is loopback. */
export const RTT_MS = (() => {
  const v = env.BENCH_RTT_MS ?? '';
  if (v === '' || v === '0') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n % 2)
    throw new Error(`BENCH_RTT_MS must be an even whole number of ms, got '${v}'`);
  return n;
})();
