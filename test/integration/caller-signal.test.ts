/**
 * A caller's AbortSignal reused across library calls: each call, however it settles, leaves no
 * 'abort' listener of its own on it, so rounds of calls never reach MaxListenersExceededWarning.
 */
import { getEventListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { check, cleanup as cleanupRun, plan, pull, push, syncBuckets, versions } from 's3sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanup, connFor, newBucket, servers, tempDir, writeTree } from '../helpers.js';

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

describe.each(servers())('a caller signal on $name', (server) => {
  it('keeps no abort listener after each call, however it ends', async () => {
    const { bucket } = await newBucket(server, 'sig-keep');
    const { bucket: other } = await newBucket(server, 'sig-keep-b');
    const src = tempDir('sig-keep-src');
    const dst = tempDir('sig-keep-dst');
    writeTree(src, { 'a.txt': 'alpha', 'dir/b.txt': 'bravo', 'c.bin': 3000 });
    const conn = connFor(server);
    const url = `s3://${bucket}/k`;
    const signal = new AbortController().signal;
    const left = () => getEventListeners(signal, 'abort').length;
    try {
      // Rounds enough that a listener left per call would pass Node's default limit of 10.
      for (let round = 0; round < 4; round++) {
        writeFileSync(path.join(src, `r${round}.txt`), `round ${round}`);
        const pushed = await push({ ...conn, signal, source: src, destination: url });
        expect(pushed.outcome).toBe('ok');
        expect(left()).toBe(0);
        await pull({ ...conn, signal, source: url, destination: dst });
        expect(left()).toBe(0);
        await check({ ...conn, signal, local: src, remote: url });
        expect(left()).toBe(0);
        await plan({ ...conn, signal, direction: 'push', source: src, destination: url });
        expect(left()).toBe(0);
        await syncBuckets({ ...conn, signal, source: url, destination: `s3://${other}/q` });
        expect(left()).toBe(0);
        // Refused on an unversioned bucket, after its requests: settled either way is what counts.
        await versions({ ...conn, signal, target: `${url}/a.txt` }).catch(() => undefined);
        expect(left()).toBe(0);
        // s3rver has no ListMultipartUploads: refused there, listed on Ceph.
        await cleanupRun({ ...conn, signal, target: url, olderThan: '24h', dryRun: true }).catch(
          () => undefined,
        );
        expect(left()).toBe(0);
        const missing = `s3://no-such-${bucket}/k`.slice(0, 60);
        await expect(push({ ...conn, signal, source: src, destination: missing })).rejects.toThrow();
        expect(left()).toBe(0);
        await expect(
          push({ ...conn, signal, source: src, destination: missing, watch: true }),
        ).rejects.toThrow();
        expect(left()).toBe(0);
      }
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      cleanup(src, dst);
    }
  });
});
