/**
 * TargetTree on a real file system: every path pull writes or deletes is checked component by
 * component, and no link leads it outside the target.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HeldFolder, PathRefused, TargetTree } from '../../src/local/confine.js';
import { scanDirectory, statFields } from '../../src/local/scan.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A target and a directory outside it (with a file in it), side by side. */
function setup(): { root: string; outside: string } {
  const base = realpathSync(mkdtempSync(path.join(tmpdir(), 's3sync-confine-')));
  dirs.push(base);
  const root = path.join(base, 'target');
  const outside = path.join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(path.join(outside, 'victim.txt'), 'victim');
  return { root, outside };
}

const listing = (dir: string) => readdirSync(dir).sort();

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PathRefused);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

const modes = [
  { name: 'without --follow-symlinks', followSymlinks: false },
  { name: 'with --follow-symlinks', followSymlinks: true },
];

describe.each(modes)('TargetTree.destination $name', ({ followSymlinks }) => {
  it('makes missing parents one at a time and returns a path inside the target', () => {
    const { root } = setup();
    const tree = new TargetTree(root, { followSymlinks });
    expect(tree.destination('a/b/c/file.txt')).toBe(path.join(root, 'a/b/c/file.txt'));
    expect(statSync(path.join(root, 'a/b/c')).isDirectory()).toBe(true);
    expect(tree.destination('top.txt')).toBe(path.join(root, 'top.txt'));
  });

  it.each([
    ['a link at depth 1', 'link', 'link/evil.txt'],
    ['a link at depth 2', 'a/link', 'a/link/evil.txt'],
    ['a link at depth 3, deeper below it', 'a/b/link', 'a/b/link/x/y/evil.txt'],
  ])('refuses %s to a directory outside, and creates nothing there', (_, at, rel) => {
    const { root, outside } = setup();
    mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
    symlinkSync(outside, path.join(root, at));
    const tree = new TargetTree(root, { followSymlinks });
    const msg = refusal(() => tree.destination(rel));
    expect(msg).toMatch(/^not written: /);
    expect(msg).toContain(`'${at}' is a symbolic link`);
    expect(listing(outside)).toEqual(['victim.txt']);
  });

  it.each([
    ['/', '/'],
    ['an ancestor of the target', '..'],
    ['the target itself', '.'],
    ['a relative path out', '../outside'],
  ])('refuses a link to %s', (_, to) => {
    const { root, outside } = setup();
    symlinkSync(to, path.join(root, 'link'));
    const tree = new TargetTree(root, { followSymlinks });
    const rel = `link/${path.relative('/', outside)}/evil.txt`;
    expect(refusal(() => tree.destination(rel))).toContain("'link' is a symbolic link");
    expect(listing(outside)).toEqual(['victim.txt']);
  });

  it('refuses a dangling link, and a link to a file where a directory is expected', () => {
    const { root, outside } = setup();
    symlinkSync(path.join(outside, 'nothing/here'), path.join(root, 'dangling'));
    symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'tofile'));
    writeFileSync(path.join(root, 'inside.txt'), 'x');
    symlinkSync('inside.txt', path.join(root, 'toinside'));
    const tree = new TargetTree(root, { followSymlinks });
    const dangling = refusal(() => tree.destination('dangling/evil.txt'));
    const tofile = refusal(() => tree.destination('tofile/evil.txt'));
    const toinside = refusal(() => tree.destination('toinside/evil.txt'));
    if (followSymlinks) {
      expect(dangling).toContain('broken');
      expect(tofile).toContain('outside');
      expect(toinside).toContain('to a file, not to a directory');
    }
    expect(existsSync(path.join(outside, 'nothing'))).toBe(false);
    expect(readFileSync(path.join(outside, 'victim.txt'), 'utf8')).toBe('victim');
  });

  it('refuses a file or a directory in the way', () => {
    const { root } = setup();
    writeFileSync(path.join(root, 'blocked'), 'x');
    mkdirSync(path.join(root, 'dir'));
    writeFileSync(path.join(root, 'dir/kept'), 'x');
    const tree = new TargetTree(root, { followSymlinks });
    expect(refusal(() => tree.destination('blocked/file.txt'))).toBe(
      "not written: 'blocked' is a file, not a directory",
    );
    expect(refusal(() => tree.destination('dir'))).toBe('not written: a directory is in the way');
    expect(readFileSync(path.join(root, 'dir/kept'), 'utf8')).toBe('x');
  });

  it('removes a folder in the way that holds no file (empty folders only), only at the rename', () => {
    const { root } = setup();
    mkdirSync(path.join(root, 'sub/empty/deeper/deepest'), { recursive: true });
    mkdirSync(path.join(root, 'sub/empty/other'));
    const tree = new TargetTree(root, { followSymlinks });
    // A dry run and the early check see no refusal, and remove nothing.
    expect(tree.writeRefusal('sub/empty')).toBeNull();
    expect(tree.destination('sub/empty', false)).toBe(path.join(root, 'sub/empty'));
    expect(lstatSync(path.join(root, 'sub/empty/deeper/deepest')).isDirectory()).toBe(true);
    expect(tree.destination('sub/empty')).toBe(path.join(root, 'sub/empty'));
    expect(existsSync(path.join(root, 'sub/empty'))).toBe(false);
    expect(listing(path.join(root, 'sub'))).toEqual([]);
  });

  it('keeps a folder in the way that holds anything: a hidden file, a link, an s3sync folder', () => {
    const { root, outside } = setup();
    mkdirSync(path.join(root, 'hidden/deep'), { recursive: true });
    writeFileSync(path.join(root, 'hidden/deep/.keep'), '');
    mkdirSync(path.join(root, 'linked'));
    symlinkSync(outside, path.join(root, 'linked/out'));
    mkdirSync(path.join(root, 'dangling'));
    symlinkSync(path.join(outside, 'gone'), path.join(root, 'dangling/l'));
    mkdirSync(path.join(root, 'state/.s3sync'), { recursive: true });
    // An empty folder outside, reached through a link to a folder: the link is refused, nothing removed.
    mkdirSync(path.join(outside, 'emptydir'));
    symlinkSync(path.join(outside, 'emptydir'), path.join(root, 'todir'));
    const tree = new TargetTree(root, { followSymlinks });
    for (const rel of ['hidden', 'linked', 'dangling', 'state']) {
      expect(tree.writeRefusal(rel)).toBe('not written: a directory is in the way');
      expect(refusal(() => tree.destination(rel))).toBe('not written: a directory is in the way');
    }
    expect(refusal(() => tree.destination('todir'))).toBe(
      'not written: a symbolic link to a directory is in the way',
    );
    expect(lstatSync(path.join(outside, 'emptydir')).isDirectory()).toBe(true);
    expect(listing(root)).toEqual(['dangling', 'hidden', 'linked', 'state', 'todir']);
    expect(existsSync(path.join(root, 'hidden/deep/.keep'))).toBe(true);
    expect(listing(outside)).toEqual(['emptydir', 'victim.txt']);
  });

  it('a link at the final name is to be replaced (never written through), unless it leads to a directory', () => {
    const { root, outside } = setup();
    symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'tofile.txt'));
    symlinkSync(path.join(outside, 'gone.txt'), path.join(root, 'dangling.txt'));
    symlinkSync(outside, path.join(root, 'todir'));
    const tree = new TargetTree(root, { followSymlinks });
    expect(tree.destination('tofile.txt')).toBe(path.join(root, 'tofile.txt'));
    expect(tree.destination('dangling.txt')).toBe(path.join(root, 'dangling.txt'));
    expect(refusal(() => tree.destination('todir'))).toBe(
      'not written: a symbolic link to a directory is in the way',
    );
  });

  it('replaces only the file the scan found at the name: none, or that inode', () => {
    const { root, outside } = setup();
    writeFileSync(path.join(root, 'seen.txt'), 'scanned');
    writeFileSync(path.join(root, 'late.txt'), 'made after the scan');
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'd/swapped.txt'), 'replaced after the scan');
    const seen = (rel: string) => statFields(lstatSync(path.join(root, rel), { bigint: true }));
    const tree = new TargetTree(root, { followSymlinks });
    // The file scanned there, nothing scanned and nothing there, or no scan to hold it to.
    expect(tree.destination('seen.txt', true, seen('seen.txt'))).toBe(path.join(root, 'seen.txt'));
    expect(tree.destination('d/new.txt', true, null)).toBe(path.join(root, 'd/new.txt'));
    expect(tree.destination('late.txt')).toBe(path.join(root, 'late.txt'));
    const unseen = refusal(() => tree.destination('late.txt', true, null));
    expect(unseen).toBe(
      "not written: a file the scan did not see is here now (made since, or another key's file on a filesystem that ignores case)",
    );
    // The early check (no recheck of known folders) holds it to the scan too.
    expect(refusal(() => tree.destination('late.txt', false, null))).toBe(unseen);
    expect(refusal(() => tree.destination('d/swapped.txt', true, seen('seen.txt')))).toBe(
      'not written: the file at this name was replaced since the scan',
    );
    // A link at the name is replaced as before (never written through), whatever the scan found.
    symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'link.txt'));
    expect(tree.destination('link.txt', true, null)).toBe(path.join(root, 'link.txt'));
    expect(readFileSync(path.join(root, 'late.txt'), 'utf8')).toBe('made after the scan');
  });

  it('a directory found safe once and swapped for a link since is refused', () => {
    const { root, outside } = setup();
    const tree = new TargetTree(root, { followSymlinks });
    expect(tree.destination('d/e/a.txt')).toBe(path.join(root, 'd/e/a.txt'));
    renameSync(path.join(root, 'd'), path.join(root, 'moved'));
    symlinkSync(outside, path.join(root, 'd'));
    expect(refusal(() => tree.destination('d/e/b.txt'))).toContain("'d' is a symbolic link");
    // Put back: safe again.
    rmSync(path.join(root, 'd'));
    renameSync(path.join(root, 'moved'), path.join(root, 'd'));
    expect(tree.destination('d/e/b.txt')).toBe(path.join(root, 'd/e/b.txt'));
    expect(listing(outside)).toEqual(['victim.txt']);
  });

  it('never writes into its own folder through a link', () => {
    const { root } = setup();
    mkdirSync(path.join(root, '.s3sync'));
    symlinkSync('.s3sync', path.join(root, 'state'));
    const tree = new TargetTree(root, { followSymlinks });
    expect(refusal(() => tree.destination('state/manifest.json'))).toContain("'state' is a symbolic link");
  });
});

describe('TargetTree.removeEmptied', () => {
  it('removes the folders left empty and those above them, deepest first, never the root or its state', () => {
    const { root } = setup();
    mkdirSync(path.join(root, 'p/q/r'), { recursive: true });
    mkdirSync(path.join(root, 'marked/sub'), { recursive: true });
    mkdirSync(path.join(root, 'kept'));
    writeFileSync(path.join(root, 'kept/excluded.log'), 'x');
    mkdirSync(path.join(root, 'withempty/inner'), { recursive: true });
    mkdirSync(path.join(root, '.s3sync'));
    const tree = new TargetTree(root);
    tree.removeEmptied(['p/q/r', 'marked/sub', 'kept', 'withempty', '.s3sync'], (rel) => rel === 'marked');
    // `withempty` holds a folder the run did not empty: rmdir keeps it.
    expect(listing(root)).toEqual(['.s3sync', 'kept', 'marked', 'withempty']);
    expect(listing(path.join(root, 'marked'))).toEqual([]);
    expect(existsSync(root)).toBe(true);
  });

  it('never removes a folder reached through a link, nor one outside the target', () => {
    const { root, outside } = setup();
    mkdirSync(path.join(root, 'real/empty'), { recursive: true });
    writeFileSync(path.join(root, 'real/f'), 'x');
    symlinkSync(path.join(root, 'real'), path.join(root, 'inlink'));
    mkdirSync(path.join(outside, 'empty'));
    symlinkSync(outside, path.join(root, 'outlink'));
    const tree = new TargetTree(root, { followSymlinks: true });
    tree.removeEmptied(['inlink/empty', 'outlink/empty', 'inlink', 'outlink'], () => false);
    expect(lstatSync(path.join(root, 'real/empty')).isDirectory()).toBe(true);
    expect(lstatSync(path.join(outside, 'empty')).isDirectory()).toBe(true);
    expect(lstatSync(path.join(root, 'inlink')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(root, 'outlink')).isSymbolicLink()).toBe(true);
  });
});

describe('TargetTree with --follow-symlinks', () => {
  it('goes through links to directories inside the target, at any depth, to their real path', () => {
    const { root } = setup();
    mkdirSync(path.join(root, 'real/deep'), { recursive: true });
    symlinkSync('real', path.join(root, 'sibling'));
    mkdirSync(path.join(root, 'a'));
    symlinkSync('../real/deep', path.join(root, 'a/link'));
    const tree = new TargetTree(root, { followSymlinks: true });
    expect(tree.destination('sibling/x.txt')).toBe(path.join(root, 'real/x.txt'));
    expect(tree.destination('a/link/new/y.txt')).toBe(path.join(root, 'real/deep/new/y.txt'));
    // Without the flag, the same links are refused.
    const plain = new TargetTree(root);
    expect(refusal(() => plain.destination('sibling/x.txt'))).toContain('--follow-symlinks');
  });

  it('a link chain that ends outside is refused even if its first hop is inside', () => {
    const { root, outside } = setup();
    symlinkSync(outside, path.join(root, 'hop2'));
    symlinkSync('hop2', path.join(root, 'hop1'));
    const tree = new TargetTree(root, { followSymlinks: true });
    expect(refusal(() => tree.destination('hop1/evil.txt'))).toContain('outside');
    expect(listing(outside)).toEqual(['victim.txt']);
  });

  it("never goes into s3sync's own files, nor into a file the caller owns", () => {
    const { root } = setup();
    mkdirSync(path.join(root, '.s3sync/tmp'), { recursive: true });
    mkdirSync(path.join(root, 'conf'));
    symlinkSync('.s3sync/tmp', path.join(root, 'tmplink'));
    symlinkSync('conf', path.join(root, 'conflink'));
    const tree = new TargetTree(root, { followSymlinks: true, isOwn: (rel) => rel === 'conf/m.json' });
    expect(refusal(() => tree.destination('tmplink/x'))).toContain("s3sync's own files");
    expect(refusal(() => tree.destination('conflink/m.json'))).toContain("s3sync's own file 'conf/m.json'");
    expect(tree.destination('conflink/other.json')).toBe(path.join(root, 'conf/other.json'));
  });

  it('the scan follows exactly the links the writes may go through', () => {
    const { root, outside } = setup();
    mkdirSync(path.join(root, 'real'));
    writeFileSync(path.join(root, 'real/in.txt'), 'in');
    symlinkSync('real', path.join(root, 'sibling'));
    symlinkSync('real/in.txt', path.join(root, 'filelink'));
    symlinkSync(outside, path.join(root, 'out'));
    symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'outfile'));
    symlinkSync('/', path.join(root, 'slash'));
    symlinkSync('.', path.join(root, 'self'));
    symlinkSync('nowhere', path.join(root, 'dangling'));
    const tree = new TargetTree(root, { followSymlinks: true });
    const scan = scanDirectory(root, {
      followSymlinks: true,
      followLink: (abs, rel) => tree.linkReason(abs, rel),
    });
    expect(scan.files.map((f) => f.rel).sort()).toEqual(['filelink', 'real/in.txt', 'sibling/in.txt']);
    expect(scan.notices.map((n) => n.rel).sort()).toEqual(['dangling', 'out', 'outfile', 'self', 'slash']);
    expect(scan.errors).toEqual([]);
  });
});

const ino = (p: string) => lstatSync(p, { bigint: true }).ino.toString();
const all = () => true;

describe.each(modes)('TargetTree.remove $name', ({ followSymlinks }) => {
  it('deletes the regular file the scan found, and says when it is already gone', () => {
    const { root } = setup();
    writeFileSync(path.join(root, 'old.txt'), 'old');
    const tree = new TargetTree(root, { followSymlinks });
    expect(tree.remove('old.txt', ino(path.join(root, 'old.txt')), all)).toBe('deleted');
    expect(existsSync(path.join(root, 'old.txt'))).toBe(false);
    expect(tree.remove('old.txt', undefined, all)).toBe('gone');
    expect(tree.remove('no/such/dir/old.txt', undefined, all)).toBe('gone');
  });

  it('refuses a file that is not the one scanned', () => {
    const { root } = setup();
    writeFileSync(path.join(root, 'old.txt'), 'old');
    const tree = new TargetTree(root, { followSymlinks });
    expect(refusal(() => tree.remove('old.txt', '1', all))).toBe(
      'not deleted: it changed since it was scanned',
    );
    expect(existsSync(path.join(root, 'old.txt'))).toBe(true);
  });

  it.each([
    ['depth 1', 'link', 'link/victim.txt'],
    ['depth 2', 'a/link', 'a/link/victim.txt'],
  ])('never deletes through a link to a directory outside (%s)', (_, at, rel) => {
    const { root, outside } = setup();
    mkdirSync(path.dirname(path.join(root, at)), { recursive: true });
    symlinkSync(outside, path.join(root, at));
    const tree = new TargetTree(root, { followSymlinks });
    // Even with the inode of the very file (as a scan that followed the link would have it).
    expect(refusal(() => tree.remove(rel, ino(path.join(outside, 'victim.txt')), all))).toMatch(
      /^not deleted: .*symbolic link/,
    );
    expect(readFileSync(path.join(outside, 'victim.txt'), 'utf8')).toBe('victim');
  });

  it('a link at the final name: unlinked itself only with the flag, never what it points to', () => {
    const { root, outside } = setup();
    const victim = path.join(outside, 'victim.txt');
    symlinkSync(victim, path.join(root, 'link.txt'));
    const tree = new TargetTree(root, { followSymlinks });
    if (followSymlinks) {
      expect(tree.remove('link.txt', ino(victim), all)).toBe('deleted');
      expect(existsSync(path.join(root, 'link.txt'))).toBe(false);
    } else {
      expect(refusal(() => tree.remove('link.txt', ino(victim), all))).toBe(
        'not deleted: it is a symbolic link now',
      );
    }
    expect(readFileSync(victim, 'utf8')).toBe('victim');
  });
});

describe('TargetTree.remove with --follow-symlinks', () => {
  it('through a link inside the target, deletes a file only if its real path goes too', () => {
    const { root } = setup();
    mkdirSync(path.join(root, 'real'));
    writeFileSync(path.join(root, 'real/old.txt'), 'old');
    writeFileSync(path.join(root, 'real/kept.txt'), 'kept');
    symlinkSync('real', path.join(root, 'sibling'));
    const tree = new TargetTree(root, { followSymlinks: true });
    const going = new Set(['sibling/old.txt', 'real/old.txt', 'sibling/kept.txt']);
    const alsoGoes = (real: string) => going.has(real);
    expect(tree.remove('sibling/kept.txt', ino(path.join(root, 'real/kept.txt')), alsoGoes)).toBe('kept');
    expect(readFileSync(path.join(root, 'real/kept.txt'), 'utf8')).toBe('kept');
    expect(tree.remove('sibling/old.txt', ino(path.join(root, 'real/old.txt')), alsoGoes)).toBe('deleted');
    expect(tree.remove('real/old.txt', undefined, alsoGoes)).toBe('gone');
    expect(lstatSync(path.join(root, 'sibling')).isSymbolicLink()).toBe(true);
  });
});

describe('TargetTree temp folder', () => {
  it('makes DIR/.s3sync/tmp, and removes it', () => {
    const { root } = setup();
    const tree = new TargetTree(root);
    expect(tree.tmpDir()).toBe(path.join(root, '.s3sync/tmp'));
    writeFileSync(path.join(root, '.s3sync/tmp/x.part'), 'x');
    tree.removeTmp();
    expect(listing(path.join(root, '.s3sync'))).toEqual([]);
  });

  it('gives temp file names that never repeat in a run, nor between two runs', () => {
    const { root } = setup();
    const a = new TargetTree(root);
    const b = new TargetTree(root);
    const names = [a, b].flatMap((t) => Array.from({ length: 5000 }, () => t.tmpFileName('.part')));
    expect(new Set(names).size).toBe(10_000);
    for (const n of names) expect(n).toMatch(/^[0-9a-f]{16}-[0-9a-z]+\.part$/);
    // Each run's names share its random id, different from the other run's.
    const ids = new Set(names.map((n) => n.slice(0, 16)));
    expect(ids.size).toBe(2);
  });

  it('a temp folder used before and swapped for a link since is refused', () => {
    const { root, outside } = setup();
    const tree = new TargetTree(root);
    tree.tmpDir();
    renameSync(path.join(root, '.s3sync/tmp'), path.join(root, 'moved'));
    symlinkSync(outside, path.join(root, '.s3sync/tmp'));
    expect(refusal(() => tree.tmpDir())).toBe(
      "not written: no safe temp folder: '.s3sync/tmp' is a symbolic link",
    );
  });

  it.each([
    ['.s3sync', (root: string, outside: string) => symlinkSync(outside, path.join(root, '.s3sync'))],
    [
      '.s3sync/tmp',
      (root: string, outside: string) => {
        mkdirSync(path.join(root, '.s3sync'));
        symlinkSync(outside, path.join(root, '.s3sync/tmp'));
      },
    ],
  ])('refuses %s as a link, even with --follow-symlinks, and removes nothing through it', (at, plant) => {
    const { root, outside } = setup();
    mkdirSync(path.join(outside, 'tmp'));
    writeFileSync(path.join(outside, 'tmp/keep.part'), 'keep');
    plant(root, outside);
    const tree = new TargetTree(root, { followSymlinks: true });
    expect(refusal(() => tree.tmpDir())).toBe(`not written: no safe temp folder: '${at}' is a symbolic link`);
    tree.removeTmp();
    expect(listing(outside)).toEqual(['tmp', 'victim.txt']);
    expect(listing(path.join(outside, 'tmp'))).toEqual(['keep.part']);
  });

  const linux = process.platform === 'linux' && existsSync('/proc/self/fd');

  it.runIf(linux)('gives temp file paths through the folder opened, not its path', () => {
    const { root, outside } = setup();
    const tree = new TargetTree(root);
    const at = tree.tmpPath('a.part');
    expect(at).toMatch(/^\/proc\/self\/fd\/\d+\/a\.part$/);
    writeFileSync(at, 'a');
    expect(readFileSync(path.join(root, '.s3sync/tmp/a.part'), 'utf8')).toBe('a');
    // Swapped for a link after the check: what was checked is the folder written in, not the link's.
    renameSync(path.join(root, '.s3sync/tmp'), path.join(root, 'moved'));
    symlinkSync(outside, path.join(root, '.s3sync/tmp'));
    writeFileSync(at.replace('a.part', 'b.part'), 'b');
    expect(listing(outside)).toEqual(['victim.txt']);
    expect(listing(path.join(root, 'moved'))).toEqual(['a.part', 'b.part']);
    // Checked anew: refused, nothing made outside.
    expect(refusal(() => tree.tmpPath('c.part'))).toBe(
      "not written: no safe temp folder: '.s3sync/tmp' is a symbolic link",
    );
    expect(listing(outside)).toEqual(['victim.txt']);
    tree.removeTmp();
  });

  it.runIf(linux)('opens the temp folder anew once it was removed, and closes what it opened', () => {
    const { root } = setup();
    const tree = new TargetTree(root);
    const fds = () => readdirSync('/proc/self/fd').length;
    const start = fds();
    const first = tree.tmpPath('a.part');
    // Another folder moved onto its name removes the one opened, its path unchanged.
    mkdirSync(path.join(root, 'other'));
    renameSync(path.join(root, 'other'), path.join(root, '.s3sync/tmp'));
    const second = tree.tmpPath('a.part');
    expect(second).not.toBe(first);
    writeFileSync(second, 'a');
    expect(readFileSync(path.join(root, '.s3sync/tmp/a.part'), 'utf8')).toBe('a');
    // A moved folder is not a removed one: the same descriptor, and no new one each time.
    for (let i = 0; i < 100; i++) tree.tmpPath('a.part');
    expect(fds()).toBe(start + 2);
    tree.removeTmp();
    expect(fds()).toBe(start);
  });

  it.runIf(linux)('gives a path beside a file through its folder opened, at the root too', () => {
    const { root, outside } = setup();
    const tree = new TargetTree(root);
    for (const rel of ['top.txt', 'd/e/deep.txt']) {
      const held = new HeldFolder();
      const at = tree.besidePath(rel, '.x.s3sync.part', held);
      expect(at).toMatch(/^\/proc\/self\/fd\/\d+\/\.x\.s3sync\.part$/);
      writeFileSync(at, rel);
      const dir = path.join(root, path.dirname(rel));
      expect(readFileSync(path.join(dir, '.x.s3sync.part'), 'utf8')).toBe(rel);
      held.close();
    }
    // Swapped for a link after the check: the folder opened is the one written in; checked anew, refused.
    const held = new HeldFolder();
    const at = tree.besidePath('d/e/deep.txt', '.y.s3sync.part', held);
    renameSync(path.join(root, 'd/e'), path.join(root, 'd/moved'));
    symlinkSync(outside, path.join(root, 'd/e'));
    writeFileSync(at, 'y');
    expect(listing(outside)).toEqual(['victim.txt']);
    expect(listing(path.join(root, 'd/moved'))).toEqual(['.x.s3sync.part', '.y.s3sync.part']);
    expect(refusal(() => tree.besidePath('d/e/deep.txt', '.z.s3sync.part', held))).toMatch(
      /^not written: 'd\/e' is a symbolic link/,
    );
    held.close();
  });

  it.runIf(linux)('names the temp folder, not the descriptor, in an error through it', () => {
    const { root } = setup();
    const tree = new TargetTree(root);
    let err: unknown;
    try {
      readFileSync(tree.tmpPath('missing.part'));
    } catch (e) {
      err = tree.realPathsIn(e);
    }
    expect((err as Error).message).toContain(`'${path.join(root, '.s3sync/tmp/missing.part')}'`);
    tree.removeTmp();
  });
});

describe('TargetTree.entryOf', () => {
  it('names the entry a path reaches through the links a write would follow', () => {
    const { root, outside } = setup();
    mkdirSync(path.join(root, 'real/deep'), { recursive: true });
    mkdirSync(path.join(root, 'a'));
    symlinkSync('real', path.join(root, 'link'));
    symlinkSync('../real/deep', path.join(root, 'a/deep'));
    symlinkSync(outside, path.join(root, 'out'));
    symlinkSync('real/x', path.join(root, 'flink'));
    const follow = new TargetTree(root, { followSymlinks: true });
    expect(follow.entryOf('top.txt')).toBe('top.txt');
    expect(follow.entryOf('real/x')).toBe('real/x');
    expect(follow.entryOf('link/x')).toBe('real/x');
    expect(follow.entryOf('link/deep/y')).toBe('real/deep/y');
    expect(follow.entryOf('a/deep/y')).toBe('real/deep/y');
    // A link at the final name is the entry itself: a write replaces the link.
    expect(follow.entryOf('flink')).toBe('flink');
    // A folder not there yet, or a link a write would refuse: no entry.
    expect(follow.entryOf('link/new/z')).toBeUndefined();
    expect(follow.entryOf('out/victim.txt')).toBeUndefined();
    // Without --follow-symlinks no link is gone through.
    expect(new TargetTree(root).entryOf('link/x')).toBeUndefined();
  });
});
