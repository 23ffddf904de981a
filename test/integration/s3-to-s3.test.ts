import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { type CopyResult, copyInParts, copyUnsupported } from '../../src/s3/copy.js';
import { copiedOther, headObject } from '../../src/s3/copy-check.js';
import { httpStatus } from '../../src/s3/errors.js';
import { listMultipartUploads } from '../../src/s3/multipart.js';
import { S3Transport } from '../../src/s3/transport.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { syncBuckets } from '../../src/sync/s3-to-s3.js';
import {
  connFor,
  MiB,
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  runCli,
  seedMultipart,
  seedObject,
  servers,
  tempDir,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy, uploadGoneAfterFirstPart } from '../servers/fault-proxy.js';
import type { TestServer } from '../servers/servers.js';

const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/** Every object under a prefix: rel → MD5 of its content as downloaded. */
async function contents(t: S3Transport, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of (await t.list(prefix)).values()) out[o.rel] = await objectMd5(t, o.key);
  return out;
}

const DATA: Record<string, string | Buffer> = {
  'a.txt': 'alpha',
  'dir/b.bin': randomBytes(70_000),
  'dir/deeper/c d+e.txt': 'spaces and a plus',
  'ünï/ç.txt': 'unicode key',
};

async function seedAll(t: S3Transport, prefix: string, files = DATA): Promise<void> {
  for (const [rel, body] of Object.entries(files)) await seedObject(t, prefix + rel, body);
}

/**
 * A HEAD of `…/p/<rel>?partNumber=N` answered as AWS answers it (that part's length and range, the
 * object's part count), from the parts the test uploaded; undefined for any other request.
 */
function partAnswer(url: string, layouts: Record<string, number[]>) {
  const m = /\/p\/([^?]+)\?(?:.*&)?partNumber=(\d+)/.exec(url);
  const sizes = m && layouts[decodeURIComponent(m[1]!)];
  if (!m || !sizes) return undefined;
  const n = Number(m[2]);
  const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0);
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    headers: (h: Record<string, unknown>) => {
      h['content-length'] = sizes[n - 1];
      h['content-range'] = `bytes ${start}-${start + sizes[n - 1]! - 1}/${total}`;
      h['x-amz-mp-parts-count'] = String(sizes.length);
    },
  };
}

describe.each(servers())('sync S3 → S3 ($name)', (server) => {
  it('same endpoint: only CopyObject requests besides the two listings; a rerun makes two listings', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'src');
    const { bucket: to, transport: dst } = await newBucket(server, 'dst');
    // s3rver cannot copy a key with a reserved character (it decodes the source with decodeURI).
    const files = Object.fromEntries(
      Object.entries(DATA).filter(([rel]) => server.name !== 'embedded' || !rel.includes('+')),
    );
    await seedAll(src, 'data/', files);
    await seedObject(src, 'data/meta.txt', 'with metadata', { md5: md5Hex('with metadata'), owner: 'ops' });

    const first = await runCli(['sync', `s3://${from}/data`, `s3://${to}/copy`, '--json'], server);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const n = Object.keys(files).length + 1;
    expect(first.summary?.copied).toBe(n);
    expect(first.summary?.requests).toEqual({ ListObjectsV2: 2, CopyObject: n });
    expect(first.summary?.bytesTransferred).toBe(0);
    expect(await contents(dst, 'copy/')).toEqual(await contents(src, 'data/'));
    // Metadata travels with the copy.
    expect((await dst.head('copy/meta.txt'))?.metadata).toMatchObject({ owner: 'ops' });

    const again = await runCli(['sync', `s3://${from}/data`, `s3://${to}/copy`, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 2 });
    expect(again.summary?.unchanged).toBe(n);
    // In words: objects, none of them "recorded" (S3 → S3 keeps no manifest).
    const said = await runCli(['sync', `s3://${from}/data`, `s3://${to}/copy`], server);
    expect(said.stdout.split('\n')[0]).toBe(`${n} objects: ${n} unchanged, 0 copied, 0 deleted, 0 failed`);
  });

  it('takes --tpslimit and --tpslimit-burst, as every command that sends requests does', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'src');
    const { bucket: to, transport: dst } = await newBucket(server, 'dst');
    await seedAll(src, 'p/', { 'a.txt': 'one', 'b.txt': 'two', 'c.txt': 'three' });
    const limits = ['--tpslimit', '50', '--tpslimit-burst', '5'];
    const r = await runCli(['sync', `s3://${from}/p`, `s3://${to}/q`, ...limits, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary?.copied).toBe(3);
    expect(await contents(dst, 'q/')).toEqual(await contents(src, 'p/'));
    // The library takes them too.
    const lib = { ...connFor(server), source: `s3://${from}/p`, destination: `s3://${to}/q` };
    expect((await syncBuckets({ ...lib, tpslimit: 50, tpslimitBurst: 5 })).unchanged).toBe(3);
  });

  it('copies a changed object again, and --delete removes what the source lost, within the guards', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'src');
    const { bucket: to, transport: dst } = await newBucket(server, 'dst');
    const files = { 'a.txt': 'one', 'b.txt': 'two', 'c.txt': 'three', 'd.txt': 'four' };
    await seedAll(src, 'p/', files);
    const lib = { ...connFor(server), source: `s3://${from}/p`, destination: `s3://${to}/q` };
    expect((await syncBuckets(lib)).copied).toBe(4);

    await seedObject(src, 'p/a.txt', 'ONE'); // same size, other content
    await src.deleteKeys(['p/b.txt']);
    const events: SyncEvent[] = [];
    const r = await syncBuckets({ ...lib, delete: true, onEvent: (e) => events.push(e) });
    expect(r.outcome).toBe('ok');
    expect(r.copied).toBe(1);
    expect(r.deleted).toBe(1);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'done', action: 'copy', rel: 'a.txt', reason: 'content-changed' }),
    );
    expect(await contents(dst, 'q/')).toEqual(await contents(src, 'p/'));

    // The source emptied: refused (exit 2), nothing deleted.
    await src.deleteKeys(['p/a.txt', 'p/c.txt', 'p/d.txt']);
    const empty = await runCli(['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete'], server);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/refusing to delete all 3 file\(s\): the source is empty/);
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual(['a.txt', 'c.txt', 'd.txt']);

    // A folder marker is no file: a source holding only one is empty too (dry run, plan and run).
    await seedObject(src, 'p/dir/', '');
    const planFile = path.join(tempDir('marker-plan'), 'plan.json');
    for (const args of [
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '100', '--dry-run'],
      [
        'plan',
        'sync',
        `s3://${from}/p`,
        `s3://${to}/q`,
        '--delete',
        '--max-delete',
        '100',
        '--out',
        planFile,
      ],
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '100'],
    ]) {
      const marker = await runCli(args, server);
      expect(marker.code, args.join(' ')).toBe(2);
      expect(marker.stderr).toMatch(/refusing to delete all 3 file\(s\): the source is empty/);
    }
    // The run copies the marker, as any object, before its deletions are refused.
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual(['a.txt', 'c.txt', 'd.txt', 'dir/']);
    await src.deleteKeys(['p/dir/']);
    await dst.deleteKeys(['q/dir/']);

    // Over --max-delete: refused too.
    await seedObject(src, 'p/a.txt', 'ONE');
    const over = await runCli(
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '1'],
      server,
    );
    expect(over.code).toBe(2);
    expect(over.stderr).toMatch(/over --max-delete/);
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual(['a.txt', 'c.txt', 'd.txt']);
    // A dry run is refused the same way, and shows no deletion the real run would not make.
    const overDry = await runCli(
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '1', '--dry-run', '--json'],
      server,
    );
    expect(overDry.code).toBe(2);
    expect(overDry.stderr).toMatch(/refusing to delete 2 of 3 file\(s\): over --max-delete 1/);
    expect(overDry.events.filter((e) => e.type === 'action')).toEqual([]);
    expect(overDry.summary).toMatchObject({ dryRun: true, deleted: 0 });

    // --dry-run says what it would do and does nothing.
    const dry = await runCli(
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--force', '--dry-run', '--json'],
      server,
    );
    expect(dry.code).toBe(0);
    expect(
      dry.events
        .filter((e) => e.type === 'action')
        .map((e) => (e as { rel: string }).rel)
        .sort(),
    ).toEqual(['c.txt', 'd.txt']);
    expect(dry.summary?.requests).toEqual({ ListObjectsV2: 2 });
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual(['a.txt', 'c.txt', 'd.txt']);
  });

  it('a dry run refused by --max-delete lists its copies first, as the real run makes them', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'src');
    const { bucket: to, transport: dst } = await newBucket(server, 'dst');
    await seedAll(src, 'p/', { 'new1.txt': 'one', 'new2.txt': 'two' });
    await seedAll(dst, 'q/', { 'old1.txt': 'x', 'old2.txt': 'y', 'old3.txt': 'z' });
    const ends = [`s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '1'];
    const dry = await runCli(['sync', ...ends, '--dry-run', '--json'], server);
    expect(dry.code).toBe(2);
    expect(dry.stderr).toMatch(/refusing to delete 3 of 3 file\(s\): over --max-delete 1/);
    const actions = dry.events.filter(
      (e): e is Extract<SyncEvent, { type: 'action' }> => e.type === 'action',
    );
    expect(actions.map((e) => [e.action, e.rel, e.dryRun]).sort()).toEqual([
      ['copy', 'new1.txt', true],
      ['copy', 'new2.txt', true],
    ]);
    expect(dry.summary).toMatchObject({ dryRun: true, copied: 2, deleted: 0 });
    // In words, as push and pull say theirs.
    const said = await runCli(['sync', ...ends, '--dry-run'], server);
    expect(said.code).toBe(2);
    expect(plainLines(said.stdout).filter((l) => /new\d\.txt/.test(l))).toHaveLength(2);
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual(['old1.txt', 'old2.txt', 'old3.txt']);
    // The real run makes those copies, then refuses the deletions the same way.
    const real = await runCli(['sync', ...ends, '--json'], server);
    expect(real.code).toBe(2);
    expect(real.summary).toMatchObject({ copied: 2, deleted: 0 });
    expect(Object.keys(await contents(dst, 'q/')).sort()).toEqual([
      'new1.txt',
      'new2.txt',
      'old1.txt',
      'old2.txt',
      'old3.txt',
    ]);
  });

  it('--backup-dir keeps the previous content of an overwritten and of a deleted object, and plans record it', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'bsrc');
    const { bucket: to, transport: dst } = await newBucket(server, 'bdst');
    await seedAll(src, 'p/', { 'a.txt': 'first a', 'b.txt': 'first b', 'c.txt': 'same' });
    const ends = [`s3://${from}/p`, `s3://${to}/q`];
    expect((await runCli(['sync', ...ends], server)).code).toBe(0);
    await seedObject(src, 'p/a.txt', 'second a, longer');
    await src.deleteKeys(['p/b.txt']);
    const bak = ['--backup-dir', `s3://${to}/old/run1`, '--suffix', '.bak'];
    const r = await runCli(['sync', ...ends, '--delete', '--max-delete', '1', ...bak, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 1, deleted: 1, failed: 0 });
    // The two backups (copies inside the destination's store), then the copy itself.
    expect(r.summary?.requests).toMatchObject({ ListObjectsV2: 2, CopyObject: 3, DeleteObjects: 1 });
    expect(await contents(dst, 'old/run1/')).toEqual({
      'a.txt.bak': md5Hex('first a'),
      'b.txt.bak': md5Hex('first b'),
    });
    expect(await contents(dst, 'q/')).toEqual(await contents(src, 'p/'));

    // Planned: the plan records the backup, and apply keeps what it overwrites.
    await seedObject(src, 'p/c.txt', 'third version of c');
    const file = path.join(tempDir('bplan'), 'plan.json');
    const bak2 = ['--backup-dir', `s3://${to}/old/run2`];
    expect((await runCli(['plan', 'sync', ...ends, ...bak2, '--out', file], server)).code).toBe(0);
    const applied = await runCli(['apply', file, '--json'], server);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await contents(dst, 'old/run2/')).toEqual({ 'c.txt': md5Hex('same') });
    expect(await objectMd5(dst, 'q/c.txt')).toBe(md5Hex('third version of c'));

    // A backup inside the destination: refused before any request.
    const inside = await runCli(['sync', ...ends, '--backup-dir', `s3://${to}/q/old`], server);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toMatch(/overlaps the destination/);
  });

  it('a copy the store made of another object (a key beside its percent-encoded twin) is not kept', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'wsrc');
    const { bucket: to, transport: dst } = await newBucket(server, 'wdst');
    // A store that reads CopySource undecoded (s3rver) copies `h%23i` where `h#i` was asked.
    const pairs = { 'h#i': 'HASH-KEY', 'h%23i': 'PERCENT-KEY', 'a@b': 'AT-KEY', 'a%40b': 'PCT-40-KEY' };
    await seedAll(src, 'hx/', pairs);
    const ends = [`s3://${from}/hx`, `s3://${to}/hx`];
    const r = await runCli(['sync', ...ends, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 4, failed: 0 });
    expect(await contents(dst, 'hx/')).toEqual(await contents(src, 'hx/'));
    // Each object the store copied wrong is said and streamed: no stream without its notice.
    const notices = r.events.flatMap((e) => (e.type === 'notice' ? [String(e.message)] : []));
    const wrong = notices.filter((m) => /copied a different object/.test(m));
    for (const m of wrong) expect(m).toMatch(/hx\/(h#i|a@b)\b.*streamed through instead/);
    expect(r.summary?.requests.GetObject ?? 0).toBe(wrong.length);
    expect(r.summary?.requests.CopyObject).toBe(4);
    const again = await runCli(['sync', ...ends, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ copied: 0, unchanged: 4, failed: 0 });

    // --backup-dir: the object overwritten is kept as it was, not its twin's bytes.
    await seedAll(dst, 'hb/', { 'h#i': 'ORIGINAL-HASH', 'h%23i': 'ORIGINAL-PCT' });
    await seedAll(src, 'hb/', { 'h#i': 'NEW-HASH', 'h%23i': 'ORIGINAL-PCT' });
    const b = await runCli(
      ['sync', `s3://${from}/hb`, `s3://${to}/hb`, '--backup-dir', `s3://${to}/bk2`, '--json'],
      server,
    );
    expect(b.code, b.stderr).toBe(0);
    expect(b.summary).toMatchObject({ copied: 1, unchanged: 1, failed: 0 });
    expect(await contents(dst, 'bk2/')).toEqual({ 'h#i': md5Hex('ORIGINAL-HASH') });
    expect(await contents(dst, 'hb/')).toEqual(await contents(src, 'hb/'));
  });

  it('a source deleted between the listing and its copy fails with one clear line, exit 1', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'gone');
    const { bucket: to, transport: dst } = await newBucket(server, 'gone');
    const big = randomBytes(6 * MiB);
    const seed = async () => {
      await seedAll(src, 'p/', { 'a.txt': 'stays', 'gone.txt': 'deleted under the copy' });
      await seedObject(src, 'p/big-gone.bin', big);
    };
    // Each source deleted as its copy (the small one) or the HEAD that starts it (in parts) comes by.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      hold: ({ method, url, headers }) => {
        const copy = method === 'PUT' && String(headers['x-amz-copy-source'] ?? '').endsWith('/gone.txt');
        const head = method === 'HEAD' && url.includes('/p/big-gone.bin');
        return copy || head ? src.deleteKeys([copy ? 'p/gone.txt' : 'p/big-gone.bin']) : undefined;
      },
    });
    proxies.push(proxy);
    const via = ['--endpoint-url', proxy.endpoint, '--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const said = 'not copied: the source object was deleted since it was listed: nothing written';
    const expectFailed = async (r: Awaited<ReturnType<typeof runCli>>, what: string) => {
      expect(r.code, `${what}: ${r.stderr}`).toBe(1);
      expect(r.summary, what).toMatchObject({ copied: 1, failed: 2 });
      expect(r.summary?.errors, what).toHaveLength(2);
      expect(r.summary?.errors, what).toEqual(
        expect.arrayContaining([
          { rel: 'big-gone.bin', message: said },
          { rel: 'gone.txt', message: said },
        ]),
      );
      // One HEAD each: the copy in parts' own, and the one that tells a NoSuchKey's cause.
      expect(r.summary?.requests.HeadObject, what).toBe(2);
      expect(await contents(dst, 'q/'), what).toEqual({ 'a.txt': md5Hex('stays') });
    };
    await seed();
    await expectFailed(
      await runCli(['sync', `s3://${from}/p`, `s3://${to}/q`, ...via, '--json'], server),
      'sync',
    );
    // An applied plan: its listing still sees the sources, deleted under their copies.
    await dst.deleteKeys(['q/a.txt']);
    await seed();
    const file = path.join(tempDir('gone'), 'plan.json');
    const planned = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, ...via, '--out', file],
      server,
    );
    expect(planned.code, planned.stderr).toBe(0);
    await expectFailed(await runCli(['apply', file, ...via, '--json'], server), 'apply');
  });

  it('a copy answered NoSuchKey for a source that is there is streamed through, said', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'nsk');
    const { bucket: to, transport: dst } = await newBucket(server, 'nsk');
    // s3rver answers NoSuchKey to the copy of a key with `+` (it decodes CopySource with decodeURI).
    await seedAll(src, 'p/', { 'c+d.txt': 'a plus', 'e.txt': 'refused by the proxy' });
    const nsk = { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' };
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      answer: ({ method, headers }) =>
        method === 'PUT' && String(headers['x-amz-copy-source'] ?? '').endsWith('/e.txt') ? nsk : undefined,
    });
    proxies.push(proxy);
    const r = await runCli(
      ['sync', `s3://${from}/p`, `s3://${to}/q`, '--endpoint-url', proxy.endpoint, '--json'],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 2, failed: 0 });
    expect(await contents(dst, 'q/')).toEqual(await contents(src, 'p/'));
    const notices = r.events.flatMap((e) => (e.type === 'notice' ? [String(e.message)] : []));
    const streamed = server.name === 'embedded' ? ['c+d.txt', 'e.txt'] : ['e.txt'];
    expect(notices.sort()).toEqual(
      streamed.map((rel) =>
        expect.stringMatching(
          new RegExp(
            `NoSuchKey to the copy of p/${rel.replace('+', '\\+')}, which it has.*streamed through instead`,
          ),
        ),
      ),
    );
    expect(r.summary?.requests).toMatchObject({
      CopyObject: 2,
      HeadObject: streamed.length,
      GetObject: streamed.length,
      PutObject: streamed.length,
    });
  });

  it('copies a large object in parts (UploadPartCopy where the store has it), content identical', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'src');
    const { bucket: to, transport: dst } = await newBucket(server, 'dst');
    const big = randomBytes(12 * MiB + 123);
    await seedObject(src, 'big/blob', big, { md5: md5Hex(big) });
    await seedObject(src, 'big/small', 'a small object beside it');
    const r = await runCli(
      [
        'sync',
        `s3://${from}/big`,
        `s3://${to}/big`,
        '--multipart-threshold',
        '5MiB',
        '--part-size',
        '5MiB',
        '--json',
      ],
      server,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await objectMd5(dst, 'big/blob')).toBe(md5Hex(big));
    expect(await objectMd5(dst, 'big/small')).toBe(md5Hex('a small object beside it'));
    const counts = r.summary!.requests;
    // The small one is copied inside the store on both: a store without part copies still copies.
    expect(counts.CopyObject).toBe(1);
    // One UploadPartCopy per part at most: a store without it (501) is not asked again and again.
    expect(counts.UploadPartCopy ?? 0).toBeLessThanOrEqual(3);
    if (server.name === 'ceph') {
      // Server-side, in three parts: no byte through s3sync.
      expect(counts.UploadPartCopy).toBe(3);
      expect(counts.GetObject).toBeUndefined();
      expect(r.summary?.bytesTransferred).toBe(0);
    } else {
      // s3rver has no UploadPartCopy: said once, then streamed through, in parts.
      expect(r.events).toContainEqual(
        expect.objectContaining({
          type: 'notice',
          message: expect.stringMatching(/cannot copy in parts/),
        }),
      );
      expect(counts.UploadPart).toBe(3);
      expect(r.summary?.bytesTransferred).toBe(big.length);
    }
    const again = await runCli(['sync', `s3://${from}/big`, `s3://${to}/big`, '--json'], server);
    expect(again.summary?.copied).toBe(0);
    expect(again.summary?.unchanged).toBe(2);
  });

  it('a multipart source is copied along its own parts where the store tells them, its ETag checked', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'mpc');
    const { bucket: to, transport: dst } = await newBucket(server, 'mpc');
    // Parts as other tools make them (all of one size but the last), and two layouts that are not.
    const layouts: Record<string, number[]> = {
      'uniform.bin': [5 * MiB, 5 * MiB, 2 * MiB + 123],
      'uneven.bin': [5 * MiB + 1, 5 * MiB, 3 * MiB],
      'odd.bin': [5 * MiB, 10 * MiB, MiB],
    };
    const etags: Record<string, string> = {};
    for (const [rel, sizes] of Object.entries(layouts))
      etags[rel] = await seedMultipart(
        src,
        `p/${rel}`,
        sizes.map((n) => randomBytes(n)),
      );
    // Neither test store answers a HEAD's PartNumber (both answer the whole object): the proxy answers
    // it as AWS does; with `forge`, each CompleteMultipartUpload answers another ETag, as if the store
    // had copied another object's bytes.
    const mode = { aws: false, forge: false };
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: ({ method, url }) => {
        if (mode.forge && method === 'POST' && /[?&]uploadId=/.test(url))
          return {
            body: (b) => Buffer.from(b.toString().replace(/<ETag>[^<]*</, `<ETag>"${'ab'.repeat(16)}-3"<`)),
          };
        return mode.aws ? partAnswer(url, layouts) : undefined;
      },
    });
    proxies.push(proxy);
    const run = (out: string) =>
      runCli(
        [
          'sync',
          `s3://${from}/p`,
          `s3://${to}/${out}`,
          '--endpoint-url',
          proxy.endpoint,
          '--multipart-threshold',
          '5MiB',
          '--part-size',
          '8MiB',
          '--json',
        ],
        server,
      );
    const notices = (r: Awaited<ReturnType<typeof run>>) =>
      r.events.flatMap((e) => (e.type === 'notice' ? [String(e.message)] : []));
    const copiedEtag = async (key: string) => (await headObject(dst, { bucket: to, key }))?.etag;
    const check = async (r: Awaited<ReturnType<typeof run>>, out: string) => {
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ copied: 3, failed: 0 });
      expect(await contents(dst, `${out}/`)).toEqual(await contents(src, 'p/'));
      return r.summary!.requests;
    };

    // The store as it is: no layout learned, the copies in parts of --part-size, unchecked.
    const plain = await check(await run('d'), 'd');
    expect(notices(await run('d')).filter((m) => /different object/.test(m))).toEqual([]);
    if (server.name === 'ceph') {
      expect(plain.UploadPartCopy).toBe(6);
      expect(plain.HeadObject).toBe(3);
    }

    mode.aws = true;
    const r = await run('q');
    const counts = await check(r, 'q');
    expect(notices(r).filter((m) => /different object/.test(m))).toEqual([]);
    if (server.name === 'ceph') {
      // Along the source's parts (5 MiB, 5 MiB + 1), and of --part-size where part 1's size does not fit.
      expect(counts.UploadPartCopy).toBe(3 + 3 + 2);
      expect(counts.GetObject).toBeUndefined();
      expect(await copiedEtag('q/uniform.bin')).toBe(etags['uniform.bin']);
      // The HEAD each copy in parts made anyway, now of its part 1; one of each copy along its source's
      // parts, as RGW answers its Complete with an empty ETag; and, the uneven one's ETag differing,
      // one of its source, then of its other parts, which leave the copy unjudged.
      expect(counts.HeadObject).toBe(3 + 2 + 1 + 2);
    } else {
      // s3rver gives a multipart upload a plain MD5 as ETag: no layout asked; no UploadPartCopy, streamed.
      expect(r.summary?.bytesTransferred).toBe(12 * MiB + 123 + 13 * MiB + 1 + 16 * MiB);
    }

    mode.forge = true;
    const w = await run('w');
    await check(w, 'w');
    const wrong = notices(w).filter((m) => /different object/.test(m));
    if (server.name === 'ceph') {
      expect(wrong).toEqual([
        expect.stringMatching(
          /to w\/uniform\.bin \(ETag (ab)+-3, not the source's .*streamed through instead/,
        ),
      ]);
      expect(await copiedEtag('w/uniform.bin')).toBe(etags['uniform.bin']);
    } else expect(wrong).toEqual([]);
  });

  it('a copy in parts of another object, the store reading a key twice-decoded, is told apart', async () => {
    // Ceph RGW reads UploadPartCopy's source decoded twice: `x%41.bin` as `xA.bin`. Told otherwise,
    // it copies the twin's parts; made along the source's parts, the copy's ETag shows it.
    const { bucket: from, transport: src } = await newBucket(server, 'twice');
    const { bucket: to } = await newBucket(server, 'twice');
    const sizes = [5 * MiB, 5 * MiB, MiB];
    const layouts = { 'x%41.bin': sizes, 'xB.bin': sizes };
    const etag = await seedMultipart(
      src,
      'p/x%41.bin',
      sizes.map((n) => randomBytes(n)),
    );
    await seedMultipart(
      src,
      'p/xA.bin',
      sizes.map((n) => randomBytes(n)),
    );
    const twin = await seedMultipart(
      src,
      'p/xB.bin',
      sizes.map((n) => randomBytes(n)),
    );
    // PartNumber answered as AWS does (see above).
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: ({ url }) => partAnswer(url, layouts),
    });
    proxies.push(proxy);
    const dst = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, to);
    const input = {
      sourceBucket: from,
      sourceKey: 'p/x%41.bin',
      sourceEtag: etag,
      key: 'q/x%41.bin',
      size: 11 * MiB,
      partSize: 8 * MiB,
      limits: dst.provider,
      partCopyDecodesSourceTwice: false,
    };
    const got = await copyInParts(dst, input).then(
      (g) => g,
      (err: unknown) => err,
    );
    if (server.name !== 'ceph') {
      expect(got instanceof Error && copyUnsupported(got), String(got)).toBe(true);
      return;
    }
    const copied = got as CopyResult;
    expect(copied.alongSource).toEqual({ etag, partSize: 5 * MiB, parts: 3 });
    expect(copied.etag).not.toBe(etag);
    const heads = () => dst.counter.counts.HeadObject ?? 0;
    let before = heads();
    expect(await copiedOther(dst, { bucket: from, key: 'p/x%41.bin', listed: etag, got: copied })).toBe(true);
    // The source, then its parts 2 and 3: its layout holds, so the copy is of another object.
    expect(heads() - before).toBe(3);
    // The twin, its key read right: the copy has its source's ETag, judged with no request.
    const right = await copyInParts(dst, {
      ...input,
      sourceKey: 'p/xB.bin',
      key: 'q/xB.bin',
      sourceEtag: twin,
    });
    expect(right.etag).toBe(twin);
    before = heads();
    expect(await copiedOther(dst, { bucket: from, key: 'p/xB.bin', listed: twin, got: right })).toBe(false);
    expect(heads()).toBe(before);
  });

  it('a large object whose key holds % is copied whole: the right bytes, the store still up', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'pct');
    const { bucket: to, transport: dst } = await newBucket(server, 'pct');
    // Read twice-decoded, 'a%25b.bin' names 'a%b.bin', and 'a%b.bin' nothing valid.
    const bodies = {
      'a%25b.bin': randomBytes(6 * MiB),
      'a%b.bin': randomBytes(6 * MiB),
      '100%.bin': randomBytes(6 * MiB),
    };
    for (const [rel, body] of Object.entries(bodies))
      await seedObject(src, `p/${rel}`, body, { md5: md5Hex(body) });
    const ends = [`s3://${from}/p`, `s3://${to}/q`];
    const r = await runCli(
      ['sync', ...ends, '--multipart-threshold', '5MiB', '--part-size', '5MiB', '--json'],
      server,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ copied: 3, failed: 0 });
    expect(r.summary?.requests.CopyObject).toBe(3);
    expect(r.summary?.requests.UploadPartCopy).toBeUndefined();
    for (const [rel, body] of Object.entries(bodies))
      expect(await objectMd5(dst, `q/${rel}`), rel).toBe(md5Hex(body));
    const again = await runCli(['sync', ...ends, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ copied: 0, unchanged: 3 });
  });

  it('a copy in parts of a key holding % reads and sends its parts: the right bytes, pinned', async () => {
    // Above 5 GiB such a key must go in parts; RGW's UploadPartCopy would read 'a%b.bin' for it.
    const { bucket: from, transport: src } = await newBucket(server, 'pctp');
    const { transport: dst } = await newBucket(server, 'pctp');
    const bodies = { 'a%25b.bin': randomBytes(11 * MiB + 7), 'a%b.bin': randomBytes(11 * MiB + 7) };
    for (const [rel, body] of Object.entries(bodies)) await seedObject(src, `p/${rel}`, body);
    const listed = await src.list('p/');
    const counts = dst.counter.counts;
    const before = { ...counts };
    const delta = (name: string) => (counts[name] ?? 0) - (before[name] ?? 0);
    const input = (rel: string) => ({
      sourceBucket: from,
      sourceKey: `p/${rel}`,
      key: `q/${rel}`,
      size: bodies[rel as keyof typeof bodies].length,
      partSize: 5 * MiB,
      limits: dst.provider,
      partCopyDecodesSourceTwice: dst.provider.partCopyDecodesSourceTwice,
    });
    expect(dst.provider.partCopyDecodesSourceTwice).toBe(true);
    for (const rel of Object.keys(bodies))
      await copyInParts(dst, { ...input(rel), sourceIfMatch: listed.get(rel)?.etag });
    // A HEAD and three ranged GETs each, of the source; no UploadPartCopy.
    expect(delta('UploadPartCopy')).toBe(0);
    expect(delta('HeadObject')).toBe(2);
    expect(delta('GetObject')).toBe(6);
    expect(delta('UploadPart')).toBe(6);
    for (const [rel, body] of Object.entries(bodies))
      expect(await objectMd5(dst, `q/${rel}`), rel).toBe(md5Hex(body));
    // Headers replaced (a rename's or a header change's copy) are the ones the object gets.
    await copyInParts(dst, {
      ...input('a%25b.bin'),
      key: 'q/styled%25.bin',
      replace: { contentType: 'text/x-styled', metadata: { md5: md5Hex(bodies['a%25b.bin']) } },
    });
    const styled = await headObject(dst, { bucket: dst.bucket, key: 'q/styled%25.bin' });
    expect(styled?.contentType).toBe('text/x-styled');
    expect(await objectMd5(dst, 'q/styled%25.bin')).toBe(md5Hex(bodies['a%25b.bin']));
    // A source overwritten since it was listed: refused as the store refuses a stale
    // CopySourceIfMatch, nothing written and no upload left behind; a key without % alike.
    const stale = listed.get('a%25b.bin')!.etag;
    await seedObject(src, 'p/a%25b.bin', randomBytes(11 * MiB));
    await seedObject(src, 'p/plain.bin', randomBytes(11 * MiB));
    for (const rel of ['a%25b.bin', 'plain.bin']) {
      const err = await copyInParts(dst, {
        ...input('a%25b.bin'),
        sourceKey: `p/${rel}`,
        key: `r/${rel}`,
        sourceIfMatch: stale,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(httpStatus((err as { cause?: unknown }).cause ?? err), rel).toBe(412);
      expect(await dst.head(`r/${rel}`)).toBeNull();
    }
    // s3rver has no ListMultipartUploads; on RGW none is left.
    if (server.quirks.hasListParts) expect(await listMultipartUploads(dst, 'r/')).toEqual([]);
  });

  it('a copy in parts through s3sync whose upload is gone stops its queued parts', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'pctg');
    const { bucket: to, transport: dst } = await newBucket(server, 'pctg');
    const body = randomBytes(8 * 5 * MiB);
    await seedObject(src, 'p/a%25big.bin', body);
    let gone = true;
    // In front of the destination: its first UploadPart answered, every later one as if aborted.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: uploadGoneAfterFirstPart(() => gone),
    });
    proxies.push(proxy);
    const via = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, to);
    const input = {
      sourceBucket: from,
      sourceKey: 'p/a%25big.bin',
      key: 'q/a%25big.bin',
      size: body.length,
      partSize: 5 * MiB,
      limits: via.provider,
      partCopyDecodesSourceTwice: true,
    };
    const err = await copyInParts(via, input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String((err as Error)?.message)).toMatch(/NoSuchUpload/);
    // The parts in flight when the first 404 came (two at a time), not the other half dozen.
    const sent = (what: string) =>
      proxy.log.filter((e) => e.method === what && e.url.includes('a%2525big')).length;
    expect(sent('PUT')).toBeGreaterThanOrEqual(2);
    expect(sent('PUT')).toBeLessThanOrEqual(4);
    expect(await dst.head('q/a%25big.bin')).toBeNull();
    gone = false;
    await copyInParts(via, input);
    expect(await objectMd5(dst, 'q/a%25big.bin')).toBe(md5Hex(body));
  });

  // The server made the upload, the run was cancelled before its answer came: s3sync never saw its id.
  it.each(['server-side', 'streamed'] as const)(
    'a copy in parts cancelled while its CreateMultipartUpload is answered (%s) leaves no upload',
    async (how) => {
      const { bucket: from, transport: src } = await newBucket(server, 'cmu');
      const { bucket: to, transport: dst } = await newBucket(server, 'cmu');
      const big = randomBytes(6 * MiB);
      await seedObject(src, 'p/big.bin', big, { md5: md5Hex(big) });
      let reached = () => {};
      const created = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      // In front of the destination: every CreateMultipartUpload acted on, its answer held.
      const proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 1,
        rate: 0,
        holdAnswer: ({ method, url }) => {
          if (method !== 'POST' || !/[?&]uploads(?:[=&]|$)/.test(url)) return undefined;
          reached();
          return released;
        },
      });
      proxies.push(proxy);
      const cancel = new AbortController();
      const events: SyncEvent[] = [];
      const run = syncBuckets({
        ...connFor(server),
        source: `s3://${from}/p`,
        destination: `s3://${to}/q`,
        endpointUrl: proxy.endpoint,
        // Another endpoint for the source: streamed through this process; else copied in the store.
        ...(how === 'streamed' && { sourceEndpointUrl: server.endpoint }),
        multipartThreshold: '5MiB',
        partSize: '5MiB',
        signal: cancel.signal,
        onEvent: (e) => events.push(e),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await created;
      cancel.abort();
      const err = await run;
      release();
      expect(err).toBe(cancel.signal.reason);
      expect(events.at(-1)).toMatchObject({ type: 'summary', cancelled: true, outcome: 'cancelled' });
      const notices = events.flatMap((e) => (e.type === 'notice' ? [e.message] : []));
      expect(await dst.head('q/big.bin')).toBeNull();
      if (server.quirks.hasListParts) {
        // RGW: the upload its answer would have named is found and aborted, and said.
        expect(await listMultipartUploads(dst, 'q/')).toEqual([]);
        expect(notices).toContainEqual(
          expect.stringMatching(/^aborted multipart upload .* left at q\/big\.bin/),
        );
      } else {
        // s3rver has no ListMultipartUploads: said, not silent.
        expect(notices).toContainEqual(expect.stringMatching(/cannot list multipart uploads.*q\/big\.bin/));
      }
    },
  );

  it('a CreateMultipartUpload retried after its answer was lost leaves only the upload completed', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'cmr');
    const { bucket: to, transport: dst } = await newBucket(server, 'cmr');
    const big = randomBytes(6 * MiB);
    await seedObject(src, 'p/big.bin', big, { md5: md5Hex(big) });
    let creates = 0;
    // In front of the destination: the first CreateMultipartUpload acted on, its answer cut off.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 1,
      kinds: ['reset-response'],
      filter: ({ method, url }) => method === 'POST' && /[?&]uploads(?:[=&]|$)/.test(url) && ++creates === 1,
    });
    proxies.push(proxy);
    const events: SyncEvent[] = [];
    const r = await syncBuckets({
      ...connFor(server),
      source: `s3://${from}/p`,
      destination: `s3://${to}/q`,
      endpointUrl: proxy.endpoint,
      sourceEndpointUrl: server.endpoint,
      multipartThreshold: '5MiB',
      partSize: '5MiB',
      onEvent: (e) => events.push(e),
    });
    expect(r.outcome).toBe('ok');
    expect(creates).toBe(2);
    expect(await objectMd5(dst, 'q/big.bin')).toBe(md5Hex(big));
    const notices = events.flatMap((e) => (e.type === 'notice' ? [e.message] : []));
    if (server.quirks.hasListParts) {
      expect(await listMultipartUploads(dst, 'q/')).toEqual([]);
      expect(notices).toContainEqual(
        expect.stringMatching(/^aborted multipart upload .* left at q\/big\.bin/),
      );
    } else
      expect(notices).toContainEqual(expect.stringMatching(/cannot list multipart uploads.*q\/big\.bin/));
  });

  it('an incomplete upload an earlier run left at a key copied in parts is said, naming cleanup', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'cml');
    const { bucket: to, transport: dst } = await newBucket(server, 'cml');
    for (const rel of ['a.bin', 'b.bin']) await seedObject(src, `p/${rel}`, randomBytes(6 * MiB));
    await seedObject(src, 'p/small.txt', 'small');
    // A run killed during its copy of a.bin left this one.
    const left = await dst.createMultipart({
      key: 'q/a.bin',
      contentType: 'application/octet-stream',
      metadata: {},
    });
    const ends = [`s3://${from}/p`, `s3://${to}/q`];
    const sizes = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const r = await runCli(['sync', ...ends, ...sizes, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 3 });
    const notices = r.events.flatMap((e) => (e.type === 'notice' ? [String(e.message)] : []));
    const said = notices.filter((m) => /incomplete multipart upload/.test(m));
    if (server.quirks.hasListParts) {
      // One look per key copied in parts; the upload is said, not aborted (it may be another writer's).
      expect(r.summary?.requests.ListMultipartUploads).toBe(2);
      expect(said).toEqual([
        expect.stringMatching(/^1 incomplete multipart upload .*q\/a\.bin.*s3sync cleanup/),
      ]);
      expect((await listMultipartUploads(dst, 'q/')).map((u) => u.uploadId)).toEqual([left]);
    } else {
      // s3rver refuses ListMultipartUploads: asked once, not for every key.
      expect(r.summary?.requests.ListMultipartUploads).toBe(1);
      expect(said).toEqual([]);
    }
    // A run with nothing to copy makes no such request.
    const again = await runCli(['sync', ...ends, ...sizes, '--json'], server);
    expect(again.summary).toMatchObject({ copied: 0, unchanged: 3 });
    expect(again.summary?.requests.ListMultipartUploads).toBeUndefined();
  });

  it('--source-profile: other credentials, so streamed through; an unknown profile is exit 2', async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'prof');
    const { bucket: to, transport: dst } = await newBucket(server, 'prof');
    await seedAll(src, 'x/', { 'a.txt': 'profile copy', 'b.bin': randomBytes(50_000) });
    const dir = tempDir('aws');
    writeFileSync(
      path.join(dir, 'credentials'),
      `[old]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
    );
    writeFileSync(
      path.join(dir, 'config'),
      '[profile old]\nregion = us-east-1\n[profile nokeys]\nregion = us-east-1\n',
    );
    const env = {
      env: {
        AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'),
        AWS_CONFIG_FILE: path.join(dir, 'config'),
      },
    };
    const args = ['sync', `s3://${from}/x`, `s3://${to}/y`, '--json'];
    const r = await runCli([...args, '--source-profile', 'old'], server, env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 2, GetObject: 2, PutObject: 2 });
    expect(await contents(dst, 'y/')).toEqual(await contents(src, 'x/'));
    const unknown = await runCli([...args, '--source-profile', 'nope'], server, env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown AWS profile 'nope' \(.*, named by --source-profile\)/);
    expect(unknown.stderr).not.toContain(server.secretAccessKey);
    // A profile without keys: the source's flag is the one to change, not --profile.
    const keyless = await runCli([...args, '--source-profile', 'nokeys'], server, env);
    expect(keyless.code).toBe(2);
    expect(plainLines(keyless.stderr)).toEqual([
      "s3sync: no AWS credentials found in profile 'nokeys' (named by --source-profile): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or name another --source-profile",
    ]);
  });

  it("--source-profile's endpoint_url is the source's store, however the destination's endpoint was given", async () => {
    const { bucket: from, transport: src } = await newBucket(server, 'pep');
    const { bucket: to, transport: dst } = await newBucket(server, 'pep');
    await seedAll(src, 'x/', { 'a.txt': 'from the source profile' });
    const keys = `aws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`;
    // The other server, when there are two: a source profile there, the destination here.
    const other = servers().find((s) => s.name !== server.name);
    const dir = tempDir('pep-aws');
    writeFileSync(
      path.join(dir, 'config'),
      [
        '[profile dead]',
        'endpoint_url = http://127.0.0.1:1',
        keys,
        '[profile work]',
        `endpoint_url = ${server.endpoint}`,
        keys,
        ...(other
          ? [
              '[profile there]',
              `endpoint_url = ${other.endpoint}`,
              `aws_access_key_id = ${other.accessKeyId}`,
              `aws_secret_access_key = ${other.secretAccessKey}`,
            ]
          : []),
      ].join('\n'),
    );
    const files = {
      AWS_CONFIG_FILE: path.join(dir, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
    };
    const pair = ['sync', `s3://${from}/x`, `s3://${to}/y`, '--source-profile', 'dead'];
    // The destination's endpoint by flag, by AWS_ENDPOINT_URL_S3, by its own profile: the source is
    // read from the dead profile's endpoint each time, never from the destination's store.
    for (const [how, flags, env] of [
      ['flag', ['--endpoint-url', server.endpoint], files],
      ['environment', [], files],
      ['profile', ['--profile', 'work'], { ...files, AWS_ENDPOINT_URL_S3: undefined }],
    ] as const) {
      const r = await runCli([...pair, ...flags], server, { env });
      expect(r.code, `${how}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr, how).toMatch(/127\.0\.0\.1:1\b.*the endpoint_url of AWS profile 'dead'/);
    }
    expect((await dst.list('y/')).size).toBe(0);
    if (!other) return;
    const { bucket: far, transport: farSrc } = await newBucket(other, 'pep-far');
    await seedAll(farSrc, 'x/', { 'far.txt': 'on the other server' });
    const r = await runCli(
      [
        'sync',
        `s3://${far}/x`,
        `s3://${to}/y`,
        '--endpoint-url',
        server.endpoint,
        '--source-profile',
        'there',
        '--json',
      ],
      server,
      { env: files },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await contents(dst, 'y/')).toEqual(await contents(farSrc, 'x/'));
  });

  it('a local end: push or pull, with their flags; S3 → S3 flags are refused there', async () => {
    const { bucket } = await newBucket(server, 'loc');
    const dir = tempDir('sync-push');
    writeFileSync(path.join(dir, 'f.txt'), 'local file');
    const up = await runCli(['sync', dir, `s3://${bucket}/l`, '--json'], server);
    expect(up.code).toBe(0);
    expect(up.summary).toMatchObject({ command: 'push', uploaded: 1 });
    const back = tempDir('sync-pull');
    const down = await runCli(['sync', `s3://${bucket}/l`, back, '--json'], server);
    expect(down.code).toBe(0);
    expect(down.summary).toMatchObject({ command: 'pull', downloaded: 1 });
    const wrong = await runCli(['sync', dir, `s3://${bucket}/l`, '--source-region', 'x'], server);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^s3sync: --source-region does not apply to push\n$/);
  });

  it('a config default meant for push or pull leaves an S3 → S3 sync alone; its flags are refused by name', async () => {
    const { bucket, transport } = await newBucket(server, 'cfgdef');
    await seedAll(transport, 'p/', { 'a.txt': 'alpha', 'b.txt': 'beta' });
    const cfg = path.join(tempDir('cfgdef'), 's3sync.config.json');
    writeFileSync(cfg, JSON.stringify({ defaults: { maxSize: '1G', followSymlinks: true } }));
    const env = { S3SYNC_CONFIG: cfg };
    const r = await runCli(['sync', `s3://${bucket}/p`, `s3://${bucket}/q`, '--json'], server, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ command: 'sync', copied: 2 });
    const list = path.join(tempDir('cfgdef-list'), 'l.txt');
    writeFileSync(list, 'a.txt\n');
    const flag = await runCli(['sync', `s3://${bucket}/p`, `s3://${bucket}/q`, '--files-from', list], server);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe('s3sync: --files-from does not apply to an S3 → S3 sync\n');
  });

  it('a source prefix with nothing under it (misspelt, or all filtered out) is said, not a bare 0', async () => {
    const { bucket, transport } = await newBucket(server, 'syncnone');
    await seedObject(transport, 'backups/a.txt', 'a');
    for (const [args, line] of [
      [[`s3://${bucket}/bakcups`, `s3://${bucket}/copy`], `no object under s3://${bucket}/bakcups/`],
      [
        [`s3://${bucket}/backups`, `s3://${bucket}/copy`, '--exclude', '*.txt'],
        `no object under s3://${bucket}/backups/ is selected by the filters`,
      ],
    ] as const) {
      const r = await runCli(['sync', ...args, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ copied: 0, scanned: 0 });
      expect(r.events.filter((e) => e.type === 'notice').map((e) => e.message)).toEqual([
        `nothing to sync: ${line}`,
      ]);
    }
    expect([...(await transport.list('')).keys()]).toEqual(['backups/a.txt']);
  });

  it('an unreachable source endpoint is named by its own flag', async () => {
    const { bucket } = await newBucket(server, 'srcdown');
    const r = await runCli(
      ['sync', `s3://${bucket}/a`, `s3://${bucket}/b`, '--source-endpoint-url', 'http://127.0.0.1:1'],
      server,
    );
    expect(r.code).toBe(2);
    expect(plainLines(r.stderr)).toEqual([
      's3sync: nothing accepts connections at the S3 endpoint http://127.0.0.1:1 (ECONNREFUSED): check sourceEndpointUrl (--source-endpoint-url) and that the server runs',
    ]);
  });

  it('refuses overlapping prefixes of one bucket, and two local directories', async () => {
    const { bucket } = await newBucket(server, 'ovl');
    const r = await runCli(['sync', `s3://${bucket}/a`, `s3://${bucket}/a/b`], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/overlap/);
    const local = await runCli(['sync', '/tmp', '/var/tmp'], server);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/at least one s3:\/\//);
    const flag = await runCli(['sync', `s3://${bucket}/a`, `s3://${bucket}/b`, '--verify'], server);
    expect(flag.code).toBe(2);
    expect(flag.stderr).not.toMatch(/\n\s+at /);
  });

  it.each(['x/../y', 'x//y', './y', 'x/.'])(
    'refuses a destination prefix %j (S3 would keep it in the keys), before any request',
    async (prefix) => {
      const { bucket, transport } = await newBucket(server, 'dotdst');
      await seedObject(transport, 'src/a.txt', 'a\n');
      const r = await runCli(['sync', `s3://${bucket}/src`, `s3://${bucket}/${prefix}`], server);
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^s3sync: the destination ".*": its prefix contains an? .* segment, which S3 keeps/,
      );
      expect([...(await transport.list('')).keys()]).toEqual(['src/a.txt']);
    },
  );

  it('refuses an overlap reached with other credentials or region, and a backup in the source', async () => {
    const { bucket, transport } = await newBucket(server, 'ovl2');
    for (const k of ['x/a.txt', 'x/b.txt', 'x/y/a.txt', 'x/y/b.txt']) await seedObject(transport, k, k);
    // A profile with the same keys: another set of credentials for the same store and bucket.
    const home = tempDir('ovl2-home');
    const creds = path.join(home, 'credentials');
    writeFileSync(
      creds,
      `[other]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
    );
    const env = { env: { AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: path.join(home, 'config') } };
    const pair = [`s3://${bucket}/x/y`, `s3://${bucket}/x`, '--delete', '--force'];
    for (const other of [
      ['--source-region', 'eu-west-1'],
      ['--source-profile', 'other'],
      // Another name of this machine for the same server: one store.
      ['--source-endpoint-url', server.endpoint.replace('127.0.0.1', 'localhost')],
      ['--source-endpoint-url', server.endpoint.replace('127.0.0.1', '[::ffff:127.0.0.1]')],
    ]) {
      const r = await runCli(['sync', ...pair, ...other], server, env);
      expect(r.code, `${other.join(' ')}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/overlap/);
    }
    // --backup-dir in the source (or holding it): kept objects would land on what the sync reads.
    const dst = `s3://${bucket}/d`;
    for (const backup of [`s3://${bucket}/x`, `s3://${bucket}/x/old`, `s3://${bucket}/`]) {
      const r = await runCli(['sync', `s3://${bucket}/x`, dst, '--backup-dir', backup], server);
      expect(r.code, backup).toBe(2);
      expect(r.stderr).toMatch(/overlaps the (source|destination)/);
    }
    expect([...(await transport.list('')).keys()].sort()).toEqual([
      'x/a.txt',
      'x/b.txt',
      'x/y/a.txt',
      'x/y/b.txt',
    ]);
  });
  it('keys named like s3sync state (.s3sync, .s3sync/…, .s3syncignore) are data between buckets: copied, deleted', async () => {
    const { bucket, transport } = await newBucket(server, 's3state');
    const copied = ['.s3sync', '.s3sync/data.bin', '.s3syncignore', 'keep.txt', 'sub/.s3sync/x'];
    for (const key of copied) await seedObject(transport, `src/${key}`, `${key}\n`);
    await seedObject(transport, 'dst/.s3sync/old', 'gone from the source\n');
    const args = ['sync', `s3://${bucket}/src`, `s3://${bucket}/dst`, '--delete', '--force', '--json'];
    const r = await runCli(args, server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ scanned: 5, copied: 5, deleted: 1, failed: 0 });
    expect(r.events.filter((e) => e.type === 'notice' || e.type === 'warning')).toEqual([]);
    expect([...(await transport.list('dst/')).keys()].sort()).toEqual(copied);
    const again = await runCli(args, server);
    expect(again.summary).toMatchObject({ unchanged: 5, copied: 0, deleted: 0 });
  });

  it('--delete-excluded deletes what the filters leave out, never a .s3sync/ key the source holds too', async () => {
    const { bucket, transport } = await newBucket(server, 's3own');
    for (const key of [
      'src/.s3sync/x',
      'src/a.txt',
      'src/b.tmp',
      'dst/.s3sync/x',
      'dst/b.tmp',
      'dst/stale.txt',
    ])
      await seedObject(transport, key, `${key.slice(4)}\n`);
    const r = await runCli(
      [
        'sync',
        `s3://${bucket}/src`,
        `s3://${bucket}/dst`,
        '--exclude',
        '*.tmp',
        '--delete',
        '--delete-excluded',
        '--force',
        '--json',
      ],
      server,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ copied: 1, deleted: 2 });
    expect([...(await transport.list('dst/')).keys()].sort()).toEqual(['.s3sync/x', 'a.txt']);
  });
});

describe('sync S3 → S3 between two stores', () => {
  const all = servers();
  const embedded = all.find((s) => s.name === 'embedded');
  const ceph = all.find((s) => s.name === 'ceph');
  // Both servers when both run; else the one, reached as if it were another store.
  const pairs: { from: TestServer; to: TestServer }[] =
    embedded && ceph
      ? [
          { from: embedded, to: ceph },
          { from: ceph, to: embedded },
        ]
      : all.map((s) => ({ from: s, to: s }));

  it.each(pairs)(
    '$from.name → $to.name: streamed through, verified, identical objects',
    async ({ from, to }) => {
      const { bucket: a, transport: src } = await newBucket(from, 'xs');
      const { bucket: b, transport: dst } = await newBucket(to, 'xd');
      await seedAll(src, 'x/', { 'small.txt': 'small', 'mid.bin': randomBytes(300_000) });
      const big = randomBytes(11 * MiB);
      await seedObject(src, 'x/big.bin', big, { md5: md5Hex(big), owner: 'ops' });
      const opts = {
        ...connFor(to),
        source: `s3://${a}/x`,
        destination: `s3://${b}/y`,
        sourceEndpointUrl: from.endpoint,
        sourceProvider: from.provider,
        sourceCredentials: { accessKeyId: from.accessKeyId, secretAccessKey: from.secretAccessKey },
        multipartThreshold: '5MiB',
        partSize: '5MiB',
      };
      const r = await syncBuckets(opts);
      expect(r.outcome).toBe('ok');
      expect(r.copied).toBe(3);
      expect(r.requests.CopyObject).toBeUndefined();
      expect(r.requests.UploadPart).toBe(3);
      expect(await contents(dst, 'y/')).toEqual(await contents(src, 'x/'));
      expect((await dst.head('y/big.bin'))?.metadata).toMatchObject({ owner: 'ops', md5: md5Hex(big) });
      const again = await syncBuckets(opts);
      expect(again.copied).toBe(0);
      expect(again.unchanged).toBe(3);
      // Every header the object has is carried, as a same-store CopyObject carries it.
      const styled = {
        ContentType: 'text/plain; charset=utf-8',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="a.txt"',
        ContentEncoding: 'identity',
        ContentLanguage: 'fr-CA',
        Expires: new Date('2030-01-02T03:04:05Z'),
      };
      for (const [key, body] of [
        ['x/styled.txt', 'bonjour'],
        ['x/styled-big.bin', randomBytes(6 * MiB)],
      ] as const) {
        await src.client.send(
          new PutObjectCommand({
            Bucket: a,
            Key: key,
            Body: body,
            Metadata: { md5: md5Hex(body) },
            ...styled,
          }),
        );
      }
      expect((await syncBuckets(opts)).copied).toBe(2);
      for (const key of ['y/styled.txt', 'y/styled-big.bin']) {
        const h = await dst.client.send(new HeadObjectCommand({ Bucket: b, Key: key }));
        expect(
          {
            ContentType: h.ContentType,
            CacheControl: h.CacheControl,
            ContentDisposition: h.ContentDisposition,
            ContentEncoding: h.ContentEncoding,
            ContentLanguage: h.ContentLanguage,
            Expires: h.Expires,
          },
          key,
        ).toEqual(styled);
      }
    },
  );
});

describe.each(servers())('sync S3 → S3 streamed, bytes corrupted on the way ($name)', (server) => {
  /** A proxy in front of the source that inverts a byte of GetObject bodies: `onlyFirst`, of each first GET. */
  async function flipping(onlyFirst: boolean): Promise<FaultProxy> {
    const seen = new Set<string>();
    const p = await startFaultProxy({
      target: server.endpoint,
      seed: 3,
      rate: 1,
      kinds: ['flip-body'],
      filter: ({ method, url }) => {
        if (method !== 'GET' || !url.includes('x-id=GetObject')) return false;
        const first = !seen.has(url);
        seen.add(url);
        return !onlyFirst || first;
      },
    });
    proxies.push(p);
    return p;
  }

  const big = randomBytes(6 * MiB + 5);
  const setup = async (p: FaultProxy) => {
    const { bucket: a, transport: src } = await newBucket(server, 'fs');
    const { bucket: b, transport: dst } = await newBucket(server, 'fd');
    await seedObject(src, 'x/small.txt', 'small content');
    // Multipart on the way: checked against the MD5 s3sync stored with it.
    await seedObject(src, 'x/big.bin', big, { md5: md5Hex(big) });
    const opts = {
      ...connFor(server),
      source: `s3://${a}/x`,
      destination: `s3://${b}/y`,
      // Another endpoint (the proxy): streamed through this process.
      sourceEndpointUrl: p.endpoint,
      multipartThreshold: '5MiB',
      partSize: '5MiB',
    };
    return { src, dst, opts };
  };

  it('a flipped byte once: a whole object is fetched again, a multipart one fails until the next run', async () => {
    const { src, dst, opts } = await setup(await flipping(true));
    const r = await syncBuckets(opts);
    // The whole object fetched again until it matches.
    expect(await objectMd5(dst, 'y/small.txt')).toBe(await objectMd5(src, 'x/small.txt'));
    // A multipart object's mismatch is seen once every part is read (its ranges share one URL, so one
    // of them was flipped): that copy fails and is aborted, never completed; the next run copies it.
    expect(r.errors.map((e) => e.rel)).toEqual(['big.bin']);
    expect(await dst.head('y/big.bin')).toBeNull();
    const again = await syncBuckets(opts);
    expect(again.outcome).toBe('ok');
    expect(again.copied).toBe(1);
    expect(await objectMd5(dst, 'y/big.bin')).toBe(md5Hex(big));
  });

  it('a streamed multipart copy whose upload is gone (NoSuchUpload) sends none of its queued parts', async () => {
    const { bucket: a, transport: src } = await newBucket(server, 'gs');
    const { bucket: b, transport: dst } = await newBucket(server, 'gd');
    const body = randomBytes(8 * 5 * MiB);
    await seedObject(src, 'x/big.bin', body, { md5: md5Hex(body) });
    let gone = true;
    // In front of the destination: its first UploadPart answered as sent, every later one as if the
    // upload had been aborted (cleanup elsewhere).
    const p = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: uploadGoneAfterFirstPart(() => gone),
    });
    proxies.push(p);
    const opts = {
      ...connFor(server),
      source: `s3://${a}/x`,
      destination: `s3://${b}/y`,
      // Another endpoint for each side: streamed through this process.
      endpointUrl: p.endpoint,
      sourceEndpointUrl: server.endpoint,
      multipartThreshold: '5MiB',
      partSize: '5MiB',
      workers: 2,
    };
    const r = await syncBuckets(opts);
    expect(r.outcome).toBe('failed');
    expect(r.errors.map((e) => e.rel)).toEqual(['big.bin']);
    expect(r.errors[0]!.message).toMatch(/NoSuchUpload/);
    // The parts in flight when the first 404 came, not the other half dozen.
    const sent = p.log.filter((e) => e.method === 'PUT' && e.url.includes('partNumber=')).length;
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(4);
    expect(await dst.head('y/big.bin')).toBeNull();

    gone = false;
    const again = await syncBuckets(opts);
    expect(again.outcome).toBe('ok');
    expect(again.copied).toBe(1);
    expect(await objectMd5(dst, 'y/big.bin')).toBe(md5Hex(body));
  });

  it('a copy of another object the stream cannot replace (bytes always flipped) is removed, not kept', async () => {
    const p = await flipping(false);
    const { bucket: a, transport: src } = await newBucket(server, 'ws');
    const { bucket: b, transport: dst } = await newBucket(server, 'wd');
    await seedAll(src, 'x/', { 'h#i': 'HASH-KEY', 'h%23i': 'PERCENT-KEY' });
    // One store through the proxy: copied inside it, and what is streamed instead is read corrupt.
    const r = await syncBuckets({
      ...connFor(server),
      endpointUrl: p.endpoint,
      source: `s3://${a}/x`,
      destination: `s3://${b}/y`,
      retries: 1,
    });
    const got = await contents(dst, 'y/');
    const want = await contents(src, 'x/');
    // Each object right, or absent with its line: never another object's bytes.
    for (const rel of Object.keys(want)) {
      const e = r.errors.find((x) => x.rel === rel);
      if (!e) expect(got[rel], rel).toBe(want[rel]);
      else {
        expect(got[rel], rel).toBeUndefined();
        expect(e.message).toMatch(
          /^not copied: the store copied a different object to y\/h#i .*the wrong copy was removed$/,
        );
      }
    }
    expect(r.copied).toBe(2 - r.errors.length);
    expect(r.outcome).toBe(r.errors.length === 0 ? 'ok' : 'failed');
  });

  it('always flipped: nothing corrupt reaches the destination, each object fails with one line', async () => {
    const { dst, opts } = await setup(await flipping(false));
    const r = await syncBuckets({ ...opts, retries: 1 });
    expect(r.outcome).toBe('failed');
    expect(r.errors.map((e) => e.rel).sort()).toEqual(['big.bin', 'small.txt']);
    // One line each, naming the object once (its rel), not again by its source key.
    for (const e of r.errors)
      expect(e.message).toBe('not copied: the bytes read from the source do not match its MD5');
    expect(await dst.list('y/')).toEqual(new Map());
    // As a push counts a failed upload: the parts sent for an object not copied are not transferred.
    expect(r.bytesTransferred).toBe(0);
  });
});
