import { afterAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../src/s3/listing.js';
import { S3Transport } from '../../src/s3/transport.js';
import { connFor, newBucket, runCli, servers, trackedDirs, treeHashes, writeTree } from '../helpers.js';
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
