// The floor of the comparison: the least a sync client must do, in one short script, to show what the
// machine and the server allow. Not a peer (never the best peer): no SDK, no options, no lock, no
// retries, no checks on the tree beyond lstat, no durability, no deletes; requests signed by hand
// (SigV4), IN_FLIGHT at a time on one keep-alive agent.
//   push ROOT s3://B/P STATE  with STATE (a TSV of the files sent): lstat every file, send those whose
//                             size, mtime, ctime or inode differ. Without it: list the prefix while
//                             every file is read and hashed, send those whose MD5 is not the ETag.
//                             STATE is written when anything was sent or it was missing.
//   pull s3://B/P DEST        list, then GET every object into DEST (temp name, MD5 against the ETag,
//                             rename).
// The endpoint is BENCH_ENDPOINT (path style), the keys AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const IN_FLIGHT = 64;
const REGION = 'us-east-1';
const EMPTY_SHA = createHash('sha256').digest('hex');
const endpoint = new URL(process.env.BENCH_ENDPOINT ?? '');
const accessKey = process.env.AWS_ACCESS_KEY_ID ?? '';
const secretKey = process.env.AWS_SECRET_ACCESS_KEY ?? '';
const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

const enc = (s) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const encPath = (s) => enc(s).replace(/%2F/g, '/');
const hmac = (k, s) => createHmac('sha256', k).update(s).digest();
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const md5 = (b) => createHash('md5').update(b);

/** A signed request of /bucket/key?query; resolves with { status, headers, body }. */
function request(method, bucket, key, query = {}, body, extra = {}) {
  const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = now.slice(0, 8);
  const p = `/${bucket}${key === undefined ? '' : `/${encPath(key)}`}`;
  const qs = Object.keys(query)
    .sort()
    .map((k) => `${enc(k)}=${enc(query[k])}`)
    .join('&');
  const payload = body ? sha256(body) : EMPTY_SHA;
  const h = { host: endpoint.host, 'x-amz-content-sha256': payload, 'x-amz-date': now, ...extra };
  const names = Object.keys(h).sort();
  const canon = [method, p, qs, ...names.map((n) => `${n}:${h[n]}`), '', names.join(';'), payload].join('\n');
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const key4 = hmac(hmac(hmac(hmac(`AWS4${secretKey}`, day), REGION), 's3'), 'aws4_request');
  const sig = createHmac('sha256', key4)
    .update(['AWS4-HMAC-SHA256', now, scope, sha256(canon)].join('\n'))
    .digest('hex');
  h.authorization = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${sig}`;
  if (body) h['content-length'] = body.length;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: endpoint.hostname,
        port: endpoint.port,
        method,
        path: qs ? `${p}?${qs}` : p,
        headers: h,
        agent,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const out = { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
          if (out.status >= 300) reject(new Error(`${method} ${p}: HTTP ${out.status}`));
          else resolve(out);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const unxml = (s) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** key (without the prefix) → { etag, size }, from one ListObjectsV2 stream. */
async function list(bucket, prefix) {
  const out = new Map();
  let token;
  do {
    const q = { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) };
    const xml = (await request('GET', bucket, undefined, q)).body.toString('utf8');
    for (const m of xml.matchAll(/<Contents>(.*?)<\/Contents>/gs)) {
      const key = unxml(/<Key>([^<]*)<\/Key>/.exec(m[1])[1]);
      const etag = unxml(/<ETag>([^<]*)<\/ETag>/.exec(m[1])[1]).replace(/"/g, '');
      out.set(key.slice(prefix.length), { etag, size: Number(/<Size>(\d+)<\/Size>/.exec(m[1])[1]) });
    }
    token = /<NextContinuationToken>([^<]*)</.exec(xml)?.[1];
    if (token) token = unxml(token);
  } while (token);
  return out;
}

/** Runs `fn` over `items`, IN_FLIGHT at a time. */
async function pool(items, fn) {
  let i = 0;
  const lane = async () => {
    while (i < items.length) await fn(items[i++]);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

const target = (url) => {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`not an s3:// URL: ${url}`);
  return { bucket: m[1], prefix: m[2] === '' || m[2].endsWith('/') ? m[2] : `${m[2]}/` };
};

/** Every regular file under root: [rel, abs]. */
function walk(root) {
  const files = [];
  const go = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = `${dir}/${e.name}`;
      if (e.isDirectory()) go(abs, `${rel}${e.name}/`);
      else if (e.isFile()) files.push([`${rel}${e.name}`, abs]);
    }
  };
  go(root, '');
  return files;
}

const statLine = (rel, st, hex) => [rel, st.size, st.mtimeNs, st.ctimeNs, st.ino, hex].join('\t');

async function push(root, url, statePath) {
  const { bucket, prefix } = target(url);
  const files = walk(root);
  const state = new Map();
  let hadState = false;
  try {
    for (const line of fs.readFileSync(statePath, 'latin1').split('\n'))
      if (line) state.set(line.slice(0, line.indexOf('\t')), line);
    hadState = true;
  } catch {}
  const lines = [];
  const send = [];
  if (hadState) {
    for (const [rel, abs] of files) {
      const st = fs.lstatSync(abs, { bigint: true });
      const old = state.get(rel);
      if (old?.startsWith(statLine(rel, st, ''))) lines.push(old);
      else send.push([rel, abs]);
    }
  } else {
    // The listing goes on while this thread reads and hashes; its answer is read between files.
    const listing = list(bucket, prefix);
    const local = [];
    for (const [rel, abs] of files) {
      const st = fs.lstatSync(abs, { bigint: true });
      local.push([rel, abs, md5(fs.readFileSync(abs)).digest('hex'), st]);
      if (local.length % 64 === 0) await new Promise(setImmediate);
    }
    const remote = await listing;
    for (const [rel, abs, hex, st] of local)
      if (remote.get(rel)?.etag === hex) lines.push(statLine(rel, st, hex));
      else send.push([rel, abs]);
  }
  await pool(send, async ([rel, abs]) => {
    const st = fs.lstatSync(abs, { bigint: true });
    const body = fs.readFileSync(abs);
    const h = md5(body);
    await request('PUT', bucket, `${prefix}${rel}`, {}, body, { 'content-md5': h.copy().digest('base64') });
    lines.push(statLine(rel, st, h.digest('hex')));
  });
  if (send.length > 0 || !hadState) fs.writeFileSync(statePath, `${lines.join('\n')}\n`);
  return { files: files.length, sent: send.length };
}

async function pull(url, dest) {
  const { bucket, prefix } = target(url);
  const remote = [...(await list(bucket, prefix))];
  const made = new Set();
  await pool(remote, async ([rel, { etag }]) => {
    const abs = path.join(dest, rel);
    const dir = path.dirname(abs);
    if (!made.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    const { body } = await request('GET', bucket, `${prefix}${rel}`);
    if (/^[0-9a-f]{32}$/.test(etag) && md5(body).digest('hex') !== etag)
      throw new Error(`${rel}: MD5 ≠ ETag`);
    fs.writeFileSync(`${abs}.floor-tmp`, body);
    fs.renameSync(`${abs}.floor-tmp`, abs);
  });
  return { objects: remote.length };
}

const [cmd, a, b, c] = process.argv.slice(2);
try {
  const r = cmd === 'push' ? await push(a, b, c) : cmd === 'pull' ? await pull(a, b) : null;
  if (!r) throw new Error('usage: floor-client.mjs push ROOT s3://B/P STATE | pull s3://B/P DEST');
  process.stdout.write(`${JSON.stringify(r)}\n`);
} catch (err) {
  process.stderr.write(`floor-client: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  agent.destroy();
}
