import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { push } from '../../src/sync/push.js';
import { cleanup, connFor, MiB, newBucket, runCli, servers, tempDir, writeTree } from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

describe.each(servers())('provider presets on $name', (server) => {
  it.each(['ceph', 'other'])('--provider %s pushes and pulls with the preset quirks', async (provider) => {
    const { bucket } = await newBucket(server, `prov-${provider}`);
    const src = tempDir('prov');
    const dst = tempDir('prov-dst');
    writeTree(src, { 'a.txt': 'a', 'big.bin': 6 * 1024 * 1024 });
    const flags = ['--provider', provider, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json'];
    const up = await runCli(['push', src, `s3://${bucket}/p`, ...flags], server);
    expect(up.code, up.stderr).toBe(0);
    expect(up.summary).toMatchObject({ uploaded: 2, failed: 0 });
    expect(up.summary?.requests.CompleteMultipartUpload).toBe(1);
    const down = await runCli(['pull', `s3://${bucket}/p`, dst, ...flags], server);
    expect(down.code, down.stderr).toBe(0);
    expect(down.summary).toMatchObject({ downloaded: 2 });
    cleanup(src, dst);
  });
});

/**
 * A client whose CompleteMultipartUpload answers an ETag in multipart form that is no MD5 of the
 * part MD5s, as R2's is: a real server behind it, only that answer rewritten.
 */
function foreignMultipartEtags(server: TestServer): S3Client {
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const r = await next(args);
      if (context.commandName === 'CompleteMultipartUploadCommand')
        (r.output as { ETag?: string }).ETag = `"${'0f'.repeat(16)}-2"`;
      return r;
    },
    { step: 'initialize', name: 'foreignMultipartEtag' },
  );
  return client;
}

describe.each(servers())('multipartEtagIsMd5OfParts on $name', (server) => {
  const pushWith = async (provider: string) => {
    const { bucket } = await newBucket(server, `etag-${provider}`);
    const src = tempDir('etag');
    writeTree(src, { 'a.txt': 'a', 'big.bin': 6 * MiB });
    const client = foreignMultipartEtags(server);
    try {
      // Its own credentials: with a client of the caller's, credentials would be refused.
      const { credentials: _own, ...where } = connFor(server);
      return await push({
        ...where,
        provider,
        client,
        source: src,
        destination: `s3://${bucket}/p`,
        multipartThreshold: 5 * MiB,
        partSize: 5 * MiB,
      });
    } finally {
      client.destroy();
      cleanup(src);
    }
  };

  // Their multipart ETags cannot be checked locally: each part's Content-MD5 was checked instead.
  it.each(['r2', 'b2', 'gcs'])(
    '%s accepts a multipart ETag that is no MD5 of the parts',
    async (provider) => {
      const r = await pushWith(provider);
      expect(r.errors).toEqual([]);
      expect(r).toMatchObject({ uploaded: 2, failed: 0, outcome: 'ok' });
      expect(r.requests.CompleteMultipartUpload).toBe(1);
    },
  );

  it.each(['ceph', 'minio', 'other'])(
    '%s refuses a multipart ETag that does not match the parts',
    async (provider) => {
      const r = await pushWith(provider);
      expect(r).toMatchObject({ uploaded: 1, failed: 1, outcome: 'failed' });
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.rel).toBe('big.bin');
      expect(r.errors[0]!.message).toContain('does not match the local content');
    },
  );
});
