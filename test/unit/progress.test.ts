import { describe, expect, it } from 'vitest';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  HASHING_EVENT_BYTES,
  HASHING_EVENT_MS,
  HashProgress,
  TransferProgress,
} from '../../src/sync/progress.js';
import { MiB } from '../helpers.js';

type Bytes = Extract<SyncEvent, { type: 'bytes' }>;
type Hashing = Extract<SyncEvent, { type: 'hashing' }>;

function transfer(size: number) {
  const events: Bytes[] = [];
  const p = new TransferProgress(size, (e) => events.push(e));
  const sum = (f: (e: Bytes) => boolean = () => true) => events.filter(f).reduce((n, e) => n + e.bytes, 0);
  return {
    p,
    events,
    done: () => sum(),
    sent: () => sum((e) => !e.resumed),
    resumed: () => sum((e) => e.resumed === true),
  };
}

/** Feeds `bytes` to a tap in chunks of `chunk`. */
function send(tap: (n: number) => void, bytes: number, chunk = 256 * 1024) {
  for (let left = bytes; left > 0; left -= chunk) tap(Math.min(chunk, left));
}

describe('TransferProgress: each byte counted once', () => {
  it('reports a body as it goes, in steps of about 1 MiB, and adds up to the size', () => {
    const t = transfer(10 * MiB + 5);
    send(t.p.attempt(0, 10 * MiB + 5), 10 * MiB + 5);
    t.p.finish();
    expect(t.done()).toBe(10 * MiB + 5);
    expect(t.events.length).toBeGreaterThanOrEqual(10);
    expect(t.events.length).toBeLessThanOrEqual(11);
    expect(t.events.every((e) => e.bytes > 0 && !e.resumed)).toBe(true);
  });

  it.each([
    ['fails half-way, then succeeds', [0.5, 1]],
    ['fails at the very end, then succeeds', [1, 1]],
    ['fails three times at different points', [0.3, 0.9, 0.1, 1]],
    ['fails before its first byte', [0, 1]],
  ])('a part retried by the transport (%s) is counted once', (_name, attempts) => {
    const part = 5 * MiB;
    const t = transfer(3 * part);
    // Parts 1 and 3 go through at once; part 2 is retried.
    send(t.p.attempt(1, part), part);
    const seen: number[] = [];
    for (const reach of attempts) {
      send(t.p.attempt(2, part), Math.round(reach * part), 64 * 1024);
      seen.push(t.done());
    }
    send(t.p.attempt(3, part), part);
    t.p.finish();
    expect(t.done()).toBe(3 * part);
    expect(t.sent()).toBe(3 * part);
    // Never backwards, never past what was really reached.
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(seen.at(-1)).toBe(2 * part);
  });

  it('parts in flight side by side, interleaved chunk by chunk, add up exactly', () => {
    const part = 3 * MiB + 7;
    const size = 4 * part - 100;
    const t = transfer(size);
    const taps = [1, 2, 3, 4].map((n) => ({ tap: t.p.attempt(n, n < 4 ? part : part - 100), left: 0 }));
    taps.forEach((x, i) => {
      x.left = i < 3 ? part : part - 100;
    });
    while (taps.some((x) => x.left > 0))
      for (const x of taps) {
        const n = Math.min(100_000, x.left);
        if (n > 0) x.tap(n);
        x.left -= n;
      }
    t.p.finish();
    expect(t.done()).toBe(size);
  });

  it.each([
    [1, 6],
    [2, 6],
    [5, 6],
    [6, 6],
  ])('resumed with %i of %i parts on the server: done at 100%%, sent only the rest', (have, parts) => {
    const part = 5 * MiB;
    const size = parts * part - 1234;
    const partBytes = (n: number) => Math.min(size, n * part) - (n - 1) * part;
    const t = transfer(size);
    let resumed = 0;
    for (let n = 1; n <= have; n++) resumed += partBytes(n);
    t.p.resumed(resumed);
    for (let n = have + 1; n <= parts; n++) send(t.p.attempt(n, partBytes(n)), partBytes(n));
    t.p.finish();
    expect(t.done()).toBe(size);
    expect(t.resumed()).toBe(resumed);
    expect(t.sent()).toBe(size - resumed);
    expect(t.p.resumedTotal).toBe(resumed);
  });

  it('a body sent from memory is reported whole when it is done', () => {
    const t = transfer(12345);
    t.p.finish();
    expect(t.events).toEqual([{ type: 'bytes', bytes: 12345 }]);
    t.p.finish();
    expect(t.events).toHaveLength(1);
  });

  it('an empty file reports nothing', () => {
    const t = transfer(0);
    t.p.finish();
    expect(t.events).toEqual([]);
  });

  it('never counts more than a piece holds (a body longer than asked for is retried)', () => {
    const t = transfer(8 * MiB);
    send(t.p.attempt(1, 4 * MiB), 5 * MiB);
    send(t.p.attempt(1, 4 * MiB), 4 * MiB);
    send(t.p.attempt(2, 4 * MiB), 4 * MiB);
    t.p.finish();
    expect(t.done()).toBe(8 * MiB);
  });

  it.each([
    ['after part of a body', () => 3 * MiB],
    ['after the whole body', () => 8 * MiB],
  ])('a failed upload takes back what it reported (%s), resumed bytes as resumed', (_n, reached) => {
    const t = transfer(8 * MiB);
    t.p.resumed(2 * MiB);
    send(t.p.attempt(2, 6 * MiB), reached() - 2 * MiB);
    t.p.fail();
    expect(t.done()).toBe(0);
    expect(t.sent()).toBe(0);
    expect(t.resumed()).toBe(0);
    expect(t.p.resumedTotal).toBe(0);
    // The next attempt, from scratch, is counted in full.
    send(t.p.attempt(0, 8 * MiB), 8 * MiB);
    t.p.finish();
    expect(t.done()).toBe(8 * MiB);
    expect(t.sent()).toBe(8 * MiB);
  });

  it('a failure before anything was reported says nothing', () => {
    const t = transfer(8 * MiB);
    send(t.p.attempt(0, 8 * MiB), 100);
    t.p.fail();
    expect(t.events).toEqual([]);
  });
});

function hashing(start = 0) {
  let now = start;
  const events: Hashing[] = [];
  const h = new HashProgress(
    (e) => events.push(e),
    () => now,
  );
  return {
    h,
    events,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

describe('HashProgress: throttled totals', () => {
  it('reports nothing for hashing that is over quickly (a few changed files)', () => {
    const x = hashing();
    for (let i = 0; i < 50; i++) {
      const j = x.h.job(4096);
      x.tick(0.5);
      j.read(4096);
      j.end();
    }
    expect(x.events).toEqual([]);
  });

  it('reports a long hash every HASHING_EVENT_MS, and its end', () => {
    const x = hashing();
    const size = 10 * MiB;
    const j = x.h.job(size);
    // 64 KiB every 10 ms: slower than HASHING_EVENT_BYTES per HASHING_EVENT_MS.
    for (let done = 0; done < size; done += 64 * 1024) {
      x.tick(10);
      j.read(64 * 1024);
    }
    j.end();
    const n = Math.floor((size / (64 * 1024)) * 10) / HASHING_EVENT_MS;
    expect(x.events.length).toBeGreaterThanOrEqual(n - 1);
    expect(x.events.length).toBeLessThanOrEqual(n + 1);
    expect(x.events.at(-1)).toEqual({
      type: 'hashing',
      bytes: size,
      totalBytes: size,
      files: 1,
      totalFiles: 1,
    });
    const bytes = x.events.map((e) => e.bytes);
    expect([...bytes].sort((a, b) => a - b)).toEqual(bytes);
  });

  it('reports a fast hash every HASHING_EVENT_BYTES, not per chunk', () => {
    const x = hashing();
    const size = 12 * HASHING_EVENT_BYTES + 5 * MiB;
    const j = x.h.job(size);
    for (let done = 0; done < size; done += 64 * 1024) j.read(64 * 1024);
    j.end();
    // One per HASHING_EVENT_BYTES, and the end.
    expect(x.events.length).toBe(13);
  });

  it('totals grow as files are queued, and files count as they end', () => {
    const x = hashing();
    const a = x.h.job(20 * MiB);
    a.read(17 * MiB);
    expect(x.events.at(-1)).toMatchObject({ bytes: 17 * MiB, totalBytes: 20 * MiB, files: 0, totalFiles: 1 });
    const b = x.h.job(30 * MiB);
    a.read(3 * MiB);
    a.end();
    x.tick(HASHING_EVENT_MS);
    b.read(MiB);
    expect(x.events.at(-1)).toMatchObject({ bytes: 21 * MiB, totalBytes: 50 * MiB, files: 1, totalFiles: 2 });
    b.read(29 * MiB);
    b.end();
    expect(x.events.at(-1)).toMatchObject({ bytes: 50 * MiB, totalBytes: 50 * MiB, files: 2, totalFiles: 2 });
  });

  it('a file that fails or ends early counts as done, and more bytes than its size are not counted', () => {
    const x = hashing();
    const a = x.h.job(40 * MiB);
    const b = x.h.job(40 * MiB);
    a.read(20 * MiB);
    a.end();
    b.read(60 * MiB);
    b.end();
    b.end();
    expect(x.events.at(-1)).toMatchObject({ bytes: 80 * MiB, totalBytes: 80 * MiB, files: 2, totalFiles: 2 });
  });

  it('a new spell after an idle time starts its own clock', () => {
    const x = hashing();
    const a = x.h.job(40 * MiB);
    a.read(40 * MiB);
    a.end();
    const before = x.events.length;
    expect(before).toBeGreaterThan(0);
    // Long idle (waiting for the next listing page), then a quick small file: nothing to report.
    x.tick(60_000);
    const b = x.h.job(100);
    x.tick(1);
    b.read(100);
    b.end();
    expect(x.events).toHaveLength(before);
  });
});
