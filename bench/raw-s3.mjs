// The server's own ceilings, measured with the same AWS SDK s3sync uses and no s3sync code at all:
//   put:    PutObject of every file under ROOT, 16 at a time (files < 8 MiB sent from a buffer, larger
//           ones streamed with ContentLength)
//   mpput:  every file under ROOT as a multipart upload of partSize parts, 16 parts in flight
//   get:    one full ListObjectsV2 listing of the prefix (timed on its own), then GetObject of every
//           object into DEST, 16 at a time
//   list:   the listing alone
//   bucket: CreateBucket
//   fill:   PutObject of `count` empty objects named PREFIX + a zero-padded number (a prefix to list)
// Usage: node bench/raw-s3.mjs '{"mode":"put","endpoint":…,"bucket":…,"prefix":…,"root":…}'
// Prints one JSON line: {"files":N,"bytes":B,"ms":T[,"listMs":L,"listRequests":P],"cpuMs":C}.
import { createReadStream, createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

// require(), as s3sync loads it (src/s3/sdk.ts): imported from ESM, the SDK loads slower, and a
// floor must not be slower than it needs to be.
const require = createRequire(import.meta.url);
const {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} = require('@aws-sdk/client-s3');
const { NodeHttpHandler } = require('@smithy/node-http-handler');

const cfg = JSON.parse(process.argv[2]);
const concurrency = cfg.concurrency ?? 16;
const client = new S3Client({
  region: cfg.region ?? 'us-east-1',
  endpoint: cfg.endpoint,
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
  requestHandler: new NodeHttpHandler({
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 }),
  }),
});

async function forEachLimit(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function listLocal(root) {
  const out = [];
  const walk = (dir, rel) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      if (ent.name === '.s3sync') continue;
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(`${dir}/${ent.name}`, r);
      else if (ent.isFile()) out.push(r);
    }
  };
  walk(root, '');
  return out;
}

const SMALL = 8 * 1024 * 1024;

async function put() {
  const { statSync } = await import('node:fs');
  const files = listLocal(cfg.root).map((rel) => {
    const abs = path.join(cfg.root, rel);
    return { rel, abs, size: statSync(abs).size };
  });
  let bytes = 0;
  const t0 = performance.now();
  await forEachLimit(files, concurrency, async (f) => {
    const Body = f.size < SMALL ? await readFile(f.abs) : createReadStream(f.abs);
    await client.send(
      new PutObjectCommand({ Bucket: cfg.bucket, Key: cfg.prefix + f.rel, Body, ContentLength: f.size }),
    );
    bytes += f.size;
  });
  return { files: files.length, bytes, ms: performance.now() - t0 };
}

async function mpput() {
  const { statSync } = await import('node:fs');
  const ps = cfg.partSize;
  const files = listLocal(cfg.root).map((rel) => ({ rel, abs: path.join(cfg.root, rel) }));
  let bytes = 0;
  const t0 = performance.now();
  const uploads = await Promise.all(
    files.map(async (f) => {
      const size = statSync(f.abs).size;
      const Key = cfg.prefix + f.rel;
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: cfg.bucket, Key }));
      const parts = Array.from({ length: Math.max(1, Math.ceil(size / ps)) }, (_, i) => ({
        n: i + 1,
        start: i * ps,
        end: Math.min(size, (i + 1) * ps) - 1,
      }));
      bytes += size;
      return { Key, UploadId, parts, etags: [] };
    }),
  );
  const jobs = uploads.flatMap((u) => u.parts.map((p) => ({ u, p })));
  await forEachLimit(jobs, concurrency, async ({ u, p }) => {
    const r = await client.send(
      new UploadPartCommand({
        Bucket: cfg.bucket,
        Key: u.Key,
        UploadId: u.UploadId,
        PartNumber: p.n,
        ContentLength: p.end - p.start + 1,
        Body: createReadStream(path.join(cfg.root, u.Key.slice(cfg.prefix.length)), {
          start: p.start,
          end: p.end,
        }),
      }),
    );
    u.etags[p.n - 1] = { PartNumber: p.n, ETag: r.ETag };
  });
  await Promise.all(
    uploads.map((u) =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: cfg.bucket,
          Key: u.Key,
          UploadId: u.UploadId,
          MultipartUpload: { Parts: u.etags },
        }),
      ),
    ),
  );
  return { files: files.length, bytes, ms: performance.now() - t0 };
}

async function listRemote() {
  const t0 = performance.now();
  const objects = [];
  let token;
  let listRequests = 0;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: cfg.bucket, Prefix: cfg.prefix, ContinuationToken: token }),
    );
    listRequests++;
    for (const o of page.Contents ?? []) objects.push({ key: o.Key, size: o.Size });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { objects, listMs: performance.now() - t0, listRequests };
}

async function list() {
  const { objects, listMs, listRequests } = await listRemote();
  return { files: objects.length, listMs, listRequests };
}

async function get() {
  const { objects, listMs, listRequests } = await listRemote();
  const dirs = new Set();
  let bytes = 0;
  const t1 = performance.now();
  await forEachLimit(objects, concurrency, async (o) => {
    const abs = path.join(cfg.dest, o.key.slice(cfg.prefix.length));
    const dir = path.dirname(abs);
    if (!dirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      dirs.add(dir);
    }
    const res = await client.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: o.key }));
    await pipeline(res.Body, createWriteStream(abs));
    bytes += o.size;
  });
  return { files: objects.length, bytes, ms: performance.now() - t1, listMs, listRequests };
}

async function bucket() {
  await client.send(new CreateBucketCommand({ Bucket: cfg.bucket }));
  return { ok: true };
}

async function fill() {
  const keys = Array.from({ length: cfg.count }, (_, i) => `${cfg.prefix}k${String(i).padStart(8, '0')}`);
  const t0 = performance.now();
  await forEachLimit(keys, concurrency, (Key) =>
    client.send(new PutObjectCommand({ Bucket: cfg.bucket, Key, Body: '', ContentLength: 0 })),
  );
  return { files: keys.length, ms: performance.now() - t0 };
}

const result = await { put, mpput, get, list, bucket, fill }[cfg.mode]();
client.destroy();
// The whole process's CPU time, start-up included (user + system, all threads), as s3sync's is counted.
const cpu = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ ...result, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
