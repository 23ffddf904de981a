import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { md5Hex } from '../../src/local/hash.js';
import { newBucket, servers } from '../helpers.js';

describe.each(servers())('S3 round trip on $name', (server) => {
  it('creates a bucket, puts, lists and gets an object over HTTP', async () => {
    const { transport } = await newBucket(server, 'rt');
    const body = Buffer.from('hello from s3sync\n'.repeat(100));
    const md5 = md5Hex(body);
    const etag = await transport.put({
      key: 'p/hello.txt',
      body: () => Readable.from([body]),
      size: body.length,
      md5Base64: Buffer.from(md5, 'hex').toString('base64'),
      contentType: 'text/plain',
      metadata: { md5 },
    });
    expect(etag).toBe(md5);
    const listed = await transport.list('p/');
    expect([...listed.keys()]).toEqual(['hello.txt']);
    expect(listed.get('hello.txt')).toMatchObject({ size: body.length, etag: md5 });
    const got = await transport.get('p/hello.txt', async (stream, info) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return { data: Buffer.concat(chunks), info };
    });
    expect(got.data.equals(body)).toBe(true);
    expect(got.info.metadata.md5).toBe(md5);
    expect(transport.counter.counts).toMatchObject({ PutObject: 1, ListObjectsV2: 1, GetObject: 1 });
  });
});
