import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanup, newBucket, runCli, servers, tempDir, writeTree } from '../helpers.js';

const md5 = (b: string | Buffer) => createHash('md5').update(b).digest('hex');

describe.each(servers())('migration from the Python script on $name', (server) => {
  it('adopts a Python-format manifest: unchanged files upload nothing, changed ones upload', async () => {
    const { bucket, transport } = await newBucket(server, 'mig');
    const dir = tempDir('mig');
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`dump/t${i}.sql`] = `-- table ${i}\n`.repeat(20 + i);
    writeTree(dir, files);
    // What the Python script left behind: the objects, and its manifest keyed by S3 key.
    const legacy = { version: '1.0', last_sync: '2024-05-01T12:00:00', files: {} as Record<string, unknown> };
    for (const [rel, content] of Object.entries(files)) {
      const key = `backups/db/${rel}`;
      await transport.put({
        key,
        body: () => Buffer.from(content),
        size: Buffer.byteLength(content),
        md5Base64: Buffer.from(md5(content), 'hex').toString('base64'),
        contentType: 'text/plain',
        metadata: {},
      });
      legacy.files[key] = {
        local_path: `database/${rel}`,
        size: Buffer.byteLength(content),
        md5: md5(content),
        uploaded_at: '2024-05-01T12:00:00',
      };
    }
    const legacyPath = path.join(dir, '.s3_sync_manifest.json');
    const legacyText = JSON.stringify(legacy);
    writeFileSync(legacyPath, legacyText);
    // One file changed since the script's last run (same size, different content).
    writeFileSync(path.join(dir, 'dump/t3.sql'), `-- TABLE 3\n`.repeat(23));

    const url = `s3://${bucket}/backups/db`;
    const first = await runCli(['push', dir, url, '--manifest', legacyPath, '--json'], server);
    expect(first.code, first.stderr).toBe(0);
    expect(
      first.events.some(
        (e) => e.type === 'notice' && /adopting the Python script's manifest/.test(e.message),
      ),
    ).toBe(true);
    expect(first.summary).toMatchObject({ uploaded: 1, recorded: 11, failed: 0 });
    expect(first.summary?.requests.PutObject).toBe(1);
    // The legacy file is read, never rewritten, and never uploaded.
    expect(readFileSync(legacyPath, 'utf8')).toBe(legacyText);
    expect((await transport.list('backups/db/')).has('.s3_sync_manifest.json')).toBe(false);
    expect(existsSync(path.join(dir, '.s3sync'))).toBe(true);

    const second = await runCli(['push', dir, url, '--json'], server);
    expect(second.summary).toMatchObject({ uploaded: 0, recorded: 0, unchanged: 12 });
    expect(second.summary?.requestsTotal).toBe(0);

    cleanup(dir);
  });
  it('an adopted entry holds no ETag: a same-size overwrite behind s3sync is still found by its MD5', async () => {
    const { bucket, transport } = await newBucket(server, 'migdrift');
    const dir = tempDir('migdrift');
    const files: Record<string, string> = { 'a.sql': 'alpha\n'.repeat(30), 'b.sql': 'bravo\n'.repeat(30) };
    writeTree(dir, files);
    const put = (rel: string, content: string) =>
      transport.put({
        key: `p/${rel}`,
        body: () => Buffer.from(content),
        size: Buffer.byteLength(content),
        md5Base64: Buffer.from(md5(content), 'hex').toString('base64'),
        contentType: 'text/plain',
        metadata: {},
      });
    const legacy = { version: '1.0', files: {} as Record<string, unknown> };
    for (const [rel, content] of Object.entries(files)) {
      await put(rel, content);
      legacy.files[`p/${rel}`] = { local_path: rel, size: Buffer.byteLength(content), md5: md5(content) };
    }
    const legacyPath = path.join(dir, '.s3_sync_manifest.json');
    writeFileSync(legacyPath, JSON.stringify(legacy));
    const url = `s3://${bucket}/p`;
    // Nothing changed: adopted on one hash each, with no listing, so no ETag is known.
    const adopted = await runCli(['push', dir, url, '--manifest', legacyPath, '--json'], server);
    expect(adopted.summary).toMatchObject({ uploaded: 0, recorded: 2, failed: 0 });
    expect(adopted.summary?.requests.ListObjectsV2).toBeUndefined();
    const tampered = 'ALPHA\n'.repeat(30);
    await put('a.sql', tampered);
    for (const flags of [['--verify'], ['--verify-interval', '0s']]) {
      const verify = await runCli(['push', dir, url, '--json', ...flags], server);
      expect(verify.code, verify.stderr).toBe(0);
      expect(verify.summary, flags[0]).toMatchObject({ uploaded: 1, failed: 0 });
      expect(verify.events).toContainEqual(
        expect.objectContaining({ type: 'done', rel: 'a.sql', reason: 'remote-drift' }),
      );
      expect((await transport.list('p/')).get('a.sql')?.etag).toBe(md5(files['a.sql']!));
      await put('a.sql', tampered);
    }
    cleanup(dir);
  });
});
