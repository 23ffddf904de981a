// What a run did, checked after it and outside its timed span, against the dataset tree it worked on:
//   push: one ListObjectsV2 loop over the prefix: the same keys as the tree's files, the same sizes, and
//         for each single-part object its ETag against the file's MD5 (a multipart ETag is no MD5 of
//         the content: size only)
//   pull: the pulled tree walked: the same paths, the same sizes, and the same MD5 of each file
// MD5s are taken of every file in trees of up to HASH_ALL files, else of an evenly spread sample of
// SAMPLE files (sizes and paths still checked for all). `.s3sync` directories are never compared.
// Usage: node bench/verify.mjs '{"mode":"push","endpoint":…,"accessKeyId":…,"secretAccessKey":…,
//                               "bucket":…,"prefix":"p/","root":…}'
//        node bench/verify.mjs '{"mode":"pull","root":…,"dest":…}'
// Prints one JSON line: {"ok":…,"files":N,"bytes":B,"expected":E,"hashed":H[,"reason":"…"]}, where
// N and B count the files that matched.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

export const HASH_ALL = 10_000;
export const SAMPLE = 2_000;

/** The regular files under `root` (`.s3sync` left out), as rel → size, in sorted order. */
export function walkTree(root) {
  const out = new Map();
  const walk = (dir, rel) => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      if (ent.name === '.s3sync') continue;
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(path.join(dir, ent.name), r);
      else if (ent.isFile()) out.set(r, statSync(path.join(dir, ent.name)).size);
    }
  };
  walk(root, '');
  return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

const BUF = Buffer.allocUnsafe(4 * 1024 * 1024);
export function md5File(abs) {
  const h = createHash('md5');
  const fd = openSync(abs, 'r');
  try {
    for (;;) {
      const n = readSync(fd, BUF, 0, BUF.length, null);
      if (n === 0) break;
      h.update(BUF.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** The paths whose content is hashed: all of them, or every k-th of a large tree. */
export function hashedPaths(rels) {
  if (rels.length <= HASH_ALL) return new Set(rels);
  const k = Math.ceil(rels.length / SAMPLE);
  return new Set(rels.filter((_, i) => i % k === 0));
}

const shown = (xs) => `${xs.length} (${xs.slice(0, 2).join(', ')}${xs.length > 2 ? ', …' : ''})`;

/**
 * Compares the expected files (rel → { size, md5? }) with what a run left (rel → { size, md5? }); an
 * md5 is compared where both sides have one. Returns the verdict and what matched.
 */
export function compareFiles(expected, actual) {
  const missing = [];
  const sized = [];
  const content = [];
  let files = 0;
  let bytes = 0;
  let hashed = 0;
  for (const [rel, e] of expected) {
    const a = actual.get(rel);
    if (!a) missing.push(rel);
    else if (a.size !== e.size) sized.push(rel);
    else if (e.md5 && a.md5 && e.md5 !== a.md5) content.push(rel);
    else {
      files++;
      bytes += e.size;
      if (e.md5 && a.md5) hashed++;
    }
  }
  const extra = [...actual.keys()].filter((rel) => !expected.has(rel));
  const bad = [
    missing.length ? `${shown(missing)} missing` : '',
    extra.length ? `${shown(extra)} not in the dataset` : '',
    sized.length ? `${shown(sized)} of another size` : '',
    content.length ? `${shown(content)} of other content` : '',
  ].filter(Boolean);
  const out = { ok: bad.length === 0, files, bytes, expected: expected.size, hashed };
  return bad.length ? { ...out, reason: `${bad.join('; ')} of ${expected.size} files` } : out;
}

/** The dataset's files under `root` with the MD5 of those `hashedPaths` picks. */
function expectedFiles(root) {
  const sizes = walkTree(root);
  const hash = hashedPaths([...sizes.keys()]);
  return new Map(
    [...sizes].map(([rel, size]) => [
      rel,
      { size, md5: hash.has(rel) ? md5File(path.join(root, rel)) : undefined },
    ]),
  );
}

export function verifyPull(root, dest) {
  const expected = expectedFiles(root);
  const actual = new Map();
  for (const [rel, size] of walkTree(dest)) {
    const e = expected.get(rel);
    actual.set(rel, { size, md5: e?.md5 && e.size === size ? md5File(path.join(dest, rel)) : undefined });
  }
  return compareFiles(expected, actual);
}

async function listPrefix(cfg) {
  const require = createRequire(import.meta.url);
  const { ListObjectsV2Command, S3Client } = require('@aws-sdk/client-s3');
  const { NodeHttpHandler } = require('@smithy/node-http-handler');
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: cfg.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true }) }),
  });
  const objects = new Map();
  let token;
  try {
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: cfg.bucket, Prefix: cfg.prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) objects.set(o.Key.slice(cfg.prefix.length), o);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  return objects;
}

/** An ETag that is the MD5 of the content (a single-part upload), or undefined. */
export const etagMd5 = (etag) => {
  const e = String(etag ?? '').replace(/"/g, '');
  return /^[0-9a-f]{32}$/i.test(e) ? e.toLowerCase() : undefined;
};

export async function verifyPush(cfg) {
  const expected = expectedFiles(cfg.root);
  const listed = await listPrefix(cfg);
  const actual = new Map([...listed].map(([rel, o]) => [rel, { size: o.Size, md5: etagMd5(o.ETag) }]));
  return compareFiles(expected, actual);
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const cfg = JSON.parse(process.argv[2]);
  const r = cfg.mode === 'pull' ? verifyPull(cfg.root, cfg.dest) : await verifyPush(cfg);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
