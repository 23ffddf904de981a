/**
 * s3sync's own state never overwrites a user's file: what a manifest path may hold, what a lock path
 * may hold, and temp files that never take an existing file's name.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { acquireLock } from '../../src/manifest/lock.js';
import { emptyManifest, encodeManifest } from '../../src/manifest/schema.js';
import { loadManifest, resolveManifestPath, saveManifest } from '../../src/manifest/store.js';

const dest = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-path-'));
  dirs.push(d);
  return d;
};

/** Bytes and mtime of a path, to show it was left exactly as it was. */
const snapshot = (p: string) => {
  const st = statSync(p, { bigint: true });
  return { bytes: st.isFile() ? readFileSync(p).toString('hex') : 'dir', mtime: st.mtimeNs, ino: st.ino };
};

const pythonManifest = (odd: Record<string, unknown> | undefined) => {
  const files: Record<string, unknown> = {
    'db/a.sql': { local_path: 'database/a.sql', size: 3, md5: 'a'.repeat(32), uploaded_at: 'x' },
  };
  if (odd) files['db/odd.sql'] = odd;
  return JSON.stringify({ version: '1.0', last_sync: '2024-05-01T12:00:00', files });
};

/** Files a user may have at the path they give as --manifest, none of them s3sync's. */
const userFiles: [string, string | Buffer, RegExp][] = [
  ['a notes file', 'remember the milk\n', /not an s3sync manifest \(not JSON\)/],
  ['a JSON object of another tool', '{"name":"my-app","version":"1.2.3"}\n', /JSON of another kind/],
  ['a JSON array', '[1,2,3]', /JSON, but not an object/],
  ['JSON null', 'null', /JSON, but not an object/],
  [
    "the Python script's manifest with one entry lacking its md5",
    pythonManifest({ local_path: 'database/odd.sql', size: 3 }),
    /Python script's format, but its entry "db\/odd\.sql" has no local_path, size and md5/,
  ],
  [
    "the Python script's manifest with one entry that is a string",
    pythonManifest('oops' as unknown as Record<string, unknown>),
    /its entry "db\/odd\.sql"/,
  ],
  [
    'binary junk',
    Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256)),
    /not an s3sync manifest/,
  ],
  ['only whitespace', '  \n\n', /not an s3sync manifest/],
  ['an s3sync header lookalike that is not ours', '{"schema":"s3sync-plan"}\n', /JSON of another kind/],
];

describe('loadManifest at a path the user chose (--manifest)', () => {
  it.each(userFiles)('refuses %s with exit 2, one line, and leaves it as it was', (_what, content, why) => {
    const file = path.join(newDir(), 'chosen.json');
    writeFileSync(file, content);
    const before = snapshot(file);
    let err: unknown;
    try {
      loadManifest(file, dest, { explicit: true });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    const msg = (err as Error).message;
    expect(msg).toContain(`manifest (--manifest) ${file} is not an s3sync manifest`);
    expect(msg).toMatch(why);
    expect(msg).toMatch(/left as it is/);
    expect(msg).not.toContain('\n');
    expect(snapshot(file)).toEqual(before);
  });

  it.each(userFiles)(
    'at its own default path (in .s3sync/), %s is a damaged manifest: rebuilt',
    (_w, content) => {
      const file = path.join(newDir(), '.s3sync', 'manifest-b-0123456789ab.json');
      mkdirSync(path.dirname(file));
      writeFileSync(file, content);
      const loaded = loadManifest(file, dest);
      expect(loaded.warning).toMatch(/cannot be trusted.*rebuilding/);
      expect(loaded.data.files.size).toBe(0);
    },
  );

  it('refuses a directory and a FIFO wherever they are, without reading (a FIFO would block)', () => {
    const dir = newDir();
    const sub = path.join(dir, 'a-dir');
    mkdirSync(sub);
    writeFileSync(path.join(sub, 'inside.txt'), 'x');
    const fifo = path.join(dir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    for (const explicit of [true, false]) {
      expect(() => loadManifest(sub, dest, { explicit })).toThrow(/is a directory; it is left as it is/);
      expect(() => loadManifest(fifo, dest, { explicit })).toThrow(/is not a regular file/);
    }
    expect(readdirSync(sub)).toEqual(['inside.txt']);
  });

  it('takes nothing, an empty file, its own manifest, and rebuilds its own damaged or foreign-destination one', () => {
    const dir = newDir();
    const file = path.join(dir, 'm.json');
    expect(loadManifest(file, dest, { explicit: true })).toMatchObject({ racyThresholdNs: 0n });
    writeFileSync(file, '');
    expect(loadManifest(file, dest, { explicit: true }).warning).toBeUndefined();
    saveManifest(file, emptyManifest(dest));
    expect(loadManifest(file, dest, { explicit: true }).warning).toBeUndefined();
    // Ours, damaged: truncated in its header, or belonging to another destination.
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, 40));
    expect(loadManifest(file, dest, { explicit: true }).warning).toMatch(/cannot be trusted/);
    writeFileSync(file, encodeManifest(emptyManifest({ ...dest, prefix: 'other/' })));
    expect(loadManifest(file, dest, { explicit: true }).warning).toMatch(/another destination/);
    // A header whose keys were reordered (by a person or a tool) is still ours.
    writeFileSync(file, '{"version":1,"schema":"s3sync-manifest"}\nrest');
    expect(loadManifest(file, dest, { explicit: true }).warning).toMatch(/cannot be trusted/);
  });

  it("offers the Python script's manifest for adoption, never as something to write over", () => {
    const file = path.join(newDir(), 'legacy.json');
    writeFileSync(file, pythonManifest(undefined));
    const loaded = loadManifest(file, dest, { explicit: true });
    expect(loaded.foreign).toEqual(JSON.parse(pythonManifest(undefined)));
    expect(loaded.warning).toBeUndefined();
  });
});

describe('resolveManifestPath', () => {
  it('follows a symlink to its target, so that saving replaces the target and the link stays', () => {
    const dir = newDir();
    const target = path.join(dir, 'real.json');
    const link = path.join(dir, 'link.json');
    saveManifest(target, emptyManifest(dest));
    symlinkSync(target, link);
    const resolved = resolveManifestPath(link);
    expect(resolved).toBe(target);
    saveManifest(resolved, emptyManifest(dest));
    expect(statSync(link, { throwIfNoEntry: false })).toBeDefined();
    expect(readFileSync(link, 'utf8')).toContain('"schema":"s3sync-manifest"');
    expect(resolveManifestPath(target)).toBe(target);
    expect(resolveManifestPath(path.join(dir, 'none.json'))).toBe(path.join(dir, 'none.json'));
  });

  it('refuses a symlink to nothing (it would create a file wherever it points)', () => {
    const dir = newDir();
    const link = path.join(dir, 'dangling.json');
    symlinkSync(path.join(dir, 'missing', 'x.json'), link);
    expect(() => resolveManifestPath(link)).toThrow(/is a symbolic link to .*missing.*cannot be used/);
  });
});

describe('saveManifest', () => {
  it("never takes an existing file's name for its temp file, and leaves no temp file", () => {
    const dir = newDir();
    const file = path.join(dir, 'm.json');
    // What 0.1.0 named its temp file, held by a user's file: it used to be truncated and renamed away.
    const userTmp = `${file}.tmp-${process.pid}`;
    writeFileSync(userTmp, 'mine');
    saveManifest(file, emptyManifest(dest));
    saveManifest(file, emptyManifest(dest));
    expect(readFileSync(userTmp, 'utf8')).toBe('mine');
    expect(readdirSync(dir).sort()).toEqual(['m.json', 'm.json.tmp-' + process.pid]);
  });

  it('removes its temp file when the rename fails', () => {
    const dir = newDir();
    const file = path.join(dir, 'm.json');
    mkdirSync(file);
    writeFileSync(path.join(file, 'x'), 'x');
    expect(() => saveManifest(file, emptyManifest(dest))).toThrow(/cannot write manifest/);
    expect(readdirSync(dir)).toEqual(['m.json']);
  });
});

describe('acquireLock', () => {
  const lockFile = (dir: string) => path.join(dir, 'm.json.lock');

  it.each([
    ['a notes file', 'my notes'],
    ['JSON of another kind', '{"pid":"not a number"}'],
  ])('with strict (a chosen path) refuses %s at its path, untouched', async (_what, content) => {
    const dir = newDir();
    writeFileSync(lockFile(dir), content);
    const before = snapshot(lockFile(dir));
    await expect(acquireLock(lockFile(dir), { strict: true })).rejects.toThrow(
      /exists and is not an s3sync lock file; it is left as it is/,
    );
    expect(snapshot(lockFile(dir))).toEqual(before);
    expect(readdirSync(dir)).toEqual(['m.json.lock']);
  });

  it('in its own folder removes an unreadable lock with a notice (damage, not a user file)', async () => {
    const dir = newDir();
    writeFileSync(lockFile(dir), 'garbage');
    const notices: string[] = [];
    const release = await acquireLock(lockFile(dir), { notice: (m) => notices.push(m) });
    expect(notices).toEqual(['removing an unreadable lock file']);
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8'))).toMatchObject({ pid: process.pid });
    release();
    expect(existsSync(lockFile(dir))).toBe(false);
  });

  it('takes over an empty lock (its bytes never reached the disk) even with strict, after a pause', async () => {
    const dir = newDir();
    writeFileSync(lockFile(dir), '');
    const release = await acquireLock(lockFile(dir), { strict: true });
    expect(JSON.parse(readFileSync(lockFile(dir), 'utf8'))).toMatchObject({ pid: process.pid });
    release();
  });

  it('takes over a stale lock of a dead process with strict too', async () => {
    const dir = newDir();
    const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid'], { encoding: 'utf8' }));
    writeFileSync(lockFile(dir), JSON.stringify({ pid: dead, host: hostname(), startedAt: 'x' }));
    const notices: string[] = [];
    const release = await acquireLock(lockFile(dir), { strict: true, notice: (m) => notices.push(m) });
    expect(notices[0]).toMatch(new RegExp(`stale lock left by process ${dead}`));
    release();
  });

  it('refuses a directory at its path in one line instead of looping', async () => {
    const dir = newDir();
    mkdirSync(lockFile(dir));
    for (const strict of [true, false]) {
      await expect(acquireLock(lockFile(dir), { strict })).rejects.toThrow(/cannot use lock file .*EISDIR/);
    }
    expect(statSync(lockFile(dir)).isDirectory()).toBe(true);
  });

  it("never takes an existing file's name for its temp file", async () => {
    const dir = newDir();
    // What 0.1.0 named the lock's temp file, held by a user's file: it used to be truncated, then deleted.
    const userTmp = `${lockFile(dir)}.${process.pid}.tmp`;
    writeFileSync(userTmp, 'mine');
    const release = await acquireLock(lockFile(dir));
    release();
    expect(readFileSync(userTmp, 'utf8')).toBe('mine');
    expect(readdirSync(dir)).toEqual([path.basename(userTmp)]);
  });
});
