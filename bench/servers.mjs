// Server lifecycle: start the embedded s3rver or a private Ceph RGW, and stop it (data deleted).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CEPH_SCRIPT, env, WORK } from './config.mjs';
import { freePort, rm } from './measure.mjs';

export async function startServer(name) {
  if (name === 'embedded') {
    const { startEmbeddedServer } = await import('../dist/embedded/s3rver.js');
    const dir = path.join(WORK, 's3rver-data');
    mkdirSync(dir, { recursive: true });
    const s = await startEmbeddedServer(dir);
    return {
      name,
      title: 'embedded s3rver (child process, data on local disk)',
      endpoint: s.endpoint,
      accessKeyId: s.accessKeyId,
      secretAccessKey: s.secretAccessKey,
      providerArgs: [],
      stop: async () => {
        await s.stop();
        rm(dir);
      },
    };
  }
  if (name === 'ceph') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's3sync-bench-ceph-'));
    const port = await freePort();
    let out;
    try {
      out = execFileSync('bash', [CEPH_SCRIPT, 'start', dir, String(port)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...env, CEPH_RGW_SIZE_GB: env.CEPH_RGW_SIZE_GB ?? '16' },
      });
    } catch (err) {
      spawnSync('bash', [CEPH_SCRIPT, 'stop', dir], { stdio: 'inherit' });
      rm(dir);
      throw err;
    }
    const ex = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    return {
      name,
      title: `Ceph RGW (test/servers/ceph-rgw.sh, ${env.CEPH_RGW_STORE ?? 'memstore'} OSD)`,
      endpoint: ex.AWS_ENDPOINT_URL_S3,
      accessKeyId: ex.AWS_ACCESS_KEY_ID,
      secretAccessKey: ex.AWS_SECRET_ACCESS_KEY,
      providerArgs: ['--provider', 'ceph'],
      stop: async () => {
        spawnSync('bash', [CEPH_SCRIPT, 'stop', dir], { stdio: 'inherit' });
        rm(dir);
      },
    };
  }
  throw new Error(`unknown server '${name}' (known: embedded, ceph)`);
}
