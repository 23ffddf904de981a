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
