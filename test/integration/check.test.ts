import { execFileSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { check } from '../../src/index.js';
import type { CheckEvent } from '../../src/sync/check.js';
import {
  connFor,
  editSameSize,
  MiB,
  newBucket,
  pushedSmallFiles,
  runCli,
  seedMultipart,
  seedObject,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';

const seed = seedObject;

const partOne = /[?&]partNumber=1(&|$)/;

/** A proxy that rewrites the headers of the answer to a HEAD of part 1, as a given store answers it. */
const partOneHeadProxy = (target: string, headers: (h: OutgoingHttpHeaders) => void) =>
  startFaultProxy({
    target,
    seed: 1,
    rate: 0,
    rewrite: (req) => (req.method === 'HEAD' && partOne.test(req.url) ? { headers } : undefined),
  });

const ofType = <T extends CheckEvent['type']>(events: unknown[], type: T) =>
  events.filter((e) => (e as CheckEvent).type === type) as Extract<CheckEvent, { type: T }>[];

/** A local directory and a remote prefix with exactly three planted differences. */
async function planted(server: Parameters<typeof newBucket>[0]) {
  const { bucket, transport } = await newBucket(server, 'check');
  const dir = tempDir('check');
  writeTree(dir, {
    'same.txt': 'identical\n',
    'sub/same2.txt': 'also identical\n',
    'only-local.txt': 'nobody uploaded me\n',
    'differ.txt': 'local version\n',
  });
  await seed(transport, 'p/same.txt', 'identical\n');
  await seed(transport, 'p/sub/same2.txt', 'also identical\n');
  await seed(transport, 'p/differ.txt', 'LOCAL VERSION\n'); // same size, other bytes
  await seed(transport, 'p/only-remote.txt', 'never pulled\n');
  return { bucket, transport, dir, url: `s3://${bucket}/p` };
}

describe.each(servers())('check on $name', (server) => {
  it('reports exactly the planted differences, grouped, and exits 1', async () => {
    const { dir, url } = await planted(server);
    const r = await runCli(['check', dir, url], server);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 6)).toEqual([
      'only local (1):',
      `  only-local.txt  (${'nobody uploaded me\n'.length} bytes)`,
      'only remote (1):',
      `  only-remote.txt  (${'never pulled\n'.length} bytes)`,
      'differ (1):',
      '  differ.txt  (same size, different content)',
    ]);
    expect(lines[6]).toMatch(/^3 difference\(s\): 2 same, 1 only local, 1 only remote, 1 differ; /);
    expect(lines).toHaveLength(7);
  });

  it('--json gives difference events and a check-summary', async () => {
    const { dir, url } = await planted(server);
    const r = await runCli(['check', dir, url, '--json'], server);
    expect(r.code).toBe(1);
    const diffs = ofType(r.events, 'difference').map(({ rel, status }) => ({ rel, status }));
    expect(diffs).toEqual([
      { rel: 'differ.txt', status: 'differ' },
      { rel: 'only-local.txt', status: 'only-local' },
      { rel: 'only-remote.txt', status: 'only-remote' },
    ]);
    const [summary] = ofType(r.events, 'check-summary');
    expect(summary).toMatchObject({
      command: 'check',
      same: 2,
      onlyLocal: ['only-local.txt'],
      onlyRemote: ['only-remote.txt'],
      differ: ['differ.txt'],
      exitCode: 1,
    });
    // One listing; the ETags are plain MD5s, so no HEAD and no GET is needed.
    expect(summary?.requests).toEqual({ ListObjectsV2: 1 });
  });

  it('a check stopped by an error still ends with its check-summary, marked stopped (exit 2)', async () => {
    const { dir } = await planted(server);
    const missing = `s3://no-such-bucket-${process.pid}-chk/p`;
    const json = await runCli(['check', dir, missing, '--json'], server);
    expect(json.code).toBe(2);
    const last = JSON.parse(json.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({
      type: 'check-summary',
      same: 0,
      differences: [],
      notCompared: 4,
      stoppedBy: expect.stringContaining('does not exist'),
      exitCode: 2,
    });
    const human = await runCli(['check', dir, missing], server);
    expect(human.code).toBe(2);
    // Never "identical": the counts are of a check that did not happen.
    expect(human.stdout).toMatch(/^\[stopped\] incomplete \(4 not compared\): 0 same, .* so far; /);
    expect(human.stderr).toMatch(/^s3sync: bucket .* does not exist/);
    // The library: the same summary to onEvent, then the error.
    const events: CheckEvent[] = [];
    await expect(
      check({ ...connFor(server), local: dir, remote: missing, onEvent: (e) => events.push(e) }),
    ).rejects.toThrow(/does not exist/);
    expect(ofType(events, 'check-summary')).toEqual([
      expect.objectContaining({ outcome: 'usage', stoppedBy: expect.stringContaining('does not exist') }),
    ]);
  });

  it('plan and cleanup stopped by an error end --json with a last line that says so (exit 2)', async () => {
    const { dir, url } = await planted(server);
    const missing = `s3://no-such-bucket-${process.pid}-stop/p`;
    const out = path.join(tempDir('stopped-plan'), 'plan.json');
    const empty = tempDir('stopped-empty');
    const runs: [string[], Record<string, unknown>][] = [
      [['plan', 'push', dir, missing, '--out', out], { type: 'plan-file', file: null, actions: 0 }],
      // A delete guard's refusal: the source is empty.
      [['plan', 'push', empty, url, '--delete', '--out', out], { type: 'plan-file', file: null }],
      [['cleanup', missing], { type: 'summary', command: 'cleanup' }],
    ];
    for (const [args, shape] of runs) {
      const r = await runCli([...args, '--json'], server);
      expect(r.code, args.join(' ')).toBe(2);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(last).toMatchObject({ ...shape, exitCode: 2 });
      // The same words as the error's line on stderr.
      expect(r.stderr).toBe(`s3sync: ${String(last.stoppedBy)}\n`);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('a multipart ETag of a part size no guess finds is matched at the size a HEAD of part 1 tells', async () => {
    const { bucket, transport } = await newBucket(server, 'check-parts');
    // Two parts of a size s3sync does not guess (5 MiB and 4 KiB, then the rest), as a tool with its own
    // part size uploads them.
    const cut = 5 * MiB + 4096;
    const body = Buffer.alloc(6 * MiB);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    const etag = await seedMultipart(transport, 'p/m.bin', [body.subarray(0, cut), body.subarray(cut)]);
    const same = tempDir('check-parts-same');
    writeFileSync(path.join(same, 'm.bin'), body);
    const edited = tempDir('check-parts-edited');
    const other = Buffer.from(body);
    other[cut + 10]! ^= 1;
    writeFileSync(path.join(edited, 'm.bin'), other);
    // As S3 and MinIO answer a HEAD of part 1: that part's length, and the object's part count.
    const asS3 = await partOneHeadProxy(server.endpoint, (h) => {
      h['content-length'] = String(cut);
      h['x-amz-mp-parts-count'] = '2';
    });
    // A store that refuses partNumber on a HEAD: asked again without it.
    const refusing = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      answer: (req) =>
        req.method === 'HEAD' && partOne.test(req.url)
          ? { status: 400, code: 'InvalidArgument', message: 'partNumber is not supported' }
          : undefined,
    });
    try {
      const url = `s3://${bucket}/p`;
      const via = (p: { endpoint: string }, dir: string, ...more: string[]) =>
        runCli(['check', dir, url, '--endpoint-url', p.endpoint, '--json', ...more], server);
      // Ceph makes the multipart ETag this test is about; s3rver an MD5 of the whole object.
      if (server.name === 'ceph') expect(etag).toMatch(/-2$/);
      if (!/-2$/.test(etag)) {
        // A store whose multipart ETag is an MD5 of the whole object needs no part size at all.
        expect((await via(asS3, same)).code).toBe(0);
        return;
      }
      const told = await via(asS3, same);
      expect(told.code, told.stdout).toBe(0);
      expect(ofType(told.events, 'check-summary')[0]).toMatchObject({
        same: 1,
        requests: { ListObjectsV2: 1, HeadObject: 1 },
      });
      const toldEdited = await via(asS3, edited);
      expect(toldEdited.code).toBe(1);
      expect(ofType(toldEdited.events, 'check-summary')[0]).toMatchObject({
        differ: ['m.bin'],
      });
      // A fresh runner with those bytes records the object: nothing to upload.
      const fresh = await runCli(['push', same, url, '--endpoint-url', asS3.endpoint, '--json'], server);
      expect(fresh.code, fresh.stderr).toBe(0);
      expect(fresh.summary).toMatchObject({ uploaded: 0, recorded: 1 });
      // Refused, the run goes on as before the part size was asked for: it cannot tell, and says so.
      const refused = await via(refusing, edited);
      expect(refused.code).toBe(1);
      expect(ofType(refused.events, 'check-summary')[0]).toMatchObject({
        differ: [],
        unverified: [expect.objectContaining({ rel: 'm.bin', status: 'unverified' })],
        requests: { ListObjectsV2: 1, HeadObject: 2 },
      });
    } finally {
      await asS3.close();
      await refusing.close();
    }
  });

  it('a byte-identical file uploaded in parts of a size no guess finds, on a store ignoring partNumber: not verifiable, not "differ"', async () => {
    const { bucket, transport } = await newBucket(server, 'check-unverif');
    // 13,000,000 bytes in parts of 6,815,744 and the rest, no metadata: as another tool uploads it.
    const body = Buffer.alloc(13_000_000);
    for (let i = 0; i + 4 <= body.length; i += 4096) body.writeUInt32BE(i, i);
    await seedMultipart(transport, 'p/u.bin', [body.subarray(0, 6815744), body.subarray(6815744)]);
    // As listed (Ceph's CompleteMultipartUpload answer may carry none); s3rver's is the whole MD5.
    const etag = (await transport.list('p/')).get('u.bin')!.etag;
    const dir = tempDir('check-unverif');
    writeFileSync(path.join(dir, 'u.bin'), body);
    // As Ceph RGW answers a HEAD of part 1: the whole object, no part count.
    const ignoring = await partOneHeadProxy(server.endpoint, (h) => {
      h['content-length'] = String(body.length);
      delete h['x-amz-mp-parts-count'];
    });
    try {
      const url = `s3://${bucket}/p`;
      const args = ['check', dir, url, '--endpoint-url', ignoring.endpoint];
      if (server.name === 'ceph') expect(etag).toMatch(/-2$/);
      if (!/-2$/.test(etag)) {
        // A store whose multipart ETag is the whole object's MD5 compares it as it is.
        expect((await runCli(args, server)).code).toBe(0);
        return;
      }
      const human = await runCli(args, server);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain(
        'not verifiable (1):\n  u.bin  (same size, content not verifiable: a multipart ETag of a part size not found, and no MD5 in its metadata; reading the object settles it',
      );
      expect(human.stdout).not.toMatch(/different content|^differ/m);
      expect(human.stdout).toMatch(
        /^1 not verifiable, no difference found: 0 same, 0 only local, 0 only remote, 0 differ, 1 not verifiable; /m,
      );
      const json = await runCli([...args, '--json'], server);
      expect(json.code).toBe(1);
      const [summary] = ofType(json.events, 'check-summary');
      expect(summary).toMatchObject({ same: 0, differ: [], differences: [], exitCode: 1 });
      expect(summary?.unverified).toEqual([expect.objectContaining({ rel: 'u.bin', status: 'unverified' })]);
      expect(ofType(json.events, 'difference')).toEqual([]);
      expect(ofType(json.events, 'unverified')).toHaveLength(1);
      // Ceph itself answers so: the same without the proxy.
      if (server.name === 'ceph') {
        const direct = await runCli(['check', dir, url, '--json'], server);
        expect(ofType(direct.events, 'check-summary')[0]).toMatchObject({
          differ: [],
          unverified: [expect.objectContaining({ rel: 'u.bin' })],
        });
      }
      // push sends such a file again (it cannot prove the object holds it); then check can verify it.
      const push = await runCli(['push', dir, url, '--endpoint-url', ignoring.endpoint, '--json'], server);
      expect(push.summary).toMatchObject({ uploaded: 1, failed: 0 });
      const after = await runCli(args, server);
      expect(after.code, after.stdout + after.stderr).toBe(0);
    } finally {
      await ignoring.close();
    }
  });

  it('reports a size difference without hashing', async () => {
    const { transport, dir, url } = await planted(server);
    await seed(transport, 'p/differ.txt', 'a longer remote version\n');
    const r = await check({ ...connFor(server), local: dir, remote: url });
    expect(r.differ).toEqual(['differ.txt']);
    expect(r.differences.find((d) => d.rel === 'differ.txt')?.detail).toBe(
      `size ${'local version\n'.length} locally, ${'a longer remote version\n'.length} remotely`,
    );
  });

  it('exits 0 after push --delete, with and without --full', async () => {
    const { dir, url } = await planted(server);
    const pushed = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(pushed.code).toBe(0);
    expect(pushed.summary).toMatchObject({ uploaded: 2, deleted: 1 });

    const r = await runCli(['check', dir, url], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^identical: 4 same, 0 only local, 0 only remote, 0 differ; /);

    const j = await runCli(['check', dir, url, '--json'], server);
    expect(j.code).toBe(0);
    expect(ofType(j.events, 'difference')).toEqual([]);
    const [summary] = ofType(j.events, 'check-summary');
    expect(summary).toMatchObject({ same: 4, exitCode: 0, onlyLocal: [], onlyRemote: [], differ: [] });
    expect(summary?.requests).toEqual({ ListObjectsV2: 1 });

    const full = await runCli(['check', dir, url, '--full'], server);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^identical: 4 same/);
  });

  it('exits 0 after a push and removing the only-remote object; a same-size edit shows with and without --full', async () => {
    const { transport, dir, url } = await planted(server);
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    await transport.deleteKeys(['p/only-remote.txt']);
    const r = await check({ ...connFor(server), local: dir, remote: url });
    expect(r).toMatchObject({ outcome: 'ok', same: 4, differences: [] });

    // A same-size local edit changes the stat data: caught with and without --full.
    writeFileSync(path.join(dir, 'same.txt'), 'IDENTICAL\n');
    const quick = await check({ ...connFor(server), local: dir, remote: url });
    expect(quick.differ).toEqual(['same.txt']);
    const full = await check({ ...connFor(server), local: dir, remote: url, full: true });
    expect(full).toMatchObject({ outcome: 'differ', differ: ['same.txt'], onlyLocal: [], onlyRemote: [] });
  });

  it('is read-only: no manifest, no lock, no request but the listing', async () => {
    const { dir, url } = await planted(server);
    const r = await check({ ...connFor(server), local: dir, remote: url });
    expect(r.outcome).toBe('differ');
    expect(r.requests).toEqual({ ListObjectsV2: 1 });
    expect(existsSync(path.join(dir, '.s3sync'))).toBe(false);
    const missing = await runCli(['check', path.join(dir, 'nope'), url], server);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
  });
  it('says the links and FIFOs it does not compare, as a push says them; not those the filters leave out', async () => {
    const { bucket } = await newBucket(server, 'checklinks');
    const dir = tempDir('checklinks');
    writeTree(dir, { 'a.txt': 'a\n', 'skip/b.txt': 'b\n' });
    symlinkSync('a.txt', path.join(dir, 'link.txt'));
    symlinkSync('/nonexistent/target', path.join(dir, 'dangling'));
    symlinkSync('a.txt', path.join(dir, 'skip-link'));
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    const url = `s3://${bucket}/p`;
    const filters = ['--exclude', 'skip-*'];
    expect((await runCli(['push', dir, url, ...filters, '--quiet'], server)).code).toBe(0);
    const said = [
      'notice: dangling: symbolic link skipped (use --follow-symlinks to follow)',
      'notice: link.txt: symbolic link skipped (use --follow-symlinks to follow)',
      'notice: pipe: not a regular file (FIFO, socket or device): skipped',
    ];
    const human = await runCli(['check', dir, url, ...filters], server);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr.trimEnd().split('\n').sort()).toEqual(said);
    expect(human.stdout).toMatch(/^identical: 2 same, 0 only local, 0 only remote, 0 differ; /);
    const json = await runCli(['check', dir, url, ...filters, '--json'], server);
    expect(json.code).toBe(0);
    const notices = json.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; message?: string })
      .filter((e) => e.type === 'notice')
      .map((e) => `notice: ${e.message}`);
    expect(notices.sort()).toEqual(said);
    // Followed, the link is compared (and is only local: the push left it out); the dangling one still said.
    const followed = await runCli(['check', dir, url, ...filters, '--follow-symlinks'], server);
    expect(followed.code).toBe(1);
    expect(followed.stdout).toMatch(/only local \(1\):\n {2}link\.txt/);
  });

  it('hashes hundreds of small files (lanes, a worker) and finds exactly the same-size edits', async () => {
    const { dir, url, rels } = await pushedSmallFiles(server, 'check-many', 700);
    // Same sizes, other bytes, in several places of the queue.
    const edited = [0, 1, 350, 698, 699].map((i) => rels[i]!);
    editSameSize(dir, edited);
    const r = await runCli(['check', dir, url, '--json'], server);
    expect(r.code).toBe(1);
    const diffs = ofType(r.events, 'difference').map(({ rel, status }) => ({ rel, status }));
    expect(diffs).toEqual([...edited].sort().map((rel) => ({ rel, status: 'differ' })));
    const [summary] = ofType(r.events, 'check-summary');
    expect(summary).toMatchObject({ same: rels.length - edited.length, differ: [...edited].sort() });
  });
});
