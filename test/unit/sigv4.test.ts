import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { SigningKeys, signRequest, uriEncode } from '../../src/s3/sigv4.js';

// The examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference).
const creds = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const at = { region: 'us-east-1', service: 's3', now: new Date('2013-05-24T00:00:00Z') };
const host = 'examplebucket.s3.amazonaws.com';
const sig = (h: Record<string, string>) => /Signature=([0-9a-f]{64})$/.exec(h.authorization!)?.[1];

describe('signRequest (SigV4, no body)', () => {
  it("gives AWS's documented signatures: a ranged GET, a query flag, a query with values", () => {
    const keys = new SigningKeys();
    const get = signRequest(
      { method: 'GET', host, path: '/test.txt', headers: { range: 'bytes=0-9' } },
      creds,
      { ...at, keys },
    );
    expect(sig(get)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(get.authorization).toContain(
      'Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,',
    );
    const lifecycle = signRequest({ method: 'GET', host, path: '/', query: { lifecycle: '' } }, creds, {
      ...at,
      keys,
    });
    expect(sig(lifecycle)).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
    const list = signRequest(
      { method: 'GET', host, path: '/', query: { prefix: 'J', 'max-keys': '2' } },
      creds,
      { ...at, keys },
    );
    expect(sig(list)).toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('agrees with the SDK signer on awkward keys, a version id and a session token', async () => {
    // The SDK's own signer (a dependency of the client), as a second reference beside AWS's examples.
    const require = createRequire(`${process.cwd()}/package.json`);
    const { SignatureV4 } = require('@smithy/signature-v4') as typeof import('@smithy/signature-v4');
    const withToken = { ...creds, sessionToken: 'token/with+odd=chars' };
    const sdk = new SignatureV4({
      credentials: withToken,
      region: 'eu-west-3',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    const keys = new SigningKeys();
    for (const key of ["a b/c+d/é/(x)!*'~", 'dir//x.', '%41/&?=#', 'ключ/файл.txt']) {
      for (const query of [undefined, { versionId: 'v1/2+3=' }]) {
        const path = `/bucket/${uriEncode(key, true)}`;
        const now = new Date('2026-12-01T15:35:07Z');
        const ours = signRequest({ method: 'GET', host: '127.0.0.1:9000', path, query }, withToken, {
          region: 'eu-west-3',
          service: 's3',
          now,
          keys,
        });
        const theirs = await sdk.sign(
          {
            method: 'GET',
            protocol: 'http:',
            hostname: '127.0.0.1',
            port: 9000,
            path,
            query: query ?? {},
            headers: { host: '127.0.0.1:9000', 'x-amz-content-sha256': ours['x-amz-content-sha256']! },
          },
          { signingDate: now },
        );
        expect(ours.authorization).toBe(theirs.headers.authorization);
        expect(ours['x-amz-security-token']).toBe(withToken.sessionToken);
      }
    }
  });

  it('encodes a key as S3 wants it: slashes kept in a path, every reserved byte escaped', () => {
    expect(uriEncode("a b/c+d!'()*~._-", true)).toBe('a%20b/c%2Bd%21%27%28%29%2A~._-');
    expect(uriEncode('v1/2', false)).toBe('v1%2F2');
    expect(uriEncode('é', true)).toBe('%C3%A9');
  });
});

/** The hash constructor the SDK signer takes, on node:crypto. */
class Sha256 {
  private readonly h;
  constructor(secret?: ArrayBuffer | ArrayBufferView | string) {
    this.h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(d: ArrayBuffer | ArrayBufferView | string) {
    this.h.update(bytes(d));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}
const bytes = (d: ArrayBuffer | ArrayBufferView | string) =>
  typeof d === 'string'
    ? d
    : ArrayBuffer.isView(d)
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : new Uint8Array(d);
