import { writeFileSync } from 'node:fs';
import path from 'node:path';
// Only the package's public entry point, resolved through package.json "exports" as a user's would be.
import { check, PROVIDERS, plan, pull, push, S3SyncError, type SyncEvent } from 's3sync';
import { describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, servers, tempDir, treeHashes, writeTree } from '../helpers.js';

describe.each(servers())('public API on $name', (server) => {
  it('push, pull, check and plan through the package entry point, with events', async () => {
    const { bucket } = await newBucket(server, 'api');
    const src = tempDir('api-src');
    const dst = tempDir('api-dst');
    writeTree(src, { 'a.txt': 'alpha', 'dir/b.bin': 2048, 'dir/c d.txt': 'gamma' });
    const conn = connFor(server);
    const url = `s3://${bucket}/lib`;
    const events: SyncEvent[] = [];
    const pushed = await push({ ...conn, source: src, destination: url, onEvent: (e) => events.push(e) });
    expect(pushed).toMatchObject({ command: 'push', uploaded: 3, failed: 0, outcome: 'ok' });
    expect(
      events
        .filter((e) => e.type === 'done' && e.action === 'upload')
        .map((e) => (e as { rel: string }).rel)
        .sort(),
    ).toEqual(['a.txt', 'dir/b.bin', 'dir/c d.txt']);
    expect(events.at(-1)?.type).toBe('summary');

    const pulled = await pull({ ...conn, source: url, destination: dst });
    expect(pulled.downloaded).toBe(3);
    expect(treeHashes(dst)).toEqual(treeHashes(src));

    writeFileSync(path.join(src, 'new.txt'), 'new');
    const p = await plan({ ...conn, direction: 'push', source: src, destination: url });
    expect(p.actions.map((a) => [a.kind, a.rel, a.reason])).toEqual([['upload', 'new.txt', 'new']]);

    const c = await check({ ...conn, local: src, remote: url });
    expect(c).toMatchObject({
      onlyLocal: ['new.txt'],
      onlyRemote: [],
      differ: [],
      same: 3,
      outcome: 'differ',
    });
    cleanup(src, dst);
  });

  it('cancels with an AbortSignal and leaves a valid manifest', async () => {
    const { bucket } = await newBucket(server, 'abort');
    const src = tempDir('abort');
    const files: Record<string, number> = {};
    for (let i = 0; i < 200; i++) files[`f${i}.bin`] = 4096;
    writeTree(src, files);
    const controller = new AbortController();
    let done = 0;
    const run = push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/x`,
      workers: 2,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'done' && ++done === 20) controller.abort();
      },
    });
    await expect(run).rejects.toThrow();
    // A later run completes what the cancelled one did not, without redoing what it did.
    const again = await push({ ...connFor(server), source: src, destination: `s3://${bucket}/x` });
    expect(again.outcome).toBe('ok');
    expect(again.uploaded + again.recorded).toBeLessThanOrEqual(200 - 20);
    expect(again.uploaded + again.recorded + again.unchanged).toBe(200);
    cleanup(src);
  });

  it('exports errors and the provider table', () => {
    expect(new S3SyncError('x').kind).toBe('usage');
    expect(new S3SyncError('x', 'file').kind).toBe('file');
    expect(Object.keys(PROVIDERS)).toContain('ceph');
  });
});
