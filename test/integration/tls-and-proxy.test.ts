/**
 * Reaching a store through TLS signed by a private CA (--ca-bundle, AWS_CA_BUNDLE, the profile's
 * ca_bundle, --no-verify-ssl) and through an HTTP(S) proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), on
 * each real server: a TLS front (test/servers/tls-front.ts) with a CA made at test time sits before
 * the server's plain HTTP port, and a forward proxy (test/servers/http-proxy.ts) counts what it carries.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBucket, plainLines, runCli, servers, trackedDirs, writeTree } from '../helpers.js';
import { type ProxyFault, startHttpProxy } from '../servers/http-proxy.js';
import type { TestServer } from '../servers/servers.js';
import { makeTestPki, startTlsFront, type TestPki } from '../servers/tls-front.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

let pki: TestPki | undefined;
beforeAll(() => {
  const made = makeTestPki();
  if ('error' in made)
    console.warn(`[tls-and-proxy] NOTICE: openssl failed (${made.error}): TLS cases skipped`);
  else pki = made;
});

/** Nothing from the test process's environment decides trust or proxies: each case sets its own. */
const CLEAN = {
  AWS_CA_BUNDLE: undefined,
  NODE_EXTRA_CA_CERTS: undefined,
  NODE_TLS_REJECT_UNAUTHORIZED: undefined,
  AWS_CONFIG_FILE: undefined,
  AWS_SHARED_CREDENTIALS_FILE: undefined,
  AWS_PROFILE: undefined,
  HTTPS_PROXY: undefined,
  https_proxy: undefined,
  HTTP_PROXY: undefined,
  http_proxy: undefined,
  NO_PROXY: undefined,
  no_proxy: undefined,
  ALL_PROXY: undefined,
  all_proxy: undefined,
};

const TLS_REFUSED =
  /^s3sync: the TLS certificate of the S3 endpoint https:\/\/127\.0\.0\.1:\d+ is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): .*--ca-bundle/;

describe.each(servers())('TLS through a private CA on $name', (server: TestServer) => {
  let front: Awaited<ReturnType<typeof startTlsFront>> | undefined;
  beforeAll(async () => {
    if (pki) front = await startTlsFront(server.endpoint, pki);
  });
  afterAll(async () => front?.close());

  /** A push of two files to a fresh bucket through the front; the env on top of CLEAN. */
  async function pushVia(env: Record<string, string | undefined>, flags: string[] = [], home?: string) {
    const { bucket } = await newBucket(server, 'tls');
    const src = dir('tls-src');
    writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'gamma' });
    const run = await runCli(['push', src, `s3://${bucket}/p`, ...flags], server, {
      env: { ...CLEAN, AWS_ENDPOINT_URL_S3: front!.endpoint, ...(home && { HOME: home }), ...env },
    });
    return { run, src, bucket };
  }

  it('without a bundle: one line naming the cause and --ca-bundle, exit 2, no retry storm', async (ctx) => {
    if (!front) return ctx.skip();
    const before = front.connections();
    const { run } = await pushVia({});
    const lines = plainLines(run.stderr);
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(TLS_REFUSED);
    expect(run.code).toBe(2);
    // Refused handshakes never complete: the front saw none.
    expect(front.connections()).toBe(before);
  });

  it.each([
    ['--ca-bundle', (f: string) => ({ flags: ['--ca-bundle', f], env: {} })],
    ['AWS_CA_BUNDLE', (f: string) => ({ flags: [], env: { AWS_CA_BUNDLE: f } })],
  ])('with %s: the push goes through', async (_name, given) => {
    if (!front || !pki) return;
    const { flags, env } = given(pki.caFile);
    const { run } = await pushVia(env, flags);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/2 uploaded/);
  });

  it("with the profile's ca_bundle (HOME's ~/.aws/config): push, then pull back", async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const home = dir('tls-home');
    mkdirSync(path.join(home, '.aws'));
    writeFileSync(path.join(home, '.aws', 'config'), `[default]\nca_bundle = ${pki.caFile}\n`);
    const { run, bucket } = await pushVia({}, [], home);
    expect(run.code, run.stderr).toBe(0);
    const out = dir('tls-out');
    const pulled = await runCli(['pull', `s3://${bucket}/p`, out], server, {
      env: { ...CLEAN, AWS_ENDPOINT_URL_S3: front.endpoint, HOME: home },
    });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/2 downloaded/);
  });

  it('--ca-bundle wins over a wrong AWS_CA_BUNDLE (aws-cli precedence)', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const other = path.join(dir('tls-other'), 'other.pem');
    // A certificate, but not the CA that signed the front's: trusted alone, it would refuse the front.
    writeFileSync(other, pki.cert);
    const { run } = await pushVia({ AWS_CA_BUNDLE: other }, ['--ca-bundle', pki.caFile]);
    expect(run.code, run.stderr).toBe(0);
    const alone = await pushVia({ AWS_CA_BUNDLE: other });
    expect(plainLines(alone.run.stderr)[0]).toMatch(/is not trusted/);
  });

  it.each([
    [
      'missing',
      '--ca-bundle',
      (d: string) => path.join(d, 'none.pem'),
      /cannot read the CA bundle .*none\.pem \(--ca-bundle\): ENOENT/,
    ],
    [
      'not PEM',
      '--ca-bundle',
      (d: string) => write(d, 'x.pem', 'hello'),
      /CA bundle .*x\.pem \(--ca-bundle\) holds no PEM certificate/,
    ],
    [
      'a bad PEM block',
      'AWS_CA_BUNDLE',
      (d: string) => write(d, 'y.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      /CA bundle .*y\.pem \(AWS_CA_BUNDLE\) holds a certificate that is not valid PEM/,
    ],
    [
      'a directory',
      '--ca-bundle',
      (d: string) => d,
      /cannot read the CA bundle .* \(--ca-bundle\): it is a directory/,
    ],
  ])(
    'a bad bundle (%s, by %s): one line naming the file, exit 2, no connection',
    async (_n, by, make, message) => {
      if (!front) return;
      const file = make(dir('tls-bad'));
      const before = front.connections();
      const { run } = await pushVia(
        by === 'AWS_CA_BUNDLE' ? { AWS_CA_BUNDLE: file } : {},
        by === 'AWS_CA_BUNDLE' ? [] : ['--ca-bundle', file],
      );
      const lines = plainLines(run.stderr);
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(run.code).toBe(2);
      expect(front.connections()).toBe(before);
    },
  );

  it('--ca-bundle with --no-verify-ssl: refused, as one of them is a mistake', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const { run } = await pushVia({}, ['--ca-bundle', pki.caFile, '--no-verify-ssl']);
    expect(plainLines(run.stderr)).toEqual([
      's3sync: give caBundle (--ca-bundle) or verifySsl false (--no-verify-ssl), not both',
    ]);
    expect(run.code).toBe(2);
  });

  it('--no-verify-ssl: goes through, and warns on stderr', async (ctx) => {
    if (!front) return ctx.skip();
    const { run } = await pushVia({}, ['--no-verify-ssl']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/2 uploaded/);
    expect(run.stderr).toMatch(/TLS certificates are not verified \(--no-verify-ssl\)/);
  });

  it('--no-verify-ssl --quiet: the warning is still said, alone; with --json it is a security notice', async (ctx) => {
    if (!front) return ctx.skip();
    // A risk taken is no progress: --quiet keeps it, as aws-cli prints its InsecureRequestWarning.
    const quiet = await pushVia({}, ['--no-verify-ssl', '--quiet']);
    expect(quiet.run.code, quiet.run.stderr).toBe(0);
    expect(quiet.run.stdout).toBe('');
    expect(plainLines(quiet.run.stderr)).toEqual([
      expect.stringMatching(/^notice: TLS certificates are not verified \(--no-verify-ssl\)/),
    ]);
    const json = await pushVia({}, ['--no-verify-ssl', '--json']);
    expect(json.run.code, json.run.stderr).toBe(0);
    const notices = json.run.events.filter((e) => e.type === 'notice' && /not verified/.test(e.message));
    expect(notices).toEqual([expect.objectContaining({ type: 'notice', security: true })]);
  });

  it('a plain-http endpoint reads no bundle: an unusable AWS_CA_BUNDLE set machine-wide does not matter', async () => {
    const bad = path.join(dir('tls-http'), 'not-pem.txt');
    writeFileSync(bad, 'not a certificate');
    const { bucket } = await newBucket(server, 'tls-http');
    const src = dir('tls-http-src');
    writeTree(src, { 'a.txt': 'alpha' });
    const run = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server, {
      env: { ...CLEAN, AWS_CA_BUNDLE: bad },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.summary?.uploaded).toBe(1);
    // The same bundle stops a run to the https front: it is read where TLS is used.
    if (front) {
      const viaTls = await pushVia({ AWS_CA_BUNDLE: bad });
      expect(viaTls.run.code).toBe(2);
      expect(plainLines(viaTls.run.stderr)[0]).toMatch(/holds no PEM certificate/);
    }
  });

  it('a no-change push reads no bundle: a bundle removed after the first push does not matter', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const bundle = path.join(dir('tls-gone'), 'ca.pem');
    writeFileSync(bundle, readFileSync(pki.caFile));
    const { run, src, bucket } = await pushVia({}, ['--ca-bundle', bundle]);
    expect(run.code, run.stderr).toBe(0);
    rmSync(bundle);
    const again = await runCli(['push', src, `s3://${bucket}/p`, '--ca-bundle', bundle, '--json'], server, {
      env: { ...CLEAN, AWS_ENDPOINT_URL_S3: front.endpoint },
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary?.requestsTotal).toBe(0);
  });
});

describe.each(servers())('HTTP(S) proxies on $name', (server: TestServer) => {
  let front: Awaited<ReturnType<typeof startTlsFront>> | undefined;
  const proxies: Awaited<ReturnType<typeof startHttpProxy>>[] = [];
  const SECRET = 'pr0xy-S3CRET-pw';
  beforeAll(async () => {
    if (pki) front = await startTlsFront(server.endpoint, pki);
  });
  afterAll(async () => {
    await front?.close();
    for (const p of proxies) await p.close();
  });
  const proxy = async (auth?: { user: string; password: string }, fault?: ProxyFault) => {
    const p = await startHttpProxy(auth, fault);
    proxies.push(p);
    return p;
  };
  /** The proxy's URL with a user and password in it. */
  const withUser = (url: string, password: string) => url.replace('http://', `http://ops:${password}@`);

  /** A push of three files to a fresh bucket at `endpoint`, then a pull back; each run's result. */
  async function roundTrip(endpoint: string, env: Record<string, string | undefined>, flags: string[] = []) {
    const { bucket } = await newBucket(server, 'proxy');
    const src = dir('proxy-src');
    writeTree(src, { 'a.txt': 'alpha', 'b/c.txt': 'gamma', 'd.bin': 'x'.repeat(3000) });
    const all = { ...CLEAN, AWS_ENDPOINT_URL_S3: endpoint, ...env };
    const pushed = await runCli(['push', src, `s3://${bucket}/p`, ...flags], server, { env: all });
    const out = dir('proxy-out');
    const pulled = await runCli(['pull', `s3://${bucket}/p`, out, ...flags], server, { env: all });
    return { pushed, pulled, out };
  }

  it('HTTPS_PROXY: every request to the https endpoint goes through a CONNECT tunnel', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const p = await proxy();
    const r = await roundTrip(front.endpoint, { HTTPS_PROXY: p.url }, ['--ca-bundle', pki.caFile]);
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pushed.stdout).toMatch(/3 uploaded/);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(readFileSync(path.join(r.out, 'b/c.txt'), 'utf8')).toBe('gamma');
    expect(p.counts.tunnels).toBeGreaterThan(0);
    expect(new Set(p.counts.targets)).toEqual(new Set([new URL(front.endpoint).host]));
    expect(p.counts.forwarded).toBe(0);
  });

  it('https_proxy (lower case) with user and password: Basic auth, never printed, also with --debug', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const p = await proxy({ user: 'ops', password: SECRET });
    const r = await roundTrip(front.endpoint, { https_proxy: withUser(p.url, SECRET) }, [
      '--ca-bundle',
      pki.caFile,
      '--debug',
    ]);
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(p.counts.tunnels).toBeGreaterThan(0);
    expect(p.counts.refused).toBe(0);
    expect(r.pushed.stderr).toMatch(
      /notice: connection: proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+\/? \(https_proxy\)/,
    );
    for (const run of [r.pushed, r.pulled]) expect(run.stdout + run.stderr).not.toContain(SECRET);
  });

  it('a wrong proxy password: one line naming the 407 and the variable, exit 2, no password', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const p = await proxy({ user: 'ops', password: SECRET });
    const wrong = 'not-the-pw-123';
    for (const debug of [[], ['--debug']]) {
      const r = await roundTrip(front.endpoint, { HTTPS_PROXY: withUser(p.url, wrong) }, [
        '--ca-bundle',
        pki.caFile,
        ...debug,
      ]);
      const lines = plainLines(r.pushed.stderr).filter((l) => !l.startsWith('notice: '));
      expect(lines, r.pushed.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^s3sync: the proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(HTTPS_PROXY\) refused the connection to 127\.0\.0\.1:\d+ \(HTTP 407 Proxy Authentication Required\): check the user name and password in HTTPS_PROXY$/,
      );
      expect(r.pushed.code).toBe(2);
      if (debug.length === 0) expect(r.pushed.stderr).not.toMatch(/^\s+at /m);
      for (const run of [r.pushed, r.pulled]) expect(run.stdout + run.stderr).not.toContain(wrong);
    }
    // Refused once per run, not retried.
    expect(p.counts.refused).toBeLessThanOrEqual(4);
    expect(p.counts.tunnels).toBe(0);
  });

  it('HTTP_PROXY: requests to the http endpoint are forwarded in absolute form', async () => {
    const p = await proxy({ user: 'ops', password: SECRET });
    const r = await roundTrip(server.endpoint, { HTTP_PROXY: withUser(p.url, SECRET) });
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pushed.stdout).toMatch(/3 uploaded/);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(readFileSync(path.join(r.out, 'd.bin'), 'utf8')).toBe('x'.repeat(3000));
    expect(p.counts.forwarded).toBeGreaterThan(0);
    expect(p.counts.tunnels).toBe(0);
    expect(new Set(p.counts.targets)).toEqual(new Set([new URL(server.endpoint).host]));
  });

  it.each([
    ['with proxy auth', true],
    ['without proxy auth', false],
  ])(
    'HTTP_PROXY %s: bodies above and below the 100-continue size, single PUT and multipart, go through',
    async (_n, withAuth) => {
      const p = await proxy(withAuth ? { user: 'ops', password: SECRET } : undefined);
      const { bucket } = await newBucket(server, 'proxy-big');
      const src = dir('proxy-big');
      const MiB = 1024 * 1024;
      // Below and above the SDK's Expect: 100-continue size (2 MiB), and one in three 5 MiB parts.
      const files = {
        'small.bin': Buffer.alloc(MiB + 7, 1),
        'big.bin': Buffer.alloc(3 * MiB + 5, 2),
        'parts.bin': Buffer.alloc(11 * MiB, 3),
      };
      for (const [name, body] of Object.entries(files)) writeFileSync(path.join(src, name), body);
      const env = {
        ...CLEAN,
        AWS_ENDPOINT_URL_S3: server.endpoint,
        HTTP_PROXY: withAuth ? withUser(p.url, SECRET) : p.url,
      };
      const flags = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
      const pushed = await runCli(['push', src, `s3://${bucket}/big`, ...flags], server, { env });
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.stdout).toMatch(/3 uploaded/);
      const out = dir('proxy-big-out');
      const pulled = await runCli(['pull', `s3://${bucket}/big`, out], server, { env });
      expect(pulled.code, pulled.stderr).toBe(0);
      for (const [name, body] of Object.entries(files))
        expect(readFileSync(path.join(out, name)).equals(body), name).toBe(true);
      expect(p.counts.refused).toBe(0);
      expect(p.counts.forwarded).toBeGreaterThan(5);
      expect(new Set(p.counts.targets)).toEqual(new Set([new URL(server.endpoint).host]));
    },
  );

  it('HTTP_PROXY with a wrong password: one line, non-zero exit, no password', async () => {
    const p = await proxy({ user: 'ops', password: SECRET });
    const wrong = 'not-the-pw-456';
    const r = await roundTrip(server.endpoint, { HTTP_PROXY: withUser(p.url, wrong) });
    const lines = plainLines(r.pushed.stderr);
    expect(lines, r.pushed.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^s3sync: .*407.*HTTP_PROXY/);
    expect(r.pushed.code).toBe(2);
    expect(r.pushed.stdout + r.pushed.stderr).not.toContain(wrong);
  });

  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['a CIDR block', '127.0.0.0/8'],
    ['the host and its port', (e: string) => new URL(e).host],
    ['*', '*'],
  ])('NO_PROXY %s: requests go directly, the proxy carries nothing', async (_n, entry) => {
    const p = await proxy();
    const no = typeof entry === 'function' ? entry(server.endpoint) : entry;
    const r = await roundTrip(server.endpoint, {
      HTTP_PROXY: p.url,
      HTTPS_PROXY: p.url,
      NO_PROXY: `example.com, ${no}`,
    });
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(p.counts.forwarded + p.counts.tunnels).toBe(0);
  });

  it('NO_PROXY for another port of the host: still through the proxy', async () => {
    const p = await proxy();
    const r = await roundTrip(server.endpoint, { HTTP_PROXY: p.url, no_proxy: '127.0.0.1:1' });
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(p.counts.forwarded).toBeGreaterThan(0);
  });

  it.each([
    [
      'HTTPS_PROXY',
      'http://u:pa/ss@127.0.0.1:7620',
      'pa/ss',
      /^s3sync: malformed proxy URL http:\/\/u:\*\*\*@127\.0\.0\.1:7620 in HTTPS_PROXY/,
    ],
    [
      'HTTP_PROXY',
      'http://u:12/ss@127.0.0.1:7620',
      '12/ss',
      /^s3sync: malformed proxy URL http:\/\/u:\*\*\*@127\.0\.0\.1:7620 in HTTP_PROXY/,
    ],
    [
      'HTTPS_PROXY',
      'http://u:50%off@127.0.0.1:7620',
      '50%off',
      /^s3sync: HTTPS_PROXY holds a user name or password that is not valid percent-encoding \(http:\/\/u:\*\*\*@127\.0\.0\.1:7620\): write % as %25$/,
    ],
    [
      'HTTP_PROXY',
      'http://u:50%off@127.0.0.1:7620',
      '50%off',
      /^s3sync: HTTP_PROXY holds a user name or password that is not valid percent-encoding/,
    ],
  ])(
    '%s=%s: one line without the password, exit 2, also with --json and --debug',
    async (name, value, pw, message) => {
      const endpoint = name === 'HTTPS_PROXY' ? 'https://127.0.0.1:1' : server.endpoint;
      for (const extra of [[], ['--json'], ['--debug']]) {
        const { bucket } = await newBucket(server, 'proxy-bad');
        const src = dir('proxy-bad');
        writeTree(src, { 'a.txt': 'alpha' });
        const run = await runCli(['push', src, `s3://${bucket}/p`, ...extra], server, {
          env: { ...CLEAN, AWS_ENDPOINT_URL_S3: endpoint, [name]: value },
        });
        const lines = plainLines(run.stderr).filter((l) => !l.startsWith('notice: '));
        expect(lines, run.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(message);
        expect(run.code, run.stderr).toBe(2);
        expect(run.stdout + run.stderr, extra.join()).not.toContain(pw);
        expect(run.stderr).not.toMatch(/^\s+at /m);
      }
    },
  );

  const page = (status: number) => ({ status, html: `<html><body><h1>${status}</h1>blocked</body></html>` });
  it.each<[string, ProxyFault, RegExp, number]>([
    [
      'a 403 page',
      page(403),
      /^s3sync: the proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(HTTP_PROXY\) refused the request to http:\/\/\S+ \(it answers \w+ with an HTML page \(HTTP 403\)\): check what the proxy allows, or name the host in NO_PROXY$/,
      2,
    ],
    // A gateway's failure (it could not reach the endpoint for now): retried, then transient, exit 1.
    ...[502, 503, 504].map((status): [string, ProxyFault, RegExp, number] => [
      `a ${status} page`,
      page(status),
      new RegExp(
        `^s3sync: the proxy http://ops:\\*\\*\\*@127\\.0\\.0\\.1:\\d+ \\(HTTP_PROXY\\) answered HTTP ${status} [A-Za-z ]+ to \\w+, not an S3 answer \\(on every attempt\\): the proxy or its way to http://\\S+ is failing for now, run again later$`,
      ),
      1,
    ]),
    [
      'a 500 page',
      page(500),
      /^s3sync: the proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(HTTP_PROXY\) answered HTTP 500 Internal Server Error to \w+, not an S3 answer \(on every attempt\): check the proxy and that it reaches http:\/\/\S+$/,
      2,
    ],
    [
      'a dropped connection',
      'drop',
      /^s3sync: S3 error ECONNRESET.* through the proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(HTTP_PROXY\)/,
      1,
    ],
  ])(
    'HTTP_PROXY answering with %s: one line naming the proxy, not the endpoint',
    async (_n, fault, message, code) => {
      const p = await proxy({ user: 'ops', password: SECRET }, fault);
      const { bucket } = await newBucket(server, 'proxy-fault');
      const src = dir('proxy-fault');
      writeTree(src, { 'a.txt': 'alpha' });
      const run = await runCli(['push', src, `s3://${bucket}/p`, '--retries', '1'], server, {
        env: { ...CLEAN, AWS_ENDPOINT_URL_S3: server.endpoint, HTTP_PROXY: withUser(p.url, SECRET) },
      });
      const lines = plainLines(run.stderr).filter((l) => !l.startsWith('notice: '));
      expect(lines.at(-1), run.stderr).toMatch(message);
      expect(
        lines.filter((l) => l.startsWith('s3sync: ')),
        run.stderr,
      ).toHaveLength(1);
      expect(run.stderr).not.toMatch(/check (--endpoint-url|endpointUrl|AWS_ENDPOINT_URL)/);
      expect(run.code, run.stderr).toBe(code);
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      expect(p.counts.forwarded).toBeGreaterThan(0);
    },
  );

  it("HTTP_PROXY: the store's own S3 errors come through as they are", async () => {
    const p = await proxy({ user: 'ops', password: SECRET });
    const src = dir('proxy-nobucket');
    writeTree(src, { 'a.txt': 'alpha' });
    const run = await runCli(['push', src, 's3://no-such-bucket-s3sync-proxy/p'], server, {
      env: { ...CLEAN, AWS_ENDPOINT_URL_S3: server.endpoint, HTTP_PROXY: withUser(p.url, SECRET) },
    });
    expect(plainLines(run.stderr)).toEqual([
      `s3sync: bucket 'no-such-bucket-s3sync-proxy' does not exist at ${server.endpoint} (create it first)`,
    ]);
    expect(run.code).toBe(2);
    expect(p.counts.forwarded).toBeGreaterThan(0);
  });

  /** An https:// proxy: a TLS front (the test CA's certificate) before a plain forward proxy. */
  async function tlsProxy(): Promise<string> {
    const p = await proxy();
    const f = await startTlsFront(p.url, pki!);
    proxies.push({ ...p, close: f.close });
    return f.endpoint;
  }
  const PROXY_TLS =
    /^s3sync: the TLS certificate of the proxy https:\/\/127\.0\.0\.1:\d+ \((HTTP|HTTPS)_PROXY\) is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): a proxy's certificate is checked against the system's CAs and NODE_EXTRA_CA_CERTS, not --ca-bundle$/;

  it("an https:// HTTP_PROXY: its certificate is checked against the system's CAs and NODE_EXTRA_CA_CERTS", async (ctx) => {
    if (!pki) return ctx.skip();
    const url = await tlsProxy();
    const refused = await roundTrip(server.endpoint, { HTTP_PROXY: url });
    expect(plainLines(refused.pushed.stderr)).toHaveLength(1);
    expect(plainLines(refused.pushed.stderr)[0]).toMatch(PROXY_TLS);
    expect(refused.pushed.code).toBe(2);
    const trusted = await roundTrip(server.endpoint, { HTTP_PROXY: url, NODE_EXTRA_CA_CERTS: pki.caFile });
    expect(trusted.pushed.code, trusted.pushed.stderr).toBe(0);
    expect(trusted.pulled.code, trusted.pulled.stderr).toBe(0);
  });

  it("an https:// HTTPS_PROXY: its certificate is not checked against the endpoint's --ca-bundle", async (ctx) => {
    if (!pki || !front) return ctx.skip();
    const url = await tlsProxy();
    const refused = await roundTrip(front.endpoint, { HTTPS_PROXY: url }, ['--ca-bundle', pki.caFile]);
    expect(plainLines(refused.pushed.stderr)).toHaveLength(1);
    expect(plainLines(refused.pushed.stderr)[0]).toMatch(PROXY_TLS);
    expect(refused.pushed.code).toBe(2);
    const trusted = await roundTrip(front.endpoint, { HTTPS_PROXY: url, NODE_EXTRA_CA_CERTS: pki.caFile }, [
      '--ca-bundle',
      pki.caFile,
    ]);
    expect(trusted.pushed.code, trusted.pushed.stderr).toBe(0);
    expect(trusted.pulled.code, trusted.pulled.stderr).toBe(0);
  });

  it.each<[string, ProxyFault, (proxy: string) => RegExp]>([
    [
      'closes CONNECT without an answer',
      'close',
      (p) =>
        new RegExp(
          `^s3sync: the proxy ${p} \\(HTTPS_PROXY\\) closed the connection to 127\\.0\\.0\\.1:\\d+ without an answer$`,
        ),
    ],
    [
      'answers CONNECT, then sends bytes that are not TLS',
      'garbage',
      (p) => new RegExp(`through the proxy ${p} \\(HTTPS_PROXY\\)`),
    ],
    [
      'answers CONNECT, then is silent',
      'silent',
      (p) =>
        new RegExp(
          `^s3sync: the S3 endpoint https://127\\.0\\.0\\.1:\\d+ accepted the connection but sent no response within 1 s through the proxy ${p} \\(HTTPS_PROXY\\): `,
        ),
    ],
  ])('a proxy that %s: one line naming the proxy', async (_n, fault, message) => {
    if (!front || !pki) return;
    const p = await proxy(undefined, fault);
    const r = await roundTrip(front.endpoint, { HTTPS_PROXY: p.url }, [
      '--ca-bundle',
      pki.caFile,
      '--first-byte-timeout',
      '1s',
      '--retries',
      '1',
    ]);
    const lines = plainLines(r.pushed.stderr);
    expect(lines, r.pushed.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(message(p.url.replaceAll('.', '\\.')));
    expect(r.pushed.code).not.toBe(0);
  });

  it('a proxy that answers CONNECT with 502 once: retried as a network failure, the run succeeds', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const p = await proxy(undefined, { connectStatus: 502, times: 1 });
    const r = await roundTrip(front.endpoint, { HTTPS_PROXY: p.url }, ['--ca-bundle', pki.caFile]);
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pushed.stdout).toMatch(/3 uploaded/);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(p.counts.failedConnects).toBe(1);
    expect(p.counts.tunnels).toBeGreaterThan(0);
  });

  it('a proxy that answers every CONNECT with 503: retried, then one line naming the proxy, exit 1 (transient)', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const p = await proxy(undefined, { connectStatus: 503 });
    const r = await roundTrip(front.endpoint, { HTTPS_PROXY: withUser(p.url, SECRET) }, [
      '--ca-bundle',
      pki.caFile,
      '--retries',
      '2',
    ]);
    expect(plainLines(r.pushed.stderr), r.pushed.stderr).toEqual([
      expect.stringMatching(
        /^s3sync: the proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(HTTPS_PROXY\) answered the connection to 127\.0\.0\.1:\d+ with HTTP 503 Service Unavailable on every attempt: the proxy or its way to the endpoint is failing for now, run again later$/,
      ),
    ]);
    // A gateway's outage is no configuration error: exit 1, as a connection cut on every attempt.
    expect(r.pushed.code).toBe(1);
    expect(r.pulled.code).toBe(1);
    for (const run of [r.pushed, r.pulled]) expect(run.stdout + run.stderr).not.toContain(SECRET);
    // The first attempt and two retries, in each of the two runs.
    expect(p.counts.failedConnects).toBeGreaterThanOrEqual(6);
    expect(p.counts.tunnels).toBe(0);
  });

  it('all_proxy alone: an http endpoint forwarded and an https one tunnelled through it, --debug naming it', async (ctx) => {
    const p = await proxy({ user: 'ops', password: SECRET });
    const r = await roundTrip(server.endpoint, { all_proxy: withUser(p.url, SECRET) }, ['--debug']);
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pushed.stdout).toMatch(/3 uploaded/);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(readFileSync(path.join(r.out, 'b/c.txt'), 'utf8')).toBe('gamma');
    expect(r.pushed.stderr).toMatch(
      /notice: connection: proxy http:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ \(all_proxy\)/,
    );
    expect(p.counts.forwarded).toBeGreaterThan(0);
    expect(p.counts.refused).toBe(0);
    for (const run of [r.pushed, r.pulled]) expect(run.stdout + run.stderr).not.toContain(SECRET);
    if (!front || !pki) return ctx.skip();
    const t = await proxy();
    const tr = await roundTrip(front.endpoint, { ALL_PROXY: t.url }, ['--ca-bundle', pki.caFile]);
    expect(tr.pushed.code, tr.pushed.stderr).toBe(0);
    expect(tr.pulled.code, tr.pulled.stderr).toBe(0);
    expect(t.counts.tunnels).toBeGreaterThan(0);
    expect(new Set(t.counts.targets)).toEqual(new Set([new URL(front.endpoint).host]));
  });

  it("a socks ALL_PROXY: irrelevant where the scheme's own variable is set, else refused in one line, exit 2", async () => {
    const socks = 'socks5h://ops:pw-socks-77@127.0.0.1:1080';
    const p = await proxy();
    // HTTP_PROXY set: the run goes through it, ALL_PROXY is not read.
    const r = await roundTrip(server.endpoint, { HTTP_PROXY: p.url, ALL_PROXY: socks });
    expect(r.pushed.code, r.pushed.stderr).toBe(0);
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(p.counts.forwarded).toBeGreaterThan(0);
    // Only HTTPS_PROXY (the other scheme's) set: the http endpoint would go through the socks proxy.
    for (const extra of [[], ['--json'], ['--debug']]) {
      const { bucket } = await newBucket(server, 'proxy-socks');
      const src = dir('proxy-socks');
      writeTree(src, { 'a.txt': 'alpha' });
      const run = await runCli(['push', src, `s3://${bucket}/p`, ...extra], server, {
        env: { ...CLEAN, AWS_ENDPOINT_URL_S3: server.endpoint, HTTPS_PROXY: p.url, all_proxy: socks },
      });
      const lines = plainLines(run.stderr).filter((l) => !l.startsWith('notice: '));
      expect(lines, run.stderr).toEqual([
        's3sync: all_proxy names a socks5h proxy (socks5h://ops:***@127.0.0.1:1080): socks proxies are not supported (only http:// and https:// ones); set HTTP_PROXY to an http:// proxy (it is used instead), or unset all_proxy',
      ]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout + run.stderr).not.toContain('pw-socks-77');
      expect(run.stderr).not.toMatch(/^\s+at /m);
    }
    // NO_PROXY names the host: the socks proxy would carry nothing, the run goes directly.
    const d = await roundTrip(server.endpoint, {
      ALL_PROXY: socks,
      NO_PROXY: new URL(server.endpoint).hostname,
    });
    expect(d.pushed.code, d.pushed.stderr).toBe(0);
    expect(d.pulled.code, d.pulled.stderr).toBe(0);
  });

  it('a proxy nothing listens on: one line naming the proxy, not the endpoint, exit 2', async () => {
    const r = await roundTrip(server.endpoint, { HTTP_PROXY: 'http://ops:pw-123456@127.0.0.1:1' });
    expect(plainLines(r.pushed.stderr)).toEqual([
      's3sync: cannot connect to the proxy http://ops:***@127.0.0.1:1 (HTTP_PROXY) (ECONNREFUSED): check it and that the proxy runs',
    ]);
    expect(r.pushed.code).toBe(2);
  });

  it('a proxy that accepts and never answers CONNECT: --first-byte-timeout still holds', async (ctx) => {
    if (!front || !pki) return ctx.skip();
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      const r = await roundTrip(front.endpoint, { HTTPS_PROXY: `127.0.0.1:${port}` }, [
        '--ca-bundle',
        pki.caFile,
        '--first-byte-timeout',
        '1s',
      ]);
      expect(plainLines(r.pushed.stderr)).toEqual([
        `s3sync: the proxy http://127.0.0.1:${port} (HTTPS_PROXY) did not answer within 1 s: check it and that the proxy runs`,
      ]);
      expect(r.pushed.code).toBe(2);
      // Two runs of one attempt each, not a retry storm.
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      silent.close();
    }
  });
});

function write(d: string, name: string, text: string): string {
  const f = path.join(d, name);
  writeFileSync(f, text);
  return f;
}
