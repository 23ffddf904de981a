import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { printable } from '../../src/escape.js';
import {
  DIRECTORY_MARKER,
  deleteDecision,
  type EntryKind,
  fileDirConflicts,
  type LinkTarget,
  linkReason,
  mayBeRefusedName,
  PATH_TOO_LONG,
  parentReason,
  refusedNameReason,
  relInside,
  replaceReason,
  safeJoin,
  unsafeKeyReason,
  unscannedReason,
} from '../../src/local/safe-path.js';

describe('unsafeKeyReason', () => {
  it.each([
    'a',
    'a/b/c.txt',
    'dir with space/file name.txt',
    'ünïcödé/日本語/файл.txt',
    'emoji/😀.png',
    'a+b%20c&d=e.txt',
    '~/notes.txt',
    '~user',
    '.env',
    'config/.hidden/.gitignore',
    '...',
    '..foo',
    'foo..',
    'a/.b',
    'ab:c',
    'time 12:00.txt',
    'dir/c:',
    'x'.repeat(255),
    'é'.repeat(127), // 254 bytes
    `${'x'.repeat(255)}/${'y'.repeat(255)}`,
  ])('allows %j', (rel) => {
    expect(unsafeKeyReason(rel)).toBeNull();
  });

  it.each([
    ['', 'empty'],
    ['/abs', 'absolute'],
    ['/', 'absolute'],
    ['..', "'..'"],
    ['../x', "'..'"],
    ['a/../../x', "'..'"],
    ['a/..', "'..'"],
    ['.', "'.'"],
    ['./a', "'.'"],
    ['a/./b', "'.'"],
    ['a\\b', 'backslash'],
    ['..\\..\\x', 'backslash'],
    ['a\0b', 'control'],
    ['a\nb', 'control'],
    ['a\tb', 'control'],
    ['a\rb', 'control'],
    ['\x1f', 'control'],
    ['a//b', 'empty path segment'],
    ['x'.repeat(256), 'any file system takes'],
    ['é'.repeat(256), 'any file system takes'], // 256 UTF-16 units: too long for exFAT and NTFS too
    ['😀'.repeat(128), 'any file system takes'], // 256 UTF-16 units
    [`ok/${'x'.repeat(300)}/ok`, 'any file system takes'],
  ])('rejects %j (%s)', (rel, fragment) => {
    const reason = unsafeKeyReason(rel);
    expect(reason).not.toBeNull();
    expect(reason).toContain(fragment);
    expect(reason).not.toBe(DIRECTORY_MARKER);
    expect(reason).not.toContain('\n');
  });

  it.each([
    'é'.repeat(128), // 256 bytes, 128 UTF-16 units
    'é'.repeat(255), // 510 bytes: exFAT and NTFS take it, ext4 refuses it when it is tried
    '😀'.repeat(64), // 256 bytes, 128 units
    `ok/${'é'.repeat(200)}/ok`,
  ])('lets the file system say whether it takes a name over 255 bytes: %j', (rel) => {
    expect(unsafeKeyReason(rel)).toBeNull();
  });

  it.each(['C:', 'C:/Windows/x', 'c:foo', 'a:b'])('rejects %j as a drive prefix where it is one', (rel) => {
    expect(unsafeKeyReason(rel, true)).toBe('starts with a Windows drive prefix');
    // Elsewhere a file name like any other, which a push from there made (a refused ':' is the FS's say).
    expect(unsafeKeyReason(rel, false)).toBeNull();
    expect(unsafeKeyReason(rel)).toBe(
      process.platform === 'win32' ? 'starts with a Windows drive prefix' : null,
    );
  });

  // Names Windows changes without an error (so the file system's own refusal never shows): a trailing
  // dot or space is dropped (`.s3sync.` would be the state folder), `:` names a stream, devices open.
  it.each([
    ['trail.', 'has a name ending in a dot or space, which Windows drops'],
    ['.s3sync./manifest.json', 'has a name ending in a dot or space, which Windows drops'],
    ['.s3syncignore.', 'has a name ending in a dot or space, which Windows drops'],
    ['dir./f.txt', 'has a name ending in a dot or space, which Windows drops'],
    ['sp /f.txt', 'has a name ending in a dot or space, which Windows drops'],
    ['a/...', 'has a name ending in a dot or space, which Windows drops'],
    ['sub/a:b', "contains ':', which Windows reads as a file's stream"],
    ['sub/report.txt:secret:$DATA', "contains ':', which Windows reads as a file's stream"],
    ['CON', "has the Windows device name 'CON'"],
    ['d/nul.txt', "has the Windows device name 'nul.txt'"],
    ['Com1.log', "has the Windows device name 'Com1.log'"],
    ['lpt9', "has the Windows device name 'lpt9'"],
    ['CONOUT$', "has the Windows device name 'CONOUT$'"],
  ])('on Windows refuses %j, which it would write elsewhere: %s', (rel, reason) => {
    expect(unsafeKeyReason(rel, true)).toBe(reason);
    expect(unsafeKeyReason(rel, false)).toBeNull();
  });

  it.each(['.trail.ok', 'a.b', 'console', 'con_x', 'com10', 'nul-file.txt', 'lpt', 'x. y'])(
    'on Windows takes %j, a name like any other',
    (rel) => {
      expect(unsafeKeyReason(rel, true)).toBeNull();
    },
  );

  it.each(['dir/', 'a/b/', 'a//'])('reports %j as a directory marker', (rel) => {
    expect(unsafeKeyReason(rel)).toBe(DIRECTORY_MARKER);
  });

  it('DIRECTORY_MARKER is a distinct constant', () => {
    expect(DIRECTORY_MARKER).toBe('directory marker');
  });

  it('allows ASCII punctuation', () => {
    expect(unsafeKeyReason("a b!@#$^()[]{};',`.txt")).toBeNull();
  });
});

describe('refusedNameReason', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  it('says the file system refuses a name when the write failed as FAT, exFAT and NTFS fail it', () => {
    for (const name of [
      'a?b',
      'a*b',
      'a:b',
      'a"b',
      'a<b',
      'a>b',
      'a|b',
      'CON',
      'nul.txt',
      'com1',
      'trail.',
      'trail ',
    ])
      for (const code of ['ENOENT', 'EINVAL', 'EPERM'])
        expect(refusedNameReason('file', name, err(code))).toBe('the file system refuses this name');
    expect(refusedNameReason('folder', 'x|y', err('ENOENT'))).toBe(
      "the file system refuses the folder name 'x|y'",
    );
  });

  it('says the path is too long when the name is short enough and the whole path is not', () => {
    for (const what of ['file', 'folder'] as const)
      for (const name of ['y'.repeat(120), 'x'.repeat(255), 'é'.repeat(127)])
        expect(refusedNameReason(what, name, err('ENAMETOOLONG'))).toBe(PATH_TOO_LONG);
    expect(PATH_TOO_LONG).toBe('the path is longer than the system allows');
  });

  it('says a name too long for the file system is refused, whatever its characters', () => {
    expect(refusedNameReason('file', 'é'.repeat(200), err('ENAMETOOLONG'))).toBe(
      'the file system refuses this name: too long (400 bytes)',
    );
    expect(refusedNameReason('folder', 'x'.repeat(300), err('ENAMETOOLONG'))).toBe(
      `the file system refuses the folder name '${'x'.repeat(300)}': too long (300 bytes)`,
    );
  });

  it('is null for another failure or a name any filesystem takes', () => {
    expect(refusedNameReason('file', 'a?b', err('EACCES'))).toBeNull();
    expect(refusedNameReason('file', 'a?b', err('ENOSPC'))).toBeNull();
    expect(refusedNameReason('file', 'a?b', new Error('no code'))).toBeNull();
    expect(refusedNameReason('file', 'plain name.txt', err('ENOENT'))).toBeNull();
    expect(refusedNameReason('file', 'plain name.txt', err('EPERM'))).toBeNull();
    expect(refusedNameReason('folder', "a b!@#$^()[]{};',`", err('EINVAL'))).toBeNull();
  });
});

describe('mayBeRefusedName', () => {
  it.each(['a?b', 'x:y', 'CON', 'con', 'Nul.txt', 'COM1', 'lpt9.log', 'trail.', 'trail ', '.', 'aux.tar.gz'])(
    'fits %j',
    (name) => expect(mayBeRefusedName(name)).toBe(true),
  );
  it.each(['plain.txt', 'CONSOLE', 'context.txt', 'COM', 'nul_', '.hidden', ' lead', 'a.b'])(
    'does not fit %j (no call made for it)',
    (name) => expect(mayBeRefusedName(name)).toBe(false),
  );
});

describe('fileDirConflicts', () => {
  it('is empty when there are no conflicts', () => {
    expect(fileDirConflicts([]).size).toBe(0);
    expect(fileDirConflicts(['a', 'b/c', 'b/d', 'ab/c', 'a.txt', 'a-b/c']).size).toBe(0);
  });

  it('reports both sides of a file/directory clash', () => {
    const c = fileDirConflicts(['a', 'a/b', 'x']);
    expect([...c.keys()].sort()).toEqual(['a', 'a/b']);
    expect(c.get('a')).toContain('a/b');
    expect(c.get('a/b')).toContain("'a'");
  });

  it('finds deep and multiple clashes, independent of input order', () => {
    const keys = ['a/b/c/d', 'a/b', 'q/r', 'q', 'a/b/x', 'z/1', 'z/1/2/3'];
    const expected = ['a/b', 'a/b/c/d', 'a/b/x', 'q', 'q/r', 'z/1', 'z/1/2/3'];
    expect([...fileDirConflicts(keys).keys()].sort()).toEqual(expected);
    expect([...fileDirConflicts([...keys].reverse()).keys()].sort()).toEqual(expected);
  });

  it('handles a key that is below two other files', () => {
    const c = fileDirConflicts(['a', 'a/b', 'a/b/c']);
    expect([...c.keys()].sort()).toEqual(['a', 'a/b', 'a/b/c']);
  });

  it('ignores duplicates and accepts any iterable', () => {
    const c = fileDirConflicts(new Set(['a', 'a', 'b']));
    expect(c.size).toBe(0);
    function* gen() {
      yield 'p';
      yield 'p/q';
    }
    expect([...fileDirConflicts(gen()).keys()].sort()).toEqual(['p', 'p/q']);
  });

  it('does not treat a name prefix as a directory', () => {
    expect(fileDirConflicts(['ab', 'a/b', 'abc/d']).size).toBe(0);
  });

  // A hang guard, not a speed check: a quadratic pass over 100k keys would take minutes.
  it('stays linear for 100k keys', () => {
    const keys: string[] = [];
    for (let i = 0; i < 100_000; i++) keys.push(`d${i % 100}/e${i % 1000}/f${i}.bin`);
    keys.push('d7/e7');
    const t0 = performance.now();
    const c = fileDirConflicts(keys);
    const ms = performance.now() - t0;
    expect(c.has('d7/e7')).toBe(true);
    expect(c.size).toBe(1 + 100);
    expect(ms).toBeLessThan(30_000);
  });
});

describe('safeJoin', () => {
  const root = path.resolve('/tmp/s3sync-root');

  it('joins a safe key below root', () => {
    expect(safeJoin(root, 'a/b.txt')).toBe(path.join(root, 'a', 'b.txt'));
    expect(safeJoin(root, '.env')).toBe(path.join(root, '.env'));
    expect(safeJoin(root, '..foo')).toBe(path.join(root, '..foo'));
    expect(safeJoin(`${root}/`, 'x')).toBe(path.join(root, 'x'));
  });

  it.skipIf(process.platform === 'win32')('joins a key that starts like a drive where none is one', () => {
    expect(safeJoin(root, 'C:/x')).toBe(path.join(root, 'C:', 'x'));
  });

  it('resolves a relative root', () => {
    expect(safeJoin('rel/dir', 'x')).toBe(path.resolve('rel/dir', 'x'));
  });

  it.each(['../x', 'a/../../x', '/etc/passwd', '', '.', 'a/', 'a\\..\\..\\x', 'a\0b'])(
    'throws for %j',
    (rel) => {
      let err: unknown;
      try {
        safeJoin(root, rel);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(S3SyncError);
      // The key as it is (--json and library callers get it exact); the CLI prints it escaped.
      const message = (err as Error).message;
      expect(message).toContain(`'${rel}'`);
      expect(printable(message)).not.toMatch(/[\n\0]/);
    },
  );
});

describe('relInside', () => {
  const root = '/srv/target';

  it.each([
    ['/srv/target/a', 'a'],
    ['/srv/target/a/b/c.txt', 'a/b/c.txt'],
    ['/srv/target/..foo', '..foo'],
    ['/srv/target/a/../b', 'b'],
    ['/srv/target/./x/', 'x'],
  ])('%s is inside as %j', (p, rel) => {
    expect(relInside(root, p)).toBe(rel);
    expect(relInside(`${root}/`, p)).toBe(rel);
  });

  it.each([
    '/srv/target', // the root itself
    '/srv/target/',
    '/srv/target/a/..',
    '/srv', // an ancestor
    '/',
    '/srv/target-other/a', // a sibling sharing the name as a prefix
    '/srv/targe',
    '/srv/target/../target2',
    '/elsewhere/srv/target/a',
  ])('%s is not strictly inside', (p) => {
    expect(relInside(root, p)).toBeNull();
  });

  it('the root / contains everything but itself', () => {
    expect(relInside('/', '/etc/passwd')).toBe('etc/passwd');
    expect(relInside('/', '/')).toBeNull();
  });
});

describe('linkReason', () => {
  const root = '/srv/target';
  const own = (rel: string) => rel === '.s3sync' || rel.startsWith('.s3sync/');
  const to = (real: string, kind: EntryKind = 'dir'): LinkTarget => ({ real, kind });

  it.each([
    ['/srv/target/sub', 'dir'],
    ['/srv/target/a/b/c', 'dir'],
    ['/srv/target/file.txt', 'file'],
  ] as const)('allows a link to %s (%s)', (real, kind) => {
    expect(linkReason('link', root, to(real, kind), own)).toBeNull();
  });

  it.each([
    [null, 'broken'],
    [to('/elsewhere'), 'outside'],
    [to('/'), 'outside'],
    [to('/srv'), 'outside'],
    [to('/srv/target-other/x'), 'outside'],
    [to('/etc/passwd', 'file'), 'outside'],
    [to('/srv/target'), 'itself'],
    [to('/srv/target/.s3sync'), "s3sync's own"],
    [to('/srv/target/.s3sync/tmp'), "s3sync's own"],
  ])('refuses a link to %j (%s)', (target, fragment) => {
    const reason = linkReason('a/link', root, target, own);
    expect(reason).toContain(fragment);
    expect(reason).toContain("'a/link'");
  });
});

describe('parentReason', () => {
  const root = '/srv/target';
  const own = () => false;
  const link = (real: string | null, kind: EntryKind = 'dir') => ({
    realRoot: root,
    target: real === null ? null : { real, kind },
    isOwn: own,
  });

  it('goes through a real directory whatever the flag', () => {
    for (const follow of ['yes', 'no', 'never'] as const) expect(parentReason('d', 'dir', follow)).toBeNull();
  });

  it.each([
    ['missing', 'does not exist'],
    ['file', 'is a file, not a directory'],
    ['other', 'special file'],
  ] as const)('refuses a %s component', (kind, fragment) => {
    for (const follow of ['yes', 'no', 'never'] as const)
      expect(parentReason('d', kind, follow)).toContain(fragment);
  });

  it('never goes through a link without --follow-symlinks, and never into its own folder', () => {
    expect(parentReason('d', 'link', 'no', link('/srv/target/sub'))).toContain('--follow-symlinks');
    expect(parentReason('.s3sync', 'link', 'never', link('/srv/target/sub'))).toBe(
      "'.s3sync' is a symbolic link",
    );
  });

  it('with --follow-symlinks goes through a link to a directory inside the target only', () => {
    expect(parentReason('d', 'link', 'yes', link('/srv/target/sub'))).toBeNull();
    expect(parentReason('d', 'link', 'yes', link('/srv/target/a/b/c'))).toBeNull();
    expect(parentReason('d', 'link', 'yes', link('/srv/target/f.txt', 'file'))).toContain('to a file');
    expect(parentReason('d', 'link', 'yes', link('/elsewhere'))).toContain('outside');
    expect(parentReason('d', 'link', 'yes', link('/'))).toContain('outside');
    expect(parentReason('d', 'link', 'yes', link('/srv/target'))).toContain('itself');
    expect(parentReason('d', 'link', 'yes', link(null))).toContain('broken');
    // No target looked up: refused, not followed blindly.
    expect(parentReason('d', 'link', 'yes')).not.toBeNull();
  });
});

describe('replaceReason', () => {
  it('renames onto nothing, a regular file, or a link to a file or nowhere (the link itself)', () => {
    expect(replaceReason('missing')).toBeNull();
    expect(replaceReason('file')).toBeNull();
    expect(replaceReason('link', 'file')).toBeNull();
    expect(replaceReason('link', undefined)).toBeNull(); // dangling
    expect(replaceReason('link', 'other')).toBeNull();
  });

  it('refuses a directory, a link to one, or a special file', () => {
    expect(replaceReason('dir')).toContain('directory');
    expect(replaceReason('link', 'dir')).toContain('symbolic link to a directory');
    expect(replaceReason('other')).toContain('special file');
  });
});

describe('unscannedReason', () => {
  const scanned = { ino: '42', size: 7, mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789' };

  it.each([
    ['the inode the scan found', { ...scanned }],
    ['the inode, its times changed in place', { ...scanned, size: 9, mtimeNs: '1', ctimeNs: '2' }],
    // exfat-fuse, sshfs without use_ino: a new number for the same file once the kernel forgot it.
    ['another number, the same size and times', { ...scanned, ino: '43' }],
  ])('accepts %s', (_, now) => {
    expect(unscannedReason(scanned, now)).toBeNull();
  });

  it.each([
    ['another inode and size', { ...scanned, ino: '43', size: 8 }],
    ['another inode and mtime', { ...scanned, ino: '43', mtimeNs: '1700000000123456788' }],
    ['another inode and ctime (renamed over it)', { ...scanned, ino: '4', ctimeNs: '1700000001000000000' }],
  ])('refuses a file with %s than the scan found', (_, now) => {
    expect(unscannedReason(scanned, now)).toBe('the file at this name was replaced since the scan');
  });

  it('refuses any file where the scan found none', () => {
    expect(unscannedReason(null, scanned)).toMatch(/^a file the scan did not see is here now/);
  });

  // An applied plan: the files as they were reviewed, so an edit in place refuses too.
  it.each([
    ['size', { size: 9 }],
    ['mtime', { mtimeNs: '1700000000123456790' }],
    ['ctime alone (an old mtime put back)', { ctimeNs: '1700000000123456790' }],
  ])('as planned, refuses the same inode with another %s', (_, moved) => {
    expect(unscannedReason(scanned, { ...scanned, ...moved }, true)).toBe(
      'the file changed since the plan was made (written to during the apply)',
    );
  });

  it('as planned, accepts the file untouched, also renumbered by a FUSE filesystem', () => {
    expect(unscannedReason(scanned, { ...scanned }, true)).toBeNull();
    expect(unscannedReason(scanned, { ...scanned, ino: '43' }, true)).toBeNull();
  });
});

describe('deleteDecision', () => {
  it('unlinks only the regular file the scan found', () => {
    for (const follow of [false, true]) {
      expect(deleteDecision('file', follow, true)).toEqual({ act: 'unlink' });
      expect(deleteDecision('file', follow, false)).toMatchObject({ act: 'refuse', reason: /changed/ });
      expect(deleteDecision('missing', follow, false)).toEqual({ act: 'gone' });
      expect(deleteDecision('dir', follow, false)).toMatchObject({ act: 'refuse', reason: /directory/ });
      expect(deleteDecision('other', follow, true)).toMatchObject({ act: 'refuse' });
    }
  });

  it("refuses the scanned file an applied plan finds changed, with the change's reason", () => {
    expect(deleteDecision('file', false, true, 'it moved')).toEqual({ act: 'refuse', reason: 'it moved' });
    expect(deleteDecision('missing', false, false, 'it moved')).toEqual({ act: 'gone' });
    expect(deleteDecision('file', false, false, 'it moved')).toMatchObject({ reason: /scanned/ });
  });

  it('a link is unlinked itself only under --follow-symlinks, where the scan went through it', () => {
    expect(deleteDecision('link', false, true)).toMatchObject({ act: 'refuse', reason: /symbolic link/ });
    expect(deleteDecision('link', true, true)).toEqual({ act: 'unlink' });
    expect(deleteDecision('link', true, false)).toMatchObject({ act: 'refuse', reason: /changed/ });
  });
});
