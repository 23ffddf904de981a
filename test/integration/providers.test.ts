import { describe, expect, it } from 'vitest';
import { cleanup, newBucket, runCli, servers, tempDir, writeTree } from '../helpers.js';

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
