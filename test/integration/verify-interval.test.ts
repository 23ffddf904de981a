/**
 * Rule: remote drift is found without giving up 0-request runs. A push whose last complete listing of
 * the destination is older than --verify-interval (default 24h) lists it once and repairs what was
 * deleted or overwritten behind s3sync's back; within the interval a no-change push makes no request.
 */
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { ManifestData } from '../../src/manifest/schema.js';
import { defaultManifestPath, saveManifest } from '../../src/manifest/store.js';
import { validateEndpoint } from '../../src/s3/endpoint-url.js';
import type { S3Transport } from '../../src/s3/transport.js';
import { parseS3Url } from '../../src/s3/url.js';
import {
  bigFile,
  type CliRun,
  loadManifestFile,
  MiB,
  manifestHeader,
  md5Hex,
  newBucket,
  objectMd5,
  plainLines,
  runCli,
  seededTree,
  seedObject,
  servers,
  trackedDirs,
  treeHashes,
  writeTree,
} from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const H = 3_600_000;

/** Every file's mtime an hour back, so that no file is "racily clean" when a test expects 'unchanged'. */
function ageTree(root: string): void {
  const t = Date.now() / 1000 - 3600;
  for (const rel of Object.keys(treeHashes(root))) utimesSync(path.join(root, rel), t, t);
}

const notices = (r: CliRun) =>
  r.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message);
const uploadsOf = (r: CliRun) =>
  r.events
    .filter((e) => e.type === 'done' && e.action === 'upload')
    .map((e) => ({ rel: (e as { rel: string }).rel, reason: (e as { reason: string }).reason }))
    .sort((a, b) => a.rel.localeCompare(b.rel));

describe.each(servers())('--verify-interval on $name', (server) => {
  const push = (src: string, url: string, ...extra: string[]) =>
    runCli(['push', src, url, '--json', ...extra], server);

  const manifestFile = (root: string, url: string) => {
    const loc = parseS3Url(url);
    return defaultManifestPath(root, { endpoint: validateEndpoint(server.endpoint), ...loc });
  };
  /** Rewrites the manifest's header as an older run (or an older s3sync) would have left it. */
  const editManifest = (root: string, url: string, edit: (m: ManifestData) => void) => {
    const loc = parseS3Url(url);
    const file = manifestFile(root, url);
    const loaded = loadManifestFile(file, { endpoint: validateEndpoint(server.endpoint), ...loc });
    edit(loaded.data);
    saveManifest(file, loaded.data);
  };
  const listedAt = (root: string, url: string) => {
    return manifestHeader(manifestFile(root, url)).listedAt as string | null | undefined;
  };

  /** A pushed tree of small files plus one multipart object; returns its transport and contents. */
  async function pushed(label: string): Promise<{
    src: string;
    url: string;
    t: S3Transport;
    files: Record<string, string>;
  }> {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(`${label}-src`);
    seededTree(src, 20, label.length);
    // Multipart (5 MiB parts): its ETag in the listing must match the one recorded, or every verifying
    // push would re-upload it.
    bigFile(path.join(src, 'big/multi.bin'), 11 * MiB);
    ageTree(src);
    const url = `s3://${bucket}/v`;
    const first = await push(src, url, '--multipart-threshold', '5MiB', '--part-size', '5MiB');
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toMatchObject({ uploaded: 21 });
    return { src, url, t: transport, files: treeHashes(src) };
  }

  it('repairs objects deleted or overwritten behind its back once the interval has passed, not before', async () => {
    const { src, url, t, files } = await pushed('drift');
    const before = listedAt(src, url);
    expect(before).toBeTypeOf('string');
    const again = await push(src, url);
    expect(again.summary).toMatchObject({ uploaded: 0, unchanged: 21, requestsTotal: 0 });

    const rels = Object.keys(files)
      .filter((r) => !r.startsWith('big/'))
      .sort();
    const [gone, sameSize, otherSize] = [rels[0]!, rels[1]!, rels[2]!];
    expect((await t.deleteKeys([`v/${gone}`])).size).toBe(0);
    const size = readFileSync(path.join(src, sameSize)).length;
    await seedObject(t, `v/${sameSize}`, Buffer.alloc(size, 0x41));
    await seedObject(t, `v/${otherSize}`, 'overwritten by someone else');
    await t.deleteKeys(['v/big/multi.bin']);

    // Within the interval (the default 24h, or an explicit one): 0 requests, drift unseen.
    for (const extra of [[], ['--verify-interval', '1h']]) {
      const within = await push(src, url, ...extra);
      expect(within.code).toBe(0);
      expect(within.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
      expect(notices(within)).toEqual([]);
    }

    await sleep(1100);
    const due = await push(
      src,
      url,
      '--verify-interval',
      '1s',
      '--multipart-threshold',
      '5MiB',
      '--part-size',
      '5MiB',
    );
    expect(due.code, due.stderr).toBe(0);
    expect(due.summary).toMatchObject({ uploaded: 4, unchanged: 17 });
    expect(due.summary!.requests.ListObjectsV2).toBe(1);
    expect(uploadsOf(due)).toEqual(
      [gone, sameSize, otherSize, 'big/multi.bin'].sort().map((rel) => ({ rel, reason: 'remote-drift' })),
    );
    expect(notices(due)).toHaveLength(1);
    expect(notices(due)[0]).toMatch(
      /^listing the destination for objects changed or deleted behind s3sync's back: the last complete listing of the destination was \d+ s ago \(--verify-interval 1s\)$/,
    );
    for (const rel of [gone, sameSize, otherSize, 'big/multi.bin']) {
      expect(await objectMd5(t, `v/${rel}`), rel).toBe(files[rel]);
    }
    expect(Date.parse(listedAt(src, url)!)).toBeGreaterThan(Date.parse(before!));

    // The listing just made starts the interval again.
    const after = await push(src, url, '--verify-interval', '1h');
    expect(after.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it("'never' never lists; the default 24h lists a manifest last listed 25 h ago, once", async () => {
    const { src, url, t, files } = await pushed('never');
    const victim = Object.keys(files).sort()[5]!;
    await t.deleteKeys([`v/${victim}`]);
    editManifest(src, url, (m) => {
      m.listedAt = new Date(Date.now() - 25 * H).toISOString();
    });
    const never = await push(src, url, '--verify-interval', 'never');
    expect(never.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    const never2 = await push(src, url, '--verify-interval', 'NEVER');
    expect(never2.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });

    const daily = await push(src, url);
    expect(daily.code, daily.stderr).toBe(0);
    expect(daily.summary!.requests).toEqual({ ListObjectsV2: 1, PutObject: 1 });
    expect(uploadsOf(daily)).toEqual([{ rel: victim, reason: 'remote-drift' }]);
    expect(notices(daily)[0]).toMatch(/was 25 h ago \(--verify-interval 24h\)$/);
    const next = await push(src, url);
    expect(next.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it('a manifest from before the listing time was recorded lists once, then trusts itself', async () => {
    const { src, url } = await pushed('legacy');
    const file = manifestFile(src, url);
    const text = readFileSync(file, 'utf8');
    const nl = text.indexOf('\n');
    const header = JSON.parse(text.slice(0, nl)) as Record<string, unknown>;
    delete header.listedAt;
    writeFileSync(file, `${JSON.stringify(header)}${text.slice(nl)}`);

    const once = await push(src, url);
    expect(once.code, once.stderr).toBe(0);
    expect(once.summary).toMatchObject({ uploaded: 0, unchanged: 21 });
    expect(once.summary!.requests).toEqual({ ListObjectsV2: 1 });
    expect(notices(once)).toEqual([
      "listing the destination for objects changed or deleted behind s3sync's back: the manifest records no complete listing of the destination (--verify-interval 24h)",
    ]);
    expect(listedAt(src, url)).toBeTypeOf('string');
    const then = await push(src, url);
    expect(then.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it('the config file key verifyInterval works like the flag, and the flag wins', async () => {
    const { src, url, t, files } = await pushed('config');
    const victim = Object.keys(files).sort()[3]!;
    await t.deleteKeys([`v/${victim}`]);
    const cfgDir = dir('config-cfg');
    const cfg = path.join(cfgDir, 's3sync.config.json');
    const withConfig = (defaults: Record<string, unknown>, ...extra: string[]) => {
      writeFileSync(cfg, JSON.stringify({ defaults }));
      return runCli(['push', src, url, '--json', ...extra], server, { env: { S3SYNC_CONFIG: cfg } });
    };
    await sleep(1100);
    const never = await withConfig({ verifyInterval: 'never' });
    expect(never.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    const flagWins = await withConfig({ verifyInterval: '1s' }, '--verify-interval', 'never');
    expect(flagWins.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    const due = await withConfig({ verifyInterval: '1s' });
    expect(due.code, due.stderr).toBe(0);
    expect(uploadsOf(due)).toEqual([{ rel: victim, reason: 'remote-drift' }]);

    // Junk, wherever it comes from, is a usage error in one line, and nothing is sent.
    for (const bad of ['soon', '', '-1h', '24 hours', 86400, true, null]) {
      const r = await withConfig({ verifyInterval: bad });
      expect(r.code, JSON.stringify(bad)).toBe(2);
      expect(plainLines(r.stderr)).toEqual([
        expect.stringMatching(/^s3sync: config file .*: defaults: "verifyInterval" must be a duration /),
      ]);
      expect(r.events).toEqual([]);
    }
    for (const bad of ['soon', '1w', 'x1h', '', '86400']) {
      const r = await runCli(['push', src, url, '--verify-interval', bad], server);
      expect(r.code, bad).toBe(2);
      expect(plainLines(r.stderr)).toEqual([
        expect.stringMatching(/^s3sync: --verify-interval must be a duration /),
      ]);
    }
  });

  it("another source's --delete erased the objects: found and restored once the interval has passed", async () => {
    const { bucket, transport: t } = await newBucket(server, 'rival');
    const url = `s3://${bucket}/shared`;
    const a = dir('rival-a');
    const b = dir('rival-b');
    writeTree(a, { 'a1.txt': 'first source 1\n', 'a2.txt': 'first source 2\n', 'sub/a3.txt': 'three\n' });
    writeTree(b, { 'b1.txt': 'second source\n' });
    ageTree(a);
    ageTree(b);
    expect((await push(a, url)).summary).toMatchObject({ uploaded: 3 });
    const rival = await push(b, url, '--delete', '--force');
    expect(rival.summary).toMatchObject({ uploaded: 1, deleted: 3 });
    expect([...(await t.list('shared/')).keys()]).toEqual(['b1.txt']);

    // Within the interval the first source cannot know (the documented cost of 0-request runs).
    expect((await push(a, url)).summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    editManifest(a, url, (m) => {
      m.listedAt = new Date(Date.now() - 24 * H - 60_000).toISOString();
    });
    const restored = await push(a, url);
    expect(restored.code, restored.stderr).toBe(0);
    expect(uploadsOf(restored)).toEqual(
      ['a1.txt', 'a2.txt', 'sub/a3.txt'].map((rel) => ({ rel, reason: 'remote-drift' })),
    );
    expect([...(await t.list('shared/')).keys()].sort()).toEqual([
      'a1.txt',
      'a2.txt',
      'b1.txt',
      'sub/a3.txt',
    ]);
  });

  it('a listing made for other reasons (new files, a pull) counts, and what it contradicts is repaired', async () => {
    const { src, url, t, files } = await pushed('other');
    const rels = Object.keys(files)
      .filter((r) => !r.startsWith('big/'))
      .sort();
    // A new file makes the push list: the missing object is re-uploaded in the same run.
    await t.deleteKeys([`v/${rels[0]}`]);
    writeTree(src, { 'new-file.txt': 'new\n' });
    ageTree(src);
    const withNew = await push(src, url);
    expect(withNew.summary!.requests).toEqual({ ListObjectsV2: 1, PutObject: 2 });
    expect(uploadsOf(withNew)).toEqual(
      [
        { rel: 'new-file.txt', reason: 'new' },
        { rel: rels[0]!, reason: 'remote-drift' },
      ].sort((x, y) => x.rel.localeCompare(y.rel)),
    );

    // A pull into the same tree lists the prefix: it forgets the entry of an object deleted behind its
    // back (without --delete it keeps the file), and records the listing; the next push, within the
    // interval, lists because the manifest no longer vouches for that file, and uploads it.
    const beforePull = listedAt(src, url)!;
    await t.deleteKeys([`v/${rels[1]}`]);
    await sleep(10);
    const pulled = await runCli(['pull', url, src, '--json'], server);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.summary).toMatchObject({ downloaded: 0, deleted: 0 });
    expect(Date.parse(listedAt(src, url)!)).toBeGreaterThan(Date.parse(beforePull));
    const repaired = await push(src, url);
    expect(repaired.summary!.requests).toEqual({ ListObjectsV2: 1, PutObject: 1 });
    expect(uploadsOf(repaired)).toEqual([{ rel: rels[1]!, reason: 'new' }]);
    expect(await objectMd5(t, `v/${rels[1]}`)).toBe(md5Hex(readFileSync(path.join(src, rels[1]!))));
    expect((await push(src, url)).summary).toMatchObject({ requestsTotal: 0 });
  });

  it('a dry run that is due lists and shows the repairs, but records nothing', async () => {
    const { src, url, t, files } = await pushed('dry');
    const victim = Object.keys(files).sort()[2]!;
    await t.deleteKeys([`v/${victim}`]);
    const old = new Date(Date.now() - 48 * H).toISOString();
    editManifest(src, url, (m) => {
      m.listedAt = old;
    });
    const dry = await push(src, url, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.summary!.requests).toEqual({ ListObjectsV2: 1 });
    const actions = dry.events.filter((e) => e.type === 'action');
    expect(actions).toEqual([
      expect.objectContaining({ action: 'upload', rel: victim, reason: 'remote-drift' }),
    ]);
    expect(listedAt(src, url)).toBe(old);
    const real = await push(src, url);
    expect(uploadsOf(real)).toEqual([{ rel: victim, reason: 'remote-drift' }]);
  });
});
