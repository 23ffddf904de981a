/**
 * Pull onto file systems whose rules for names are not ext4's: NTFS as Windows writes it (ntfs-3g -o
 * windows_names: no device names, no trailing dot or space, none of ? * : " < > |, up to 255 UTF-16
 * units), and ext4's own limit of 255 bytes. A name the file system refuses is one line naming the key,
 * no temp file left, and no GET on the next pull; a name it takes is written, even past 255 bytes.
 * The NTFS part needs root and ntfs-3g (CI installs it); skipped with a notice otherwise. s3rver keeps
 * each key as a path of its own disk, so it takes no name over 255 bytes: those parts run on Ceph.
 */
import { mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { imageFs, newBucket, runCli, seedObject, servers, tempFolders } from '../helpers.js';

const ntfsFs = imageFs({
  test: 'other-filesystems',
  kind: 'NTFS',
  mkfs: (image) => ['mkntfs', ['-F', '-Q', image]],
  mountCommand: (image, dir) => ['ntfs-3g', ['-o', 'windows_names', image, dir]],
});
const { work, dir: ntfs } = ntfsFs;
beforeAll(() => ntfsFs.mount());
afterAll(() => ntfsFs.unmount());

/** Skips the test, with a notice, where NTFS could not be mounted. */
const noNtfs = (ctx: TestContext) => ntfsFs.skipped(ctx);

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('error: '));
/** 200 × 'é': 400 bytes, 200 UTF-16 units: too long for ext4, not for exFAT or NTFS. */
const LONG = 'é'.repeat(200);

describe.each(servers())('names on other file systems on $name', (server) => {
  // s3rver stores each key as a path: no name over 255 bytes.
  const long = server.name !== 'embedded';

  it('ext4 refuses a name over 255 bytes: one line naming the key, no temp file, no GET next time', async (ctx) => {
    if (!long) {
      console.warn('[other-filesystems] NOTICE: s3rver takes no key segment over 255 bytes: skipped');
      ctx.skip();
      return;
    }
    const target = mkdtempSync(path.join(work, 'ext4-'));
    const { bucket, transport } = await newBucket(server, 'toolong');
    for (const [rel, body] of Object.entries({ [`d/${LONG}`]: 'l', [`${LONG}/x.txt`]: 'f', 'ok.txt': 'ok' }))
      await seedObject(transport, `p/${rel}`, body);
    for (const run of [1, 2]) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target, '--json'], server);
      expect(r.code, r.stderr).toBe(1);
      const errors = [...(r.summary?.errors ?? [])].sort((a, b) => (a.rel < b.rel ? -1 : 1));
      expect(errors).toEqual([
        { rel: `d/${LONG}`, message: 'not written: the file system refuses this name: too long (400 bytes)' },
        {
          rel: `${LONG}/x.txt`,
          message: `not written: the file system refuses the folder name '${LONG}': too long (400 bytes)`,
        },
      ]);
      expect(r.summary?.requests.GetObject).toBe(run === 1 ? 1 : undefined);
      // The folder d, made for d/LONG only, is removed with its refusal: a refused key leaves no trace.
      expect(readdirSync(target).sort()).toEqual(['.s3sync', 'ok.txt']);
      expect(tempFolders(target)).toEqual([]);
    }
  });

  it('ext4 keeps case: keys whose folders differ only in case are all written', async () => {
    const target = mkdtempSync(path.join(work, 'case-'));
    const { bucket, transport } = await newBucket(server, 'casefolders');
    const objects = { 'd2/Docs/x': 'x', 'd2/docs/y': 'y' };
    for (const [rel, body] of Object.entries(objects)) await seedObject(transport, `p/${rel}`, body);
    for (const run of [1, 2]) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.summary).toMatchObject({ downloaded: run === 1 ? 2 : 0, failed: 0 });
      for (const [rel, body] of Object.entries(objects))
        expect(readFileSync(path.join(target, rel), 'utf8')).toBe(body);
    }
  });

  it('NTFS: a name Windows refuses is one line naming the key, on every pull, fetched once at most', async (ctx) => {
    if (noNtfs(ctx)) return;
    const target = mkdtempSync(path.join(ntfs, 'n-'));
    const { bucket, transport } = await newBucket(server, 'winnames');
    const refused = ['CON', 'nul.txt', 'trail.', 'trail ', 'q?x.txt', 'sub/AUX'];
    const taken = ['ok.txt', 'sub/ok', ...(long ? [LONG] : [])];
    for (const rel of [...refused, ...taken]) await seedObject(transport, `p/${rel}`, `body of ${rel}`);
    for (const run of [1, 2]) {
      const r = await runCli(['pull', `s3://${bucket}/p`, target], server);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/EINVAL|\.part|FAT|NTFS|\n\s+at /);
      expect(errorLines(r.stderr).sort()).toEqual(
        refused.map((rel) => `error: ${rel}: not written: the file system refuses this name`).sort(),
      );
      expect(r.stdout).toMatch(` ${run === 1 ? taken.length : 0} downloaded, `);
      // Refused before the GET: a later pull fetches nothing only to throw it away.
      expect(r.stdout).toMatch(
        run === 1 ? `(GetObject ${taken.length}, ListObjectsV2 1)` : '(ListObjectsV2 1)',
      );
      for (const rel of taken) expect(readFileSync(path.join(target, rel), 'utf8')).toBe(`body of ${rel}`);
      expect(readdirSync(target).sort()).toEqual(
        ['.s3sync', 'ok.txt', 'sub', ...(long ? [LONG] : [])].sort(),
      );
      expect(readdirSync(path.join(target, 'sub'))).toEqual(['ok']);
      expect(tempFolders(target)).toEqual([]);
    }
  });

  it('NTFS: a name over 255 bytes is pushed, checked, and deleted by push --delete as any other', async (ctx) => {
    if (noNtfs(ctx)) return;
    if (!long) {
      console.warn('[other-filesystems] NOTICE: s3rver takes no key segment over 255 bytes: skipped');
      ctx.skip();
      return;
    }
    const source = mkdtempSync(path.join(ntfs, 's-'));
    writeFileSync(path.join(source, LONG), 'long');
    writeFileSync(path.join(source, 'ok.txt'), 'ok');
    const { bucket, transport } = await newBucket(server, 'longpush');
    const url = `s3://${bucket}/p`;
    expect((await runCli(['push', source, url], server)).code).toBe(0);
    const check = await runCli(['check', source, url], server);
    expect(check.stdout, check.stderr).toMatch(/^identical: 2 same, /);
    unlinkSync(path.join(source, LONG));
    const r = await runCli(['push', source, url, '--delete', '--force'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect([...(await transport.list('p/')).keys()]).toEqual(['ok.txt']);
  });
});
