import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../src/s3/listing.js';
import { S3Transport } from '../../src/s3/transport.js';
import { connFor, newBucket, runCli, servers, trackedDirs, treeHashes, writeTree } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';
import { rewritingProxy } from '../servers/rewriting-proxy.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const FILES = { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' };

/** ListObjectsV2 answers only (`list-type=2`), and only those that succeeded. */
const isListing = (url: URL, status: number) => url.searchParams.get('list-type') === '2' && status === 200;

describe.each(servers())('a listing cut short on $name', (server) => {
  it('a page that says more follow but names no next page: an error, never a shorter listing (pull --delete deletes nothing)', async () => {
    const { bucket } = await newBucket(server, 'cutshort');
    const url = `s3://${bucket}/p`;
    const src = dirs.dir('cutshort-src');
    writeTree(src, FILES);
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const target = dirs.dir('cutshort-target');
    writeTree(target, FILES);
    // Every variation of "truncated, and no way on": no token element, an empty one.
    for (const rewrite of [
      (b: string) => b.replace('<IsTruncated>false</IsTruncated>', '<IsTruncated>true</IsTruncated>'),
      (b: string) =>
        b.replace(
          '<IsTruncated>false</IsTruncated>',
          '<IsTruncated>true</IsTruncated><NextContinuationToken></NextContinuationToken>',
        ),
    ]) {
      const proxy = await rewritingProxy(server.endpoint, (u, status, body) =>
        isListing(u, status) ? { status, body: rewrite(body) } : undefined,
      );
      try {
        const via = { ...server, endpoint: proxy.endpoint };
        for (const args of [
          ['pull', url, target, '--delete', '--max-delete', '100%', '--no-incremental'],
          ['push', src, url, '--delete', '--verify'],
          ['check', target, url],
        ]) {
          const r = await runCli(args, via);
          expect(r.code, args.join(' ')).toBe(1);
          expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toEqual([
            expect.stringMatching(
              /^s3sync: the listing of s3:\/\/cutshort-\S+\/p\/ stopped early: the server said more keys follow but gave no continuation token; nothing was decided from it$/,
            ),
          ]);
        }
        expect(treeHashes(target)).toEqual(treeHashes(src));
      } finally {
        await proxy.close();
      }
    }
  });

  it('a page that repeats the token it was asked with: an error, not a loop', async () => {
    const { bucket } = await newBucket(server, 'repeat');
    const src = dirs.dir('repeat-src');
    writeTree(src, FILES);
    expect((await runCli(['push', src, `s3://${bucket}/p`], server)).code).toBe(0);
    let pages = 0;
    const proxy = await rewritingProxy(server.endpoint, (u, status, body) => {
      if (!isListing(u, status)) return undefined;
      pages++;
      const asked = u.searchParams.get('continuation-token');
      return asked === null
        ? undefined
        : {
            status,
            body: body.replace(/<NextContinuationToken>[^<]*</, `<NextContinuationToken>${asked}<`),
          };
    });
    try {
      const t = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, bucket);
      // One object a page: the second page names itself as the next.
      await expect(listObjects(t, 'p/', {}, { maxKeys: 1 })).rejects.toThrow(
        /stopped early: the server said more keys follow but gave a continuation token it had given before/,
      );
      expect(pages).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A ListObjectsV2 page that is no whole answer, or a listing that goes round: each would read as a
 * shorter listing (or never end), and the keys left out would look deleted. Played by a proxy that
 * rewrites a real server's page of `L/` (six keys) as the bodies of the server-faults probe.
 */
describe.each(servers())('a broken listing page on $name', (server) => {
  const SIX = {
    'a.txt': 'a\n',
    'b.txt': 'b\n',
    'c.txt': 'c\n',
    'd.txt': 'd\n',
    'e.txt': 'e\n',
    'f.txt': 'f\n',
  };
  const RETRIES = 2;
  const contents = (xml: string) => xml.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? [];
  const withoutKeyCount = (xml: string) => xml.replace(/<KeyCount>\d+<\/KeyCount>/, '');
  /** The page with only its first `n` Contents. */
  const firstOnly = (xml: string, n: number) => {
    let seen = 0;
    return xml.replace(/<Contents>[\s\S]*?<\/Contents>/g, (c) => (seen++ < n ? c : ''));
  };
  type Page = (xml: string) => string;
  let pages = 0;
  /** The first page as the server sent it: a looping listing repeats its keys whatever is asked. */
  let whole = '';
  /** The library's message, through the SDK as well as direct: the listing's own words, never the SDK's. */
  const broken =
    /^ListObjectsV2 of s3:\/\/\S+\/L\/: the answer('s KeyCount| has no| ends| is not well-formed XML)/;
  const scenarios: {
    name: string;
    page: Page;
    stderr: (bucket: string) => RegExp;
    library: RegExp;
    requests: number;
  }[] = [
    {
      name: 'a body cut after the 4th Contents, with no KeyCount',
      page: (xml) => {
        const body = withoutKeyCount(xml);
        const fourth = body.indexOf('</Contents>', body.indexOf(contents(body)[3] as string));
        return body.slice(0, fourth + '</Contents>'.length);
      },
      stderr: (b) =>
        new RegExp(
          `^s3sync: ListObjectsV2 of s3://${b}/L/: the answer ends before </ListBucketResult> \\(on every attempt\\)$`,
        ),
      library: broken,
      requests: 1 + RETRIES,
    },
    {
      name: 'no IsTruncated, no KeyCount, and 2 Contents left out',
      page: (xml) => firstOnly(withoutKeyCount(xml), 4).replace(/<IsTruncated>\w+<\/IsTruncated>/, ''),
      stderr: (b) =>
        new RegExp(
          `^s3sync: ListObjectsV2 of s3://${b}/L/: the answer has no IsTruncated \\(on every attempt\\)$`,
        ),
      library: broken,
      requests: 1 + RETRIES,
    },
    {
      name: 'a KeyCount of 6 over 4 Contents',
      page: (xml) => firstOnly(xml, 4),
      stderr: (b) =>
        new RegExp(
          `^s3sync: ListObjectsV2 of s3://${b}/L/: the answer's KeyCount says 6, the page holds 4 \\(on every attempt\\)$`,
        ),
      library: broken,
      requests: 1 + RETRIES,
    },
    {
      // A fresh token each time, so the repeated-token guard never fires: stopped at the second page.
      name: 'the same two keys on every page, each with a fresh token',
      page: () =>
        firstOnly(whole, 2)
          .replace(/<KeyCount>\d+<\/KeyCount>/, '<KeyCount>2</KeyCount>')
          .replace(
            /<IsTruncated>false<\/IsTruncated>/,
            `<IsTruncated>true</IsTruncated><NextContinuationToken>tok${pages}</NextContinuationToken>`,
          ),
      stderr: (b) =>
        new RegExp(
          `^s3sync: the listing of s3://${b}/L/ stopped early: the server listed "L/a\\.txt" a second time, so the listing does not advance; nothing was decided from it$`,
        ),
      library: /^the listing of s3:\/\/\S+\/L\/ stopped early: the server listed "L\/a\.txt" a second time/,
      requests: 2,
    },
  ];
  let page: Page | undefined;
  let proxy: FaultProxy;
  let bucket: string;
  let src: string;
  let local: string;
  let via: typeof server;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'brokenpage'));
    src = dirs.dir('brokenpage-src');
    writeTree(src, SIX);
    expect((await runCli(['push', src, `s3://${bucket}/L`], server)).code).toBe(0);
    expect((await runCli(['sync', `s3://${bucket}/L`, `s3://${bucket}/LC`], server)).code).toBe(0);
    // One object only the copy has, and one file only the local tree has: the run after the faults
    // deletes them, which shows the guarded runs below would have deleted too.
    const extra = dirs.dir('brokenpage-extra');
    writeTree(extra, { 'x.txt': 'x\n' });
    expect((await runCli(['push', extra, `s3://${bucket}/LC`], server)).code).toBe(0);
    local = dirs.dir('brokenpage-local');
    expect((await runCli(['pull', `s3://${bucket}/L`, local], server)).code).toBe(0);
    writeTree(local, { 'x.txt': 'x\n' });
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) => {
        const url = new URL(req.url, 'http://proxy');
        const asked = url.searchParams;
        if (req.method !== 'GET' || asked.get('list-type') !== '2' || asked.get('prefix') !== 'L/')
          return undefined;
        const rewrite = page;
        if (!rewrite) return undefined;
        pages++;
        return {
          // A token asked with is this test's own, not the server's: that answer is not used.
          status: 200,
          headers: (h) => {
            h['content-type'] = 'application/xml';
          },
          body: (body) => {
            if (!asked.has('continuation-token')) whole = body.toString();
            return Buffer.from(rewrite(body.toString()));
          },
        };
      },
    });
    via = { ...server, endpoint: proxy.endpoint };
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
  });

  /** Every key under `prefix` with its ETag, read past the proxy. */
  const remote = async (prefix: string) => {
    const t = await S3Transport.connect(connFor(server), bucket);
    const listed = await listObjects(t, prefix);
    return Object.fromEntries([...listed.values()].map((o) => [o.key, o.etag]));
  };

  it.each(scenarios)(
    'pull, push and sync --delete fail in one line and delete nothing ($name)',
    async (sc) => {
      const localBefore = treeHashes(local);
      const sourceBefore = await remote('L/');
      const copyBefore = await remote('LC/');
      expect(Object.keys(sourceBefore)).toHaveLength(6);
      page = sc.page;
      try {
        for (const args of [
          ['pull', `s3://${bucket}/L`, local, '--delete', '--max-delete', '100%'],
          ['push', src, `s3://${bucket}/L`, '--delete', '--max-delete', '100%', '--verify'],
          ['sync', `s3://${bucket}/L`, `s3://${bucket}/LC`, '--delete', '--max-delete', '100%'],
        ]) {
          pages = 0;
          const r = await runCli([...args, '--retries', String(RETRIES)], via);
          expect(r.code, args.join(' ')).toBe(1);
          expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toEqual([
            expect.stringMatching(sc.stderr(bucket)),
          ]);
          // Retried as a transient fault; a loop stops at its first repeated key.
          expect(pages, args.join(' ')).toBe(sc.requests);
        }
      } finally {
        page = undefined;
      }
      expect(treeHashes(local)).toEqual(localBefore);
      expect(await remote('L/')).toEqual(sourceBefore);
      expect(await remote('LC/')).toEqual(copyBefore);
    },
  );

  it.each(scenarios)(
    'the listing is refused by the SDK path and by a parallel listing too ($name)',
    async (sc) => {
      const t = await S3Transport.connect(
        { ...connFor(server), endpointUrl: proxy.endpoint, retries: 0 },
        bucket,
      );
      const rels = Object.keys(SIX);
      page = sc.page;
      try {
        for (const probe of [{ sdkParser: true }, {}]) {
          for (const opts of [{}, { maxRanges: 4, splitFrom: rels }]) {
            const err = await listObjects(t, 'L/', opts, probe).then(
              () => undefined,
              (e: Error) => e,
            );
            // The SDK's words for a body it cannot parse are not shown: the listing is named instead.
            expect(err?.message, JSON.stringify([probe, opts])).toMatch(sc.library);
            expect(err?.message).not.toMatch(/aws-sdk|Deserialization/);
          }
        }
      } finally {
        page = undefined;
      }
    },
  );

  it('the same runs without the fault succeed, and delete what they should', async () => {
    const pull = await runCli(['pull', `s3://${bucket}/L`, local, '--delete', '--max-delete', '100%'], via);
    expect(pull.code, pull.stderr).toBe(0);
    expect(treeHashes(local)).toEqual(treeHashes(src));
    const push = await runCli(['push', src, `s3://${bucket}/L`, '--delete', '--verify'], via);
    expect(push.code, push.stderr).toBe(0);
    const sync = await runCli(
      ['sync', `s3://${bucket}/L`, `s3://${bucket}/LC`, '--delete', '--max-delete', '100%'],
      via,
    );
    expect(sync.code, sync.stderr).toBe(0);
    const source = await remote('L/');
    expect(Object.keys(source)).toHaveLength(6);
    const copy = await remote('LC/');
    expect(Object.values(copy).sort()).toEqual(Object.values(source).sort());
  });
});
