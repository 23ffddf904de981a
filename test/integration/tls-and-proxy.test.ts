/**
 * Reaching a store through TLS signed by a private CA (--ca-bundle, AWS_CA_BUNDLE, the profile's
 * ca_bundle, --no-verify-ssl) and through an HTTP(S) proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), on
 * each real server: a TLS front (test/servers/tls-front.ts) with a CA made at test time sits before
 * the server's plain HTTP port, and a forward proxy (test/servers/http-proxy.ts) counts what it carries.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBucket, plainLines, runCli, servers, trackedDirs, writeTree } from '../helpers.js';
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

function write(d: string, name: string, text: string): string {
  const f = path.join(d, name);
  writeFileSync(f, text);
  return f;
}
