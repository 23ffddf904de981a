import { describe, expect, it } from 'vitest';
import { S3PairRun, sameStore, sourceConnection } from '../../src/sync/s3-pair.js';

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
