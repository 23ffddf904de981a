import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { S3Transport } from '../src/s3/transport.js';
import type { SyncEvent } from '../src/sync/events.js';
import type { TestServer } from './servers/servers.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cliPath = path.join(repoRoot, 'dist/cli/main.js');

/** The servers global-setup started; integration suites run once per server. */
export const servers = (): TestServer[] => inject('servers');

export const connFor = (s: TestServer) => ({
  endpointUrl: s.endpoint,
  region: 'us-east-1',
  provider: s.provider,
  credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
});

/** Puts an object directly (keys and contents s3sync itself would never write); returns its ETag. */
export function seedObject(
  t: S3Transport,
  key: string,
  content: string | Buffer,
  metadata: Record<string, string> = {},
): Promise<string> {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return t.put({
    key,
    body: () => body,
    size: body.length,
    md5Base64: createHash('md5').update(body).digest('base64'),
    contentType: 'application/octet-stream',
    metadata,
  });
}

let bucketSeq = 0;
/** A fresh, empty bucket on the server (names are unique per test process). */
export async function newBucket(
  s: TestServer,
  label = 't',
): Promise<{ bucket: string; transport: S3Transport }> {
  const bucket = `${label}-${process.pid}-${Date.now().toString(36)}-${bucketSeq++}`
    .toLowerCase()
    .slice(0, 63);
  const transport = await S3Transport.connect(connFor(s), bucket);
  await transport.createBucket();
  return { bucket, transport };
}

export function tempDir(label = 'dir'): string {
  return mkdtempSync(path.join(tmpdir(), `s3sync-test-${label}-`));
}

/** Writes files: rel path → content (string or byte count of seeded random data). */
export function writeTree(root: string, files: Record<string, string | Buffer | number>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, typeof content === 'number' ? randomBytes(content) : content);
  }
}

/** rel path → md5 of every regular file under root, skipping s3sync's own state folder. */
export function treeHashes(root: string, skip = ['.s3sync']): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.includes(r)) continue;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile())
        out[r] = createHash('md5')
          .update(readFileSync(path.join(dir, e.name)))
          .digest('hex');
    }
  };
  walk(root, '');
  return out;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed NDJSON lines when --json was given. */
  events: SyncEvent[];
  summary?: Extract<SyncEvent, { type: 'summary' }>;
}

/** Runs the built CLI as a user would, with the server's credentials in the environment. */
export function runCli(
  args: string[],
  s?: TestServer,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliRun> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...opts.env };
  if (s) {
    env.AWS_ACCESS_KEY_ID = s.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = s.secretAccessKey;
    env.AWS_ENDPOINT_URL_S3 = s.endpoint;
    env.AWS_REGION = 'us-east-1';
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        const events: SyncEvent[] = [];
        if (args.includes('--json')) {
          for (const line of stdout.split('\n'))
            if (line.startsWith('{')) events.push(JSON.parse(line) as SyncEvent);
        }
        const summary = events.find((e) => e.type === 'summary') as CliRun['summary'];
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr, events, summary });
      },
    );
  });
}

export const cleanup = (...dirs: string[]) => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
};

export const mtimeOf = (p: string) => statSync(p).mtimeMs;
