// The tools compared in the same run (BENCH_PEERS): how each is installed when missing, and its exact
// command for a push, a pull and a listing. Every peer runs at 8 concurrent transfers (s3cmd has no
// such setting: it transfers one file at a time); s3sync runs at its defaults. Credentials reach the
// tools through environment variables or a config file in the work directory, never the command line.
// `floor` is no peer: bench/floor-client.mjs, the least a sync client does, run beside them to show
// what this machine and server allow; it is never the best peer.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CLI, HERE, log, REPO, WORK } from './config.mjs';
import { cleanEnv, hasCommand } from './measure.mjs';

export const PEER_NAMES = ['rclone', 'aws', 's3cmd', 's3-sync-client', 'floor'];
export const PEER_CONCURRENCY = 8;
const APT = { rclone: 'rclone', aws: 'awscli', s3cmd: 's3cmd' };
const S3SC_PREFIX = path.join(os.tmpdir(), 's3sync-bench-peers');

function resolveS3SyncClient() {
  for (const base of [REPO, S3SC_PREFIX]) {
    try {
      return createRequire(path.join(base, 'package.json')).resolve('s3-sync-client');
    } catch {}
  }
  return null;
}

/** Installs the peers that are missing; returns those available and a notice per one that is not. */
export function ensurePeers(names) {
  const notices = [];
  const apt = names.filter((n) => APT[n] && !hasCommand(n)).map((n) => APT[n]);
  if (apt.length) {
    log(`installing ${apt.join(', ')} (apt-get)`);
    const r = spawnSync('apt-get', ['install', '-y', ...apt], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0) notices.push(`apt-get install ${apt.join(' ')} failed: ${r.stderr}`.trim());
  }
  if (names.includes('s3-sync-client') && !resolveS3SyncClient()) {
    // Not into the repository's node_modules, which may be shared: a private prefix of its own.
    log(`installing s3-sync-client into ${S3SC_PREFIX} (npm)`);
    mkdirSync(S3SC_PREFIX, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-save', '--prefix', S3SC_PREFIX, 's3-sync-client@^4'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) notices.push(`npm install s3-sync-client failed: ${r.stderr}`.trim());
  }
  const available = [];
  for (const n of names) {
    if (!PEER_NAMES.includes(n))
      notices.push(`unknown peer '${n}' (known: ${PEER_NAMES.join(', ')}): skipped`);
    else if (n === 'floor') available.push(n);
    else if (n === 's3-sync-client' ? !resolveS3SyncClient() : !hasCommand(n))
      notices.push(`peer ${n} is not available: skipped`);
    else available.push(n);
  }
  return { available, notices };
}

const version = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0];
};

/**
 * A tool bound to one server endpoint. Each operation returns { cmd, args, env, shown }: `shown` is
 * the command line as the report prints it (work paths shortened, no secrets).
 */
function peerTool(name, server, endpoint) {
  const dir = path.join(WORK, 'peers');
  mkdirSync(dir, { recursive: true });
  const creds = { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey };
  const base = cleanEnv({ ...creds, AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' });
  const c = String(PEER_CONCURRENCY);
  if (name === 'rclone') {
    const env = {
      ...base,
      RCLONE_CONFIG: path.join(dir, 'rclone.conf'),
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
      RCLONE_CONFIG_BENCH_ENV_AUTH: 'true',
      RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
      RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    };
    writeFileSync(env.RCLONE_CONFIG, '');
    // --fast-list: one recursive listing, rclone's own advice for S3 (and s3rver's delimiter listing
    // of nested directories comes back empty, which would make rclone re-upload or pull nothing).
    const flags = ['--transfers', c, '--checkers', c, '--fast-list'];
    return {
      name,
      version: version('rclone', ['version']),
      setup:
        'remote `bench:` from RCLONE_CONFIG_BENCH_* (type s3, provider Other, env_auth, endpoint, force_path_style)',
      push: (root, b, p) => ({ env, cmd: 'rclone', args: ['sync', root, `bench:${b}/${p}`, ...flags] }),
      pull: (b, p, dest) => ({ env, cmd: 'rclone', args: ['sync', `bench:${b}/${p}`, dest, ...flags] }),
      list: (b, p) => ({ env, cmd: 'rclone', args: ['lsf', '-R', '--fast-list', `bench:${b}/${p}`] }),
    };
  }
  if (name === 'aws') {
    const env = { ...base, AWS_CONFIG_FILE: path.join(dir, 'aws-config') };
    writeFileSync(
      env.AWS_CONFIG_FILE,
      `[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = ${c}\n`,
    );
    const ep = ['--endpoint-url', endpoint, '--only-show-errors'];
    return {
      name,
      version: version('aws', ['--version']),
      setup: `AWS_CONFIG_FILE with s3.max_concurrent_requests = ${c}`,
      push: (root, b, p) => ({ env, cmd: 'aws', args: ['s3', 'sync', root, `s3://${b}/${p}`, ...ep] }),
      pull: (b, p, dest) => ({ env, cmd: 'aws', args: ['s3', 'sync', `s3://${b}/${p}`, dest, ...ep] }),
      list: (b, p) => ({
        env,
        cmd: 'aws',
        args: ['s3', 'ls', '--recursive', `s3://${b}/${p}/`, '--endpoint-url', endpoint],
      }),
    };
  }
  if (name === 's3cmd') {
    const cfg = path.join(dir, 's3cmd.cfg');
    const host = endpoint.replace(/^https?:\/\//, '');
    writeFileSync(
      cfg,
      `[default]\naccess_key = ${server.accessKeyId}\nsecret_key = ${server.secretAccessKey}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nbucket_location = us-east-1\nsignature_v2 = False\nprogress_meter = False\n`,
    );
    const env = base;
    return {
      name,
      version: version('s3cmd', ['--version']),
      setup:
        'config file with the keys, host_base = host_bucket = the endpoint (path style), no TLS; one transfer at a time (s3cmd has no concurrency setting)',
      push: (root, b, p) => ({ env, cmd: 's3cmd', args: ['-c', cfg, 'sync', `${root}/`, `s3://${b}/${p}/`] }),
      pull: (b, p, dest) => ({ env, cmd: 's3cmd', args: ['-c', cfg, 'sync', `s3://${b}/${p}/`, `${dest}/`] }),
      list: (b, p) => ({ env, cmd: 's3cmd', args: ['-c', cfg, 'ls', '-r', `s3://${b}/${p}/`] }),
    };
  }
  if (name === 's3-sync-client') {
    const driver = path.join(HERE, 'peer-s3-sync-client.mjs');
    const env = { ...base, BENCH_S3SC: resolveS3SyncClient() ?? '', BENCH_ENDPOINT: endpoint };
    const node = process.execPath;
    const s3scVersion = spawnSync(node, [driver, '--version'], { env, encoding: 'utf8' }).stdout?.trim();
    return {
      name,
      version: `s3-sync-client ${s3scVersion || '?'}`,
      setup: `bench/peer-s3-sync-client.mjs: S3SyncClient over an S3Client (path style, checksums when required), maxConcurrentTransfers ${c}`,
      push: (root, b, p) => ({ env, cmd: node, args: [driver, root, `s3://${b}/${p}`, c] }),
      pull: (b, p, dest) => ({ env, cmd: node, args: [driver, `s3://${b}/${p}`, dest, c] }),
      list: null,
    };
  }
  if (name === 'floor') {
    const client = path.join(HERE, 'floor-client.mjs');
    const env = { ...base, BENCH_ENDPOINT: endpoint };
    const node = process.execPath;
    // Its state outside the tree, as s3sync's manifest: the fresh runner and checkout remove both.
    const manifest = (b, p) => path.join(WORK, 'cmp-manifests', `floor-${b}-${p}.tsv`);
    mkdirSync(path.join(WORK, 'cmp-manifests'), { recursive: true });
    return {
      name,
      manifest,
      version: 'bench/floor-client.mjs',
      setup: 'no SDK, requests signed by hand, 64 in flight; no lock, retries, durability or deletes',
      push: (root, b, p) => ({
        env,
        cmd: node,
        args: [client, 'push', root, `s3://${b}/${p}`, manifest(b, p)],
      }),
      pull: (b, p, dest) => ({ env, cmd: node, args: [client, 'pull', `s3://${b}/${p}`, dest] }),
      list: null,
    };
  }
  throw new Error(`unknown peer '${name}' (known: ${PEER_NAMES.join(', ')})`);
}

/** s3sync itself, as the comparison runs it: the CLI at its defaults. */
function s3syncTool(server, endpoint) {
  const common = ['--endpoint-url', endpoint, '--json', ...server.providerArgs];
  const env = cleanEnv({
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    AWS_REGION: 'us-east-1',
  });
  const node = process.execPath;
  // The manifest outside the tree, so that the peers, which sync the same tree, do not upload it.
  const manifest = (b, p) => path.join(WORK, 'cmp-manifests', `${b}-${p}.json`);
  mkdirSync(path.join(WORK, 'cmp-manifests'), { recursive: true });
  return {
    name: 's3sync',
    manifest,
    version: version(node, [CLI, '--version']),
    setup: 'defaults',
    s3sync: true,
    push: (root, b, p) => ({
      env,
      cmd: node,
      args: [CLI, 'push', root, `s3://${b}/${p}`, ...common, '--manifest', manifest(b, p)],
    }),
    pull: (b, p, dest) => ({ env, cmd: node, args: [CLI, 'pull', `s3://${b}/${p}`, dest, ...common] }),
    // A pull plan lists the prefix and transfers nothing; with the manifest of an earlier pull, the
    // listing may be split at its keys.
    list: (b, p, scratch, known) => ({
      env,
      cmd: node,
      args: [
        CLI,
        'plan',
        'pull',
        `s3://${b}/${p}`,
        scratch,
        ...common,
        '--out',
        path.join(scratch, '..', 'plan.json'),
        ...(known ? ['--manifest', known] : []),
      ],
    }),
  };
}

/** s3sync and the requested peers, bound to `endpoint` (the counting proxy). */
export function tools(server, endpoint, peerNames) {
  return [s3syncTool(server, endpoint), ...peerNames.map((n) => peerTool(n, server, endpoint))];
}

/** The command line as printed in the report: work paths and the endpoint as placeholders. */
export function shownCommand(inv, subst) {
  const words = [inv.cmd === process.execPath ? 'node' : inv.cmd, ...inv.args].map((w) => {
    let s = w;
    for (const [from, to] of subst) s = s.split(from).join(to);
    return /[\s'"]/.test(s) ? `'${s}'` : s;
  });
  return words.join(' ');
}
