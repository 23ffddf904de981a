/**
 * Progress that tells the truth, on real servers: the `bytes` events of a run add up to the plan's
 * bytes, each byte once however often a request is retried; bytes a resumed multipart upload finds on
 * the server count as done, not as transferred; local hashing reports its progress; and on a terminal
 * the bar shows the hashing and ends at 100%.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syncBuckets } from '../../src/index.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { pull } from '../../src/sync/pull.js';
import { push } from '../../src/sync/push.js';
import {
  bigFile,
  cleanup,
  connFor,
  MiB,
  newBucket,
  objectMd5,
  readManifest,
  runCliInTerminal,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';
import { type FaultKind, type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const PART = 5 * MiB;
/** Six parts, the last one short. */
const BIG = 5 * PART + 1234;
const MULTIPART = { multipartThreshold: 8 * MiB, partSize: PART };
const md5File = (p: string) => createHash('md5').update(readFileSync(p)).digest('hex');

const dirs: string[] = [];
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  cleanup(...dirs);
});
const newDir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d;
};

/** Records a run's events and sums its progress. */
function recorder() {
  const events: SyncEvent[] = [];
  const bytes = () => events.filter((e) => e.type === 'bytes');
  const sum = (f: (e: Extract<SyncEvent, { type: 'bytes' }>) => boolean) =>
    bytes()
      .filter(f)
      .reduce((n, e) => n + e.bytes, 0);
  return {
    events,
    onEvent: (e: SyncEvent) => void events.push(e),
    done: () => sum(() => true),
    sent: () => sum((e) => !e.resumed),
    resumed: () => sum((e) => e.resumed === true),
    plan: () => events.find((e) => e.type === 'plan') as Extract<SyncEvent, { type: 'plan' }> | undefined,
    hashing: () => events.filter((e) => e.type === 'hashing'),
  };
}

/** Faults each request `pick` selects, on its first attempt only: the retry goes through. */
async function firstAttemptProxy(
  target: string,
  kind: FaultKind,
  pick: (r: { method: string; url: string }) => boolean,
): Promise<FaultProxy> {
  const seen = new Set<string>();
  const p = await startFaultProxy({
    target,
    seed: 5,
    rate: 1,
    kinds: [kind],
    filter: (r) => {
      if (!pick(r) || seen.has(r.url)) return false;
      seen.add(r.url);
      return true;
    },
  });
  proxies.push(p);
  return p;
}

const isPart = (r: { method: string; url: string }) => r.method === 'PUT' && r.url.includes('uploadId=');
const isPutObject = (r: { method: string; url: string }) =>
  r.method === 'PUT' && r.url.includes('x-id=PutObject');

describe.each(servers())('progress on $name', (server) => {
  it("the plan event's total counts the files decided on, deletions apart, in push, pull and S3 → S3", async () => {
    const { bucket } = await newBucket(server, 'plan-total');
    const src = newDir('plan-total-src');
    writeTree(src, { 'a.txt': 'a', 'b.txt': 'bb', 'c.txt': 'ccc' });
    const first = recorder();
    await push({ ...connFor(server), source: src, destination: `s3://${bucket}/p`, onEvent: first.onEvent });
    expect(first.plan()).toEqual({ type: 'plan', total: 3, transfers: 3, bytes: 6, deletes: 0 });
    // A local file with no object: pull --delete deletes it; it is no file the pull decided on.
    const dst = newDir('plan-total-dst');
    writeTree(dst, { 'gone.txt': 'x' });
    const pulled = recorder();
    await pull({
      ...connFor(server),
      source: `s3://${bucket}/p`,
      destination: dst,
      delete: true,
      maxDelete: '100%',
      onEvent: pulled.onEvent,
    });
    // Before, pull's total was 4: its actions, the deletion too.
    expect(pulled.plan()).toEqual({ type: 'plan', total: 3, transfers: 3, bytes: 6, deletes: 1 });
    rmSync(path.join(src, 'c.txt'));
    const pushed = recorder();
    await push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/p`,
      delete: true,
      onEvent: pushed.onEvent,
    });
    expect(pushed.plan()).toEqual({ type: 'plan', total: 2, transfers: 0, bytes: 0, deletes: 1 });
    const other = await newBucket(server, 'plan-total-to');
    await push({
      ...connFor(server),
      source: dst,
      destination: `s3://${other.bucket}/q`,
      onEvent: recorder().onEvent,
    });
    const synced = recorder();
    await syncBuckets({
      ...connFor(server),
      source: `s3://${bucket}/p`,
      destination: `s3://${other.bucket}/q`,
      delete: true,
      onEvent: synced.onEvent,
    });
    // a.txt and b.txt the same, c.txt gone from the source: two decided on, one deletion.
    expect(synced.plan()).toEqual({ type: 'plan', total: 2, transfers: 0, bytes: 0, deletes: 1 });
  });

  it('a push cancelled mid-multipart, then resumed: done = total, transferred = total - resumed', async () => {
    const src = newDir('resume');
    bigFile(path.join(src, 'big.bin'), BIG);
    writeTree(src, { 'small.txt': 'sent in the second run\n' });
    const { bucket, transport } = await newBucket(server, 'progress-resume');
    const opts = {
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/r`,
      workers: 1,
      ...MULTIPART,
    };

    // One request at a time: cancelled while part 3 is on its way, parts 1 and 2 done.
    const first = recorder();
    const cancel = new AbortController();
    await expect(
      push({
        ...opts,
        signal: cancel.signal,
        onEvent: (e) => {
          first.onEvent(e);
          if (e.type === 'bytes' && first.done() >= 2.5 * PART) cancel.abort();
        },
      }),
    ).rejects.toBeDefined();
    expect(first.done()).toBeGreaterThanOrEqual(2.5 * PART);
    expect(first.done()).toBeLessThan(BIG);
    const pending = readManifest(src)!.pending['big.bin']!;
    const kept = Object.keys(pending.parts).length;
    expect(kept).toBeGreaterThanOrEqual(1);
    expect(kept).toBeLessThan(6);

    const second = recorder();
    const r = await push({ ...opts, onEvent: second.onEvent });
    expect(r).toMatchObject({ uploaded: 2, failed: 0, outcome: 'ok' });
    const total = BIG + 'sent in the second run\n'.length;
    expect(second.plan()!.bytes).toBe(total);
    // The bar ends at 100%: every byte done, the resumed parts among them ...
    expect(second.done()).toBe(total);
    expect(second.resumed()).toBe(kept * PART);
    // ... and only the rest counted as transferred, by the events and by the summary.
    expect(second.sent()).toBe(total - kept * PART);
    expect(r.bytesTransferred).toBe(total - kept * PART);
    expect(r.requests.UploadPart).toBe(6 - kept);
    // Never past 100% on the way.
    let running = 0;
    for (const e of second.events) {
      if (e.type !== 'bytes') continue;
      running += e.bytes;
      expect(running).toBeLessThanOrEqual(total);
    }
    expect(await objectMd5(transport, 'r/big.bin')).toBe(md5File(path.join(src, 'big.bin')));
  });

  // Each request's first attempt fails after some or all of its body went: a part (or a streamed
  // PUT) is sent again, and counted once.
  // Files under the streamed threshold are read into memory and sent from there: their bytes too are
  // counted as they go, not all at the end (3 MiB: over SLICED_BODY_MIN and out of the direct path).
  it.each([
    ['under --bwlimit', { bwlimit: '2MiB' }],
    ['without a limit', {}],
  ])('a file sent from memory reports its bytes as they are sent, %s', async (_label, limit) => {
    const size = 3 * MiB + 5;
    const src = newDir('memory-bytes');
    bigFile(path.join(src, 'mem.bin'), size);
    const { bucket, transport } = await newBucket(server, 'memory-bytes');
    const rec = recorder();
    const r = await push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/m`,
      ...limit,
      onEvent: rec.onEvent,
    });
    expect(r).toMatchObject({ uploaded: 1, failed: 0, outcome: 'ok' });
    const moving = rec.events.filter((e) => e.type === 'bytes');
    // One event a MiB, and the rest at the end: not one event with the whole file.
    expect(moving.map((e) => e.bytes)).toEqual([MiB, MiB, MiB, 5]);
    expect(rec.done()).toBe(size);
    expect(await objectMd5(transport, 'm/mem.bin')).toBe(md5File(path.join(src, 'mem.bin')));
  });

  it.each<[FaultKind, string]>([
    ['reset-request', 'the connection dropped after the first chunk of the body'],
    ['reset-response', 'the server stored the body, its answer was lost'],
    ['status-500', 'the server answered 500'],
  ])('retried uploads are counted once: %s (%s)', async (kind) => {
    const src = newDir(`retry-${kind}`);
    bigFile(path.join(src, 'big.bin'), BIG);
    bigFile(path.join(src, 'mid.bin'), 6 * MiB + 7);
    writeTree(src, { 'small.txt': 'small\n' });
    const { bucket, transport } = await newBucket(server, `progress-${kind}`);
    const proxy = await firstAttemptProxy(server.endpoint, kind, (r) => isPart(r) || isPutObject(r));
    const rec = recorder();
    const r = await push({
      ...connFor(server),
      endpointUrl: proxy.endpoint,
      source: src,
      destination: `s3://${bucket}/f`,
      ...MULTIPART,
      onEvent: rec.onEvent,
    });
    expect(r).toMatchObject({ uploaded: 3, failed: 0, outcome: 'ok' });
    expect(proxy.stats.faults[kind]).toBeGreaterThanOrEqual(6);
    const total = BIG + 6 * MiB + 7 + 'small\n'.length;
    expect(rec.plan()!.bytes).toBe(total);
    expect(rec.done()).toBe(total);
    expect(rec.sent()).toBe(total);
    expect(rec.resumed()).toBe(0);
    expect(r.bytesTransferred).toBe(total);
    expect(rec.events.filter((e) => e.type === 'bytes').every((e) => e.bytes > 0)).toBe(true);
    expect(await objectMd5(transport, 'f/big.bin')).toBe(md5File(path.join(src, 'big.bin')));
  });

  it.each([
    ['a streamed PUT', 9 * MiB + 7],
    ['a multipart upload', BIG],
  ])('%s abandoned because its file changed is taken back, and its retry counted once', async (_n, size) => {
    const src = newDir('changed');
    const abs = path.join(src, 'moving.bin');
    bigFile(abs, size);
    writeTree(src, { 'steady.txt': 'steady\n' });
    const { bucket, transport } = await newBucket(server, 'progress-changed');
    const rec = recorder();
    let current = '';
    let changed = false;
    const r = await push({
      ...connFor(server),
      source: src,
      destination: `s3://${bucket}/c`,
      workers: 1,
      multipartThreshold: 12 * MiB,
      partSize: PART,
      onEvent: (e) => {
        rec.onEvent(e);
        if (e.type === 'start') current = e.rel;
        // Mid-body: the read sees the change when its range ends, and the upload is abandoned.
        if (e.type === 'bytes' && current === 'moving.bin' && !changed && rec.done() >= 2 * MiB) {
          changed = true;
          appendFileSync(abs, 'grown');
        }
      },
    });
    expect(changed).toBe(true);
    expect(r).toMatchObject({ uploaded: 2, failed: 0, outcome: 'ok' });
    const taken = rec.events.filter((e) => e.type === 'bytes' && e.bytes < 0);
    expect(taken.length).toBeGreaterThanOrEqual(1);
    // The plan's sizes were the old ones: the retry sent the file as it is now, every byte once.
    const now = size + 'grown'.length + 'steady\n'.length;
    expect(rec.done()).toBe(now);
    expect(rec.sent()).toBe(now);
    expect(r.bytesTransferred).toBe(now);
    expect(await objectMd5(transport, 'c/moving.bin')).toBe(md5File(abs));
  });

  it('a rebuild hashes a large file with progress, then records it: no transfer', async () => {
    const src = newDir('rebuild');
    const size = 40 * MiB + 3;
    bigFile(path.join(src, 'big.bin'), size);
    const { bucket } = await newBucket(server, 'progress-rebuild');
    const opts = { ...connFor(server), source: src, destination: `s3://${bucket}/h`, ...MULTIPART };
    expect(await push(opts)).toMatchObject({ uploaded: 1, outcome: 'ok' });
    rmSync(path.join(src, '.s3sync'), { recursive: true });

    const rec = recorder();
    const r = await push({ ...opts, onEvent: rec.onEvent });
    expect(r).toMatchObject({ uploaded: 0, recorded: 1, bytesTransferred: 0, outcome: 'ok' });
    const hashing = rec.hashing();
    // Under way (16 MiB steps) before it is done, and done last. A multipart ETag whose part size is
    // ambiguous (Ceph's) has the file read a second time for the other candidate: that shows too.
    expect(hashing.filter((e) => e.bytes < e.totalBytes).length).toBeGreaterThanOrEqual(2);
    const last = hashing.at(-1)!;
    expect(last).toMatchObject({ bytes: last.totalBytes, files: last.totalFiles });
    expect([size, 2 * size]).toContain(last.totalBytes);
    expect(last.totalFiles).toBe(last.totalBytes / size);
    // All of it before the plan: the plan needed the hash.
    const planAt = rec.events.findIndex((e) => e.type === 'plan');
    const lastHashing =
      rec.events.length - 1 - [...rec.events].reverse().findIndex((e) => e.type === 'hashing');
    expect(lastHashing).toBeLessThan(planAt);
    expect(rec.done()).toBe(0);
  });

  it.each<[FaultKind, string]>([
    ['truncate-body', 'a range cut short'],
    ['reset-response', 'a range dropped half-way'],
    ['flip-body', 'a damaged range: the whole object is fetched again after its check'],
  ])('a ranged pull counts each byte once: %s (%s)', async (kind) => {
    const src = newDir(`pullsrc-${kind}`);
    bigFile(path.join(src, 'big.bin'), BIG);
    bigFile(path.join(src, 'mid.bin'), 3 * MiB + 5);
    const { bucket } = await newBucket(server, `progress-pull-${kind.slice(0, 8)}`);
    expect(
      await push({ ...connFor(server), source: src, destination: `s3://${bucket}/p`, ...MULTIPART }),
    ).toMatchObject({ uploaded: 2, outcome: 'ok' });
    // Ranges of one object share a URL: every other GET is damaged, six in all.
    let gets = 0;
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 8,
      rate: 1,
      kinds: [kind],
      filter: ({ method, url }) =>
        method === 'GET' && url.includes('x-id=GetObject') && gets++ % 2 === 0 && gets <= 12,
    });
    proxies.push(proxy);
    const dst = newDir(`pulldst-${kind}`);
    const rec = recorder();
    const r = await pull({
      ...connFor(server),
      endpointUrl: proxy.endpoint,
      source: `s3://${bucket}/p`,
      destination: dst,
      ...MULTIPART,
      onEvent: rec.onEvent,
    });
    expect(r).toMatchObject({ downloaded: 2, failed: 0, outcome: 'ok' });
    expect(proxy.stats.faults[kind]).toBeGreaterThanOrEqual(2);
    const total = BIG + 3 * MiB + 5;
    expect(rec.plan()!.bytes).toBe(total);
    expect(rec.done()).toBe(total);
    expect(rec.sent()).toBe(total);
    expect(r.bytesTransferred).toBe(total);
    for (const f of ['big.bin', 'mid.bin'])
      expect(md5File(path.join(dst, f))).toBe(md5File(path.join(src, f)));
  });
});

/** `script` gives the CLI a terminal (util-linux, on every Debian); the run's raw output comes back. */
const hasScript = spawnSync('script', ['--version']).status === 0;

/** The lines the terminal shows at the end, with the bar's redraws applied (\r and erase-line). */
function screen(raw: string): string[] {
  const plain = raw.replace(/\u001b\[\?25[lh]|\u001b\[\?7[lh]|\u001b[78]/g, '');
  return plain
    .split(/\r?\n/)
    .map((line) => {
      // Each redraw starts with a cursor move to column 1 (ESC[1G or \r) and ends with erase-right.
      const parts = line.split(/\u001b\[1G|\r|\u001b\[0?K|\u001b\[2K/);
      return parts.filter((p) => p !== '').at(-1) ?? '';
    })
    .filter((l) => l.trim() !== '');
}

const lastBar = (lines: string[]) => [...lines].reverse().find((l) => l.includes('|')) ?? '';

describe.runIf(hasScript).each(servers().slice(0, 1))('the bar on a terminal ($name)', (server) => {
  const inTerminal = (args: string[]) => runCliInTerminal(args, server);

  it('shows the hashing of a large file, then the upload, and ends at 100%; a rebuild shows hashing', async () => {
    const src = newDir('tty');
    const size = 64 * MiB;
    bigFile(path.join(src, 'big.bin'), size);
    const { bucket } = await newBucket(server, 'progress-tty');
    const args = ['push', src, `s3://${bucket}/t`, '--multipart-threshold', '8MiB', '--part-size', '8MiB'];

    const first = inTerminal(args);
    // The hashing the upload needs first (Content-MD5 of each part) is shown while it lasts.
    expect(first).toMatch(/ hashing \d\/1 files \| |\| hashing \d+%/);
    const end = screen(first);
    const bar = lastBar(end);
    expect(bar).toMatch(/^ \u2588+ 100% \| 1\/1 files \| 64\.0 MiB of 64\.0 MiB \| .* \| 0s left$/);
    expect(end.at(-2)).toMatch(/^1 files: 0 unchanged, 1 uploaded/);

    // Without its manifest: hashed again, found on the server, recorded.
    rmSync(path.join(src, '.s3sync'), { recursive: true });
    const again = screen(inTerminal(args));
    expect(lastBar(again)).toMatch(
      /^ \u2588+ 100% \| hashing 1\/1 files \| 64\.0 MiB of 64\.0 MiB \| .* \| 0s left$/,
    );
    expect(again.at(-2)).toMatch(/^1 files: 0 unchanged, 0 uploaded, 1 recorded/);
  });
});
