import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';

export interface EmbeddedServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** s3rver's built-in credentials. It checks that the access key id exists, not SigV4 signatures. */
const KEY = 'S3RVER';

/**
 * Starts the embedded S3 server (the npm package s3rver) as a child process on 127.0.0.1 and a free
 * port. A child process, not in-process, because s3rver's continuation tokens need DES, which Node >= 17
 * only offers under --openssl-legacy-provider: without it every listing over 1,000 keys is a 500.
 */
export async function startEmbeddedServer(dataDir?: string): Promise<EmbeddedServer> {
  let modulePath: string;
  try {
    modulePath = createRequire(import.meta.url).resolve('s3rver');
  } catch {
    throw usageError(
      'the embedded S3 server needs the dev dependency s3rver: run `npm ci` in the s3sync repo',
    );
  }
  const ownDir = dataDir === undefined;
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 's3sync-s3rver-'));
  const script = `
    const S3rver = require(${JSON.stringify(modulePath)});
    const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(dir)} });
    s.run().then((a) => process.stdout.write(JSON.stringify(a) + '\\n'), (e) => { console.error(e.message); process.exit(1); });
    process.on('SIGTERM', () => s.close().finally(() => process.exit(0)));
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `;
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(JSON.parse(line).port as number);
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`embedded S3 server exited (${code}): ${err.trim()}`)));
  });
  child.stdout!.removeAllListeners('data');
  child.removeAllListeners('exit');
  return {
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: KEY,
    secretAccessKey: KEY,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
