/**
 * An applied pull plan acts only on the files as the plan found them, also for what changes during the
 * apply: a file written to in place while the apply runs (same inode, `>>`, an old mtime put back) is
 * neither replaced by its download nor deleted by the plan's --delete, where a plain pull acts on the
 * file its scan found. Deletions run after every transfer, so a slow download leaves the window open.
 */
import { appendFileSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MiB, newBucket, runCli, servers, spawnCli, trackedDirs, writeTree } from '../helpers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

/** Long enough for a loaded machine; a run that never ends fails the test rather than hanging it. */
const RUN_MS = 120_000;

/** A pulled tree, then the bucket moved on, and a pull plan of it: big.bin new, edit.txt changed, keep.txt gone. */
async function planned(server: Parameters<typeof newBucket>[0], label: string) {
  const { bucket } = await newBucket(server, label);
  const src = dirs.dir(`${label}-src`);
  const dst = dirs.dir(`${label}-dst`);
  writeTree(src, { 'keep.txt': 'keep v1\n', 'edit.txt': 'edit v1\n' });
  const url = `s3://${bucket}/p`;
  expect((await runCli(['push', src, url], server)).code).toBe(0);
  expect((await runCli(['pull', url, dst], server)).code).toBe(0);
  writeFileSync(path.join(src, 'edit.txt'), 'edit v2 from the bucket\n');
  writeFileSync(path.join(src, 'big.bin'), Buffer.alloc(8 * MiB, 7));
  rmSync(path.join(src, 'keep.txt'));
  const moved = await runCli(['push', src, url, '--delete', '--force'], server);
  expect(moved.code, moved.stderr).toBe(0);
  const planFile = path.join(dirs.dir(`${label}-plan`), 'plan.json');
  const p = await runCli(['plan', 'pull', url, dst, '--delete', '--force', '--out', planFile], server);
  expect(p.code, p.stderr).toBe(0);
  const kinds = Object.fromEntries(
    (JSON.parse(readFileSync(planFile, 'utf8')) as { actions: { rel: string; kind: string }[] }).actions.map(
      (a) => [a.rel, a.kind],
    ),
  );
  expect(kinds).toEqual({ 'big.bin': 'download', 'edit.txt': 'download', 'keep.txt': 'delete-local' });
  return { dst, planFile };
}

/**
 * Applies the plan and, once it has checked the plan's files (its plan event, before the first
 * transfer), appends to `rel` in place and puts its old mtime back: only its ctime and content tell.
 * edit.txt waits behind big.bin (one worker, 4 s at 2 MiB/s), and the deletion waits for both.
 */
async function applyEditing(
  server: Parameters<typeof newBucket>[0],
  planFile: string,
  dst: string,
  rel: string,
) {
  const live = spawnCli(['apply', planFile, '--json', '--bwlimit', '2MiB', '--workers', '1'], server);
  expect(await live.until((e) => e.type === 'plan', RUN_MS), live.stdout() + live.stderr()).toBe(true);
  const f = path.join(dst, rel);
  const before = statSync(f);
  appendFileSync(f, 'the user edit\n');
  utimesSync(f, before.atime, before.mtime);
  const { code } = await live.exited;
  const errors = live.events.filter((e) => e.type === 'error') as { rel?: string; message: string }[];
  const summary = live.events.find((e) => e.type === 'summary');
  return { code, errors, summary, out: live.stdout() + live.stderr() };
}

const WHY = /the file changed since the plan was made \(written to during the apply\)/;

describe.each(servers())('an applied pull plan and files written to during the apply, on $name', (server) => {
  it("a file the plan deletes, edited in place during the apply, is kept: 'not deleted', exit 1", async () => {
    const { dst, planFile } = await planned(server, 'apply-during-del');
    const r = await applyEditing(server, planFile, dst, 'keep.txt');
    expect(r.code, r.out).toBe(1);
    expect(readFileSync(path.join(dst, 'keep.txt'), 'utf8')).toBe('keep v1\nthe user edit\n');
    expect(
      r.errors.map((e) => [e.rel, e.message]),
      r.out,
    ).toEqual([['keep.txt', expect.stringMatching(/^keep\.txt: not deleted: /)]]);
    expect(r.errors[0]!.message).toMatch(WHY);
    expect(r.summary).toMatchObject({ downloaded: 2, deleted: 0, failed: 1, exitCode: 1 });
    expect(readFileSync(path.join(dst, 'edit.txt'), 'utf8')).toBe('edit v2 from the bucket\n');
  }, 240_000);

  it("a file the plan downloads, edited in place during the apply, is kept: 'not written', exit 1", async () => {
    const { dst, planFile } = await planned(server, 'apply-during-get');
    const r = await applyEditing(server, planFile, dst, 'edit.txt');
    expect(r.code, r.out).toBe(1);
    expect(readFileSync(path.join(dst, 'edit.txt'), 'utf8')).toBe('edit v1\nthe user edit\n');
    expect(r.errors.find((e) => e.rel === 'edit.txt')?.message, r.out).toMatch(WHY);
    expect(readFileSync(path.join(dst, 'big.bin')).equals(Buffer.alloc(8 * MiB, 7))).toBe(true);
    expect(r.summary).toMatchObject({ downloaded: 1, failed: 1, exitCode: 1 });
  }, 240_000);
});
