import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startEmbeddedServer } from '../../src/embedded/s3rver.js';
import type { TestServer } from './servers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cephScript = path.join(here, 'ceph-rgw.sh');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const cephInstalled = () => spawnSync('sh', ['-c', 'command -v radosgw && command -v ceph-mon']).status === 0;

/**
 * Starts every S3 server the integration suite runs against: always the embedded s3rver; Ceph RGW when
 * installed (S3SYNC_TEST_SERVERS=embedded skips it), and required when S3SYNC_REQUIRE_CEPH=1 (CI).
 */
export default async function setup(project: TestProject) {
  // One temp root for the whole run, set as TMPDIR before any worker or server starts: every temp
  // directory of the tests, of the commands they spawn and of Ceph lands in it, and it goes at the
  // end, so a test that forgets its own directories no longer leaves them on the machine.
  const root = mkdtempSync(path.join(tmpdir(), 's3sync-tests-'));
  // As the system's temp directory is: tests run the command as another user (nobody) in it.
  chmodSync(root, 0o1777);
  process.env.TMPDIR = root;
  const removeRoot = () => {
    if (process.env.S3SYNC_KEEP) return console.log(`[s3sync tests] temp files kept in ${root}`);
    try {
      rmSync(root, { recursive: true, force: true });
    } catch (err) {
      console.warn(`[s3sync tests] could not remove ${root}: ${(err as Error).message}`);
    }
  };
  try {
    return await startServers(project, removeRoot);
  } catch (err) {
    removeRoot();
    throw err;
  }
}

async function startServers(project: TestProject, removeRoot: () => void) {
  const servers: TestServer[] = [];
  const stops: Array<() => Promise<void> | void> = [];
  const only = process.env.S3SYNC_TEST_SERVERS?.split(',');

  if (!only || only.includes('embedded')) {
    const emb = await startEmbeddedServer();
    stops.push(() => emb.stop());
    servers.push({
      name: 'embedded',
      endpoint: emb.endpoint,
      accessKeyId: emb.accessKeyId,
      secretAccessKey: emb.secretAccessKey,
      provider: 'other',
      quirks: { multipartEtagIsWholeMd5: true, hasListParts: false },
    });
  }

  const wantCeph = !only || only.includes('ceph');
  const requireCeph = process.env.S3SYNC_REQUIRE_CEPH === '1';
  if (wantCeph && (requireCeph || cephInstalled())) {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-ceph-'));
    const port = await freePort();
    const out = execFileSync('bash', [cephScript, 'start', dir, String(port)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    stops.push(() => {
      execFileSync('bash', [cephScript, 'stop', dir], { stdio: 'inherit' });
    });
    const env = Object.fromEntries(
      [...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]] as [string, string]),
    );
    servers.push({
      name: 'ceph',
      endpoint: env.AWS_ENDPOINT_URL_S3!,
      accessKeyId: env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
      provider: 'ceph',
      quirks: { multipartEtagIsWholeMd5: false, hasListParts: true },
    });
  } else if (wantCeph) {
    console.warn('\n[s3sync tests] NOTICE: Ceph RGW is not installed: the RGW half of the suite is SKIPPED.');
    console.warn(
      '[s3sync tests] Install it (apt-get install ceph-mon ceph-osd radosgw ceph-common) or run .ci/run.\n',
    );
  }

  console.log(`[s3sync tests] S3 servers: ${servers.map((s) => `${s.name} (${s.endpoint})`).join(', ')}`);
  project.provide('servers', servers);
  return async () => {
    for (const stop of stops.reverse()) await stop();
    removeRoot();
  };
}
