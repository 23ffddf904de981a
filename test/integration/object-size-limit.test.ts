/**
 * A file larger than the largest object the provider takes is a per-file error before it is hashed or
 * uploaded (exit 1, one line naming it, its size and the limit), in a push, a dry run and a plan, and
 * --delete deletes nothing in that run. A sparse file stands for it: Cloud Storage's limit is 5 TiB.
 */
import { truncateSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newBucket, plainLines, runCli, seedObject, servers, trackedDirs, writeTree } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const TiB = 1024 ** 4;
const SIZE = 6 * TiB;
const LINE = `huge.bin: 6.0 TiB (${SIZE} bytes), larger than the largest object Google Cloud Storage (XML API) takes (5.0 TiB): skipped`;

describe.each(servers())('a file over the object size limit on $name', (server) => {
  const tree = () => {
    const d = dir('size-limit');
    writeTree(d, { 'a.txt': 'a', 'huge.bin': '' });
    truncateSync(path.join(d, 'huge.bin'), SIZE);
    return d;
  };
  const gcs = ['--provider', 'gcs', '--endpoint-url', server.endpoint];
  const errorLines = (stderr: string) => plainLines(stderr).filter((l) => l.includes('huge.bin'));

  it('push: one error, no hash and no upload of it, the other file sent, nothing deleted', async () => {
    const { bucket, transport } = await newBucket(server, 'size-limit');
    await seedObject(transport, 'p/gone.txt', 'extra');
    await seedObject(transport, 'p/huge.bin', 'an older, small huge.bin');
    const src = tree();
    const r = await runCli(['push', src, `s3://${bucket}/p`, '--delete', '--json', ...gcs], server);
    expect(r.code, r.stderr).toBe(1);
    const errors = r.events.filter((e) => e.type === 'error').map((e) => e.message);
    expect(errors).toEqual([LINE, 'not deleting 2 file(s): 1 error(s) happened in this run']);
    // Never read: no hashing progress counts its bytes.
    expect(r.events.some((e) => e.type === 'hashing' && e.totalBytes >= TiB)).toBe(false);
    expect(r.summary).toMatchObject({ uploaded: 1, deleted: 0, failed: 1 });
    expect(r.summary?.requests.CreateMultipartUpload ?? 0).toBe(0);
    expect(r.summary?.requests.PutObject).toBe(1);
    const left = await transport.list('p/');
    expect([...left.keys()].sort()).toEqual(['a.txt', 'gone.txt', 'huge.bin']);
    expect(left.get('huge.bin')?.size).toBe('an older, small huge.bin'.length);
  });

  it('--dry-run and plan push say it too (exit 1)', async () => {
    const { bucket } = await newBucket(server, 'size-limit-dry');
    const src = tree();
    const dry = await runCli(['push', src, `s3://${bucket}/p`, '--dry-run', ...gcs], server);
    expect(dry.code, dry.stderr).toBe(1);
    expect(errorLines(dry.stderr)).toEqual([`error: ${LINE}`]);
    const out = path.join(dir('size-limit-plan'), 'plan.json');
    const planned = await runCli(['plan', 'push', src, `s3://${bucket}/p`, '--out', out, ...gcs], server);
    expect(planned.code, planned.stderr).toBe(1);
    expect(errorLines(planned.stderr)).toEqual([`error: ${LINE}`]);
  });

  it('a provider with no known limit under 48.8 TiB plans the same file (--dry-run)', async () => {
    const { bucket } = await newBucket(server, 'size-limit-other');
    const src = tree();
    const r = await runCli(
      [
        'push',
        src,
        `s3://${bucket}/p`,
        '--dry-run',
        '--provider',
        'other',
        '--endpoint-url',
        server.endpoint,
      ],
      server,
    );
    expect(errorLines(r.stderr).filter((l) => l.includes('larger than'))).toEqual([]);
  });
});
