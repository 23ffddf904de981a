/**
 * `push --watch` where the file events say less than happened, against real servers: folders made
 * several levels at once (`mkdir -p`), whose lower levels the watcher does not watch by itself; a file
 * renamed over another and then away, which the watcher reports as one delete and one create; an
 * edit to `.s3syncignore`, which changes what every path of the tree is.
 * With `--reconcile-every never`: no walk finds them instead.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  type AnyEvent,
  type LiveRun,
  liveSuite,
  md5Hex,
  newBucket,
  objectMd5,
  servers,
  spawnCli,
  waitFor,
} from '../helpers.js';

const { dir, runs } = liveSuite();

type Batch = AnyEvent & {
  type: 'batch';
  trigger: 'change' | 'walk' | 'look';
  uploaded: number;
  deleted: number;
};
const batches = (run: LiveRun) => run.events.filter((e): e is Batch => e.type === 'batch');
const diag = (run: LiveRun) =>
  `${run.stderr()}\n${run.events
    .slice(-8)
    .map((e) => JSON.stringify(e))
    .join('\n')}`;

/** A file written an hour in the past: a walk sends it at once, holding nothing back. */
function writeOld(file: string, body: string): void {
  writeFileSync(file, body);
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(file, past, past);
}

/** Run as this user, owner of the tree: root reads any file, so a case about unreadable ones cannot run as root. */
type RunAs = { uid: number; gid: number };

/**
 * nobody, when the suite runs as root (undefined: it runs as itself); null, with a notice, when root
 * cannot switch to it.
 */
function unprivileged(): RunAs | undefined | null {
  if (process.getuid?.() !== 0) return undefined;
  const nobody = { uid: 65534, gid: 65534 };
  const probe = spawnSync('true', [], nobody);
  if (probe.error || probe.status !== 0) {
    console.warn(
      '[watch-tree] NOTICE: running as root and cannot switch to nobody: unreadable-folder case skipped',
    );
    return null;
  }
  return nobody;
}

const errorsOf = (run: LiveRun) =>
  run.events.filter((e) => e.type === 'error') as Array<AnyEvent & { rel?: string; message: string }>;

describe.each(servers())('push --watch, events that say less, on $name', (server) => {
  async function watchFrom(
    label: string,
    files: string[],
    extra: string[] = [],
    ignore?: string,
    as?: RunAs,
    home?: string,
  ) {
    const { bucket, transport } = await newBucket(server, `wt-${label}`);
    const src = dir(`watch-tree-${label}`);
    if (ignore !== undefined) writeFileSync(path.join(src, '.s3syncignore'), ignore);
    for (const f of files) {
      mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
      writeOld(path.join(src, f), `${f} body`);
    }
    if (as)
      for (const p of [src, ...files.flatMap((f) => [path.dirname(f), f])])
        chownSync(path.resolve(src, p), as.uid, as.gid);
    const args = ['push', src, `s3://${bucket}/w`, '--watch', '--json', '--settle', '1s'];
    const run = spawnCli([...args, '--reconcile-every', 'never', ...extra], server, {
      ...as,
      ...(home && { env: { HOME: home } }),
    });
    runs.push(run);
    const ok = await run.until((e) => e.type === 'batch' && (e as Batch).trigger === 'walk');
    expect(ok, run.stderr()).toBe(true);
    const keys = async () => [...(await transport.list('w/')).keys()].sort();
    return { src, run, keys, transport };
  }

  async function stop(run: LiveRun) {
    run.child.kill('SIGTERM');
    return (await run.exited).code;
  }

  it('folders made three levels at once: a file written later at each level is uploaded', async () => {
    const { src, run, keys } = await watchFrom('mkdir-p', ['keep.txt']);
    mkdirSync(path.join(src, 't/a/b/c'), { recursive: true });
    writeFileSync(path.join(src, 't/a/b/c/early.txt'), 'written at once');
    // Long after the folders' events: only a watch on each level sees these.
    await sleep(2500);
    writeFileSync(path.join(src, 't/a/b/c/f.txt'), 'later, deepest');
    writeFileSync(path.join(src, 't/a/b/g.txt'), 'later, middle');
    const want = ['keep.txt', 't/a/b/c/early.txt', 't/a/b/c/f.txt', 't/a/b/g.txt'];
    const all = () => batches(run).reduce((n, b) => n + b.uploaded, 0) >= want.length;
    expect(await waitFor(all, run, 10_000), diag(run)).toBe(true);
    expect(await stop(run), diag(run)).toBe(0);
    expect(await keys()).toEqual(want);
  });

  it('an edit to .s3syncignore is applied to the whole tree: a file it no longer leaves out is uploaded', async () => {
    const { src, run, keys } = await watchFrom('ignore-edit', ['keep.txt', 'old.log'], [], '*.log\n');
    expect(await keys()).toEqual(['keep.txt']);
    // old.log itself does not change: no event names it.
    writeFileSync(path.join(src, '.s3syncignore'), '# logs too\n');
    const sent = () =>
      batches(run)
        .filter((b) => b.trigger === 'walk')
        .slice(1)
        .some((b) => b.uploaded === 1);
    expect(await waitFor(sent, run, 10_000), diag(run)).toBe(true);
    expect(await stop(run), diag(run)).toBe(0);
    expect(await keys()).toEqual(['keep.txt', 'old.log']);
  });

  it('--delete: a file renamed over another, then away, leaves neither object behind', async () => {
    const keep = ['k1.txt', 'k2.txt', 'k3.txt', 'k4.txt', 'k5.txt', 'k6.txt'];
    const { src, run, keys } = await watchFrom('over-away', [...keep, 'x.txt', 'y.txt'], ['--delete']);
    // The watcher merges "x created, x deleted" away: it reports y deleted and z created only.
    renameSync(path.join(src, 'y.txt'), path.join(src, 'x.txt'));
    renameSync(path.join(src, 'x.txt'), path.join(src, 'z.txt'));
    const gone = () => batches(run).reduce((n, b) => n + b.deleted, 0) >= 2;
    expect(await waitFor(gone, run, 10_000), diag(run)).toBe(true);
    // Under load the watcher may hand the two renames over in more than one delivery: z.txt (a copy of
    // y.txt's object, or an upload) can come in a batch after the deletes.
    for (const until = Date.now() + 10_000; Date.now() < until && !(await keys()).includes('z.txt'); )
      await sleep(100);
    expect(await stop(run), diag(run)).toBe(0);
    expect(await keys()).toEqual([...keep, 'z.txt']);
  });

  it.each([
    ['--delete', ['--delete'], ['dirx', 'filex/n', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']],
    [
      'no --delete',
      [],
      ['dirx', 'dirx/in1', 'dirx/in2', 'filex', 'filex/n', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6'],
    ],
  ])(
    'a folder replaced by a file of its name, and a file by a folder (%s): both sent, exit 0',
    async (_what, extra, want) => {
      const keep = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
      const label = extra.length > 0 ? 'swap-del' : 'swap';
      const { src, run, keys } = await watchFrom(label, [...keep, 'dirx/in1', 'dirx/in2', 'filex'], extra);
      rmSync(path.join(src, 'filex'));
      mkdirSync(path.join(src, 'filex'));
      writeFileSync(path.join(src, 'filex/n'), 'nested');
      rmSync(path.join(src, 'dirx'), { recursive: true });
      // Its old files' events name paths under what is a file now: their lstat fails with ENOTDIR.
      writeFileSync(path.join(src, 'dirx'), 'now a file');
      // The walk at the start sent the others: dirx and filex/n are the batches'.
      const sent = () =>
        batches(run)
          .filter((b) => b.trigger !== 'walk')
          .reduce((n, b) => n + b.uploaded, 0) >= 2;
      expect(await waitFor(sent, run, 15_000), diag(run)).toBe(true);
      if (extra.length > 0) {
        const gone = () => batches(run).reduce((n, b) => n + b.deleted, 0) >= 3;
        expect(await waitFor(gone, run, 15_000), diag(run)).toBe(true);
      }
      expect(errorsOf(run), diag(run)).toEqual([]);
      expect(await stop(run), diag(run)).toBe(0);
      expect(await keys()).toEqual(want);
    },
  );

  it('a changed file in a folder made unreadable fails alone: the batch sends the rest, and the folder once readable', async () => {
    const as = unprivileged();
    if (as === null) return;
    const home = dir('watch-tree-unreadable-home');
    if (as) chownSync(home, as.uid, as.gid);
    const { src, run, keys, transport } = await watchFrom(
      'unreadable',
      ['a', 'c', 'sub/b'],
      [],
      undefined,
      as,
      home,
    );
    const holds = async (rel: string, body: string) =>
      (await objectMd5(transport, `w/${rel}`).catch(() => undefined)) === md5Hex(body);
    const written = Date.now();
    writeFileSync(path.join(src, 'sub/b'), 'b changed');
    writeFileSync(path.join(src, 'a'), 'a changed');
    writeFileSync(path.join(src, 'c'), 'c changed');
    chmodSync(path.join(src, 'sub'), 0o000);
    chmodSync(path.join(src, 'a'), 0o000);
    try {
      // c goes in the batch that finds sub and a unreadable, each its own error.
      const told = () => {
        const rels = new Set(errorsOf(run).map((e) => e.rel));
        return (
          rels.has('sub') && rels.has('a') && batches(run).some((b) => b.trigger !== 'walk' && b.uploaded > 0)
        );
      };
      expect(await waitFor(told, run, 15_000), diag(run)).toBe(true);
      expect(await holds('c', 'c changed'), diag(run)).toBe(true);
      // Unreadable for longer than a path keeps changing before the watch says so (10 s): a path that
      // failed held still, and its event when readable again is no sign that it keeps changing.
      await sleep(Math.max(0, written + 11_000 - Date.now()));
    } finally {
      chmodSync(path.join(src, 'sub'), 0o755);
      chmodSync(path.join(src, 'a'), 0o644);
    }
    // Readable again, and a written once more: both are sent.
    writeFileSync(path.join(src, 'a'), 'a fixed');
    const all = async () => (await holds('sub/b', 'b changed')) && (await holds('a', 'a fixed'));
    for (const until = Date.now() + 20_000; Date.now() < until && !(await all()); ) await sleep(200);
    expect(await all(), diag(run)).toBe(true);
    const code = await stop(run);
    // Never the batch as a whole, nor a path said to keep changing when it only could not be read.
    const said = run.events.map((e) => String((e as { message?: unknown }).message ?? ''));
    expect(
      said.filter((m) => /unexpected error|EACCES: permission denied, lstat|still changing/.test(m)),
      diag(run),
    ).toEqual([]);
    expect(code, diag(run)).toBe(0);
    expect(await keys()).toEqual(['a', 'c', 'sub/b']);
  });
});
