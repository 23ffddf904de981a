/**
 * Rule: a manifest copied back from a backup (the folder restored with its .s3sync) vouches for what the
 * destination held when it was saved, not for what it holds now. Its file's change time, later than its
 * write time by more than a save takes, says so: the push lists the destination once, says why, repairs
 * what the backup's manifest claimed, and trusts the manifest its own save leaves (0 requests after).
 */
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultManifestPath } from '../../src/manifest/store.js';
import { validateEndpoint } from '../../src/s3/endpoint-url.js';
import { parseS3Url } from '../../src/s3/url.js';
import {
  type CliRun,
  md5Hex,
  newBucket,
  objectMd5,
  runCli,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const notices = (r: CliRun) =>
  r.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message);

/** Every file's mtime (and the manifest's) `ago` seconds back: what time does to a backup. */
function ageFiles(files: string[], ago: number): void {
  const t = Date.now() / 1000 - ago;
  for (const f of files) utimesSync(f, t, t);
}

const cpA = (from: string, to: string) => {
  const r = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
};

const NOTICE =
  /^the manifest was copied, restored or moved in since its last save \(its file changed at \S+Z, written at \S+Z\): listing the destination once to check it$/;

describe.each(servers())('a manifest restored from a backup on $name', (server) => {
  const push = (src: string, url: string, ...extra: string[]) =>
    runCli(['push', src, url, '--json', ...extra], server);
  const manifestOf = (root: string, url: string) =>
    defaultManifestPath(root, { endpoint: validateEndpoint(server.endpoint), ...parseS3Url(url) });

  /** A pushed folder of `files`, its files and manifest made old, and a backup of it taken (cp -a). */
  async function backedUp(label: string, files: Record<string, string>) {
    const { bucket, transport } = await newBucket(server, label);
    const src = path.join(dir(label), 'sd');
    writeTree(src, files);
    ageFiles(
      Object.keys(files).map((rel) => path.join(src, rel)),
      3600,
    );
    const url = `s3://${bucket}/sd`;
    const first = await push(src, url);
    expect(first.code, first.stderr).toBe(0);
    const bak = `${src}.bak`;
    cpA(src, bak);
    // The backup's manifest as saved two minutes before the restore: a restore right after a save is
    // within the margin a slow save takes, the rule's documented limit.
    ageFiles([manifestOf(bak, url)], 120);
    const restore = () => {
      rmSync(src, { recursive: true });
      cpA(bak, src);
    };
    return { src, url, t: transport, restore };
  }

  it('a file deleted from the bucket after the backup is uploaded again, once listed', async () => {
    const { src, url, t, restore } = await backedUp('restdel', { k: 'keep\n', f: 'AAAA\n' });
    rmSync(path.join(src, 'f'));
    const del = await push(src, url, '--delete', '--force');
    expect(del.code, del.stderr).toBe(0);
    expect(del.summary).toMatchObject({ deleted: 1 });

    restore();
    const m = statSync(manifestOf(src, url), { bigint: true });
    expect(m.ctimeNs - m.mtimeNs).toBeGreaterThan(60_000_000_000n);
    const after = await push(src, url);
    expect(after.code, after.stderr).toBe(0);
    expect(after.summary).toMatchObject({ uploaded: 1 });
    expect(after.summary!.requests.ListObjectsV2).toBe(1);
    expect(notices(after)).toHaveLength(1);
    expect(notices(after)[0]).toMatch(NOTICE);
    expect(await objectMd5(t, 'sd/f')).toBe(md5Hex('AAAA\n'));

    const checked = await runCli(['check', src, url, '--json'], server);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    // Its own save made the manifest trusted again: no request, no notice.
    const next = await push(src, url);
    expect(next.code, next.stderr).toBe(0);
    expect(next.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
    expect(notices(next)).toEqual([]);
  });

  it('a same-size rewrite pushed after the backup is replaced by the restored file', async () => {
    const { src, url, t, restore } = await backedUp('restsame', { f: 'AAAA\n' });
    writeFileSync(path.join(src, 'f'), 'BBBB\n');
    ageFiles([path.join(src, 'f')], 1800);
    const b = await push(src, url);
    expect(b.code, b.stderr).toBe(0);
    expect(b.summary).toMatchObject({ uploaded: 1 });
    expect(await objectMd5(t, 'sd/f')).toBe(md5Hex('BBBB\n'));

    restore();
    const after = await push(src, url);
    expect(after.code, after.stderr).toBe(0);
    expect(after.summary).toMatchObject({ uploaded: 1 });
    expect(notices(after)[0]).toMatch(NOTICE);
    expect(await objectMd5(t, 'sd/f')).toBe(md5Hex('AAAA\n'));
    const next = await push(src, url);
    expect(next.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });

  it('a run over a list of paths lists whole, and so does a manifest given with --manifest', async () => {
    const { src, url, t, restore } = await backedUp('restlist', { k: 'keep\n', f: 'AAAA\n' });
    const own = path.join(dir('restlist-m'), 'm.manifest');
    const viaOwn = await push(src, url, '--manifest', own);
    expect(viaOwn.code, viaOwn.stderr).toBe(0);
    const ownBak = `${own}.bak`;
    cpA(own, ownBak);
    ageFiles([ownBak], 120);
    rmSync(path.join(src, 'f'));
    expect((await push(src, url, '--delete', '--force')).code).toBe(0);
    expect((await push(src, url, '--delete', '--force', '--manifest', own)).code).toBe(0);

    // Only k is named: the listing still settles f, whose entry the save would otherwise make trusted.
    restore();
    const list = path.join(dir('restlist-l'), 'paths');
    writeFileSync(list, 'k\n');
    const listed = await push(src, url, '--files-from', list);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.summary!.requests.ListObjectsV2).toBe(1);
    expect(notices(listed)[0]).toMatch(NOTICE);
    const full = await push(src, url);
    expect(full.code, full.stderr).toBe(0);
    expect(full.summary).toMatchObject({ uploaded: 1 });
    expect(await objectMd5(t, 'sd/f')).toBe(md5Hex('AAAA\n'));

    await t.deleteKeys(['sd/f']);
    cpA(ownBak, own);
    const given = await push(src, url, '--manifest', own);
    expect(given.code, given.stderr).toBe(0);
    expect(given.summary).toMatchObject({ uploaded: 1 });
    expect(notices(given)[0]).toMatch(NOTICE);
    const next = await push(src, url, '--manifest', own);
    expect(next.summary).toMatchObject({ uploaded: 0, requestsTotal: 0 });
  });
});
