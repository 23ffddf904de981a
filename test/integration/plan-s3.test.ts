import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apply, type BucketPlanDocument, plan } from '../../src/index.js';
import type { S3Transport } from '../../src/s3/transport.js';
import {
  connFor,
  md5Hex,
  newBucket,
  objectMd5,
  refusedWithOneLine,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';

const dirs = trackedDirs();
afterAll(dirs.removeAll);

/** Every object under a prefix: rel → MD5 of its content as downloaded. */
async function contents(t: S3Transport, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of (await t.list(prefix)).values()) out[o.rel] = await objectMd5(t, o.key);
  return out;
}

const readDoc = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as BucketPlanDocument;

describe.each(servers())('plan sync / apply, S3 → S3 ($name)', (server) => {
  /**
   * Source p/ holds a, b, c; destination q/ holds c (the same), b (other content) and d (not in the
   * source): the plan copies a and b, keeps c, and with --delete deletes d.
   */
  async function setup() {
    const { bucket: from, transport: src } = await newBucket(server, 'plsrc');
    const { bucket: to, transport: dst } = await newBucket(server, 'pldst');
    for (const [rel, body] of Object.entries({ 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie' }))
      await seedObject(src, `p/${rel}`, body);
    await seedObject(dst, 'q/b.txt', 'BRAVO');
    await seedObject(dst, 'q/c.txt', 'charlie');
    await seedObject(dst, 'q/d.txt', 'delta, not in the source');
    const dir = dirs.dir('plan-s3');
    return { from, to, src, dst, file: path.join(dir, 'plan.json'), dir };
  }

  it('plan sync of an empty or unselected source writes an empty plan (exit 0); deletions still guarded', async () => {
    const { from, to, file } = await setup();
    for (const extra of [[], ['--include', '*.none']]) {
      const r = await runCli(
        ['plan', 'sync', `s3://${from}/nothing`, `s3://${to}/q`, '--out', file, ...extra],
        server,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(file, 'utf8')).actions).toEqual([]);
      rmSync(file);
    }
    // With --delete, all three destination objects would go: the empty-source guard refuses.
    const guarded = await runCli(
      ['plan', 'sync', `s3://${from}/nothing`, `s3://${to}/q`, '--delete', '--out', file],
      server,
    );
    expect(guarded.code).toBe(2);
    expect(guarded.stderr).toMatch(/refusing to delete all 3 file\(s\): the source is empty/);
  });

  it('plan --json of each direction ends with one object naming the file and its action count', async () => {
    const { from, to, file, dir } = await setup();
    const local = path.join(dir, 'local');
    const one = path.join(dir, 'one');
    writeTree(one, { 'x.txt': 'x\n' });
    const runs = [
      // a and b copied (c is the same; no --delete, d stays).
      ['sync', `s3://${from}/p`, `s3://${to}/q`, 2],
      ['pull', `s3://${from}/p`, local, 3],
      // A folder of one file (a plan may not be written inside the folder it plans).
      ['push', one, `s3://${to}/empty`, 1],
    ] as const;
    for (const [direction, source, destination, count] of runs) {
      const r = await runCli(['plan', direction, source, destination, '--out', file, '--json'], server);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.at(-1)).toEqual({ type: 'plan-file', file, actions: count, errors: 0, exitCode: 0 });
      expect(lines.filter((l) => l.type === 'action')).toHaveLength(count);
      expect(readDoc(file).actions).toHaveLength(count);
    }
  });

  it('plan changes nothing and costs two listings; apply does exactly what it says, no more', async () => {
    const { from, to, src, dst, file } = await setup();
    const before = await contents(dst, 'q/');
    const p = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--out', file, '--json'],
      server,
    );
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(p.summary?.requests).toEqual({ ListObjectsV2: 2 });
    expect(await contents(dst, 'q/')).toEqual(before);
    const doc = readDoc(file);
    expect(doc).toMatchObject({ direction: 'sync', source: `s3://${from}/p/`, destination: `s3://${to}/q/` });
    expect(doc.store.endpoint).toBe(server.endpoint);
    expect(doc.sourceStore).toEqual(doc.store);
    expect(doc.actions.map((a) => [a.kind, a.rel]).sort()).toEqual([
      ['copy', 'a.txt'],
      ['copy', 'b.txt'],
      ['delete', 'd.txt'],
    ]);
    expect(doc.actions.find((a) => a.rel === 'b.txt')).toMatchObject({
      sourceKey: 'p/b.txt',
      etag: md5Hex('bravo'),
      destination: { etag: md5Hex('BRAVO'), size: 5 },
    });
    // Never a credential in the plan.
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(server.secretAccessKey);
    expect(text).not.toContain(server.accessKeyId);

    // Added after the plan was made: not in it, so not copied.
    await seedObject(src, 'p/e.txt', 'echo, too late');
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.summary).toMatchObject({ copied: 2, deleted: 1, failed: 0 });
    expect(r.summary?.requests).toEqual({ ListObjectsV2: 2, CopyObject: 2, DeleteObjects: 1 });
    expect(await contents(dst, 'q/')).toEqual({
      'a.txt': md5Hex('alpha'),
      'b.txt': md5Hex('bravo'),
      'c.txt': md5Hex('charlie'),
    });

    // Applied twice: every action was done by the first apply, skipped with one notice, nothing written.
    const twice = await runCli(['apply', file], server);
    expect(twice.stderr).toBe(
      'notice: 3 action(s) of the plan were done by an earlier apply (the destination holds what they planned): skipped\n',
    );
    expect(twice.code).toBe(0);
    const again = await runCli(['apply', file, '--json'], server);
    expect(again.code).toBe(0);
    expect(again.summary).toMatchObject({ copied: 0, deleted: 0, unchanged: 3, failed: 0 });
    expect(again.summary?.requests).toEqual({ ListObjectsV2: 2 });
  });

  it('apply again after an apply that failed part-way resumes it: its copies skipped, the rest and the deletion done', async () => {
    const { from, to, src, dst, file } = await setup();
    const p = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--out', file],
      server,
    );
    expect(p.code, p.stderr).toBe(0);
    // a changes before the first apply: its copy is refused, b copied, the deletion of d skipped.
    await seedObject(src, 'p/a.txt', 'ALPHA');
    const first = await runCli(['apply', file], server);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain(
      'error: a.txt: refused: the source object changed since the plan was made',
    );
    expect(first.stderr).toMatch(/not deleting 1 file\(s\)/);
    expect(await objectMd5(dst, 'q/b.txt')).toBe(md5Hex('bravo'));
    expect(await objectMd5(dst, 'q/d.txt')).toBe(md5Hex('delta, not in the source'));
    // a as planned again: the second apply skips b, copies a and deletes d.
    await seedObject(src, 'p/a.txt', 'alpha');
    const second = await runCli(['apply', file, '--json'], server);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.events).toContainEqual({
      type: 'notice',
      message:
        '1 action(s) of the plan were done by an earlier apply (the destination holds what they planned): skipped',
    });
    expect(second.summary).toMatchObject({ copied: 1, deleted: 1, unchanged: 1, failed: 0 });
    expect(second.summary?.requests).toEqual({ ListObjectsV2: 2, CopyObject: 1, DeleteObjects: 1 });
    expect(await contents(dst, 'q/')).toEqual({
      'a.txt': md5Hex('alpha'),
      'b.txt': md5Hex('bravo'),
      'c.txt': md5Hex('charlie'),
    });
  });

  it('a source object changed after the plan: its copy is refused (exit 1), the others made; the deletion waits', async () => {
    const { from, to, src, dst, file } = await setup();
    const lib = { ...connFor(server), source: `s3://${from}/p`, destination: `s3://${to}/q` };
    await plan({ ...lib, direction: 'sync', delete: true, out: file });
    for (const [what, change, said] of [
      ['overwritten', () => seedObject(src, 'p/a.txt', 'ALPHA'), 'changed since the plan was made'],
      ['deleted', () => src.deleteKeys(['p/a.txt']), 'no longer exists (deleted since the plan was made)'],
    ] as const) {
      await dst.deleteKeys(['q/a.txt']);
      await seedObject(src, 'p/a.txt', 'alpha');
      await seedObject(dst, 'q/b.txt', 'BRAVO');
      await change();
      const r = await runCli(['apply', file, '--json'], server);
      expect(r.code, what).toBe(1);
      const errors = r.events
        .filter((e) => e.type === 'error')
        .map((e) => (e as { message: string }).message);
      expect(errors, what).toContain(`a.txt: refused: the source object ${said}`);
      // After a failure the guards skip every deletion.
      expect(
        errors.some((m) => /not deleting 1 file\(s\)/.test(m)),
        what,
      ).toBe(true);
      expect(r.summary, what).toMatchObject({ copied: 1, deleted: 0, failed: 1 });
      expect(r.summary?.requests.CopyObject, what).toBe(1);
      expect(await dst.head('q/a.txt'), what).toBeNull();
      expect(await objectMd5(dst, 'q/b.txt'), what).toBe(md5Hex('bravo'));
      expect(await objectMd5(dst, 'q/d.txt'), what).toBe(md5Hex('delta, not in the source'));
    }
  });

  it('a destination object changed after the plan: its copy or its deletion is refused, never applied', async () => {
    const { from, to, dst, file } = await setup();
    const p = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--out', file],
      server,
    );
    expect(p.code).toBe(0);
    // d rewritten (a deletion planned on the old d), a created (a copy planned onto nothing), b gone.
    await seedObject(dst, 'q/d.txt', 'delta, rewritten since');
    await seedObject(dst, 'q/a.txt', 'written by someone else');
    await dst.deleteKeys(['q/b.txt']);
    const r = await runCli(['apply', file, '--json'], server);
    expect(r.code).toBe(1);
    expect(r.summary).toMatchObject({ copied: 0, deleted: 0, failed: 3 });
    const errors = r.events.filter((e) => e.type === 'error').map((e) => (e as { message: string }).message);
    for (const rel of ['a.txt', 'b.txt', 'd.txt'])
      expect(errors).toContain(`${rel}: refused: the destination object changed since the plan was made`);
    expect(await contents(dst, 'q/')).toEqual({
      'a.txt': md5Hex('written by someone else'),
      'c.txt': md5Hex('charlie'),
      'd.txt': md5Hex('delta, rewritten since'),
    });
  });

  it('the guards run when the plan is made: an empty source or over --max-delete is refused, exit 2', async () => {
    const { from, to, src, file } = await setup();
    const over = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--max-delete', '0', '--out', file],
      server,
    );
    refusedWithOneLine(over, /over --max-delete/);
    await src.deleteKeys(['p/a.txt', 'p/b.txt', 'p/c.txt']);
    const empty = await runCli(
      ['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--out', file],
      server,
    );
    refusedWithOneLine(empty, /refusing to delete all 3 file\(s\): the source is empty/);
  });

  it('a plan edited to point elsewhere, or malformed, is refused in one line (exit 2) before any request', async () => {
    const { from, to, dst, file, dir } = await setup();
    expect(
      (await runCli(['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--delete', '--out', file], server))
        .code,
    ).toBe(0);
    const before = await contents(dst, 'q/');
    const good = readDoc(file);
    const edited = path.join(dir, 'edited.json');
    const variations: [string, (d: BucketPlanDocument) => unknown, RegExp][] = [
      [
        'a copy reading another key',
        (d) => {
          const a = d.actions.find((x) => x.kind === 'copy')!;
          (a as { sourceKey: string }).sourceKey = 'elsewhere/secret.txt';
        },
        /the copy of .* reads another key than its own/,
      ],
      [
        'a delete of another key',
        (d) => {
          const a = d.actions.find((x) => x.kind === 'delete')!;
          (a as { key: string }).key = 'q/c.txt';
        },
        /the delete of d\.txt names another key/,
      ],
      [
        'a version named without "at"',
        (d) => ((d.actions[0] as { versionId?: string }).versionId = 'v1'),
        /names a version, but the plan has no "at"/,
      ],
      [
        '"at" without versions',
        (d) => (d.at = '2026-01-01T00:00:00.000Z'),
        /names no version, but the plan is as at a time/,
      ],
      ['a source that is not S3', (d) => (d.source = '/etc'), /must be s3:\/\/bucket\/prefix URLs/],
      [
        'an action of an unknown kind',
        (d) => ((d.actions[0] as { kind: string }).kind = 'move'),
        /unknown action kind "move"/,
      ],
      [
        'a size that is not a size',
        (d) => ((d.actions[0] as { size: unknown }).size = '5'),
        /has no ETag or size/,
      ],
      ['no stores', (d) => delete (d as Partial<BucketPlanDocument>).store, /its stores are not described/],
      [
        'errors that are not a list',
        (d) => (d.errors = 'none' as unknown as BucketPlanDocument['errors']),
        /its errors are not a list of \{rel, message\}/,
      ],
      [
        'an error with no rel',
        (d) => (d.errors = [{ message: 'x' } as NonNullable<BucketPlanDocument['errors']>[0]]),
        /its errors are not a list of \{rel, message\}/,
      ],
    ];
    for (const [what, edit, why] of variations) {
      const d = structuredClone(good);
      edit(d);
      writeFileSync(edited, JSON.stringify(d));
      const r = await runCli(['apply', edited], server);
      expect(r.code, what).toBe(2);
      refusedWithOneLine(r, why);
    }
    writeFileSync(edited, '{"s3syncPlan": 1, "direction": "sync", "actions": [');
    refusedWithOneLine(await runCli(['apply', edited], server), /cannot read plan/);
    expect(await contents(dst, 'q/')).toEqual(before);
  });

  it('plan sync takes two S3 URLs and the flags of an S3 → S3 sync; anything else is exit 2', async () => {
    const { from, to, dir } = await setup();
    const out = path.join(dir, 'x.json');
    refusedWithOneLine(
      await runCli(['plan', 'sync', dir, `s3://${to}/q`, '--out', out], server),
      /plan sync takes two s3:\/\/bucket\/prefix URLs/,
    );
    refusedWithOneLine(
      await runCli(['plan', 'sync', `s3://${from}/p`, `s3://${to}/q`, '--verify', '--out', out], server),
      /--verify does not apply to plan sync/,
    );
    // The source's flags are plan sync's: on the command line, recorded in the plan.
    const p = await runCli(
      [
        'plan',
        'sync',
        `s3://${from}/p`,
        `s3://${to}/q`,
        '--source-endpoint-url',
        server.endpoint,
        '--source-region',
        'us-east-1',
        '--out',
        out,
      ],
      server,
    );
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(readDoc(out).sourceStore).toMatchObject({ endpoint: server.endpoint, region: 'us-east-1' });
    // ... and no other direction's.
    refusedWithOneLine(
      await runCli(
        ['plan', 'push', dir, `s3://${to}/q`, '--source-endpoint-url', server.endpoint, '--out', out],
        server,
      ),
      /--source-endpoint-url does not apply to plan push/,
    );
    refusedWithOneLine(
      await runCli(['plan', 'pull', `s3://${to}/q`, dir, '--at', '1h', '--out', out], server),
      /--at does not apply to plan pull/,
    );
  });
});

describe('plan sync / apply between two stores', () => {
  const ceph = servers().find((s) => s.name === 'ceph');
  const embedded = servers().find((s) => s.name === 'embedded');

  it.skipIf(!ceph || !embedded)(
    'the plan records the source store, never its keys; apply streams from it',
    async () => {
      const from = ceph!;
      const to = embedded!;
      const { bucket: a, transport: src } = await newBucket(from, 'plxs');
      const { bucket: b, transport: dst } = await newBucket(to, 'plxd');
      await seedObject(src, 'x/one.txt', 'one, across stores');
      const file = path.join(dirs.dir('plan-x'), 'plan.json');
      await plan({
        ...connFor(to),
        direction: 'sync',
        source: `s3://${a}/x`,
        destination: `s3://${b}/y`,
        sourceEndpointUrl: from.endpoint,
        sourceProvider: from.provider,
        sourceCredentials: { accessKeyId: from.accessKeyId, secretAccessKey: from.secretAccessKey },
        out: file,
      });
      const doc = readDoc(file);
      expect(doc.sourceStore.endpoint).toBe(from.endpoint);
      expect(doc.store.endpoint).toBe(to.endpoint);
      expect(readFileSync(file, 'utf8')).not.toContain(from.secretAccessKey);
      // The keys come from the caller again, as they would from a profile or the environment.
      const r = await apply({
        ...connFor(to),
        plan: file,
        sourceCredentials: { accessKeyId: from.accessKeyId, secretAccessKey: from.secretAccessKey },
      });
      expect(r.outcome).toBe('ok');
      expect(r.requests).toEqual({ ListObjectsV2: 2, GetObject: 1, PutObject: 1 });
      expect(await objectMd5(dst, 'y/one.txt')).toBe(md5Hex('one, across stores'));
    },
  );
});
