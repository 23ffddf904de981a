import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { md5Hex } from '../../src/local/hash.js';
import { listObjects } from '../../src/s3/listing.js';
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
    const got = await transport.get({ key: 'p/hello.txt' }, async (stream, info) => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return { data: Buffer.concat(chunks), info };
    });
    expect(got.data.equals(body)).toBe(true);
    expect(got.info.metadata.md5).toBe(md5);
    expect(transport.counter.counts).toMatchObject({ PutObject: 1, ListObjectsV2: 1, GetObject: 1 });
    // The SDK's logger middleware, whose only work here would be redacting inputs for a silent logger.
    expect(
      transport.client.middlewareStack.identify().filter((m) => m.startsWith('loggerMiddleware')),
    ).toEqual([]);
  });
});

describe.each(servers())('listing on $name', (server) => {
  it('reads pages itself exactly as the SDK does, awkward keys and continuation tokens included', async () => {
    const { transport } = await newBucket(server, 'ls');
    const keys = [
      'a & b.txt',
      '<angle> "quoted" \'single\'.txt',
      ' leading and trailing spaces ',
      'dir/ünïcödé/日本語 😀.bin',
      'percent%20plus+equals=.txt',
      'semi;colon#hash?query.txt',
      'tab\there.txt',
      'x'.repeat(200),
    ];
    for (const [i, k] of keys.entries()) {
      const body = Buffer.from(`object ${i}\n`.repeat(i + 1));
      await transport.put({
        key: `p/${k}`,
        body: () => Readable.from([body]),
        size: body.length,
        md5Base64: Buffer.from(md5Hex(body), 'hex').toString('base64'),
        contentType: 'application/octet-stream',
        metadata: {},
      });
    }
    // Pages of 3 keys: the continuation token is carried from page to page.
    const pages = { fast: 0, sdk: 0 };
    const ours = await listObjects(transport, 'p/', {}, { maxKeys: 3, pages });
    expect(pages).toEqual({ fast: 3, sdk: 0 });
    const sdk = await listObjects(transport, 'p/', {}, { maxKeys: 3, sdkParser: true, pages });
    expect(pages).toEqual({ fast: 3, sdk: 3 });
    expect([...ours.keys()].sort()).toEqual([...keys].sort());
    expect([...ours.entries()]).toEqual([...sdk.entries()]);
    for (const o of ours.values()) expect(o.etag).toMatch(/^[0-9a-f]{32}$/);
  });
});
