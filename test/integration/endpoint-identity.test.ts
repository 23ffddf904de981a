/**
 * Rule: two different stores never share a manifest. The manifest's identity is the endpoint actually
 * used (flag, environment, profile endpoint_url or services section, provider template, AWS), s3sync
 * connects to exactly that endpoint, plans record it for apply, and credentials inside an endpoint URL
 * are never echoed anywhere.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ManifestData } from '../../src/manifest/schema.js';
import { validateEndpoint } from '../../src/s3/endpoint-url.js';
import { S3Transport } from '../../src/s3/transport.js';
import type { PlanDocument } from '../../src/sync/plan-file.js';
import {
  connFor,
  decodeManifestFile,
  manifestPaths,
  newBucket,
  plainLines,
  runCli,
  seededTree,
  servers,
  trackedDirs,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

/**
 * The CLI with only the environment given here (and PATH, and a HOME with no ~/.aws): no AWS_* variable
 * of the test process leaks into a test about where the endpoint comes from.
 */
const run = (args: string[], env: Record<string, string> = {}, cwd?: string) =>
  runCli(args, undefined, { env: { HOME: emptyHome, ...env }, cwd, bare: true });
const emptyHome = dir('home');

/** A port on 127.0.0.1 that nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const keysOf = (s: TestServer) => ({
  AWS_ACCESS_KEY_ID: s.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
});

/** The manifests under a tree, by the endpoint each records. */
function manifestsByEndpoint(root: string): Map<string, ManifestData> {
  return new Map(
    manifestPaths(root).map((f) => [decodeManifestFile(f).destination.endpoint, decodeManifestFile(f)]),
  );
}

/** AWS config and credentials files in a fresh directory; returns the env that points at them. */
function awsFiles(config: string, credentials: string): Record<string, string> {
  const d = dir('aws');
  writeFileSync(path.join(d, 'config'), config);
  writeFileSync(path.join(d, 'credentials'), credentials);
  return {
    AWS_CONFIG_FILE: path.join(d, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(d, 'credentials'),
  };
}

const credentialsOf = (profiles: Record<string, TestServer>) =>
  Object.entries(profiles)
    .map(
      ([name, s]) =>
        `[${name}]\naws_access_key_id = ${s.accessKeyId}\naws_secret_access_key = ${s.secretAccessKey}\n`,
    )
    .join('');

const embedded = servers().find((s) => s.name === 'embedded');
const ceph = servers().find((s) => s.name === 'ceph');
if (!embedded || !ceph) {
  console.warn(
    '\n[s3sync tests] NOTICE: the two-store profile test needs both the embedded server and Ceph RGW: SKIPPED.\n',
  );
}

describe.skipIf(!embedded || !ceph)('two profiles, two stores (embedded and Ceph RGW at once)', () => {
  const emb = embedded!;
  const rgw = ceph!;

  it('the second store gets every file, and each store keeps its own manifest', async () => {
    const bucket = `two-${process.pid}-${Date.now().toString(36)}`;
    for (const s of [emb, rgw]) await (await S3Transport.connect(connFor(s), bucket)).createBucket();
    const src = dir('two-src');
    const rels = seededTree(src, 30, 15);
    const url = `s3://${bucket}/data`;
    const files = awsFiles(
      `[profile emb]\nendpoint_url = ${emb.endpoint}\nregion = us-east-1\n` +
        `[profile rgw]\nendpoint_url = ${rgw.endpoint}\nregion = us-east-1\n`,
      credentialsOf({ emb, rgw }),
    );

    const first = await run(['push', src, url, '--json', '--profile', 'emb'], files);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ uploaded: 30 });

    // Before: both recorded as 'aws', so this reported "30 unchanged, 0 requests" and uploaded nothing.
    const second = await run(['push', src, url, '--json', '--profile', 'rgw'], files);
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary).toMatchObject({ uploaded: 30, unchanged: 0 });
    expect(second.summary!.requests.PutObject).toBe(30);

    const manifests = manifestsByEndpoint(src);
    expect([...manifests.keys()].sort()).toEqual(
      [validateEndpoint(emb.endpoint), validateEndpoint(rgw.endpoint)].sort(),
    );
    for (const m of manifests.values()) expect(m.files.size).toBe(30);
    for (const s of [emb, rgw]) {
      const listed = await (await S3Transport.connect(connFor(s), bucket)).list('data/');
      expect([...listed.keys()].sort(), s.name).toEqual([...rels].sort());
    }

    // Each store's manifest vouches for its own store: no request for either, whichever way the profile
    // is named (--profile, AWS_PROFILE, the default profile).
    const defaults = awsFiles(
      `[default]\nendpoint_url = ${rgw.endpoint}\nregion = us-east-1\n` +
        `[profile emb]\nendpoint_url = ${emb.endpoint}\nregion = us-east-1\n`,
      credentialsOf({ default: rgw, emb }),
    );
    for (const [what, args, env] of [
      ['--profile emb', ['--profile', 'emb'], files],
      ['--profile rgw', ['--profile', 'rgw'], files],
      ['AWS_PROFILE=emb', [], { ...files, AWS_PROFILE: 'emb' }],
      ['default profile (rgw)', [], defaults],
    ] as const) {
      const again = await run(['push', src, url, '--json', ...args], env);
      expect(again.code, `${what}: ${again.stderr}`).toBe(0);
      expect(again.summary, what).toMatchObject({ uploaded: 0, unchanged: 30, requestsTotal: 0 });
    }
    expect(manifestPaths(src)).toHaveLength(2);
  });

  it('--profile decides the endpoint, not the default profile the SDK would read by itself', async () => {
    const bucket = `prof-${process.pid}-${Date.now().toString(36)}`;
    for (const s of [emb, rgw]) await (await S3Transport.connect(connFor(s), bucket)).createBucket();
    const src = dir('prof-src');
    const rels = seededTree(src, 8, 16);
    // The default profile names the embedded server; --profile rgw must send everything to RGW.
    const env = awsFiles(
      `[default]\nendpoint_url = ${emb.endpoint}\nregion = us-east-1\n` +
        `[profile rgw]\nendpoint_url = ${rgw.endpoint}\nregion = us-east-1\n`,
      credentialsOf({ default: emb, rgw }),
    );
    const r = await run(['push', src, `s3://${bucket}/p`, '--json', '--profile', 'rgw'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 8 });
    const onRgw = await (await S3Transport.connect(connFor(rgw), bucket)).list('p/');
    const onEmb = await (await S3Transport.connect(connFor(emb), bucket)).list('p/');
    expect([...onRgw.keys()].sort()).toEqual([...rels].sort());
    expect(onEmb.size).toBe(0);
    expect([...manifestsByEndpoint(src).keys()]).toEqual([validateEndpoint(rgw.endpoint)]);
  });
});

describe.each(servers())('endpoint identity on $name', (server) => {
  const real = server.endpoint;

  it('each source of the endpoint is used and recorded, in order of precedence', async () => {
    const { bucket } = await newBucket(server, 'prec');
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const keys = keysOf(server);
    const profiles = awsFiles(
      `[profile plain]\nendpoint_url = ${real}\n` +
        `[profile deadplain]\nendpoint_url = ${closed}\n` +
        `[profile svc]\nservices = here\nendpoint_url = ${closed}\n` +
        `[services here]\ns3 =\n  endpoint_url = ${real}\n`,
      credentialsOf({ plain: server, deadplain: server, svc: server }),
    );
    // Each case must connect (a first push to its own prefix) and succeed only through the real server.
    const cases: [string, string[], Record<string, string>][] = [
      [
        '--endpoint-url over the environment and the profile',
        ['--endpoint-url', real, '--profile', 'deadplain'],
        { AWS_ENDPOINT_URL_S3: closed, AWS_ENDPOINT_URL: closed },
      ],
      [
        'AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL and the profile',
        ['--profile', 'deadplain'],
        { AWS_ENDPOINT_URL_S3: real, AWS_ENDPOINT_URL: closed },
      ],
      ['AWS_ENDPOINT_URL over the profile', ['--profile', 'deadplain'], { AWS_ENDPOINT_URL: real }],
      ['the services section over the profile endpoint_url', ['--profile', 'svc'], {}],
      ['the profile endpoint_url', ['--profile', 'plain'], {}],
      ['the profile named by AWS_PROFILE', [], { AWS_PROFILE: 'svc' }],
    ];
    for (const [i, [what, args, env]] of cases.entries()) {
      const src = dir(`prec-${i}`);
      seededTree(src, 5, 40 + i);
      const url = `s3://${bucket}/case${i}`;
      const r = await run(['push', src, url, '--json', ...args], { ...profiles, ...keys, ...env });
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(r.summary, what).toMatchObject({ uploaded: 5 });
      expect([...manifestsByEndpoint(src).keys()], what).toEqual([validateEndpoint(real)]);
      // The same store named by the flag: same identity, so the same manifest and no request.
      const again = await run(['push', src, url, '--json', '--endpoint-url', real], keys);
      expect(again.summary, what).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    }
  });

  it('--debug says the endpoint, region and credentials a run uses, and where each was set', async () => {
    const { bucket } = await newBucket(server, 'dbg');
    const src = dir('dbg-src');
    seededTree(src, 2, 7);
    const id = validateEndpoint(real);
    const keys = keysOf(server);
    const profiles = awsFiles(`[profile plain]\nendpoint_url = ${real}\n`, credentialsOf({ plain: server }));
    const url = `s3://${bucket}/d`;
    const said = (stderr: string) => plainLines(stderr).filter((l) => /connection: endpoint /.test(l));
    const viaEnv = await run(['push', src, url, '--dry-run', '--debug'], {
      ...keys,
      AWS_ENDPOINT_URL_S3: real,
      AWS_DEFAULT_REGION: 'us-east-1',
    });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(said(viaEnv.stderr)).toEqual([
      `notice: connection: endpoint ${id} (AWS_ENDPOINT_URL_S3), region us-east-1 (AWS_DEFAULT_REGION), provider other, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
    ]);
    const viaProfile = await run(['push', src, url, '--dry-run', '--debug', '--profile', 'plain'], profiles);
    expect(viaProfile.code, viaProfile.stderr).toBe(0);
    expect(said(viaProfile.stderr)).toEqual([
      `notice: connection: endpoint ${id} (the endpoint_url of AWS profile 'plain'), region us-east-1 (the other provider's default), provider other, credentials from AWS profile 'plain' (--profile)`,
    ]);
    // S3 → S3: each side says its own, the source's profile named by its flag.
    const pair = await run(
      [
        'sync',
        url,
        `s3://${bucket}/copy`,
        '--debug',
        '--json',
        '--endpoint-url',
        real,
        '--source-profile',
        'plain',
      ],
      { ...keys, ...profiles, AWS_REGION: 'us-east-1' },
    );
    expect(pair.code, pair.stderr).toBe(0);
    const notices = pair.events.flatMap((e) =>
      e.type === 'notice' && /connection: /.test(String(e.message)) ? [e.message] : [],
    );
    expect(notices).toEqual([
      `source connection: endpoint ${id} (the endpoint_url of AWS profile 'plain'), region us-east-1 (AWS_REGION), provider other, credentials from AWS profile 'plain' (--source-profile)`,
      `destination connection: endpoint ${id} (--endpoint-url), region us-east-1 (AWS_REGION), provider other, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
    ]);
    // Without --debug, not a word of it; never a secret with it.
    const quiet = await run(['push', src, url, '--dry-run'], { ...keys, AWS_ENDPOINT_URL_S3: real });
    expect(said(quiet.stderr)).toEqual([]);
    for (const r of [viaEnv, viaProfile, pair])
      expect(r.stdout + r.stderr).not.toContain(server.secretAccessKey);
  });

  it("--debug credits a config file's region and profile to the file's key, and a flag over it to the flag", async () => {
    const { bucket } = await newBucket(server, 'dbgcfg');
    const src = dir('dbgcfg-src');
    seededTree(src, 2, 9);
    const id = validateEndpoint(real);
    const profiles = awsFiles(`[profile plain]\nendpoint_url = ${real}\n`, credentialsOf({ plain: server }));
    const url = `s3://${bucket}/d`;
    const cfgDir = dir('dbgcfg-cfg');
    writeFileSync(
      path.join(cfgDir, 's3sync.config.json'),
      JSON.stringify({
        defaults: { endpointUrl: real, region: 'us-east-1' },
        jobs: [
          { command: 'push', source: src, destination: url, profile: 'plain' },
          {
            command: 'sync',
            source: url,
            destination: `s3://${bucket}/copy`,
            sourceProfile: 'plain',
            sourceRegion: 'us-east-1',
          },
        ],
      }),
    );
    const env = { ...keysOf(server), ...profiles, AWS_REGION: 'us-west-2' };
    const said = (stderr: string) => plainLines(stderr).filter((l) => /connection: endpoint /.test(l));
    const bare = await run(['--dry-run', '--debug'], env, cfgDir);
    expect(bare.code, bare.stderr).toBe(0);
    const file = (key: string, section: string) => `"${key}" in the config file's ${section}`;
    expect(said(bare.stderr)).toEqual([
      `notice: connection: endpoint ${id} (${file('endpointUrl', 'defaults')}), region us-east-1 (${file('region', 'defaults')}), provider other, credentials from AWS profile 'plain' (${file('profile', 'job 1')})`,
      `notice: source connection: endpoint ${id} (the endpoint_url of AWS profile 'plain'), region us-east-1 (${file('sourceRegion', 'job 2')}), provider other, credentials from AWS profile 'plain' (${file('sourceProfile', 'job 2')})`,
      `notice: destination connection: endpoint ${id} (${file('endpointUrl', 'defaults')}), region us-east-1 (${file('region', 'defaults')}), provider other, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
    ]);
    // A command in the file's folder takes its defaults, and a flag given wins and is named.
    const flag = await run(['push', src, url, '--dry-run', '--debug', '--region', 'us-east-1'], env, cfgDir);
    expect(flag.code, flag.stderr).toBe(0);
    expect(said(flag.stderr)).toEqual([
      `notice: connection: endpoint ${id} (${file('endpointUrl', 'defaults')}), region us-east-1 (--region), provider other, credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
    ]);
  });

  it('the same store spelled differently is the same identity; another port is another store', async () => {
    const { bucket } = await newBucket(server, 'spell');
    const src = dir('spell-src');
    seededTree(src, 6, 50);
    const url = `s3://${bucket}/s`;
    const keys = keysOf(server);
    expect((await run(['push', src, url, '--endpoint-url', real], keys)).code).toBe(0);
    const u = new URL(real);
    for (const spelling of [
      `${real}/`,
      `${real}//`,
      `HTTP://${u.host.toUpperCase()}/`,
      `http://someone:pw@${u.host}`,
    ]) {
      const r = await run(['push', src, url, '--json', '--endpoint-url', spelling], keys);
      expect(r.code, `${spelling}: ${r.stderr}`).toBe(0);
      expect(r.summary, spelling).toMatchObject({ uploaded: 0, unchanged: 6, requestsTotal: 0 });
    }
    // A proxy in front of the same server has another address: s3sync cannot know it is the same
    // store, so it keeps a second manifest, rebuilt from one listing, with nothing uploaded.
    const proxy = await startFaultProxy({ target: real, seed: 1, rate: 0 });
    proxies.push(proxy);
    const viaProxy = await run(['push', src, url, '--json', '--endpoint-url', proxy.endpoint], keys);
    expect(viaProxy.code, viaProxy.stderr).toBe(0);
    expect(viaProxy.summary).toMatchObject({ uploaded: 0, requestsTotal: 1 });
    expect(viaProxy.summary!.requests).toEqual({ ListObjectsV2: 1 });
    expect(manifestPaths(src)).toHaveLength(2);
  });

  it('plan records the endpoint, provider, profile and region; apply uses them unless told otherwise', async () => {
    const { bucket, transport } = await newBucket(server, 'plan');
    const closed = `http://127.0.0.1:${await closedPort()}`;
    const keys = keysOf(server);
    const profiles = awsFiles(
      `[profile here]\nendpoint_url = ${real}\nregion = us-east-1\n`,
      credentialsOf({ here: server }),
    );
    const url = `s3://${bucket}/pl`;

    // Planned through a profile (credentials only there), applied with no connection option while the
    // environment names a dead endpoint: the plan's store and profile are used.
    const src = dir('plan-src');
    seededTree(src, 7, 60);
    const planFile = path.join(dir('plan-out'), 'plan.json');
    const planned = await run(['plan', 'push', src, url, '--out', planFile, '--profile', 'here'], profiles);
    expect(planned.code, planned.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(doc).toMatchObject({
      endpoint: validateEndpoint(real),
      provider: 'other',
      profile: 'here',
      region: 'us-east-1',
    });
    const applied = await run(['apply', planFile, '--json'], {
      ...profiles,
      AWS_ENDPOINT_URL_S3: closed,
      AWS_ENDPOINT_URL: closed,
    });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.summary).toMatchObject({ uploaded: 7 });
    expect((await transport.list('pl/')).size).toBe(7);
    expect(applied.events.filter((e) => e.type === 'notice')).toEqual([]);

    // --endpoint-url overrides the plan's endpoint, and says so: through a proxy to the same server.
    const src2 = dir('plan-src2');
    seededTree(src2, 4, 61);
    const planFile2 = path.join(dir('plan-out2'), 'plan.json');
    expect(
      (await run(['plan', 'push', src2, `${url}2`, '--out', planFile2, '--endpoint-url', real], keys)).code,
    ).toBe(0);
    const proxy = await startFaultProxy({ target: real, seed: 2, rate: 0 });
    proxies.push(proxy);
    const over = await run(['apply', planFile2, '--json', '--endpoint-url', proxy.endpoint], keys);
    expect(over.code, over.stderr).toBe(0);
    expect(over.summary).toMatchObject({ uploaded: 4 });
    expect(proxy.stats.requests).toBeGreaterThan(0);
    const notices = over.events.filter((e) => e.type === 'notice').map((e) => String(e.message));
    expect(notices).toEqual([
      `applying the plan to ${validateEndpoint(proxy.endpoint)} (--endpoint-url), not to ${validateEndpoint(real)} where it was made`,
    ]);
    // Overridden to a dead endpoint, the apply fails there (one line, exit 2) rather than anywhere else.
    const dead = await run(['apply', planFile2, '--endpoint-url', closed], keys);
    expect(dead.code).toBe(2);
    expect(plainLines(dead.stderr).at(-1)).toMatch(
      new RegExp(`nothing accepts connections at the S3 endpoint ${closed} \\(ECONNREFUSED\\)`),
    );

    // A plan from before this change (no endpoint) resolves the endpoint as any run does.
    const src3 = dir('plan-src3');
    seededTree(src3, 3, 62);
    const planFile3 = path.join(dir('plan-out3'), 'plan.json');
    expect(
      (
        await run(['plan', 'push', src3, `${url}3`, '--out', planFile3], {
          ...keys,
          AWS_ENDPOINT_URL_S3: real,
        })
      ).code,
    ).toBe(0);
    const old = JSON.parse(readFileSync(planFile3, 'utf8')) as Record<string, unknown>;
    for (const k of ['endpoint', 'provider', 'profile', 'region']) delete old[k];
    writeFileSync(planFile3, JSON.stringify(old));
    const legacy = await run(['apply', planFile3, '--json'], { ...keys, AWS_ENDPOINT_URL_S3: real });
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(legacy.summary).toMatchObject({ uploaded: 3 });

    // A plan whose connection fields are not strings is refused in one line.
    writeFileSync(planFile3, JSON.stringify({ ...old, endpoint: 42 }));
    const bad = await run(['apply', planFile3], keys);
    expect(bad.code).toBe(2);
    expect(plainLines(bad.stderr)).toHaveLength(1);
  });

  it('a malformed endpoint URL names where it was set: exit 2, one line, no request', async () => {
    const { bucket } = await newBucket(server, 'where');
    const src = dir('where-src');
    seededTree(src, 2, 10);
    const url = `s3://${bucket}/w`;
    const keys = keysOf(server);
    const profiles = awsFiles(
      '[profile plain]\nendpoint_url = notaurl\n[profile svc]\nservices = bad\n[services bad]\ns3 =\n  endpoint_url = ftp://x\n',
      credentialsOf({ plain: server, svc: server }),
    );
    const configDir = dir('where-config');
    writeFileSync(
      path.join(configDir, 's3sync.config.json'),
      JSON.stringify({ defaults: { endpointUrl: 'http://127.0.0.1:99999' } }),
    );
    const expectE = '(expected e.g. http://127.0.0.1:9000)';
    const cases: [string, string[], Record<string, string>, string | undefined, string][] = [
      [
        '--endpoint-url',
        ['push', src, url, '--endpoint-url', 'notaurl'],
        {},
        undefined,
        `'notaurl' in endpointUrl (--endpoint-url) ${expectE}`,
      ],
      [
        'AWS_ENDPOINT_URL_S3',
        ['push', src, url],
        { AWS_ENDPOINT_URL_S3: 'notaurl' },
        undefined,
        `'notaurl' in AWS_ENDPOINT_URL_S3 ${expectE}`,
      ],
      [
        'AWS_ENDPOINT_URL',
        ['pull', url, dir('where-dst')],
        { AWS_ENDPOINT_URL: 'notaurl' },
        undefined,
        `'notaurl' in AWS_ENDPOINT_URL ${expectE}`,
      ],
      [
        'a profile endpoint_url',
        ['push', src, url, '--profile', 'plain'],
        profiles,
        undefined,
        `'notaurl' in the endpoint_url of AWS profile 'plain' ${expectE}`,
      ],
      [
        "a profile's services section",
        ['check', src, url, '--profile', 'svc'],
        profiles,
        undefined,
        "'ftp://x' in the s3 endpoint_url of services section 'bad' (AWS profile 'svc') (must be http:// or https:// with a host)",
      ],
      [
        'the config file',
        ['push', src, url],
        {},
        configDir,
        `'http://127.0.0.1:99999' in "endpointUrl" in the config file's defaults ${expectE}`,
      ],
      [
        '--source-endpoint-url',
        ['sync', url, `s3://${bucket}/other`, '--endpoint-url', real, '--source-endpoint-url', 'notaurl'],
        {},
        undefined,
        `'notaurl' in sourceEndpointUrl (--source-endpoint-url) ${expectE}`,
      ],
      [
        'plan sync --source-endpoint-url',
        [
          'plan',
          'sync',
          url,
          `s3://${bucket}/other`,
          '--endpoint-url',
          real,
          '--source-endpoint-url',
          'notaurl',
          '--out',
          path.join(dir('where-plan'), 'p.json'),
        ],
        {},
        undefined,
        `'notaurl' in sourceEndpointUrl (--source-endpoint-url) ${expectE}`,
      ],
    ];
    for (const [what, args, env, cwd, tail] of cases) {
      const r = await run(args, { ...keys, ...env }, cwd);
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      expect(plainLines(r.stderr), what).toEqual([`s3sync: malformed endpoint URL ${tail}`]);
    }
    expect(manifestPaths(src)).toEqual([]);
  });

  it("a host that does not resolve, set in a profile's services section: the hint names that setting", async () => {
    const { bucket } = await newBucket(server, 'svcdns');
    const src = dir('svcdns-src');
    seededTree(src, 1, 10);
    const profiles = awsFiles(
      '[profile svc]\nservices = far\n[services far]\ns3 =\n  endpoint_url = http://s3sync-no-such-host.invalid:9000\n',
      credentialsOf({ svc: server }),
    );
    const r = await run(['push', src, `s3://${bucket}/d`, '--profile', 'svc', '--retries', '0'], profiles);
    expect(r.code, r.stderr).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      expect.stringMatching(
        /^s3sync: cannot resolve the host name of the S3 endpoint http:\/\/s3sync-no-such-host\.invalid:9000 \(DNS: (ENOTFOUND|EAI_AGAIN)\): check the s3 endpoint_url of services section 'far' \(AWS profile 'svc'\)$/,
      ),
    ]);
  });

  it('every command says once per endpoint that its user name and password are ignored, naming where it was set', async () => {
    const { bucket } = await newBucket(server, 'ignored');
    const USER = 'bob-user-41c';
    const PASS = 'pa@ss-w0rd-8e2';
    const u = new URL(real);
    const withCreds = `http://${USER}:${encodeURIComponent(PASS)}@${u.host}`;
    const keys = keysOf(server);
    const src = dir('ignored-src');
    seededTree(src, 3, 20);
    const url = `s3://${bucket}/i`;
    expect((await run(['push', src, url, '--endpoint-url', real], keys)).code).toBe(0);
    const notice = (where: string) =>
      `the user name and password in the endpoint URL (${where}) are ignored: S3 requests are signed with the AWS credentials`;
    const configDir = dir('ignored-config');
    writeFileSync(
      path.join(configDir, 's3sync.config.json'),
      JSON.stringify({ defaults: { endpointUrl: withCreds } }),
    );
    const flag = ['--endpoint-url', withCreds];
    const other = `s3://${bucket}/copy`;
    const cases: [string, string[], string | undefined, number, string[]][] = [
      ['push', ['push', src, url, ...flag], undefined, 0, ['--endpoint-url']],
      [
        'push, the config file',
        ['push', src, url],
        configDir,
        0,
        [`"endpointUrl" in the config file's defaults`],
      ],
      ['sync s3 s3', ['sync', url, other, ...flag], undefined, 0, ['--endpoint-url']],
      [
        'sync s3 s3 --source-endpoint-url',
        ['sync', url, other, '--endpoint-url', real, '--source-endpoint-url', withCreds],
        undefined,
        0,
        ['--source-endpoint-url'],
      ],
      [
        'sync s3 s3, both',
        ['sync', url, other, ...flag, '--source-endpoint-url', withCreds],
        undefined,
        0,
        ['--source-endpoint-url', '--endpoint-url'],
      ],
      [
        'plan sync --source-endpoint-url',
        [
          'plan',
          'sync',
          url,
          other,
          '--endpoint-url',
          real,
          '--source-endpoint-url',
          withCreds,
          '--out',
          path.join(dir('ignored-plan'), 'p.json'),
        ],
        undefined,
        0,
        ['--source-endpoint-url'],
      ],
      // s3rver lists no multipart uploads (501), nor versions: only the notice matters here.
      ['cleanup', ['cleanup', url, '--dry-run', ...flag], undefined, -1, ['--endpoint-url']],
      ['versions', ['versions', url, ...flag], undefined, -1, ['--endpoint-url']],
    ];
    for (const [what, args, cwd, code, wheres] of cases) {
      const r = await run([...args, '--json'], keys, cwd);
      const all = r.stdout + r.stderr;
      if (code >= 0) expect(r.code, `${what}: ${r.stderr}`).toBe(code);
      const notices = r.events.filter((e) => e.type === 'notice').map((e) => e.message);
      // The config file's endpoint is said as taken from it, its user name and password masked.
      const fromFile = cwd
        ? [`using defaults from ${path.join(cwd, 's3sync.config.json')}: --endpoint-url http://***@${u.host}`]
        : [];
      expect(notices, what).toEqual([...fromFile, ...wheres.map(notice)]);
      expect(all.includes(USER) || all.includes('w0rd'), `${what}: secret printed\n${all}`).toBe(false);
      // Without --json the notice is one line on stderr; --quiet says nothing of it.
      const human = await run(args, keys, cwd);
      expect(
        plainLines(human.stderr).filter((l) => l.startsWith('notice: the user name')),
        what,
      ).toEqual(wheres.map((w) => `notice: ${notice(w)}`));
    }
  });

  it("AWS_PROFILE with the environment's keys set too: the profile's credentials, one notice, no SDK text", async () => {
    const { bucket, transport } = await newBucket(server, 'twocreds');
    const home = dir('twocreds-home');
    mkdirSync(path.join(home, '.aws'));
    writeFileSync(path.join(home, '.aws', 'config'), '[profile good]\nregion = us-east-1\n');
    writeFileSync(path.join(home, '.aws', 'credentials'), credentialsOf({ good: server }));
    // Keys no store takes: the run succeeds only with the profile's, as the SDK's chain picks them.
    const env = { HOME: home, AWS_PROFILE: 'good', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' };
    const notice =
      "AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are both set: the credentials of profile 'good' are used, not the keys";
    const cases: [string, string[], string[]][] = [
      ['--quiet', ['--quiet'], []],
      ['human', [], [`notice: ${notice}`]],
      ['--json', ['--json'], []],
    ];
    for (const [what, mode, stderr] of cases) {
      const src = dir('twocreds-src');
      seededTree(src, 3, 20);
      const r = await run(['push', src, `s3://${bucket}/${what}`, '--endpoint-url', real, ...mode], env);
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(
        r.stderr.split('\n').filter((l) => l !== ''),
        what,
      ).toEqual(stderr);
      if (what === '--json')
        expect(r.events.filter((e) => e.type === 'notice').map((e) => e.message)).toEqual([notice]);
      expect((await transport.list(`${what}/`)).size, what).toBe(3);
    }
  });

  it('credentials inside the endpoint URL are never echoed: output modes, errors, manifest, plan', async () => {
    const { bucket } = await newBucket(server, 'cred');
    const USER = 'alice-user-7f3';
    const PASS = 's3cr3t-pw-9d1';
    const u = new URL(real);
    const withCreds = `http://${USER}:${PASS}@${u.host}`;
    const closed = `http://${USER}:${PASS}@127.0.0.1:${await closedPort()}`;
    const keys = keysOf(server);
    const src = dir('cred-src');
    seededTree(src, 12, 70);
    const url = `s3://${bucket}/c`;
    const noBucket = `s3://no-such-bucket-${process.pid}-cred/x`;
    const planFile = path.join(dir('cred-plan'), 'plan.json');
    const configDir = dir('cred-config');
    writeFileSync(
      path.join(configDir, 's3sync.config.json'),
      JSON.stringify({ defaults: { endpointUrl: withCreds } }),
    );
    const profiles = awsFiles(
      `[profile withcreds]\nendpoint_url = ${withCreds}\n`,
      credentialsOf({ withcreds: server }),
    );

    const flag = ['--endpoint-url', withCreds];
    const modes = [[], ['--json'], ['--debug']];
    const runs: {
      what: string;
      args: string[];
      env?: Record<string, string>;
      cwd?: string;
      ok: boolean | 'any';
    }[] = [
      { what: 'first push', args: ['push', src, url, ...flag], ok: true },
      { what: 'no-change push', args: ['push', src, url, ...flag], ok: true },
      { what: 'verifying push', args: ['push', src, url, '--verify', ...flag], ok: true },
      { what: 'pull', args: ['pull', url, dir('cred-dst'), ...flag], ok: true },
      { what: 'check', args: ['check', src, url, ...flag], ok: true },
      { what: 'plan', args: ['plan', 'push', src, url, '--out', planFile, ...flag], ok: true },
      // s3rver has no ListMultipartUploads (501): only what cleanup prints matters here.
      { what: 'cleanup', args: ['cleanup', url, '--dry-run', ...flag], ok: 'any' },
      {
        what: 'env AWS_ENDPOINT_URL_S3',
        args: ['push', src, url],
        env: { AWS_ENDPOINT_URL_S3: withCreds },
        ok: true,
      },
      {
        what: 'env AWS_ENDPOINT_URL',
        args: ['push', src, url],
        env: { AWS_ENDPOINT_URL: withCreds },
        ok: true,
      },
      {
        what: 'profile endpoint_url',
        args: ['push', src, url, '--profile', 'withcreds'],
        env: profiles,
        ok: true,
      },
      { what: 'config file', args: ['push', src, url], cwd: configDir, ok: true },
      { what: 'wrong bucket', args: ['push', src, noBucket, ...flag], ok: false },
      { what: 'pull from wrong bucket', args: ['pull', noBucket, dir('cred-dst2'), ...flag], ok: false },
      {
        what: 'dead endpoint',
        args: ['push', src, `${url}-dead`, '--endpoint-url', closed, '--retries', '0'],
        ok: false,
      },
      {
        what: 'malformed',
        args: ['push', src, url, '--endpoint-url', `http://${USER}:${PASS}@[bad`],
        ok: false,
      },
      {
        what: 'not http',
        args: ['push', src, url, '--endpoint-url', `ftp://${USER}:${PASS}@host`],
        ok: false,
      },
    ];
    for (const r of runs) {
      for (const mode of r.ok === false ? [...modes, ['--debug', '--json']] : modes) {
        const out = await run([...r.args, ...mode], { ...keys, ...r.env }, r.cwd);
        const what = `${r.what} ${mode.join(' ')}`;
        const all = out.stdout + out.stderr;
        if (r.ok === true) expect(out.code, `${what}: ${out.stderr}`).toBe(0);
        if (r.ok === false) expect(out.code, `${what}: ${all}`).not.toBe(0);
        expect(all.includes(PASS), `${what}: password printed\n${all}`).toBe(false);
        expect(all.includes(USER), `${what}: user name printed\n${all}`).toBe(false);
        // --debug shows stack traces on purpose; without it there are none.
        if (!mode.includes('--debug')) expect(all, what).not.toMatch(/^\s+at /m);
      }
    }
    // Where a file puts them itself: a plan edited to carry them, a config value of the wrong type.
    const edited = path.join(dir('cred-plan-edited'), 'plan.json');
    writeFileSync(
      edited,
      JSON.stringify({ ...JSON.parse(readFileSync(planFile, 'utf8')), endpoint: withCreds }),
    );
    const wrongType = dir('cred-config-type');
    writeFileSync(
      path.join(wrongType, 's3sync.config.json'),
      JSON.stringify({ defaults: { endpointUrl: [withCreds], sourceEndpointUrl: { url: withCreds } } }),
    );
    const fileRuns: [string, string[], string | undefined, number][] = [
      ['apply of an edited plan', ['apply', edited, '--endpoint-url', real], undefined, 0],
      ['a config value of the wrong type', ['push', src, url], wrongType, 2],
    ];
    for (const [what, args, cwd, code] of fileRuns)
      for (const mode of modes) {
        const out = await run([...args, ...mode], keys, cwd);
        const all = out.stdout + out.stderr;
        expect(out.code, `${what}: ${all}`).toBe(code);
        expect(all.includes(PASS), `${what}: password printed\n${all}`).toBe(false);
        expect(all.includes(USER), `${what}: user name printed\n${all}`).toBe(false);
      }

    // The notice that says they are ignored, once per run, naming where they came from.
    const noticed = await run(['push', src, url, '--json', ...flag], keys);
    expect(noticed.events.filter((e) => e.type === 'notice').map((e) => e.message)).toEqual([
      'the user name and password in the endpoint URL (--endpoint-url) are ignored: S3 requests are signed with the AWS credentials',
    ]);
    // Nothing on disk keeps them: the manifest records the bare endpoint, and so does the plan.
    const manifests = manifestPaths(src);
    expect(manifests).toHaveLength(1);
    for (const f of [...manifests, planFile]) {
      const text = readFileSync(f, 'utf8');
      expect(text.includes(PASS) || text.includes(USER), f).toBe(false);
    }
    expect(decodeManifestFile(manifests[0]!).destination.endpoint).toBe(validateEndpoint(real));
    expect((JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument).endpoint).toBe(
      validateEndpoint(real),
    );
    for (const f of readdirSync(path.join(src, '.s3sync'))) {
      expect(readFileSync(path.join(src, '.s3sync', f), 'utf8').includes(PASS), f).toBe(false);
    }
  });
});
