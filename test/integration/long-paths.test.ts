/**
 * Paths longer than the system allows (PATH_MAX, 4096 bytes on Linux) while every name in them is short:
 * a push of a tree deeper than that skips the folder it cannot reach, with everything under it, in one
 * line that does not repeat the path; a pull into a target folder that deep says the path is too long,
 * not that a 120-byte name is.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newBucket, runCli, seedObject, servers, trackedDirs } from '../helpers.js';

const tracked = trackedDirs();
afterAll(() => {
  // Node's recursive removal goes by absolute paths, which fail past PATH_MAX; rm(1) walks by descriptor.
  for (const d of deepTrees) execFileSync('rm', ['-rf', d]);
  tracked.removeAll();
});
const deepTrees: string[] = [];

const TOO_LONG = 'the path is longer than the system allows';
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error: '));

/**
 * `root/ok.txt` and `root/deep/dddd/…` 900 folders deep (about 4,500 bytes) with a file at depth 10
 * and one at the bottom; made by relative steps, as an absolute mkdir fails past PATH_MAX.
 */
function deepTree(root: string): void {
  deepTrees.push(root);
  writeFileSync(path.join(root, 'ok.txt'), 'ok');
  mkdirSync(path.join(root, 'deep'));
  execFileSync('bash', [
    '-c',
    // One mkdir -p (it steps down by chdir), then builtin cd and echo: no process per level.
    'cd "$1" && p=$(printf "dddd/%.0s" $(seq 1 900)) && mkdir -p "$p" && echo x > "$2" && for i in $(seq 1 900); do cd dddd || exit 1; done && echo y > bottom.txt',
    'deep-tree',
    path.join(root, 'deep'),
    `${'dddd/'.repeat(10)}f10.txt`,
  ]);
}

describe.each(servers())('paths longer than the system allows on $name', (server) => {
  it('a push skips the folder past the limit with everything under it, in one short line', async () => {
    const root = tracked.dir('deep-push');
    deepTree(root);
    const { bucket, transport } = await newBucket(server, 'deep-push');
    for (const command of ['push', 'check']) {
      const r = await runCli([command, root, `s3://${bucket}/p`], server);
      expect(r.code, r.stderr).toBe(1);
      const lines = errorLines(r.stderr);
      expect(lines).toHaveLength(1);
      const [line] = lines as [string];
      const rel = line.slice('error: '.length, line.lastIndexOf(`: ${TOO_LONG}`));
      expect(rel).toMatch(/^deep(\/dddd)+$/);
      expect(line).toBe(`error: ${rel}: ${TOO_LONG}: skipped, with everything under it`);
      // Not Node's message, which repeats the whole absolute path after the relative one.
      expect(line).not.toContain(root);
    }
    const keys = [...(await transport.list('p/')).keys()].sort();
    expect(keys).toEqual(['deep/dddd/dddd/dddd/dddd/dddd/dddd/dddd/dddd/dddd/dddd/f10.txt', 'ok.txt']);
  });

  it('a pull into a folder near the limit says the path is too long, not that a short name is', async () => {
    const { bucket, transport } = await newBucket(server, 'deep-pull');
    const folder = 'y'.repeat(120);
    await seedObject(transport, `p/${folder}/file.txt`, 'long');
    await seedObject(transport, 'p/a.txt', 'short');
    // A target of 3,983 bytes: the 120-byte folder name fits NAME_MAX, the path to it does not fit
    // PATH_MAX, and the target's own state files (.s3sync/…) still fit.
    let target = tracked.dir('deep-pull');
    for (let i = 0; i < 19; i++) target = path.join(target, 'x'.repeat(200));
    target = path.join(target, 'w'.repeat(3983 - target.length - 1));
    mkdirSync(target, { recursive: true });
    expect(target.length + 1 + folder.length).toBeGreaterThan(4096);
    const r = await runCli(['pull', `s3://${bucket}/p`, target, '--json'], server);
    expect(r.code, r.stderr).toBe(1);
    expect(r.summary?.errors).toEqual([{ rel: `${folder}/file.txt`, message: `not written: ${TOO_LONG}` }]);
    expect(readdirSync(target).sort()).toEqual(['.s3sync', 'a.txt']);
  });

  it('a refused key leaves none of the empty folders the pull made for it, and every other folder', async () => {
    const { bucket, transport } = await newBucket(server, 'deep-dirs');
    const seg = (c: string) => c.repeat(200);
    // Under a target of 3,500 bytes a third 200-byte name passes PATH_MAX: two folders made, then refused.
    const [before, kept, made] = [seg('a'), seg('k'), seg('m')];
    const refusedKeys = [
      `${before}/${seg('b')}/${seg('c')}/f.txt`,
      `${kept}/${seg('l')}/${seg('n')}/f.txt`,
      `${made}/${seg('o')}/${seg('q')}/f.txt`,
      // Its folders fit, its file does not: refused once both are made.
      `${seg('r')}/${seg('s')}/${seg('t')}`,
    ];
    for (const key of refusedKeys) await seedObject(transport, `p/${key}`, 'deep');
    await seedObject(transport, `p/${kept}/ok.txt`, 'kept');
    let target = tracked.dir('deep-dirs');
    for (let i = 0; i < 16; i++) target = path.join(target, 'x'.repeat(200));
    target = path.join(target, 'w'.repeat(3500 - target.length - 1));
    mkdirSync(path.join(target, before), { recursive: true });
    const r = await runCli(['pull', `s3://${bucket}/p`, target, '--json'], server);
    expect(r.code, r.stderr).toBe(1);
    expect(r.summary?.errors?.map((e: { rel: string }) => e.rel).sort()).toEqual([...refusedKeys].sort());
    // The folder there before stays (empty, as it was), the one holding a file stays with only that
    // file, and the folders made only on the way to a refused key are gone.
    expect(readdirSync(target).sort()).toEqual(['.s3sync', before, kept].sort());
    expect(readdirSync(path.join(target, before))).toEqual([]);
    expect(readdirSync(path.join(target, kept))).toEqual(['ok.txt']);
  });
});
