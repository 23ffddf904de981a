import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BucketPlanDocument } from '../../src/sync/plan-s3.js';
import { syncBuckets } from '../../src/sync/s3-to-s3.js';
import {
  connFor,
  md5Hex,
  newBucket,
  objectMd5,
  runCli,
  seedObject,
  servers,
  tempDir,
  versionedBucket,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, type ResponseRewrite, startFaultProxy } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

interface Tiers {
  /** Key → the storage class its listing entries declare. */
  classes: Record<string, string>;
  /** Key → the x-amz-restore header its HEAD answers with. */
  restore?: Record<string, string>;
}

/** The StorageClass of one <Contents> (or <Version>) entry set to `cls`, whether the server wrote one or not. */
function withClass(entry: string, cls: string, element = 'Contents'): string {
  if (/<StorageClass>[^<]*<\/StorageClass>/.test(entry))
    return entry.replace(/<StorageClass>[^<]*<\/StorageClass>/, `<StorageClass>${cls}</StorageClass>`);
  return entry.replace(`</${element}>`, `<StorageClass>${cls}</StorageClass></${element}>`);
}

/** A listing's <Contents> (or <Version>) entries with the tiers declared. */
const withTiers = (body: Buffer, tiers: Tiers, element: string) =>
  Buffer.from(
    body.toString('utf8').replace(new RegExp(`<${element}>[\\s\\S]*?</${element}>`, 'g'), (entry) => {
      const key = /<Key>([^<]*)<\/Key>/.exec(entry)?.[1];
      const cls = key === undefined ? undefined : tiers.classes[key];
      return cls ? withClass(entry, cls, element) : entry;
    }),
  );

/** A proxy whose listings declare the given tiers (as S3 lists an archived object) and HEADs a restore. */
async function tierProxy(server: TestServer, tiers: Tiers): Promise<FaultProxy> {
  const p = await startFaultProxy({
    target: server.endpoint,
    seed: 1,
    rate: 0,
    rewrite: ({ method, url }, status) => {
      if (status !== 200) return undefined;
      if (method === 'GET' && url.includes('list-type=2'))
        return { body: (b) => withTiers(b, tiers, 'Contents') };
      const key = decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
      const restore = tiers.restore?.[key];
      if (method !== 'HEAD' || !restore) return undefined;
      return {
        headers: (h) => {
          h['x-amz-restore'] = restore;
        },
      };
    },
  });
  proxies.push(p);
  return p;
}

const VERSIONS_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * A versioned bucket whose versions listings declare the given tiers, as tierProxy does for the current
 * listing. RGW's listing is rewritten entry by entry; s3rver keeps no versions, so there the bucket
 * says it is versioned and its listing is made up from the current objects (each one version 'null',
 * which s3rver's GET and HEAD ignore), each tier declared in the same way.
 */
async function versionTierProxy(
  server: TestServer,
  tiers: Tiers,
): Promise<{ proxy: FaultProxy; bucket: string }> {
  const { bucket, transport } =
    server.name === 'ceph' ? await versionedBucket(server, 'tierat') : await newBucket(server, 'tierat');
  await seedObject(transport, 'p/cold.txt', 'archived content');
  await seedObject(transport, 'p/warm.txt', 'hot');
  const current = [...(await transport.list('p/')).values()];
  const classOf = (key: string) => tiers.classes[key] ?? 'STANDARD';
  const madeUp = () =>
    `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="${VERSIONS_XMLNS}"><Name>${bucket}</Name>` +
    '<Prefix>p/</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys>' +
    '<IsTruncated>false</IsTruncated>' +
    current
      .map(
        (o) =>
          `<Version><Key>${o.key}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>` +
          `<LastModified>${new Date(o.lastModified).toISOString()}</LastModified><ETag>"${o.etag}"</ETag>` +
          `<Size>${o.size}</Size><StorageClass>${classOf(o.key)}</StorageClass></Version>`,
      )
      .join('') +
    '</ListVersionsResult>';
  const xml: ResponseRewrite['headers'] = (h) => {
    h['content-type'] = 'application/xml';
  };
  const proxy = await startFaultProxy({
    target: server.endpoint,
    seed: 1,
    rate: 0,
    rewrite: ({ method, url }, status) => {
      const query = new URL(url, 'http://x').searchParams;
      if (method === 'GET' && query.has('versioning') && server.name === 'embedded')
        return {
          headers: xml,
          body: () =>
            Buffer.from(
              `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="${VERSIONS_XMLNS}">` +
                '<Status>Enabled</Status></VersioningConfiguration>',
            ),
        };
      if (method === 'GET' && query.has('versions')) {
        if (server.name === 'embedded')
          return { status: 200, headers: xml, body: () => Buffer.from(madeUp()) };
        if (status !== 200) return undefined;
        return { body: (b) => withTiers(b, tiers, 'Version') };
      }
      if (method === 'GET' && query.get('list-type') === '2' && status === 200)
        return { body: (b) => withTiers(b, tiers, 'Contents') };
      const key = decodeURIComponent(new URL(url, 'http://x').pathname.split('/').slice(2).join('/'));
      const restore = tiers.restore?.[key];
      if (method !== 'HEAD' || status !== 200 || !restore) return undefined;
      return {
        headers: (h) => {
          h['x-amz-restore'] = restore;
        },
      };
    },
  });
  proxies.push(proxy);
  return { proxy, bucket };
}

const viaProxy = (p: FaultProxy) => ({ env: { AWS_ENDPOINT_URL_S3: p.endpoint } });

describe.each(servers())('archive tiers ($name)', (server) => {
  it.each(['GLACIER', 'DEEP_ARCHIVE'])('push does not upload an unchanged %s object again', async (cls) => {
    const { bucket } = await newBucket(server, 'tier');
    const dir = tempDir('tier-push');
    writeTree(dir, { 'cold.txt': 'archived content', 'warm.txt': 'hot' });
    expect((await runCli(['push', dir, `s3://${bucket}/p`], server)).code).toBe(0);
    const p = await tierProxy(server, { classes: { 'p/cold.txt': cls } });
    // --verify lists the destination and compares every object with the manifest.
    const r = await runCli(['push', dir, `s3://${bucket}/p`, '--verify', '--json'], server, viaProxy(p));
    expect(r.code).toBe(0);
    expect(r.summary?.uploaded).toBe(0);
    expect(r.summary?.requests.PutObject).toBeUndefined();
    // Without the manifest (adopting what is there): matched by content, not uploaded either.
    const fresh = await runCli(
      ['push', dir, `s3://${bucket}/p`, '--manifest', path.join(tempDir('m'), 'm.json'), '--json'],
      server,
      viaProxy(p),
    );
    expect(fresh.code).toBe(0);
    expect(fresh.summary?.uploaded).toBe(0);
  });

  it.each([
    ['GLACIER', undefined, 'skipped'],
    ['DEEP_ARCHIVE', 'ongoing-request="true"', 'skipped'],
    ['GLACIER', 'ongoing-request="false", expiry-date="Fri, 21 Dec 2040 00:00:00 GMT"', 'downloaded'],
    ['GLACIER_IR', undefined, 'downloaded'],
  ])('pull: a %s object with restore %s is %s', async (cls, restore, outcome) => {
    const { bucket, transport } = await newBucket(server, 'tier');
    await seedObject(transport, 'p/cold.txt', 'archived content');
    await seedObject(transport, 'p/warm.txt', 'hot');
    const p = await tierProxy(server, {
      classes: { 'p/cold.txt': cls },
      restore: restore ? { 'p/cold.txt': restore } : {},
    });
    const dir = tempDir('tier-pull');
    const r = await runCli(['pull', `s3://${bucket}/p`, dir, '--json'], server, viaProxy(p));
    expect(readFileSync(path.join(dir, 'warm.txt'), 'utf8')).toBe('hot');
    const lines = r.events.filter((e) => e.type === 'error');
    if (outcome === 'skipped') {
      expect(r.code).toBe(1);
      expect(existsSync(path.join(dir, 'cold.txt'))).toBe(false);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ rel: 'cold.txt', message: expect.stringContaining(`in ${cls}`) });
      expect(r.summary?.requests.GetObject).toBe(1);
      // The rerun says it again, once, and downloads nothing.
      const again = await runCli(['pull', `s3://${bucket}/p`, dir, '--json'], server, viaProxy(p));
      expect(again.events.filter((e) => e.type === 'error')).toHaveLength(1);
      expect(again.summary?.requests.GetObject).toBeUndefined();
    } else {
      expect(r.code).toBe(0);
      expect(lines).toEqual([]);
      expect(readFileSync(path.join(dir, 'cold.txt'), 'utf8')).toBe('archived content');
      // Instant Retrieval is read as any object, without a HEAD.
      if (cls === 'GLACIER_IR') expect(r.summary?.requests.HeadObject).toBeUndefined();
    }
  });

  it.each([
    ['GLACIER', undefined, 'skipped'],
    ['DEEP_ARCHIVE', 'ongoing-request="true"', 'skipped'],
    ['GLACIER', 'ongoing-request="false", expiry-date="Fri, 21 Dec 2040 00:00:00 GMT"', 'downloaded'],
    ['GLACIER_IR', undefined, 'downloaded'],
  ])(
    'pull --at: a %s version with restore %s is %s, as the current object is',
    async (cls, restore, outcome) => {
      const { proxy, bucket } = await versionTierProxy(server, {
        classes: { 'p/cold.txt': cls },
        restore: restore ? { 'p/cold.txt': restore } : {},
      });
      const dir = tempDir('tier-at');
      const r = await runCli(
        ['pull', `s3://${bucket}/p`, dir, '--at', '0s', '--json'],
        server,
        viaProxy(proxy),
      );
      // The current-version path through the same proxy: --at decides the same, in the same words.
      const now = await runCli(
        ['pull', `s3://${bucket}/p`, tempDir('tier-now'), '--json'],
        server,
        viaProxy(proxy),
      );
      const errors = (run: typeof r) => run.events.filter((e) => e.type === 'error');
      expect(errors(r)).toEqual(errors(now));
      expect(r.code, r.stderr).toBe(now.code);
      expect(readFileSync(path.join(dir, 'warm.txt'), 'utf8')).toBe('hot');
      if (outcome === 'skipped') {
        expect(r.code).toBe(1);
        expect(existsSync(path.join(dir, 'cold.txt'))).toBe(false);
        expect(errors(r)).toEqual([
          expect.objectContaining({
            rel: 'cold.txt',
            message: `cold.txt: in ${cls}: not readable until restored (restore it, then run again)`,
          }),
        ]);
        // warm.txt only: the archived version is never asked for.
        expect(r.summary?.requests.GetObject).toBe(1);
      } else {
        expect(r.code).toBe(0);
        expect(readFileSync(path.join(dir, 'cold.txt'), 'utf8')).toBe('archived content');
        if (cls === 'GLACIER_IR') expect(r.summary?.requests.HeadObject).toBeUndefined();
        // The restore looked for is that of the version at TIME.
        else
          expect(proxy.log.filter((e) => e.method === 'HEAD').some((e) => e.url.includes('versionId='))).toBe(
            true,
          );
      }
    },
  );

  it('sync S3 → S3 --at skips an archived version with one line and copies the rest', async () => {
    const { proxy, bucket: from } = await versionTierProxy(server, {
      classes: { 'p/cold.txt': 'DEEP_ARCHIVE' },
    });
    const { bucket: to, transport: dst } = await newBucket(server, 'tierto');
    const events: { type: string; rel?: string }[] = [];
    const r = await syncBuckets({
      ...connFor(server),
      endpointUrl: proxy.endpoint,
      source: `s3://${from}/p`,
      destination: `s3://${to}/p`,
      at: '0s',
      onEvent: (e) => events.push(e),
    });
    const errors = events.filter((e) => e.type === 'error');
    expect(errors.filter((e) => e.rel === 'cold.txt')).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('in DEEP_ARCHIVE: not readable until restored'),
      }),
    ]);
    expect(r.outcome).toBe('failed');
    // warm.txt only: no copy of the archived version is tried.
    expect(r.requests.CopyObject).toBe(1);
    expect(await dst.head('p/cold.txt')).toBeNull();
    // s3rver's CopyObject does not take the made-up version id 'null' (a limit of the simulation only).
    if (server.name === 'ceph') {
      expect(errors).toHaveLength(1);
      expect(r.copied).toBe(1);
      expect(await objectMd5(dst, 'p/warm.txt')).toBe(md5Hex('hot'));
    }
  });

  it('push --backup-dir: an archived object that cannot be kept fails alone (exit 1), the rest is sent', async () => {
    const { bucket, transport } = await newBucket(server, 'tierbak');
    const dir = tempDir('tier-bak');
    writeTree(dir, { 'cold.txt': 'archived v1', 'a.txt': 'a v1', 'b.txt': 'b v1' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    // As AWS answers a GET or copy of an object in GLACIER that is not restored.
    const refused = Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidObjectState</Code>' +
        "<Message>The operation is not valid for the object's storage class</Message></Error>",
    );
    const p = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: ({ method, url: u }) =>
        u.includes('cold.txt') && (method === 'GET' || (method === 'PUT' && u.includes('/bak/')))
          ? {
              status: 403,
              headers: (h) => {
                h['content-type'] = 'application/xml';
              },
              body: () => refused,
            }
          : undefined,
    });
    proxies.push(p);
    writeTree(dir, { 'cold.txt': 'archived v2', 'a.txt': 'a v2', 'b.txt': 'b v2' });
    const r = await runCli(
      ['push', dir, url, '--backup-dir', `s3://${bucket}/bak`, '--workers', '1', '--json'],
      server,
      viaProxy(p),
    );
    expect(r.code, r.stderr).toBe(1);
    const errors = r.events.filter((e) => e.type === 'error');
    expect(errors.map((e) => e.rel)).toEqual(['cold.txt']);
    expect(String(errors[0]!.message)).toMatch(/archive tier/);
    expect(r.summary).toMatchObject({ uploaded: 2, failed: 1 });
    expect(await objectMd5(transport, 'p/cold.txt')).toBe(md5Hex('archived v1'));
    expect(await objectMd5(transport, 'p/a.txt')).toBe(md5Hex('a v2'));
  });

  it('plan sync records an archived object it leaves out and keeps the deletes; apply exits 1 too', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'tier');
    const { bucket: to, transport: dst } = await newBucket(server, 'tier');
    await seedObject(src, 'p/cold.txt', 'archived content');
    await seedObject(src, 'p/warm.txt', 'hot');
    await seedObject(dst, 'p/stale.txt', 'only in the destination');
    const p = await tierProxy(server, { classes: { 'p/cold.txt': 'GLACIER' } });
    const file = path.join(tempDir('tier-plan'), 'plan.json');
    const args = ['plan', 'sync', `s3://${from}/p`, `s3://${to}/p`, '--delete', '--out', file];
    const planned = await runCli(args, server, viaProxy(p));
    expect(planned.code, planned.stderr).toBe(1);
    expect(planned.stdout).toContain(`plan: 1 action(s) written to ${file}; 1 file(s) left out by errors`);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as BucketPlanDocument;
    // The delete the guards skip after an error is not in the plan.
    expect(doc.actions.map((a) => [a.kind, a.rel])).toEqual([['copy', 'warm.txt']]);
    expect(doc.errors).toEqual([{ rel: 'cold.txt', message: expect.stringContaining('in GLACIER') }]);
    const applied = await runCli(['apply', file, '--json'], server, viaProxy(p));
    expect(applied.code).toBe(1);
    expect(applied.summary).toMatchObject({ copied: 1, deleted: 0, failed: 1 });
    expect(applied.events.filter((e) => e.type === 'error').map((e) => e.message)).toEqual([
      expect.stringMatching(/^cold\.txt: left out of the plan: .*in GLACIER/),
    ]);
    expect(await dst.head('p/cold.txt')).toBeNull();
    expect(await dst.head('p/stale.txt')).not.toBeNull();
  });

  it('sync S3 → S3 skips an archived object with one line and copies the rest', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'tier');
    const { bucket: to, transport: dst } = await newBucket(server, 'tier');
    await seedObject(src, 'p/cold.txt', 'archived content');
    await seedObject(src, 'p/warm.txt', 'hot');
    const p = await tierProxy(server, { classes: { 'p/cold.txt': 'DEEP_ARCHIVE' } });
    const events: { type: string; rel?: string }[] = [];
    const r = await syncBuckets({
      ...connFor(server),
      endpointUrl: p.endpoint,
      source: `s3://${from}/p`,
      destination: `s3://${to}/p`,
      onEvent: (e) => events.push(e),
    });
    expect(r.outcome).toBe('failed');
    expect(r.copied).toBe(1);
    expect(events.filter((e) => e.type === 'error')).toEqual([
      expect.objectContaining({ rel: 'cold.txt', message: expect.stringContaining('in DEEP_ARCHIVE') }),
    ]);
    expect(await dst.head('p/cold.txt')).toBeNull();
    expect(await objectMd5(dst, 'p/warm.txt')).toBe(await objectMd5(src, 'p/warm.txt'));
  });
});
