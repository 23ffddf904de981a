/**
 * cleanup's output: with --json, one line per upload found, then the summary as the last line, as
 * every command ends. The uploads are made up by a proxy (s3rver has no ListMultipartUploads), so both
 * servers answer the same listing; their aborts of the made-up ids fail or find them gone.
 */
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBucket, runCli, servers, spawnCli } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const UPLOADS = ['u/a', 'u/b', 'u/c'];
const OLD = '2020-01-01T00:00:00.000Z';

const listing = (bucket: string, uploads: { key: string; initiated: string }[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
  `<Bucket>${bucket}</Bucket><Prefix>u/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
  uploads
    .map(
      ({ key, initiated }, i) =>
        `<Upload><Key>${key}</Key><UploadId>made-up-${i}</UploadId><Initiated>${initiated}</Initiated>` +
        '<StorageClass>STANDARD</StorageClass></Upload>',
    )
    .join('') +
  '</ListMultipartUploadsResult>';

describe.each(servers())('cleanup output on $name', (server) => {
  let proxy: FaultProxy;
  let bucket: string;
  let uploads = () => UPLOADS.map((key) => ({ key, initiated: OLD }));
  /** How far the server's clock (its Date header) is behind this machine's. */
  let behindMs = 0;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'cleanout'));
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) =>
        req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url)
          ? {
              status: 200,
              body: () => Buffer.from(listing(bucket, uploads())),
              headers: (h) => {
                if (behindMs) h.date = new Date(Date.now() - behindMs).toUTCString();
              },
            }
          : undefined,
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it.each([[['--dry-run']], [[]]])('--json %j: a line per upload, then the summary last', async (flags) => {
    const args = ['cleanup', `s3://${bucket}/u`, '--older-than', '0s', ...flags, '--json'];
    const run = await runCli([...args, '--endpoint-url', proxy.endpoint], server);
    const lines = run.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; rel?: string });
    expect(lines.at(-1)?.type).toBe('summary');
    expect(lines.filter((l) => l.type === 'summary')).toHaveLength(1);
    expect(lines.slice(0, -1).map((l) => l.rel)).toEqual(UPLOADS);
    // Its requests counted, as a sync's summary counts them: the listing, and an abort per upload.
    const aborts = flags.length ? {} : { AbortMultipartUpload: UPLOADS.length };
    expect(lines.at(-1)).toMatchObject({
      requests: { ListMultipartUploads: 1, ...aborts },
      requestsTotal: 1 + (flags.length ? 0 : UPLOADS.length),
    });
    const human = await runCli([...args.slice(0, -1), '--endpoint-url', proxy.endpoint], server);
    expect(human.stdout.trim().split('\n').at(-1)).toMatch(
      flags.length
        ? /^\d+ stale multipart upload\(s\) \(dry run: none aborted\); 1 S3 requests \(ListMultipartUploads 1\)$/
        : /^\d+ stale multipart upload\(s\), \d+ aborted, \d+ failed; 4 S3 requests \((ListMultipartUploads 1, AbortMultipartUpload 3|AbortMultipartUpload 3, ListMultipartUploads 1)\)$/,
    );
  });

  // Refused before its run began, as a bad flag is: one line, and no summary of a run that never started.
  it.each([
    ['cleanup', 's3://'],
    ['versions', 's3://'],
    ['cleanup', 'bucket-without-scheme/u'],
    ['versions', 's3:///u'],
  ])('--json %s %s: refused in one line on stderr, nothing on stdout, exit 2', async (command, target) => {
    const run = await runCli([command, target, '--json', '--endpoint-url', proxy.endpoint], server);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^s3sync: not an S3 URL: .* \(expected s3:\/\/bucket\/prefix\)\n$/);
  });

  it('ages are counted on the server clock: an upload a minute old is not stale there', async () => {
    const MIN = 60_000;
    // The server's clock is 10 minutes behind: its minute-old upload was initiated 11 minutes ago here.
    behindMs = 10 * MIN;
    const at = (ago: number) => new Date(Date.now() - behindMs - ago).toISOString();
    uploads = () => [
      { key: 'u/fresh', initiated: at(MIN) },
      { key: 'u/stale', initiated: at(6 * MIN) },
    ];
    try {
      const args = ['cleanup', `s3://${bucket}/u`, '--older-than', '5m', '--dry-run', '--json'];
      const run = await runCli([...args, '--endpoint-url', proxy.endpoint], server);
      expect(run.code, run.stderr).toBe(0);
      const found = (run.summary as unknown as { found: { key: string }[] }).found;
      expect(found.map((u) => u.key)).toEqual(['u/stale']);
    } finally {
      behindMs = 0;
      uploads = () => UPLOADS.map((key) => ({ key, initiated: OLD }));
    }
  });
});

/**
 * Many stale uploads are aborted a bounded number at a time. The proxy lists made-up uploads (as above)
 * and answers each AbortMultipartUpload itself (204, or the NoSuchUpload or 500 a store may give): the
 * request still goes upstream first, where s3rver and RGW answer the made-up ids as they will.
 */
describe.each(servers())('cleanup of many uploads on $name', (server) => {
  const COUNT = 40;
  const WORKERS = 4;
  /** A cleanup of everything under `u/` now, WORKERS aborts at a time, as NDJSON. */
  const cleanupArgs = (bucket: string) => [
    'cleanup',
    `s3://${bucket}/u`,
    '--older-than',
    '0s',
    '--workers',
    String(WORKERS),
    '--json',
  ];
  const keys = Array.from({ length: COUNT }, (_, i) => `u/k${String(i).padStart(2, '0')}`);
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.close();
  });

  const s3Error = (code: string) =>
    Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>m</Message></Error>`,
    );
  const uploadIdOf = (url: string) => new URL(url, 'http://x').searchParams.get('uploadId');
  const isAbort = (r: { method: string; url: string }) => r.method === 'DELETE' && uploadIdOf(r.url) !== null;

  /** `answers`: the status an abort of made-up-i gets (204 unless named). */
  async function uploadsProxy(bucket: string, answers: Record<number, 404 | 500> = {}) {
    // The first WORKERS aborts are held until all of them are in flight (a run that sends them one at a
    // time is let go after a while instead, and shows 1 in flight): the bound is reached, not passed.
    let held = 0;
    let release!: () => void;
    const firstBatch = new Promise<void>((r) => {
      release = r;
    });
    // Counted from arrival to the answer being written: the client cannot send its next one before.
    let inFlight = 0;
    const seen = { maxInFlight: 0 };
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: (req) => {
        if (!isAbort({ method: req.method, url: req.url })) return undefined;
        seen.maxInFlight = Math.max(seen.maxInFlight, ++inFlight);
        if (++held > WORKERS) return undefined;
        // Timed from the first abort, not the proxy's start: a CLI slow to start on a loaded machine
        // must not find the batch released before it could send its second abort.
        if (held === 1) setTimeout(() => release(), 2000).unref();
        if (held === WORKERS) release();
        return firstBatch;
      },
      rewrite: (req) => {
        if (req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url))
          return {
            status: 200,
            body: () =>
              Buffer.from(
                listing(
                  bucket,
                  keys.map((key) => ({ key, initiated: OLD })),
                ),
              ),
          };
        if (!isAbort(req)) return undefined;
        inFlight--;
        const i = Number(uploadIdOf(req.url)!.slice('made-up-'.length));
        const status = answers[i] ?? 204;
        return {
          status,
          headers: (h) => {
            h['content-type'] = 'application/xml';
          },
          body: () =>
            status === 404
              ? s3Error('NoSuchUpload')
              : status === 500
                ? s3Error('InternalError')
                : Buffer.alloc(0),
        };
      },
    });
    proxies.push(proxy);
    return { proxy, seen };
  }

  const run = async (proxy: FaultProxy, bucket: string, flags: string[] = []) => {
    const args = cleanupArgs(bucket);
    const r = await runCli([...args, ...flags, '--endpoint-url', proxy.endpoint], server);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; rel?: string; reason?: string; message?: string });
    return { ...r, lines };
  };
  const abortsOf = (proxy: FaultProxy) => proxy.log.filter(isAbort).map((e) => uploadIdOf(e.url));
  const summaryOfRun = (r: { summary?: unknown }) =>
    r.summary as unknown as { aborted: number; failed: number };

  it(`${COUNT} stale uploads: all aborted, ${WORKERS} at a time, one request each, lines in listing order`, async () => {
    const { bucket } = await newBucket(server, 'cleanmany');
    const { proxy, seen } = await uploadsProxy(bucket);
    const r = await run(proxy, bucket);
    expect(r.code, r.stderr).toBe(0);
    expect(seen.maxInFlight).toBe(WORKERS);
    // One AbortMultipartUpload per upload, none twice.
    expect(abortsOf(proxy).sort()).toEqual(keys.map((_, i) => `made-up-${i}`).sort());
    expect(summaryOfRun(r)).toMatchObject({ aborted: COUNT, failed: 0 });
    expect(r.lines.at(-1)?.type).toBe('summary');
    expect(r.lines.slice(0, -1).map((l) => [l.type, l.rel])).toEqual(keys.map((k) => ['done', k]));

    // --dry-run: the same uploads named, in the same order, and not one abort sent.
    const { proxy: dry } = await uploadsProxy(bucket);
    const d = await run(dry, bucket, ['--dry-run']);
    expect(d.code, d.stderr).toBe(0);
    expect(abortsOf(dry)).toEqual([]);
    expect(d.lines.slice(0, -1).map((l) => l.rel)).toEqual(keys);
  });

  it('an upload finished meanwhile (NoSuchUpload) is already gone; a 500 fails alone, exit 1, the rest aborted', async () => {
    const { bucket } = await newBucket(server, 'cleanrace');
    const GONE = 7;
    const FAILING = 23;
    const { proxy, seen } = await uploadsProxy(bucket, { [GONE]: 404, [FAILING]: 500 });
    const r = await run(proxy, bucket, ['--retries', '1']);
    expect(r.code, r.stderr).toBe(1);
    expect(seen.maxInFlight).toBe(WORKERS);
    expect(summaryOfRun(r)).toMatchObject({ aborted: COUNT - 2, failed: 1 });
    const aborts = abortsOf(proxy);
    // Every upload asked for once; the failing one twice (--retries 1), then given up.
    expect(aborts.filter((id) => id === `made-up-${FAILING}`)).toHaveLength(2);
    expect(new Set(aborts).size).toBe(COUNT);
    expect(aborts).toHaveLength(COUNT + 1);
    // --retries as every request takes it: 0 is one attempt; the default, 4 retries.
    for (const [flags, attempts] of [
      [['--retries', '0'], 1],
      [[], 5],
    ] as const) {
      const { proxy: again } = await uploadsProxy(bucket, { [FAILING]: 500 });
      const a = await run(again, bucket, [...flags]);
      expect(a.code, a.stderr).toBe(1);
      expect(abortsOf(again).filter((id) => id === `made-up-${FAILING}`)).toHaveLength(attempts);
    }
    expect(r.lines.at(-1)?.type).toBe('summary');
    const body = r.lines.slice(0, -1);
    expect(body.map((l) => l.rel)).toEqual(keys);
    expect(body[GONE]).toMatchObject({ type: 'done', reason: expect.stringMatching(/^already gone: /) });
    expect(body[FAILING]).toMatchObject({
      type: 'error',
      message: expect.stringMatching(/^could not abort multipart upload u\/k23 /),
    });
    expect(body.filter((l) => l.type === 'error')).toHaveLength(1);
  });

  it('SIGINT while aborts are in flight: no new abort starts, those in flight are reported in order', async () => {
    const { bucket } = await newBucket(server, 'cleansig');
    let held = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let heldAll!: () => void;
    const allHeld = new Promise<void>((r) => {
      heldAll = r;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: (req) => {
        if (!isAbort({ method: req.method, url: req.url })) return undefined;
        // A run that sends one abort at a time never has WORKERS held: it is looked at a while after
        // its first (not after the spawn: a loaded machine may take that long to start the CLI).
        if (++held === 1) setTimeout(() => heldAll(), 2000).unref();
        if (held === WORKERS) heldAll();
        return gate;
      },
      rewrite: (req) =>
        req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url)
          ? {
              status: 200,
              body: () =>
                Buffer.from(
                  listing(
                    bucket,
                    keys.map((key) => ({ key, initiated: OLD })),
                  ),
                ),
            }
          : isAbort(req)
            ? { status: 204, body: () => Buffer.alloc(0) }
            : undefined,
    });
    proxies.push(proxy);
    const args = cleanupArgs(bucket);
    const live = spawnCli([...args, '--endpoint-url', proxy.endpoint], server);
    try {
      await allHeld;
      expect(held).toBe(WORKERS);
      live.child.kill('SIGINT');
      const stopping = (e: { type: string; message?: unknown }) =>
        e.type === 'notice' && String(e.message).startsWith('SIGINT: stopping');
      expect(await live.until(stopping)).toBe(true);
      release();
      const { code } = await live.exited;
      expect(code).toBe(130);
      // The WORKERS in flight when the signal came, and not one more.
      expect(abortsOf(proxy).sort()).toEqual(keys.slice(0, WORKERS).map((_, i) => `made-up-${i}`));
      const done = live.events.filter((e) => e.type === 'done').map((e) => (e as { rel?: string }).rel);
      expect(done).toEqual(keys.slice(0, WORKERS));
      // The summary is still the last line, marked cancelled, with the signal's exit code.
      expect(live.events.at(-1)).toMatchObject({
        type: 'summary',
        cancelled: true,
        aborted: WORKERS,
        failed: 0,
        requests: { ListMultipartUploads: 1, AbortMultipartUpload: WORKERS },
        exitCode: 130,
      });
      expect((live.events.at(-1) as { found?: unknown[] }).found).toHaveLength(COUNT);
    } finally {
      release();
      if (live.child.exitCode === null && live.child.signalCode === null) live.child.kill('SIGKILL');
    }
  });

  it.skipIf(server.name === 'embedded')(
    `real uploads (RGW: s3rver has none): ${COUNT} started, all aborted, none left on the server`,
    async () => {
      const { bucket, transport } = await newBucket(server, 'cleanreal');
      for (const key of keys)
        await transport.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      expect((await transport.uploadsUnder('u/')).uploads).toHaveLength(COUNT);
      const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
      proxies.push(proxy);
      const r = await run(proxy, bucket);
      expect(r.code, r.stderr).toBe(0);
      expect(summaryOfRun(r)).toMatchObject({ aborted: COUNT, failed: 0 });
      expect(abortsOf(proxy)).toHaveLength(COUNT);
      expect(r.lines.slice(0, -1).map((l) => l.rel)).toEqual(keys);
      expect((await transport.uploadsUnder('u/')).uploads).toEqual([]);
    },
  );
});
