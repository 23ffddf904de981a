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

type Body = NodeJS.ReadableStream & { headers?: Record<string, string | string[] | undefined> };
interface Written {
  size: number;
  md5: string;
}
/** The parts of s3rver 3.7.1's FilesystemStore that commitBodiesWhole replaces or calls. */
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5: string): Promise<void>;
  putObject(object: {
    bucket: string;
    key: string;
    content: unknown;
    metadata: Record<string, unknown>;
  }): Promise<Written>;
  putPart(bucket: string, uploadId: string, partNumber: string, content: Body): Promise<Written>;
}
interface StoreDeps {
  fs: typeof import('node:fs');
  path: typeof import('node:path');
  crypto: typeof import('node:crypto');
  Transform: typeof import('node:stream').Transform;
  pipeline: typeof import('node:stream/promises').pipeline;
}

/**
 * Runs in the server's process, serialised with toString(): it may use only its parameters.
 *
 * s3rver writes a PUT or UploadPart body straight into the object's (or part's) file and keeps what
 * arrived even when the request was cut short. S3 stores a body only whole, and the difference shows
 * when a client is killed mid-upload: the dead request's truncated body replaced the part a resumed run
 * had just sent. Here each body goes to a temporary file that is renamed into place only when all of
 * Content-Length arrived; anything less is discarded.
 */
function commitBodiesWhole(store: FilesystemStore, deps: StoreDeps): void {
  const { fs, path, crypto, Transform, pipeline } = deps;
  let seq = 0;
  async function writeWhole(content: Body, final: string): Promise<Written> {
    const h = crypto.createHash('md5');
    let size = 0;
    const declared = content.headers?.['x-amz-decoded-content-length'] ?? content.headers?.['content-length'];
    // Beside the final file (same filesystem, so the rename is atomic); listings skip the name.
    const tmp = `${final}.incoming-${process.pid}-${++seq}`;
    await fs.promises.mkdir(path.dirname(final), { recursive: true });
    try {
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          h.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(content, count, fs.createWriteStream(tmp));
      if (declared !== undefined && Number(declared) !== size) throw new Error('IncompleteBody');
      await fs.promises.rename(tmp, final);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    return { size, md5: h.digest('hex') };
  }
  const putObject = store.putObject;
  store.putObject = async function (this: FilesystemStore, object) {
    // Buffers (copies) are whole by construction.
    if (Buffer.isBuffer(object.content)) return putObject.call(this, object);
    const written = await writeWhole(
      object.content as Body,
      this.getResourcePath(object.bucket, object.key, 'object'),
    );
    await this.putMetadata(object.bucket, object.key, object.metadata, written.md5);
    return written;
  };
  store.putPart = async function (this: FilesystemStore, bucket, uploadId, partNumber, content) {
    const final = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const written = await writeWhole(content, final);
    await fs.promises.writeFile(`${final}.md5`, written.md5);
    return written;
  };
}

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
    // Not one of s3sync's dependencies: 120 packages, for a demo, in every install of a sync tool.
    throw usageError(
      'the demo needs the local S3 server s3rver, which s3sync does not install: `npm install s3rver` ' +
        'beside s3sync, or run `npx -p s3sync -p s3rver s3sync demo`',
    );
  }
  const ownDir = dataDir === undefined;
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 's3sync-s3rver-'));
  const storePath = path.join(path.dirname(modulePath), 'stores', 'filesystem.js');
  // s3rver writes a CR in a key raw into its XML, and XML readers must turn a raw CR into LF: a key
  // `a\rb` was listed as `a\nb`. Written as &#13;, as Ceph RGW does, it reads back as it was stored.
  const hePath = createRequire(modulePath).resolve('he');
  const script = `
    const he = require(${JSON.stringify(hePath)});
    const escapeXml = he.escape;
    he.escape = (s) => escapeXml(s).replace(/\\r/g, '&#13;');
    const S3rver = require(${JSON.stringify(modulePath)});
    (${commitBodiesWhole.toString()})(require(${JSON.stringify(storePath)}).prototype, {
      fs: require('node:fs'), path: require('node:path'), crypto: require('node:crypto'),
      Transform: require('node:stream').Transform, pipeline: require('node:stream/promises').pipeline,
    });
    const s = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(dir)} });
    s.run().then((a) => process.stdout.write(JSON.stringify(a) + '\\n'), (e) => { console.error(e.message); process.exit(1); });
    process.on('SIGTERM', () => s.close().finally(() => process.exit(0)));
    process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
  `;
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in a terminal reaches only s3sync, which stops the server after
    // its cancelled push. Should s3sync die instead, the server sees its stdin close and exits.
    detached: true,
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
