/**
 * Rule: runs of other layouts of one destination (another shard count, or the whole tree) from one
 * local folder keep separate manifests; a deletion by one makes the others list before trusting theirs,
 * so an object it deleted is never taken as present. A run's own deletions cost its next run nothing.
 */
import { readdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import { shardOf } from '../../src/shard.js';
import { type CliRun, newBucket, runCli, servers, trackedDirs, writeTree } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const TREE: Record<string, string> = Object.fromEntries(
  Array.from({ length: 30 }, (_, i) => [`f${i + 1}.txt`, `file ${i + 1}\n`]),
);
const RELS = Object.keys(TREE);
/** A file in shard 0 of 2 and in shard 1 of 3: deleted by `--shard 0/2`, vouched for by `--shard 1/3`. */
const GONE = RELS.find((rel) => shardOf(rel, 2) === 0 && shardOf(rel, 3) === 1)!;

/** The rels of the objects under the prefix. */
const keys = async (t: S3Transport) => [...(await t.list('sh/')).keys()];
const notices = (r: CliRun) =>
  r.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message);
const uploads = (r: CliRun) =>
  r.events.filter((e) => e.type === 'done' && e.action === 'upload').map((e) => (e as { rel: string }).rel);

/** Every file's mtime an hour back: no file is "racily clean" where a test expects no request at all. */
function aged(root: string, rels: string[]): void {
  const t = Date.now() / 1000 - 3600;
  for (const rel of rels) utimesSync(path.join(root, rel), t, t);
}

describe('the test tree', () => {
  it('has a file in shard 0 of 2 and 1 of 3', () => {
    expect(GONE).toBeDefined();
  });
});

describe.each(servers())('layouts of one destination on $name', (server) => {
  const push = (src: string, url: string, ...extra: string[]) =>
    runCli(['push', src, url, '--json', ...extra], server);

  /** The tree pushed whole and in 3 shards, each into its own manifest. */
  async function pushedEveryWay(label: string) {
    const { bucket, transport } = await newBucket(server, label);
    const src = dir(label);
    writeTree(src, TREE);
    aged(src, RELS);
    const url = `s3://${bucket}/sh`;
    for (const shard of [[], ['--shard', '0/3'], ['--shard', '1/3'], ['--shard', '2/3']]) {
      const r = await push(src, url, ...shard);
      expect(r.code, r.stderr).toBe(0);
    }
    return { transport, src, url };
  }

  it.each([
    ['an unsharded push', []],
    ['a push of --shard 1/3', ['--shard', '1/3']],
  ])('a file deleted by --shard 0/2 --delete and back: %s uploads it', async (_what, layout) => {
    const { transport, src, url } = await pushedEveryWay('shlay');
    const away = dir('shlay-away');
    renameSync(path.join(src, GONE), path.join(away, GONE));
    const del = await push(src, url, '--shard', '0/2', '--delete');
    expect(del.code, del.stderr).toBe(0);
    expect(del.summary).toMatchObject({ deleted: 1, failed: 0 });
    expect(await keys(transport)).not.toContain(GONE);
    // The file comes back as it was (content and mtime).
    renameSync(path.join(away, GONE), path.join(src, GONE));

    const r = await push(src, url, ...layout);
    expect(r.code, r.stderr).toBe(0);
    expect(uploads(r)).toEqual([GONE]);
    expect(notices(r).join('\n')).toMatch(
      /listing the destination before trusting the manifest: --shard 0\/2 changed objects here at /,
    );
    expect(r.summary?.requests.ListObjectsV2).toBe(1);
    expect(await keys(transport)).toContain(GONE);

    // Once listed, the mark is behind this manifest: its next run makes no request.
    const again = await push(src, url, ...layout);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary?.requests).toEqual({});
  });

  it("a deletion costs no listing to the deleting layout's own next run, nor to another shard of its N", async () => {
    const { src, url } = await pushedEveryWay('shown');
    const other = await push(src, url, '--shard', '1/2');
    expect(other.code, other.stderr).toBe(0);
    const away = dir('shown-away');
    renameSync(path.join(src, GONE), path.join(away, GONE));
    const del = await push(src, url, '--shard', '0/2', '--delete');
    expect(del.summary).toMatchObject({ deleted: 1, failed: 0 });

    for (const shard of ['0/2', '1/2']) {
      const r = await push(src, url, '--shard', shard);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary?.requests, shard).toEqual({});
      expect(notices(r), shard).toEqual([]);
    }
  });

  it('a shard manifest vouching for an object an unsharded --delete removed: the shard uploads it again', async () => {
    const { transport, src, url } = await pushedEveryWay('shcon');
    const base = await push(src, url, '--shard', '1/2');
    expect(base.code, base.stderr).toBe(0);
    // The end state of the race: the shard uploads new.txt while the unsharded --delete, whose scan
    // predates the file, deletes it.
    const name = Array.from({ length: 100 }, (_, i) => `new${i}.txt`).find((rel) => shardOf(rel, 2) === 1)!;
    writeFileSync(path.join(src, name), 'new\n');
    aged(src, [name]);
    const sent = await push(src, url, '--shard', '1/2');
    expect(uploads(sent)).toEqual([name]);
    const away = dir('shcon-away');
    renameSync(path.join(src, name), path.join(away, name));
    const del = await push(src, url, '--delete');
    expect(del.summary).toMatchObject({ deleted: 1, failed: 0 });
    renameSync(path.join(away, name), path.join(src, name));
    expect(await keys(transport)).not.toContain(name);

    const r = await push(src, url, '--shard', '1/2');
    expect(r.code, r.stderr).toBe(0);
    expect(uploads(r)).toEqual([name]);
    expect(notices(r).join('\n')).toMatch(/an unsharded run changed objects here at /);
    expect(await keys(transport)).toContain(name);
  });

  /** A file's content set, its mtime `ago` seconds back: each version its own, none racily clean. */
  function version(root: string, rel: string, text: string, ago: number): void {
    writeFileSync(path.join(root, rel), text);
    const t = Date.now() / 1000 - ago;
    utimesSync(path.join(root, rel), t, t);
  }
  const dones = (r: CliRun, action: string) =>
    r.events.filter((e) => e.type === 'done' && e.action === action).map((e) => (e as { rel: string }).rel);

  it.each([
    ['the whole tree', false],
    ['--shard J/4 (4 shards, then 2, then 4)', true],
  ])('a file back to what %s stored, after --shard I/2 overwrote it: uploaded again', async (_what, four) => {
    const { bucket } = await newBucket(server, 'shover');
    const src = dir('shover');
    writeTree(src, TREE);
    aged(src, RELS);
    const url = `s3://${bucket}/sh`;
    const rel = RELS[0]!;
    const own = four ? ['--shard', `${shardOf(rel, 4)}/4`] : [];
    const two = ['--shard', `${shardOf(rel, 2)}/2`];
    version(src, rel, 'version one\n', 3600);
    for (const l of four ? [0, 1, 2, 3].map((i) => ['--shard', `${i}/4`]) : [[]]) {
      const r = await push(src, url, ...l);
      expect(r.code, r.stderr).toBe(0);
    }
    version(src, rel, 'version two\n', 3000);
    const other = await push(src, url, ...two);
    expect(uploads(other)).toEqual([rel]);
    // Back to version one (a checkout): same size, the MD5 its manifest records, a new mtime.
    version(src, rel, 'version one\n', 2400);

    const r = await push(src, url, ...own);
    expect(r.code, r.stderr).toBe(0);
    expect(uploads(r)).toEqual([rel]);
    expect(notices(r).join('\n')).toMatch(
      `listing the destination before trusting the manifest: --shard ${two[1]} changed objects here at `,
    );
    expect(r.summary?.requests.ListObjectsV2).toBe(1);
    const check = await runCli(['check', src, url, ...own], server);
    expect(check.code, check.stdout + check.stderr).toBe(0);

    // This run overwrote in turn: the other layout lists once. Its file differs from its entry, but
    // the listing shows the object holds the file (its MD5 ETag): recorded, not sent again, and no
    // change mark, so the first layout makes no request either.
    const back = await push(src, url, ...two);
    expect(back.code, back.stderr).toBe(0);
    expect(uploads(back)).toEqual([]);
    expect(dones(back, 'record')).toEqual([rel]);
    expect(back.summary?.requests).toEqual({ ListObjectsV2: 1 });
    for (const l of [own, two]) {
      const again = await push(src, url, ...l);
      expect(again.code, again.stderr).toBe(0);
      expect(again.summary?.requests, l.join(' ')).toEqual({});
    }
  });

  it("a rename's server-side copy by --shard I/2 over an object the whole tree vouches for", async () => {
    const { bucket } = await newBucket(server, 'shcopy');
    const src = dir('shcopy');
    writeTree(src, TREE);
    aged(src, RELS);
    const url = `s3://${bucket}/sh`;
    const [x, y] = RELS.filter((rel) => shardOf(rel, 2) === 0);
    version(src, x!, 'AAAA\n', 3600);
    version(src, y!, 'BBBB\n', 3600);
    for (const l of [[], ['--shard', '0/2']]) expect((await push(src, url, ...l)).code).toBe(0);
    // x renamed over y: the shard copies x's object over y's.
    renameSync(path.join(src, x!), path.join(src, y!));
    const copied = await push(src, url, '--shard', '0/2');
    expect(copied.code, copied.stderr).toBe(0);
    // s3rver answers the copy with another ETag: the file is uploaded after it, over the same key.
    expect(copied.summary?.requests.CopyObject).toBe(1);
    expect([...dones(copied, 'copy'), ...uploads(copied)]).toEqual([y]);
    // And back: both files as the whole tree stored them, y with a new mtime.
    version(src, x!, 'AAAA\n', 3600);
    version(src, y!, 'BBBB\n', 2400);

    const r = await push(src, url);
    expect(r.code, r.stderr).toBe(0);
    expect(uploads(r)).toEqual([y]);
    expect(notices(r).join('\n')).toMatch(/--shard 0\/2 changed objects here at /);
    expect((await runCli(['check', src, url], server)).code).toBe(0);
  });

  it('shards of one N changing objects cost each other nothing; the whole tree lists once after', async () => {
    const { bucket } = await newBucket(server, 'shpure');
    const src = dir('shpure');
    writeTree(src, TREE);
    aged(src, RELS);
    const url = `s3://${bucket}/sh`;
    const shard = (i: number) => ['--shard', `${i}/2`];
    for (const l of [shard(0), shard(1), []]) expect((await push(src, url, ...l)).code).toBe(0);
    for (const round of [1, 2]) {
      for (const i of [0, 1]) {
        const rel = RELS.find((f) => shardOf(f, 2) === i)!;
        version(src, rel, `round ${round}\n`, 3000 - 100 * round);
        const r = await push(src, url, ...shard(i));
        expect(r.code, r.stderr).toBe(0);
        expect(uploads(r)).toEqual([rel]);
        expect(r.summary?.requests.ListObjectsV2).toBeUndefined();
        const quiet = await push(src, url, ...shard(1 - i));
        expect(quiet.summary?.requests, `${round} ${i}`).toEqual({});
      }
    }
    const whole = await push(src, url);
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.summary?.requests.ListObjectsV2).toBe(1);
    expect(notices(whole).join('\n')).toMatch(/--shard [01]\/2 changed objects here at /);
    // Its files differ from its entries (other sizes), but the listing shows each object holds its
    // file: recorded, none sent, and no change mark, so no layout makes a request after.
    expect(uploads(whole)).toEqual([]);
    expect(dones(whole, 'record').sort()).toEqual(
      [0, 1].map((i) => RELS.find((f) => shardOf(f, 2) === i)!).sort(),
    );
    for (const l of [[], shard(0), shard(1)]) {
      const again = await push(src, url, ...l);
      expect(again.code, again.stderr).toBe(0);
      expect(again.summary?.requests, l.join(' ')).toEqual({});
    }
  });

  it('a deletion mark that cannot be read: the other layouts list once, with a notice', async () => {
    const { transport, src, url } = await pushedEveryWay('shbad');
    const state = path.join(src, '.s3sync');
    // The unsharded manifest's name ends in the destination's id, which every layout's files share.
    const unsharded = /^manifest-.*-([0-9a-f]{12})\.json$/;
    const id = readdirSync(state)
      .map((n) => unsharded.exec(n))
      .find((m) => m !== null)!;
    // The unsharded push uploaded; the shards' runs, which changed nothing, wrote no mark.
    expect(readdirSync(state).filter((n) => n.startsWith('deletions-'))).toEqual([`deletions-${id[1]}.json`]);
    writeFileSync(path.join(state, `deletions-${id[1]}-shard-0-of-2.json`), '{"schema":"s3sync-del');
    await transport.deleteKeys([`sh/${GONE}`]);

    const r = await push(src, url);
    expect(r.code, r.stderr).toBe(0);
    expect(uploads(r)).toEqual([GONE]);
    expect(notices(r).join('\n')).toMatch(
      /--shard 0\/2 changed objects here at .* \(its change mark not JSON\)/,
    );
    const again = await push(src, url);
    expect(again.summary?.requests).toEqual({});
  });
});
