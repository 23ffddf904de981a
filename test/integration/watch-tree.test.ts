/**
 * `push --watch` where the file events say less than happened, against real servers: folders made
 * several levels at once (`mkdir -p`), whose lower levels the watcher does not watch by itself; a file
 * renamed over another and then away, which the watcher reports as one delete and one create; an
 * edit to `.s3syncignore`, which changes what every path of the tree is.
 * With `--reconcile-every never`: no walk finds them instead.
 */
import { mkdirSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type AnyEvent, type LiveRun, liveSuite, newBucket, servers, spawnCli, waitFor } from '../helpers.js';

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

describe.each(servers())('push --watch, events that say less, on $name', (server) => {
  async function watchFrom(label: string, files: string[], extra: string[] = [], ignore?: string) {
    const { bucket, transport } = await newBucket(server, `wt-${label}`);
    const src = dir(`watch-tree-${label}`);
    if (ignore !== undefined) writeFileSync(path.join(src, '.s3syncignore'), ignore);
    for (const f of files) writeOld(path.join(src, f), `${f} body`);
    const args = ['push', src, `s3://${bucket}/w`, '--watch', '--json', '--settle', '1s'];
    const run = spawnCli([...args, '--reconcile-every', 'never', ...extra], server);
    runs.push(run);
    const ok = await run.until((e) => e.type === 'batch' && (e as Batch).trigger === 'walk');
    expect(ok, run.stderr()).toBe(true);
    const keys = async () => [...(await transport.list('w/')).keys()].sort();
    return { src, run, keys };
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
});
