/**
 * s3sync behind a seeded fault-injection proxy: transient faults are retried to a correct result, and a
 * store that fails every request ends the run with one-line errors and a manifest that records only what
 * truly reached the server.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../src/s3/listing.js';
import { S3Transport } from '../../src/s3/transport.js';
import {
  bigFile,
  connFor,
  doneOf,
  FULL,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  readManifest,
  runCli,
  seededTree,
  seedObject,
  servers,
  spawnCli,
  summaryOf,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy, uploadGoneAfterFirstPart } from '../servers/fault-proxy.js';

const N = FULL ? 2000 : 300;
const MULTIPART = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});
const proxyTo = async (target: string, opts: Omit<Parameters<typeof startFaultProxy>[0], 'target'>) => {
  const p = await startFaultProxy({ target, ...opts });
  proxies.push(p);
  return p;
};

/** UploadPart and CompleteMultipartUpload carry uploadId in the query; PutObject does not. */
const isPlainPut = (e: { method: string; url: string }) => e.method === 'PUT' && !e.url.includes('uploadId=');

describe.each(servers())('faults on $name', (server) => {
  it(`push and pull of ${N} files + 2 multipart files under 5% faults of every kind end identical`, async () => {
    const { bucket } = await newBucket(server, 'flt');
    const src = dir('flt-src');
    const rels = seededTree(src, N, 1001);
    bigFile(path.join(src, 'big/a.bin'), 12 * MiB + 12_345);
    bigFile(path.join(src, 'big/b.bin'), 12 * MiB);
    const total = N + 2;
    const proxy = await proxyTo(server.endpoint, { seed: 20240601, rate: 0.05 });
    const url = `s3://${bucket}/data`;

    const push = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', '--workers', '8', ...MULTIPART],
      server,
    );
    expect(push.code, push.stdout.slice(-3000)).toBe(0);
    const ps = push.summary!;
    expect(ps).toMatchObject({ uploaded: total, failed: 0, errors: [] });
    expect(doneOf(push.events, 'upload').sort()).toEqual([...rels, 'big/a.bin', 'big/b.bin'].sort());
    // Every attempt the tool made went through the proxy and is counted on both sides (give or take an
    // attempt on a kept-alive connection the proxy had just dropped, which never reached it).
    const pushRequests = proxy.stats.requests;
    expect(ps.requestsTotal).toBeGreaterThanOrEqual(pushRequests);
    expect(ps.requestsTotal).toBeLessThanOrEqual(pushRequests + 5);
    const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
    expect(faults).toBeGreaterThan(0);
    // N single PUTs (plus retries of faulted ones), 3 parts per multipart file.
    const puts = proxy.log.filter(isPlainPut);
    expect(ps.requests.PutObject).toBeGreaterThanOrEqual(puts.length);
    expect(ps.requests.PutObject).toBeLessThanOrEqual(puts.length + 5);
    expect(puts.length).toBeGreaterThanOrEqual(N);
    expect(puts.length).toBeLessThanOrEqual(N + faults);
    expect(ps.requests.UploadPart).toBeGreaterThanOrEqual(6);
    expect(ps.requests.UploadPart).toBeLessThanOrEqual(6 + faults);
    expect(ps.requests.CompleteMultipartUpload).toBeGreaterThanOrEqual(2);

    // The manifest the faulty run wrote vouches for everything: a second push makes no request at all.
    const again = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, unchanged: total, requestsTotal: 0 });

    // Straight to the server, no proxy: the remote holds exactly the source.
    const check = await runCli(['check', src, url, '--json'], server);
    expect(check.code, check.stdout.slice(-2000)).toBe(0);

    const before = proxy.stats.requests;
    const dst = dir('flt-dst');
    const pull = await runCli(
      ['pull', url, dst, '--endpoint-url', proxy.endpoint, '--json', '--workers', '8', ...MULTIPART],
      server,
    );
    expect(pull.code, pull.stdout.slice(-3000)).toBe(0);
    expect(pull.summary).toMatchObject({ downloaded: total, failed: 0 });
    expect(pull.summary!.requestsTotal).toBeGreaterThanOrEqual(proxy.stats.requests - before);
    expect(pull.summary!.requestsTotal).toBeLessThanOrEqual(proxy.stats.requests - before + 5);
    // 12 MiB objects come as three 5 MiB ranges each.
    expect(pull.summary!.requests.GetObject).toBeGreaterThanOrEqual(N + 6);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    // Retries are s3sync's own business: nothing on stderr (see the streaming-retry test below).
    expect(push.stderr).toBe('');
    expect(pull.stderr).toBe('');
  });

  it('a CompleteMultipartUpload whose answer is lost after the server completed it is not a failure', async () => {
    const { bucket, transport } = await newBucket(server, 'cmp');
    const src = dir('cmp-src');
    bigFile(path.join(src, 'big.bin'), 11 * MiB);
    let faulted = false;
    // Exactly one fault: the connection of the first CompleteMultipartUpload is reset once the server
    // has completed the upload, so the tool's retry finds the upload gone and the object in place.
    const proxy = await proxyTo(server.endpoint, {
      seed: 7,
      rate: 1,
      kinds: ['reset-response'],
      filter: ({ method, url }) => {
        if (faulted || method !== 'POST' || !url.includes('uploadId=')) return false;
        faulted = true;
        return true;
      },
    });
    const url = `s3://${bucket}/cmp`;
    const push = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', ...MULTIPART],
      server,
    );
    expect(faulted).toBe(true);
    expect(proxy.stats.faults['reset-response']).toBe(1);
    expect(push.stdout.split('\n').filter((l) => l.includes('"type":"error"'))).toEqual([]);
    expect(push.code).toBe(0);
    expect(push.summary).toMatchObject({ uploaded: 1, failed: 0 });
    const m = readManifest(src)!;
    const listed = await transport.list('cmp/');
    expect(m.files.get('big.bin')?.etag).toBe(listed.get('big.bin')?.etag);
    expect(await objectMd5(transport, 'cmp/big.bin')).toBe(m.files.get('big.bin')?.md5);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });

  it('a listing whose pages are cut short, reset or refused is retried page by page to the same result', async () => {
    const { bucket, transport } = await newBucket(server, 'lst');
    const keys = Array.from({ length: 9 }, (_, i) => `lst/k${i} &<${'x'.repeat(i * 20)}>`);
    for (const key of keys) await seedObject(transport, key, key);
    const proxy = await proxyTo(server.endpoint, {
      seed: 4242,
      rate: 0.5,
      kinds: ['truncate-body', 'reset-response', 'status-500'],
      filter: ({ method, url }) => method === 'GET' && url.includes('list-type=2'),
    });
    const viaProxy = await S3Transport.connect(
      { ...connFor(server), endpointUrl: proxy.endpoint, retries: 10 },
      bucket,
    );
    const pages = { fast: 0, sdk: 0 };
    const listed = await listObjects(viaProxy, 'lst/', {}, { maxKeys: 2, pages });
    const faults = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
    expect(faults).toBeGreaterThan(0);
    expect(proxy.stats.requests).toBe(5 + faults);
    expect([...listed.entries()]).toEqual([...(await transport.list('lst/')).entries()]);
    expect(pages.fast).toBe(5);
  });

  it("a retried streaming request leaves nothing on stderr (the retry is s3sync's, not the SDK's)", async () => {
    const { bucket } = await newBucket(server, 'warn');
    const src = dir('warn-src');
    bigFile(path.join(src, 'big.bin'), 6 * MiB);
    let faulted = false;
    // One fault: the first UploadPart (a streamed body) is answered 500; s3sync retries it.
    const proxy = await proxyTo(server.endpoint, {
      seed: 8,
      rate: 1,
      kinds: ['status-500'],
      filter: ({ method, url }) => {
        if (faulted || method !== 'PUT' || !url.includes('partNumber=')) return false;
        faulted = true;
        return true;
      },
    });
    const url = `s3://${bucket}/warn`;
    const push = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', ...MULTIPART],
      server,
    );
    expect(proxy.stats.faults['status-500']).toBe(1);
    expect(push.code).toBe(0);
    expect(push.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(push.summary!.requests.UploadPart).toBe(3);
    expect(push.stderr).toBe('');
  });

  it('a multipart upload gone mid-push (NoSuchUpload) sends none of its queued parts', async () => {
    const { bucket, transport } = await newBucket(server, 'gone');
    const src = dir('gone-src');
    const parts = 16;
    bigFile(path.join(src, 'big.bin'), parts * 5 * MiB);
    let gone = true;
    // The first UploadPart is answered as sent; every later one as if cleanup had aborted the upload.
    const proxy = await proxyTo(server.endpoint, {
      seed: 1,
      rate: 0,
      rewrite: uploadGoneAfterFirstPart(() => gone),
    });
    const url = `s3://${bucket}/gone`;
    const push = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--workers', '2', ...MULTIPART],
      server,
    );
    expect(push.code, push.stderr).toBe(1);
    const lines = plainLines(push.stderr);
    expect(lines, push.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/big\.bin/);
    expect(lines[0]).toMatch(
      /: S3 error NoSuchUpload \(HTTP 404 to UploadPart\): the multipart upload was aborted on the server \(by s3sync cleanup, a lifecycle rule or another tool\); the next run sends the file again$/,
    );
    // Two workers: the parts in flight when the first 404 came, not the other dozen.
    const sent = proxy.log.filter((e) => e.method === 'PUT' && e.url.includes('partNumber=')).length;
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(4);

    // Through the same endpoint (the manifest is the endpoint's), now answering as the server does.
    gone = false;
    const rerun = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', ...MULTIPART],
      server,
    );
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(rerun.summary!.requests.UploadPart).toBe(parts);
    expect(await objectMd5(transport, 'gone/big.bin')).toBe(treeHashes(src)['big.bin']);
    expect(readManifest(src)!.pending).toEqual({});
  });

  it.each([
    ['as is', 'plain.txt', [] as string[]],
    ['compressed', 'page.html', ['--compress', '*.html']],
  ])(
    'an upload answered with another ETag (%s): one error line that names the file once',
    async (_how, rel, flags) => {
      const { bucket } = await newBucket(server, 'etag-line');
      const src = dir('etag-line-src');
      writeTree(src, { [rel]: 'some content\n'.repeat(100) });
      const WRONG = '0123456789abcdef0123456789abcdef';
      // The store kept the bytes, but its answer names other content (a proxy or store that rewrites it).
      const proxy = await proxyTo(server.endpoint, {
        seed: 1,
        rate: 0,
        rewrite: ({ method }) =>
          method === 'PUT'
            ? {
                headers: (h) => {
                  h.etag = `"${WRONG}"`;
                },
              }
            : undefined,
      });
      const args = (to: string) => [
        'push',
        src,
        `s3://${bucket}/${to}`,
        '--endpoint-url',
        proxy.endpoint,
        ...flags,
      ];
      const human = await runCli(args('e1'), server);
      expect(human.code).toBe(1);
      // The MD5 the ETag was checked against: the file's, or that of its gzip body.
      const [line] = plainLines(human.stderr);
      const expected = line?.match(/\(([0-9a-f]{32})\)$/)?.[1];
      expect(expected, human.stderr).toBeDefined();
      if (flags.length === 0) expect(expected).toBe(md5Hex(readFileSync(path.join(src, rel))));
      const message = `the stored object's ETag ${WRONG} does not match the local content (${expected})`;
      expect(plainLines(human.stderr)).toEqual([`error: ${rel}: ${message}`]);

      // Another prefix: the object under the first holds the content, which a second push would record.
      const json = await runCli([...args('e2'), '--json'], server);
      expect(json.events.filter((e) => e.type === 'error')).toEqual([
        { type: 'error', rel, message: `${rel}: ${message}` },
      ]);
      expect(json.summary?.errors).toEqual([{ rel, message }]);
    },
  );

  /** A gateway's own answers: pages as nginx and load balancers send them, and a store's empty 500. */
  const GATEWAY_PAGES = [
    [
      502,
      'an HTML page',
      'text/html',
      '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n',
      'Bad Gateway',
    ],
    [
      503,
      'an HTML page',
      'text/html; charset=utf-8',
      '<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1><p>No server is available.</p></body></html>',
      'Service Unavailable',
    ],
    [
      504,
      'an HTML page',
      'text/html',
      "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>",
      'Gateway Timeout',
    ],
    [500, 'an empty body', undefined, '', 'Internal Server Error'],
  ] as const;

  it.each(GATEWAY_PAGES)(
    'a PUT answered %i with %s by a gateway: retried, then one line saying what came back from where',
    async (status, _body, type, page, phrase) => {
      const { bucket } = await newBucket(server, `gw-${status}`);
      const src = dir(`gw-${status}-src`);
      // Sent directly (a small body) and through the SDK (over 2 MiB): both say the same.
      writeTree(src, { 'small.bin': 10_000, 'mid.bin': 3 * MiB });
      const proxy = await proxyTo(server.endpoint, {
        seed: 1,
        rate: 0,
        rewrite: ({ method }) =>
          method === 'PUT'
            ? {
                status,
                headers: (h) => {
                  delete h.etag;
                  if (type) h['content-type'] = type;
                  else delete h['content-type'];
                },
                body: () => Buffer.from(page),
              }
            : undefined,
      });
      const push = await runCli(
        ['push', src, `s3://${bucket}/gw`, '--endpoint-url', proxy.endpoint, '--retries', '1'],
        server,
      );
      expect(push.code).toBe(1);
      const line = (rel: string) =>
        `error: ${rel}: HTTP ${status} ${phrase} from ${proxy.endpoint} (not an S3 answer to PutObject)`;
      expect(plainLines(push.stderr).sort()).toEqual([line('mid.bin'), line('small.bin')]);
      expect(push.stderr).not.toMatch(/UnknownError|Deserialization/);
      expect(push.stderr).not.toContain(server.secretAccessKey);
      // Retried as a server error: each file sent twice with --retries 1.
      expect(push.stdout).toMatch(/\(PutObject 4, ListObjectsV2 1\)/);
    },
  );

  it('when every request fails from the start: exit 1 with one line, no manifest entries', async () => {
    const { bucket, transport } = await newBucket(server, 'all');
    const src = dir('all-src');
    seededTree(src, 20, 3);
    const proxy = await proxyTo(server.endpoint, {
      seed: 99,
      rate: 1,
      kinds: ['status-503-slowdown', 'reset-request'],
    });
    const url = `s3://${bucket}/all`;
    const push = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, '--retries', '1'], server);
    // Exit 1, not 2: the configuration is right (2 is for usage and configuration errors, which no retry
    // fixes); the store failed transiently more often than --retries allows, so running again may succeed.
    expect(push.code).toBe(1);
    const lines = plainLines(push.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^s3sync: S3 error (SlowDown|ECONNRESET|.*socket hang up)/);
    expect(push.stderr).not.toMatch(/\n\s+at /); // no stack trace
    // The first request (the listing) was tried exactly twice: once plus one retry.
    expect(proxy.stats.requests).toBe(2);
    const m = readManifest(src);
    expect(m === undefined || [...m.files.keys()].length === 0).toBe(true);
    expect((await transport.list('all/')).size).toBe(0);

    const pull = await runCli(
      ['pull', url, dir('all-dst'), '--endpoint-url', proxy.endpoint, '--retries', '1'],
      server,
    );
    expect(pull.code).toBe(1);
    expect(plainLines(pull.stderr)).toHaveLength(1);
  });

  it('when the store starts failing mid-run: per-file one-line errors, the manifest holds only what reached the server', async () => {
    const { bucket, transport } = await newBucket(server, 'mid');
    const src = dir('mid-src');
    const n = FULL ? 300 : 150;
    const rels = seededTree(src, n, 5);
    bigFile(path.join(src, 'big/m.bin'), 11 * MiB);
    const proxy = await proxyTo(server.endpoint, {
      seed: 1234,
      rate: 0,
      kinds: ['status-503-slowdown', 'reset-request'],
    });
    const url = `s3://${bucket}/mid`;
    const run = spawnCli(
      [
        'push',
        src,
        url,
        '--endpoint-url',
        proxy.endpoint,
        '--json',
        '--retries',
        '1',
        '--workers',
        '4',
        ...MULTIPART,
      ],
      server,
    );
    const k = Math.floor((n * 2) / 3);
    await run.until((_e, all) => doneOf(all, 'upload').length >= k);
    proxy.setRate(1);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toBe('');
    const events = run.events;
    const uploaded = doneOf(events, 'upload');
    const errors = events.filter((e) => e.type === 'error') as { message: string; rel?: string }[];
    expect(uploaded.length).toBeGreaterThanOrEqual(k);
    expect(uploaded.length).toBeLessThan(n + 1);
    // Every file either made it or has exactly one error, of one line.
    expect(new Set([...uploaded, ...errors.map((e) => e.rel)])).toEqual(new Set([...rels, 'big/m.bin']));
    expect(uploaded.length + errors.length).toBe(n + 1);
    for (const e of errors) {
      expect(e.message).not.toContain('\n');
      expect(e.message).toMatch(/SlowDown|ECONNRESET|socket hang up|503/);
    }
    const summary = summaryOf(events)!;
    expect(summary).toMatchObject({ uploaded: uploaded.length, failed: errors.length, exitCode: 1 });

    const m = readManifest(src)!;
    const listed = await transport.list('mid/');
    expect([...m.files.keys()].sort()).toEqual([...uploaded].sort());
    for (const [rel, e] of [...m.files]) {
      expect(listed.get(rel)?.etag, rel).toBe(e.etag);
      expect(listed.get(rel)?.size, rel).toBe(e.size);
    }
    // Requests failed before reaching the server (reset on arrival, or a 503 from the proxy): nothing
    // the tool did not record is there either, but for the multipart file. Its outcome may be unknown
    // to the client: a CreateMultipartUpload reset after it was sent, an upload whose parts or abort
    // failed, or a Complete that reached the server before the failure. It is then reported failed, and
    // what the next run needs to settle it stays recorded as pending.
    const unrecorded = [...listed.keys()].filter((k) => !m.files.has(k));
    expect(unrecorded.filter((k) => k !== 'big/m.bin')).toEqual([]);
    for (const rel of unrecorded) expect(errors.map((e) => e.rel)).toContain(rel);
    for (const p of Object.values(m.pending)) {
      expect(p.key).toBe('mid/big/m.bin');
      expect(errors.map((e) => e.rel)).toContain('big/m.bin');
    }

    // Once the store recovers, the next run uploads exactly what is missing.
    proxy.setRate(0);
    const rerun = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--json', ...MULTIPART],
      server,
    );
    expect(rerun.code).toBe(0);
    // Each failed file is uploaded, but one already whole on the server may be found so instead.
    expect(rerun.summary).toMatchObject({ unchanged: uploaded.length });
    expect(rerun.summary!.uploaded).toBeGreaterThanOrEqual(errors.length - unrecorded.length);
    expect(rerun.summary!.uploaded).toBeLessThanOrEqual(errors.length);
    expect(readManifest(src)!.pending).toEqual({});
    expect([...readManifest(src)!.files.keys()].sort()).toEqual([...rels, 'big/m.bin'].sort());
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });
});
