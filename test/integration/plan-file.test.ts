import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlanDocument } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import { newBucket, runCli, servers, trackedDirs, writeTree } from '../helpers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

const keys = async (t: S3Transport, prefix = 'p/') => [...(await t.list(prefix)).keys()].sort();
const readDoc = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as PlanDocument;

describe.each(servers())('apply of a push or pull plan ($name)', (server) => {
  it('a push plan applies names push uploads but pull would refuse: a backslash, a tab, a newline, C:x', async () => {
    const { bucket, transport } = await newBucket(server, 'oddnames');
    const dir = dirs.dir('oddnames');
    const url = `s3://${bucket}/p`;
    writeTree(dir, { 'keep.txt': 'kept\n', 'extra.txt': 'deleted by the plan\n' });
    expect((await runCli(['push', dir, url], server)).code).toBe(0);
    rmSync(path.join(dir, 'extra.txt'));
    const odd = ['back\\slash.txt', 'tab\there.txt', 'new\nline.txt', 'C:x.txt'];
    writeTree(dir, Object.fromEntries(odd.map((rel) => [rel, `${rel}\n`])));
    const file = path.join(dirs.dir('oddnames-plan'), 'plan.json');
    const p = await runCli(['plan', 'push', dir, url, '--delete', '--out', file], server);
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(readDoc(file).actions).toHaveLength(5);

    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ uploaded: 4, deleted: 1, failed: 0 });
    expect(await keys(transport)).toEqual([...odd, 'keep.txt'].sort());

    // Applied again: each found done, as for any other name.
    const again = await runCli(['apply', file, '--json'], server);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ uploaded: 0, deleted: 0, unchanged: 5, failed: 0 });
  });
});
