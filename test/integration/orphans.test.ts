/**
 * No multipart upload is ever orphaned: kill -9 at each moment of a multipart push, then the next run
 * resumes the upload (same content: completed parts are not sent again) or aborts it (content changed,
 * file deleted, file now excluded); a CreateMultipartUpload whose answer is lost leaves no stray upload.
 *
 * s3rver has neither ListMultipartUploads, ListParts nor AbortMultipartUpload: there the tests check what
 * s3sync asks of the server (through the proxy's log) and its manifest; on Ceph RGW they also check the
 * server itself, where ListMultipartUploads under the prefix must be empty after every successful run.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PendingUpload } from '../../src/manifest/schema.js';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  bigFile,
  doneOf,
  kill9,
  killLeftRuns,
  type LiveRun,
  MiB,
  newBucket,
  objectMd5,
  readManifest,
  runLive,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  waitFor,
  writeTree,
} from '../helpers.js';
import {
  type FaultLogEntry,
  type FaultOptions,
  type FaultProxy,
  startFaultProxy,
} from '../servers/fault-proxy.js';

const PARTS = 4;
const SIZE = PARTS * 5 * MiB;
const MULTIPART = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
const children: LiveRun[] = [];
afterAll(async () => {
  killLeftRuns(children);
  for (const p of proxies) await p.close();
  removeAll();
});

type Req = Pick<FaultLogEntry, 'method' | 'url'>;
const isCreate = (e: Req) => e.method === 'POST' && /[?&]uploads(=|&|$)/.test(e.url);
const isPart = (e: Req) => e.method === 'PUT' && e.url.includes('uploadId=');
const isComplete = (e: Req) => e.method === 'POST' && e.url.includes('uploadId=');
const isAbortOf = (id: string) => (e: Req) =>
  e.method === 'DELETE' && e.url.includes(`uploadId=${encodeURIComponent(id)}`);

const md5File = (p: string) => createHash('md5').update(readFileSync(p)).digest('hex');
const pendingOf = (src: string): PendingUpload | undefined => readManifest(src)?.pending['big.bin'];
const noticeMatching = (r: LiveRun, re: RegExp) =>
  r.events.some((e) => e.type === 'notice' && re.test(String((e as { message?: string }).message)));

type Moment = 'after-create' | 'after-1-part' | 'after-2-parts' | 'during-complete';
type Next = 'resume' | 'changed' | 'deleted' | 'excluded' | 'shrunk';

/** Parts completed on the server when the kill lands. */
const partsDone: Record<Moment, number> = {
  'after-create': 0,
  'after-1-part': 1,
  'after-2-parts': 2,
  'during-complete': PARTS,
};

/**
 * Which requests the proxy holds back, and for how long, so the kill lands at the moment: a held
 * request is never forwarded once its client is dead. One worker: parts go one at a time, so the
 * arrival of part n+1 means part n was answered.
 */
const holds: Record<Moment, Pick<FaultOptions, 'filter' | 'delayMs'>> = {
  'after-create': { filter: isPart, delayMs: 5000 },
  'after-1-part': { filter: isPart, delayMs: 700 },
  'after-2-parts': { filter: isPart, delayMs: 700 },
  'during-complete': { filter: isComplete, delayMs: 5000 },
};

describe.each(servers())('no orphaned multipart upload on $name', (server) => {
  // s3rver implements none of the three calls that look at uploads in progress.
  const serverLists = server.quirks.hasListParts;
  const uploadsUnder = async (t: S3Transport, prefix: string) =>
    (await t.listMultipartUploads(prefix)).map((u) => u.uploadId);

  async function setup(label: string, proxyOpts: Partial<FaultOptions>) {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    bigFile(path.join(src, 'big.bin'), SIZE);
    writeTree(src, { 'small.txt': 'keeps the source from being empty' });
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 3, rate: 1, ...proxyOpts });
    proxies.push(proxy);
    const prefix = `${label}/`;
    const url = `s3://${bucket}/${label}`;
    const args = (...extra: string[]) => [
      'push',
      src,
      url,
      '--endpoint-url',
      proxy.endpoint,
      '--json',
      '--workers',
      '1',
      ...MULTIPART,
      ...extra,
    ];
    return { bucket, transport, src, proxy, prefix, url, args };
  }

  const cases: [Moment, Next][] = [
    ['after-create', 'resume'],
    ['after-create', 'deleted'],
    ['after-1-part', 'resume'],
    ['after-1-part', 'changed'],
    ['after-2-parts', 'resume'],
    ['after-2-parts', 'excluded'],
    ['after-2-parts', 'shrunk'],
    ['during-complete', 'resume'],
    ['during-complete', 'changed'],
  ];

  it.each(cases)('killed -9 %s, then the file is %s', async (moment, next) => {
    const { transport, src, proxy, prefix, args } = await setup(
      `k${moment.slice(0, 7)}-${next.slice(0, 3)}`,
      {
        kinds: ['delay'],
        ...holds[moment],
      },
    );
    const run = spawnCli(args(), server);
    children.push(run);
    const k = partsDone[moment];
    const reached = await waitFor(() => {
      // The first part on its way: CreateMultipartUpload was answered, well before any checkpoint.
      if (moment === 'after-create') return proxy.log.some(isPart);
      if (moment === 'during-complete') return proxy.log.some(isComplete);
      return proxy.log.filter(isPart).length > k;
    }, run);
    expect(reached, `the run ended before its kill point: ${run.stderr()}`).toBe(true);
    expect(await kill9(run)).toBe('SIGKILL');

    // The upload's id was on disk before its first part was sent, whatever the moment.
    const pending = pendingOf(src);
    expect(pending?.uploadId, 'pending record with the upload id').toBeTruthy();
    const id = pending!.uploadId;
    const recordedParts = Object.keys(pending!.parts).length;
    expect(proxy.log.filter(isCreate)).toHaveLength(1);
    for (const p of proxy.log.filter(isPart)) expect(p.url).toContain(`uploadId=${encodeURIComponent(id)}`);
    if (serverLists) {
      expect(await uploadsUnder(transport, prefix)).toEqual([id]);
      const parts = await transport.listParts({ key: `${prefix}big.bin`, uploadId: id });
      expect(parts instanceof Map ? parts.size : parts).toBe(k);
    }

    proxy.setRate(0);
    const before = proxy.log.length;
    let extra: string[] = [];
    if (next === 'changed') bigFile(path.join(src, 'big.bin'), SIZE);
    if (next === 'deleted') rmSync(path.join(src, 'big.bin'));
    if (next === 'excluded') extra = ['--exclude', 'big.bin'];
    // Below the multipart threshold now: sent in one PUT, and its multipart upload is of no use.
    if (next === 'shrunk') bigFile(path.join(src, 'big.bin'), 2 * MiB);
    const rerun = await runLive(args(...extra), server);
    children.push(rerun);
    expect(rerun.code, rerun.stderr() + rerun.stdout().slice(-2000)).toBe(0);
    const summary = summaryOf(rerun.events)!;
    const sent = proxy.log.slice(before);

    if (next === 'resume') {
      // Completed parts are not sent again: the server's list of them (Ceph), else the manifest's.
      expect(summary.requests.CreateMultipartUpload ?? 0).toBe(0);
      expect(summary.requests.UploadPart ?? 0).toBe(PARTS - (serverLists ? k : recordedParts));
      expect(sent.filter(isAbortOf(id))).toEqual([]);
      // Said only when a part is kept: with none, the upload's id is taken up and every part sent.
      const kept = serverLists ? k : recordedParts;
      expect(noticeMatching(rerun, /resuming multipart upload/)).toBe(kept > 0);
    } else {
      // The upload the kill left is aborted by this run, whether or not the file is uploaded in it.
      expect(sent.filter(isAbortOf(id))).toHaveLength(1);
      expect(summary.requests.CreateMultipartUpload ?? 0).toBe(next === 'changed' ? 1 : 0);
    }
    const m = readManifest(src)!;
    expect(m.pending).toEqual({});
    if (next !== 'deleted' && next !== 'excluded') {
      const md5 = md5File(path.join(src, 'big.bin'));
      expect(m.files.get('big.bin')?.md5).toBe(md5);
      expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5);
    } else {
      expect(m.files.has('big.bin')).toBe(false);
    }
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
    // Settled: the next run has nothing left to do about it.
    const third = await runLive(args(...extra), server);
    expect(third.code).toBe(0);
    expect(summaryOf(third.events)!.requestsTotal).toBe(0);
  });

  /** Resets the answer of the first `lost` CreateMultipartUpload requests, after the server acted on them. */
  const losing = (lost: number): Partial<FaultOptions> => {
    let seen = 0;
    return { kinds: ['reset-response'], filter: (e) => isCreate(e) && seen++ < lost };
  };

  it.each([1, 2])(
    '%i lost CreateMultipartUpload answer(s): the run succeeds and leaves no stray',
    async (lost) => {
      const { transport, src, proxy, prefix, args } = await setup(`lost${lost}`, losing(lost));
      const r = await runLive(args(), server);
      expect(r.code, r.stderr() + r.stdout().slice(-2000)).toBe(0);
      expect(proxy.log.filter(isCreate)).toHaveLength(lost + 1);
      expect(proxy.stats.faults['reset-response']).toBe(lost);
      expect(readManifest(src)!.pending).toEqual({});
      expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5File(path.join(src, 'big.bin')));
      if (serverLists) {
        expect(await uploadsUnder(transport, prefix)).toEqual([]);
        expect(noticeMatching(r, /aborted multipart upload .* left at .*big\.bin/)).toBe(true);
      } else {
        expect(noticeMatching(r, /cannot list multipart uploads/)).toBe(true);
      }
    },
  );

  it('a lost answer with --retries 0: the file fails, and the stray is aborted by that same run', async () => {
    const { transport, src, proxy, prefix, args } = await setup('lostnoretry', losing(1));
    const r = await runLive(args('--retries', '0'), server);
    expect(r.code).toBe(1);
    expect(r.events.filter((e) => e.type === 'error').map((e) => (e as { rel?: string }).rel)).toEqual([
      'big.bin',
    ]);
    expect(proxy.log.filter(isCreate)).toHaveLength(1);
    expect(readManifest(src)!.pending).toEqual({});
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
    const again = await runLive(args(), server);
    expect(again.code, again.stderr()).toBe(0);
    expect(summaryOf(again.events)).toMatchObject({ uploaded: 1, failed: 0 });
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });

  it('killed -9 while CreateMultipartUpload answers are being lost: the next run aborts the strays', async () => {
    const { transport, src, proxy, prefix, args } = await setup('lostkill', {
      kinds: ['reset-response'],
      filter: isCreate,
    });
    const run = spawnCli(args('--retries', '10'), server);
    children.push(run);
    // Two requests sent, at least the first acted on by the server; no answer ever reached s3sync.
    expect(await waitFor(() => proxy.log.filter(isCreate).length >= 2, run)).toBe(true);
    expect(await kill9(run)).toBe('SIGKILL');
    const pending = pendingOf(src);
    expect(pending).toMatchObject({ uploadId: '', key: `${prefix}big.bin` });
    expect(pending!.create?.sentAt).toBeTypeOf('number');
    if (serverLists) expect((await uploadsUnder(transport, prefix)).length).toBeGreaterThanOrEqual(1);

    proxy.setRate(0);
    const rerun = await runLive(args(), server);
    expect(rerun.code, rerun.stderr() + rerun.stdout().slice(-2000)).toBe(0);
    expect(doneOf(rerun.events, 'upload')).toContain('big.bin');
    expect(summaryOf(rerun.events)!.failed).toBe(0);
    expect(readManifest(src)!.pending).toEqual({});
    expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5File(path.join(src, 'big.bin')));
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });

  it('a push of several multipart files through 15% faults of every kind leaves no upload behind', async () => {
    const { bucket, transport } = await newBucket(server, 'mpfaults');
    const src = dir('mpfaults-src');
    for (let i = 0; i < 5; i++) bigFile(path.join(src, `big${i}.bin`), 10 * MiB + i * 1000);
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 15, rate: 0.15 });
    proxies.push(proxy);
    const url = `s3://${bucket}/f`;
    const r = await runLive(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', '--retries', '10', ...MULTIPART],
      server,
    );
    expect(r.code, r.stderr() + r.stdout().slice(-2000)).toBe(0);
    expect(Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(readManifest(src)!.pending).toEqual({});
    if (serverLists) expect(await uploadsUnder(transport, 'f/')).toEqual([]);
    for (let i = 0; i < 5; i++)
      expect(await objectMd5(transport, `f/big${i}.bin`)).toBe(md5File(path.join(src, `big${i}.bin`)));
  });

  it('a part failing past --retries 0 (503) keeps the upload: the next run sends only the missing parts', async () => {
    let failing = true;
    const { transport, src, proxy, prefix, args } = await setup('keep503', {
      kinds: ['status-503-slowdown'],
      filter: (e) => failing && isPart(e) && /[?&]partNumber=3(&|$)/.test(e.url),
    });
    const r = await runLive(args('--retries', '0'), server);
    expect(r.code, r.stderr()).toBe(1);
    expect(proxy.stats.faults['status-503-slowdown']).toBe(1);
    expect(r.events.filter((e) => e.type === 'error').map((e) => (e as { rel?: string }).rel)).toEqual([
      'big.bin',
    ]);
    // One worker: parts 1 and 2 landed, 3 was refused, 4 was never sent; nothing was aborted.
    expect(proxy.log.filter(isPart)).toHaveLength(3);
    expect(proxy.log.filter((e) => e.method === 'DELETE')).toEqual([]);
    expect(
      noticeMatching(
        r,
        /^multipart upload kept with 2\/4 parts uploaded: the next run resumes it .*s3sync cleanup/,
      ),
    ).toBe(true);
    // The record is on disk with the parts that landed, as after a kill.
    const pending = pendingOf(src);
    expect(pending).toMatchObject({ key: `${prefix}big.bin` });
    expect(pending!.uploadId).not.toBe('');
    expect(Object.keys(pending!.parts).sort()).toEqual(['1', '2']);
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([pending!.uploadId]);

    failing = false;
    const before = proxy.log.length;
    const again = await runLive(args(), server);
    expect(again.code, again.stderr()).toBe(0);
    const sent = proxy.log.slice(before);
    expect(sent.filter(isCreate)).toEqual([]);
    expect(sent.filter(isPart).map((e) => /[?&]partNumber=(\d+)/.exec(e.url)![1])).toEqual(['3', '4']);
    expect(summaryOf(again.events)).toMatchObject({ uploaded: 1, failed: 0 });
    expect(summaryOf(again.events)!.requests).toMatchObject({ UploadPart: 2, CompleteMultipartUpload: 1 });
    expect(summaryOf(again.events)!.requests.CreateMultipartUpload).toBeUndefined();
    expect(noticeMatching(again, /resuming multipart upload: 2\/4 parts already uploaded/)).toBe(true);
    expect(readManifest(src)!.pending).toEqual({});
    expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5File(path.join(src, 'big.bin')));
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });

  it('the endpoint going away mid-upload (connections refused) keeps the upload: exit 1, then a resume', async () => {
    let away: FaultProxy | undefined;
    let gone = false;
    const { transport, src, proxy, prefix, args } = await setup('wentaway', {
      rate: 0,
      // Part 3 arrives: the server goes away with it, as a crash or restart does.
      hold: (e) => {
        if (gone || !isPart(e) || !/[?&]partNumber=3(&|$)/.test(e.url)) return undefined;
        gone = true;
        void away!.refuseConnections();
        return new Promise(() => {});
      },
    });
    away = proxy;
    const r = await runLive(args('--retries', '1'), server);
    expect(r.code, r.stderr()).toBe(1);
    expect(r.stderr()).toMatch(
      /the S3 endpoint http:\/\/127\.0\.0\.1:\d+ stopped accepting connections during the run \(ECONNREFUSED on every attempt\): run again once it is back/,
    );
    expect(r.stderr()).not.toMatch(/nothing accepts connections|check --endpoint-url/);
    expect(
      noticeMatching(r, /^multipart upload kept with 2\/4 parts uploaded: the next run resumes it/),
    ).toBe(true);
    const pending = pendingOf(src);
    expect(pending).toMatchObject({ key: `${prefix}big.bin` });
    expect(Object.keys(pending!.parts).sort()).toEqual(['1', '2']);

    await proxy.listenAgain();
    const before = proxy.log.length;
    const again = await runLive(args(), server);
    expect(again.code, again.stderr()).toBe(0);
    const sent = proxy.log.slice(before);
    expect(sent.filter(isCreate)).toEqual([]);
    expect(sent.filter(isPart).map((e) => /[?&]partNumber=(\d+)/.exec(e.url)![1])).toEqual(['3', '4']);
    expect(readManifest(src)!.pending).toEqual({});
    expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5File(path.join(src, 'big.bin')));
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });

  it('strays of a retried create that cannot be looked for keep the upload for the next run', async () => {
    let creates = 0;
    let listFails = true;
    const isListUploads = (e: Req) => e.method === 'GET' && /[?&]uploads(=|&|$)/.test(e.url);
    const { transport, src, proxy, prefix, args } = await setup('strays', {
      kinds: ['reset-response'],
      // The first CreateMultipartUpload's answer is lost: the retry's upload is kept, a stray may exist.
      filter: (e) => isCreate(e) && creates++ === 0,
      answer: (e) =>
        listFails && isListUploads(e)
          ? { status: 500, code: 'InternalError', message: 'We encountered an internal error.' }
          : undefined,
    });
    const r = await runLive(args('--retries', '1'), server);
    expect(r.code, r.stderr()).toBe(1);
    expect(proxy.log.filter(isCreate)).toHaveLength(2);
    expect(proxy.log.filter(isListUploads).length).toBeGreaterThan(0);
    expect(proxy.log.filter(isPart)).toEqual([]);
    expect(proxy.log.filter((e) => e.method === 'DELETE')).toEqual([]);
    expect(noticeMatching(r, /^multipart upload kept with 0\/4 parts uploaded/)).toBe(true);
    const kept = pendingOf(src)!.uploadId;
    expect(kept).not.toBe('');

    listFails = false;
    const before = proxy.log.length;
    const again = await runLive(args(), server);
    expect(again.code, again.stderr()).toBe(0);
    const sent = proxy.log.slice(before);
    // The kept upload is the one completed; the lost answer's stray is aborted where the store lists it.
    expect(sent.filter(isCreate)).toEqual([]);
    expect(
      sent.filter(isComplete).map((e) => decodeURIComponent(/uploadId=([^&]+)/.exec(e.url)![1]!)),
    ).toEqual([kept]);
    expect(readManifest(src)!.pending).toEqual({});
    expect(await objectMd5(transport, `${prefix}big.bin`)).toBe(md5File(path.join(src, 'big.bin')));
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });

  it('a part the server refuses as bad (BadDigest) still aborts the upload: it would fail again', async () => {
    const { transport, src, proxy, prefix, args } = await setup('abortbad', {
      rate: 0,
      damageRequest: (e) => isPart(e) && /[?&]partNumber=2(&|$)/.test(e.url),
    });
    const r = await runLive(args('--retries', '0'), server);
    expect(r.code, r.stderr()).toBe(1);
    expect(r.events.filter((e) => e.type === 'error').map((e) => (e as { rel?: string }).rel)).toEqual([
      'big.bin',
    ]);
    expect(noticeMatching(r, /multipart upload kept/)).toBe(false);
    const id = proxy.log.filter(isPart)[0]!.url.match(/uploadId=([^&]+)/)![1]!;
    expect(proxy.log.filter(isAbortOf(decodeURIComponent(id)))).toHaveLength(1);
    expect(readManifest(src)!.pending).toEqual({});
    if (serverLists) expect(await uploadsUnder(transport, prefix)).toEqual([]);
  });
});
