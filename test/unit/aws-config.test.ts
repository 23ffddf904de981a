import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONNECTION_OPTIONS } from '../../src/options/rows-connection.js';
import { type AwsProfile, parseIni, profileFrom } from '../../src/s3/aws-config.js';
import { endpointFor, resolveEndpoint } from '../../src/s3/client-options.js';
import {
  bucketNamespace,
  endpointToCheck,
  parseEndpoint,
  redactUrl,
  validateEndpoint,
} from '../../src/s3/endpoint-url.js';
import { usageErrorOf } from '../helpers.js';

const noProfile: AwsProfile = profileFrom(undefined, undefined, undefined);
const profile = (settings: Record<string, string>, services: AwsProfile['services'] = {}): AwsProfile => ({
  name: 'p',
  named: true,
  found: true,
  settings,
  services,
});

describe('parseIni (the AWS shared config format, as the SDK reads it)', () => {
  it('reads plain and prefixed sections, comments, CRLF and sub-sections', () => {
    const text = [
      '# a comment',
      '[default]',
      'region = eu-west-1 ; trailing comment',
      'output=json',
      '',
      '[profile two words]',
      '[profile alt]',
      'endpoint_url = http://127.0.0.1:9000',
      '[services local]',
      's3 =',
      '  endpoint_url = http://127.0.0.1:9001',
      '  addressing_style = path',
      'sts =',
      '\tendpoint_url = http://127.0.0.1:9002',
      'top = level',
      '[weird prefix name]',
      'ignored = yes',
      '[sso-session corp]',
      'sso_region = us-east-1',
    ].join('\r\n');
    const ini = parseIni(text);
    expect(ini.default).toEqual({ region: 'eu-west-1', output: 'json' });
    expect(ini['profile.alt']).toEqual({ endpoint_url: 'http://127.0.0.1:9000' });
    expect(ini['services.local']).toEqual({
      's3.endpoint_url': 'http://127.0.0.1:9001',
      's3.addressing_style': 'path',
      'sts.endpoint_url': 'http://127.0.0.1:9002',
      top: 'level',
    });
    expect(ini['sso-session.corp']).toEqual({ sso_region: 'us-east-1' });
    // A name with a space the SDK cannot split is kept whole, as the SDK keeps it (no profile reads
    // it); a section with no keys is not there at all.
    expect(Object.keys(ini).sort()).toEqual([
      'default',
      'profile.alt',
      'services.local',
      'sso-session.corp',
      'weird prefix name',
    ]);
  });

  it('keeps a value with # or ; inside it, and is not fooled by __proto__', () => {
    const ini = parseIni('[__proto__]\nx = 1\n[default]\nendpoint_url = http://h:1/a#b\nkey = a;b\n');
    expect(ini.default).toEqual({ endpoint_url: 'http://h:1/a#b', key: 'a;b' });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('parseIni agrees with the SDK on the same files', () => {
  const config = [
    '[default]',
    'region = us-west-2',
    '[profile default]',
    'endpoint_url = http://profile-default:1',
    '[profile "quoted"]',
    "[profile 'single']",
    'endpoint_url=http://single:1',
    '[profile a]',
    '  region   =   eu-central-1  ',
    'endpoint_url = http://a:1/x?y=z=w',
    'services = svc',
    '# endpoint_url = http://commented:1',
    'ignore_configured_endpoint_urls = false ; trailing',
    '[profile sub]',
    's3 =',
    '  endpoint_url = http://nested:1',
    'endpoint_url = http://top:1',
    '[services svc]',
    's3 =',
    '\tendpoint_url = http://svc:1',
    '  addressing_style = path',
    '[plain]',
    'endpoint_url = http://plain:1',
  ].join('\r\n');
  const credentials = '[a]\naws_access_key_id = AK\nendpoint_url = http://cred:1\n[plain]\nregion = x\n';

  it.each(['default', 'quoted', 'single', 'a', 'sub', 'plain', 'absent'])('profile %s', async (name) => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-ini-'));
    const configFilepath = path.join(dir, 'config');
    const filepath = path.join(dir, 'credentials');
    writeFileSync(configFilepath, config);
    writeFileSync(filepath, credentials);
    const { loadSharedConfigFiles } = await import('@smithy/shared-ini-file-loader');
    const sdk = await loadSharedConfigFiles({ configFilepath, filepath, ignoreCache: true });
    const ours = profileFrom(name, config, credentials);
    expect(ours.settings).toEqual({ ...sdk.credentialsFile[name], ...sdk.configFile[name] });
    expect(ours.found).toBe(sdk.credentialsFile[name] !== undefined || sdk.configFile[name] !== undefined);
    expect(ours.services.svc).toEqual(sdk.configFile['services.svc']);
  });
});

describe('profileFrom', () => {
  const config = [
    '[default]',
    'region = us-west-2',
    '[profile default]',
    'endpoint_url = http://default-wins:1',
    '[profile a]',
    'region = eu-central-1',
    'endpoint_url = http://from-config:1',
    '[b]',
    'endpoint_url = http://plain-section-in-config-is-ignored:1',
    '[services svc]',
    's3 =',
    '  endpoint_url = http://svc:1',
  ].join('\n');
  const credentials = [
    '[a]',
    'aws_access_key_id = AK',
    'endpoint_url = http://from-credentials:1',
    '[b]',
    'aws_access_key_id = BK',
  ].join('\n');

  it("merges the credentials file's settings under the config file's", () => {
    const a = profileFrom('a', config, credentials);
    expect(a).toMatchObject({ name: 'a', named: true, found: true });
    expect(a.settings).toEqual({
      aws_access_key_id: 'AK',
      region: 'eu-central-1',
      endpoint_url: 'http://from-config:1',
    });
    expect(a.services.svc).toEqual({ 's3.endpoint_url': 'http://svc:1' });
  });

  it('reads [NAME] only from the credentials file, and [profile default] over [default]', () => {
    expect(profileFrom('b', config, credentials).settings).toEqual({ aws_access_key_id: 'BK' });
    const d = profileFrom(undefined, config, credentials);
    expect(d).toMatchObject({ name: 'default', named: false, found: true });
    expect(d.settings.endpoint_url).toBe('http://default-wins:1');
    expect(profileFrom('nope', config, credentials).found).toBe(false);
    expect(profileFrom(undefined, undefined, undefined)).toMatchObject({ found: false, settings: {} });
  });
});

describe('resolveEndpoint: which endpoint a run uses and records', () => {
  const servicesProfile = profile(
    { services: 'svc', endpoint_url: 'http://profile:1' },
    { svc: { 's3.endpoint_url': 'http://services:1' } },
  );
  const full = {
    endpointUrl: 'http://flag:1',
    env: { AWS_ENDPOINT_URL_S3: 'http://env-s3:1', AWS_ENDPOINT_URL: 'http://env-any:1' },
    profile: servicesProfile,
    provider: 'wasabi',
  };

  it('takes each source in order: flag, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, services, profile, template, AWS', () => {
    const steps: [Parameters<typeof resolveEndpoint>[0], string, string][] = [
      [full, 'http://flag:1', '--endpoint-url'],
      [{ ...full, endpointUrl: undefined }, 'http://env-s3:1', 'AWS_ENDPOINT_URL_S3'],
      [
        { ...full, endpointUrl: undefined, env: { AWS_ENDPOINT_URL: 'http://env-any:1' } },
        'http://env-any:1',
        'AWS_ENDPOINT_URL',
      ],
      [{ ...full, endpointUrl: undefined, env: {} }, 'http://services:1', 'profile services section'],
      [
        { ...full, endpointUrl: undefined, env: {}, profile: profile({ endpoint_url: 'http://profile:1' }) },
        'http://profile:1',
        'profile endpoint_url',
      ],
      [
        { endpointUrl: undefined, env: {}, profile: noProfile, provider: 'wasabi' },
        'https://s3.us-east-1.wasabisys.com',
        'provider template',
      ],
      [{ env: {}, profile: noProfile }, 'https://s3.us-east-1.amazonaws.com', 'AWS regional endpoint'],
    ];
    for (const [input, id, source] of steps) {
      const r = resolveEndpoint(input);
      expect(r.id, source).toBe(id);
      expect(r.source).toBe(source);
    }
  });

  it('a services section without s3 falls back to the profile endpoint_url; a missing one is an error', () => {
    const noS3 = profile(
      { services: 'svc', endpoint_url: 'http://profile:1' },
      { svc: { 'sts.endpoint_url': 'x' } },
    );
    expect(resolveEndpoint({ env: {}, profile: noS3 }).id).toBe('http://profile:1');
    const missing = profile({ services: 'gone' });
    expect(usageErrorOf(() => resolveEndpoint({ env: {}, profile: missing })).message).toMatch(
      /services section 'gone'.*not in the AWS config file/,
    );
  });

  it('empty settings count as unset', () => {
    const r = resolveEndpoint({
      env: { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '', AWS_REGION: '' },
      profile: profile({ endpoint_url: 'http://profile:1', region: 'eu-west-3' }),
    });
    expect(r).toMatchObject({ id: 'http://profile:1', region: 'eu-west-3' });
  });

  it('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS (or the profile setting) leaves only the flag', () => {
    for (const [env, p] of [
      [{ AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_ENDPOINT_URL_S3: 'http://env:1' }, servicesProfile],
      [{ AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'TRUE' }, servicesProfile],
      [
        { AWS_ENDPOINT_URL: 'http://env:1' },
        profile({ ignore_configured_endpoint_urls: 'true', endpoint_url: 'http://p:1' }),
      ],
    ] as const) {
      expect(resolveEndpoint({ env, profile: p }).id).toBe('https://s3.us-east-1.amazonaws.com');
      expect(resolveEndpoint({ env, profile: p, endpointUrl: 'http://flag:1' }).id).toBe('http://flag:1');
    }
    const off = { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'false', AWS_ENDPOINT_URL: 'http://env:1' };
    expect(resolveEndpoint({ env: off, profile: noProfile }).id).toBe('http://env:1');
  });

  it('region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile, else the provider default', () => {
    const p = profile({ region: 'ap-south-1' });
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-2' };
    expect(resolveEndpoint({ region: 'sa-east-1', env, profile: p }).id).toBe(
      'https://s3.sa-east-1.amazonaws.com',
    );
    expect(resolveEndpoint({ env, profile: p }).id).toBe('https://s3.eu-west-1.amazonaws.com');
    expect(resolveEndpoint({ env: { AWS_DEFAULT_REGION: 'eu-west-2' }, profile: p }).region).toBe(
      'eu-west-2',
    );
    expect(resolveEndpoint({ env: {}, profile: p }).id).toBe('https://s3.ap-south-1.amazonaws.com');
    expect(resolveEndpoint({ env: {}, profile: noProfile }).region).toBe('us-east-1');
    // A template's region is part of the identity; B2's default region is its own.
    expect(resolveEndpoint({ env: {}, profile: noProfile, provider: 'b2' }).id).toBe(
      'https://s3.us-west-004.backblazeb2.com',
    );
    expect(resolveEndpoint({ env: {}, profile: p, provider: 'b2' }).id).toBe(
      'https://s3.ap-south-1.backblazeb2.com',
    );
  });

  it('AWS is connected to through the SDK (no URL), also when its regional endpoint is named explicitly', () => {
    const aws = resolveEndpoint({ env: {}, profile: noProfile, region: 'eu-west-1' });
    expect(aws).toMatchObject({ id: 'https://s3.eu-west-1.amazonaws.com', url: undefined });
    expect(aws.provider.name).toBe('aws');
    const named = resolveEndpoint({
      env: {},
      profile: noProfile,
      region: 'eu-west-1',
      provider: 'aws',
      endpointUrl: 'https://S3.eu-west-1.amazonaws.com/',
    });
    expect(named).toMatchObject({ id: aws.id, url: undefined });
    // Another region's endpoint, or no --provider aws: that URL, as given.
    const other = resolveEndpoint({ env: {}, profile: noProfile, region: 'eu-west-1', endpointUrl: aws.id });
    expect(other).toMatchObject({ id: aws.id, url: aws.id });
    expect(other.provider.name).toBe('other');
  });

  it('records the profile only when one was named', () => {
    expect(resolveEndpoint({ env: {}, profile: profile({}) }).profile).toBe('p');
    expect(resolveEndpoint({ env: {}, profile: noProfile }).profile).toBeUndefined();
  });

  it('a provider that needs an endpoint and has none is a usage error', () => {
    expect(
      usageErrorOf(() => resolveEndpoint({ env: {}, profile: noProfile, provider: 'minio' })).message,
    ).toMatch(/provider 'minio' needs --endpoint-url/);
  });
});

describe('endpoint identity: one store, one identity', () => {
  it.each([
    ['http://127.0.0.1:9000', 'http://127.0.0.1:9000'],
    ['http://127.0.0.1:9000/', 'http://127.0.0.1:9000'],
    ['http://127.0.0.1:9000///', 'http://127.0.0.1:9000'],
    ['HTTP://LOCALHOST:9000', 'http://localhost:9000'],
    ['http://Store.Example.COM', 'http://store.example.com'],
    ['http://store.example.com:80', 'http://store.example.com'],
    ['https://store.example.com:443/', 'https://store.example.com'],
    ['https://store.example.com:80', 'https://store.example.com:80'],
    ['http://user:secret@127.0.0.1:9000', 'http://127.0.0.1:9000'],
    ['http://user@127.0.0.1:9000/', 'http://127.0.0.1:9000'],
    ['http://:secret@127.0.0.1:9000', 'http://127.0.0.1:9000'],
    ['http://127.0.0.1:9000/base/path/', 'http://127.0.0.1:9000/base/path'],
    ['http://[::1]:9000', 'http://[::1]:9000'],
  ])('%s → %s', (raw, id) => {
    expect(validateEndpoint(raw)).toBe(id);
    expect(resolveEndpoint({ endpointUrl: raw, env: {}, profile: noProfile }).id).toBe(id);
  });

  it('different ports, hosts, schemes or paths are different stores', () => {
    const ids = new Set(
      [
        'http://127.0.0.1:9000',
        'http://127.0.0.1:9001',
        'http://localhost:9000',
        'https://127.0.0.1:9000',
        'http://127.0.0.1:9000/other',
      ].map(validateEndpoint),
    );
    expect(ids.size).toBe(5);
  });

  it('bucketNamespace: one for every AWS endpoint of a partition, one for each loopback port', () => {
    const ns = (raw: string) => bucketNamespace(validateEndpoint(raw));
    const same: [string, string[]][] = [
      [
        'aws',
        [
          'https://s3.us-east-1.amazonaws.com',
          'https://s3.eu-west-1.amazonaws.com',
          'https://s3.amazonaws.com',
          'https://s3.dualstack.ap-south-1.amazonaws.com',
          'https://s3-fips.us-east-2.amazonaws.com',
          'https://S3.EU-CENTRAL-1.AMAZONAWS.COM.',
        ],
      ],
      ['aws-cn', ['https://s3.cn-north-1.amazonaws.com.cn']],
      [
        'loopback:9000',
        [
          'http://localhost:9000',
          'http://127.0.0.1:9000',
          'http://[::1]:9000',
          'http://127.1.2.3:9000/',
          'http://[::ffff:127.0.0.1]:9000',
          'http://[::ffff:127.9.8.7]:9000',
          'http://[0:0:0:0:0:ffff:7f00:1]:9000',
          'http://[::]:9000',
          'http://0.0.0.0:9000',
        ],
      ],
    ];
    for (const [namespace, raws] of same) for (const raw of raws) expect(ns(raw), raw).toBe(namespace);
    expect(ns('http://localhost')).toBe('loopback:80');
    expect(ns('https://localhost')).toBe('loopback:443');
    expect(ns('http://localhost:9000/base')).toBe('loopback:9000/base');
    // Other hosts are told apart by their URL only: a shared address proves nothing (virtual hosts).
    expect(ns('https://minio.example.com:9000')).toBe('https://minio.example.com:9000');
    expect(ns('https://a.r2.cloudflarestorage.com')).not.toBe(ns('https://b.r2.cloudflarestorage.com'));
    expect(ns('http://127.0.0.1:9000')).not.toBe(ns('http://127.0.0.1:9001'));
    expect(ns('https://notamazonaws.com')).toBe('https://notamazonaws.com');
    // A mapped address outside 127/8 is another host.
    expect(ns('http://[::ffff:10.0.0.1]:9000')).not.toBe('loopback:9000');
  });

  it('says when the URL carried credentials, and never keeps them', () => {
    for (const raw of ['http://user:secret@h:1', 'http://user@h:1', 'http://:secret@h:1']) {
      const r = parseEndpoint(raw);
      expect(r.hadUserinfo).toBe(true);
      expect(r.url).not.toMatch(/user|secret|@/);
    }
    expect(parseEndpoint('http://h:1').hadUserinfo).toBe(false);
  });

  it.each([
    'not a url',
    'ftp://127.0.0.1:21',
    'http://',
    'http://127.0.0.1:9000/?x=1',
    'http://127.0.0.1:9000/#frag',
    '',
  ])('rejects %j in one line (exit 2)', (raw) => {
    expect(usageErrorOf(() => validateEndpoint(raw)).message).toMatch(/malformed endpoint URL/);
  });

  it.each([
    'http://user:secret@[bad',
    'http://user:secret@host:99999',
    'user:secret@host',
    'ftp://user:secret@host',
    'http://user:secret@h/?q=1',
    'http://us@er:sec@ret@[bad',
  ])('never echoes the credentials of a malformed URL: %s', (raw) => {
    const msg = usageErrorOf(() => validateEndpoint(raw)).message;
    expect(msg).not.toMatch(/secret|sec@ret|user|us@er/);
    expect(msg).toContain('***@');
  });

  it('redactUrl leaves a URL without credentials alone', () => {
    expect(redactUrl('http://h:1/a')).toBe('http://h:1/a');
    expect(redactUrl('http://u:p@h:1/a')).toBe('http://***@h:1/a');
  });
});

describe('endpointFor (reads the AWS config files, never the SDK)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-endpoint-'));
  const configFile = path.join(dir, 'config');
  const credentialsFile = path.join(dir, 'credentials');
  writeFileSync(
    configFile,
    '[default]\nendpoint_url = http://default:1\n[profile b]\nendpoint_url = http://b:2\nregion = eu-north-1\n',
  );
  writeFileSync(credentialsFile, '[c]\naws_access_key_id = x\naws_secret_access_key = y\n');
  const env = { AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: credentialsFile };

  it('uses --profile, else AWS_PROFILE, else the default profile', () => {
    expect(endpointFor({}, env).id).toBe('http://default:1');
    expect(endpointFor({ profile: 'b' }, env)).toMatchObject({
      id: 'http://b:2',
      region: 'eu-north-1',
      profile: 'b',
    });
    expect(endpointFor({}, { ...env, AWS_PROFILE: 'b' }).id).toBe('http://b:2');
    expect(endpointFor({ profile: 'b' }, { ...env, AWS_PROFILE: 'default' }).id).toBe('http://b:2');
    // A profile found only in the credentials file, with no endpoint: AWS.
    expect(endpointFor({ profile: 'c' }, env).id).toBe('https://s3.us-east-1.amazonaws.com');
  });

  it('an unknown profile is a usage error, also when AWS_PROFILE names it and the env has keys', () => {
    expect(usageErrorOf(() => endpointFor({ profile: 'nope' }, env)).message).toMatch(
      /unknown AWS profile 'nope'/,
    );
    expect(usageErrorOf(() => endpointFor({}, { ...env, AWS_PROFILE: 'nope' })).message).toMatch(
      /unknown AWS profile/,
    );
    const keys = { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' };
    // The SDK's chain skips the environment's keys when a profile is named: they cannot stand in.
    // The files read are named: AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE name them here.
    expect(usageErrorOf(() => endpointFor({}, { ...env, ...keys, AWS_PROFILE: 'nope' })).message).toBe(
      `unknown AWS profile 'nope' (not in ${configFile} or ${credentialsFile}, named by AWS_PROFILE)`,
    );
    // Unset, they are the default ones; one set alone is named alone.
    const home = {};
    expect(usageErrorOf(() => endpointFor({ profile: 'z' }, home)).message).toBe(
      "unknown AWS profile 'z' (not in ~/.aws/config or ~/.aws/credentials)",
    );
    const gone = path.join(dir, 'nonexistent', 'cfg');
    expect(
      usageErrorOf(() => endpointFor({ profile: 'z' }, { ...home, AWS_CONFIG_FILE: gone })).message,
    ).toBe(`unknown AWS profile 'z' (not in ${gone} or ~/.aws/credentials)`);
  });

  it('missing files are no profile; a config file that cannot be read is a usage error', () => {
    const none = {
      AWS_CONFIG_FILE: path.join(dir, 'absent'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'absent2'),
    };
    expect(endpointFor({}, none).id).toBe('https://s3.us-east-1.amazonaws.com');
    // Each named as the file it is, with the variable that named it.
    expect(usageErrorOf(() => endpointFor({}, { ...none, AWS_CONFIG_FILE: dir })).message).toBe(
      `cannot read the AWS config file ${dir} (AWS_CONFIG_FILE): it is a directory`,
    );
    expect(usageErrorOf(() => endpointFor({}, { ...none, AWS_SHARED_CREDENTIALS_FILE: dir })).message).toBe(
      `cannot read the AWS credentials file ${dir} (AWS_SHARED_CREDENTIALS_FILE): it is a directory`,
    );
  });
});

describe('endpointToCheck: what a failure to reach the endpoint says to check', () => {
  const env = { S3SYNC_ACCOUNT_ID: '0123456789abcdef0123456789abcdef' };
  it.each([
    ['a flag', { endpointUrl: 'http://h:1' }, {}, '--endpoint-url'],
    ['an environment variable', {}, { AWS_ENDPOINT_URL_S3: 'http://h:1' }, 'AWS_ENDPOINT_URL_S3'],
    [
      "r2's template: the account id",
      { provider: 'r2' },
      env,
      "S3SYNC_ACCOUNT_ID (the r2 provider's endpoint template)",
    ],
    [
      "b2's template: the region",
      { provider: 'b2', region: 'eu-central-003' },
      {},
      "the region (eu-central-003, from --region) in the b2 provider's endpoint template",
    ],
    ["gcs's fixed endpoint", { provider: 'gcs' }, {}, "the network (the gcs provider's endpoint)"],
    [
      "AWS's, no endpoint set: not --endpoint-url",
      {},
      { AWS_REGION: 'eu-west-1' },
      "the network and the region (eu-west-1, from AWS_REGION; no endpoint URL is in use: this is AWS's for it)",
    ],
    [
      "AWS's, the configured one ignored",
      {},
      { AWS_ENDPOINT_URL_S3: 'http://h:1', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      "the network and the region (us-east-1, from the aws provider's default; no endpoint URL is in use: this is AWS's for it)",
    ],
  ])('%s', (_why, over, vars, expected) => {
    const e = resolveEndpoint({ ...over, env: vars, profile: noProfile });
    expect(endpointToCheck(e)).toBe(expected);
  });
});

describe('the help of --region and --endpoint-url names every setting they are read from', () => {
  it.each(['AWS_REGION', 'AWS_DEFAULT_REGION'])('%s', (variable) => {
    expect(resolveEndpoint({ env: { [variable]: 'eu-west-1' }, profile: noProfile }).regionWhere).toBe(
      variable,
    );
    expect(CONNECTION_OPTIONS.region.defaultText).toContain(variable);
  });

  it("a profile's services section and endpoint_url", () => {
    const svc = profile({ services: 's' }, { s: { 's3.endpoint_url': 'http://s:1' } });
    expect(resolveEndpoint({ env: {}, profile: svc }).source).toBe('profile services section');
    expect(CONNECTION_OPTIONS.endpointUrl.defaultText).toMatch(
      /the profile's services section or endpoint_url/,
    );
  });
});
