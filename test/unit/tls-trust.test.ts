import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { profileFrom } from '../../src/s3/aws-config.js';
import { caBundleSource, pemBlocks, readCaBundle, tlsTrust } from '../../src/s3/tls-trust.js';
import { trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const profile = (caBundle?: string) => () =>
  profileFrom(undefined, caBundle === undefined ? '' : `[default]\nca_bundle = ${caBundle}\n`, undefined);

describe('caBundleSource: aws-cli precedence', () => {
  it.each([
    [
      'the flag first',
      { caBundle: '/f.pem' },
      { AWS_CA_BUNDLE: '/e.pem' },
      '/p.pem',
      '/f.pem',
      '--ca-bundle',
    ],
    ['then AWS_CA_BUNDLE', {}, { AWS_CA_BUNDLE: '/e.pem' }, '/p.pem', '/e.pem', 'AWS_CA_BUNDLE'],
    ["then the profile's ca_bundle", {}, {}, '/p.pem', '/p.pem', "the ca_bundle of AWS profile 'default'"],
    [
      'an empty AWS_CA_BUNDLE is unset',
      {},
      { AWS_CA_BUNDLE: '' },
      '/p.pem',
      '/p.pem',
      "the ca_bundle of AWS profile 'default'",
    ],
    [
      '~/ in the profile is the home directory',
      {},
      {},
      '~/ca.pem',
      path.join(homedir(), 'ca.pem'),
      "the ca_bundle of AWS profile 'default'",
    ],
  ])('%s', (_why, opts, env, inProfile, file, where) => {
    expect(caBundleSource(opts, env, profile(inProfile))).toEqual({ file, where });
  });

  it('none anywhere: the system CAs', () => {
    expect(caBundleSource({}, {}, profile())).toBeUndefined();
  });
});

describe('tlsTrust', () => {
  it('verification off reads no bundle (even one that does not exist)', () => {
    expect(tlsTrust({ verifySsl: false }, { AWS_CA_BUNDLE: '/no/such.pem' })).toEqual({
      rejectUnauthorized: false,
    });
  });

  it('a text without a certificate is refused, naming the file and its setting', () => {
    const f = path.join(dir('tls-unit'), 'key.pem');
    writeFileSync(f, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    expect(() => readCaBundle(f, 'AWS_CA_BUNDLE')).toThrow(
      `the CA bundle ${f} (AWS_CA_BUNDLE) holds no PEM certificate`,
    );
  });
});

describe('pemBlocks: the certificate blocks of a bundle, found in one pass', () => {
  const B = '-----BEGIN CERTIFICATE-----';
  const E = '-----END CERTIFICATE-----';
  /** What the lazy regex it replaces found: the same blocks, on any text. */
  const byRegex = (t: string) =>
    t.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];

  it.each([
    ['none', 'no certificate here\n'],
    ['one', `x\n${B}\nAAAA\n${E}\ny`],
    ['two, text between', `${B}\nA\n${E}\n# comment\n${B}\nB\n${E}\n`],
    ['a BEGIN with no END at the end', `${B}\nA\n${E}\n${B}\nB\n`],
    ['two BEGINs before one END: one block from the first', `${B}\n${B}\nA\n${E}\n`],
    ['an END with no BEGIN', `${E}\n${B}\nA\n${E}\n`],
  ])('%s: as the regex found them', (_, text) => {
    expect(pemBlocks(text)).toEqual(byRegex(text));
  });

  it('20,000 BEGIN lines and no END: no block (the regex took each BEGIN to the end of the text)', () => {
    expect(pemBlocks(`${B}\n`.repeat(20_000))).toEqual([]);
    const cert = `${B}\nAAAA\n${E}\n`;
    const blocks = pemBlocks(`${`${B}\n`.repeat(20_000)}${E}\n${cert}`);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]!.startsWith(`${B}\n${B}\n`)).toBe(true);
    expect(blocks[1]).toBe(cert.trimEnd());
  });

  it('a bundle file of 20,000 BEGIN lines and no END is refused as holding no certificate', () => {
    const f = path.join(dir('tls-unit'), 'begins.pem');
    writeFileSync(f, `${B}\n`.repeat(20_000));
    expect(() => readCaBundle(f, '--ca-bundle')).toThrow(
      `the CA bundle ${f} (--ca-bundle) holds no PEM certificate`,
    );
  });
});
