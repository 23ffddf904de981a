import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  holdsAFile,
  holdsAnything,
  scanDirectory,
  scanDirectoryYielding,
  tooLargeForStore,
} from '../../src/local/scan.js';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
const newRoot = () => {
  const r = mkdtempSync(path.join(tmpdir(), 's3sync-scan-'));
  roots.push(r);
  return r;
};

/** `dirs` nested directories of `perDir` files, a symlink and s3sync's state folder. */
function tree(dirs: number, perDir: number): string {
  const root = newRoot();
  for (let d = 0; d < dirs; d++) {
    const dir = path.join(root, `d${d % 7}`, `sub${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perDir; f++) writeFileSync(path.join(dir, `f${f}.txt`), `${d}/${f}`);
  }
  symlinkSync(path.join(root, 'd0'), path.join(root, 'link'));
  mkdirSync(path.join(root, '.s3sync'));
  writeFileSync(path.join(root, '.s3sync', 'state.json'), '{}');
  return root;
}

const opts = { skipDir: (rel: string) => rel === '.s3sync' };

describe('scanDirectory: stat data', () => {
  // A second file system for the device: tmpfs at /dev/shm where there is one.
  const shm = existsSync('/dev/shm') && lstatSync('/dev/shm').dev !== lstatSync(tmpdir()).dev;

  it('gives each file its own stat data: ctime apart from mtime or not, the device of its file system', () => {
    const root = newRoot();
    mkdirSync(path.join(root, 'a'));
    mkdirSync(path.join(root, 'c'));
    writeFileSync(path.join(root, 'a', 'written'), 'x');
    writeFileSync(path.join(root, 'a', 'touched'), 'yy');
    // An mtime set in the past: the ctime is now, no longer the mtime.
    utimesSync(path.join(root, 'a', 'touched'), 1_000_000, 1_000_000);
    writeFileSync(path.join(root, 'c', 'after'), 'zzz');
    let other: string | undefined;
    if (shm) {
      other = mkdtempSync('/dev/shm/s3sync-scan-');
      roots.push(other);
      writeFileSync(path.join(other, 'there'), 'w');
      symlinkSync(other, path.join(root, 'b'));
    }
    const { files, errors } = scanDirectory(root, { followSymlinks: true });
    expect(errors).toEqual([]);
    const want = ['a/touched', 'a/written', ...(shm ? ['b/there'] : []), 'c/after'];
    expect(files.map((f) => f.rel).sort()).toEqual(want);
    for (const f of files) {
      const st = lstatSync(path.join(root, f.rel.replace(/^b\//, `${path.relative(root, other ?? root)}/`)), {
        bigint: true,
      });
      expect(f).toEqual({
        rel: f.rel,
        size: Number(st.size),
        mtimeNs: st.mtimeNs.toString(),
        ctimeNs: st.ctimeNs.toString(),
        ino: st.ino.toString(),
        dev: st.dev.toString(),
      });
    }
    const touched = files.find((f) => f.rel === 'a/touched')!;
    expect(touched.ctimeNs).not.toBe(touched.mtimeNs);
    // The walk goes from one device to the other and back: each file has its own.
    if (shm) expect(new Set(files.map((f) => f.dev)).size).toBe(2);
  });
});

describe('scanDirectoryYielding', () => {
  it('finds exactly what the synchronous scan finds, in the same order', async () => {
    const root = tree(40, 25);
    const sync = scanDirectory(root, opts);
    expect(sync.files).toHaveLength(1000);
    expect(sync.notices.map((n) => n.rel)).toEqual(['link']);
    expect(await scanDirectoryYielding(root, opts)).toEqual(sync);
  });

  it('gives the event loop turns while it reads a large tree', async () => {
    const root = tree(100, 60);
    let done = false;
    let turnsDuringScan = 0;
    const tick = () => {
      if (done) return;
      turnsDuringScan++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const scan = await scanDirectoryYielding(root, opts);
    done = true;
    expect(scan.files).toHaveLength(6000);
    // 6,000 lstat calls take well over the 4 ms slice: the loop turned more than once meanwhile.
    expect(turnsDuringScan).toBeGreaterThan(1);
  });
});

describe("links at s3sync's own names", () => {
  it('are left out without a notice, followed or not; a link anywhere else is still noticed', () => {
    const root = newRoot();
    const shared = newRoot();
    writeFileSync(path.join(shared, 'ignore'), '*.log\n');
    writeFileSync(path.join(root, 'a.txt'), 'a');
    mkdirSync(path.join(root, 'sub'));
    symlinkSync(path.join(shared, 'ignore'), path.join(root, '.s3syncignore'));
    symlinkSync(path.join(shared, 'ignore'), path.join(root, 'sub', '.s3syncignore'));
    const own = (rel: string) => rel === '.s3syncignore';
    const includeFile = (rel: string) => !own(rel);
    for (const followSymlinks of [false, true]) {
      const scan = scanDirectory(root, { followSymlinks, includeFile, own });
      expect(scan.errors).toEqual([]);
      expect(scan.notices.map((n) => n.rel)).toEqual(followSymlinks ? [] : ['sub/.s3syncignore']);
      expect(scan.files.map((f) => f.rel).sort()).toEqual(
        followSymlinks ? ['a.txt', 'sub/.s3syncignore'] : ['a.txt'],
      );
    }
    // Without the option, and no filter leaving it out: the link is said to be skipped.
    expect(
      scanDirectory(root, {})
        .notices.map((n) => n.rel)
        .sort(),
    ).toEqual(['.s3syncignore', 'sub/.s3syncignore']);
  });
});

describe('links and special files the filters leave out', () => {
  it('are not said to be skipped; a link to a folder that a file filter leaves out still is', () => {
    const root = newRoot();
    const elsewhere = newRoot();
    mkdirSync(path.join(elsewhere, 'dir'));
    writeFileSync(path.join(elsewhere, 'f'), 'f');
    symlinkSync(path.join(elsewhere, 'f'), path.join(root, 'x.tmp'));
    symlinkSync(path.join(elsewhere, 'gone'), path.join(root, 'dangling.tmp'));
    symlinkSync(path.join(elsewhere, 'dir'), path.join(root, 'skipped-dir'));
    // A folder behind a link whose name a file glob leaves out: the files in it may be taken in.
    symlinkSync(path.join(elsewhere, 'dir'), path.join(root, 'dir.tmp'));
    execFileSync('mkfifo', [path.join(root, 'p.tmp')]);
    const includeFile = (rel: string) => !rel.endsWith('.tmp');
    const skipDir = (rel: string) => rel === 'skipped-dir';
    for (const followSymlinks of [false, true]) {
      const scan = scanDirectory(root, { followSymlinks, includeFile, skipDir });
      expect(scan.errors, String(followSymlinks)).toEqual([]);
      expect(scan.notices.map((n) => n.rel)).toEqual(followSymlinks ? [] : ['dir.tmp']);
    }
    // The same entries with no filter: each is said.
    const all = scanDirectory(root, {});
    expect(all.notices.map((n) => n.rel).sort()).toEqual([
      'dangling.tmp',
      'dir.tmp',
      'p.tmp',
      'skipped-dir',
      'x.tmp',
    ]);
  });
});

describe('holdsAnything', () => {
  it('ignores only the named entry, and calls an unreadable directory empty', () => {
    const root = newRoot();
    expect(holdsAnything(root, '.s3sync')).toBe(false);
    mkdirSync(path.join(root, '.s3sync'));
    expect(holdsAnything(root, '.s3sync')).toBe(false);
    writeFileSync(path.join(root, 'a'), '');
    expect(holdsAnything(root, '.s3sync')).toBe(true);
    expect(holdsAnything(path.join(root, 'missing'), '.s3sync')).toBe(false);
  });
});

describe('holdsAFile', () => {
  const opts = {
    skipDir: (rel: string) => rel === '.s3sync',
    wanted: (rel: string) => !rel.endsWith('.tmp'),
  };
  it('finds a file at any depth; empty folders, skipped folders and unwanted files are none', () => {
    const root = newRoot();
    expect(holdsAFile(root, opts)).toBe(false);
    mkdirSync(path.join(root, 'a', 'b', 'c'), { recursive: true });
    mkdirSync(path.join(root, '.s3sync'));
    writeFileSync(path.join(root, '.s3sync', 'manifest'), '');
    writeFileSync(path.join(root, 'a', 'x.tmp'), '');
    expect(holdsAFile(root, opts)).toBe(false);
    writeFileSync(path.join(root, 'a', 'b', 'c', 'y.txt'), '');
    expect(holdsAFile(root, opts)).toBe(true);
    expect(holdsAFile(path.join(root, 'missing'), opts)).toBe(false);
  });

  it('a link counts only when followed, and a tree past the budget is taken to hold one', () => {
    const root = newRoot();
    mkdirSync(path.join(root, 'real'));
    writeFileSync(path.join(root, 'real', 'f.txt'), '');
    const top = path.join(root, 'top');
    mkdirSync(top);
    symlinkSync(path.join(root, 'real'), path.join(top, 'link'));
    expect(holdsAFile(top, opts)).toBe(false);
    expect(holdsAFile(top, { ...opts, followSymlinks: true })).toBe(true);
    for (let i = 0; i < 5; i++) mkdirSync(path.join(top, `e${i}`));
    expect(holdsAFile(top, { ...opts, budget: 100 })).toBe(false);
    expect(holdsAFile(top, { ...opts, budget: 3 })).toBe(true);
  });
});

describe('names that are not valid UTF-8', () => {
  /** A file whose name is these bytes, in dir (a Buffer path: the name cannot be a string). */
  const writeRaw = (dir: string, name: number[]) =>
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]), 'x');
  const BAD: [string, number[]][] = [
    ['a lone 0xff', [0x66, 0xff]],
    ['a truncated sequence', [0x67, 0xc3]],
    ['an overlong slash', [0x68, 0xc0, 0xaf]],
    ['a lone continuation byte', [0x69, 0x80, 0x6a]],
    ['an encoded surrogate', [0x6b, 0xed, 0xa0, 0x80]],
  ];

  it.each(BAD)('%s: one error, and no file under the mangled name', (_what, bytes) => {
    const root = newRoot();
    writeFileSync(path.join(root, 'ok.txt'), 'ok');
    mkdirSync(path.join(root, 'sub'));
    writeRaw(root, bytes);
    writeRaw(path.join(root, 'sub'), bytes);
    const scan = scanDirectory(root);
    expect(scan.files.map((f) => f.rel)).toEqual(['ok.txt']);
    expect(scan.errors).toHaveLength(2);
    for (const e of scan.errors) {
      expect(e.rel).toContain('\uFFFD');
      expect(e.message).toMatch(/not valid UTF-8/);
    }
  });

  it('a directory whose name is not valid UTF-8 is one error, not one per file in it', () => {
    const root = newRoot();
    const dir = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x64, 0xfe])]);
    mkdirSync(dir);
    for (const f of ['a', 'b', 'c']) writeFileSync(Buffer.concat([dir, Buffer.from(`/${f}`)]), f);
    const scan = scanDirectory(root);
    expect(scan.files).toEqual([]);
    expect(scan.errors).toEqual([
      { rel: 'd\uFFFD', message: 'file name is not valid UTF-8 (byte 0xFE at 1): skipped' },
    ]);
  });

  it('a link not followed or a FIFO under such a name gets its notice, not an error: neither is synced', () => {
    const root = newRoot();
    const raw = (name: number[]) => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(name)]);
    symlinkSync(path.join(root, 'ok.txt'), raw([0x6c, 0xff]));
    // mkfifo takes its path as a string: the FIFO gets its bytes by a rename.
    execFileSync('mkfifo', [path.join(root, 'p')]);
    renameSync(path.join(root, 'p'), raw([0x70, 0xfe]));
    writeFileSync(path.join(root, 'ok.txt'), 'ok');
    const scan = scanDirectory(root);
    expect(scan.errors).toEqual([]);
    expect(scan.files.map((f) => f.rel)).toEqual(['ok.txt']);
    expect(scan.notices.sort((a, b) => (a.rel < b.rel ? -1 : 1))).toEqual([
      { rel: 'l\uFFFD', message: 'symbolic link skipped (use --follow-symlinks to follow)' },
      { rel: 'p\uFFFD', message: 'not a regular file (FIFO, socket or device): skipped' },
    ]);
    // Followed, the link would be synced under a name no key can hold: an error, as for a file.
    const followed = scanDirectory(root, { followSymlinks: true });
    expect(followed.errors).toEqual([
      { rel: 'l\uFFFD', message: 'file name is not valid UTF-8 (byte 0xFF at 1): skipped' },
    ]);
    expect(followed.notices.map((n) => n.rel)).toEqual(['p\uFFFD']);
  });

  it('a valid name that holds U+FFFD itself is a file like any other', () => {
    const root = newRoot();
    for (const name of ['\uFFFD', 'a \uFFFD b', '\uFFFD\uFFFD.txt'])
      writeFileSync(path.join(root, name), name);
    mkdirSync(path.join(root, 'dir \uFFFD'));
    writeFileSync(path.join(root, 'dir \uFFFD', 'f'), 'f');
    const scan = scanDirectory(root);
    expect(scan.errors).toEqual([]);
    expect(scan.files.map((f) => f.rel).sort()).toEqual(
      ['\uFFFD', 'a \uFFFD b', '\uFFFD\uFFFD.txt', 'dir \uFFFD/f'].sort(),
    );
  });

  it('beside an invalid name that reads the same, the valid one is a file and the other an error', () => {
    const root = newRoot();
    writeFileSync(path.join(root, 'x\uFFFD'), 'valid');
    writeRaw(root, [0x78, 0xff]);
    writeRaw(root, [0x78, 0xfe]);
    writeFileSync(path.join(root, 'y\uFFFD'), 'valid, alone');
    const scan = scanDirectory(root);
    expect(scan.files.map((f) => [f.rel, f.size]).sort()).toEqual([
      ['x\uFFFD', 5],
      ['y\uFFFD', 12],
    ]);
    // The bytes of the two names that cannot be synced, whichever entry the decoded name stands for.
    expect(scan.errors.sort((a, b) => (a.message < b.message ? -1 : 1))).toEqual([
      { rel: 'x\uFFFD', message: 'file name is not valid UTF-8 (byte 0xFE at 1): skipped' },
      { rel: 'x\uFFFD', message: 'file name is not valid UTF-8 (byte 0xFF at 1): skipped' },
    ]);
  });
});

describe('tooLargeForStore', () => {
  const limit = { bytes: 5 * 1024 ** 4, store: 'Store' };
  it.each([
    ['at the limit: taken', 5 * 1024 ** 4, limit, undefined],
    ['no limit given: taken', 6 * 1024 ** 4, undefined, undefined],
    [
      'one byte over: skipped, both sizes said',
      5 * 1024 ** 4 + 1,
      limit,
      `5.0 TiB (${5 * 1024 ** 4 + 1} bytes), larger than the largest object Store takes (5.0 TiB): skipped`,
    ],
  ])('%s', (_why, size, given, expected) => {
    expect(tooLargeForStore(size, given)).toBe(expected);
  });
});
