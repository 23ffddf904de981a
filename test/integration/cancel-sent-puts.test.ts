/**
 * A push cancelled while PUTs whose bodies were all sent wait for their answers (held by a proxy after
 * the server stored them): the first signal, or the library's AbortSignal, lets those answers come for
 * a short grace, so the summary and the manifest say exactly what the bucket holds and the next run
 * neither sends nor lists its way to them again. An answer that does not come within the grace leaves
 * its object unrecorded, never recorded unseen; a second signal ends the run at once.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { push, type SyncEvent, type SyncResult } from 's3sync';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bigFile,
  connFor,
  doneOf,
  killLeftRuns,
  type LiveRun,
  MiB,
  newBucket,
  readManifest,
  runLive,
  seededTree,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  waitFor,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const runs: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(runs);
  for (const p of proxies) await p.close();
  removeAll();
});

/** Files pushed, and the PUTs in flight at once (--workers): each stored, its answer held, when cancelled. */
const N = 6;
const WORKERS = 2;
/** Well within the grace a cancelled run gives a PUT whose body is sent (CANCEL_GRACE_MS). */
const RELEASE_AFTER_MS = 400;

describe.each(servers())('a push cancelled with PUTs sent on $name', (server) => {
  /** A bucket, a tree, and a proxy that holds the answer of every PUT (the server has stored it) until released. */
  async function heldPuts(label: string, seed: number) {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    const files = seededTree(src, N, seed);
    let stored = 0;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      holdAnswer: ({ method }) => {
        if (method !== 'PUT') return undefined;
        stored++;
        return released;
      },
    });
    proxies.push(proxy);
    const url = `s3://${bucket}/held`;
    const args = ['push', src, url, '--endpoint-url', proxy.endpoint, '--workers', `${WORKERS}`, '--json'];
    const inBucket = async () => [...(await transport.list('held/')).keys()].sort();
    return { bucket, transport, src, files, url, args, proxy, stored: () => stored, release, inBucket };
  }

  /** The manifest and the summary say what the bucket holds; the next run sends the rest, lists nothing again. */
  async function matchesBucket(h: Awaited<ReturnType<typeof heldPuts>>, summary: SyncResult) {
    const objects = await h.inBucket();
    const listed = await h.transport.list('held/');
    const m = readManifest(h.src)!;
    expect([...m.files.keys()].sort()).toEqual(objects);
    for (const rel of objects) expect(m.files.get(rel)!.etag, rel).toBe(listed.get(rel)!.etag);
    expect(summary).toMatchObject({ cancelled: true, failed: 0, uploaded: objects.length });
    return objects;
  }

  async function nextRun(h: Awaited<ReturnType<typeof heldPuts>>, objects: string[]) {
    const next = await runLive(h.args, server);
    expect(next.code, next.stderr()).toBe(0);
    const s2 = summaryOf(next.events)!;
    const rest = h.files.filter((rel) => !objects.includes(rel));
    // Recorded by the cancelled run: unchanged now, neither uploaded nor recorded from a listing.
    expect(s2).toMatchObject({ unchanged: objects.length, uploaded: rest.length, recorded: 0, failed: 0 });
    expect(doneOf(next.events, 'upload').sort()).toEqual([...rest].sort());
    expect(s2.requests.PutObject ?? 0).toBe(rest.length);
  }

  it('SIGINT: the PUTs the server stored finish within the grace, are counted and recorded; exit 130', async () => {
    const h = await heldPuts('held-sigint', 71);
    const run = spawnCli(h.args, server);
    runs.push(run);
    expect(await waitFor(() => h.stored() >= WORKERS, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    await sleep(RELEASE_AFTER_MS);
    h.release();
    const { code, signal } = await run.exited;
    expect(signal).toBeNull();
    expect(code, run.stderr()).toBe(130);
    const summary = summaryOf(run.events)!;
    const objects = await matchesBucket(h, summary);
    expect(objects).toHaveLength(WORKERS);
    expect(doneOf(run.events, 'upload').sort()).toEqual(objects);
    await nextRun(h, objects);
  });

  it("the library's AbortSignal: the same, and the call rejects with the signal's reason", async () => {
    const h = await heldPuts('held-lib', 72);
    const controller = new AbortController();
    const events: SyncEvent[] = [];
    const reason = new Error('stopped by the caller');
    const call = push({
      ...connFor(server),
      endpointUrl: h.proxy.endpoint,
      source: h.src,
      destination: h.url,
      workers: WORKERS,
      signal: controller.signal,
      onEvent: (e) => events.push(e),
    });
    const settled = call.then(
      () => undefined,
      (err: unknown) => err,
    );
    const deadline = Date.now() + 60_000;
    while (h.stored() < WORKERS && Date.now() < deadline) await sleep(10);
    expect(h.stored()).toBeGreaterThanOrEqual(WORKERS);
    controller.abort(reason);
    await sleep(RELEASE_AFTER_MS);
    h.release();
    expect(await settled).toBe(reason);
    const summary = events.find((e) => e.type === 'summary') as SyncResult & { type: 'summary' };
    const objects = await matchesBucket(h, summary);
    expect(objects).toHaveLength(WORKERS);
    await nextRun(h, objects);
  });

  it('a part whose body was sent: recorded in the upload kept, and the next run sends only the rest', async () => {
    const { bucket } = await newBucket(server, 'held-parts');
    const src = dir('held-parts-src');
    const PART = 5 * MiB;
    const PARTS = 3;
    bigFile(path.join(src, 'big.bin'), PARTS * PART);
    let stored = 0;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      holdAnswer: ({ method, url }) => {
        if (method !== 'PUT' || !url.includes('partNumber=')) return undefined;
        stored++;
        return released;
      },
    });
    proxies.push(proxy);
    const args = [
      'push',
      src,
      `s3://${bucket}/parts`,
      '--endpoint-url',
      proxy.endpoint,
      '--workers',
      `${WORKERS}`,
      '--multipart-threshold',
      `${PART}`,
      '--part-size',
      `${PART}`,
      '--json',
    ];
    const run = spawnCli(args, server);
    runs.push(run);
    expect(await waitFor(() => stored >= WORKERS, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    await sleep(RELEASE_AFTER_MS);
    release();
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(130);
    expect(Object.keys(readManifest(src)!.pending['big.bin']!.parts)).toHaveLength(WORKERS);
    const next = await runLive(args, server);
    expect(next.code, next.stderr()).toBe(0);
    expect(summaryOf(next.events)!.requests).toMatchObject({ UploadPart: PARTS - WORKERS });
    expect(summaryOf(next.events)!.requests.CreateMultipartUpload ?? 0).toBe(0);
  });

  it('an answer that does not come within the grace: the run ends, its object not recorded; exit 143', async () => {
    const h = await heldPuts('held-grace', 73);
    const run = spawnCli(h.args, server);
    runs.push(run);
    expect(await waitFor(() => h.stored() >= WORKERS, run), run.stderr()).toBe(true);
    const at = Date.now();
    run.child.kill('SIGTERM');
    const { code, signal } = await run.exited;
    const took = Date.now() - at;
    h.release();
    expect(signal).toBeNull();
    expect(code, run.stderr()).toBe(143);
    // Bounded by the grace, as a hash's is: a stop never waits for an answer that does not come.
    expect(took).toBeLessThan(15_000);
    // Stored, but unseen: nothing is recorded nor counted of it (the next run's listing finds it).
    expect(await h.inBucket()).toHaveLength(WORKERS);
    expect(summaryOf(run.events)).toMatchObject({ cancelled: true, uploaded: 0, failed: 0 });
    expect([...(readManifest(h.src)?.files.keys() ?? [])]).toEqual([]);
  });

  it('a second signal ends the run at once, without waiting out the grace', async () => {
    const h = await heldPuts('held-twice', 74);
    const run = spawnCli(h.args, server);
    runs.push(run);
    expect(await waitFor(() => h.stored() >= WORKERS, run), run.stderr()).toBe(true);
    run.child.kill('SIGINT');
    expect(
      await run.until(
        (e) =>
          e.type === 'notice' && String((e as { message?: string }).message).startsWith('SIGINT: stopping'),
      ),
    ).toBe(true);
    const at = Date.now();
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    const took = Date.now() - at;
    h.release();
    expect(signal).toBeNull();
    expect(code).toBe(130);
    // Not after the grace the held PUTs would otherwise get: a run that waited it out ends with its
    // summary (as above), and the answers never come before the exit. The bound only catches a hang.
    expect(summaryOf(run.events)).toBeUndefined();
    expect(took).toBeLessThan(15_000);
  });
});
