import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import aws4 from 'aws4';
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
    // What needs no escape is returned as it is; everything else as the full encoding gives it.
    const full = (v: string, keepSlash: boolean) => {
      const e = encodeURIComponent(v).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      );
      return keepSlash ? e.replace(/%2F/g, '/') : e;
    };
    const samples = [
      '',
      'a',
      'dir/sub/file-1_2.3~x',
      'AZaz09-._~',
      '/',
      '//a//',
      'a b',
      'a+b',
      'a%2Fb',
      'é/ü',
      '\u{1F600}',
      'a\nb',
      '?x=1&y',
      '*',
    ];
    for (const v of samples)
      for (const keep of [true, false])
        expect([v, keep, uriEncode(v, keep)]).toEqual([v, keep, full(v, keep)]);
  });

  it('signs as aws4 does, over random keys, queries, ranges, bodies, tokens, regions and days', async () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = [
      'a',
      'Z',
      '0',
      '/',
      ' ',
      '+',
      '=',
      '&',
      '%',
      '~',
      '!',
      "'",
      '(',
      '*',
      'é',
      '😀',
      '\t',
      '?',
      '#',
    ];
    const word = (max: number) =>
      Array.from({ length: 1 + rnd(max) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let i = 0; i < 300; i++) {
      const c = { ...creds, ...(rnd(3) === 0 ? { sessionToken: word(40) } : {}) };
      const region = ['us-east-1', 'eu-west-3', 'ap-south-2'][rnd(3)]!;
      const at = new Date(
        Date.UTC(2020 + rnd(7), rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000)),
      );
      const query: Record<string, string> = {};
      for (let q = rnd(4); q > 0; q--) query[word(6)] = rnd(4) === 0 ? '' : word(10);
      // Half the requests a PUT with a body and the headers a PutObject signs.
      const body = rnd(2) ? Buffer.from(word(200)) : undefined;
      const own: Record<string, string> = body
        ? {
            'content-type': rnd(2) ? 'text/plain' : 'application/octet-stream',
            'content-md5': createHash('md5').update(body).digest('base64'),
            'content-length': String(body.length),
            [`x-amz-meta-${['md5', 'mtime', 'owner'][rnd(3)]}`]: ` ${word(12).replace(/[^\x20-\x7e]/g, 'x')}  x `,
          }
        : rnd(2)
          ? { range: `bytes=${rnd(1000)}-${1000 + rnd(1000)}` }
          : {};
      const method = body ? 'PUT' : 'GET';
      const req = {
        method,
        payloadSha256: body && createHash('sha256').update(body).digest('hex'),
        host: rnd(2) ? '127.0.0.1:9000' : host,
        path: `/b/${uriEncode(word(30), true)}`,
        query,
        headers: own,
      };
      const ours = await signer(c, region).sign(req, at);
      const search = Object.entries(query)
        .map(([k, v]) => `${uriEncode(k, false)}=${uriEncode(v, false)}`)
        .join('&');
      const theirs = aws4.sign(
        {
          service: 's3',
          region,
          method,
          body,
          path: search ? `${req.path}?${search}` : req.path,
          headers: { ...own, host: req.host, 'x-amz-date': at.toISOString().replace(/[:-]|\.\d{3}/g, '') },
          extraHeadersToInclude: Object.fromEntries(Object.keys(own).map((k) => [k, true])),
        } as aws4.Request,
        c,
      );
      const expected = Object.fromEntries(
        Object.entries(theirs.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
      );
      expect(ours, JSON.stringify({ req, at, region })).toEqual(expected);
    }
  });

  it('derives the signing key again when the day, the region or the secret changes', async () => {
    let c = creds;
    let region = 'us-east-1';
    const s = new Signer({ credentials: async () => c, region: async () => region });
    const req = { method: 'GET', host, path: '/test.txt', headers: { range: 'bytes=0-9' } };
    expect(sig(await s.sign(req, now))).toBe(
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    const next = sig(await s.sign(req, new Date('2013-05-25T00:00:00Z')));
    region = 'eu-west-1';
    const otherRegion = sig(await s.sign(req, now));
    c = { ...creds, secretAccessKey: 'another' };
    const otherSecret = sig(await s.sign(req, now));
    expect(new Set([next, otherRegion, otherSecret]).size).toBe(3);
    // The cached key and the secret it was derived from never show when the signer is inspected.
    const shown = inspect(s, { depth: 10, showHidden: true });
    expect(shown).not.toContain('another');
    expect(shown).not.toContain(creds.secretAccessKey);
    // Back to the first: the documented signature again, not a key kept from another day.
    c = creds;
    region = 'us-east-1';
    expect(sig(await s.sign(req, now))).toBe(
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });
});
