import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import type { S3Transport } from '../../src/s3/transport.js';
import { push } from '../../src/sync/push.js';
import {
  type CliRun,
  cleanup,
  connFor,
  md5Hex,
  newBucket,
  objectMd5,
  runCli,
  seedObject,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';

const dirs: string[] = [];
afterAll(() => cleanup(...dirs));
const newDir = (label: string) => {
  const d = tempDir(label);
  dirs.push(d);
  return d;
};

/** The headers of a stored object, as a browser or CDN would get them. */
async function headers(t: S3Transport, key: string) {
  const h = await t.client.send(new HeadObjectCommand({ Bucket: t.bucket, Key: key }));
  return {
    cacheControl: h.CacheControl,
    contentType: h.ContentType,
    contentDisposition: h.ContentDisposition,
    metadata: h.Metadata ?? {},
    etag: h.ETag,
  };
}

const SITE = {
  'index.html': '<!doctype html><title>home</title>\n',
  'assets/app.3f9a.js': 'console.log("app");\n',
  'assets/page.html': '<p>asset page</p>\n',
  'data/report.csv': 'a,b\n1,2\n',
  'notes.txt': 'plain\n',
};

describe.each(servers())('per-pattern headers on $name', (server) => {
  const pushCli = (dir: string, dest: string, ...extra: string[]): Promise<CliRun> =>
    runCli(['push', dir, dest, '--json', ...extra], server);

  it.each([
    ['--storage-class', ['--storage-class', 'BOGUS']],
    ['a rule', ['--header-for', '*.txt', 'x-amz-storage-class: reduced_redundancy']],
  ])(
    'a storage class the store refuses, from %s, stops the run (exit 2), not file by file',
    async (_what, flags) => {
      const dir = newDir('bad-class');
      const files: Record<string, string> = {};
      for (let i = 0; i < 20; i++) files[`f${String(i).padStart(2, '0')}.txt`] = `file ${i}\n`;
      writeTree(dir, files);
      const { bucket } = await newBucket(server, 'bad-class');
      const dest = `s3://${bucket}/p`;
      const r = await pushCli(dir, dest, '--workers', '1', ...flags);
      expect(r.code, r.stdout.slice(0, 3000)).toBe(2);
      // s3rver (as AWS and MinIO) says InvalidStorageClass; Ceph RGW a bare InvalidArgument.
      const refused =
        /refused (the )?storage class .*\((InvalidStorageClass|InvalidArgument)\b.*check --storage-class/;
      expect(r.stdout).toMatch(refused);
      // Stopped at the first refusal; before, each of the 20 files was refused in turn (exit 1).
      expect(r.summary!.requests.PutObject, r.stdout).toBe(1);
      expect(r.summary).toMatchObject({
        uploaded: 0,
        stoppedBy: expect.stringMatching(refused),
      });
      // Nothing recorded: the same push with a class the store takes sends every file.
      const ok = await pushCli(dir, dest);
      expect(ok.summary).toMatchObject({ uploaded: 20, failed: 0 });
    },
  );

  it("a rule's glob keeps its trailing space: 'tr ' sets the headers of `tr ` only, not of `tr`", async () => {
    const dir = newDir('hspace');
    writeTree(dir, { 'tr ': 'with a space\n', tr: 'without\n' });
    const { bucket, transport } = await newBucket(server, 'hspace');
    const r = await pushCli(dir, `s3://${bucket}/p`, '--header-for', 'tr ', 'Cache-Control: no-cache');
    expect(r.code, r.stderr).toBe(0);
    expect((await headers(transport, 'p/tr ')).cacheControl).toBe('no-cache');
    expect((await headers(transport, 'p/tr')).cacheControl).toBeUndefined();
  });

  it('sets headers by the first matching rule, changes them by copies alone, then makes no request', async () => {
    const dir = newDir('headers');
    writeTree(dir, SITE);
    const { bucket, transport } = await newBucket(server, 'headers');
    const dest = `s3://${bucket}/site`;
    const rules = (htmlCache: string) => [
      '--cache-control',
      'max-age=60',
      '--header-for',
      '*.html',
      `Cache-Control: ${htmlCache}`,
      '--header-for',
      '*.html',
      'Content-Type: text/html; charset=utf-8',
      '--header-for',
      'assets/**',
      'Cache-Control: max-age=31536000, immutable',
      '--header-for',
      '*.csv',
      'Content-Disposition: attachment',
      '--header-for',
      '*.csv',
      'x-amz-meta-owner: data-team',
    ];

    const r1 = await pushCli(dir, dest, ...rules('no-cache'));
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.summary!.requests).toEqual({ PutObject: 5, ListObjectsV2: 1 });

    const index = await headers(transport, 'site/index.html');
    expect(index).toMatchObject({ cacheControl: 'no-cache', contentType: 'text/html; charset=utf-8' });
    // First match wins: assets/page.html matches '*.html' before 'assets/**'.
    expect(await headers(transport, 'site/assets/page.html')).toMatchObject({ cacheControl: 'no-cache' });
    expect(await headers(transport, 'site/assets/app.3f9a.js')).toMatchObject({
      cacheControl: 'max-age=31536000, immutable',
      contentType: 'text/javascript',
    });
    const csv = await headers(transport, 'site/data/report.csv');
    expect(csv).toMatchObject({ cacheControl: 'max-age=60', contentDisposition: 'attachment' });
    // The rule's metadata goes beside s3sync's own, which stays.
    expect(csv.metadata).toMatchObject({ owner: 'data-team', md5: expect.any(String) });
    // No rule: the run's global setting.
    expect(await headers(transport, 'site/notes.txt')).toMatchObject({ cacheControl: 'max-age=60' });

    const r2 = await pushCli(dir, dest, ...rules('no-cache'));
    expect(r2.summary).toMatchObject({ uploaded: 0, restyled: 0, requestsTotal: 0 });

    // One rule changes: the two HTML objects get it by a copy each, with no upload.
    const r3 = await pushCli(dir, dest, ...rules('max-age=30'));
    expect(r3.code).toBe(0);
    expect(r3.summary).toMatchObject({ uploaded: 0, restyled: 2, bytesTransferred: 0 });
    expect(r3.summary!.requests).toEqual({ CopyObject: 2 });
    const after = await headers(transport, 'site/index.html');
    expect(after).toMatchObject({ cacheControl: 'max-age=30', contentType: 'text/html; charset=utf-8' });
    expect(after.etag).toBe(index.etag);
    expect(after.metadata.md5).toBe(index.metadata.md5);

    const r4 = await pushCli(dir, dest, ...rules('max-age=30'));
    expect(r4.summary).toMatchObject({ uploaded: 0, restyled: 0, requestsTotal: 0 });

    // The rules removed: every object a rule styled goes back to the global settings, by copies.
    const r5 = await pushCli(dir, dest, '--cache-control', 'max-age=60');
    expect(r5.summary!.requests).toEqual({ CopyObject: 4 });
    const plain = await headers(transport, 'site/data/report.csv');
    expect(plain).toMatchObject({ cacheControl: 'max-age=60', contentDisposition: undefined });
    expect(plain.metadata.owner).toBeUndefined();
    const r6 = await pushCli(dir, dest, '--cache-control', 'max-age=60');
    expect(r6.summary!.requestsTotal).toBe(0);
  });

  it('--dry-run lists the copies and makes none; rules come from the config file too', async () => {
    const dir = newDir('headers-config');
    writeTree(dir, SITE);
    const { bucket, transport } = await newBucket(server, 'hdrcfg');
    const dest = `s3://${bucket}/p`;
    const cfgDir = newDir('cfg');
    const file = path.join(cfgDir, 's3sync.config.json');
    const write = (cache: string) =>
      writeFileSync(
        file,
        JSON.stringify({
          defaults: { headers: [{ match: '*.html', cacheControl: cache, metadata: { build: '7' } }] },
        }),
      );
    write('no-cache');
    const env = { env: { S3SYNC_CONFIG: file } };
    const r1 = await runCli(['push', dir, dest, '--json'], server, env);
    expect(r1.code).toBe(0);
    expect(await headers(transport, 'p/index.html')).toMatchObject({
      cacheControl: 'no-cache',
      metadata: { build: '7' },
    });

    write('max-age=5');
    const dry = await runCli(['push', dir, dest, '--json', '--dry-run'], server, env);
    expect(dry.summary).toMatchObject({ restyled: 2, uploaded: 0, requestsTotal: 0 });
    const listed = dry.events
      .filter((e) => e.type === 'action')
      .map((e) => e.type === 'action' && [e.action, e.rel, e.reason]);
    expect(listed.sort()).toEqual([
      ['restyle', 'assets/page.html', 'headers-changed'],
      ['restyle', 'index.html', 'headers-changed'],
    ]);
    expect(await headers(transport, 'p/index.html')).toMatchObject({ cacheControl: 'no-cache' });
    const human = await runCli(['push', dir, dest, '--dry-run'], server, env);
    expect(human.stdout).toContain('(dry run) restyle index.html [headers-changed]');
    expect(human.stdout).toContain('would be 2 restyled');

    const real = await runCli(['push', dir, dest, '--json'], server, env);
    expect(real.summary!.requests).toEqual({ CopyObject: 2 });
    expect(await headers(transport, 'p/index.html')).toMatchObject({
      cacheControl: 'max-age=5',
      metadata: { build: '7' },
    });
  });

  it('a rebuild (no manifest) sets the rule headers by copies, uploads nothing, and then rests', async () => {
    const dir = newDir('headers-rebuild');
    writeTree(dir, SITE);
    const { bucket, transport } = await newBucket(server, 'hdrreb');
    const dest = `s3://${bucket}/p`;
    // Pushed without rules (say by an older s3sync), then the manifest is lost.
    expect((await pushCli(dir, dest)).code).toBe(0);
    const state = newDir('other-manifest');
    const manifest = path.join(state, 'm.json');
    const rule = ['--header-for', '*.html', 'Cache-Control: no-store', '--manifest', manifest];
    const r = await pushCli(dir, dest, ...rule);
    expect(r.summary).toMatchObject({ uploaded: 0, restyled: 2, recorded: 3 });
    expect(r.summary!.requests).toEqual({ ListObjectsV2: 1, CopyObject: 2 });
    expect(await headers(transport, 'p/index.html')).toMatchObject({ cacheControl: 'no-store' });
    expect((await pushCli(dir, dest, ...rule)).summary!.requestsTotal).toBe(0);
  });

  it("a rule or --compress glob naming a folder says it matches files only; with the '/' it is silent", async () => {
    const dir = newDir('headers-folder');
    writeTree(dir, { 'sub/a.txt': 'a', '.cache/b': 'b', 'c.txt': 'c' });
    const { bucket, transport } = await newBucket(server, 'hdrfolder');
    const dest = `s3://${bucket}/p`;
    const notices = (r: CliRun) => r.events.filter((e) => e.type === 'notice').map((e) => e.message);
    const bare = await pushCli(
      dir,
      dest,
      '--header-for',
      'sub',
      'Cache-Control: no-cache',
      '--compress',
      '.*',
    );
    expect(bare.code).toBe(0);
    expect(notices(bare)).toEqual([
      "sub/: --header-for 'sub' sets headers on files of that name, not this folder: write 'sub/' to set them on the files in it",
      ".cache/: --compress '.*' compresses files it matches, not folders such as this one: write '.*/' to compress the files in them",
    ]);
    expect((await headers(transport, 'p/sub/a.txt')).cacheControl).toBeUndefined();
    const slash = await pushCli(
      dir,
      dest,
      '--header-for',
      'sub/',
      'Cache-Control: no-cache',
      '--compress',
      '.*/',
    );
    expect(notices(slash)).toEqual([]);
    expect(slash.summary).toMatchObject({ restyled: 1, uploaded: 1 });
    expect(await headers(transport, 'p/sub/a.txt')).toMatchObject({ cacheControl: 'no-cache' });
  });

  it('a file left out by a filter keeps its entry: once taken in again, its headers follow the rules', async () => {
    const dir = newDir('headers-excl');
    const html = `<!doctype html>\n${'<p>compressible</p>\n'.repeat(400)}`;
    writeTree(dir, { 'a.txt': 'aaa\n', 'b.txt': 'bbb\n', 'j.html': html });
    const { bucket, transport } = await newBucket(server, 'hdrexcl');
    const dest = `s3://${bucket}/x`;
    const rule = ['--header-for', '*.txt', 'Content-Disposition: attachment', '--compress', '*.html'];
    expect((await pushCli(dir, dest, ...rule)).summary).toMatchObject({ uploaded: 3 });
    // The rule is gone and a.txt and j.html are left out: b.txt is restyled, the others not touched.
    const out = await pushCli(dir, dest, '--exclude', 'a.txt', '--exclude', '*.html');
    expect(out.summary).toMatchObject({ restyled: 1, uploaded: 0, recorded: 0 });
    // Taken in again: a.txt loses the rule's header by a copy, j.html is stored plain; no listing.
    const back = await pushCli(dir, dest);
    expect(back.summary).toMatchObject({ restyled: 1, uploaded: 1, recorded: 0 });
    expect(back.summary!.requests.ListObjectsV2).toBeUndefined();
    for (const key of ['x/a.txt', 'x/b.txt'])
      expect((await headers(transport, key)).contentDisposition, key).toBeUndefined();
    expect((await pushCli(dir, dest)).summary!.requestsTotal).toBe(0);
    const check = await runCli(['check', dir, dest, '--json'], server);
    expect(check.code, check.stdout).toBe(0);
  });

  it("a renamed file is copied with its own rule's headers, and a compressed one is uploaded", async () => {
    const dir = newDir('headers-rename');
    const html = `<!doctype html>\n${'<p>compressible</p>\n'.repeat(400)}`;
    const pdf = Buffer.alloc(3000, 9);
    writeTree(dir, { 'a.pdf': pdf, 'page.html': html });
    const { bucket, transport } = await newBucket(server, 'hdrren');
    const dest = `s3://${bucket}/p`;
    const rules = [
      ['--header-for', 'docs/*.pdf', 'Content-Disposition: attachment'],
      ['--header-for', 'docs/*.pdf', 'Cache-Control: max-age=60'],
      ['--header-for', 'docs/*.pdf', 'x-amz-meta-owner: bob'],
      ['--header-for', '*.pdf', 'Cache-Control: no-store'],
      ['--compress', '*.html'],
    ].flat();
    expect((await pushCli(dir, dest, ...rules)).code).toBe(0);
    // Each renamed: the PDF into a folder whose rule sets other headers, the page out of --compress
    // (its object holds gzip bytes) and, as a copy of it, back under a name that is compressed.
    mkdirSync(path.join(dir, 'docs'));
    renameSync(path.join(dir, 'a.pdf'), path.join(dir, 'docs', 'b.pdf'));
    renameSync(path.join(dir, 'page.html'), path.join(dir, 'page.txt'));
    writeFileSync(path.join(dir, 'copy.html'), html);
    const r = await pushCli(dir, dest, ...rules, '--delete', '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 1, uploaded: 2, deleted: 2 });
    expect(await headers(transport, 'p/docs/b.pdf')).toMatchObject({
      cacheControl: 'max-age=60',
      contentDisposition: 'attachment',
      contentType: 'application/pdf',
      metadata: expect.objectContaining({ owner: 'bob' }),
    });
    // The next push has nothing to set: the copy recorded the rule it applied.
    expect((await pushCli(dir, dest, ...rules)).summary!.requestsTotal).toBe(0);
    // The plain file is stored as itself, the compressed one as gzip: both pull back byte for byte.
    const back = newDir('headers-rename-pull');
    expect((await runCli(['pull', dest, back], server)).code).toBe(0);
    expect(readFileSync(path.join(back, 'page.txt'), 'utf8')).toBe(html);
    expect(readFileSync(path.join(back, 'copy.html'), 'utf8')).toBe(html);
    expect(readFileSync(path.join(back, 'docs', 'b.pdf'))).toEqual(pdf);
    expect((await headers(transport, 'p/page.txt')).contentType).toMatch(/^text\/plain/);
  });

  it('a rule change meets an object overwritten or deleted behind s3sync: uploaded, never restyled', async () => {
    const dir = newDir('headers-drift');
    writeTree(dir, { 'f.txt': 'good data\n', 'g.txt': 'more data\n' });
    const { bucket, transport } = await newBucket(server, 'hdrdrift');
    const dest = `s3://${bucket}/p`;
    const rule = (v: string) => ['--header-for', '*.txt', `Cache-Control: ${v}`];
    expect((await pushCli(dir, dest, ...rule('a'))).code).toBe(0);
    // The same size, other bytes (another writer); and the other object gone.
    await seedObject(transport, 'p/f.txt', 'EVIL DATA\n');
    await transport.deleteKeys(['p/g.txt']);
    const r = await pushCli(dir, dest, ...rule('b'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 2, restyled: 0, failed: 0 });
    expect(await objectMd5(transport, 'p/f.txt')).toBe(md5Hex('good data\n'));
    expect(await objectMd5(transport, 'p/g.txt')).toBe(md5Hex('more data\n'));
    expect(await headers(transport, 'p/f.txt')).toMatchObject({ cacheControl: 'b' });
    expect((await runCli(['check', dir, dest, '--full'], server)).code).toBe(0);
    expect((await pushCli(dir, dest, ...rule('b'))).summary!.requestsTotal).toBe(0);
  });

  it('the library takes the rules and a pass-through for fields the table does not name', async () => {
    const dir = newDir('headers-lib');
    writeTree(dir, SITE);
    const { bucket, transport } = await newBucket(server, 'hdrlib');
    const base = { source: dir, destination: `s3://${bucket}/lib`, ...connFor(server) };
    const r = await push({
      ...base,
      headers: [{ match: '*.js', cacheControl: 'immutable' }],
      objectParams: (f) => (f.rel.endsWith('.html') ? { ContentLanguage: 'en' } : {}),
    });
    expect(r.outcome).toBe('ok');
    const h = await transport.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'lib/index.html' }));
    expect(h.ContentLanguage).toBe('en');
    expect((await headers(transport, 'lib/assets/app.3f9a.js')).cacheControl).toBe('immutable');

    for (const key of ['Key', 'Bucket', 'ContentMD5', 'Body', 'CacheControl', 'Metadata']) {
      const err: unknown = await push({
        ...base,
        incremental: false,
        objectParams: () => ({ [key]: 'x' }),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind).toBe('usage');
      expect((err as Error).message).toContain(key);
    }
    // Refused for some files only: still before the first upload, so nothing is sent.
    const { bucket: other, transport: t2 } = await newBucket(server, 'hdrlate');
    const some = await push({
      ...base,
      destination: `s3://${other}/p`,
      workers: 1,
      objectParams: (f) => (f.rel === 'notes.txt' ? { Metadata: {} } : { ContentLanguage: 'en' }),
    }).catch((e: unknown) => e);
    expect((some as S3SyncError).kind).toBe('usage');
    expect([...(await t2.list('p/')).keys()]).toEqual([]);
  });

  it('an async objectParams, or one that is no function, is refused before any request, with nothing to upload too', async () => {
    const dir = newDir('headers-async');
    writeTree(dir, SITE);
    const { bucket } = await newBucket(server, 'hdrasync');
    const base = { source: dir, destination: `s3://${bucket}/lib`, ...connFor(server) };
    expect((await push(base)).outcome).toBe('ok');
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    try {
      const at = { ...base, endpointUrl: proxy.endpoint };
      const refusals: [unknown, string][] = [
        [
          async () => ({}),
          'option objectParams must return the fields, not a promise: make it a plain function, not an async one',
        ],
        [
          async function* () {},
          'option objectParams must be a plain function of the file, not an async generator',
        ],
        ['x', 'option objectParams must be a function of the file, got "x"'],
        [{}, 'option objectParams must be a function of the file, got {}'],
      ];
      for (const [objectParams, message] of refusals) {
        const err: unknown = await push({ ...at, objectParams } as Parameters<typeof push>[0]).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(S3SyncError);
        expect((err as S3SyncError).kind).toBe('usage');
        expect((err as Error).message).toBe(message);
      }
      expect(proxy.stats.requests).toBe(0);
      // A plain function returning a promise cannot be told before its first call: with nothing to
      // upload it is never called, and the run is as any other.
      expect(
        (await push({ ...at, objectParams: () => Promise.resolve({}) } as Parameters<typeof push>[0]))
          .outcome,
      ).toBe('ok');
    } finally {
      await proxy.close();
    }
  });
});

describe('bad header and compression input: one line, exit 2, nothing sent', () => {
  const src = () => {
    const d = newDir('bad');
    writeTree(d, { 'a.html': 'x' });
    return d;
  };
  // No server: a run that got as far as a request would fail otherwise, not with exit 2.
  const refused = async (args: string[], env: Record<string, string> = {}) => {
    const r = await runCli(['push', src(), 's3://bucket/p', ...args], undefined, {
      env: {
        AWS_ACCESS_KEY_ID: 'k',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
        ...env,
      },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    return r.stderr;
  };

  it.each([
    [['--header-for', '*.html', 'X-Frame-Options: deny'], 'unknown header "x-frame-options"'],
    [
      ['--header-for', '*.html', 'Cache-Control no-cache'],
      '--header-for must be a glob and a header, got "*.html" "Cache-Control no-cache": "Cache-Control no-cache" is not "Header: value"',
    ],
    [['--header-for', '*.html', 'Cache-Control:'], 'is empty'],
    [['--header-for', '*.html', 'x-amz-meta-md5: x'], "s3sync's own"],
    [['--header-for', '*.html', 'x-amz-meta-Bad Name: x'], 'lower case'],
    [['--header-for', '*.html'], 'takes a glob and a header'],
    [['--header-for', '*.html', '--dry-run'], 'takes a glob and a header'],
    [
      ['--header-for', '*.html', 'Cache-Control: a', '--header-for', '*.html', 'cache-control: b'],
      'given twice',
    ],
    [['--header-for', '/', 'Cache-Control: a'], '--header-for'],
    [['--compress', './'], '--compress'],
  ])('%j', async (args, message) => {
    expect(await refused(args)).toContain(message);
  });

  it.each([
    [[{ match: '*.html', cachecontrol: 'x' }], 'unknown key "cachecontrol"'],
    [[{ match: '*.html' }], 'sets nothing'],
    [
      [
        { match: '*.html', metadata: {} },
        { match: '*', cacheControl: 'x' },
      ],
      'rule 1 ("*.html") sets nothing',
    ],
    [{ match: '*.html', cacheControl: 'x' }, 'a list of rules'],
    [[{ match: '*.html', metadata: { md5: 'x' } }], "s3sync's own"],
  ])('config headers %j', async (headers, message) => {
    const file = path.join(newDir('badcfg'), 's3sync.config.json');
    writeFileSync(file, JSON.stringify({ defaults: { headers } }));
    const stderr = await refused([], { S3SYNC_CONFIG: file });
    expect(stderr).toContain(message);
    expect(stderr).toContain(file);
  });
});
