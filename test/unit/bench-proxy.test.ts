import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, type RequestHead, requestParser, startProxy } from '../../bench/proxy.mjs';

/** Feeds `bytes` to a fresh parser in pieces of `step` bytes; returns the request heads it saw. */
function parse(bytes: Buffer, step = bytes.length): RequestHead[] {
  const seen: RequestHead[] = [];
  const feed = requestParser((r) => seen.push(r));
  for (let i = 0; i < bytes.length; i += step) feed(bytes.subarray(i, i + step));
  return seen;
}

const req = (head: string, body: Buffer | string = '') =>
  Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body)]);

describe('classify', () => {
  it.each([
    ['GET', '/', {}, 'ListBuckets'],
    ['GET', '/b?list-type=2&prefix=p%2F', {}, 'ListObjectsV2'],
    ['GET', '/b?prefix=p&marker=x', {}, 'ListObjects'],
    ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
    ['GET', '/b?location', {}, 'GetBucketLocation'],
    ['GET', '/b/k/with/slashes', {}, 'GetObject'],
    ['GET', '/b/k?uploadId=u', {}, 'ListParts'],
    ['HEAD', '/b', {}, 'HeadBucket'],
    ['HEAD', '/b/k', {}, 'HeadObject'],
    ['PUT', '/b', {}, 'CreateBucket'],
    ['PUT', '/b/k', {}, 'PutObject'],
    ['PUT', '/b/k', { 'x-amz-copy-source': '/b/j' }, 'CopyObject'],
    ['PUT', '/b/k?partNumber=2&uploadId=u', {}, 'UploadPart'],
    ['PUT', '/b/k?partNumber=2&uploadId=u', { 'x-amz-copy-source': '/b/j' }, 'UploadPartCopy'],
    ['POST', '/b?delete', {}, 'DeleteObjects'],
    ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
    ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
    ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
    ['DELETE', '/b/k', {}, 'DeleteObject'],
    ['DELETE', '/b', {}, 'DeleteBucket'],
  ])('%s %s → %s', (method, target, headers, op) => {
    expect(classify(method, target, headers as Record<string, string>)).toBe(op);
  });

  it("trusts the SDK's x-id over the shape of the request", () => {
    expect(classify('GET', '/b/k?x-id=GetObject')).toBe('GetObject');
    expect(classify('PUT', '/b/k?partNumber=1&uploadId=u&x-id=UploadPart')).toBe('UploadPart');
  });
});

describe('requestParser', () => {
  const bodyLikeRequests = 'GET /b/x HTTP/1.1\r\nHost: h\r\n\r\nPUT /b/y HTTP/1.1\r\n\r\n';
  const stream = Buffer.concat([
    req(`PUT /b/k1 HTTP/1.1\r\nHost: h\r\nContent-Length: ${bodyLikeRequests.length}`, bodyLikeRequests),
    req('GET /b?list-type=2 HTTP/1.1\r\nHost: h'),
    req(
      'PUT /b/k2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked',
      `${(bodyLikeRequests.length).toString(16)};ext=1\r\n${bodyLikeRequests}\r\n5\r\nGET /\r\n0\r\nx-amz-trailer: v\r\n\r\n`,
    ),
    req('HEAD /b/k3 HTTP/1.1\r\nHost: h\r\ncontent-length: 0'),
  ]);
  const expected = [
    ['PUT', '/b/k1'],
    ['GET', '/b?list-type=2'],
    ['PUT', '/b/k2'],
    ['HEAD', '/b/k3'],
  ];

  it.each([1, 2, 3, 7, 64, stream.length])(
    'sees each request once and never a body as a request, in pieces of %i bytes',
    (step) => {
      expect(parse(stream, step).map((r) => [r.method, r.target])).toEqual(expected);
    },
  );

  it('reads header names case-insensitively', () => {
    const [r] = parse(req('PUT /b/k HTTP/1.1\r\nX-Amz-Copy-Source: /b/j\r\nContent-Length: 0'));
    expect(r?.headers['x-amz-copy-source']).toBe('/b/j');
  });

  it('waits for a body sent after the head (Expect: 100-continue)', () => {
    const seen: RequestHead[] = [];
    const feed = requestParser((r) => seen.push(r));
    feed(req('PUT /b/k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 17'));
    expect(seen).toHaveLength(1);
    feed(Buffer.from('GET /b/z HTTP/1.1'));
    expect(seen).toHaveLength(1);
    feed(req('GET /b/k HTTP/1.1'));
    expect(seen.map((r) => r.method)).toEqual(['PUT', 'GET']);
  });
});

describe('startProxy', () => {
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    server = http.createServer((rq, rs) => {
      rq.resume();
      rq.on('end', () => rs.end(`${rq.method} ${rq.url}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const send = (endpoint: string, method: string, p: string, body?: Buffer, agent?: http.Agent) =>
    new Promise<string>((resolve, reject) => {
      const rq = http.request(`${endpoint}${p}`, { method, agent }, (rs) => {
        let t = '';
        rs.on('data', (d) => {
          t += d;
        });
        rs.on('end', () => resolve(t));
      });
      rq.on('error', reject);
      rq.end(body);
    });

  it.each([0, 5])(
    'passes requests and answers through and counts them by operation (delay %i ms)',
    async (delayMs) => {
      const proxy = await startProxy({ upstream: { host: '127.0.0.1', port }, delayMs });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
      try {
        const big = Buffer.alloc(3 * 1024 * 1024, 'GET /b/k HTTP/1.1\r\n\r\n');
        const answers = await Promise.all([
          send(proxy.endpoint, 'PUT', '/b/k1', big, agent),
          send(proxy.endpoint, 'PUT', '/b/k2', Buffer.from('x'), agent),
          send(proxy.endpoint, 'GET', '/b?list-type=2', undefined, agent),
          send(proxy.endpoint, 'HEAD', '/b/k1', undefined, agent),
        ]);
        expect(answers.slice(0, 3)).toEqual(['PUT /b/k1', 'PUT /b/k2', 'GET /b?list-type=2']);
        expect(proxy.counts()).toEqual({ PutObject: 2, ListObjectsV2: 1, HeadObject: 1 });
        proxy.reset();
        expect(proxy.counts()).toEqual({});
      } finally {
        agent.destroy();
        await proxy.close();
      }
    },
  );

  it('makes a request on a new connection wait at least two round trips (handshake, then the exchange)', async () => {
    const delayMs = 40;
    const proxy = await startProxy({ upstream: { host: '127.0.0.1', port }, delayMs });
    try {
      const t0 = performance.now();
      await send(proxy.endpoint, 'GET', '/b/k', undefined, new http.Agent({ keepAlive: false }));
      expect(performance.now() - t0).toBeGreaterThanOrEqual(4 * delayMs - 2);
    } finally {
      await proxy.close();
    }
  });
});
