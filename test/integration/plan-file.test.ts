import { randomBytes } from 'node:crypto';
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apply, type BucketPlanDocument, type PlanDocument, plan, S3SyncError } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import { shardOf } from '../../src/shard.js';
import type { PlannedAction } from '../../src/sync/plan-file.js';
import {
  connFor,
  GiB,
  newBucket,
  refusedWithOneLine,
  runCli,
  seedObject,
  servers,
  spawnCli,
  trackedDirs,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const keys = async (t: S3Transport, prefix = 'p/') => [...(await t.list(prefix)).keys()].sort();
const readDoc = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as PlanDocument;

type TestServer = Parameters<typeof newBucket>[0];

/** A proxy that only counts: a refusal "before any request" is one the proxy never saw. */
async function counting<T>(server: TestServer, body: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
  try {
    return await body(proxy);
  } finally {
    await proxy.close();
  }
}

/** A push plan of one new file to s3://bucket/p, made and written to a file; with its bucket. */
async function pushPlan(server: TestServer, label: string) {
  const { bucket, transport } = await newBucket(server, label);
  const dir = dirs.dir(label);
  writeTree(dir, { 'a.txt': 'a\n' });
  const file = path.join(dirs.dir(`${label}-plan`), 'plan.json');
  const p = await runCli(['plan', 'push', dir, `s3://${bucket}/p`, '--out', file], server);
  expect(p.code, p.stderr).toBe(0);
  return { bucket, transport, dir, file, doc: readDoc(file) };
}

/**
 * `d`, written to `edited`, is refused whole by `apply` through `proxy`: one line naming `why`, exit 2;
 * and the library refuses the same document.
 */
async function refusedEdit(
  server: TestServer,
  proxy: { endpoint: string },
  edited: string,
  d: unknown,
  why: string,
): Promise<void> {
  writeFileSync(edited, JSON.stringify(d));
  const r = await runCli(['apply', edited, '--endpoint-url', proxy.endpoint], server);
  refusedWithOneLine(
    r,
    new RegExp(`^s3sync: ${reEscape(edited)} is not a valid s3sync plan: ${reEscape(why)}$`),
  );
  await expect(
    apply({ ...connFor(server), endpointUrl: proxy.endpoint, plan: d as PlanDocument }),
  ).rejects.toThrow(`the plan is not a valid s3sync plan: ${why}`);
}

describe.each(servers())('plan --out and standard output ($name)', (server) => {
  /** A run of the CLI whose stdout is `file` (opened as `>` does), not a pipe. */
  const toFile = async (args: string[], file: string) => {
    const fd = openSync(file, 'w');
    try {
      return await runCli(args, server, { stdout: fd });
    } finally {
      closeSync(fd);
    }
  };

  it('--out naming standard output: with stdout a file, the plan is written through it, not renamed over it', async () => {
    const { bucket } = await newBucket(server, 'outstd');
    const dir = dirs.dir('outstd');
    writeTree(dir, { 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const url = `s3://${bucket}/p`;
    const file = path.join(dirs.dir('outstd-file'), 'out.txt');
    for (const out of ['/dev/stdout', '/proc/self/fd/1', file]) {
      // --quiet: standard output holds the plan alone.
      const quiet = await toFile(['plan', 'push', dir, url, '--out', out, '--quiet'], file);
      expect(quiet.code, quiet.stderr).toBe(0);
      expect((JSON.parse(readFileSync(file, 'utf8')) as PlanDocument).actions).toHaveLength(2);
      // Human: its action lines, the plan, then the line that says it was written; none lost nor
      // written over another.
      const human = await toFile(['plan', 'push', dir, url, '--out', out], file);
      expect(human.code, human.stderr).toBe(0);
      const text = readFileSync(file, 'utf8');
      const actions = /^(\(dry run\) upload [ab]\.txt \[.*\]\n){2}/.exec(text)?.[0] ?? '';
      expect(actions, text.slice(0, 300)).not.toBe('');
      const line = `plan: 2 action(s) written to ${out}\n`;
      expect(text.endsWith(line), text.slice(-300)).toBe(true);
      const doc = text.slice(actions.length, -line.length);
      expect((JSON.parse(doc) as PlanDocument).actions).toHaveLength(2);
    }
  });

  it('--json with the plan going to standard output is refused as --out - is: one line, nothing on stdout', async () => {
    const { bucket } = await newBucket(server, 'outjson');
    const dir = dirs.dir('outjson');
    writeTree(dir, { 'a.txt': 'a\n' });
    const url = `s3://${bucket}/p`;
    const file = path.join(dirs.dir('outjson-file'), 'out.txt');
    for (const out of ['-', '/dev/stdout', '/proc/self/fd/1']) {
      const piped = await runCli(['plan', 'push', dir, url, '--out', out, '--json'], server);
      refusedWithOneLine(piped, new RegExp(`^s3sync: --out ${reEscape(out)}: `));
      expect(piped.stdout).toBe('');
      const filed = await toFile(['plan', 'push', dir, url, '--out', out, '--json'], file);
      refusedWithOneLine(filed, new RegExp(`^s3sync: --out ${reEscape(out)}: `));
      expect(readFileSync(file, 'utf8')).toBe('');
    }
    const filed = await toFile(['plan', 'push', dir, url, '--out', file, '--json'], file);
    refusedWithOneLine(filed, /standard output/);
    // Refusals of the command line itself, before the run: under --json too, nothing on stdout.
    for (const args of [
      ['plan', 'push', dir, url, '--out', path.join(dir, 'p.json')],
      ['plan', 'push', path.join(dir, 'none'), url, '--out', path.join(dirs.dir('outjson-p'), 'p.json')],
    ]) {
      const r = await runCli([...args, '--json'], server);
      refusedWithOneLine(r, /^s3sync: /);
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });
});

describe.each(servers())('apply of a push or pull plan ($name)', (server) => {
  it('a push plan applies names push uploads but pull would refuse: a backslash, a tab, a newline, C:x', async () => {
    const { bucket, transport } = await newBucket(server, 'oddnames');
    const dir = dirs.dir('oddnames');
    const url = `s3://${bucket}/p`;
    writeTree(dir, { 'keep.txt': 'kept\n', 'extra.txt': 'deleted by the plan\n' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'extra.txt'));
    const odd = ['back\\slash.txt', 'tab\there.txt', 'new\nline.txt', 'C:x.txt'];
    writeTree(dir, Object.fromEntries(odd.map((rel) => [rel, `${rel}\n`])));
    const file = path.join(dirs.dir('oddnames-plan'), 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--delete', '--out', file], server);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(readDoc(file).actions).toHaveLength(5);

    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 4, deleted: 1, failed: 0 });
    expect(await keys(transport)).toEqual([...odd, 'keep.txt'].sort());

    // Applied again: each found done, as for any other name.
    const again = await runCli(['apply', file, '--json'], server);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0, unchanged: 5, failed: 0 });
  });

  it.each([
    [
      'a folder that does not exist',
      (d: string) => path.join(d, 'nope/plan.json'),
      'the folder {d}/nope does not exist',
    ],
    ['a folder', (d: string) => d, "is a directory: name the plan's file"],
    ['a file as its folder', (d: string) => path.join(d, 'file/plan.json'), '{d}/file is not a folder'],
  ])(
    'plan({ out }) naming %s is refused as usage, before any request, as the CLI does',
    async (_why, outOf, words) => {
      const { bucket } = await newBucket(server, 'out-folder');
      const dir = dirs.dir('out-folder');
      writeTree(dir, { 'a.txt': 'a\n' });
      const at = dirs.dir('out-folder-plan');
      writeFileSync(path.join(at, 'file'), 'x');
      const out = outOf(at);
      const expected = words.replaceAll('{d}', at);
      await counting(server, async (proxy) => {
        for (const direction of ['push', 'pull', 'sync'] as const) {
          const ends =
            direction === 'push'
              ? { source: dir, destination: `s3://${bucket}/p` }
              : direction === 'pull'
                ? { source: `s3://${bucket}/p`, destination: dir }
                : { source: `s3://${bucket}/p`, destination: `s3://${bucket}/q` };
          const err = await plan({
            ...connFor(server),
            endpointUrl: proxy.endpoint,
            direction,
            ...ends,
            out,
          } as Parameters<typeof plan>[0]).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err, direction).toBeInstanceOf(S3SyncError);
          expect((err as S3SyncError).kind, direction).toBe('usage');
          expect((err as Error).message, direction).toBe(
            `--out ${out}${expected.startsWith('is') ? ' ' : ': '}${expected}`,
          );
        }
        const r = await runCli(
          ['plan', 'push', dir, `s3://${bucket}/p`, '--out', out, '--endpoint-url', proxy.endpoint],
          server,
        );
        refusedWithOneLine(r, new RegExp(`^s3sync: ${reEscape(`--out ${out}`)}.*${reEscape(expected)}$`));
        expect(proxy.stats.requests).toBe(0);
      });
    },
  );

  it('a push plan edited to write under a prefix with a .. segment is refused in one line (exit 2), before any request', async () => {
    const { bucket, file, doc } = await pushPlan(server, 'dotdot');
    const { bucket: other, transport: elsewhere } = await newBucket(server, 'dotdot-other');
    const edited = path.join(path.dirname(file), 'edited.json');
    const remote = `s3://${bucket}/x/../../${other}/`;
    const d = { ...doc, remote };
    const why = `its remote ${JSON.stringify(remote)}: its prefix contains a '..' segment, which S3 keeps in every key (a pull could not write them): write the prefix without it`;
    await counting(server, async (proxy) => {
      await refusedEdit(server, proxy, edited, d, why);
      expect(proxy.stats.requests).toBe(0);
    });
    expect(await keys(elsewhere, '')).toEqual([]);
  });

  it("a pull plan whose download size is edited away from its object's is refused whole (exit 2), before any request", async () => {
    const { bucket, transport } = await newBucket(server, 'dlsize');
    await seedObject(transport, 'p/a.txt', 'alpha\n');
    await seedObject(transport, 'p/b.txt', 'bravo\n');
    const dir = dirs.dir('dlsize');
    const file = path.join(dirs.dir('dlsize-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', `s3://${bucket}/p`, dir, '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    const doc = readDoc(file);
    const i = doc.actions.findIndex((a) => a.rel === 'b.txt');
    expect(doc.actions[i]).toMatchObject({ kind: 'download', size: 6, remote: { size: 6 } });
    const edited = path.join(path.dirname(file), 'edited.json');
    await counting(server, async (proxy) => {
      for (const size of [0, 10_000_000_000, Number.MAX_SAFE_INTEGER]) {
        const d = structuredClone(doc);
        d.actions[i]!.size = size;
        const why = `the download of b.txt has a size (${size}) other than its object's (6)`;
        await refusedEdit(server, proxy, edited, d, why);
      }
      expect(proxy.stats.requests).toBe(0);
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a pull plan's download onto no file refuses a file made there since, and a folder swapped for a link", async () => {
    const { bucket, transport } = await newBucket(server, 'dlnew');
    await seedObject(transport, 'r/report.txt', 'theirs\n');
    await seedObject(transport, 'r/other.txt', 'other\n');
    await seedObject(transport, 'r/sub/x.txt', 'x\n');
    const dir = dirs.dir('dlnew');
    const file = path.join(dirs.dir('dlnew-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', `s3://${bucket}/r`, dir, '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    expect(readDoc(file).actions.map((a) => [a.kind, a.rel, a.local])).toEqual([
      ['download', 'other.txt', null],
      ['download', 'report.txt', null],
      ['download', 'sub/x.txt', null],
    ]);
    // Made after the plan: a file where it planned none, a folder that is a link to another.
    writeFileSync(path.join(dir, 'report.txt'), 'mine\n');
    const elsewhere = dirs.dir('dlnew-elsewhere');
    writeFileSync(path.join(elsewhere, 'x.txt'), 'kept elsewhere\n');
    symlinkSync(elsewhere, path.join(dir, 'sub'));

    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code).toBe(1);
    const errors = r.events.filter((e) => e.type === 'error');
    expect(errors.map((e) => e.rel)).toEqual(['report.txt', 'sub/x.txt']);
    expect(errors[0]?.message).toMatch(
      /^report\.txt: refused: the local file changed since the plan was made/,
    );
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 2 });
    expect(readFileSync(path.join(dir, 'report.txt'), 'utf8')).toBe('mine\n');
    expect(readFileSync(path.join(dir, 'other.txt'), 'utf8')).toBe('other\n');
    expect(readdirSync(elsewhere)).toEqual(['x.txt']);
    expect(readFileSync(path.join(elsewhere, 'x.txt'), 'utf8')).toBe('kept elsewhere\n');

    // The link to an empty folder: pull's rule refuses the write through it, as a pull's.
    rmSync(path.join(elsewhere, 'x.txt'));
    rmSync(path.join(dir, 'report.txt'));
    const again = await runCli(['apply', file, '--json'], server);
    expect(again.code).toBe(1);
    expect(again.events.filter((e) => e.type === 'error').map((e) => e.rel)).toEqual(['sub/x.txt']);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readFileSync(path.join(dir, 'report.txt'), 'utf8')).toBe('theirs\n');

    // The target itself swapped for a link: followed, as a pull follows its target's link, and a file
    // found at a name planned empty is kept there too.
    const swapped = dirs.dir('dlnew-swapped');
    writeFileSync(path.join(swapped, 'report.txt'), 'mine, elsewhere\n');
    rmSync(dir, { recursive: true });
    symlinkSync(swapped, dir);
    const third = await runCli(['apply', file, '--json'], server);
    expect(third.code).toBe(1);
    expect(third.events.filter((e) => e.type === 'error').map((e) => e.rel)).toEqual(['report.txt']);
    expect(readFileSync(path.join(swapped, 'report.txt'), 'utf8')).toBe('mine, elsewhere\n');
  });

  it("a pull plan's download onto no file finds the object's bytes there (a pull since, a cut apply): done, not refused", async () => {
    const { bucket, transport } = await newBucket(server, 'dlsame');
    await seedObject(transport, 'r/same.txt', 'the object\n');
    await seedObject(transport, 'r/mine.txt', 'theirs\n');
    const dir = dirs.dir('dlsame');
    const file = path.join(dirs.dir('dlsame-plan'), 'plan.json');
    expect((await runCli(['plan', 'pull', `s3://${bucket}/r`, dir, '--out', file], server)).code).toBe(0);
    // No manifest records either: one holds the object's bytes, the other someone's own.
    writeFileSync(path.join(dir, 'same.txt'), 'the object\n');
    writeFileSync(path.join(dir, 'mine.txt'), 'mine!!\n');
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code, r.stdout).toBe(1);
    // Before, same.txt was refused too, on every apply after, until a pull.
    expect(r.events.filter((e) => e.type === 'error').map((e) => e.rel)).toEqual(['mine.txt']);
    expect(r.summary).toMatchObject({ downloaded: 0, unchanged: 1, failed: 1 });
    expect(readFileSync(path.join(dir, 'mine.txt'), 'utf8')).toBe('mine!!\n');
  });

  it('a pull apply killed after a download, applied again: the download found done is recorded, the next pull hashes nothing', async () => {
    const { bucket, transport } = await newBucket(server, 'dlkill');
    const mib = 1024 * 1024;
    await seedObject(transport, 'r/a.bin', randomBytes(9 * mib));
    await seedObject(transport, 'r/b.bin', randomBytes(9 * mib));
    const dir = dirs.dir('dlkill');
    const url = `s3://${bucket}/r`;
    const file = path.join(dirs.dir('dlkill-plan'), 'plan.json');
    expect((await runCli(['plan', 'pull', url, dir, '--out', file], server)).code).toBe(0);
    // One download at a time, slowed: killed once the first is done, while the other is on its way.
    const live = spawnCli(['apply', file, '--bwlimit', '4MiB', '--workers', '1', '--json'], server);
    try {
      const first = await live.until((e) => e.type === 'done' && e.action === 'download', 120_000);
      expect(first, live.stderr()).toBe(true);
    } finally {
      live.child.kill('SIGKILL');
    }
    await live.exited;
    const again = await runCli(['apply', file, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 1, unchanged: 1, failed: 0 });
    // Both are recorded: a pull now decides from the listing and stat data alone.
    const pull = await runCli(['pull', url, dir, '--json'], server);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.summary).toMatchObject({ downloaded: 0, recorded: 0, unchanged: 2 });
    expect(pull.summary?.requests).toEqual({ ListObjectsV2: 1 });
  });

  it('a shard plan edited to hold a path of another shard is refused whole (exit 2), before any request', async () => {
    const { bucket, transport } = await newBucket(server, 'shardedit');
    const url = `s3://${bucket}/p`;
    const names = Array.from({ length: 16 }, (_, i) => `f${i}.txt`);
    const mine = names.find((rel) => shardOf(rel, 2) === 1)!;
    const theirs = names.find((rel) => shardOf(rel, 2) === 0)!;
    const dir = dirs.dir('shardedit');
    writeTree(dir, { [mine]: 'mine\n', [theirs]: 'older\n' });
    const out = dirs.dir('shardedit-plan');
    // Planned for the whole tree while the other shard's object was not there yet.
    const whole = path.join(out, 'whole.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', whole], server)).code).toBe(0);
    await seedObject(transport, `p/${theirs}`, 'newer, from shard 0\n');
    const file = path.join(out, 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--shard', '1/2', '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    const doc = readDoc(file);
    expect(doc.shard).toBe('1/2');
    expect(doc.actions.map((a) => a.rel)).toEqual([mine]);
    const object = (await transport.list('p/')).get(theirs)!;
    const upload = readDoc(whole).actions.find((a) => a.rel === theirs)!;
    const remove: PlannedAction = {
      kind: 'delete-remote',
      rel: theirs,
      reason: 'no-local-file',
      size: object.size,
      local: null,
      remote: { etag: object.etag, size: object.size },
    };
    const edited = path.join(out, 'edited.json');
    const why = `the action for ${theirs} is not in the plan's shard 1/2 (its path is in shard 0/2)`;
    await counting(server, async (proxy) => {
      for (const extra of [upload, remove]) {
        await refusedEdit(server, proxy, edited, { ...doc, actions: [...doc.actions, extra] }, why);
      }
      // A shard that is not one (its index past its count) is the plan's, not a flag's.
      await refusedEdit(
        server,
        proxy,
        edited,
        { ...doc, shard: '2/2' },
        'its shard "2/2" is not I/N with I below N',
      );
      expect(proxy.stats.requests).toBe(0);
    });
    expect((await transport.list('p/')).get(theirs)).toMatchObject({ etag: object.etag });
    expect(await keys(transport)).toEqual([theirs]);
  });

  it("a push plan whose upload size is not its file's, or with a path twice, is refused whole (exit 2), before any request", async () => {
    const { transport, file, doc } = await pushPlan(server, 'pushsize');
    expect(doc.actions).toMatchObject([{ kind: 'upload', rel: 'a.txt', size: 2, local: { size: 2 } }]);
    const upload = doc.actions[0]!;
    const edited = path.join(path.dirname(file), 'edited.json');
    const cases: [PlanDocument, string][] = [
      [
        { ...doc, actions: [{ ...upload, size: 999 }] },
        "the upload of a.txt has a size (999) other than its file's (2)",
      ],
      [{ ...doc, actions: [upload, upload] }, 'a.txt has more than one action'],
    ];
    await counting(server, async (proxy) => {
      for (const [d, why] of cases) await refusedEdit(server, proxy, edited, d, why);
      expect(proxy.stats.requests).toBe(0);
    });
    expect(await keys(transport)).toEqual([]);
    // The plan as written applies.
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(await keys(transport)).toEqual(['a.txt']);
  });

  it('plan --out refuses, before any request and writing nothing, a path in the tree, the manifest, a file not a plan, -', async () => {
    const { bucket, dir, file } = await pushPlan(server, 'outguard');
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    writeTree(dir, { 'precious.txt': 'the user file\n' });
    const manifest = readdirSync(path.join(dir, '.s3sync'))
      .filter((f) => f.startsWith('manifest-') && f.endsWith('.json'))
      .map((f) => path.join(dir, '.s3sync', f));
    expect(manifest).toHaveLength(1);
    const outside = dirs.dir('outguard-out');
    const notes = path.join(outside, 'notes.txt');
    writeFileSync(notes, 'not a plan\n');
    const custom = path.join(outside, 'my-manifest.json');
    const snapshot = () =>
      [path.join(dir, 'precious.txt'), manifest[0]!, notes].map((f) => readFileSync(f, 'utf8'));
    const before = snapshot();
    await counting(server, async (proxy) => {
      const cases: [string, string[], RegExp][] = [
        [
          path.join(dir, 'precious.txt'),
          [],
          /is inside the synced directory .*: the plan would be written over/,
        ],
        [path.join(dir, 'new-plan.json'), [], /is inside the synced directory/],
        [manifest[0]!, [], /is inside the synced directory/],
        [custom, ['--manifest', custom], /is s3sync's manifest or its lock/],
        [`${custom}.lock`, ['--manifest', custom], /is s3sync's manifest or its lock/],
        [notes, [], /exists and is not an s3sync plan: not overwritten/],
        ['-', [], /^s3sync: --out -: a plan is written to a file/],
      ];
      for (const [out, extra, why] of cases) {
        const r = await runCli(
          ['plan', 'push', dir, url, '--endpoint-url', proxy.endpoint, ...extra, '--out', out],
          server,
          { cwd: outside },
        );
        refusedWithOneLine(r, why);
      }
      expect(proxy.stats.requests).toBe(0);
    });
    expect(snapshot()).toEqual(before);
    expect(readdirSync(outside).sort()).toEqual(['notes.txt']);
    expect(readdirSync(dir).sort()).toEqual(['.s3sync', 'a.txt', 'precious.txt']);

    // An earlier plan is overwritten, and so is an empty file (as mktemp makes).
    const empty = path.join(outside, 'empty.json');
    writeFileSync(empty, '');
    for (const out of [file, empty]) {
      const r = await runCli(['plan', 'push', dir, url, '--out', out], server);
      expect(r.code, r.stderr).toBe(0);
      expect(readDoc(out).actions.map((a) => a.rel)).toEqual(['precious.txt']);
    }
  });

  it('a plan saved with a byte order mark applies; a file too large to be a plan is refused in one line', async () => {
    const { transport, file } = await pushPlan(server, 'bom');
    writeFileSync(file, `\uFEFF${readFileSync(file, 'utf8')}`);
    const r = await runCli(['apply', file], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await keys(transport)).toEqual(['a.txt']);

    // Sparse: no disk, and a read of it took seconds and gigabytes.
    const huge = path.join(path.dirname(file), 'huge.json');
    writeFileSync(huge, '');
    truncateSync(huge, 3 * GiB);
    refusedWithOneLine(
      await runCli(['apply', huge], server),
      new RegExp(`^s3sync: ${reEscape(huge)} is too large to be an s3sync plan \\(over 500MiB\\)$`),
    );
  });

  it("a plan's bad backupDir is named as the plan's, not as a flag, and refused before any request", async () => {
    const { bucket, transport, file, doc } = await pushPlan(server, 'pbak');
    await seedObject(transport, 'p/a.txt', 'a\n');
    const target = dirs.dir('pbak-target');
    const pull = path.join(path.dirname(file), 'pull.json');
    const p = await runCli(['plan', 'pull', `s3://${bucket}/p`, target, '--out', pull], server);
    expect(p.code, p.stderr).toBe(0);
    const sync = path.join(path.dirname(file), 'sync.json');
    const q = await runCli(['plan', 'sync', `s3://${bucket}/p`, `s3://${bucket}/q`, '--out', sync], server);
    expect(q.code, q.stderr).toBe(0);
    const pullDoc = readDoc(pull);
    const syncDoc = JSON.parse(readFileSync(sync, 'utf8')) as BucketPlanDocument;
    const cases: [string, object, string][] = [
      [
        'a push plan, a local path',
        { ...doc, backupDir: 'old' },
        "the plan's backupDir for an S3 destination must be an s3://bucket/prefix URL, not 'old'",
      ],
      [
        'a push plan, inside its destination',
        { ...doc, backupDir: `s3://${bucket}/p/old` },
        `the plan's backupDir s3://${bucket}/p/old/ overlaps the destination s3://${bucket}/p/: choose a prefix outside it`,
      ],
      [
        "a push plan, a '..' segment",
        { ...doc, backupDir: `s3://${bucket}/x/../old` },
        `the plan's backupDir "s3://${bucket}/x/../old": its prefix contains a '..' segment`,
      ],
      [
        'a pull plan, an S3 URL',
        { ...pullDoc, backupDir: `s3://${bucket}/old` },
        `the plan's backupDir of a pull must be a local directory, not 's3://${bucket}/old'`,
      ],
      [
        'a pull plan, inside its target',
        { ...pullDoc, backupDir: path.join(target, 'old') },
        `the plan's backupDir ${path.join(target, 'old')} overlaps the pull target ${target}: choose a directory outside it`,
      ],
      [
        'an S3 → S3 plan, inside its destination',
        { ...syncDoc, backupDir: `s3://${bucket}/q/old` },
        `the plan's backupDir s3://${bucket}/q/old/ overlaps the destination s3://${bucket}/q/: choose a prefix outside it`,
      ],
    ];
    const edited = path.join(path.dirname(file), 'edited.json');
    await counting(server, async (proxy) => {
      for (const [what, d, why] of cases) {
        writeFileSync(edited, JSON.stringify(d));
        const r = await runCli(['apply', edited, '--endpoint-url', proxy.endpoint], server);
        expect(r.code, what).toBe(2);
        expect(r.stderr.startsWith(`s3sync: ${why}`), `${what}: ${r.stderr}`).toBe(true);
        expect(r.stderr.trimEnd().split('\n'), what).toHaveLength(1);
        await expect(
          apply({ ...connFor(server), endpointUrl: proxy.endpoint, plan: d as PlanDocument }),
          what,
        ).rejects.toThrow(why);
      }
      // A library caller's plan is checked as a file's is: a suffix leading out of the backup location.
      await expect(
        apply({
          ...connFor(server),
          endpointUrl: proxy.endpoint,
          plan: { ...pullDoc, backupDir: dirs.dir('pbak-keep'), suffix: '/../../victim' },
        }),
      ).rejects.toThrow(
        'the plan: its endpoint, provider, profile, region, backup directory or suffix is not valid',
      );
      expect(proxy.stats.requests).toBe(0);
    });
  });
});

describe.each(servers())('settings a plan records for apply ($name)', (server) => {
  it('plan push --follow-symlinks is recorded: apply reads through the links it planned, and an older plan does not', async () => {
    const { bucket, transport } = await newBucket(server, 'follow-push');
    const dir = dirs.dir('follow-push');
    writeTree(dir, { 'real.txt': 'through the link\n', 'd/plain.txt': 'plain\n' });
    symlinkSync('../real.txt', path.join(dir, 'd/link.txt'));
    const file = path.join(dirs.dir('follow-push-plan'), 'plan.json');
    const url = `s3://${bucket}/p`;
    const p = await runCli(['plan', 'push', dir, url, '--follow-symlinks', '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    const doc = readDoc(file);
    expect(doc.followSymlinks).toBe(true);
    expect(doc.actions.map((a) => a.rel).sort()).toEqual(['d/link.txt', 'd/plain.txt', 'real.txt']);

    // The same plan without the field, as an older s3sync wrote it: links are not followed.
    const older = path.join(path.dirname(file), 'older.json');
    const { followSymlinks: _, ...old } = doc;
    writeFileSync(
      older,
      JSON.stringify({ ...old, actions: doc.actions.filter((a) => a.rel === 'd/link.txt') }),
    );
    const o = await runCli(['apply', older], server);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/d\/link\.txt: refused: the local file changed since the plan was made/);
    expect(await keys(transport)).toEqual([]);

    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 3, failed: 0 });
    expect(await keys(transport)).toEqual(['d/link.txt', 'd/plain.txt', 'real.txt']);
    // Recorded as push --follow-symlinks records it: its next run has nothing to do.
    const again = await runCli(['push', dir, url, '--follow-symlinks', '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, failed: 0 });
  });

  it('plan pull --follow-symlinks is recorded: apply writes through a folder link inside the target, never one leading out', async () => {
    const { bucket, transport } = await newBucket(server, 'follow-pull');
    await seedObject(transport, 'p/sub/b.txt', 'bee\n');
    const dir = dirs.dir('follow-pull');
    writeTree(dir, { 'real/keep.txt': 'kept\n' });
    symlinkSync('real', path.join(dir, 'sub'));
    const url = `s3://${bucket}/p`;
    const file = path.join(dirs.dir('follow-pull-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, dir, '--follow-symlinks', '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    expect(readDoc(file)).toMatchObject({
      followSymlinks: true,
      actions: [{ kind: 'download', rel: 'sub/b.txt' }],
    });

    // The link swapped for one leading out of the target: refused, nothing written there.
    const outside = dirs.dir('follow-pull-outside');
    rmSync(path.join(dir, 'sub'));
    symlinkSync(outside, path.join(dir, 'sub'));
    const out = await runCli(['apply', file], server);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/sub\/b\.txt: .*symbolic link to a path outside the target/);
    expect(readdirSync(outside)).toEqual([]);

    rmSync(path.join(dir, 'sub'));
    symlinkSync('real', path.join(dir, 'sub'));
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 0 });
    expect(readFileSync(path.join(dir, 'real/b.txt'), 'utf8')).toBe('bee\n');
  });

  it('plan pull --follow-symlinks: a changed object at a file link inside the target is applied as pull applies it', async () => {
    const { bucket, transport } = await newBucket(server, 'follow-pull-file');
    const dir = dirs.dir('follow-pull-file');
    writeTree(dir, { 'real.txt': 'old\n' });
    symlinkSync('real.txt', path.join(dir, 'alias.txt'));
    await seedObject(transport, 'p/alias.txt', 'new content\n');
    await seedObject(transport, 'p/real.txt', 'old\n');
    const url = `s3://${bucket}/p`;
    const file = path.join(dirs.dir('follow-pull-file-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, dir, '--follow-symlinks', '--out', file], server);
    expect(p.code, p.stderr).toBe(0);
    const doc = readDoc(file);
    expect(doc.actions).toMatchObject([{ kind: 'download', rel: 'alias.txt', local: { size: 4 } }]);
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 0 });
    // The download replaced the link, never what it leads to.
    expect(readFileSync(path.join(dir, 'alias.txt'), 'utf8')).toBe('new content\n');
    expect(readFileSync(path.join(dir, 'real.txt'), 'utf8')).toBe('old\n');
  });

  it('plan --manifest is recorded: apply reads and records that manifest, and makes none in the directory', async () => {
    const { bucket } = await newBucket(server, 'plan-manifest');
    const dir = dirs.dir('plan-manifest');
    writeTree(dir, { 'a.txt': 'a\n' });
    const url = `s3://${bucket}/p`;
    const state = dirs.dir('plan-manifest-state');
    const plans = dirs.dir('plan-manifest-plan');
    const file = path.join(plans, 'plan.json');
    // Relative to where plan ran: recorded whole, as apply may run anywhere.
    const p = await runCli(['plan', 'push', dir, url, '--manifest', 'db.json', '--out', file], server, {
      cwd: state,
    });
    expect(p.code, p.stderr).toBe(0);
    expect(readDoc(file).manifest).toBe(path.join(state, 'db.json'));
    const r = await runCli(['apply', file, '--json'], server, { cwd: plans });
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 1, failed: 0 });
    expect(readdirSync(dir).sort()).toEqual(['a.txt']);
    expect(readFileSync(path.join(state, 'db.json'), 'utf8')).toContain('a.txt');
    // The next push with that manifest finds its entry: nothing to do, and still no second manifest.
    const next = await runCli(
      ['push', dir, url, '--manifest', path.join(state, 'db.json'), '--json'],
      server,
    );
    expect(next.code, next.stderr).toBe(0);
    expect(next.summary).toMatchObject({ uploaded: 0, unchanged: 1 });
    expect(readdirSync(dir).sort()).toEqual(['a.txt']);

    // apply --manifest still names another one, and says so.
    const other = path.join(state, 'other.json');
    const o = await runCli(['apply', file, '--manifest', other], server);
    expect(o.code, o.stderr).toBe(0);
    expect(o.stderr).toContain(
      `applying the plan with the manifest ${other}, not ${path.join(state, 'db.json')}`,
    );
  });
});
