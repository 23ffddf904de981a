import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { pull, push } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  connFor,
  type LoadedRecord,
  MiB,
  md5Hex,
  newBucket,
  recordLoaded,
  runCli,
  seedMultipart,
  seedObject,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';
import {
  type FaultKind,
  type FaultOptions,
  type FaultProxy,
  startFaultProxy,
} from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

// Small objects whose ETag is an MD5 are fetched without the SDK (src/s3/direct.ts); larger ones
// still through it. Listing pages go without it too, and a page s3sync cannot read is read by the SDK.
// Each case runs both ways where it can, and the two must behave alike.

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

async function proxy(target: string, opts: Partial<FaultOptions> = {}): Promise<FaultProxy> {
  const p = await startFaultProxy({ target, seed: 5, rate: 0, ...opts });
  proxies.push(p);
  return p;
}

/**
 * A pull of two seeded objects (a.txt, b/b.txt) through a proxy that gives `kind` to the requests
 * `faulted` picks.
 */
async function faultedPull(server: TestServer, kind: FaultKind, faulted: FaultOptions['filter']) {
  const { bucket, transport } = await newBucket(server, 'direct-retry');
  await seedObject(transport, 'p/a.txt', 'aaaa\n');
  await seedObject(transport, 'p/b/b.txt', 'bbbbbbbb\n'.repeat(100));
  const p = await proxy(server.endpoint, { rate: 1, kinds: [kind], filter: faulted });
  const dst = tempDir('direct-retry-dst');
  const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'], server);
  return { r, p, dst };
}

// Answers rewritten into what a web server or a proxy, not S3, would send.
const dropEtag = (h: Record<string, unknown>) => {
  delete h.etag;
};
const asHtml = (type: string) => (h: Record<string, unknown>) => {
  h['content-type'] = type;
};
const headEtag = async (t: { client: S3Transport['client']; bucket: string }, Key: string) =>
  ((await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key }))).ETag ?? '').replace(/"/g, '');

const isGet = (method: string, url: string) => method === 'GET' && url.includes('x-id=GetObject');
const isPut = (method: string, url: string) => method === 'PUT' && url.includes('x-id=PutObject');
const isList = (method: string, url: string) => method === 'GET' && url.includes('list-type=2');
const sdkLoaded = ({ modules }: LoadedRecord) => modules.some((m) => m.includes('/@aws-sdk/client-s3/'));
const fileErrors = (events: SyncEvent[]) =>
  events.flatMap((e) => (e.type === 'error' && e.rel !== undefined ? [e.message] : []));

/** Every file below `dir` but s3sync's own, relative; a temp file under a real name would show here. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((rel) => !rel.startsWith('.s3sync'))
    .sort();
}

// Keys a signer gets wrong first: reserved characters, percent signs, spaces, non-ASCII.
const AWKWARD = ['plain.txt', 'a b/c+d.txt', "x/(1)!*'~,;=@$&.txt", 'pct/%41%2F.txt', 'ünï/кód.txt'];

describe.each(servers())('small GETs without the SDK on $name', (server) => {
  it('fetches awkward keys byte-exact, signed by s3sync; a larger object still through the SDK', async () => {
    const { bucket, transport } = await newBucket(server, 'direct');
    const want: Record<string, string> = {};
    for (const [i, k] of AWKWARD.entries()) {
      const body = `${k} #${i}\n`.repeat(i + 1);
      await seedObject(transport, `p/${k}`, body);
      want[k] = md5Hex(body);
    }
    const mid = Buffer.alloc(2 * MiB, 7);
    await seedObject(transport, 'p/mid.bin', mid);
    want['mid.bin'] = md5Hex(mid);

    const agents = new Map<string, string | undefined>();
    const p = await proxy(server.endpoint, {
      hold: ({ method, url, headers }: { method: string; url: string; headers: IncomingHttpHeaders }) => {
        if (isGet(method, url)) agents.set(decodeURIComponent(url.split('?')[0]!), headers['user-agent']);
        return undefined;
      },
    });
    const dst = tempDir('direct-dst');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: AWKWARD.length + 1 });
    const got = Object.fromEntries(files(dst).map((rel) => [rel, md5Hex(readFileSync(path.join(dst, rel)))]));
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    expect(got).toEqual(want);
    const ua = (rel: string) => agents.get(`/${bucket}/p/${rel}`);
    for (const k of AWKWARD) expect(ua(k), k).toBe('s3sync');
    expect(ua('mid.bin')).toMatch(/aws-sdk/);
  });

  it('retries what the SDK path retries: 503 SlowDown, resets, truncated bodies, a garbled answer', async () => {
    const kinds: FaultKind[] = [
      'status-503-slowdown',
      'reset-request',
      'reset-response',
      'truncate-body',
      'garbled-headers',
    ];
    for (const kind of kinds) {
      const seen = new Set<string>();
      // Each object's first GET gets the fault, its retry goes through.
      const { r, p, dst } = await faultedPull(server, kind, ({ method, url }) => {
        if (!isGet(method, url) || seen.has(url)) return false;
        seen.add(url);
        return true;
      });
      expect(r.stderr, kind).toBe('');
      expect(r.code, kind).toBe(0);
      expect(r.summary?.requests, kind).toEqual({ ListObjectsV2: 1, GetObject: 4 });
      expect(p.stats.faults[kind], kind).toBe(2);
      expect(readFileSync(path.join(dst, 'a.txt'), 'utf8')).toBe('aaaa\n');
      expect(files(dst)).toEqual(['a.txt', 'b/b.txt']);
    }
  });

  it('an answer HTTP cannot parse is retried through the SDK too, once the endpoint has answered', async () => {
    const { bucket, transport } = await newBucket(server, 'garbled-sdk');
    const big = Buffer.alloc(2 * MiB, 9);
    await seedObject(transport, 'p/big.bin', big);
    let first = true;
    const p = await proxy(server.endpoint, {
      rate: 1,
      kinds: ['garbled-headers'],
      filter: ({ method, url }) => {
        if (!isGet(method, url) || !first) return false;
        first = false;
        return true;
      },
    });
    const dst = tempDir('garbled-sdk-dst');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(p.stats.faults['garbled-headers']).toBe(1);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 2 });
    expect(readFileSync(path.join(dst, 'big.bin')).equals(big)).toBe(true);
  });

  it('an endpoint whose first answer HTTP cannot parse is not an HTTP server: exit 2, one line', async () => {
    const { bucket } = await newBucket(server, 'garbled-first');
    const p = await proxy(server.endpoint, { rate: 1, kinds: ['garbled-headers'] });
    const dst = tempDir('garbled-first-dst');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `^s3sync: the endpoint ${p.endpoint.replace(/[.]/g, '\\.')} does not answer in HTTP \\(Parse Error: Invalid header token\\): check .*--endpoint-url.*\\(an https:// endpoint named http://\\?\\)\n$`,
      ),
    );
    // Not asked again: the same address answers the same.
    expect(p.stats.faults['garbled-headers']).toBe(1);
    expect(files(dst)).toEqual([]);
  });

  it('an object gone since the listing fails that file alone, with the message the SDK path gives', async () => {
    const { bucket, transport } = await newBucket(server, 'direct-gone');
    await seedObject(transport, 'p/keep.txt', 'kept\n');
    await seedObject(transport, 'p/small.txt', 'small\n');
    await seedObject(transport, 'p/mid.bin', Buffer.alloc(2 * MiB, 1));
    const gone = ['small.txt', 'mid.bin'];
    // The GET is held until its object is deleted: the listing named it, the store no longer has it.
    const p = await proxy(server.endpoint, {
      hold: ({ method, url }) => {
        const rel = gone.find((g) => url.split('?')[0]!.endsWith(`/p/${g}`));
        if (!isGet(method, url) || !rel) return undefined;
        return transport.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `p/${rel}` }));
      },
    });
    const dst = tempDir('direct-gone-dst');
    const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'], server);
    expect(r.code).toBe(1);
    expect(files(dst)).toEqual(['keep.txt']);
    const errors = fileErrors(r.events).sort();
    expect(errors).toHaveLength(2);
    const [mid, small] = errors as [string, string];
    expect(mid).toBe('mid.bin: the object was deleted since it was listed: nothing written');
    // Same error line, by either path.
    expect(small.replace(/^small\.txt: /, '')).toBe(mid.replace(/^mid\.bin: /, ''));
  });

  it('an object replaced since the listing is not written, nor recorded: the next pull fetches it', async () => {
    const { bucket, transport } = await newBucket(server, 'direct-swap');
    // The same sizes: only the ETag tells the other writer's object from the one listed. multi.bin's
    // parts are of a size no guess finds: its bytes cannot be checked against its ETag.
    const v1 = {
      'small.txt': Buffer.from('small v1\n'),
      'mid.bin': Buffer.alloc(2 * MiB, 1),
      'multi.bin': Buffer.alloc(6 * MiB, 1),
    };
    const v2 = {
      'small.txt': Buffer.from('small v2\n'),
      'mid.bin': Buffer.alloc(2 * MiB, 2),
      'multi.bin': Buffer.alloc(6 * MiB, 2),
    };
    const cut = 5 * MiB + 4096;
    const seed = (rel: string, body: Buffer) =>
      rel === 'multi.bin'
        ? seedMultipart(transport, `p/${rel}`, [body.subarray(0, cut), body.subarray(cut)])
        : seedObject(transport, `p/${rel}`, body);
    await seedObject(transport, 'p/keep.txt', 'kept\n');
    for (const [rel, body] of Object.entries(v1)) await seed(rel, body);
    const swapped = new Set<string>();
    const p = await proxy(server.endpoint, {
      hold: ({ method, url }) => {
        const rel = Object.keys(v2).find((g) => url.split('?')[0]!.endsWith(`/p/${g}`));
        if (!isGet(method, url) || !rel || swapped.has(rel)) return undefined;
        swapped.add(rel);
        return seed(rel, v2[rel as keyof typeof v2]);
      },
    });
    const dst = tempDir('direct-swap-dst');
    const args = ['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'];
    const r = await runCli(args, server);
    expect(r.code).toBe(1);
    expect(fileErrors(r.events).sort()).toEqual([
      'mid.bin: the object changed since it was listed: not written (the next pull fetches it)',
      'multi.bin: the object changed since it was listed: not written (the next pull fetches it)',
      'small.txt: the object changed since it was listed: not written (the next pull fetches it)',
    ]);
    expect(files(dst)).toEqual(['keep.txt']);
    // One GET each: a listing that is out of date is not retried against.
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, GetObject: 4 });
    const again = await runCli(args, server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 3, failed: 0 });
    // Said once: the bytes of an object whose ETag is not of a part size any guess finds are unchecked.
    const unchecked = again.events.filter(
      (e) => e.type === 'notice' && /not checked/.test(String(e.message)),
    );
    expect(unchecked.map((e) => (e as { message: string }).message)).toEqual(
      /-2$/.test(await headEtag(transport, 'p/multi.bin'))
        ? [
            '1 file written as the server sent it, not checked: its ETag does not tell its MD5 (first: multi.bin)',
          ]
        : [],
    );
    for (const [rel, body] of Object.entries(v2))
      expect(readFileSync(path.join(dst, rel)).equals(body)).toBe(true);
    // multi.bin's part size is no guess, and the test servers do not tell it (check.test.ts has it told).
    const chk = await runCli(['check', dst, `s3://${bucket}/p`, '--exclude', 'multi.bin'], server);
    expect(chk.code, chk.stdout + chk.stderr).toBe(0);
  });

  it('an answer that is not S3 stops the run, by either path, leaving no file', async () => {
    const variants = [
      {
        what: 'a 200 without an ETag',
        change: dropEtag,
        message: /answers GetObject without an ETag \(HTTP 200\)/,
        deleteFirst: false,
      },
      {
        what: 'an HTML error page',
        change: asHtml('text/html; charset=utf-8'),
        message: /answers GetObject with an HTML page \(HTTP 404\)/,
        deleteFirst: true,
      },
    ];
    for (const v of variants) {
      for (const [rel, body] of [
        ['small.txt', Buffer.from('small\n')],
        ['mid.bin', Buffer.alloc(2 * MiB, 2)],
      ] as const) {
        const { bucket, transport } = await newBucket(server, 'direct-nots3');
        await seedObject(transport, `p/${rel}`, body);
        const p = await proxy(server.endpoint, {
          hold: ({ method, url }) =>
            isGet(method, url) && v.deleteFirst
              ? transport.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `p/${rel}` }))
              : undefined,
          rewrite: ({ method, url }) => (isGet(method, url) ? { headers: v.change } : undefined),
        });
        const dst = tempDir('direct-nots3-dst');
        const r = await runCli(['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint], server);
        const label = `${v.what}, ${rel}`;
        expect(r.code, label).toBe(2);
        expect(r.stderr, label).toMatch(v.message);
        expect(r.stderr, label).not.toMatch(/\n\s+at /);
        expect(files(dst), label).toEqual([]);
      }
    }
  });

  it("signs with the server's clock as the SDK knows it, and corrects it from an error answer", async () => {
    for (const skewHours of [1, -1]) {
      const { bucket, transport } = await newBucket(server, 'direct-skew');
      await seedObject(transport, 'p/small.txt', 'small\n');
      await seedObject(transport, 'p/b/other.txt', 'other\n');
      // The listing's answer claims the server's clock is an hour off: the SDK takes that as the skew,
      // and the direct GETs sign with it. A store that checks request times refuses them once with
      // RequestTimeTooSkewed and its real Date; the retry signs with that and goes through.
      const p = await proxy(server.endpoint, {
        rewrite: ({ method, url }) =>
          method === 'GET' && url.includes('list-type=2')
            ? {
                headers: (h) => {
                  h.date = new Date(Date.now() + skewHours * 3_600_000).toUTCString();
                },
              }
            : undefined,
      });
      const dst = tempDir('direct-skew-dst');
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'],
        server,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(files(dst)).toEqual(['b/other.txt', 'small.txt']);
      const gets = r.summary?.requests?.GetObject ?? 0;
      // s3rver does not check request times (2 GETs); Ceph refuses each skewed one once (up to 4).
      expect(gets).toBeGreaterThanOrEqual(2);
      expect(gets).toBeLessThanOrEqual(4);
      if (server.name === 'ceph') expect(gets, `skew ${skewHours} h`).toBeGreaterThan(2);
    }
  });

  it('lists without the SDK: a fresh runner with every object in place never loads it', async () => {
    const { bucket } = await newBucket(server, 'direct-list');
    const src = tempDir('direct-list-src');
    writeTree(src, Object.fromEntries(AWKWARD.map((k, i) => [k, `${k} #${i}\n`])));
    const first = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server);
    expect(first.code).toBe(0);
    const agents: (string | undefined)[] = [];
    const p = await proxy(server.endpoint, {
      hold: ({ method, url, headers }) => {
        agents.push(`${isList(method, url) ? 'list' : method} ${headers['user-agent']}`);
        return undefined;
      },
    });
    const rec = recordLoaded();
    // A manifest nobody has written: the run lists, proves every file by its MD5, uploads nothing.
    const manifest = path.join(tempDir('direct-list-manifest'), 'm.json');
    const r = await runCli(
      ['push', src, `s3://${bucket}/p`, '--manifest', manifest, '--endpoint-url', p.endpoint, '--json'],
      server,
      { env: rec.env },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1 });
    expect(r.summary?.uploaded ?? 0).toBe(0);
    expect(agents).toEqual(['list s3sync']);
    expect(sdkLoaded(rec.loaded())).toBe(false);
    // A small upload goes direct too; a larger one loads the SDK, which the record above would show.
    const fresh = tempDir('direct-list-new');
    writeTree(fresh, { 'n.txt': 'new\n' });
    const recordedPush = async () => {
      const rec = recordLoaded();
      const run = await runCli(
        ['push', fresh, `s3://${bucket}/q`, '--endpoint-url', p.endpoint, '--json'],
        server,
        { env: rec.env },
      );
      expect(run.code).toBe(0);
      return { run, sdk: sdkLoaded(rec.loaded()) };
    };
    const up = await recordedPush();
    expect(up.run.summary?.requests).toEqual({ ListObjectsV2: 1, PutObject: 1 });
    expect(up.sdk).toBe(false);
    writeFileSync(path.join(fresh, 'big.bin'), Buffer.alloc(2 * MiB, 3));
    const big = await recordedPush();
    expect(big.run.summary?.requests).toMatchObject({ PutObject: 1 });
    expect(big.sdk).toBe(true);
  });

  it('a listing page s3sync cannot read is asked for again through the SDK, which reads it', async () => {
    // Each variant is XML the SDK reads and parseListObjectsV2 declines.
    const variants: [string, (xml: string) => string][] = [
      ['a comment', (xml) => xml.replace('<Contents>', '<!-- a comment --><Contents>')],
      ['a CDATA key', (xml) => xml.replace(/<Key>([^<]*plain\.txt)<\/Key>/, '<Key><![CDATA[$1]]></Key>')],
    ];
    for (const [what, change] of variants) {
      const { bucket, transport } = await newBucket(server, 'direct-decline');
      const want: Record<string, string> = {};
      for (const [i, k] of AWKWARD.entries()) {
        const body = `${k} #${i}\n`;
        await seedObject(transport, `p/${k}`, body);
        want[k] = md5Hex(body);
      }
      let lists = 0;
      const agents: (string | undefined)[] = [];
      const p = await proxy(server.endpoint, {
        hold: ({ method, url, headers }) => {
          if (isList(method, url)) agents.push(headers['user-agent']);
          return undefined;
        },
        // The first answer only: the SDK's request for the same page gets the store's own.
        rewrite: ({ method, url }, status) =>
          isList(method, url) && status === 200 && lists++ === 0
            ? { body: (b) => Buffer.from(change(b.toString('utf8'))) }
            : undefined,
      });
      const dst = tempDir('direct-decline-dst');
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, dst, '--endpoint-url', p.endpoint, '--json'],
        server,
      );
      expect(r.stderr, what).toBe('');
      expect(r.code, what).toBe(0);
      expect(r.summary?.requests, what).toEqual({ ListObjectsV2: 2, GetObject: AWKWARD.length });
      expect(agents[0], what).toBe('s3sync');
      expect(agents[1], what).toMatch(/aws-sdk/);
      const got = Object.fromEntries(
        files(dst).map((rel) => [rel, md5Hex(readFileSync(path.join(dst, rel)))]),
      );
      expect(got, what).toEqual(want);
    }
  });

  it('a listing page sent direct is retried as the SDK path retries: 503, 500, resets, a cut body', async () => {
    const kinds: FaultKind[] = [
      'status-503-slowdown',
      'status-500',
      'reset-request',
      'reset-response',
      'truncate-body',
    ];
    for (const kind of kinds) {
      let faulted = false;
      // The first listing request gets the fault, its retry goes through.
      const { r, p, dst } = await faultedPull(server, kind, ({ method, url }) => {
        if (!isList(method, url) || faulted) return false;
        faulted = true;
        return true;
      });
      expect(r.stderr, kind).toBe('');
      expect(r.code, kind).toBe(0);
      expect(r.summary?.requests, kind).toEqual({ ListObjectsV2: 2, GetObject: 2 });
      expect(p.stats.faults[kind], kind).toBe(1);
      expect(files(dst), kind).toEqual(['a.txt', 'b/b.txt']);
      expect(readFileSync(path.join(dst, 'b/b.txt'), 'utf8'), kind).toBe('bbbbbbbb\n'.repeat(100));
    }
  });
});

/** A stored object's headers and body, read through the SDK. */
async function stored(
  transport: { client: { send: (c: never) => Promise<unknown> }; bucket: string },
  key: string,
) {
  const send = transport.client.send.bind(transport.client) as (
    c: unknown,
  ) => Promise<Record<string, unknown>>;
  const h = await send(new HeadObjectCommand({ Bucket: transport.bucket, Key: key }));
  const g = await send(new GetObjectCommand({ Bucket: transport.bucket, Key: key }));
  const body = Buffer.from(
    await (g.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray(),
  );
  return {
    body,
    etag: String(h.ETag).replace(/"/g, ''),
    contentType: h.ContentType,
    cacheControl: h.CacheControl,
    contentDisposition: h.ContentDisposition,
    metadata: (h.Metadata ?? {}) as Record<string, string>,
  };
}

describe.each(servers())('small PUTs without the SDK on $name', (server) => {
  /** Every PutObject's key (decoded, without the bucket) and the agent that sent it. */
  const agentsOf = async (s: TestServer, extra: Partial<FaultOptions> = {}) => {
    const agents = new Map<string, string | undefined>();
    const p = await proxy(s.endpoint, {
      ...extra,
      hold: ({ method, url, headers }) => {
        if (method === 'PUT')
          agents.set(decodeURIComponent(url.split('?')[0]!).replace(/^\/[^/]+\//, ''), headers['user-agent']);
        return undefined;
      },
    });
    return { p, agents };
  };

  it('uploads awkward keys with their headers and metadata, signed by s3sync; a larger file through the SDK', async () => {
    const { bucket, transport } = await newBucket(server, 'direct-put');
    const src = tempDir('direct-put-src');
    const tree: Record<string, string | Buffer> = {};
    for (const [i, k] of AWKWARD.entries()) tree[k] = `${k} #${i}\n`.repeat(i + 1);
    tree['page.html'] = '<p>page</p>\n';
    tree['mid.bin'] = Buffer.alloc(2 * MiB, 5);
    writeTree(src, tree);
    const { p, agents } = await agentsOf(server);
    const args = [
      'push',
      src,
      `s3://${bucket}/p`,
      '--endpoint-url',
      p.endpoint,
      '--json',
      '--cache-control',
      'max-age=60',
      '--header-for',
      '*.html',
      'Content-Type: text/html; charset=utf-8',
      '--header-for',
      '*.html',
      'Content-Disposition: inline',
      '--header-for',
      '*.html',
      'x-amz-meta-Owner: web team',
    ];
    const r = await runCli(args, server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const n = Object.keys(tree).length;
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 1, PutObject: n });
    for (const [rel, body] of Object.entries(tree)) {
      const o = await stored(transport, `p/${rel}`);
      expect(o.body.equals(Buffer.from(body)), rel).toBe(true);
      expect(o.etag, rel).toBe(md5Hex(body));
      expect(o.cacheControl, rel).toBe('max-age=60');
      expect(o.metadata.md5, rel).toBe(md5Hex(body));
      expect(o.metadata.mtime, rel).toMatch(/^\d+\.\d{9}$/);
      expect(agents.get(`p/${rel}`), rel).toMatch(rel === 'mid.bin' ? /^aws-sdk/ : /^s3sync$/);
    }
    const page = await stored(transport, 'p/page.html');
    expect(page).toMatchObject({ contentType: 'text/html; charset=utf-8', contentDisposition: 'inline' });
    expect(page.metadata.owner).toBe('web team');
    expect((await stored(transport, 'p/plain.txt')).contentType).toBe('text/plain');
    // The manifest took the uploads as done: nothing is sent again.
    const again = await runCli(args, server);
    expect(again.summary?.requestsTotal ?? 0).toBe(0);
  });

  it('a body damaged on the way is never taken as uploaded, by either path; the next run sends it', async () => {
    for (const [rel, body] of [
      ['small.txt', Buffer.from('small body\n'.repeat(50))],
      ['mid.bin', Buffer.alloc(2 * MiB, 9)],
    ] as const) {
      const { bucket, transport } = await newBucket(server, 'direct-put-damage');
      const src = tempDir('direct-put-damage-src');
      writeTree(src, { [rel]: body });
      // Every attempt damaged: the file fails and the run says so. Ceph refuses the body (by its signed
      // SHA-256 or its Content-MD5) and stores nothing; s3rver ignores Content-MD5 and stores it, and
      // the ETag check catches that.
      const always = await proxy(server.endpoint, { damageRequest: ({ method }) => method === 'PUT' });
      const r = await runCli(
        ['push', src, `s3://${bucket}/p`, '--endpoint-url', always.endpoint, '--json', '--retries', '2'],
        server,
      );
      expect(r.code, rel).toBe(1);
      expect(r.summary?.uploaded ?? 0, rel).toBe(0);
      const why = fileErrors(r.events).join('\n');
      if (server.name === 'ceph') {
        expect(why, rel).toMatch(/BadDigest|XAmzContentSHA256Mismatch/);
        expect((await transport.list('p/')).size, rel).toBe(0);
      } else expect(why, rel).toMatch(/ETag \S+ does not match the local content/);
      // Refused or caught, the file is not recorded: the next run sends it again.
      const fix = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server);
      expect(fix.stderr, rel).toBe('');
      expect(fix.code, rel).toBe(0);
      expect(fix.summary?.uploaded, rel).toBe(1);
      const o = await stored(transport, `p/${rel}`);
      expect(o.body.equals(body), rel).toBe(true);
    }
  });

  it('retries what the SDK path retries: 503 SlowDown, 500, resets, a garbled answer', async () => {
    const kinds: FaultKind[] = [
      'status-503-slowdown',
      'status-500',
      'reset-request',
      'reset-response',
      'garbled-headers',
    ];
    for (const kind of kinds) {
      const { bucket, transport } = await newBucket(server, 'direct-put-retry');
      const src = tempDir('direct-put-retry-src');
      writeTree(src, { 'a.txt': 'aaaa\n', 'b/b.txt': 'bbbbbbbb\n'.repeat(100) });
      const seen = new Set<string>();
      const p = await proxy(server.endpoint, {
        rate: 1,
        kinds: [kind],
        filter: ({ method, url }) => {
          if (!isPut(method, url) || seen.has(url)) return false;
          seen.add(url);
          return true;
        },
      });
      const r = await runCli(
        ['push', src, `s3://${bucket}/p`, '--endpoint-url', p.endpoint, '--json'],
        server,
      );
      expect(r.stderr, kind).toBe('');
      expect(r.code, kind).toBe(0);
      expect(p.stats.faults[kind], kind).toBe(2);
      expect(r.summary?.requests?.PutObject, kind).toBe(4);
      expect((await stored(transport, 'p/b/b.txt')).body.toString(), kind).toBe('bbbbbbbb\n'.repeat(100));
    }
  });

  it('a store failing uploads sent with SDK checksums: the error names --checksums when_required', async () => {
    const { bucket } = await newBucket(server, 'chunked');
    const src = tempDir('chunked-src');
    // Under the size that waits for 100 Continue: a refusal before the body would cut it (EPIPE).
    writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(1.5 * MiB, 3));
    // As a store that cannot read aws-chunked bodies answers them.
    const p = await proxy(server.endpoint, {
      answer: ({ method, url }) =>
        isPut(method, url)
          ? { status: 500, code: 'InternalError', message: 'We encountered an internal error.' }
          : undefined,
    });
    const said = async (mode: string) => {
      const r = await runCli(
        [
          'push',
          src,
          `s3://${bucket}/p`,
          '--endpoint-url',
          p.endpoint,
          '--retries',
          '0',
          '--checksums',
          mode,
          '--json',
        ],
        server,
      );
      expect(r.code, mode).toBe(1);
      return fileErrors(r.events);
    };
    expect(await said('when_supported')).toEqual([
      'big.bin: S3 error InternalError (HTTP 500 to PutObject): We encountered an internal error.; uploads go with SDK checksums here (--checksums when_supported), which some stores cannot read: try --checksums when_required',
    ]);
    // Without them the hint would mislead.
    expect(await said('when_required')).toEqual([
      'big.bin: S3 error InternalError (HTTP 500 to PutObject): We encountered an internal error.',
    ]);
  });

  it('an answer that is not S3 stops the run, by either path, and the upload is not counted done', async () => {
    const variants = [
      {
        what: 'a 200 without an ETag',
        change: dropEtag,
        message: /answers PutObject without an ETag \(HTTP 200\)/,
      },
      {
        what: 'an HTML page',
        change: asHtml('text/html'),
        message: /answers PutObject with an HTML page \(HTTP 200\)/,
      },
    ];
    for (const v of variants) {
      for (const [rel, body] of [
        ['small.txt', Buffer.from('small\n')],
        ['mid.bin', Buffer.alloc(2 * MiB, 2)],
      ] as const) {
        const { bucket } = await newBucket(server, 'direct-put-nots3');
        const src = tempDir('direct-put-nots3-src');
        writeTree(src, { [rel]: body });
        const p = await proxy(server.endpoint, {
          rewrite: ({ method }) => (method === 'PUT' ? { headers: v.change } : undefined),
        });
        const r = await runCli(
          ['push', src, `s3://${bucket}/p`, '--endpoint-url', p.endpoint, '--json'],
          server,
        );
        const label = `${v.what}, ${rel}`;
        expect(r.code, label).toBe(2);
        expect(r.stderr, label).toMatch(v.message);
        expect(r.stderr, label).not.toMatch(/\n\s+at /);
        expect(r.summary?.uploaded ?? 0, label).toBe(0);
      }
    }
  });

  it('goes through the SDK where a direct PUT would differ (--bwlimit); a non-ASCII value is refused first', async () => {
    const cases: [string, string[]][] = [
      ['--bwlimit', ['--bwlimit', '50M']],
      ['non-ASCII metadata', ['--header-for', '*.txt', 'x-amz-meta-note: café']],
    ];
    for (const [what, flags] of cases) {
      const { bucket, transport } = await newBucket(server, 'direct-put-sdk');
      const src = tempDir('direct-put-sdk-src');
      writeTree(src, { 'a.txt': 'aaaa\n' });
      const { p, agents } = await agentsOf(server);
      const r = await runCli(
        ['push', src, `s3://${bucket}/p`, '--endpoint-url', p.endpoint, '--json', ...flags],
        server,
      );
      // A value no header can carry is refused before any request, by either path (exit 2).
      if (what === 'non-ASCII metadata') {
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain('must be ASCII, as every header value');
        expect(agents.get('p/a.txt'), what).toBeUndefined();
        continue;
      }
      expect(r.code, r.stderr).toBe(0);
      expect((await stored(transport, 'p/a.txt')).body.toString(), what).toBe('aaaa\n');
      expect(agents.get('p/a.txt'), what).toMatch(/aws-sdk/);
    }
  });
});

describe.each(servers())('a request sent without the SDK, cancelled while in flight, on $name', (server) => {
  const matchers = { GetObject: isGet, PutObject: isPut, ListObjectsV2: isList };

  // The request is held by the proxy, and the run's timeouts are minutes long: only the cancellation
  // can end it (a hang fails the test by its time limit). The proxy sees the connection closed.
  it.each(['GetObject', 'PutObject', 'ListObjectsV2'] as const)(
    '%s: the run rejects with the reason, closes the connection, and leaves nothing behind',
    async (op) => {
      const { bucket, transport } = await newBucket(server, 'direct-cancel');
      await seedObject(transport, 'pulled/a.txt', 'aaaa\n');
      const src = tempDir('direct-cancel-src');
      writeTree(src, { 'a.txt': 'aaaa\n', 'b.txt': 'bbbb\n' });
      const dst = tempDir('direct-cancel-dst');
      let reached!: (agent: string | undefined) => void;
      const inFlight = new Promise<string | undefined>((resolve) => {
        reached = resolve;
      });
      let letGo!: () => void;
      const held = new Promise<void>((resolve) => {
        letGo = resolve;
      });
      const p = await proxy(server.endpoint, {
        hold: ({ method, url, headers }) => {
          if (!matchers[op](method, url)) return undefined;
          reached(headers['user-agent']);
          return held;
        },
      });
      const ac = new AbortController();
      const conn = {
        ...connFor(server),
        endpointUrl: p.endpoint,
        firstByteTimeout: '5m',
        stallTimeout: '5m',
        signal: ac.signal,
      };
      const run =
        op === 'GetObject'
          ? pull({ ...conn, source: `s3://${bucket}/pulled`, destination: dst })
          : push({ ...conn, source: src, destination: `s3://${bucket}/pushed` });
      const outcome = run.then(
        () => 'completed',
        (err: unknown) => err,
      );
      expect(await inFlight).toBe('s3sync');
      ac.abort(new Error('stop'));
      expect(await outcome).toMatchObject({ message: 'stop' });
      for (let i = 0; i < 200 && p.stats.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(p.stats.inFlight).toBe(0);
      expect(files(dst)).toEqual([]);
      expect(await transport.head('pushed/a.txt')).toBeNull();
      expect(await transport.head('pushed/b.txt')).toBeNull();
      letGo();
    },
  );
});
