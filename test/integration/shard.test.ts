/**
 * --shard I/N and --shards N: N runs, concurrent on one machine, split a tree between them with no path
 * written twice; each keeps its own manifest and lock, and deletes, pulls and checks only its own paths.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { S3Transport } from '../../src/s3/transport.js';
import { shardOf } from '../../src/shard.js';
import {
  manifestHeader,
  manifestPaths,
  newBucket,
  runCli,
  seedObject,
  servers,
  tempDir,
  treeHashes,
  writeTree,
} from '../helpers.js';

type TestServer = Parameters<typeof newBucket>[0];

const N = 3;
const SHARDS = [0, 1, 2];
const FILES = 48;
const TREE: Record<string, string> = Object.fromEntries(
  Array.from({ length: FILES }, (_, i) => [`d${i % 4}/f${String(i).padStart(3, '0')}.txt`, `file ${i}\n`]),
);
const RELS = Object.keys(TREE).sort();
const ofShard = (i: number, rels = RELS) => rels.filter((rel) => shardOf(rel, N) === i);

const keys = async (t: S3Transport, prefix = 'p/') => [...(await t.list(prefix)).keys()].sort();

/** The tree pushed by N concurrent shard runs; each run's result. */
async function shardedPush(server: TestServer, label: string) {
  const { bucket, transport } = await newBucket(server, label);
  const dir = tempDir(label);
  writeTree(dir, TREE);
  const url = `s3://${bucket}/p`;
  const runs = await Promise.all(
    SHARDS.map((i) => runCli(['push', dir, url, '--shard', `${i}/${N}`, '--json'], server)),
  );
  return { bucket, transport, dir, url, runs };
}

describe('the test tree', () => {
  it('has files in every shard', () => {
    for (const i of SHARDS) expect(ofShard(i).length, `shard ${i}`).toBeGreaterThanOrEqual(8);
  });
});

describe.each(servers())('shards on $name', (server) => {
  it('N concurrent pushes write every file exactly once, each into its own manifest', async () => {
    const { transport, dir, url, runs } = await shardedPush(server, 'shpush');
    for (const [i, r] of runs.entries()) {
      expect(r.stderr, `shard ${i}`).toBe('');
      expect(r.code, `shard ${i}`).toBe(0);
      expect(r.summary).toMatchObject({ scanned: ofShard(i).length, uploaded: ofShard(i).length, failed: 0 });
      expect(
        r.events
          .filter((e) => e.type === 'done')
          .map((e) => (e as { rel: string }).rel)
          .sort(),
        `shard ${i}`,
      ).toEqual(ofShard(i));
    }
    // No object written twice: the PUTs of all runs are the files, and their union is the tree.
    const puts = runs.reduce((n, r) => n + (r.summary?.requests.PutObject ?? 0), 0);
    expect(puts).toBe(FILES);
    expect(await keys(transport)).toEqual(RELS);

    const manifests = manifestPaths(dir)
      .map((f) => path.basename(f))
      .sort();
    expect(manifests).toHaveLength(N);
    for (const [i, name] of manifests.entries())
      expect(name).toMatch(new RegExp(`-shard-${i}-of-${N}\\.json$`));
    for (const f of manifestPaths(dir)) {
      const i = Number(/-shard-(\d)-of-/.exec(f)![1]);
      expect(manifestHeader(f).destination.shard).toBe(`${i}/${N}`);
      const rels = readFileSync(f, 'utf8')
        .split('\n')
        .slice(1, -2)
        .map((l) => l.split('\t')[0])
        .sort();
      expect(rels, `manifest of shard ${i}`).toEqual(ofShard(i));
    }

    // A no-change rerun of each shard, concurrent again, makes no request at all.
    const again = await Promise.all(
      SHARDS.map((i) => runCli(['push', dir, url, '--shard', `${i}/${N}`, '--json'], server)),
    );
    for (const r of again) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    }

    // --shards N reads the index from the batch engine's variable: the same shard, the same manifest.
    for (const env of [{ JOB_COMPLETION_INDEX: '1' }, { AWS_BATCH_JOB_ARRAY_INDEX: '1' }]) {
      const r = await runCli(['push', dir, url, '--shards', `${N}`, '--json'], server, { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ scanned: ofShard(1).length, uploaded: 0, requestsTotal: 0 });
    }
  });

  it('--delete in one shard deletes only its own keys, within guards counted in the shard', async () => {
    const { transport, dir, url } = await shardedPush(server, 'shdel');
    // Two files gone from every shard.
    const gone = SHARDS.flatMap((i) => ofShard(i).slice(0, 2));
    for (const rel of gone) rmSync(path.join(dir, rel));
    // An object no shard's files have, in shard 1, and one in shard 0.
    const strays = ['zz/stray-a', 'zz/stray-b', 'zz/stray-c', 'zz/stray-d', 'zz/stray-e'];
    const stray1 = strays.find((rel) => shardOf(rel, N) === 1)!;
    const stray0 = strays.find((rel) => shardOf(rel, N) === 0)!;
    for (const rel of [stray0, stray1]) await seedObject(transport, `p/${rel}`, 'stray\n');

    const r = await runCli(['push', dir, url, '--shard', `1/${N}`, '--delete', '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const mine = [...ofShard(1, gone), stray1].sort();
    expect(r.summary).toMatchObject({ uploaded: 0, deleted: mine.length, failed: 0 });
    const left = await keys(transport);
    for (const rel of mine) expect(left).not.toContain(rel);
    for (const rel of [...ofShard(0, gone), ...ofShard(2, gone), stray0]) expect(left).toContain(rel);
    expect(left).toHaveLength(FILES + 2 - mine.length);

    // --delete-excluded too stays in the shard: shard 2 with every file excluded deletes its own objects
    // only, once its guard (counted over shard 2's objects) is lifted.
    // The guard's count: shard 2's objects its filters select (d0/ excluded), not the prefix's.
    const selected2 = ofShard(2).filter((rel) => !rel.startsWith('d0/')).length;
    const refused = await runCli(
      ['push', dir, url, '--shard', `2/${N}`, '--delete', '--delete-excluded', '--exclude', 'd*/**'],
      server,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^s3sync: refusing to delete all \d+ file\(s\): the source is empty/);
    const excl = await runCli(
      [
        'push',
        dir,
        url,
        '--shard',
        `2/${N}`,
        '--delete',
        '--delete-excluded',
        '--exclude',
        'd0/**',
        '--max-delete',
        '1',
      ],
      server,
    );
    expect(excl.code).toBe(2);
    expect(excl.stderr).toMatch(
      new RegExp(`^s3sync: refusing to delete \\d+ of ${selected2} file\\(s\\): over --max-delete 1`),
    );
    const forced = await runCli(
      [
        'push',
        dir,
        url,
        '--shard',
        `2/${N}`,
        '--delete',
        '--delete-excluded',
        '--exclude',
        'd0/**',
        '--force',
        '--json',
      ],
      server,
    );
    expect(forced.code, forced.stderr).toBe(0);
    const shard2d0 = ofShard(2).filter((rel) => rel.startsWith('d0/'));
    expect(forced.summary?.deleted).toBe(
      ofShard(2, gone).length + shard2d0.filter((rel) => !gone.includes(rel)).length,
    );
    const after = await keys(transport);
    for (const rel of ofShard(2))
      expect(after.includes(rel)).toBe(!gone.includes(rel) && !rel.startsWith('d0/'));
    for (const rel of [...ofShard(0), ...ofShard(1)])
      if (!ofShard(1, gone).includes(rel)) expect(after, rel).toContain(rel);
  });

  it('pull and check in shards: each takes its own objects, and pull --delete removes only its files', async () => {
    const { bucket, transport } = await newBucket(server, 'shpull');
    for (const [rel, body] of Object.entries(TREE)) await seedObject(transport, `p/${rel}`, body);
    const url = `s3://${bucket}/p`;
    const dst = tempDir('shpull');
    const runs = await Promise.all(
      SHARDS.map((i) => runCli(['pull', url, dst, '--shard', `${i}/${N}`, '--json'], server)),
    );
    for (const [i, r] of runs.entries()) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ scanned: ofShard(i).length, downloaded: ofShard(i).length });
      expect(r.summary?.requests.GetObject).toBe(ofShard(i).length);
    }
    expect(treeHashes(dst)).toEqual(treeHashes(writeTreeDir(TREE)));

    for (const i of SHARDS) {
      const c = await runCli(['check', dst, url, '--shard', `${i}/${N}`], server);
      expect(c.code, c.stderr).toBe(0);
      expect(c.stdout).toMatch(
        new RegExp(`^identical: ${ofShard(i).length} same, 0 only local, 0 only remote`),
      );
    }

    // Objects gone from every shard: pull --delete in shard 0 removes only shard 0's local files.
    const gone = SHARDS.flatMap((i) => ofShard(i).slice(0, 2));
    await transport.deleteKeys(gone.map((rel) => `p/${rel}`));
    const r = await runCli(['pull', url, dst, '--shard', `0/${N}`, '--delete', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ deleted: ofShard(0, gone).length, downloaded: 0 });
    for (const rel of gone) expect(existsSync(path.join(dst, rel)), rel).toBe(shardOf(rel, N) !== 0);
    // Shard 1's check sees its own stale files as only local; shard 0's is identical.
    const c0 = await runCli(['check', dst, url, '--shard', `0/${N}`], server);
    expect(c0.stdout).toMatch(/^identical: /);
    const c1 = await runCli(['check', dst, url, '--shard', `1/${N}`], server);
    expect(c1.stdout).toMatch(new RegExp(`, ${ofShard(1, gone).length} only local, 0 only remote`));
  });

  it("another N, or another shard, is another manifest: never read as this run's own", async () => {
    const { dir, url } = await shardedPush(server, 'shn');
    // Shard 0 of 2 finds no manifest of its own: it lists, proves content by MD5, and uploads nothing.
    const r = await runCli(['push', dir, url, '--shard', '0/2', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    const half = RELS.filter((rel) => shardOf(rel, 2) === 0);
    expect(r.summary).toMatchObject({ scanned: half.length, uploaded: 0, recorded: half.length });
    expect(r.summary?.requests.ListObjectsV2).toBeGreaterThanOrEqual(1);
    expect(manifestPaths(dir).some((f) => f.endsWith('-shard-0-of-2.json'))).toBe(true);

    // Given another shard's manifest by path, a run says so and rebuilds it rather than trusting it.
    const other = manifestPaths(dir).find((f) => f.endsWith(`-shard-1-of-${N}.json`))!;
    const w = await runCli(['push', dir, url, '--shard', `2/${N}`, '--manifest', other, '--json'], server);
    expect(w.code, w.stderr).toBe(0);
    const warning = w.events.find((e) => e.type === 'warning') as { message: string } | undefined;
    expect(warning?.message).toMatch(new RegExp(`belongs to another destination \\(.* shard 1/${N}\\)`));
    expect(w.summary).toMatchObject({ uploaded: 0, recorded: ofShard(2).length });
  });

  it.each<[string, string | undefined, string[], RegExp]>([
    [
      'another shard holds it',
      `0/${N}`,
      [],
      new RegExp(
        `holds this manifest for shard 0/${N}, and this run is shard 1/${N}: give each shard its own --manifest, or none$`,
      ),
    ],
    [
      'another shard holds it, with --wait-lock: refused at once, not waited for',
      `0/${N}`,
      ['--wait-lock'],
      /holds this manifest for shard 0\/3, and this run is shard 1\/3/,
    ],
    [
      'a run of the whole tree holds it',
      undefined,
      [],
      /holds this manifest for the whole tree, and this run is shard 1\/3/,
    ],
    [
      'the same shard holds it',
      `1/${N}`,
      [],
      /is syncing this destination; wait for it or use waitLock \(--wait-lock\); if that run is known dead, remove .+\/shared\.json\.lock$/,
    ],
  ])('one --manifest given to shards: %s (exit 2, nothing sent)', async (_what, holder, extra, message) => {
    const { bucket, transport } = await newBucket(server, 'shm');
    const dir = tempDir('shm');
    writeTree(dir, TREE);
    const manifest = path.join(tempDir('shm-m'), 'shared.json');
    // A live holder: this test's own process, as a run of that shard (or of the whole tree) leaves it.
    const lock = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), shard: holder };
    writeFileSync(`${manifest}.lock`, JSON.stringify(lock));
    const url = `s3://${bucket}/p`;
    const r = await runCli(['push', dir, url, '--shard', `1/${N}`, '--manifest', manifest, ...extra], server);
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^s3sync: another s3sync run \(pid \d+ on .+\) /);
    expect(lines[0]).toMatch(message);
    expect(await keys(transport)).toEqual([]);
    expect(readFileSync(`${manifest}.lock`, 'utf8')).toBe(JSON.stringify(lock));
  });

  it("the Python script's manifest given to every shard: each adopts it, taking turns with --wait-lock", async () => {
    const { bucket, transport } = await newBucket(server, 'shl');
    const dir = tempDir('shl');
    writeTree(dir, TREE);
    const legacy = path.join(dir, '.s3_sync_manifest.json');
    const files = Object.fromEntries(
      RELS.map((rel) => [`p/${rel}`, { local_path: rel, size: TREE[rel]!.length, md5: '0'.repeat(32) }]),
    );
    writeFileSync(legacy, JSON.stringify({ version: '1.0', files }));
    // Shard 0's run reading it: the lock it leaves while it does.
    writeFileSync(
      `${legacy}.lock`,
      JSON.stringify({
        pid: process.pid,
        host: hostname(),
        startedAt: new Date().toISOString(),
        shard: `0/${N}`,
      }),
    );
    const url = `s3://${bucket}/p`;
    const args = ['push', dir, url, '--shard', `1/${N}`, '--manifest', legacy];
    const refused = await runCli(args, server);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /is syncing this destination; wait for it or use waitLock \(--wait-lock\); if that run is known dead, remove .+\.lock\n$/,
    );
    // With --wait-lock it waits, and adopts once shard 0 lets go.
    const waiting = runCli([...args, '--wait-lock', '--json'], server);
    await new Promise((r) => setTimeout(r, 1500));
    rmSync(`${legacy}.lock`);
    const r = await waiting;
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: ofShard(1).length });
    expect(await keys(transport)).toEqual(ofShard(1));
    expect(manifestPaths(dir).some((f) => f.endsWith(`-shard-1-of-${N}.json`))).toBe(true);
  });

  it('plan and apply keep to the shard and record into its manifest', async () => {
    const { bucket, transport } = await newBucket(server, 'shplan');
    const dir = tempDir('shplan');
    writeTree(dir, TREE);
    const url = `s3://${bucket}/p`;
    const out = path.join(tempDir('shplanout'), 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--shard', `1/${N}`, '--out', out], server);
    expect(p.code, p.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { shard?: string; actions: { rel: string }[] };
    expect(doc.shard).toBe(`1/${N}`);
    expect(doc.actions.map((a) => a.rel).sort()).toEqual(ofShard(1));
    const a = await runCli(['apply', out, '--json'], server);
    expect(a.code, a.stderr).toBe(0);
    expect(a.summary?.uploaded).toBe(ofShard(1).length);
    expect(await keys(transport)).toEqual(ofShard(1));
    // The shard's push trusts what apply recorded, its complete listing of the shard too: it uploads
    // nothing and makes no request, then as now.
    for (const requests of [{}, {}]) {
      const again = await runCli(['push', dir, url, '--shard', `1/${N}`, '--json'], server);
      expect(again.code, again.stderr).toBe(0);
      expect(again.summary).toMatchObject({ uploaded: 0, unchanged: ofShard(1).length, requests });
    }
  });

  it("a flag naming the shard overrides the config file's other way of naming it", async () => {
    const { dir, url } = await shardedPush(server, 'shcfg');
    const file = path.join(tempDir('shcfgfile'), 's3sync.config.json');
    const run = (config: object, flags: string[], env: Record<string, string | undefined> = {}) => {
      writeFileSync(file, JSON.stringify({ defaults: config }));
      return runCli(['push', dir, url, ...flags, '--json'], server, { env: { S3SYNC_CONFIG: file, ...env } });
    };
    const env = { JOB_COMPLETION_INDEX: '2', AWS_BATCH_JOB_ARRAY_INDEX: undefined };
    for (const [config, flags, shard] of [
      [{ shards: N }, ['--shard', `1/${N}`], 1],
      [{ shard: `0/${N}` }, ['--shards', `${N}`], 2],
    ] as const) {
      const r = await run(config, [...flags], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ scanned: ofShard(shard).length, uploaded: 0, failed: 0 });
    }
    // Both on the command line are still refused.
    const both = await run({}, ['--shard', `1/${N}`, '--shards', `${N}`], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
  });

  it('bad shard inputs: one line, exit 2, nothing written', async () => {
    const { bucket } = await newBucket(server, 'shbad');
    const dir = tempDir('shbad');
    writeTree(dir, { 'a.txt': 'a\n' });
    const url = `s3://${bucket}/p`;
    const dst = path.join(tempDir('shbaddst'), 'new');
    const cases: [string[], Record<string, string | undefined>, RegExp][] = [
      [['--shard', '3/3'], {}, /--shard must be I\/N .*: shards count from 0: the last of 3 is 2\/3$/],
      [['--shard', '0/0'], {}, /--shard must be I\/N/],
      [['--shard', '1'], {}, /--shard must be I\/N/],
      [['--shard', '-1/3'], {}, /--shard must be I\/N|option '--shard <I\/N>' argument missing/],
      [['--shard', '1/3x'], {}, /--shard must be I\/N/],
      [['--shard', '0/100001'], {}, /--shard must be I\/N/],
      [['--shards', '0'], { JOB_COMPLETION_INDEX: '0' }, /--shards must be a whole number from 1 to 100000/],
      [['--shards', 'three'], {}, /--shards must be a whole number/],
      [
        ['--shards', '3'],
        { JOB_COMPLETION_INDEX: undefined, AWS_BATCH_JOB_ARRAY_INDEX: undefined },
        /neither is set/,
      ],
      [
        ['--shards', '3'],
        { JOB_COMPLETION_INDEX: '3' },
        /JOB_COMPLETION_INDEX must be a whole number from 0 to 2, got "3"/,
      ],
      [['--shards', '3'], { AWS_BATCH_JOB_ARRAY_INDEX: 'x' }, /AWS_BATCH_JOB_ARRAY_INDEX must be/],
      [['--shards', '3'], { JOB_COMPLETION_INDEX: '0', AWS_BATCH_JOB_ARRAY_INDEX: '1' }, /disagree$/],
      [['--shards', '3', '--shard', '0/3'], { JOB_COMPLETION_INDEX: '0' }, /not both$/],
    ];
    for (const [flags, env, message] of cases) {
      for (const args of [
        ['push', dir, url, ...flags],
        ['pull', url, dst, ...flags],
        ['check', dir, url, ...flags],
      ]) {
        const r = await runCli(args, server, { env });
        const what = args.join(' ');
        expect(r.code, what).toBe(2);
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        expect(lines, what).toHaveLength(1);
        expect(lines[0], what).toMatch(message);
        expect(r.stdout, what).toBe('');
      }
    }
    expect(existsSync(path.join(dir, '.s3sync')), 'no manifest or lock written').toBe(false);
    expect(existsSync(dst), 'pull created no directory').toBe(false);
    // Not for cleanup, which keeps no manifest: an unknown flag there.
    const c = await runCli(['cleanup', url, '--shard', '0/2'], server);
    expect(c.code).toBe(2);
  });
});

/** The tree written to a fresh directory, to compare a pulled one with. */
function writeTreeDir(tree: Record<string, string>): string {
  const d = tempDir('shtree');
  writeTree(d, tree);
  return d;
}
