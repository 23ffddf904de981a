/**
 * AWS's 2 KiB limit on an object's user metadata (x-amz-meta-* names and values, s3sync's own md5 and
 * mtime included), checked once the provider is known: a rule whose metadata can never fit is a usage
 * error before any request, one that fits only without s3sync's own is one error per file it matches,
 * before the file is read or sent. `--provider aws` with a local endpoint gives AWS's limit.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { newBucket, plainLines, runCli, servers, trackedDirs, writeTree } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

describe.each(servers())('the metadata limit on $name', (server) => {
  const aws = ['--provider', 'aws', '--endpoint-url', server.endpoint];
  const rule = (bytes: number) => ['--header-for', '*.txt', `x-amz-meta-note: ${'x'.repeat(bytes - 4)}`];

  it('metadata over 2 KiB whatever the file: exit 2, one line, no request', async () => {
    const { bucket } = await newBucket(server, 'meta-limit');
    const src = dir('meta-limit');
    writeTree(src, { 'a.txt': 'a', 'b.bin': 'b' });
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--json', ...aws, ...rule(2100)], server);
    expect(r.code, r.stderr).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      `s3sync: --header-for "*.txt": its metadata is 2151 bytes (x-amz-meta-* names and values, s3sync's own included), over Amazon S3's 2048-byte limit, on every file it matches`,
    ]);
    expect(Object.values(r.summary?.requests ?? {}).filter((n) => n !== 0)).toEqual([]);
  });

  it("metadata over 2 KiB with the file's own md5 and mtime: one error for it, the others sent", async () => {
    const { bucket, transport } = await newBucket(server, 'meta-limit-file');
    const src = dir('meta-limit-file');
    writeTree(src, { 'a.txt': 'a', 'b.bin': 'b' });
    // 1,995 bytes and s3sync's own (an MD5, an mtime of 20 characters) make 2,055.
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--json', ...aws, ...rule(1995)], server);
    expect(r.code, r.stderr).toBe(1);
    const errors = r.events.filter((e) => e.type === 'error');
    expect(errors).toEqual([
      expect.objectContaining({
        rel: 'a.txt',
        message:
          "a.txt: its metadata is 2055 bytes (x-amz-meta-* names and values, s3sync's own included), over Amazon S3's 2048-byte limit: not uploaded",
      }),
    ]);
    expect(r.summary).toMatchObject({ uploaded: 1, failed: 1 });
    expect(r.summary?.requests.PutObject).toBe(1);
    expect([...(await transport.list('p/')).keys()]).toEqual(['b.bin']);
  });
});
