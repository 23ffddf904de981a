import { createHash } from 'node:crypto';
import { inject } from 'vitest';
import { S3Transport } from '../../src/s3/transport.js';
import type { TestServer } from '../servers/servers.js';

/** The servers global-setup started; integration suites run once per server. */
export const servers = (): TestServer[] => inject('servers');

export const connFor = (s: TestServer) => ({
  endpointUrl: s.endpoint,
  region: 'us-east-1',
  provider: s.provider,
  credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
});

/** Puts an object directly (keys and contents s3sync itself would never write); returns its ETag. */
export function seedObject(
  t: S3Transport,
  key: string,
  content: string | Buffer,
  metadata: Record<string, string> = {},
): Promise<string> {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return t.put({
    key,
    body: () => body,
    size: body.length,
    md5Base64: createHash('md5').update(body).digest('base64'),
    contentType: 'application/octet-stream',
    metadata,
  });
}

/**
 * An object uploaded in the parts given, as another tool with its own part size makes it (a layout
 * no guess of s3sync's may find). Resolves with its ETag.
 */
export async function seedMultipart(t: S3Transport, key: string, parts: Buffer[]): Promise<string> {
  const { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } = await import(
    '@aws-sdk/client-s3'
  );
  const Bucket = t.bucket;
  const { UploadId } = await t.client.send(new CreateMultipartUploadCommand({ Bucket, Key: key }));
  const done = [];
  for (const [i, Body] of parts.entries()) {
    const { ETag } = await t.client.send(
      new UploadPartCommand({ Bucket, Key: key, UploadId, PartNumber: i + 1, Body }),
    );
    done.push({ ETag, PartNumber: i + 1 });
  }
  await t.client.send(
    new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }),
  );
  // As a HEAD answers it: Ceph RGW's CompleteMultipartUpload answer may carry no ETag.
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const head = await t.client.send(new HeadObjectCommand({ Bucket, Key: key }));
  return (head.ETag ?? '').replace(/"/g, '');
}

let bucketSeq = 0;

/** A fresh, empty bucket on the server (names are unique per test process). */
export async function newBucket(
  s: TestServer,
  label = 't',
): Promise<{ bucket: string; transport: S3Transport }> {
  // The label is cut, not the unique tail, and never left ending in '-' (an invalid bucket name).
  const tail = `${process.pid}-${Date.now().toString(36)}-${bucketSeq++}`;
  const head = label
    .toLowerCase()
    .slice(0, 62 - tail.length)
    .replace(/-+$/, '');
  const bucket = `${head}-${tail}`;
  const transport = await S3Transport.connect(connFor(s), bucket);
  await transport.createBucket();
  return { bucket, transport };
}

/** MD5 of an object's content as downloaded. */
export async function objectMd5(t: S3Transport, key: string): Promise<string> {
  return t.get({ key }, async (body) => {
    const h = createHash('md5');
    for await (const c of body) h.update(c as Buffer);
    return h.digest('hex');
  });
}
