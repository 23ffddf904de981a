import { closeSync, ftruncateSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readPlan } from '../../src/sync/plan-file.js';
import { GiB, trackedDirs } from '../helpers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const PLAN = {
  s3syncPlan: 1,
  direction: 'push',
  createdAt: '2026-01-01T00:00:00.000Z',
  local: '/tmp/x',
  remote: 's3://bucket/p/',
  actions: [],
};

describe('readPlan', () => {
  it('takes a plan saved with a byte order mark, as Windows editors write one', async () => {
    const file = path.join(dirs.dir('plan-bom'), 'bom.json');
    writeFileSync(file, `\uFEFF${JSON.stringify(PLAN, null, 2)}\r\n`);
    expect(await readPlan(file)).toEqual(PLAN);
  });

  it('refuses a file too large to be a plan by its size, without reading it', async () => {
    const file = path.join(dirs.dir('plan-huge'), 'huge.json');
    // Sparse: no disk, and a read of it would take seconds and gigabytes.
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 3 * GiB);
    closeSync(fd);
    const started = Date.now();
    await expect(readPlan(file)).rejects.toMatchObject({
      kind: 'usage',
      message: `${file} is too large to be an s3sync plan (over 500MiB)`,
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('says a file it cannot read in one line', async () => {
    const file = path.join(dirs.dir('plan-missing'), 'missing.json');
    await expect(readPlan(file)).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(/^cannot read plan .*missing\.json: ENOENT[^\n]*$/),
    });
  });
});

describe('readPlan: what a push or pull plan may hold', () => {
  const upload = {
    kind: 'upload',
    rel: 'a.txt',
    reason: 'new',
    size: 2,
    local: { size: 2, mtimeNs: '1', ctimeNs: '1', ino: '1' },
    remote: null,
  };
  const refused = async (doc: unknown, why: string) => {
    const file = path.join(dirs.dir('plan-bad'), 'plan.json');
    writeFileSync(file, JSON.stringify(doc));
    await expect(readPlan(file)).rejects.toMatchObject({
      kind: 'usage',
      message: `${file} is not a valid s3sync plan: ${why}`,
    });
  };

  it('says a size out of range as such, not as missing', async () => {
    for (const size of [1e18, -1, 1.5])
      await refused(
        { ...PLAN, actions: [{ ...upload, size }] },
        `the action for a.txt has a size (${size}) that is not a byte count`,
      );
    await refused({ ...PLAN, actions: [{ ...upload, size: '2' }] }, 'the action for a.txt has no size');
    await refused(
      { ...PLAN, actions: [{ ...upload, reason: undefined }] },
      'the action for a.txt has no reason',
    );
  });

  it("refuses a push plan's path with a NUL, which no file's name holds, as a pull plan's", async () => {
    for (const direction of ['push', 'pull'])
      await refused(
        {
          ...PLAN,
          direction,
          actions: [{ ...upload, kind: direction === 'push' ? 'upload' : 'download', rel: 'a\0b' }],
        },
        `the action for "a\\u0000b" names an unsafe path (${direction === 'push' ? 'contains a NUL character' : 'contains a control character'})`,
      );
  });

  it('refuses a field it does not know (one a newer s3sync may act on) and a createdAt not a time', async () => {
    await refused(
      { ...PLAN, deleteEverything: true },
      'it has a field "deleteEverything" this s3sync does not know (made by a newer version?)',
    );
    await refused({ ...PLAN, createdAt: 'yesterday' }, 'its createdAt "yesterday" is not a time');
    await refused({ ...PLAN, createdAt: undefined }, 'its createdAt undefined is not a time');
    // An S3 → S3 plan the same.
    const store = { endpoint: 'aws', provider: 'aws', profile: null, region: 'us-east-1' };
    const sync = {
      ...PLAN,
      direction: 'sync',
      local: undefined,
      remote: undefined,
      source: 's3://src-bucket/p/',
      destination: 's3://dst-bucket/p/',
      store,
      sourceStore: store,
    };
    const file = path.join(dirs.dir('plan-sync'), 'plan.json');
    writeFileSync(file, JSON.stringify(sync));
    expect(await readPlan(file)).toEqual(JSON.parse(JSON.stringify(sync)));
    await refused(
      { ...sync, versionIds: true },
      'it has a field "versionIds" this s3sync does not know (made by a newer version?)',
    );
    await refused({ ...sync, createdAt: 12 }, 'its createdAt 12 is not a time');
  });

  it('refuses a followSymlinks or a manifest of the wrong kind', async () => {
    await refused({ ...PLAN, followSymlinks: 'yes' }, 'its followSymlinks is not true or false');
    await refused(
      { ...PLAN, manifest: 'relative.json' },
      'its manifest "relative.json" is not an absolute path',
    );
  });

  it('takes the settings a plan records', async () => {
    const file = path.join(dirs.dir('plan-settings'), 'plan.json');
    const doc = { ...PLAN, followSymlinks: true, manifest: '/var/lib/s3sync/db.json', actions: [upload] };
    writeFileSync(file, JSON.stringify(doc));
    expect(await readPlan(file)).toEqual(doc);
  });
});
