import { describe, expect, it } from 'vitest';
import { Signer, uriEncode } from '../../src/s3/sigv4.js';

// The examples of AWS's "Signature Calculations for the Authorization Header" (S3 API reference).
const creds = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2013-05-24T00:00:00Z');
const host = 'examplebucket.s3.amazonaws.com';
const sig = (h: Record<string, string>) => /Signature=([0-9a-f]{64})$/.exec(h.authorization!)?.[1];
const signer = (c: typeof creds & { sessionToken?: string } = creds, region = 'us-east-1') =>
  new Signer({ credentials: async () => c, region: async () => region });

describe('Signer (SigV4 of a GET, as the SDK configures it for S3)', () => {
  it("gives AWS's documented signatures: a ranged GET, a query flag, a query with values", async () => {
    const s = signer();
    const get = await s.sign(
      { method: 'GET', host, path: '/test.txt', headers: { range: 'bytes=0-9' } },
      now,
    );
    expect(sig(get)).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    expect(get.authorization).toContain(
      'Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,',
    );
    const lifecycle = await s.sign({ method: 'GET', host, path: '/', query: { lifecycle: '' } }, now);
    expect(sig(lifecycle)).toBe('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
    const list = await s.sign(
      { method: 'GET', host, path: '/', query: { prefix: 'J', 'max-keys': '2' } },
      now,
    );
    expect(sig(list)).toBe('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('signs an encoded path as it is (S3 does not encode twice), a port in the host, a session token', async () => {
    const s = signer({ ...creds, sessionToken: 'token/with+odd=chars' }, 'eu-west-3');
    const at = new Date('2026-12-01T15:35:07Z');
    const path = `/bucket/${uriEncode("a b/c+d/é/(x)!*'~", true)}`;
    const h = await s.sign(
      { method: 'GET', host: '127.0.0.1:9000', path, query: { versionId: 'v1/2+3=' } },
      at,
    );
    expect(h.host).toBe('127.0.0.1:9000');
    expect(h['x-amz-security-token']).toBe('token/with+odd=chars');
    expect(h['x-amz-date']).toBe('20261201T153507Z');
    expect(h['x-amz-content-sha256']).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(h.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/20261201\/eu-west-3\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    // Another path: another signature (the path is part of what is signed, encoded once).
    const other = await s.sign({ method: 'GET', host: '127.0.0.1:9000', path: '/bucket/a%20b' }, at);
    expect(sig(other)).not.toBe(sig(h));
  });

  it('encodes a key as S3 wants it: slashes kept in a path, every reserved byte escaped', () => {
    expect(uriEncode("a b/c+d!'()*~._-", true)).toBe('a%20b/c%2Bd%21%27%28%29%2A~._-');
    expect(uriEncode('v1/2', false)).toBe('v1%2F2');
    expect(uriEncode('é', true)).toBe('%C3%A9');
  });
});
