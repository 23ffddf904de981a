import { describe, expect, it } from 'vitest';
import {
  getProvider,
  objectSizeLimit,
  PROVIDER_NAMES,
  PROVIDERS,
  type ProviderQuirks,
  providerEndpoint,
} from '../../src/s3/providers.js';
import { GiB, MiB, usageErrorOf } from '../helpers.js';

const FIELDS: (keyof ProviderQuirks)[] = [
  'name',
  'title',
  'defaultRegion',
  'pathStyle',
  'sdkChecksums',
  'contentMd5OnDeleteObjects',
  'multipartEtagIsMd5OfParts',
  'maxParts',
  'minPartSize',
  'maxPartSize',
  'requiresEndpoint',
];

describe('PROVIDERS table', () => {
  it('lists the expected providers', () => {
    expect([...PROVIDER_NAMES].sort()).toEqual(
      ['aws', 'b2', 'ceph', 'digitalocean', 'gcs', 'minio', 'other', 'r2', 'wasabi'].sort(),
    );
  });

  it.each(Object.entries(PROVIDERS))('%s has every field with a sane value', (key, p) => {
    for (const f of FIELDS) expect(p[f], `${key}.${f}`).toBeDefined();
    expect(p.name).toBe(key);
    expect(p.name).toBe(p.name.toLowerCase());
    expect(p.title.length).toBeGreaterThan(0);
    expect(p.defaultRegion.length).toBeGreaterThan(0);
    for (const f of [
      'pathStyle',
      'contentMd5OnDeleteObjects',
      'multipartEtagIsMd5OfParts',
      'requiresEndpoint',
    ] as const) {
      expect(typeof p[f], `${key}.${f}`).toBe('boolean');
    }
    expect(['when_supported', 'when_required']).toContain(p.sdkChecksums);
    expect(Number.isInteger(p.maxParts) && p.maxParts > 0).toBe(true);
    expect(p.maxParts).toBeLessThanOrEqual(10_000);
    expect(p.minPartSize).toBeGreaterThanOrEqual(5 * MiB);
    expect(p.maxPartSize).toBeLessThanOrEqual(5 * GiB);
    expect(p.minPartSize).toBeLessThan(p.maxPartSize);
    if (p.endpointTemplate !== undefined) {
      expect(p.endpointTemplate).toMatch(/^https:\/\//);
      expect(p.endpointTemplate.replace(/\{(region|account)\}/g, '')).not.toMatch(/[{}]/);
    }
  });

  it('aws uses when_supported checksums and virtual-host style, and needs no endpoint', () => {
    const aws = PROVIDERS.aws;
    expect(aws.sdkChecksums).toBe('when_supported');
    expect(aws.pathStyle).toBe(false);
    expect(aws.requiresEndpoint).toBe(false);
    expect(aws.endpointTemplate).toBeUndefined();
    expect(aws.defaultRegion).toBe('us-east-1');
  });

  it.each(PROVIDER_NAMES.filter((n) => n !== 'aws'))('%s uses when_required checksums', (name) => {
    expect(PROVIDERS[name]!.sdkChecksums).toBe('when_required');
  });

  it('every non-AWS provider needs an endpoint (or a template filling one)', () => {
    for (const n of PROVIDER_NAMES.filter((x) => x !== 'aws')) {
      expect(PROVIDERS[n]!.requiresEndpoint, n).toBe(true);
    }
  });

  it('ceph gets Content-MD5 on DeleteObjects and path-style addressing', () => {
    const ceph = PROVIDERS.ceph;
    expect(ceph.contentMd5OnDeleteObjects).toBe(true);
    expect(ceph.pathStyle).toBe(true);
  });

  it("'other' uses the conservative defaults", () => {
    const o = PROVIDERS.other;
    expect(o.pathStyle).toBe(true);
    expect(o.contentMd5OnDeleteObjects).toBe(true);
    expect(o.multipartEtagIsMd5OfParts).toBe(true);
    expect(o.endpointTemplate).toBeUndefined();
  });

  it('r2 and b2 do not claim md5-of-parts multipart ETags', () => {
    expect(PROVIDERS.r2.multipartEtagIsMd5OfParts).toBe(false);
    expect(PROVIDERS.b2.multipartEtagIsMd5OfParts).toBe(false);
    expect(PROVIDERS.r2.defaultRegion).toBe('auto');
  });
});

describe('objectSizeLimit', () => {
  const TiB = 1024 * GiB;
  it.each([
    ['AWS: 10,000 parts of 5 GiB since 2025-12 (5 TiB before)', 'aws', 10_000 * 5 * GiB],
    ["Cloud Storage's documented 5 TiB", 'gcs', 5 * TiB],
    ["B2's documented 10 TB", 'b2', 10 * 1000 ** 4],
    ['no known maximum: what 10,000 parts of 5 GiB hold', 'ceph', 10_000 * 5 * GiB],
    ['no known maximum: what 10,000 parts of 5 GiB hold', 'other', 10_000 * 5 * GiB],
  ] as const)('%s (%s)', (_why, name, bytes) => {
    expect(objectSizeLimit(PROVIDERS[name])).toBe(bytes);
  });
});

describe('PROVIDERS is immutable', () => {
  // A library caller changing a row would change every later run in the process.
  it.each([
    ['a field of a row', () => Object.assign(PROVIDERS.aws, { pathStyle: true })],
    ['a row', () => Object.assign(PROVIDERS, { aws: PROVIDERS.minio })],
    ['a new row', () => Object.assign(PROVIDERS, { mine: PROVIDERS.minio })],
    ['a removed row', () => delete (PROVIDERS as Record<string, ProviderQuirks>).ceph],
    ['the names', () => (PROVIDER_NAMES as string[]).push('mine')],
    ['the order of the names', () => (PROVIDER_NAMES as string[]).sort()],
  ])('refuses to change %s', (_, change) => {
    expect(change).toThrow(TypeError);
    expect(PROVIDERS.aws.pathStyle).toBe(false);
    expect(PROVIDERS.aws.name).toBe('aws');
    expect(Object.keys(PROVIDERS)).toEqual(PROVIDER_NAMES);
    expect(PROVIDER_NAMES).toContain('ceph');
    expect(PROVIDER_NAMES).not.toContain('mine');
  });

  it('every row is frozen, and getProvider hands out those rows', () => {
    expect(Object.isFrozen(PROVIDERS)).toBe(true);
    for (const n of PROVIDER_NAMES) expect(Object.isFrozen(PROVIDERS[n]), n).toBe(true);
    expect(Object.isFrozen(getProvider(undefined, false))).toBe(true);
    expect(Object.isFrozen(getProvider('CePh', true))).toBe(true);
  });
});

describe('getProvider', () => {
  it('defaults to aws without a custom endpoint, other with one', () => {
    expect(getProvider(undefined, false).name).toBe('aws');
    expect(getProvider(undefined, true).name).toBe('other');
  });

  it('an explicit name wins over the endpoint default', () => {
    expect(getProvider('minio', true).name).toBe('minio');
    expect(getProvider('aws', true).name).toBe('aws');
    expect(getProvider('ceph', false).name).toBe('ceph');
  });

  it('is case-insensitive', () => {
    expect(getProvider('MinIO', true)).toBe(PROVIDERS.minio);
    expect(getProvider('R2', true)).toBe(PROVIDERS.r2);
  });

  it.each(['nope', '', 'aws ', 'toString', '__proto__', 'constructor', 'hasOwnProperty'])(
    'throws a one-line usage error for unknown %j',
    (name) => {
      const e = usageErrorOf(() => getProvider(name, true));
      expect(e.message).toContain('unknown provider');
      for (const n of PROVIDER_NAMES) expect(e.message).toContain(n);
    },
  );
});

describe('providerEndpoint', () => {
  it('returns undefined when there is no template', () => {
    expect(providerEndpoint(PROVIDERS.aws, 'eu-west-1')).toBeUndefined();
    expect(providerEndpoint(PROVIDERS.minio, 'us-east-1')).toBeUndefined();
    expect(providerEndpoint(PROVIDERS.other, 'us-east-1', 'acct')).toBeUndefined();
  });

  it('fills {region}', () => {
    expect(providerEndpoint(PROVIDERS.b2, 'eu-central-003')).toBe(
      'https://s3.eu-central-003.backblazeb2.com',
    );
    expect(providerEndpoint(PROVIDERS.wasabi, 'eu-west-1')).toBe('https://s3.eu-west-1.wasabisys.com');
    expect(providerEndpoint(PROVIDERS.digitalocean, 'ams3')).toBe('https://ams3.digitaloceanspaces.com');
  });

  it('fills the default region the same way', () => {
    const b2 = PROVIDERS.b2;
    expect(providerEndpoint(b2, b2.defaultRegion)).toBe('https://s3.us-west-004.backblazeb2.com');
  });

  it('returns a fixed endpoint unchanged', () => {
    expect(providerEndpoint(PROVIDERS.gcs, 'auto')).toBe('https://storage.googleapis.com');
  });

  const ACCOUNT = '0123456789abcdef0123456789ABCDEF';
  it('fills {account} for r2', () => {
    expect(providerEndpoint(PROVIDERS.r2, 'auto', ACCOUNT)).toBe(
      `https://${ACCOUNT}.r2.cloudflarestorage.com`,
    );
  });

  // Put into the host name as it is, a `/` or `.` would change which host gets the signed requests.
  it.each([
    ['a host and a path', 'example.com/x'],
    ['a dot', `${ACCOUNT}.evil.example`],
    ['a space', 'a b'],
    ['too short', 'abc123'],
    ['not hex', 'g'.repeat(32)],
  ])('refuses an r2 account id with %s, naming S3SYNC_ACCOUNT_ID', (_why, account) => {
    const e = usageErrorOf(() => providerEndpoint(PROVIDERS.r2, 'auto', account));
    expect(e.message).toBe(
      `S3SYNC_ACCOUNT_ID must be a Cloudflare account id (32 hex digits) for provider 'r2', got ${JSON.stringify(account)}`,
    );
  });

  it('throws a one-line usage error for r2 without an account id', () => {
    for (const account of [undefined, '']) {
      const e = usageErrorOf(() => providerEndpoint(PROVIDERS.r2, 'auto', account));
      expect(e.message).toContain('r2');
    }
  });

  it('does not need an account for region-only templates', () => {
    expect(() => providerEndpoint(PROVIDERS.wasabi, 'us-east-1')).not.toThrow();
  });
});
