import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { apply, type PlanDocument, plan } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import type { SyncEvent } from '../../src/sync/events.js';
import {
  connFor,
  manifestPaths,
  newBucket,
  readManifest,
  runCli,
  seedObject,
  servers,
  spawnCli,
  tempDir,
  treeHashes,
  writeTree,
} from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';

type TestServer = Parameters<typeof newBucket>[0];

const seed = seedObject;

const keys = async (t: S3Transport, prefix = 'p/') => [...(await t.list(prefix)).keys()].sort();

async function readObject(t: S3Transport, key: string): Promise<string> {
  return t.get({ key }, async (body) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  });
}

const doneEvents = (events: SyncEvent[]) =>
  events.filter((e): e is Extract<SyncEvent, { type: 'done' }> => e.type === 'done');

/** The deletes a run made, each with its reason, sorted. */
const deletesOf = (events: SyncEvent[]) =>
  doneEvents(events)
    .filter((e) => e.action === 'delete')
    .map((e) => [e.rel, e.reason])
    .sort();

/** n files f0.txt … f{n-1}.txt, pushed to s3://bucket/p; returns the directory and URL. */
async function pushedTree(server: TestServer, n: number, label: string) {
  const { bucket, transport } = await newBucket(server, label);
  const dir = tempDir(label);
  writeTree(dir, Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}.txt`, `file ${i}\n`])));
  const url = `s3://${bucket}/p`;
  const r = await runCli(['push', dir, url], server);
  expect(r.code).toBe(0);
  expect(await keys(transport)).toHaveLength(n);
  return { bucket, transport, dir, url };
}

/** A plan file's actions as [kind, rel], sorted. */
const readDocActions = (file: string) =>
  (JSON.parse(readFileSync(file, 'utf8')) as PlanDocument).actions.map((a) => [a.kind, a.rel]).sort();

const removeLocal = (dir: string, ...rels: string[]) => {
  for (const rel of rels) rmSync(path.join(dir, rel));
};

describe.each(servers())('push --delete on $name', (server) => {
  it('removes exactly the stale objects, in one DeleteObjects after the uploads', async () => {
    const { transport, dir, url } = await pushedTree(server, 4, 'del');
    removeLocal(dir, 'f2.txt', 'f3.txt');
    writeTree(dir, { 'new.txt': 'new\n', 'f0.txt': 'f0 changed\n' });
    const r = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 2, deleted: 2, failed: 0 });
    expect(r.summary?.requests.DeleteObjects).toBe(1);
    expect(r.summary?.requests.PutObject).toBe(2);
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'new.txt']);
    expect(await readObject(transport, 'p/f0.txt')).toBe('f0 changed\n');
    // Every upload finished before the first deletion.
    const done = doneEvents(r.events);
    const lastUpload = done.map((e) => e.action).lastIndexOf('upload');
    const firstDelete = done.map((e) => e.action).indexOf('delete');
    expect(lastUpload).toBeGreaterThanOrEqual(0);
    expect(firstDelete).toBeGreaterThan(lastUpload);
    expect(
      done
        .filter((e) => e.action === 'delete')
        .map((e) => [e.rel, e.reason])
        .sort(),
    ).toEqual([
      ['f2.txt', 'no-local-file'],
      ['f3.txt', 'no-local-file'],
    ]);
  });

  it('refuses an empty source directory (exit 2, nothing deleted)', async () => {
    const { transport, url } = await pushedTree(server, 3, 'empty');
    const empty = tempDir('empty-src');
    const r = await runCli(['push', empty, url, '--delete'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/source is empty/);
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
  });

  it('refuses a missing source directory (exit 2, nothing deleted)', async () => {
    const { transport, url } = await pushedTree(server, 3, 'missing');
    const gone = path.join(tempDir('missing-parent'), 'not-mounted');
    const r = await runCli(['push', gone, url, '--delete', '--force'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
    expect(existsSync(gone)).toBe(false);
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
  });

  it('--max-delete 1 stops a deletion of 3; --max-delete 100% allows it', async () => {
    const { transport, dir, url } = await pushedTree(server, 6, 'max');
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt');
    const r = await runCli(['push', dir, url, '--delete', '--max-delete', '1'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete 3 of 6/);
    expect(await keys(transport)).toHaveLength(6);

    const ok = await runCli(['push', dir, url, '--delete', '--max-delete', '100%', '--json'], server);
    expect(ok.code).toBe(0);
    expect(ok.summary).toMatchObject({ deleted: 3 });
    expect(await keys(transport)).toEqual(['f3.txt', 'f4.txt', 'f5.txt']);
  });

  it('--force overrides --max-delete', async () => {
    const { transport, dir, url } = await pushedTree(server, 6, 'force');
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt');
    const r = await runCli(['push', dir, url, '--delete', '--max-delete', '1', '--force', '--json'], server);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ deleted: 3 });
    expect(await keys(transport)).toEqual(['f3.txt', 'f4.txt', 'f5.txt']);
  });

  it('by default refuses to delete more than 50%: 6 of 10 refused, 5 of 10 allowed', async () => {
    const { transport, dir, url } = await pushedTree(server, 10, 'half');
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt', 'f5.txt');
    const r = await runCli(['push', dir, url, '--delete'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete 6 of 10/);
    expect(await keys(transport)).toHaveLength(10);

    writeTree(dir, { 'f5.txt': 'file 5\n' });
    const ok = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(ok.code).toBe(0);
    expect(ok.summary).toMatchObject({ deleted: 5, uploaded: 0 });
    expect(await keys(transport)).toEqual(['f5.txt', 'f6.txt', 'f7.txt', 'f8.txt', 'f9.txt']);
  });

  it('keeps excluded objects unless --delete-excluded', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'excl');
    await seed(transport, 'p/old.log', 'log\n');
    await seed(transport, 'p/stale.txt', 'stale\n');
    const r = await runCli(['push', dir, url, '--delete', '--exclude', '*.log', '--json'], server);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ deleted: 1 });
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'old.log']);
    const all = await runCli(
      ['push', dir, url, '--delete', '--delete-excluded', '--exclude', '*.log', '--json'],
      server,
    );
    expect(all.code).toBe(0);
    expect(all.summary).toMatchObject({ deleted: 1 });
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt']);
  });

  it('--delete-excluded says "excluded", and a plan of it applies, push and pull alike', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'exclplan');
    writeFileSync(path.join(dir, 'b.log'), 'log\n');
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    await seed(transport, 'p/stale.txt', 'stale\n');
    const flags = ['--delete', '--delete-excluded', '--force', '--exclude', '*.log'];
    const deletes = (events: SyncEvent[]) =>
      events
        .filter((e) => e.type === 'action' && e.action === 'delete')
        .map((e) => `${(e as { rel: string }).rel} ${(e as { reason: string }).reason}`)
        .sort();
    const dry = await runCli(['push', dir, url, ...flags, '--dry-run', '--json'], server);
    expect(deletes(dry.events)).toEqual(['b.log excluded', 'stale.txt no-local-file']);
    // The plan records b.log's object with no local file: its file is there, kept out by the filter.
    const file = path.join(tempDir('exclplan-plans'), 'push.json');
    expect((await runCli(['plan', 'push', dir, url, ...flags, '--out', file], server)).code).toBe(0);
    for (const run of [1, 2]) {
      const r = await runCli(['apply', file, '--json'], server);
      expect(r.code, `${run}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.summary).toMatchObject({ deleted: run === 1 ? 2 : 0, failed: 0 });
      expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt']);
      expect(readFileSync(path.join(dir, 'b.log'), 'utf8')).toBe('log\n');
    }

    // Pull: a local file the filter leaves out, its object still there, is deleted as excluded.
    await seed(transport, 'p/keep.log', 'kept remotely\n');
    const target = tempDir('exclplan-pull');
    expect((await runCli(['pull', url, target], server)).code).toBe(0);
    const pdry = await runCli(['pull', url, target, ...flags, '--dry-run', '--json'], server);
    expect(deletes(pdry.events)).toEqual(['keep.log excluded']);
    const pfile = path.join(tempDir('exclplan-plans'), 'pull.json');
    expect((await runCli(['plan', 'pull', url, target, ...flags, '--out', pfile], server)).code).toBe(0);
    for (const run of [1, 2]) {
      const r = await runCli(['apply', pfile, '--json'], server);
      expect(r.code, `${run}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.summary).toMatchObject({ deleted: run === 1 ? 1 : 0, failed: 0 });
      expect(Object.keys(treeHashes(target)).sort()).toEqual(['f0.txt', 'f1.txt']);
    }
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'keep.log']);
  });

  // Folder markers made by other tools: `dir/` (its local folder holds a file), `gone/` and `x/deep/`
  // (no local folder), `data/` holding bytes, the prefix's own `p/`, and on Ceph `x/y//z` (s3rver
  // answers 404 to a key with '//').
  it('keeps folder markers with bytes and keys no file can be named; drops markers of gone folders', async () => {
    const { bucket, transport } = await newBucket(server, 'markers');
    const dir = tempDir('markers');
    writeTree(dir, { 'dir/a.txt': 'a\n', 'keep.txt': 'k\n', 'other.txt': 'o\n' });
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    const slashes = server.name !== 'embedded';
    await seed(transport, 'p/', '');
    await seed(transport, 'p/dir/', '');
    await seed(transport, 'p/gone/', '');
    await seed(transport, 'p/x/deep/', '');
    await seed(transport, 'p/data/', 'DATA');
    if (slashes) await seed(transport, 'p/x/y//z', 'ZZ');
    const kept = ['', 'data/', 'dir/', 'dir/a.txt', 'keep.txt', 'other.txt', ...(slashes ? ['x/y//z'] : [])];
    const dataLine = "notice: p/data/: a key ending in '/' holds 4 bytes; no file can have its name";
    const notices = (text: string) => text.split('\n').filter((l) => l.startsWith('notice: '));

    // check and pull say the marker with bytes once, compare and write no marker.
    const check = await runCli(['check', dir, url], server);
    expect(notices(check.stderr)).toEqual([`${dataLine}: not compared`]);
    expect(check.stdout).not.toMatch(/ (gone|dir|data)\/ /);
    expect(check.code).toBe(slashes ? 1 : 0);
    const copy = tempDir('markers-pull');
    const pull = await runCli(['pull', url, copy], server);
    expect(notices(pull.stderr)).toEqual([`${dataLine}: skipped`]);
    expect(existsSync(path.join(copy, 'data'))).toBe(false);

    // The dry run shows the same decisions as the run.
    const dry = await runCli(['push', dir, url, '--delete', '--dry-run'], server);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/delete gone\/ \[no-local-folder\]/);
    expect(dry.stdout).toMatch(/delete x\/deep\/ \[no-local-folder\]/);
    expect(dry.stdout).not.toMatch(/delete (data|dir)\/|delete +\[|x\/y\/\/z \[/);

    const r = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ deleted: 2, failed: 0 });
    expect(deletesOf(r.events)).toEqual([
      ['gone/', 'no-local-folder'],
      ['x/deep/', 'no-local-folder'],
    ]);
    const said = r.events.filter((e) => e.type === 'notice').map((e) => JSON.stringify(e));
    expect(said.filter((l) => l.includes('p/data/'))).toHaveLength(1);
    expect(said.filter((l) => l.includes('p/x/y//z'))).toHaveLength(slashes ? 1 : 0);
    expect(await keys(transport)).toEqual(kept);
    expect(await readObject(transport, 'p/data/')).toBe('DATA');

    // The local folder gone: its marker goes too (zero bytes, nothing lost), through a plan applied
    // as through a run; data/ still stays.
    rmSync(path.join(dir, 'dir'), { recursive: true });
    const planFile = path.join(tempDir('markers-plan'), 'plan.json');
    const planRun = await runCli(['plan', 'push', dir, url, '--delete', '--out', planFile], server);
    expect(planRun.code).toBe(0);
    // The plan says what it keeps, as the run it plans does.
    const keptLines = notices(planRun.stderr);
    expect(keptLines).toContain(`${dataLine}: kept`);
    expect(keptLines).toEqual(
      notices((await runCli(['push', dir, url, '--delete', '--dry-run'], server)).stderr),
    );
    expect(keptLines).toHaveLength(slashes ? 2 : 1);
    const planned = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(planned.actions.map((a) => [a.rel, a.reason]).sort()).toEqual([
      ['dir/', 'no-local-folder'],
      ['dir/a.txt', 'no-local-file'],
    ]);
    const again = await runCli(['apply', planFile], server);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/deleted dir\/a\.txt/);
    expect(again.stdout).toMatch(/deleted dir\/$/m);
    expect(await keys(transport)).toEqual(kept.filter((k) => !k.startsWith('dir')));
  });

  it('pull then push --delete keeps what pull refused: a name over 255 bytes, a file and folder pair', async () => {
    const { bucket, transport } = await newBucket(server, 'refused');
    const url = `s3://${bucket}/p`;
    const LONG = 'n'.repeat(300);
    await seed(transport, 'p/m/n', 'synced\n');
    // Enough other files that deleting the refused keys stays under the 50% --max-delete.
    for (const rel of ['ok1', 'ok2', 'ok3', 'ok4', 'ok5', 'ok6', 'ok7'])
      await seed(transport, `p/${rel}`, `${rel}\n`);
    const dir = tempDir('refused');
    expect((await runCli(['pull', url, dir], server)).code).toBe(0);
    // Another tool writes keys no local tree can hold: m beside m/n, x beside x/y, and on Ceph a
    // 300-byte name (s3rver stores each key as a path, so it takes no name over 255 bytes either).
    const long = server.name !== 'embedded';
    await seed(transport, 'p/m', 'M');
    await seed(transport, 'p/x', 'X');
    await seed(transport, 'p/x/y', 'XY');
    if (long) await seed(transport, `p/d/${LONG}`, 'L');
    const all = await keys(transport);
    const pull = await runCli(['pull', url, dir], server);
    expect(pull.code).toBe(1);
    expect(pull.stderr.split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(long ? 5 : 4);

    // The file m/n pulled before is deleted here: the manifest records it, so a local file stood for it.
    // Once it is deleted m stands alone, a key pull writes and no file here has: deleted in the same
    // run, as the next run would (x and x/y, neither deleted, stay a pair).
    rmSync(path.join(dir, 'm'), { recursive: true });
    const notices = (text: string) => text.split('\n').filter((l) => l.startsWith('notice: '));
    const why =
      "no local file stood for it: it is a file but also the directory of 'x/y' (no local tree holds both)";
    const expected = [
      ...(long
        ? [
            `notice: p/d/${LONG}: no file can have its name: it has a path segment longer than any file system takes (over 255 UTF-16 units): kept`,
          ]
        : []),
      `notice: p/x: ${why}: kept`,
      "notice: p/x/y: no local file stood for it: it is below 'x', which is also a file (no local tree holds both): kept",
    ];
    const dry = await runCli(['push', dir, url, '--delete', '--dry-run'], server);
    expect(dry.code, dry.stderr).toBe(0);
    expect(notices(dry.stderr).sort()).toEqual(expected.sort());
    expect(
      dry.stdout
        .split('\n')
        .filter((l) => l.startsWith('(dry run) delete'))
        .sort(),
    ).toEqual(['(dry run) delete m [no-local-file]', '(dry run) delete m/n [no-local-file]']);

    const r = await runCli(['push', dir, url, '--delete'], server);
    expect(r.code, r.stderr).toBe(0);
    // Each said once in the run.
    expect(notices(r.stderr).sort()).toEqual(expected.sort());
    expect(r.stdout).toMatch(/2 deleted, 0 failed/);
    expect(await keys(transport)).toEqual(all.filter((k) => k !== 'm/n' && k !== 'm'));
    expect(await readObject(transport, 'p/x')).toBe('X');
    expect(await readObject(transport, 'p/x/y')).toBe('XY');
    if (long) expect(await readObject(transport, `p/d/${LONG}`)).toBe('L');
  });

  it('pull then push --delete keeps the keys pull refused alone; one pushed from here is deleted once gone', async () => {
    const { bucket, transport } = await newBucket(server, 'unsafekeep');
    const url = `s3://${bucket}/p`;
    for (const rel of ['ok1', 'ok2', 'ok3', 'ok4', 'ok5', 'ok6'])
      await seed(transport, `p/${rel}`, `${rel}\n`);
    // Another tool (on Windows, say) wrote names pull does not write here.
    const refused = ['win\\path\\report.docx', 'bell\u0007.txt'];
    for (const rel of refused) await seed(transport, `p/${rel}`, `${rel}\n`);
    const dir = tempDir('unsafekeep');
    const pull = await runCli(['pull', url, dir], server);
    expect(pull.code).toBe(1);
    expect(pull.stderr.split('\n').filter((l) => l.startsWith('error: '))).toHaveLength(2);

    // A file named with a backslash, pushed from here: its own key, recorded by the manifest.
    writeTree(dir, { 'mine\\x.txt': 'mine\n' });
    const up = await runCli(['push', dir, url], server);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/1 uploaded/);
    rmSync(path.join(dir, 'mine\\x.txt'));
    rmSync(path.join(dir, 'ok1'));

    const notices = (text: string) => text.split('\n').filter((l) => l.startsWith('notice: '));
    const expected = [
      'notice: p/bell\\x07.txt: no local file stood for it: its name contains a control character, which pull does not write, and no push from here recorded it: kept',
      'notice: p/win\\\\path\\\\report.docx: no local file stood for it: its name contains a backslash, which pull does not write, and no push from here recorded it: kept',
    ];
    const dry = await runCli(['push', dir, url, '--delete', '--dry-run'], server);
    expect(dry.code, dry.stderr).toBe(0);
    expect(notices(dry.stderr).sort()).toEqual(expected);
    expect(
      dry.stdout
        .split('\n')
        .filter((l) => l.startsWith('(dry run) delete'))
        .sort(),
    ).toEqual(['(dry run) delete mine\\\\x.txt [no-local-file]', '(dry run) delete ok1 [no-local-file]']);

    const r = await runCli(['push', dir, url, '--delete'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(notices(r.stderr).sort()).toEqual(expected);
    expect(r.stdout).toMatch(/2 deleted, 0 failed/);
    expect(await keys(transport)).toEqual(
      ['bell\u0007.txt', 'ok2', 'ok3', 'ok4', 'ok5', 'ok6', 'win\\path\\report.docx'].sort(),
    );
    for (const rel of refused) expect(await readObject(transport, `p/${rel}`)).toBe(`${rel}\n`);
  });

  it.each<{ turn: string; before: Record<string, string>; after: Record<string, string>; doomed: string }>([
    { turn: 'a folder that became a file', before: { 'd/x': 'dx\n' }, after: { d: 'd\n' }, doomed: 'd/x' },
    { turn: 'a file that became a folder', before: { d: 'd\n' }, after: { 'd/x': 'dx\n' }, doomed: 'd' },
  ])(
    'push without --delete, then push --delete deletes the key of $turn, and pull works again',
    async (c) => {
      const { bucket, transport } = await newBucket(server, 'turned');
      const url = `s3://${bucket}/p`;
      const others = { ok1: '1\n', ok2: '2\n', ok3: '3\n', ok4: '4\n' };
      const dir = tempDir('turned');
      writeTree(dir, { ...others, ...c.before });
      expect((await runCli(['push', dir, url], server)).code).toBe(0);
      // Another tool's pair, never recorded here: kept through it all, as documented.
      await seed(transport, 'p/o', 'O');
      await seed(transport, 'p/o/p', 'OP');
      rmSync(path.join(dir, 'd'), { recursive: true });
      writeTree(dir, c.after);
      const turned = await runCli(['push', dir, url, '--json'], server);
      expect(turned.code, turned.stderr).toBe(0);
      expect(turned.summary).toMatchObject({ uploaded: 1, deleted: 0 });
      // The manifest still knows a file of this tree stood for the old key, and a run with no change
      // still sends nothing.
      const idle = await runCli(['push', dir, url, '--json'], server);
      expect(idle.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });

      const r = await runCli(['push', dir, url, '--delete', '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(deletesOf(r.events)).toEqual([[c.doomed, 'no-local-file']]);
      const kept = r.events.filter((e) => e.type === 'notice' && /: kept$/.test(e.message));
      expect(kept.map((e) => (e as { message: string }).message).sort()).toEqual([
        "p/o/p: no local file stood for it: it is below 'o', which is also a file (no local tree holds both): kept",
        "p/o: no local file stood for it: it is a file but also the directory of 'o/p' (no local tree holds both): kept",
      ]);
      expect(await keys(transport)).toEqual(
        [...Object.keys(others), 'd', 'd/x', 'o', 'o/p'].filter((k) => k !== c.doomed).sort(),
      );
      // Converged: the next run deletes nothing.
      const again = await runCli(['push', dir, url, '--delete', '--json'], server);
      expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0, failed: 0 });

      // Pull refuses only the other tool's pair.
      await transport.deleteKeys(['p/o', 'p/o/p'], () => {});
      const dst = tempDir('turned-pull');
      const pull = await runCli(['pull', url, dst], server);
      expect(pull.code, pull.stderr).toBe(0);
      expect(treeHashes(dst)).toEqual(treeHashes(dir));
    },
  );

  it('a file that became a folder, then gone too: one push --delete deletes both keys', async () => {
    const { bucket, transport } = await newBucket(server, 'twice');
    const url = `s3://${bucket}/p`;
    const dir = tempDir('twice');
    writeTree(dir, { ok1: '1\n', ok2: '2\n', ok3: '3\n', ok4: '4\n', d: 'd\n' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'd'));
    writeTree(dir, { 'd/x': 'dx\n' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'd'), { recursive: true });
    const r = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(deletesOf(r.events)).toEqual([
      ['d', 'no-local-file'],
      ['d/x', 'no-local-file'],
    ]);
    expect(await keys(transport)).toEqual(['ok1', 'ok2', 'ok3', 'ok4']);
    const again = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(again.summary).toMatchObject({ deleted: 0, failed: 0 });
  });

  it('keeps the marker of a local folder that is empty or whose files the filters leave out', async () => {
    const { bucket, transport } = await newBucket(server, 'markerkeep');
    const dir = tempDir('markerkeep');
    writeTree(dir, { 'a.txt': 'a\n', 'logs/x.log': 'x\n', 'gone/y.txt': 'y\n' });
    mkdirSync(path.join(dir, 'empty'));
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', dir, url, '--exclude', '*.log'], server)).code).toBe(0);
    for (const m of ['p/logs/', 'p/empty/', 'p/gone/']) await seed(transport, m, '');
    rmSync(path.join(dir, 'gone'), { recursive: true });
    const r = await runCli(['push', dir, url, '--exclude', '*.log', '--delete', '--force', '--json'], server);
    expect(r.code, r.stderr).toBe(0);
    // Only the folder that is gone loses its marker (and its file).
    expect(deletesOf(r.events)).toEqual([
      ['gone/', 'no-local-folder'],
      ['gone/y.txt', 'no-local-file'],
    ]);
    expect(await keys(transport)).toEqual(['a.txt', 'empty/', 'logs/']);
  });
});

describe.each(servers())('pull --delete on $name', (server) => {
  it('removes local files with no remote object, but not excluded ones', async () => {
    const { url, dir: src } = await pushedTree(server, 4, 'pdel');
    const dst = tempDir('pdel-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'stray.txt': 'stray\n', 'notes.log': 'local notes\n' });

    const r = await runCli(['pull', url, dst, '--delete', '--exclude', '*.log', '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ deleted: 1, downloaded: 0 });
    expect(
      doneEvents(r.events)
        .filter((e) => e.action === 'delete')
        .map((e) => [e.rel, e.reason]),
    ).toEqual([['stray.txt', 'no-remote-object']]);
    expect(existsSync(path.join(dst, 'stray.txt'))).toBe(false);
    expect(readFileSync(path.join(dst, 'notes.log'), 'utf8')).toBe('local notes\n');
    expect(treeHashes(dst, ['.s3sync', 'notes.log'])).toEqual(treeHashes(src));
  });

  it('--delete-excluded also removes local files the filters exclude', async () => {
    const { url, dir: src } = await pushedTree(server, 4, 'pdelx');
    const dst = tempDir('pdelx-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'notes.log': 'local notes\n' });

    const all = await runCli(
      ['pull', url, dst, '--delete', '--delete-excluded', '--exclude', '*.log', '--json'],
      server,
    );
    expect(all.code).toBe(0);
    expect(all.summary).toMatchObject({ deleted: 1 });
    expect(existsSync(path.join(dst, 'notes.log'))).toBe(false);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
  });

  it('follows a file that became a folder and a folder that became a file, in one run', async () => {
    const { url, dir: src } = await pushedTree(server, 4, 'pshape');
    writeTree(src, { a: 'a file\n', 'd/x': 'in d\n', 'd/y/z': 'deeper\n' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const [dst, planned] = [tempDir('pshape-dst'), tempDir('pshape-planned')];
    for (const d of [dst, planned]) expect((await runCli(['pull', url, d], server)).code).toBe(0);
    // Upstream, `a` becomes a folder and `d` a file.
    rmSync(path.join(src, 'a'));
    rmSync(path.join(src, 'd'), { recursive: true });
    writeTree(src, { 'a/inner': 'now in a folder\n', d: 'now a file\n' });
    expect((await runCli(['push', src, url, '--delete', '--max-delete', '100%'], server)).code).toBe(0);
    const before = treeHashes(dst);
    const flags = ['--delete', '--max-delete', '100%'];

    const dry = await runCli(['pull', url, dst, ...flags, '--dry-run'], server);
    expect(dry.code, dry.stderr).toBe(0);
    // The deletions first: the downloads wait for the way they clear, as the real run does.
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('(dry run)'))).toEqual([
      '(dry run) delete a [no-remote-object]',
      '(dry run) delete d/x [no-remote-object]',
      '(dry run) delete d/y/z [no-remote-object]',
      '(dry run) download a/inner [new]',
      '(dry run) download d [new]',
    ]);
    expect(treeHashes(dst)).toEqual(before);

    const r = await runCli(['pull', url, dst, ...flags, '--json'], server);
    expect(r.code, JSON.stringify(r.summary?.errors)).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 2, deleted: 3, failed: 0 });
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    const again = await runCli(['pull', url, dst, ...flags, '--json'], server);
    expect(again.summary).toMatchObject({ downloaded: 0, deleted: 0, requestsTotal: 1 });

    // A plan of the same pull says nothing is in the way, and its apply does the same.
    const planFile = path.join(tempDir('pshape-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, planned, ...flags, '--out', planFile], server);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toBe('');
    const applied = await runCli(['apply', planFile, '--json'], server);
    expect(applied.code, JSON.stringify(applied.summary?.errors)).toBe(0);
    expect(applied.summary).toMatchObject({ downloaded: 2, deleted: 3, failed: 0 });
    expect(treeHashes(planned)).toEqual(treeHashes(src));
  });

  it('removes the folders its deletions empty, so a file of that name comes next, not a folder in the way', async () => {
    const { url, dir: src, transport } = await pushedTree(server, 2, 'pempty');
    writeTree(src, { 'a/x': 'in a\n', 'n/m/y': 'deeper\n', 'marked/z': 'marked\n', 'kept/w': 'kept\n' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('pempty-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'kept/notes.log': 'local, excluded\n', 'n/side/keep.log': 'excluded too\n' });
    for (const rel of ['a', 'n', 'marked', 'kept']) rmSync(path.join(src, rel), { recursive: true });
    expect((await runCli(['push', src, url, '--delete', '--max-delete', '100%'], server)).code).toBe(0);
    // A folder marker upstream names the folder `marked`: it stays, as the remote has it.
    await seed(transport, 'p/marked/', '');
    const flags = ['--delete', '--max-delete', '100%', '--exclude', '*.log', '--json'];

    const r = await runCli(['pull', url, dst, ...flags], server);
    expect(r.code, JSON.stringify(r.summary?.errors)).toBe(0);
    expect(deletesOf(r.events)).toEqual([
      ['a/x', 'no-remote-object'],
      ['kept/w', 'no-remote-object'],
      ['marked/z', 'no-remote-object'],
      ['n/m/y', 'no-remote-object'],
    ]);
    // Each emptied folder goes, and each above it left empty; one holding anything stays.
    expect(existsSync(path.join(dst, 'a'))).toBe(false);
    expect(existsSync(path.join(dst, 'n/m'))).toBe(false);
    expect(readFileSync(path.join(dst, 'n/side/keep.log'), 'utf8')).toBe('excluded too\n');
    expect(statSync(path.join(dst, 'marked')).isDirectory()).toBe(true);
    expect(readFileSync(path.join(dst, 'kept/notes.log'), 'utf8')).toBe('local, excluded\n');
    expect(statSync(path.join(dst, '.s3sync')).isDirectory()).toBe(true);

    // Upstream, `a` and `marked` come back as files: the next pull writes them, and the one after is clean.
    writeTree(src, { a: 'now a file\n', marked: 'a file too\n' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const next = await runCli(['pull', url, dst, ...flags], server);
    expect(next.code, JSON.stringify(next.summary?.errors)).toBe(0);
    expect(next.summary).toMatchObject({ downloaded: 2, failed: 0 });
    expect(readFileSync(path.join(dst, 'a'), 'utf8')).toBe('now a file\n');
    expect(readFileSync(path.join(dst, 'marked'), 'utf8')).toBe('a file too\n');
    const again = await runCli(['pull', url, dst, ...flags], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ downloaded: 0, deleted: 0, failed: 0 });
  });

  it('keeps a download refused while the folder in its way holds a file the run keeps', async () => {
    const { url, dir: src } = await pushedTree(server, 4, 'pkeep');
    writeTree(src, { 'd/x': 'in d\n' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('pkeep-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'd/notes.log': 'local, excluded\n' });
    rmSync(path.join(src, 'd'), { recursive: true });
    writeTree(src, { d: 'now a file\n' });
    expect((await runCli(['push', src, url, '--delete'], server)).code).toBe(0);
    for (const run of [1, 2]) {
      const r = await runCli(['pull', url, dst, '--delete', '--exclude', '*.log', '--json'], server);
      expect(r.code, `run ${run}`).toBe(1);
      expect(r.summary?.errors).toEqual([{ rel: 'd', message: 'not written: a directory is in the way' }]);
      expect(r.summary).toMatchObject({ downloaded: 0, deleted: run === 1 ? 1 : 0 });
      expect(readFileSync(path.join(dst, 'd/notes.log'), 'utf8')).toBe('local, excluded\n');
    }
  });

  it('a dry run the guards refuse still fails the downloads that waited for its deletions, as the real run', async () => {
    const { url, dir: src } = await pushedTree(server, 2, 'pwait');
    writeTree(src, { x: 'a file\n' });
    expect((await runCli(['push', src, url], server)).code).toBe(0);
    const dst = tempDir('pwait-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    // Upstream, `x` becomes a folder; the local file `x` is in the way of `x/y` until deleted.
    rmSync(path.join(src, 'x'));
    writeTree(src, { 'x/y': 'now below x\n' });
    expect((await runCli(['push', src, url, '--delete', '--max-delete', '100%'], server)).code).toBe(0);
    const flags = ['--delete', '--max-delete', '0', '--json'];
    const dry = await runCli(['pull', url, dst, ...flags, '--dry-run'], server);
    const real = await runCli(['pull', url, dst, ...flags], server);
    for (const r of [dry, real]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refusing to delete 1 of \d+ file\(s\): over --max-delete 0/);
      expect(r.summary?.errors).toEqual([
        { rel: 'x/y', message: "not written: 'x' is a file, not a directory" },
      ]);
      expect(r.summary).toMatchObject({ downloaded: 0, deleted: 0, failed: 1 });
    }
    expect(readFileSync(path.join(dst, 'x'), 'utf8')).toBe('a file\n');
  });

  it('is guarded like push: over --max-delete is refused and deletes nothing', async () => {
    const { url } = await pushedTree(server, 2, 'pguard');
    const dst = tempDir('pguard-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'x1.txt': '1', 'x2.txt': '2', 'x3.txt': '3' });
    const r = await runCli(['pull', url, dst, '--delete', '--max-delete', '2'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete 3 of 5/);
    expect(Object.keys(treeHashes(dst)).sort()).toEqual(['f0.txt', 'f1.txt', 'x1.txt', 'x2.txt', 'x3.txt']);
  });
});

describe.each(servers())('plan and apply on $name', (server) => {
  it('apply executes a push plan: uploads and deletes as listed', async () => {
    const { transport, dir, url } = await pushedTree(server, 3, 'plan');
    writeTree(dir, { 'f0.txt': 'f0 is longer now\n', 'new.txt': 'new\n' });
    removeLocal(dir, 'f2.txt');
    const planFile = path.join(tempDir('plan-out'), 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--delete', '--out', planFile], server);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`plan: 3 action(s) written to ${planFile}`);
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'f2.txt']); // planning changed nothing
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(doc).toMatchObject({ s3syncPlan: 1, direction: 'push', local: dir, remote: `${url}/` });
    expect(doc.actions.map((a) => [a.kind, a.rel, a.reason]).sort()).toEqual([
      ['delete-remote', 'f2.txt', 'no-local-file'],
      ['upload', 'f0.txt', 'size-changed'],
      ['upload', 'new.txt', 'new'],
    ]);

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ command: 'apply', uploaded: 2, deleted: 1, failed: 0 });
    expect(r.summary?.requests).toMatchObject({ PutObject: 2, DeleteObjects: 1 });
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'new.txt']);
    expect(await readObject(transport, 'p/f0.txt')).toBe('f0 is longer now\n');

    // The manifest knows what apply uploaded, and no longer vouches for what it deleted: the next push
    // has nothing to do.
    expect(readManifest(dir)!.files.has('f2.txt')).toBe(false);
    const again = await runCli(['push', dir, url, '--json'], server);
    expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0, requestsTotal: 0 });
  });

  it('apply refuses an upload whose file changed since the plan, and runs the others', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'planchg');
    writeTree(dir, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'f1.txt': 'file 1 changed\n' });
    const planFile = path.join(tempDir('planchg-out'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    appendFileSync(path.join(dir, 'b.txt'), 'edited after planning\n');

    const r = await runCli(['apply', planFile], server);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/b\.txt: refused: the local file changed since the plan was made/);
    expect(await keys(transport)).toEqual(['a.txt', 'f0.txt', 'f1.txt']);
    expect(await readObject(transport, 'p/f1.txt')).toBe('file 1 changed\n');
  });

  it('apply refuses a push action whose remote object changed since the plan', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'planrem');
    writeTree(dir, { 'f0.txt': 'f0 changed locally\n', 'new.txt': 'new\n' });
    const planFile = path.join(tempDir('planrem-out'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    await seed(transport, 'p/f0.txt', 'someone else wrote this\n');

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    const errors = r.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ rel: 'f0.txt' });
    expect(errors[0]?.message).toMatch(/refused: the remote object changed since the plan was made/);
    expect(r.summary).toMatchObject({ uploaded: 1, failed: 1 });
    expect(await readObject(transport, 'p/f0.txt')).toBe('someone else wrote this\n');
    expect(await readObject(transport, 'p/new.txt')).toBe('new\n');
  });

  it('apply again after an apply that failed part-way resumes it: what was done is skipped, not refused', async () => {
    const { bucket, transport } = await newBucket(server, 'reapply');
    const dir = tempDir('reapply');
    writeTree(dir, { 'f0.txt': '0\n', 'f1.txt': '1\n', 'f2.txt': '2\n' });
    // One endpoint throughout (the manifest belongs to it), where c.txt's PUT fails while asked to.
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      kinds: ['status-500'],
      filter: (req) => req.method === 'PUT' && req.url.includes('/p/c.txt'),
    });
    try {
      const url = `s3://${bucket}/p`;
      const via = ['--endpoint-url', proxy.endpoint, '--json'];
      expect((await runCli(['push', dir, url, ...via], server)).code).toBe(0);
      writeTree(dir, { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
      removeLocal(dir, 'f0.txt');
      const planFile = path.join(tempDir('reapply-plan'), 'plan.json');
      expect(
        (await runCli(['plan', 'push', dir, url, '--delete', '--out', planFile, ...via], server)).code,
      ).toBe(0);

      // The first apply: c.txt fails, so the deletion is skipped too.
      proxy.setRate(1);
      const first = await runCli(['apply', planFile, '--retries', '0', ...via], server);
      expect(first.code).toBe(1);
      expect(first.summary).toMatchObject({ uploaded: 2, deleted: 0, failed: 1 });
      expect(await keys(transport)).toEqual(['a.txt', 'b.txt', 'f0.txt', 'f1.txt', 'f2.txt']);
      proxy.setRate(0);

      // Again: the two uploads done are skipped with a notice; the rest runs, the deletion included.
      const again = await runCli(['apply', planFile, ...via], server);
      expect(again.code, again.stderr).toBe(0);
      expect(again.summary).toMatchObject({ uploaded: 1, deleted: 1, unchanged: 2, failed: 0 });
      expect(again.events).toContainEqual(
        expect.objectContaining({
          type: 'notice',
          message:
            '2 action(s) of the plan were done by an earlier apply (the manifest records them, or the file holds its object): skipped',
        }),
      );
      expect(await keys(transport)).toEqual(['a.txt', 'b.txt', 'c.txt', 'f1.txt', 'f2.txt']);

      // A third time: everything done, only the listing sent.
      const third = await runCli(['apply', planFile, ...via], server);
      expect(third.code, third.stderr).toBe(0);
      expect(third.summary).toMatchObject({ uploaded: 0, deleted: 0, unchanged: 4, failed: 0 });
      expect(third.summary?.requests).toEqual({ ListObjectsV2: 1 });

      // A file changed since is still refused, not taken for done.
      writeTree(dir, { 'a.txt': 'a changed\n' });
      const changed = await runCli(['apply', planFile, ...via], server);
      expect(changed.code).toBe(1);
      expect(JSON.stringify(changed.summary?.errors)).toMatch(
        /refused: the local file changed since the plan/,
      );
      expect(changed.summary).toMatchObject({ failed: 1, unchanged: 3 });
    } finally {
      await proxy.close();
    }
  });

  it('apply again after a killed apply whose uploads and deletions the server carried out: all done, none sent twice', async () => {
    const { transport, dir, url } = await pushedTree(server, 5, 'killedapply');
    const big = Buffer.alloc(6 * 1024 * 1024 + 7, 'x');
    writeTree(dir, { 'n0.txt': 'new 0\n', 'n1.txt': 'new 1\n', 'f4.txt': 'f4 changed\n' });
    writeFileSync(path.join(dir, 'big.bin'), big);
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt');
    const sizes = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    const planFile = path.join(tempDir('killedapply-plan'), 'plan.json');
    const p = await runCli(
      ['plan', 'push', dir, url, '--delete', '--force', '--out', planFile, ...sizes],
      server,
    );
    expect(p.code, p.stderr).toBe(0);
    expect(readDocActions(planFile)).toEqual([
      ['delete-remote', 'f0.txt'],
      ['delete-remote', 'f1.txt'],
      ['delete-remote', 'f2.txt'],
      ['upload', 'big.bin'],
      ['upload', 'f4.txt'],
      ['upload', 'n0.txt'],
      ['upload', 'n1.txt'],
    ]);

    // The state an apply killed (SIGKILL) after its requests were carried out leaves: every PUT and
    // the DeleteObjects done on the server, the manifest as it was before the run.
    const [manifestFile] = manifestPaths(dir);
    const before = readFileSync(manifestFile!);
    const done = await runCli(['push', dir, url, '--delete', '--force', '--json', ...sizes], server);
    expect(done.summary).toMatchObject({ uploaded: 4, deleted: 3, failed: 0 });
    writeFileSync(manifestFile!, before);

    const again = await runCli(['apply', planFile, '--json', ...sizes], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0, unchanged: 7, failed: 0 });
    // Nothing sent again: the listing, and a HEAD per upload to see s3sync's metadata on its object.
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1, HeadObject: 4 });
    const m = readManifest(dir)!;
    expect([...m.files.keys()].sort()).toEqual(['big.bin', 'f3.txt', 'f4.txt', 'n0.txt', 'n1.txt']);
    // Recorded with the ETag it matched: multipart at apply's part size (a store may give a plain one).
    const object = (await transport.list('p/')).get('big.bin')!;
    const multipart = object.etag.includes('-');
    expect(m.files.get('big.bin')).toMatchObject({
      size: big.length,
      etag: object.etag,
      partSize: multipart ? 5 * 1024 * 1024 : 0,
    });

    // The manifest is right: a push has nothing to do, and a third apply sends only the listing.
    const push = await runCli(['push', dir, url, '--delete', '--force', '--json', ...sizes], server);
    expect(push.summary).toMatchObject({ uploaded: 0, deleted: 0, requestsTotal: 1 });
    const third = await runCli(['apply', planFile, '--json', ...sizes], server);
    expect(third.code, third.stderr).toBe(0);
    expect(third.summary?.requests).toEqual({ ListObjectsV2: 1 });
  });

  it('apply again after a killed deletion that removed part of the objects: the rest deleted, the others done', async () => {
    const { transport, dir, url } = await pushedTree(server, 8, 'halfdeleted');
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt');
    writeTree(dir, { 'n0.txt': 'new 0\n', 'n1.txt': 'new 1\n' });
    const planFile = path.join(tempDir('halfdeleted-plan'), 'plan.json');
    expect(
      (await runCli(['plan', 'push', dir, url, '--delete', '--force', '--out', planFile], server)).code,
    ).toBe(0);
    // Killed with two of the deletions carried out and the manifest unsaved.
    await transport.deleteKeys(['p/f0.txt', 'p/f1.txt']);

    const again = await runCli(['apply', planFile, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 2, deleted: 3, unchanged: 2, failed: 0 });
    expect(again.summary?.requests).toMatchObject({ PutObject: 2, DeleteObjects: 1 });
    expect(await keys(transport)).toEqual(['f5.txt', 'f6.txt', 'f7.txt', 'n0.txt', 'n1.txt']);
    expect([...readManifest(dir)!.files.keys()].sort()).toEqual([
      'f5.txt',
      'f6.txt',
      'f7.txt',
      'n0.txt',
      'n1.txt',
    ]);
  });

  it('apply again after a killed apply whose rename copies landed: recorded, not refused, the old keys deleted', async () => {
    const { bucket, transport } = await newBucket(server, 'killedcopy');
    const dir = tempDir('killedcopy');
    const url = `s3://${bucket}/p`;
    // big.bin's object is multipart at 5 MiB parts: its copy keeps that ETag on a store that copies
    // ETags, which apply's own part size (16 MiB by default) does not reproduce.
    writeTree(dir, { 'a.txt': 'file a\n', 'big.bin': Buffer.alloc(6 * 1024 * 1024 + 7, 'x') });
    const sizes = ['--multipart-threshold', '5MiB', '--part-size', '5MiB'];
    expect((await runCli(['push', dir, url, ...sizes], server)).code).toBe(0);
    renameSync(path.join(dir, 'a.txt'), path.join(dir, 'b.txt'));
    renameSync(path.join(dir, 'big.bin'), path.join(dir, 'moved.bin'));
    const planFile = path.join(tempDir('killedcopy-plan'), 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--delete', '--force', '--out', planFile], server);
    expect(p.code, p.stderr).toBe(0);
    expect(readDocActions(planFile)).toEqual([
      ['copy', 'b.txt'],
      ['copy', 'moved.bin'],
      ['delete-remote', 'a.txt'],
      ['delete-remote', 'big.bin'],
    ]);

    // The state an apply killed after its CopyObjects landed leaves: the new keys hold the copies s3sync
    // makes (the file's MD5 and mtime in their metadata), the old keys are still there, the manifest
    // is as it was before the run.
    const [manifestFile] = manifestPaths(dir);
    const before = readFileSync(manifestFile!);
    const copied = await runCli(['push', dir, url, '--json'], server);
    expect(copied.summary).toMatchObject({ copied: 2, uploaded: 0, deleted: 0, failed: 0 });
    writeFileSync(manifestFile!, before);

    const again = await runCli(['apply', planFile, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ copied: 0, uploaded: 0, deleted: 2, unchanged: 2, failed: 0 });
    // Nothing copied again: the listing, a HEAD per copy to see its metadata, and the deletion.
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1, HeadObject: 2, DeleteObjects: 1 });
    expect(await keys(transport)).toEqual(['b.txt', 'moved.bin']);
    // Recorded with the ETag the copy has; the part size behind it is the source's.
    const object = (await transport.list('p/')).get('moved.bin')!;
    expect(readManifest(dir)!.files.get('moved.bin')).toMatchObject({
      etag: object.etag,
      partSize: object.etag.includes('-') ? 5 * 1024 * 1024 : 0,
    });
    const push = await runCli(['push', dir, url, '--delete', '--force', '--json'], server);
    expect(push.summary).toMatchObject({ uploaded: 0, copied: 0, deleted: 0, requestsTotal: 1 });
  });

  it('apply again after a kill that landed a one-pass upload (no md5 metadata): recorded, not refused', async () => {
    const { transport, dir, url } = await pushedTree(server, 1, 'onepasskill');
    // New files from 8 MiB to the multipart threshold go in one pass, hashed as sent: no x-amz-meta-md5.
    const mib = 1024 * 1024;
    const b = randomBytes(9 * mib);
    writeFileSync(path.join(dir, 'b.bin'), b);
    writeFileSync(path.join(dir, 'c.bin'), randomBytes(9 * mib));
    const planFile = path.join(tempDir('onepasskill-plan'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    expect(readDocActions(planFile)).toEqual([
      ['upload', 'b.bin'],
      ['upload', 'c.bin'],
    ]);
    // One upload at a time, slowed: killed once b.bin is done, while c.bin is being sent.
    const live = spawnCli(['apply', planFile, '--bwlimit', '4MiB', '--workers', '1', '--json'], server);
    try {
      const doneB = await live.until(
        (e) => e.type === 'done' && (e as { rel?: string }).rel === 'b.bin',
        120_000,
      );
      expect(doneB, live.stderr()).toBe(true);
    } finally {
      live.child.kill('SIGKILL');
    }
    await live.exited;
    const head = await transport.head('p/b.bin');
    expect(head?.etag).toBe(createHash('md5').update(b).digest('hex'));
    expect(head?.metadata.md5).toBeUndefined();

    const again = await runCli(['apply', planFile, '--json'], server);
    expect(again.code, again.stderr).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 1, unchanged: 1, failed: 0 });
    expect(again.summary?.requests).toMatchObject({ ListObjectsV2: 1, HeadObject: 1, PutObject: 1 });
    expect(readManifest(dir)!.files.get('b.bin')).toMatchObject({ etag: head!.etag, partSize: 0 });
    const third = await runCli(['apply', planFile, '--json'], server);
    expect(third.code, third.stderr).toBe(0);
    expect(third.summary?.requests).toEqual({ ListObjectsV2: 1 });
    // The applies' complete listings are recorded, as a push's: a push with nothing to do asks nothing.
    const push = await runCli(['push', dir, url, '--json'], server);
    expect(push.code, push.stderr).toBe(0);
    expect(push.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it("apply again refuses an object of the file's size and mtime metadata that is not its content", async () => {
    const { transport, dir, url } = await pushedTree(server, 1, 'onepassother');
    const mib = 1024 * 1024;
    writeFileSync(path.join(dir, 'b.bin'), Buffer.alloc(9 * mib, 'b'));
    const planFile = path.join(tempDir('onepassother-plan'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    // What a one-pass upload leaves (the mtime alone in the metadata), but other bytes; and the file's
    // bytes under an md5 metadata that is not theirs.
    const mtime = (ns: bigint) =>
      `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
    const meta = { mtime: mtime(statSync(path.join(dir, 'b.bin'), { bigint: true }).mtimeNs) };
    await seed(transport, 'p/b.bin', Buffer.alloc(9 * mib, 'B'), meta);
    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ uploaded: 0, unchanged: 0, failed: 1 });
    expect(JSON.stringify(r.summary?.errors)).toMatch(/refused: the remote object changed since the plan/);
    await seed(transport, 'p/b.bin', Buffer.alloc(9 * mib, 'b'), { ...meta, md5: '0'.repeat(32) });
    const r2 = await runCli(['apply', planFile, '--json'], server);
    expect(r2.code).toBe(1);
    expect(r2.summary).toMatchObject({ uploaded: 0, unchanged: 0, failed: 1 });
    expect(readManifest(dir)!.files.has('b.bin')).toBe(false);
  });

  it('apply refuses a file changed mid-upload (its mtime put back): not sent again with content the plan never saw', async () => {
    const { bucket, transport } = await newBucket(server, 'midchange');
    const dir = tempDir('midchange');
    const file = path.join(dir, 'big.bin');
    writeFileSync(path.join(dir, 'a.txt'), 'a\n');
    // Told when the first bytes of big.bin's body reach the store: the upload is under way.
    let sending: () => void = () => {};
    const sent = new Promise<void>((resolve) => {
      sending = resolve;
    });
    const proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      observe: (req) => {
        if (req.method === 'PUT' && req.url.includes('/p/big.bin')) sending();
      },
    });
    try {
      const url = `s3://${bucket}/p`;
      const via = ['--endpoint-url', proxy.endpoint];
      expect((await runCli(['push', dir, url, ...via], server)).code).toBe(0);
      writeFileSync(file, randomBytes(30 * 1024 * 1024));
      const planFile = path.join(tempDir('midchange-plan'), 'plan.json');
      expect((await runCli(['plan', 'push', dir, url, '--out', planFile, ...via], server)).code).toBe(0);
      expect(readDocActions(planFile)).toEqual([['upload', 'big.bin']]);
      const { atime, mtime } = statSync(file);
      const live = spawnCli(['apply', planFile, '--bwlimit', '4MiB', '--json', ...via], server);
      let exit: Awaited<typeof live.exited>;
      try {
        // 1 MB of big.bin is overwritten in place while it is sent, its mtime put back.
        await Promise.race([sent, live.exited]);
        const fd = openSync(file, 'r+');
        writeSync(fd, randomBytes(1024 * 1024), 0, 1024 * 1024, 0);
        closeSync(fd);
        utimesSync(file, atime, mtime);
        exit = await Promise.race([
          live.exited,
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('apply hangs')), 120_000)),
        ]);
      } finally {
        live.child.kill('SIGKILL');
      }
      expect(exit.code, live.stderr()).toBe(1);
      const summary = live.events.find((e) => e.type === 'summary') as Record<string, unknown>;
      expect(summary).toMatchObject({ uploaded: 0, failed: 1 });
      expect(JSON.stringify(summary.errors)).toMatch(/refused: the local file changed since the plan/);
      expect((summary.requests as Record<string, number>).PutObject).toBe(1);
      // The one PUT was cut before its end: nothing stored, and nothing recorded.
      expect(await transport.head('p/big.bin')).toBeNull();
      expect(readManifest(dir)!.files.has('big.bin')).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it("apply again still refuses a copy's key holding the source's bytes without s3sync's metadata", async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'othercopy');
    renameSync(path.join(dir, 'f0.txt'), path.join(dir, 'g0.txt'));
    const planFile = path.join(tempDir('othercopy-plan'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    expect(readDocActions(planFile)).toEqual([['copy', 'g0.txt']]);
    // Another writer's object: the same bytes, so the source's ETag, but not the metadata s3sync sends.
    await seed(transport, 'p/g0.txt', 'file 0\n');

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ copied: 0, unchanged: 0, failed: 1 });
    expect(JSON.stringify(r.summary?.errors)).toMatch(/refused: the remote object changed since the plan/);
    expect(readManifest(dir)!.files.has('g0.txt')).toBe(false);
  });

  it("apply again still refuses an upload whose object another writer put there since, same size or not s3sync's", async () => {
    const { transport, dir, url } = await pushedTree(server, 1, 'otherwriter');
    writeTree(dir, { 'n0.txt': 'new 0\n', 'n1.txt': 'new 1\n' });
    const planFile = path.join(tempDir('otherwriter-plan'), 'plan.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', planFile], server)).code).toBe(0);
    // Other content of the same size; the same content without the metadata s3sync sends with it.
    await seed(transport, 'p/n0.txt', 'NEW 0\n');
    await seed(transport, 'p/n1.txt', 'new 1\n');

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ uploaded: 0, unchanged: 0, failed: 2 });
    expect(JSON.stringify(r.summary?.errors)).toMatch(/refused: the remote object changed since the plan/);
    expect(await readObject(transport, 'p/n0.txt')).toBe('NEW 0\n');
    expect(readManifest(dir)!.files.has('n1.txt')).toBe(false);
  });

  it('apply executes a pull plan: downloads and local deletes as listed', async () => {
    const { transport, url } = await pushedTree(server, 3, 'pplan');
    const dst = tempDir('pplan-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    await seed(transport, 'p/f1.txt', 'f1 changed remotely\n');
    await seed(transport, 'p/sub/new.txt', 'new remote\n');
    writeTree(dst, { 'stray.txt': 'only here\n' });
    const before = treeHashes(dst);

    const planFile = path.join(tempDir('pplan-out'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, dst, '--delete', '--out', planFile], server);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(treeHashes(dst)).toEqual(before); // planning changed nothing
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(doc).toMatchObject({ direction: 'pull', local: dst, remote: `${url}/` });
    expect(doc.actions.map((a) => [a.kind, a.rel, a.reason]).sort()).toEqual([
      ['delete-local', 'stray.txt', 'no-remote-object'],
      ['download', 'f1.txt', 'remote-changed'],
      ['download', 'sub/new.txt', 'new'],
    ]);

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ downloaded: 2, deleted: 1, failed: 0 });
    expect(r.summary?.requests.GetObject).toBe(2);
    expect(readFileSync(path.join(dst, 'f1.txt'), 'utf8')).toBe('f1 changed remotely\n');
    expect(readFileSync(path.join(dst, 'sub/new.txt'), 'utf8')).toBe('new remote\n');
    expect(existsSync(path.join(dst, 'stray.txt'))).toBe(false);

    const again = await runCli(['pull', url, dst, '--json'], server);
    expect(again.summary).toMatchObject({ downloaded: 0 });
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 1 });

    // The plan applied again: each action done already (the manifest records it), none refused.
    const reapplied = await runCli(['apply', planFile, '--json'], server);
    expect(reapplied.code, JSON.stringify(reapplied.summary?.errors)).toBe(0);
    expect(reapplied.summary).toMatchObject({ downloaded: 0, deleted: 0, unchanged: 3, failed: 0 });
  });

  it('apply refuses pull actions whose local file or remote object changed, and runs the others', async () => {
    const { transport, url } = await pushedTree(server, 3, 'pchg');
    const dst = tempDir('pchg-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    await seed(transport, 'p/f0.txt', 'f0 changed remotely\n');
    await seed(transport, 'p/f1.txt', 'f1 changed remotely\n');
    await seed(transport, 'p/f2.txt', 'f2 changed remotely\n');
    const planFile = path.join(tempDir('pchg-out'), 'plan.json');
    expect((await runCli(['plan', 'pull', url, dst, '--out', planFile], server)).code).toBe(0);

    writeFileSync(path.join(dst, 'f0.txt'), 'edited locally after planning\n');
    await seed(transport, 'p/f1.txt', 'f1 changed again after planning\n');

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    const errors = r.events
      .filter((e) => e.type === 'error')
      .map((e) => e.message)
      .sort();
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^f0\.txt: refused: the local file changed since the plan was made/);
    expect(errors[1]).toMatch(/^f1\.txt: refused: the remote object changed since the plan was made/);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 2 });
    expect(readFileSync(path.join(dst, 'f0.txt'), 'utf8')).toBe('edited locally after planning\n');
    expect(readFileSync(path.join(dst, 'f1.txt'), 'utf8')).toBe('file 1\n');
    expect(readFileSync(path.join(dst, 'f2.txt'), 'utf8')).toBe('f2 changed remotely\n');
  });

  it('apply refuses an edited plan whose actions leave the directory or change kind (exit 2, nothing done)', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'planedit');
    const dst = tempDir('planedit-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    const outside = path.join(path.dirname(dst), `outside-${path.basename(dst)}.txt`);
    writeFileSync(outside, 'not yours\n');
    writeTree(dir, { 'new.txt': 'new\n' });
    writeTree(dst, { 'extra.txt': 'extra\n' });
    const out = tempDir('planedit-out');
    const pushPlan = path.join(out, 'push.json');
    const pullPlan = path.join(out, 'pull.json');
    expect((await runCli(['plan', 'push', dir, url, '--out', pushPlan], server)).code).toBe(0);
    expect((await runCli(['plan', 'pull', url, dst, '--delete', '--out', pullPlan], server)).code).toBe(0);
    const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as PlanDocument;
    const st = (abs: string) => {
      const s = statSync(abs, { bigint: true });
      return {
        size: Number(s.size),
        mtimeNs: String(s.mtimeNs),
        ctimeNs: String(s.ctimeNs),
        ino: String(s.ino),
      };
    };
    const pullDelete = read(pullPlan).actions.find((a) => a.kind === 'delete-local')!;
    const upload = read(pushPlan).actions.find((a) => a.kind === 'upload')!;
    const edits: [string, string, (d: PlanDocument) => void][] = [
      [
        'a delete beside the target',
        pullPlan,
        (d) => {
          d.actions = [{ ...pullDelete, rel: `../${path.basename(outside)}`, local: st(outside) }];
        },
      ],
      [
        'a delete through sub/../..',
        pullPlan,
        (d) => {
          d.actions = [{ ...pullDelete, rel: `sub/../../${path.basename(outside)}`, local: st(outside) }];
        },
      ],
      [
        'an upload in a pull plan',
        pullPlan,
        (d) => {
          d.actions = [{ ...pullDelete, kind: 'upload', rel: 'f0.txt', local: st(path.join(dst, 'f0.txt')) }];
        },
      ],
      [
        'a push plan turned into a pull',
        pushPlan,
        (d) => {
          d.direction = 'pull';
        },
      ],
      [
        'a download in a push plan',
        pushPlan,
        (d) => {
          d.actions = [{ ...upload, kind: 'download', rel: 'f0.txt', remote: { etag: 'x', size: 7 } }];
        },
      ],
      [
        'an upload of a file outside the source',
        pushPlan,
        (d) => {
          d.actions = [{ ...upload, rel: `../${path.basename(outside)}`, local: st(outside) }];
        },
      ],
      [
        'an upload with no local file',
        pushPlan,
        (d) => {
          d.actions = [{ ...upload, local: null }];
        },
      ],
      [
        'errors that are not a list',
        pushPlan,
        (d) => {
          d.errors = { rel: 'a', message: 'b' } as unknown as PlanDocument['errors'];
        },
      ],
      [
        'an error with no message',
        pullPlan,
        (d) => {
          d.errors = [{ rel: 'a' } as NonNullable<PlanDocument['errors']>[0]];
        },
      ],
      [
        'an action that is null',
        pushPlan,
        (d) => {
          d.actions = [null as unknown as PlanDocument['actions'][0]];
        },
      ],
      [
        "s3sync's own state",
        pullPlan,
        (d) => {
          d.actions = [{ ...pullDelete, rel: '.s3sync/x' }];
        },
      ],
    ];
    const before = await keys(transport);
    for (const [what, file, edit] of edits) {
      const d = read(file);
      edit(d);
      const edited = path.join(out, 'edited.json');
      writeFileSync(edited, JSON.stringify(d));
      const r = await runCli(['apply', edited, '--json'], server);
      expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(2);
      expect(r.stderr, what).toMatch(/^s3sync: \S+ is not a valid s3sync plan: .+\n$/);
      // The library refuses the same document.
      await expect(apply({ ...connFor(server), plan: d }), what).rejects.toThrow(/not a valid s3sync plan/);
    }
    expect(readFileSync(outside, 'utf8')).toBe('not yours\n');
    expect(Object.keys(treeHashes(dst)).sort()).toEqual(['extra.txt', 'f0.txt', 'f1.txt']);
    expect(await keys(transport)).toEqual(before);
    rmSync(outside);
  });

  it('deletions a guard skips after an error are in the summary: deletesSkipped, and said in the human line', async () => {
    const { transport, dir, url } = await pushedTree(server, 4, 'skipsum');
    // f3.txt renamed to a name that is not UTF-8: the scan fails it, and its object looks stale too.
    renameSync(path.join(dir, 'f3.txt'), Buffer.from(`${dir}/f3\xff.txt`, 'latin1'));
    removeLocal(dir, 'f0.txt', 'f1.txt');
    const json = await runCli(['push', dir, url, '--delete', '--json'], server);
    expect(json.code, json.stderr).toBe(1);
    // The last line alone says the deletions were planned and not made.
    expect(json.summary).toMatchObject({ deleted: 0, failed: 1, deletesSkipped: 3 });
    const human = await runCli(['push', dir, url, '--delete'], server);
    expect(human.code, human.stderr).toBe(1);
    expect(human.stdout).toMatch(/, 0 deleted \(3 skipped after errors\), 1 failed/);
    expect(await keys(transport)).toHaveLength(4);
    // A clean run has no such field.
    rmSync(Buffer.from(`${dir}/f3\xff.txt`, 'latin1'));
    const clean = await runCli(['push', dir, url, '--delete', '--max-delete', '3', '--json'], server);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.summary).toMatchObject({ deleted: 3 });
    expect(clean.summary).not.toHaveProperty('deletesSkipped');
  });

  it('a push plan made after an error leaves out the deletes the guards skip; it exits 1, and so does apply', async () => {
    const { transport, dir, url } = await pushedTree(server, 3, 'planerr');
    // f2.txt renamed to a name that is not UTF-8: the scan fails it, so its object looks stale.
    renameSync(path.join(dir, 'f2.txt'), Buffer.from(`${dir}/f2\xff.txt`, 'latin1'));
    writeTree(dir, { 'new.txt': 'new\n' });
    const planFile = path.join(tempDir('planerr-out'), 'plan.json');
    for (const flags of [['--delete'], []]) {
      const p = await runCli(['plan', 'push', dir, url, ...flags, '--out', planFile], server);
      expect(p.code, p.stderr).toBe(1);
      const errors = p.stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors[0]).toMatch(
        /^error: f2\S*\.txt: file name is not valid UTF-8 \(byte 0xFF at 2\): skipped$/,
      );
      if (flags.length > 0)
        expect(errors[1]).toBe('error: not deleting 1 file(s): 1 error(s) happened in this run');
      expect(errors).toHaveLength(flags.length + 1);
      expect(p.stdout).toContain(`plan: 1 action(s) written to ${planFile}; 1 file(s) left out by errors`);
      const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
      // The delete the guards skipped is not in the plan: apply (which forces the guards) never sees it.
      expect(doc.actions.map((a) => [a.kind, a.rel])).toEqual([['upload', 'new.txt']]);
      expect(doc.errors).toEqual([
        { rel: expect.stringMatching(/^f2.*\.txt$/), message: expect.stringContaining('not valid UTF-8') },
      ]);
    }
    const json = await runCli(['plan', 'push', dir, url, '--delete', '--out', planFile, '--json'], server);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toEqual({
      type: 'plan-file',
      file: planFile,
      actions: 1,
      errors: 1,
      exitCode: 1,
    });

    // apply does what the plan holds, and says again what it left out: not a clean run either.
    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.events.filter((e) => e.type === 'error').map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^f2\S*\.txt: left out of the plan: file name is not valid UTF-8 \(byte 0xFF at 2\)/,
      ),
    ]);
    expect(r.summary).toMatchObject({ uploaded: 1, deleted: 0, failed: 1 });
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'new.txt']);
  });

  it('a pull plan made after an error keeps the local files the guards keep; apply reports the error again', async () => {
    const { transport, url } = await pushedTree(server, 2, 'pplanerr');
    const dst = tempDir('pplanerr-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    await transport.deleteKeys(['p/f1.txt']);
    await seed(transport, 'p/back\\slash.txt', 'a key no file is named\n');
    await seed(transport, 'p/f0.txt', 'f0 changed remotely\n');
    const planFile = path.join(tempDir('pplanerr-out'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, dst, '--delete', '--out', planFile], server);
    expect(p.code, p.stderr).toBe(1);
    // Printed escaped, as every name is: the backslash doubled.
    expect(p.stderr).toContain(
      'error: back\\\\slash.txt: unsafe object key, not written: contains a backslash',
    );
    expect(p.stderr).toContain('error: not deleting 1 file(s): 1 error(s) happened in this run');
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(doc.actions.map((a) => [a.kind, a.rel])).toEqual([['download', 'f0.txt']]);
    expect(doc.errors).toEqual([{ rel: 'back\\slash.txt', message: expect.stringContaining('backslash') }]);

    const r = await runCli(['apply', planFile, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ downloaded: 1, deleted: 0, failed: 1 });
    expect(r.events.filter((e) => e.type === 'error').map((e) => e.message)).toEqual([
      expect.stringMatching(/^back\\slash\.txt: left out of the plan: unsafe object key/),
    ]);
    expect(readFileSync(path.join(dst, 'f0.txt'), 'utf8')).toBe('f0 changed remotely\n');
    expect(readFileSync(path.join(dst, 'f1.txt'), 'utf8')).toBe('file 1\n');
  });

  it('the library plan() and apply() work on a plan document in memory', async () => {
    const { transport, dir, url } = await pushedTree(server, 2, 'planlib');
    writeTree(dir, { 'lib.txt': 'from the library\n' });
    const doc = await plan({ ...connFor(server), direction: 'push', source: dir, destination: url });
    expect(doc.actions.map((a) => [a.kind, a.rel])).toEqual([['upload', 'lib.txt']]);
    const r = await apply({ ...connFor(server), plan: doc });
    expect(r).toMatchObject({ uploaded: 1, outcome: 'ok' });
    expect(await keys(transport)).toEqual(['f0.txt', 'f1.txt', 'lib.txt']);
  });
});

describe.each(servers())('--dry-run on $name', (server) => {
  it('push --dry-run changes nothing and prints each action with its reason', async () => {
    const { transport, dir, url } = await pushedTree(server, 3, 'dry');
    writeTree(dir, { 'new.txt': 'new\n', 'f0.txt': 'f0 is longer now\n' });
    removeLocal(dir, 'f2.txt');
    const before = await transport.list('p/');
    const r = await runCli(['push', dir, url, '--delete', '--dry-run'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('(dry run)'));
    expect(lines.sort()).toEqual([
      '(dry run) delete f2.txt [no-local-file]',
      '(dry run) upload f0.txt [size-changed]',
      '(dry run) upload new.txt [new]',
    ]);
    expect(r.stdout).toMatch(/\[dry run\] .*would be 2 uploaded.*would be 1 deleted/);
    expect(await transport.list('p/')).toEqual(before);

    const j = await runCli(['push', dir, url, '--delete', '--dry-run', '--json'], server);
    expect(j.summary).toMatchObject({ dryRun: true, uploaded: 2, deleted: 1 });
    expect(j.summary?.requests).toEqual({ ListObjectsV2: 1 });
    expect(await transport.list('p/')).toEqual(before);
  });

  it('pull --dry-run writes nothing and prints each action with its reason', async () => {
    const { transport, url } = await pushedTree(server, 3, 'pdry');
    const dst = tempDir('pdry-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    await seed(transport, 'p/f1.txt', 'f1 changed remotely\n');
    await seed(transport, 'p/new.txt', 'new\n');
    writeTree(dst, { 'stray.txt': 'stray\n' });
    const before = treeHashes(dst, []);

    const r = await runCli(['pull', url, dst, '--delete', '--dry-run'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('(dry run)'));
    expect(lines.sort()).toEqual([
      '(dry run) delete stray.txt [no-remote-object]',
      '(dry run) download f1.txt [remote-changed]',
      '(dry run) download new.txt [new]',
    ]);
    expect(treeHashes(dst, [])).toEqual(before); // manifest included
  });

  it('push --dry-run applies the delete guards as the real run does: refused, exit 2', async () => {
    const { transport, dir, url } = await pushedTree(server, 6, 'dryg');
    removeLocal(dir, 'f0.txt', 'f1.txt', 'f2.txt');
    writeTree(dir, { 'new.txt': 'new\n' });
    const before = await transport.list('p/');
    const actionsOf = (r: Awaited<ReturnType<typeof runCli>>) =>
      r.events.flatMap((e) => (e.type === 'action' ? [`${e.action} ${e.rel}`] : [])).sort();

    const r = await runCli(
      ['push', dir, url, '--delete', '--max-delete', '1', '--dry-run', '--json'],
      server,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete 3 of 6 file\(s\): over --max-delete 1/);
    // The upload that would still happen is shown; the deletions the real run refuses are not.
    expect(actionsOf(r)).toEqual(['upload new.txt']);
    expect(r.summary).toMatchObject({ dryRun: true, uploaded: 1, deleted: 0 });

    // The default limit (50%): 4 of 6 refused in the text output too.
    removeLocal(dir, 'f3.txt');
    const half = await runCli(['push', dir, url, '--delete', '--dry-run'], server);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/refusing to delete 4 of 6/);
    expect(half.stdout).not.toMatch(/\(dry run\) delete/);

    // An empty source is refused as it is for the real run.
    const empty = tempDir('dryg-empty');
    const e = await runCli(['push', empty, url, '--delete', '--max-delete', '100%', '--dry-run'], server);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/the source is empty/);

    // --force lists what it would delete, as the real run would do it.
    const f = await runCli(['push', dir, url, '--delete', '--dry-run', '--force', '--json'], server);
    expect(f.code).toBe(0);
    expect(actionsOf(f)).toEqual([
      'delete f0.txt',
      'delete f1.txt',
      'delete f2.txt',
      'delete f3.txt',
      'upload new.txt',
    ]);
    expect(await transport.list('p/')).toEqual(before);
  });

  it('pull --dry-run applies the delete guards as the real run does: refused, exit 2', async () => {
    const { url } = await pushedTree(server, 2, 'pdryg');
    const dst = tempDir('pdryg-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    writeTree(dst, { 'x1.txt': '1', 'x2.txt': '2', 'x3.txt': '3' });
    const before = treeHashes(dst, []);
    const r = await runCli(['pull', url, dst, '--delete', '--max-delete', '2', '--dry-run'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete 3 of 5/);
    expect(r.stdout).not.toMatch(/\(dry run\) delete/);
    expect(r.stdout).toMatch(/would be 0 deleted/);
    const ok = await runCli(['pull', url, dst, '--delete', '--max-delete', '3', '--dry-run'], server);
    expect(ok.code).toBe(0);
    expect(
      ok.stdout
        .split('\n')
        .filter((l) => l.startsWith('(dry run)'))
        .sort(),
    ).toEqual([
      '(dry run) delete x1.txt [no-remote-object]',
      '(dry run) delete x2.txt [no-remote-object]',
      '(dry run) delete x3.txt [no-remote-object]',
    ]);
    expect(treeHashes(dst, [])).toEqual(before);
  });

  it('pull --dry-run refused by the delete guard still lists its downloads, as the real run does them', async () => {
    const { transport, url } = await pushedTree(server, 2, 'pdrygd');
    const dst = tempDir('pdrygd-dst');
    expect((await runCli(['pull', url, dst], server)).code).toBe(0);
    await seed(transport, 'p/f1.txt', 'f1 changed remotely\n');
    await seed(transport, 'p/new.txt', 'new\n');
    writeTree(dst, { 'x1.txt': '1', 'x2.txt': '2', 'x3.txt': '3' });
    const before = treeHashes(dst, []);
    const args = ['pull', url, dst, '--delete', '--max-delete', '2'];
    const actionsOf = (r: Awaited<ReturnType<typeof runCli>>) =>
      r.events.flatMap((e) => (e.type === 'action' ? [`${e.action} ${e.rel}`] : [])).sort();

    const j = await runCli([...args, '--dry-run', '--json'], server);
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/refusing to delete 3 of 5 file\(s\): over --max-delete 2/);
    // The downloads that would still happen are shown; the deletions the real run refuses are not.
    expect(actionsOf(j)).toEqual(['download f1.txt', 'download new.txt']);
    expect(j.summary).toMatchObject({ dryRun: true, downloaded: 2, unchanged: 1, deleted: 0 });

    const t = await runCli([...args, '--dry-run'], server);
    expect(t.code).toBe(2);
    expect(t.stdout.split('\n').filter((l) => l.startsWith('(dry run)'))).toEqual([
      '(dry run) download f1.txt [remote-changed]',
      '(dry run) download new.txt [new]',
    ]);
    expect(t.stdout).toMatch(/would be 2 downloaded.*would be 0 deleted/);
    expect(treeHashes(dst, [])).toEqual(before);

    // The real run does what the dry run said: those downloads, then the same refusal and exit code.
    const real = await runCli([...args, '--json'], server);
    expect(real.code).toBe(2);
    expect(real.stderr).toMatch(/refusing to delete 3 of 5 file\(s\)/);
    expect(real.summary).toMatchObject({ downloaded: 2, deleted: 0 });
    expect(readFileSync(path.join(dst, 'f1.txt'), 'utf8')).toBe('f1 changed remotely\n');
    expect(readFileSync(path.join(dst, 'new.txt'), 'utf8')).toBe('new\n');
    expect(existsSync(path.join(dst, 'x1.txt'))).toBe(true);
  });

  it('pull --dry-run and plan pull into a directory that does not exist yet create nothing', async () => {
    const { transport, url } = await pushedTree(server, 3, 'pdryn');
    await seed(transport, 'p/new.txt', 'new\n');
    const fresh = path.join(tempDir('pdry-parent'), 'fresh');
    const f = await runCli(['pull', url, fresh, '--dry-run', '--json'], server);
    expect(f.stderr).toBe('');
    expect(f.code).toBe(0);
    expect(f.summary).toMatchObject({ dryRun: true, downloaded: 4, failed: 0 });
    expect(existsSync(fresh)).toBe(false);

    // The same for a pull plan into a directory that does not exist yet.
    const planFile = path.join(tempDir('pdry-plan'), 'plan.json');
    const p = await runCli(['plan', 'pull', url, fresh, '--out', planFile], server);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    const doc = JSON.parse(readFileSync(planFile, 'utf8')) as PlanDocument;
    expect(doc.actions.map((a) => [a.kind, a.rel, a.reason]).sort()).toEqual([
      ['download', 'f0.txt', 'new'],
      ['download', 'f1.txt', 'new'],
      ['download', 'f2.txt', 'new'],
      ['download', 'new.txt', 'new'],
    ]);
    expect(existsSync(fresh)).toBe(false);
  });
});
