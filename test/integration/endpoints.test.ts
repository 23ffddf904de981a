/**
 * Endpoints that are not S3, or not there: a web server answering HTML to everything, one answering
 * 200 and nothing else, one that redirects, one that accepts connections and never answers, TLS spoken
 * to a plain HTTP port, an untrusted or misnamed certificate, a name that does not resolve, a port
 * nothing listens on. Each is one line naming the fix and exit code 2, never a success, and the silent
 * one is given up within the documented timeouts (the tests' own timeouts bound it; nothing is timed).
 * Wrong credentials and missing buckets keep their messages on the real servers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyManifest, manifestEntry } from '../../src/manifest/schema.js';
import { defaultManifestPath, saveManifest } from '../../src/manifest/store.js';
import {
  md5Hex,
  newBucket,
  plainLines,
  readManifest,
  runCli,
  runLive,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';

const { dir, removeAll } = trackedDirs();
const closers: Array<() => void> = [];
afterAll(() => {
  for (const c of closers) c();
  removeAll();
});

/** A local HTTP(S) server answering every request the same way; counts what it received. */
interface Fake {
  url: string;
  requests: string[];
}

async function listen(server: http.Server | https.Server | net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    (server as http.Server).closeAllConnections?.();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function fake(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  tls?: { key: string; cert: string },
): Promise<Fake> {
  const requests: string[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => answer(req, res));
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  const port = await listen(server);
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, requests };
}

const WELCOME =
  '<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>It works</body></html>';
let html: Fake;
let bare: Fake;
let redirect: Fake;
let empty404: Fake;
let text404: Fake;
let json404: Fake;
let silent: { url: string; accepted: () => number };
let closedPort: number;
/** A self-signed certificate for localhost, when openssl is there to make one. */
let selfSigned: { key: string; cert: string; certFile: string } | undefined;

beforeAll(async () => {
  html = await fake((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(WELCOME);
  });
  bare = await fake((_req, res) => {
    res.writeHead(200, { 'content-length': '0' });
    res.end();
  });
  redirect = await fake((_req, res) => {
    res.writeHead(302, {
      location: 'https://login.example.invalid/sso?next=%2F',
      'content-type': 'text/html',
    });
    res.end('<a href="https://login.example.invalid/sso">Found</a>');
  });
  // Routers and API gateways at a mistyped address: refusals S3 never writes.
  empty404 = await fake((_req, res) => {
    res.writeHead(404, { 'content-length': '0' });
    res.end();
  });
  text404 = await fake((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });
  json404 = await fake((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/problem+json' });
    res.end('{"error":"no route","status":404}');
  });
  let accepted = 0;
  const holder = net.createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
  });
  silent = { url: `http://127.0.0.1:${await listen(holder)}`, accepted: () => accepted };
  const probe = net.createServer();
  closedPort = await listen(probe);
  probe.close();

  const certDir = dir('cert');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      path.join(certDir, 'key.pem'),
      '-out',
      path.join(certDir, 'cert.pem'),
    ],
    { encoding: 'utf8' },
  );
  if (made.status === 0) {
    selfSigned = {
      key: readFileSync(path.join(certDir, 'key.pem'), 'utf8'),
      cert: readFileSync(path.join(certDir, 'cert.pem'), 'utf8'),
      certFile: path.join(certDir, 'cert.pem'),
    };
  } else {
    console.warn(
      `[endpoints] NOTICE: openssl could not make a certificate (${made.error ?? made.stderr}): TLS trust cases skipped`,
    );
  }
});

/** No real server is involved: the endpoint is the point. Credentials are set as for any store. */
const noServer = {
  name: 'embedded' as const,
  endpoint: 'http://127.0.0.1:1',
  accessKeyId: 'AKIAEXAMPLEEXAMPLE00',
  secretAccessKey: 'not-a-real-secret-key-at-all',
  provider: 'other',
  quirks: { multipartEtagIsWholeMd5: true, hasListParts: false },
};

type Command = 'push' | 'push (manifest present: PUT first)' | 'pull' | 'check' | 'cleanup';

/** Runs a command against `endpoint` from fresh directories; returns the run and what is on disk. */
async function against(
  endpoint: string,
  command: Command,
  extra: string[] = [],
  env: Record<string, string | undefined> = {},
) {
  const src = dir('ep-src');
  writeTree(src, { 'a.txt': 'alpha', 'sub/b.txt': 'bravo' });
  const url = 's3://bucket/prefix';
  let args: string[];
  if (command === 'push (manifest present: PUT first)') {
    // The manifest knows both files, one with another size: that one is uploaded without a listing.
    const endpointId = new URL(endpoint).toString().replace(/\/+$/, '');
    const dest = { endpoint: endpointId, bucket: 'bucket', prefix: 'prefix/' };
    const m = emptyManifest(dest);
    // Listed a moment ago, as after a push: no drift check is due (--verify-interval).
    m.listedAt = new Date().toISOString();
    for (const rel of ['a.txt', 'sub/b.txt']) {
      const st = lstatSync(path.join(src, rel), { bigint: true });
      const stat = {
        size: Number(st.size),
        mtimeNs: String(st.mtimeNs),
        ctimeNs: String(st.ctimeNs),
        ino: String(st.ino),
      };
      const body = readFileSync(path.join(src, rel));
      m.files.set(
        rel,
        manifestEntry(
          { ...stat, size: rel === 'a.txt' ? 1 : stat.size },
          { md5: md5Hex(body), etag: md5Hex(body), partSize: 0 },
        ),
      );
    }
    saveManifest(defaultManifestPath(src, dest), m);
    args = ['push', src, url];
  } else if (command === 'push') args = ['push', src, url];
  else if (command === 'pull') args = ['pull', url, path.join(src, 'restore')];
  else if (command === 'check') args = ['check', src, url];
  else args = ['cleanup', url];
  const run = await runLive([...args, '--endpoint-url', endpoint, ...extra], noServer, { env });
  return { run, src };
}

/** Exit 2, one line matching `message`, nothing claimed, nothing written. */
function expectRefused(r: Awaited<ReturnType<typeof against>>, message: RegExp) {
  const { run, src } = r;
  const lines = plainLines(run.stderr());
  expect(lines, run.stderr()).toHaveLength(1);
  expect(lines[0]).toMatch(/^s3sync: /);
  expect(lines[0]).toMatch(message);
  expect(run.code, run.stderr()).toBe(2);
  expect(run.stdout()).not.toMatch(/[1-9]\d* (uploaded|downloaded)|identical/);
  const m = readManifest(src);
  if (m) {
    // Nothing recorded as transferred: the stale entry is still stale.
    const a = m.files.get('a.txt');
    if (a) expect(a.size).toBe(1);
    else expect(m.files.size).toBe(0);
  }
  const restore = path.join(src, 'restore');
  if (existsSync(restore)) expect(readdirSync(restore).filter((n) => n !== '.s3sync')).toEqual([]);
}

describe('an endpoint that is not S3', () => {
  const NOT_S3 = /does not answer as S3 \(.*\): check endpointUrl \(--endpoint-url\)$/;
  it.each<[string, () => Fake, Command, RegExp]>([
    [
      'HTML to everything: push lists first',
      () => html,
      'push',
      /ListObjectsV2 with an HTML page \(HTTP 200\)/,
    ],
    [
      'HTML to everything: a PUT',
      () => html,
      'push (manifest present: PUT first)',
      /PutObject with an HTML page/,
    ],
    ['HTML to everything: pull', () => html, 'pull', /ListObjectsV2 with an HTML page/],
    ['HTML to everything: check', () => html, 'check', /ListObjectsV2 with an HTML page/],
    ['HTML to everything: cleanup', () => html, 'cleanup', /ListMultipartUploads with an HTML page/],
    [
      '200 and nothing else: push lists first',
      () => bare,
      'push',
      /ListObjectsV2 with something other than S3's XML \(no content type\)/,
    ],
    [
      '200 and nothing else: a PUT has no ETag',
      () => bare,
      'push (manifest present: PUT first)',
      /PutObject without an ETag/,
    ],
    ['200 and nothing else: pull', () => bare, 'pull', /ListObjectsV2 with something other than S3's XML/],
    [
      'a redirect: push',
      () => redirect,
      'push',
      /redirects to https:\/\/login\.example\.invalid\/sso\?next=%2F/,
    ],
    [
      'a redirect: a PUT',
      () => redirect,
      'push (manifest present: PUT first)',
      /redirects to https:\/\/login/,
    ],
    ['a redirect: pull', () => redirect, 'pull', /redirects to https:\/\/login/],
    [
      'an empty 404: push lists first',
      () => empty404,
      'push',
      /ListObjectsV2 with HTTP 404 and no S3 error document/,
    ],
    ['an empty 404: pull', () => empty404, 'pull', /ListObjectsV2 with HTTP 404 and no S3 error document/],
    ["a router's text 404: check", () => text404, 'check', /ListObjectsV2 with HTTP 404 and no S3 error/],
    ["a gateway's JSON 404: push", () => json404, 'push', /ListObjectsV2 with JSON \(HTTP 404\)/],
    [
      "a gateway's JSON 404: a PUT",
      () => json404,
      'push (manifest present: PUT first)',
      /PutObject with JSON \(HTTP 404\)/,
    ],
    ["a gateway's JSON 404: cleanup", () => json404, 'cleanup', /ListMultipartUploads with JSON/],
  ])('%s', async (_name, server, command, reason) => {
    const s = server();
    const before = s.requests.length;
    const r = await against(s.url, command);
    expectRefused(r, NOT_S3);
    expectRefused(r, reason);
    // Refused at the first answer, not retried.
    expect(s.requests.length - before).toBe(1);
  });
});

describe('an endpoint that is not there', () => {
  it.each<[string, () => string, Command, RegExp]>([
    [
      'https:// to a plain HTTP port: push',
      () => html.url.replace('http:', 'https:'),
      'push',
      /does not speak TLS on that port: use http:\/\/ instead of https:\/\//,
    ],
    [
      'https:// to a plain HTTP port: pull',
      () => html.url.replace('http:', 'https:'),
      'pull',
      /does not speak TLS/,
    ],
    [
      'a host name that does not resolve: push',
      () => 'http://s3sync-no-such-host.invalid:9000',
      'push',
      /cannot resolve the host name of the S3 endpoint http:\/\/s3sync-no-such-host\.invalid:9000 \(DNS: (ENOTFOUND|EAI_AGAIN)\): check endpointUrl \(--endpoint-url\)/,
    ],
    [
      'a host name that does not resolve: check',
      () => 'https://s3sync-no-such-host.invalid',
      'check',
      /cannot resolve the host name/,
    ],
    [
      'a port nothing listens on: push',
      () => `http://127.0.0.1:${closedPort}`,
      'push',
      /nothing accepts connections at the S3 endpoint .* \(ECONNREFUSED\): check endpointUrl \(--endpoint-url\)/,
    ],
    [
      'a port nothing listens on: pull',
      () => `http://127.0.0.1:${closedPort}`,
      'pull',
      /nothing accepts connections/,
    ],
  ])('%s', async (_name, endpoint, command, message) => {
    expectRefused(await against(endpoint(), command), message);
  });
});

describe('an endpoint that accepts connections and never answers', () => {
  const SILENT = (secs: number) =>
    new RegExp(
      `accepted the connection but sent no response within ${secs} s: check endpointUrl \\(--endpoint-url\\) .*--first-byte-timeout`,
    );

  // Bounded by the defaults: connect (10 s) + first byte (10 s), plus start-up; the test's timeout says so.
  it('push, default timeouts', { timeout: 35_000 }, async () => {
    const before = silent.accepted();
    expectRefused(await against(silent.url, 'push'), SILENT(10));
    // Given up, not retried: one connection.
    expect(silent.accepted() - before).toBe(1);
  });

  it.each<[string, () => string, Command]>([
    ['push', () => silent.url, 'push'],
    ['pull', () => silent.url, 'pull'],
    ['cleanup', () => silent.url, 'cleanup'],
    [
      'push over https:// (the TLS handshake never answered)',
      () => silent.url.replace('http:', 'https:'),
      'push',
    ],
  ])('%s with --first-byte-timeout 2s', { timeout: 15_000 }, async (_name, endpoint, command) => {
    expectRefused(await against(endpoint(), command, ['--first-byte-timeout', '2s']), SILENT(2));
  });
});

describe('TLS certificates', () => {
  let tlsHtml: Fake | undefined;
  beforeAll(async () => {
    if (selfSigned)
      tlsHtml = await fake(
        (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(WELCOME),
        selfSigned,
      );
  });

  it('a self-signed certificate is not trusted: the fix is --ca-bundle', async (ctx) => {
    if (!tlsHtml) return ctx.skip();
    const url = tlsHtml.url.replace('127.0.0.1', 'localhost');
    expectRefused(
      await against(url, 'push'),
      /TLS certificate of the S3 endpoint .* is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): .*--ca-bundle/,
    );
  });

  it('a trusted certificate for another name: the fix is the host name', async (ctx) => {
    if (!tlsHtml || !selfSigned) return ctx.skip();
    const r = await against(tlsHtml.url, 'push', [], {
      NODE_EXTRA_CA_CERTS: selfSigned.certFile,
      AWS_CA_BUNDLE: undefined,
    });
    expectRefused(
      r,
      /is for another host name \(ERR_TLS_CERT_ALTNAME_INVALID\): use a host name it names in endpointUrl \(--endpoint-url\)/,
    );
  });

  it('trusted and named: then what answers is judged, and HTML is not S3', async (ctx) => {
    if (!tlsHtml || !selfSigned) return ctx.skip();
    const url = tlsHtml.url.replace('127.0.0.1', 'localhost');
    const r = await against(url, 'pull', [], {
      NODE_EXTRA_CA_CERTS: selfSigned.certFile,
      AWS_CA_BUNDLE: undefined,
    });
    expectRefused(r, /does not answer as S3 \(it answers ListObjectsV2 with an HTML page/);
  });
});

describe.each(servers())('real stores keep their messages on $name', (server) => {
  it.each<[string, 'pull' | 'check']>([
    ['pull', 'pull'],
    ['check', 'check'],
  ])('%s: a bucket that does not exist, an unknown access key id', async (_name, command) => {
    const src = dir('real-src');
    writeTree(src, { 'a.txt': 'a' });
    const { bucket } = await newBucket(server, 'keep');
    const target = (b: string) =>
      command === 'pull' ? ['pull', `s3://${b}/p`, path.join(src, 'out')] : ['check', src, `s3://${b}/p`];

    const missing = await runCli(target(`s3sync-missing-${process.pid}-${Date.now()}`), server);
    expect(plainLines(missing.stderr)).toEqual([
      expect.stringMatching(/^s3sync: bucket '.*' does not exist at .* \(create it first\)$/),
    ]);
    expect(missing.code).toBe(2);

    const badId = await runLive(target(bucket), server, {
      env: { AWS_ACCESS_KEY_ID: 'NOSUCHACCESSKEYID0000' },
    });
    expect(plainLines(badId.stderr())).toEqual([
      expect.stringMatching(
        /^s3sync: the S3 credentials were rejected \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID/,
      ),
    ]);
    expect(badId.code).toBe(2);
  });

  it.each<[string, string[], Record<string, string>, string]>([
    ['--profile', ['--profile', 'wrong'], {}, "the keys of AWS profile 'wrong' (--profile)"],
    ['AWS_PROFILE', [], { AWS_PROFILE: 'wrong' }, "the keys of AWS profile 'wrong' (AWS_PROFILE)"],
  ])(
    'credentials of a profile (%s) rejected: the message names the profile',
    async (_n, args, env, where) => {
      const { bucket } = await newBucket(server, 'keep3');
      const home = dir('real-profile');
      writeFileSync(path.join(home, 'config'), '[profile wrong]\nregion = us-east-1\n');
      writeFileSync(
        path.join(home, 'credentials'),
        '[wrong]\naws_access_key_id = NOSUCHACCESSKEYID0000\naws_secret_access_key = not-the-secret\n',
      );
      const r = await runLive(['pull', `s3://${bucket}/p`, dir('real-out'), ...args], server, {
        env: {
          AWS_CONFIG_FILE: path.join(home, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
          ...env,
        },
      });
      expect(plainLines(r.stderr()).filter((l) => l.startsWith('s3sync:'))).toEqual([
        `s3sync: the S3 credentials were rejected (InvalidAccessKeyId): check ${where}`,
      ]);
      expect(r.code).toBe(2);
    },
  );

  // s3rver does not check signatures.
  it.skipIf(server.name === 'embedded')('pull: a wrong secret key', async () => {
    const { bucket } = await newBucket(server, 'keep2');
    const r = await runLive(['pull', `s3://${bucket}/p`, dir('real-out')], server, {
      env: { AWS_SECRET_ACCESS_KEY: 'definitely-not-the-secret-key' },
    });
    expect(plainLines(r.stderr())).toEqual([
      expect.stringMatching(/^s3sync: the S3 credentials were rejected \(SignatureDoesNotMatch\)/),
    ]);
    expect(r.code).toBe(2);
  });
});
