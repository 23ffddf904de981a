/**
 * A pull cancelled once a large object's ranges are all in, but before their check's hash starts, and
 * held past the cancel's grace: the hash is refused, not started on a fresh worker thread that nothing
 * ends. The kept ranges stay for the next pull, which takes the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pull, push, type SyncEvent } from 's3sync';
import { afterAll, describe, expect, it } from 'vitest';
import { bigFile, connFor, MiB, md5Hex, newBucket, servers, trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(() => removeAll());

/** Four ranges of 8 MiB: hashed on a worker thread (from 8 MiB), each range a GET. */
const SIZE = 32 * MiB;
const RANGE = { multipartThreshold: '8MiB', partSize: '8MiB' };
/** Past the library's cancel grace (CANCEL_GRACE_MS), so that its end comes before the hash starts. */
const HOLD_MS = 4000;

describe.each(servers())('a pull cancelled before a ranged download is hashed, on $name', (server) => {
  it('refuses the hash after the grace: no file written, its ranges kept, the next pull takes it', async () => {
    const src = dir('cancel-hash-src');
    const file = path.join(src, 'big.bin');
    bigFile(file, SIZE);
    const { bucket } = await newBucket(server, 'cancel-hash');
    const url = `s3://${bucket}/h`;
    const conn = connFor(server);
    expect((await push({ ...conn, ...RANGE, source: src, destination: url })).outcome).toBe('ok');
    const dest = dir('cancel-hash-dest');
    const controller = new AbortController();
    let fetched = 0;
    let abortedAt = 0;
    const onEvent = (e: SyncEvent) => {
      if (e.type !== 'bytes' || e.resumed || abortedAt !== 0) return;
      fetched += e.bytes;
      if (fetched < SIZE) return;
      // Every range is written: cancelled now, and this thread held (as a loaded machine or a slow
      // disk sync would) until the grace has ended, before the download's check can start its hash.
      controller.abort(new Error('cancelled by the test'));
      abortedAt = Date.now();
      while (Date.now() - abortedAt < HOLD_MS) {}
    };
    await expect(
      pull({ ...conn, ...RANGE, source: url, destination: dest, signal: controller.signal, onEvent }),
    ).rejects.toThrow('cancelled by the test');
    expect(abortedAt).toBeGreaterThan(0);
    // Ended after the hold and the saving, not after a hash of the whole file on a thread of its own.
    expect(Date.now() - abortedAt).toBeLessThan(HOLD_MS + 3000);
    expect(existsSync(path.join(dest, 'big.bin'))).toBe(false);
    const again = await pull({ ...conn, ...RANGE, source: url, destination: dest });
    expect(again).toMatchObject({ outcome: 'ok', downloaded: 1 });
    expect(md5Hex(readFileSync(path.join(dest, 'big.bin')))).toBe(md5Hex(readFileSync(file)));
  }, 120_000);
});
