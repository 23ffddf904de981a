/**
 * A listing page that says more keys follow (IsTruncated) but gives no usable continuation token must
 * fail the run: ending the listing there would make the keys on the unread pages look deleted, and a
 * pull --delete would remove their files. Played by a proxy in front of a real server that rewrites
 * the listing's XML: the token removed, emptied, or a token given before (a loop); or pages that name
 * keys listed before, under the server's own fresh tokens (a loop no token check sees).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ListingProbe, listObjects } from '../../src/s3/listing.js';
import { S3Transport } from '../../src/s3/transport.js';
import { connFor, newBucket, runCli, seededTree, servers, trackedDirs, treeHashes } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const FILES = 1100;

type Rewrite = (xml: string) => string;

/** The ways a server can fail to carry a truncated listing on. */
function breakages(): { name: string; rewrite: () => Rewrite }[] {
  const tokenOf = (xml: string) => /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
  return [
    {
      name: 'token removed',
      rewrite: () => (xml) => xml.replace(/<NextContinuationToken>[^<]*<\/NextContinuationToken>/, ''),
    },
    {
      name: 'token empty',
      rewrite: () => (xml) =>
        xml.replace(
          /<NextContinuationToken>[^<]*<\/NextContinuationToken>/,
          '<NextContinuationToken></NextContinuationToken>',
        ),
    },
    {
      // The last page claims more follow, with the first page's token again: a loop.
      name: 'token given before',
      rewrite: () => {
        let first: string | undefined;
        return (xml) => {
          const token = tokenOf(xml);
          if (token !== undefined) {
            first ??= token;
            return xml;
          }
          if (first === undefined) return xml;
          return xml
            .replace('<IsTruncated>false</IsTruncated>', '<IsTruncated>true</IsTruncated>')
            .replace(
              '</ListBucketResult>',
              `<NextContinuationToken>${first}</NextContinuationToken></ListBucketResult>`,
            );
        };
      },
    },
    {
      // Every page after the first carries the first page's keys again: read as given, the listing
      // would hold one page of keys and the rest would look deleted.
      name: 'keys of an earlier page again',
      rewrite: () => {
        let first: string[] | undefined;
        return (xml) => {
          const items = xml.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? [];
          if (first === undefined || first.length === 0) {
            first = items;
            return xml;
          }
          const again = first;
          let i = 0;
          // One for one, so KeyCount still matches.
          return xml.replace(/<Contents>[\s\S]*?<\/Contents>/g, () => again[i++ % again.length] as string);
        };
      },
    },
  ];
}

afterAll(() => removeAll());

describe.each(servers())('a listing cut short on $name', (server) => {
  let proxy: FaultProxy;
  let bucket: string;
  let rels: string[];
  let local: string;
  let rewrite: Rewrite = (x) => x;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'trunc'));
    const src = dir('trunc-src');
    rels = seededTree(src, FILES, 77, { maxSize: 64 });
    const push = await runCli(['push', src, `s3://${bucket}/t`], server);
    expect(push.code, push.stderr).toBe(0);
    local = dir('trunc-local');
    const pull = await runCli(['pull', `s3://${bucket}/t`, local], server);
    expect(pull.code, pull.stderr).toBe(0);
    expect(Object.keys(treeHashes(local)).length).toBe(FILES);
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req, status) =>
        req.method === 'GET' && req.url.includes('list-type=2') && status === 200
          ? { body: (body) => Buffer.from(rewrite(body.toString())) }
          : undefined,
    });
  }, 300_000);
  afterAll(async () => {
    await proxy?.close();
  });

  it.each(breakages())('pull --delete fails and deletes nothing ($name)', async (b) => {
    const before = treeHashes(local);
    rewrite = b.rewrite();
    try {
      const run = await runCli(
        ['pull', `s3://${bucket}/t`, local, '--delete', '--endpoint-url', proxy.endpoint],
        server,
      );
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/listing of s3:\/\/\S+ stopped early/);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(treeHashes(local)).toEqual(before);
    } finally {
      rewrite = (x) => x;
    }
  });

  it.each(breakages())('the listing is refused as one stream and as ranges ($name)', async (b) => {
    const t = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, bucket);
    for (const ranges of [1, 4]) {
      rewrite = b.rewrite();
      try {
        const probe: ListingProbe = { maxKeys: 100 };
        await expect(listObjects(t, 't/', { maxRanges: ranges, splitFrom: rels }, probe)).rejects.toThrow(
          /stopped early/,
        );
      } finally {
        rewrite = (x) => x;
      }
    }
  });

  it('an intact listing through the same proxy still reads every key', async () => {
    const t = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, bucket);
    for (const ranges of [1, 4]) {
      const map = await listObjects(t, 't/', { maxRanges: ranges, splitFrom: rels }, { maxKeys: 100 });
      expect(new Set(map.keys())).toEqual(new Set(rels));
    }
  });
});

/**
 * A ListMultipartUploads page that is truncated but names no next marker, or markers given before.
 * The pages are made up by the proxy (s3rver has no ListMultipartUploads, and a real one needs 1,000
 * uploads to page): ending there would say "no stale uploads" in silence, and markers given again
 * would page forever (the proxy stops the loop after LOOP_PAGES, so an unchecked run ends).
 */
describe.each(servers())('a multipart uploads listing cut short on $name', (server) => {
  const LOOP_PAGES = 20;
  const page = (bucket: string, upload: string, next: string | undefined, truncated: boolean) =>
    `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Bucket>${bucket}</Bucket><Prefix>u/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>${truncated}</IsTruncated>` +
    (next ? `<NextKeyMarker>u/${next}</NextKeyMarker><NextUploadIdMarker>${next}</NextUploadIdMarker>` : '') +
    `<Upload><Key>u/${upload}</Key><UploadId>${upload}</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated>` +
    `<StorageClass>STANDARD</StorageClass></Upload></ListMultipartUploadsResult>`;
  let proxy: FaultProxy | undefined;
  afterAll(async () => {
    await proxy?.close();
  });

  it.each([
    { name: 'no next marker', next: () => undefined, stderr: /stopped early: .*no next marker/ },
    { name: 'markers given before', next: () => 'again', stderr: /stopped early: .*given before/ },
  ])('cleanup fails in one line, never a shorter list or a loop ($name)', async ({ next, stderr }) => {
    const { bucket } = await newBucket(server, 'mputrunc');
    let pages = 0;
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) => {
        if (req.method !== 'GET' || !/[?&]uploads(=|&|$)/.test(req.url)) return undefined;
        pages++;
        const body = page(bucket, `up${pages}`, next(), pages < LOOP_PAGES);
        return { status: 200, body: () => Buffer.from(body) };
      },
    });
    try {
      const run = await runCli(
        ['cleanup', `s3://${bucket}/u`, '--older-than', '0s', '--dry-run', '--endpoint-url', proxy.endpoint],
        server,
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(stderr);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(pages).toBeLessThan(LOOP_PAGES);
    } finally {
      await proxy.close();
      proxy = undefined;
    }
  });
});
