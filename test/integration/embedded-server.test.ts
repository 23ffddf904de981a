import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedServer, startEmbeddedServer } from '../../src/embedded/s3rver.js';
import { MiB } from '../helpers.js';

let server: EmbeddedServer;
let s3: S3Client;

/** Sends the first `sent` bytes of a body declared as `declared` bytes long, then drops the request. */
async function cutShort(send: (body: PassThrough, signal: AbortSignal) => Promise<unknown>, sent: Buffer) {
  const body = new PassThrough();
  const abort = new AbortController();
  const request = send(body, abort.signal).then(
    () => 'completed',
    () => 'aborted',
  );
  body.write(sent);
  // Long enough for the server to have written what arrived.
  await new Promise((r) => setTimeout(r, 300));
  abort.abort();
  expect(await request).toBe('aborted');
  // The server notices the dropped connection asynchronously.
  await new Promise((r) => setTimeout(r, 300));
}

async function getBytes(bucket: string, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('embedded server (s3rver) stores a body only whole, as S3 does', () => {
  beforeAll(async () => {
    server = await startEmbeddedServer();
    s3 = new S3Client({
      endpoint: server.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      maxAttempts: 1,
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'whole-bodies' }));
  });

  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
  });

  it('a PUT cut short leaves the object as it was, and no trace in the listing', async () => {
    const v1 = randomBytes(MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'whole-bodies', Key: 'obj', Body: v1 }));
    const v2 = randomBytes(4 * MiB);
    await cutShort(
      (Body, abortSignal) =>
        s3.send(
          new PutObjectCommand({ Bucket: 'whole-bodies', Key: 'obj', Body, ContentLength: v2.length }),
          { abortSignal },
        ),
      v2.subarray(0, MiB + 17),
    );
    expect((await getBytes('whole-bodies', 'obj')).equals(v1)).toBe(true);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'whole-bodies' }));
    expect(listed.Contents?.map((o) => [o.Key, o.Size])).toEqual([['obj', v1.length]]);
  });

  it('a part cut short after the same part was sent whole does not replace it', async () => {
    const bucket = 'whole-bodies';
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp' }));
    const parts = [randomBytes(5 * MiB), randomBytes(MiB)];
    const put = (n: number, Body: Buffer | PassThrough, abortSignal?: AbortSignal) =>
      s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: 'mp',
          UploadId,
          PartNumber: n,
          Body,
          ContentLength: parts[n - 1]!.length,
        }),
        { abortSignal },
      );
    const etags = [(await put(1, parts[0]!)).ETag, (await put(2, parts[1]!)).ETag];
    // A dead client's late, truncated copy of part 1, as a proxy that held it might deliver it.
    await cutShort((body, signal) => put(1, body, signal), parts[0]!.subarray(0, 3 * MiB));
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp',
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
      }),
    );
    expect((await getBytes(bucket, 'mp')).equals(Buffer.concat(parts))).toBe(true);
  });
});
