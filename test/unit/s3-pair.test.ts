import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { endpointFor } from '../../src/s3/client-options.js';
import { pairTargets, S3PairRun, sameStore, sourceConnection } from '../../src/sync/s3-pair.js';
import { usageErrorOf } from '../helpers.js';

const creds = { accessKeyId: 'AK', secretAccessKey: 'SK' };
const base = {
  source: 's3://a/x',
  destination: 's3://b/y',
  endpointUrl: 'http://127.0.0.1:9000',
  region: 'us-east-1',
  credentials: creds,
};

describe('sourceConnection', () => {
  it("is the destination's connection, each --source-* option in place of its own", () => {
    expect(sourceConnection(base)).toMatchObject({
      endpointUrl: base.endpointUrl,
      region: 'us-east-1',
      credentials: creds,
    });
    const other = sourceConnection({
      ...base,
      provider: 'ceph',
      sourceEndpointUrl: 'http://10.0.0.2:8000',
      sourceRegion: 'eu-west-1',
    });
    // Another store: the destination's provider preset is not assumed for it.
    expect(other).toMatchObject({
      endpointUrl: 'http://10.0.0.2:8000',
      region: 'eu-west-1',
      provider: undefined,
    });
    // A source profile signs with its own credentials, never the destination's.
    expect(sourceConnection({ ...base, sourceProfile: 'old' })).toMatchObject({
      profile: 'old',
      credentials: undefined,
    });
  });
});

describe("the source's endpoint: --source-endpoint-url, else the source profile's, else the destination's", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-source-endpoint-'));
  const config = path.join(dir, 'config');
  writeFileSync(
    config,
    [
      '[profile old]',
      'endpoint_url = http://old:1',
      '[profile svc]',
      'services = legacy',
      '[services legacy]',
      's3 =',
      '  endpoint_url = http://legacy:2',
      '[profile keys]',
      'region = us-east-1',
      '[profile work]',
      'endpoint_url = http://work:3',
      '[profile deaf]',
      'endpoint_url = http://deaf:4',
      'ignore_configured_endpoint_urls = true',
    ].join('\n'),
  );
  const env = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none') };
  const { endpointUrl: _, ...noFlag } = base;
  const flag = { ...noFlag, endpointUrl: 'http://dst:9' };
  const viaEnv = { ...env, AWS_ENDPOINT_URL_S3: 'http://dst-env:8' };
  it.each([
    [
      "the source profile's endpoint_url over the destination's flag",
      flag,
      { sourceProfile: 'old' },
      env,
      'http://old:1',
    ],
    [
      "… over the destination's environment variable",
      noFlag,
      { sourceProfile: 'old' },
      viaEnv,
      'http://old:1',
    ],
    [
      "… over the destination's profile",
      { ...noFlag, profile: 'work' },
      { sourceProfile: 'old' },
      env,
      'http://old:1',
    ],
    ["the source profile's services section", flag, { sourceProfile: 'svc' }, env, 'http://legacy:2'],
    [
      '--source-endpoint-url over the source profile',
      flag,
      { sourceProfile: 'old', sourceEndpointUrl: 'http://s:7' },
      env,
      'http://s:7',
    ],
    [
      "a source profile without one: the destination's flag",
      flag,
      { sourceProfile: 'keys' },
      env,
      'http://dst:9',
    ],
    [
      "… the destination's environment variable",
      noFlag,
      { sourceProfile: 'keys' },
      viaEnv,
      'http://dst-env:8',
    ],
    [
      "… the destination's profile's, not AWS",
      { ...noFlag, profile: 'work' },
      { sourceProfile: 'keys' },
      env,
      'http://work:3',
    ],
    [
      "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: the destination's flag",
      flag,
      { sourceProfile: 'old' },
      { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      'http://dst:9',
    ],
    [
      "the profile's ignore_configured_endpoint_urls: the destination's flag",
      flag,
      { sourceProfile: 'deaf' },
      env,
      'http://dst:9',
    ],
  ])('%s', (_why, dst, over, vars, expected) => {
    const opts = { ...dst, ...over };
    expect(endpointFor(sourceConnection(opts, vars), vars).id).toBe(expected);
  });

  it("names where the source profile's endpoint was set, and takes no provider preset of the destination's", () => {
    const src = endpointFor(sourceConnection({ ...flag, provider: 'ceph', sourceProfile: 'old' }, env), env);
    expect(src).toMatchObject({ where: "the endpoint_url of AWS profile 'old'", profile: 'old' });
    expect(src.provider.name).toBe('other');
  });
});

describe('sameStore: copies stay inside the store only for one endpoint and one set of credentials', () => {
  it.each([
    ['no source option', {}, true],
    ['the same endpoint, written otherwise', { sourceEndpointUrl: 'HTTP://127.0.0.1:9000/' }, true],
    ['another endpoint', { sourceEndpointUrl: 'http://127.0.0.1:9001' }, false],
    ['other static credentials', { sourceCredentials: { accessKeyId: 'B', secretAccessKey: 'C' } }, false],
    ['another region', { sourceRegion: 'eu-west-1' }, false],
  ])('%s', (_why, over, expected) => {
    expect(sameStore({ ...base, ...over })).toBe(expected);
  });
});

describe('S3PairRun.connect', () => {
  it.each([
    ['one store', {}],
    ['two stores', { sourceEndpointUrl: 'http://127.0.0.1:9001' }],
  ])('%s: both sides draw on one --tpslimit budget, so the run never exceeds it', async (_why, over) => {
    const { src, dst } = await new S3PairRun({
      ...base,
      source: 's3://src-bucket/x',
      destination: 's3://dst-bucket/y',
      ...over,
      tpslimit: 5,
    }).connect();
    expect(src.limits.requests).toBeDefined();
    expect(src.limits).toBe(dst.limits);
  });
});

describe('the ends of a library S3 → S3 sync', () => {
  it.each<[string, unknown, unknown, string]>([
    ['a Symbol source', Symbol('x'), 's3://b2/p', 'source must be an s3://bucket/prefix URL, got Symbol(x)'],
    [
      'a list destination',
      's3://b1/p',
      ['s3://b2/p'],
      'destination must be an s3://bucket/prefix URL, got ["s3://b2/p"]',
    ],
    [
      'a list of a Symbol',
      's3://b1/p',
      [Symbol()],
      'destination must be an s3://bucket/prefix URL, got [Symbol()]',
    ],
  ])('%s is a usage error, not a TypeError nor its text', (_why, source, destination, message) => {
    expect(usageErrorOf(() => pairTargets({ source, destination } as never)).message).toBe(message);
  });
});
