/**
 * Pull into a filesystem that ignores case (exFAT, through FUSE on a loop device: what macOS and
 * Windows give by default). Keys that differ only in case name one file there: the first written
 * stays, each other is refused on every pull, and a local file under another case is never replaced;
 * keys whose folders differ only in case keep one spelling's keys, the other's refused as well.
 * A `--files-from` list that names one file in two spellings keeps the spelling the file is stored as.
 * Needs root, exfat-fuse and exfatprogs (CI installs them); skipped with a notice otherwise.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { imageFs, newBucket, objectMd5, runCli, seedObject, servers, tempFolders } from '../helpers.js';

const exfat = imageFs({
  test: 'case-insensitive',
  kind: 'exFAT',
  mkfs: (image) => ['mkfs.exfat', [image]],
  loopDevice: true,
  mountCommand: (loop, dir) => ['mount.exfat-fuse', [loop, dir]],
});
const { work, dir: mnt } = exfat;
beforeAll(() => exfat.mount());
afterAll(() => exfat.unmount());

/** Skips the test, with a notice, where exFAT could not be mounted. */
const skipped = (ctx: TestContext) => exfat.skipped(ctx);

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error: '));
const UNSEEN =
  "not written: a file the scan did not see is here now (made since, or another key's file on a filesystem that ignores case)";

describe.each(servers())('pull into a filesystem that ignores case on $name', (server) => {
  it('writes one of two keys that differ only in case, and never replaces a local file', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 't-'));
    writeFileSync(path.join(target, 'OK.txt'), 'local edits');
    const { bucket, transport } = await newBucket(server, 'nocase');
    const objects = { Readme: 'mixed case', README: 'upper case', 'ok.txt': 'the object', 'd/x.txt': 'x' };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    const pull = () => runCli(['pull', `s3://${bucket}/p`, target], server);

    const first = await pull();
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).not.toMatch(/\n\s+at /);
    // Which of the two is written first is the order the downloads end in; the other is refused.
    const errors = errorLines(first.stderr);
    const refused = errors.some((l) => l.startsWith('error: README: ')) ? 'README' : 'Readme';
    const written = refused === 'README' ? 'Readme' : 'README';
    expect(errors.sort()).toEqual([`error: ${refused}: ${UNSEEN}`, `error: ok.txt: ${UNSEEN}`].sort());
    expect(readFileSync(path.join(target, 'OK.txt'), 'utf8')).toBe('local edits');
    expect(readFileSync(path.join(target, written), 'utf8')).toBe(objects[written]);
    expect(readFileSync(path.join(target, 'd/x.txt'), 'utf8')).toBe('x');
    expect(readdirSync(target).sort()).toEqual(['.s3sync', 'OK.txt', written, 'd'].sort());

    // Every later pull: the same two refused before any GET, nothing replaced, never a success.
    const again = await pull();
    expect(again.code, again.stderr).toBe(1);
    expect(errorLines(again.stderr).sort()).toEqual(errors.sort());
    expect(again.stdout).toMatch(/ 0 downloaded, /);
    expect(again.stdout).toMatch(/\(ListObjectsV2 1\)/);
    expect(readFileSync(path.join(target, 'OK.txt'), 'utf8')).toBe('local edits');
    expect(readFileSync(path.join(target, written), 'utf8')).toBe(objects[written]);
  });
  it('a name the filesystem refuses (? * : " < > |) is one clear error per file, on every pull', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'n-'));
    const { bucket, transport } = await newBucket(server, 'nocase-names');
    const objects = {
      'a?b.txt': 'q',
      'say "hi".txt': 'dq',
      'at:colon.txt': 'c',
      'sub/<angle>.txt': 'lt',
      'pipe|d/x.txt': 'p',
      'star*/deep/y.txt': 's',
      'plain.txt': 'fine',
      'sub/ok.txt': 'fine too',
    };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    const refused = (what: string, rel: string, name: string) =>
      `error: ${rel}: not written: the file system refuses ${what === 'file' ? 'this name' : `the folder name '${name}'`}`;
    const expected = [
      refused('file', 'a?b.txt', 'a?b.txt'),
      refused('file', 'say "hi".txt', 'say "hi".txt'),
      refused('file', 'at:colon.txt', 'at:colon.txt'),
      refused('file', 'sub/<angle>.txt', '<angle>.txt'),
      refused('folder', 'pipe|d/x.txt', 'pipe|d'),
      refused('folder', 'star*/deep/y.txt', 'star*'),
    ].sort();
    writeFileSync(path.join(target, 'mine.txt'), 'local');
    for (const run of [1, 2]) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target, '--delete'], server);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/ENOENT|EINVAL|\.part|\n\s+at /);
      const lines = errorLines(r.stderr);
      expect(lines.filter((l) => !l.startsWith('error: not deleting')).sort()).toEqual(expected);
      // What the filesystem takes is written; nothing is deleted after the errors, no temp file is left.
      const [, unchanged, downloaded, recorded] = / (\d+) unchanged, (\d+) downloaded, (\d+) recorded, /.exec(
        r.stdout,
      )!;
      // exFAT stamps in 10 ms ticks: a file written in the lock's tick is hashed again, and recorded.
      expect([Number(unchanged) + Number(recorded), Number(downloaded)]).toEqual(run === 1 ? [0, 2] : [2, 0]);
      expect(r.stdout).toMatch(/ 0 deleted \(1 skipped after errors\), 6 failed/);
      expect(readdirSync(target).sort()).toEqual(['.s3sync', 'mine.txt', 'plain.txt', 'sub']);
      expect(readdirSync(path.join(target, 'sub'))).toEqual(['ok.txt']);
      expect(tempFolders(target)).toEqual([]);
    }
  });

  it('pull --delete follows a rename by case upstream: a download over the file, never a delete', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'r-'));
    const { bucket, transport } = await newBucket(server, 'nocase-rename');
    const first = { README: 'v1', 'docs/a.txt': 'a1', LICENSE: 'same', o1: '1', o2: '2' };
    for (const [rel, body] of Object.entries(first)) await seedObject(transport, `p/${rel}`, body);
    const pull = (...flags: string[]) =>
      runCli(['pull', `s3://${bucket}/p`, target, '--delete', ...flags], server);
    expect((await pull()).code).toBe(0);
    // Renamed upstream by case only: one file with new content, one as it was.
    await transport.deleteKeys(['p/README', 'p/LICENSE']);
    await seedObject(transport, 'p/Readme', 'v2, renamed');
    await seedObject(transport, 'p/License', 'same');

    const dry = await pull('--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout.split('\n').filter((l) => l.startsWith('(dry run)'))).toEqual([
      '(dry run) download Readme [size-changed]',
    ]);
    for (const run of [1, 2, 3]) {
      const r = await pull('--json');
      expect(r.code, `run ${run}: ${JSON.stringify(r.summary?.errors)}`).toBe(0);
      expect(r.summary).toMatchObject({ downloaded: run === 1 ? 1 : 0, deleted: 0, failed: 0 });
      expect(readFileSync(path.join(target, 'Readme'), 'utf8')).toBe('v2, renamed');
      expect(readFileSync(path.join(target, 'License'), 'utf8')).toBe('same');
      expect(readdirSync(target)).toHaveLength(6);
    }
    // A folder renamed by case: exFAT through FUSE numbers the file anew at each lookup of the other
    // spelling, so nothing proves it is the same file: refused as another key's, never deleted.
    await transport.deleteKeys(['p/docs/a.txt']);
    await seedObject(transport, 'p/Docs/a.txt', 'a2');
    const r = await pull('--json');
    expect(r.code).toBe(1);
    expect(r.summary?.errors).toEqual([{ rel: 'Docs/a.txt', message: UNSEEN }]);
    expect(r.summary).toMatchObject({ downloaded: 0, deleted: 0 });
    expect(readFileSync(path.join(target, 'docs/a.txt'), 'utf8')).toBe('a1');
  });

  it('keys whose folders differ only in case: one spelling written, the other refused on every pull', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'f-'));
    const { bucket, transport } = await newBucket(server, 'nocase-folders');
    const objects = { 'd2/Docs/x': 'x', 'd2/docs/y': 'y', 'd2/Docs/sub/z': 'z', 'top.txt': 't' };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    const url = `s3://${bucket}/p`;
    const why =
      "not written: its folder 'd2/docs' is the folder 'd2/Docs' of other keys here (the file system ignores case)";
    for (const run of [1, 2, 3]) {
      const r = await runCli(['pull', url, target, '--json'], server);
      expect(r.code, `run ${run}: ${JSON.stringify(r.summary?.errors)}`).toBe(1);
      expect(r.summary?.errors).toEqual([{ rel: 'd2/docs/y', message: why }]);
      expect(r.summary).toMatchObject({ downloaded: run === 1 ? 3 : 0, failed: 1 });
      expect(readdirSync(path.join(target, 'd2'))).toEqual(['Docs']);
      expect(readdirSync(path.join(target, 'd2/Docs')).sort()).toEqual(['sub', 'x']);
    }
    // Nothing pulled under a spelling of another key: a push of the unchanged tree adds no key.
    const push = await runCli(['push', target, url, '--json'], server);
    expect(push.code, push.stderr).toBe(0);
    expect(push.summary).toMatchObject({ uploaded: 0, copied: 0 });
    expect([...(await transport.list('p/')).keys()].sort()).toEqual(Object.keys(objects).sort());
  });

  it('applies a plan that names both keys: one is written, the other refused', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'a-'));
    const { bucket, transport } = await newBucket(server, 'nocase-apply');
    const objects = { Readme: 'mixed case', README: 'upper case' };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    const planFile = path.join(work, `plan-${server.name}.json`);
    const plan = await runCli(['plan', 'pull', `s3://${bucket}/p`, target, '--out', planFile], server);
    expect(plan.code, plan.stderr).toBe(0);
    const r = await runCli(['apply', planFile], server);
    expect(r.code, r.stderr).toBe(1);
    const errors = errorLines(r.stderr);
    expect(errors).toHaveLength(1);
    const refused = errors[0]!.startsWith('error: README: ') ? 'README' : 'Readme';
    const written = refused === 'README' ? 'Readme' : 'README';
    expect(errors[0]).toBe(`error: ${refused}: ${UNSEEN}`);
    expect(readFileSync(path.join(target, written), 'utf8')).toBe(objects[written]);
    expect(readdirSync(target).sort()).toEqual(['.s3sync', written].sort());
  });

  it('pulls a --files-from list naming one file twice: the stored spelling only, on every run', async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'l-'));
    const { bucket, transport } = await newBucket(server, 'nocase-list');
    const objects = { Readme: 'mixed case', README: 'upper case', 'x.txt': 'x' };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    const list = path.join(work, `list-pull-${server.name}.txt`);
    writeFileSync(list, 'README\nReadme\nx.txt\n');
    const pull = () => runCli(['pull', `s3://${bucket}/p`, target, '--files-from', list], server);

    const first = await pull();
    expect(first.code, first.stderr).toBe(1);
    const refused = errorLines(first.stderr)[0]?.startsWith('error: README: ') ? 'README' : 'Readme';
    const written = refused === 'README' ? 'Readme' : 'README';
    expect(errorLines(first.stderr)).toEqual([`error: ${refused}: ${UNSEEN}`]);
    expect(readdirSync(target).sort()).toEqual(['.s3sync', written, 'x.txt'].sort());

    // Both spellings find the file now: the other one is refused, before any GET, and never written
    // over the first (which would flip the file between the two objects on each run).
    for (let run = 0; run < 2; run++) {
      const again = await pull();
      expect(again.code, again.stderr).toBe(1);
      expect(errorLines(again.stderr)).toEqual([
        `error: ${refused}: this is the file stored as "${written}" (the filesystem ignores case): skipped`,
      ]);
      expect(again.stdout).toMatch(/ 0 downloaded, .* 1 failed/);
      expect(readFileSync(path.join(target, written), 'utf8')).toBe(objects[written]);
      expect(readdirSync(target).sort()).toEqual(['.s3sync', written, 'x.txt'].sort());
    }
  });

  it('pushes a --files-from list naming one file twice: the stored spelling only, and no delete', async (ctx) => {
    if (skipped(ctx)) return;
    const source = mkdtempSync(path.join(mnt, 's-'));
    writeFileSync(path.join(source, 'Readme'), 'local edits');
    const { bucket, transport } = await newBucket(server, 'nocase-push');
    for (const [rel, body] of Object.entries({ README: 'theirs', 'gone.txt': 'gone' }))
      await seedObject(transport, `p/${rel}`, body);
    const list = path.join(work, `list-push-${server.name}.txt`);
    // The wrong spelling first: the stored one decides, not the order.
    writeFileSync(list, 'README\nReadme\ngone.txt\n');
    const r = await runCli(['push', source, `s3://${bucket}/p`, '--files-from', list, '--delete'], server);
    expect(r.code, r.stderr).toBe(1);
    expect(errorLines(r.stderr)).toEqual([
      'error: README: this is the file stored as "Readme" (the filesystem ignores case): skipped',
      'error: not deleting 1 file(s): 1 error(s) happened in this run',
    ]);
    const md5 = (text: string) => createHash('md5').update(text).digest('hex');
    expect(await objectMd5(transport, 'p/Readme')).toBe(md5('local edits'));
    expect(await objectMd5(transport, 'p/README')).toBe(md5('theirs'));
    expect(await objectMd5(transport, 'p/gone.txt')).toBe(md5('gone'));
  });

  it("a key named as s3sync's own in another case never becomes its filter file nor enters its state", async (ctx) => {
    if (skipped(ctx)) return;
    const target = mkdtempSync(path.join(mnt, 'o-'));
    const { bucket, transport } = await newBucket(server, 'nocase-own');
    const objects = {
      'data.txt': 'v1',
      'keep.bin': 'bin',
      '.S3SyncIgnore': '*.txt\n',
      '.S3sync/evil.txt': 'evil',
    };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `ig/${rel}`, body);
    const first = await runCli(['pull', `s3://${bucket}/ig`, target], server);
    expect(first.code, first.stderr).toBe(0);
    // The manifest's name in the state folder, spelled in another case, is not written over it either.
    const [manifest] = readdirSync(path.join(target, '.s3sync')).filter((n) => n.endsWith('.json'));
    expect(manifest).toBeDefined();
    await seedObject(transport, `ig/.S3SYNC/${manifest!.toUpperCase()}`, '{"not":"a manifest"}');
    const second = await runCli(['pull', `s3://${bucket}/ig`, target], server);
    expect(second.code, second.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['.s3sync', 'data.txt', 'keep.bin']);
    expect(readdirSync(path.join(target, '.s3sync')).filter((n) => !n.startsWith('tmp-'))).toEqual([
      manifest,
    ]);
    expect(readFileSync(path.join(target, '.s3sync', manifest!), 'utf8')).toMatch(
      /^\{"schema":"s3sync-manifest"/,
    );

    // No filter file came with the pull: a changed .txt is told apart and pulled, a new one pushed.
    await seedObject(transport, 'ig/data.txt', 'v2, changed');
    const check = await runCli(['check', target, `s3://${bucket}/ig`], server);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toMatch(/^1 difference\(s\): 1 same, 0 only local, 0 only remote, 1 differ; /m);
    const third = await runCli(['pull', `s3://${bucket}/ig`, target], server);
    expect(third.code, third.stderr).toBe(0);
    expect(readFileSync(path.join(target, 'data.txt'), 'utf8')).toBe('v2, changed');
    writeFileSync(path.join(target, 'notes.txt'), 'new');
    const push = await runCli(['push', target, `s3://${bucket}/out`], server);
    expect(push.code, push.stderr).toBe(0);
    expect([...(await transport.list('out/')).keys()].sort()).toEqual(['data.txt', 'keep.bin', 'notes.txt']);
  });
});
