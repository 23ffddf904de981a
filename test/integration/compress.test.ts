import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  type CliRun,
  cleanup,
  md5Hex,
  newBucket,
  runCli,
  servers,
  tempDir,
  treeHashes,
  writeTree,
} from '../helpers.js';

const dirs: string[] = [];
afterAll(() => cleanup(...dirs));
const newDir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d;
};

const html = `<!doctype html>\n${'<p>hello, compressible world</p>\n'.repeat(600)}`;
const SITE: Record<string, string | Buffer> = {
  'index.html': html,
  'blog/post.html': html.replace('hello', 'post'),
  'app.js': `${'export const x = 1;\n'.repeat(400)}`,
  'style.css': `${'body { margin: 0 }\n'.repeat(300)}`,
  'empty.json': '',
  'photo.bin': randomBytes(20_000),
};
const COMPRESS = [
  '--compress',
  '*.html',
  '--compress',
  '*.js',
  '--compress',
  '*.css',
  '--compress',
  '*.json',
];
const COMPRESSED = ['index.html', 'blog/post.html', 'app.js', 'style.css', 'empty.json'];

async function head(t: S3Transport, key: string) {
  const h = await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key }));
  return {
    encoding: h.ContentEncoding,
    size: h.ContentLength,
    meta: h.Metadata ?? {},
    cache: h.CacheControl,
  };
}

describe.each(servers())('compression on $name', (server) => {
  const cli = (...args: string[]): Promise<CliRun> => runCli([...args, '--json'], server);

  it('stores gzip, pulls back the same bytes, and a rebuild re-uploads nothing', async () => {
    const dir = newDir('gz');
    writeTree(dir, SITE);
    const { bucket, transport } = await newBucket(server, 'gz');
    const dest = `s3://${bucket}/site`;

    const r1 = await cli('push', dir, dest, ...COMPRESS);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.summary!.requests).toEqual({ PutObject: 6, ListObjectsV2: 1 });
    for (const rel of COMPRESSED) {
      const h = await head(transport, `site/${rel}`);
      const local = readFileSync(path.join(dir, rel));
      expect(h.encoding, rel).toBe('gzip');
      expect(h.meta['s3sync-source-md5'], rel).toBe(md5Hex(local));
      expect(h.meta['s3sync-source-size'], rel).toBe(String(Buffer.byteLength(local)));
      // Smaller, except an empty file, which gzip can only make larger.
      if (local.length > 0) expect(h.size!, rel).toBeLessThan(local.length / 5);
    }
    const photo = await head(transport, 'site/photo.bin');
    expect(photo).toMatchObject({ encoding: undefined, size: 20_000 });
    expect(photo.meta['s3sync-source-md5']).toBeUndefined();
    // What went over the wire: the stored (gzip) bytes, not the files' own sizes.
    const stored = [...(await transport.list('site/')).values()].reduce((n, o) => n + o.size, 0);
    expect(r1.summary!.bytesTransferred).toBe(stored);
    const p0 = await cli('pull', dest, newDir('gz-count'));
    expect(p0.summary!.bytesTransferred).toBe(stored);

    expect((await cli('push', dir, dest, ...COMPRESS)).summary!.requestsTotal).toBe(0);
    // check compares a compressed object by the source MD5 it carries, with or without the manifest.
    for (const full of [[], ['--full']]) {
      const c = await runCli(['check', dir, dest, ...full], server);
      expect(c.code, `${c.stdout}${c.stderr}`).toBe(0);
    }

    // A copy of the tree with no manifest (another machine's): a HEAD per object whose size differs
    // finds it stored compressed and compares the source MD5. Before, each was a size difference.
    const copy = newDir('gz-copy');
    writeTree(copy, SITE);
    const c1 = await cli('check', copy, dest);
    expect(c1.code, c1.stdout).toBe(0);
    expect(c1.events.at(-1)).toMatchObject({
      same: 6,
      requests: { ListObjectsV2: 1, HeadObject: COMPRESSED.length },
    });
    writeFileSync(path.join(copy, 'app.js'), `${SITE['app.js']}// changed\n`);
    const c2 = await cli('check', copy, dest);
    expect(c2.code, c2.stdout).toBe(1);
    const differ = c2.events.filter((e) => e.type === ('difference' as string));
    expect(differ).toEqual([
      expect.objectContaining({
        rel: 'app.js',
        status: 'differ',
        detail: "content differs from the compressed object's source",
      }),
    ]);

    // Round trip into an empty directory: the original bytes, verified against the source MD5.
    const into = newDir('gz-pull');
    const p1 = await cli('pull', dest, into);
    expect(p1.stderr).toBe('');
    expect(p1.summary).toMatchObject({ downloaded: 6, failed: 0 });
    expect(treeHashes(into)).toEqual(treeHashes(dir));
    // Made as a plain download is, as the umask says: not private to the user as a temp file is.
    const modeOf = (rel: string) => statSync(path.join(into, rel)).mode & 0o777;
    for (const rel of [...COMPRESSED, 'photo.bin'])
      expect(modeOf(rel).toString(8), rel).toBe(modeOf('photo.bin').toString(8));
    // The next pull trusts its manifest: the stored size of a compressed object is not the file's.
    const p2 = await cli('pull', dest, into);
    expect(p2.summary).toMatchObject({ downloaded: 0 });
    expect(p2.summary!.requests).toEqual({ ListObjectsV2: 1 });

    // A rebuild (the manifest lost): a HEAD per compressed object settles it from its source MD5.
    const manifest = path.join(newDir('gz-manifest'), 'm.json');
    const r3 = await cli('push', dir, dest, ...COMPRESS, '--manifest', manifest);
    expect(r3.summary).toMatchObject({ uploaded: 0, recorded: 6 });
    expect(r3.summary!.requests).toEqual({ ListObjectsV2: 1, HeadObject: COMPRESSED.length });
    expect((await cli('push', dir, dest, ...COMPRESS, '--manifest', manifest)).summary!.requestsTotal).toBe(
      0,
    );

    // A changed file is sent compressed again; one no longer matched by --compress is sent as is.
    writeFileSync(path.join(dir, 'index.html'), `${html}<!-- v2 -->\n`);
    const r4 = await cli('push', dir, dest, ...COMPRESS.slice(0, 6));
    expect(r4.summary).toMatchObject({ uploaded: 2 });
    const reasons = r4.events.flatMap((e) => (e.type === 'done' ? [[e.rel, e.reason]] : []));
    expect(reasons.sort()).toEqual([
      ['empty.json', 'encoding-changed'],
      ['index.html', 'size-changed'],
    ]);
    expect((await head(transport, 'site/empty.json')).encoding).toBeUndefined();
    const p3 = await cli('pull', dest, into);
    expect(p3.summary).toMatchObject({ downloaded: 2, failed: 0 });
    expect(treeHashes(into)).toEqual(treeHashes(dir));
  });

  it('a header rule change on a compressed object is a copy that keeps it compressed', async () => {
    const dir = newDir('gz-rule');
    writeTree(dir, { 'index.html': html });
    const { bucket, transport } = await newBucket(server, 'gzrule');
    const dest = `s3://${bucket}/p`;
    const push = (cache: string) =>
      cli('push', dir, dest, '--compress', '*.html', '--header-for', '*.html', `Cache-Control: ${cache}`);
    expect((await push('no-cache')).code).toBe(0);
    const r = await push('max-age=9');
    expect(r.summary!.requests).toEqual({ CopyObject: 1 });
    const h = await head(transport, 'p/index.html');
    expect(h).toMatchObject({ encoding: 'gzip', cache: 'max-age=9' });
    expect(h.meta['s3sync-source-md5']).toBe(md5Hex(html));
    const into = newDir('gz-rule-pull');
    expect((await cli('pull', dest, into)).code).toBe(0);
    expect(readFileSync(path.join(into, 'index.html'), 'utf8')).toBe(html);
  });

  it('pull decompresses only what s3sync stored compressed, and refuses a wrong source MD5', async () => {
    const { bucket, transport } = await newBucket(server, 'gzhostile');
    const gz = gzipSync(Buffer.from(html));
    const put = (key: string, meta: Record<string, string>, encoding?: string) =>
      transport.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: gz,
          ContentEncoding: encoding,
          Metadata: meta,
        }),
      );
    await put('h/user-own.gz', {}, 'gzip');
    await put('h/meta-only.html', { 's3sync-source-md5': md5Hex(html) });
    await put('h/wrong-md5.html', { 's3sync-source-md5': md5Hex('something else') }, 'gzip');
    await put('h/bad-md5-text.html', { 's3sync-source-md5': 'not-an-md5' }, 'gzip');
    await transport.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'h/not-gzip.html',
        Body: 'plain text, not gzip',
        ContentEncoding: 'gzip',
        Metadata: { 's3sync-source-md5': md5Hex('plain text, not gzip') },
      }),
    );
    // A bomb: 64 MiB of zeros in ~64 KiB, its MD5 right, its recorded size not (as a forger would).
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const bomb = gzipSync(zeros);
    const putBody = (key: string, body: Buffer, meta: Record<string, string>) =>
      transport.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentEncoding: 'gzip',
          Metadata: meta,
        }),
      );
    await putBody('h/bomb.html', bomb, { 's3sync-source-md5': md5Hex(zeros), 's3sync-source-size': '1000' });
    // The right MD5, a recorded size larger than what comes out.
    await putBody('h/short.html', gz, {
      's3sync-source-md5': md5Hex(html),
      's3sync-source-size': String(html.length + 1),
    });
    // An unreadable size is no size: the MD5 alone decides, and it is right.
    await putBody('h/size-text.html', gz, { 's3sync-source-md5': md5Hex(html), 's3sync-source-size': '1e3' });
    const into = newDir('gz-hostile');
    const r = await cli('pull', `s3://${bucket}/h`, into);
    expect(r.code).toBe(1);
    expect(readFileSync(path.join(into, 'size-text.html'), 'utf8')).toBe(html);
    for (const rel of ['bomb.html', 'short.html']) expect(existsSync(path.join(into, rel)), rel).toBe(false);
    const bombError = r.summary!.errors.find((e) => e.rel === 'bomb.html')?.message;
    expect(bombError).toMatch(/larger than its recorded source size 1000: not written/);
    expect(r.summary!.errors.find((e) => e.rel === 'short.html')?.message).toMatch(
      /has \d+ bytes, not its recorded source size/,
    );
    // Only one of the two signs: written as stored.
    expect(readFileSync(path.join(into, 'user-own.gz'))).toEqual(gz);
    expect(readFileSync(path.join(into, 'meta-only.html'))).toEqual(gz);
    expect(readFileSync(path.join(into, 'bad-md5-text.html'))).toEqual(gz);
    // Both signs, but the bytes are not what s3sync recorded: no file, an error naming it.
    expect(existsSync(path.join(into, 'wrong-md5.html'))).toBe(false);
    expect(existsSync(path.join(into, 'not-gzip.html'))).toBe(false);
    const errors = r.summary!.errors.map((e) => e.rel).sort();
    expect(errors).toEqual(['bomb.html', 'not-gzip.html', 'short.html', 'wrong-md5.html']);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });
});
