/**
 * DurableBatch on real files: a file is handed on to be recorded only after its data was fsynced,
 * it was renamed into place, and every directory from its parent up to the root was fsynced. The
 * order is observed through the injected fsyncs, which call the real ones.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BATCH_MAX,
  DurableBatch,
  dirsUpTo,
  syncDirectory,
  type Unflushed,
} from '../../src/sync/durable-batch.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

type Step = { kind: 'file' | 'dir' | 'rename' | 'durable' | 'failed'; what: string };

function setup() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'durable-batch-'));
  roots.push(root);
  mkdirSync(path.join(root, 'tmp'));
  const log: Step[] = [];
  const fdName = new Map<number, string>();
  let n = 0;
  const item = (
    rel: string,
    body: string,
    opts: { refuse?: boolean; synced?: boolean } = {},
  ): Unflushed<string> => {
    const tmp = path.join(root, 'tmp', `${n++}.part`);
    const fd = openSync(tmp, 'w');
    writeSync(fd, body);
    if (opts.synced) {
      fsyncSync(fd);
      closeSync(fd);
    } else fdName.set(fd, rel);
    return {
      rel,
      fd: opts.synced ? undefined : fd,
      commit: () => {
        if (opts.refuse) throw new Error(`${rel}: not written: refused`);
        const dest = path.join(root, rel);
        mkdirSync(path.dirname(dest), { recursive: true });
        renameSync(tmp, dest);
        log.push({ kind: 'rename', what: rel });
        return { dest, value: body };
      },
      discard: () => rmSync(tmp, { force: true }),
    };
  };
  const batch = (failSync?: string, maxOpen?: number) =>
    new DurableBatch<string>(
      {
        durable: (rel, value) => {
          // Recorded only with its final content under its real name.
          expect(readFileSync(path.join(root, rel), 'utf8')).toBe(value);
          log.push({ kind: 'durable', what: rel });
        },
        failed: (rel) => log.push({ kind: 'failed', what: rel }),
        dirsOf: (dest) => dirsUpTo(root, dest),
        syncFile: async (fd) => {
          await new Promise((r) => setTimeout(r, 1));
          const rel = fdName.get(fd)!;
          if (rel === failSync) throw Object.assign(new Error('EIO'), { code: 'EIO' });
          fsyncSync(fd);
          log.push({ kind: 'file', what: rel });
        },
        syncDir: async (dir) => {
          await syncDirectory(dir);
          log.push({ kind: 'dir', what: path.relative(root, dir) || '.' });
        },
      },
      maxOpen,
    );
  return { root, log, item, batch };
}

/** Paths under `root` this process still has a descriptor open on (Linux: /proc/self/fd). */
function openUnder(root: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const p = readlinkSync(`/proc/self/fd/${fd}`);
      if (p.startsWith(`${root}/`)) open.push(p);
    } catch {
      // Closed since the listing (the listing's own descriptor).
    }
  }
  return open;
}

/** Every durable file: its fsync, its rename and each of its directories' fsyncs came first. */
function expectOrdered(log: Step[]) {
  const at = (kind: Step['kind'], what: string) => log.findIndex((s) => s.kind === kind && s.what === what);
  for (const [i, s] of log.entries()) {
    if (s.kind !== 'durable') continue;
    const rename = at('rename', s.what);
    expect(rename, s.what).toBeGreaterThanOrEqual(0);
    expect(rename).toBeLessThan(i);
    const sync = at('file', s.what);
    if (sync >= 0) expect(sync).toBeLessThan(rename);
    const parts = s.what.split('/');
    for (let k = parts.length - 1; k >= 0; k--) {
      const dir = parts.slice(0, k).join('/') || '.';
      // A directory fsync after the rename and before the record.
      const dirSyncs = log
        .map((x, j) => (x.kind === 'dir' && x.what === dir ? j : -1))
        .filter((j) => j > rename);
      expect(dirSyncs.length, `${s.what}: ${dir}`).toBeGreaterThan(0);
      expect(Math.min(...dirSyncs), `${s.what}: ${dir}`).toBeLessThan(i);
    }
    // Recorded once.
    expect(log.filter((x) => x.kind === 'durable' && x.what === s.what)).toHaveLength(1);
  }
}

describe('DurableBatch', () => {
  it('records each file after its fsync, its rename and its directories up to the root', async () => {
    const { root, log, item, batch } = setup();
    const b = batch();
    const rels = ['a.txt', 'd/b.txt', 'd/e/f/c.txt', 'd/e/g.txt', 'z.txt'];
    for (const rel of rels) await b.add(item(rel, `body of ${rel}`));
    await b.drain();
    expectOrdered(log);
    expect(
      log
        .filter((s) => s.kind === 'durable')
        .map((s) => s.what)
        .sort(),
    ).toEqual(rels.sort());
    // Every temp file's descriptor was closed by the flush.
    expect(openUnder(root)).toEqual([]);
  });

  it('commits with the temp file still open: what is recorded is the file written, not one moved in after', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'durable-batch-'));
    roots.push(root);
    const recorded = new Map<string, { ino: bigint; size: bigint }>();
    const written = new Map<string, bigint>();
    const b = new DurableBatch<{ ino: bigint; size: bigint }>({
      durable: (rel, value) => recorded.set(rel, value),
      failed: (rel, err) => {
        throw new Error(`${rel} failed: ${String(err)}`);
      },
      dirsOf: (dest) => dirsUpTo(root, dest),
    });
    for (const rel of ['a.bin', 'b.bin']) {
      const tmp = path.join(root, `${rel}.part`);
      const fd = openSync(tmp, 'w');
      writeSync(fd, `the bytes of ${rel}`);
      written.set(rel, statSync(tmp, { bigint: true }).ino);
      await b.add({
        rel,
        fd,
        commit: () => {
          const dest = path.join(root, rel);
          renameSync(tmp, dest);
          // Another writer moves its own file to the name at once (the race a path lstat would lose).
          const other = path.join(root, `${rel}.other`);
          writeFileSync(other, 'someone else');
          renameSync(other, dest);
          const st = fstatSync(fd, { bigint: true });
          return { dest, value: { ino: st.ino, size: st.size } };
        },
        discard: () => rmSync(tmp, { force: true }),
      });
    }
    await b.drain();
    for (const rel of ['a.bin', 'b.bin']) {
      expect(recorded.get(rel)).toEqual({
        ino: written.get(rel),
        size: BigInt(`the bytes of ${rel}`.length),
      });
    }
    expect(openUnder(root)).toEqual([]);
  });

  it('groups files added while a flush runs into the next batch', async () => {
    const { log, item, batch } = setup();
    const b = batch();
    const rels = Array.from({ length: 40 }, (_, i) => `g${i % 3}/f${i}.txt`);
    await Promise.all(rels.map((rel) => b.add(item(rel, rel))));
    await b.drain();
    expectOrdered(log);
    const durable = log.filter((s) => s.kind === 'durable').map((s) => s.what);
    expect(durable.sort()).toEqual([...rels].sort());
    // Fewer directory fsyncs than files: a directory is synced once per batch, not once per file.
    expect(log.filter((s) => s.kind === 'dir').length).toBeLessThan(rels.length * 2);
  });

  it('a file already synced is renamed and its directories synced before it is recorded', async () => {
    const { log, item, batch } = setup();
    const b = batch();
    await b.add(item('big/one.bin', 'large', { synced: true }));
    await b.drain();
    expectOrdered(log);
    expect(log.filter((s) => s.kind === 'durable').map((s) => s.what)).toEqual(['big/one.bin']);
  });

  it.each([
    ['a refused rename', { refuse: 'd/bad.txt', failSync: undefined }],
    ['a failed fsync', { refuse: undefined, failSync: 'd/bad.txt' }],
  ])(
    '%s fails that file only: never under its real name, never recorded, temp file removed',
    async (_, c) => {
      const { root, log, item, batch } = setup();
      const b = batch(c.failSync);
      for (const rel of ['d/ok1.txt', 'd/bad.txt', 'd/ok2.txt'])
        await b.add(item(rel, rel, { refuse: rel === c.refuse }));
      await b.drain();
      expectOrdered(log);
      expect(log.filter((s) => s.kind === 'failed').map((s) => s.what)).toEqual(['d/bad.txt']);
      expect(
        log
          .filter((s) => s.kind === 'durable')
          .map((s) => s.what)
          .sort(),
      ).toEqual(['d/ok1.txt', 'd/ok2.txt']);
      expect(existsSync(path.join(root, 'd/bad.txt'))).toBe(false);
      expect(readFileSync(path.join(root, 'd/ok1.txt'), 'utf8')).toBe('d/ok1.txt');
      // Only the two renamed files' temp files are gone by rename; the failed one's was discarded.
      expect(existsSync(path.join(root, 'tmp', '1.part'))).toBe(false);
      // The failed file's descriptor is closed too, not only the flushed ones'.
      expect(openUnder(root)).toEqual([]);
    },
  );

  it(`holds at most ${BATCH_MAX} open files: a writer beyond that waits for room`, async () => {
    const { log, item, batch } = setup();
    const b = batch();
    const rels = Array.from({ length: BATCH_MAX * 2 + 5 }, (_, i) => `m/${i}.txt`);
    let open = 0;
    let most = 0;
    await Promise.all(
      rels.map(async (rel) => {
        await b.add(item(rel, rel));
        open++;
        most = Math.max(most, open - log.filter((s) => s.kind === 'file').length);
      }),
    );
    await b.drain();
    expect(most).toBeLessThanOrEqual(BATCH_MAX * 2);
    expect(log.filter((s) => s.kind === 'durable')).toHaveLength(rels.length);
    expectOrdered(log);
  });

  it('holds at most maxOpen temp files open, queued and being flushed together', async () => {
    const { root, log, item, batch } = setup();
    const maxOpen = 6;
    const lanes = 4;
    const b = batch(undefined, maxOpen);
    const rels = Array.from({ length: 60 }, (_, i) => `n/${i}.txt`);
    let next = 0;
    let most = 0;
    // As a pull's lanes do: each opens its next temp file only once the last one was handed over.
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < rels.length) {
          const rel = rels[next++]!;
          const it = item(rel, rel);
          // Files only: a directory's fsync holds one for a moment too.
          most = Math.max(most, openUnder(root).filter((p) => /\.(part|txt)$/.test(p)).length);
          await b.add(it);
        }
      }),
    );
    await b.drain();
    // The batch's own, and one per lane waiting for room.
    expect(most).toBeLessThanOrEqual(maxOpen + lanes);
    expect(log.filter((s) => s.kind === 'durable')).toHaveLength(rels.length);
    expectOrdered(log);
    expect(openUnder(root)).toEqual([]);
  });
});

describe('DurableBatch errors', () => {
  it('a sink that throws rejects drain (never an unhandled rejection), and later files still flush', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'durable-batch-'));
    roots.push(root);
    const recorded: string[] = [];
    const b = new DurableBatch<string>({
      durable: (rel) => {
        if (rel === 'boom') throw new Error('record failed');
        recorded.push(rel);
      },
      failed: () => undefined,
      dirsOf: (dest) => dirsUpTo(root, dest),
    });
    const item = (rel: string): Unflushed<string> => ({
      rel,
      fd: undefined,
      commit: () => ({ dest: path.join(root, rel), value: rel }),
      discard: () => undefined,
    });
    await b.add(item('boom'));
    await new Promise((r) => setTimeout(r, 20));
    await b.add(item('after'));
    await expect(b.drain()).rejects.toThrow('record failed');
    expect(recorded).toEqual(['after']);
  });
});

describe('dirsUpTo', () => {
  it.each([
    ['/r', '/r/a.txt', ['/r']],
    ['/r', '/r/a/b/c.txt', ['/r/a/b', '/r/a', '/r']],
    ['/r', '/other/x.txt', ['/other']],
  ])('%s, %s', (root, dest, want) => expect(dirsUpTo(root, dest)).toEqual(want));
});
