import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { planCheck } from '../../src/plan/check.js';
import { keyForm, localFolders } from '../../src/plan/keys.js';
import { planPull } from '../../src/plan/pull.js';
import { planPush } from '../../src/plan/push.js';
import { emptyFacts, type RemoteObject } from '../../src/plan/types.js';

const OLD = '1000000000000';
const file = (rel: string): LocalFile => ({ rel, size: 2, mtimeNs: OLD, ctimeNs: OLD, ino: '1', dev: '1' });
const object = (rel: string, size = 0): RemoteObject => ({
  rel,
  key: `p/${rel}`,
  size,
  etag: 'd41d8cd98f00b204e9800998ecf8427e',
  lastModified: 0,
});
const byRel = <T extends { rel: string }>(xs: T[]) => new Map(xs.map((x) => [x.rel, x]));

// The bucket of the brief: `dir/` (its folder has a file), `gone/` and `x/deep/` (no local folder),
// `data/` holding bytes, the prefix's own marker (''), and `x/y//z`, which no file can be named.
const local = [file('dir/a.txt'), file('keep.txt')];
const remote = [
  object(''),
  object('dir/'),
  object('dir/a.txt', 2),
  object('keep.txt', 2),
  object('gone/'),
  object('x/deep/'),
  object('data/', 4),
  object('x/y//z', 2),
  object('stale.txt', 3),
];

describe('keyForm: one rule for what a listed key can be locally', () => {
  it.each([
    ['a.txt', 5, 'file'],
    ['a/b\\c', 5, 'file'], // a backslash is a file's name on Linux: push made it, --delete may remove it
    ['dir/', 0, 'marker'],
    ['', 0, 'marker'],
    ['a//', 0, 'marker'],
    ['dir/', 1, 'no-file'],
    ['', 3, 'no-file'],
    ['a//b', 0, 'no-file'],
    ['a/./b', 1, 'no-file'],
    ['a/../b', 1, 'no-file'],
  ])('%j of %i bytes is a %s', (rel, size, kind) => {
    expect(keyForm({ rel, size }).kind).toBe(kind);
  });

  it('says why no file can stand for a key', () => {
    expect(keyForm({ rel: 'data/', size: 4 })).toEqual({
      kind: 'no-file',
      reason: "a key ending in '/' holds 4 bytes; no file can have its name",
    });
    expect(keyForm({ rel: 'x/y//z', size: 2 })).toEqual({
      kind: 'no-file',
      reason: 'no file can have its name: it has an empty path segment',
    });
  });

  it('localFolders: the root and every folder above a file', () => {
    expect([...localFolders(['a/b/c.txt', 'd.txt'])].sort()).toEqual(['', 'a/', 'a/b/']);
  });

  it('localFolders: and the folders the walk found, empty or holding only what the filters leave out', () => {
    expect([...localFolders(['a/b/c.txt'], ['a', 'a/b', 'empty', 'logs'])].sort()).toEqual([
      '',
      'a/',
      'a/b/',
      'empty/',
      'logs/',
    ]);
  });
});

describe('push --delete and folder markers', () => {
  const plan = () =>
    planPush({
      files: local,
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: { ...emptyFacts(), remote: byRel(remote) },
      options: { delete: true },
    });

  it('keeps the marker of a folder the walk found with no file in it (empty, or its files left out)', () => {
    const p = planPush({
      files: local,
      folders: ['gone'],
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: { ...emptyFacts(), remote: byRel(remote) },
      options: { delete: true },
    });
    const deletes = p.actions.filter((a) => a.kind === 'delete');
    expect(deletes.map((a) => [a.rel, a.reason])).toEqual([
      ['x/deep/', 'no-local-folder'],
      ['stale.txt', 'no-local-file'],
    ]);
  });

  it('deletes zero-byte markers of folders the local side has not, each with its reason', () => {
    const deletes = plan().actions.filter((a) => a.kind === 'delete');
    expect(deletes.map((a) => [a.rel, a.reason])).toEqual([
      ['gone/', 'no-local-folder'],
      ['x/deep/', 'no-local-folder'],
      ['stale.txt', 'no-local-file'],
    ]);
  });

  it('keeps what no file can stand for, each once with its reason', () => {
    expect(plan().kept).toEqual([
      {
        rel: 'data/',
        key: 'p/data/',
        size: 4,
        reason: "a key ending in '/' holds 4 bytes; no file can have its name",
      },
      {
        rel: 'x/y//z',
        key: 'p/x/y//z',
        size: 2,
        reason: 'no file can have its name: it has an empty path segment',
      },
    ]);
  });

  it('keeps the marker of a folder that now holds a file, and the root marker', () => {
    const rels = plan().actions.map((a) => a.rel);
    expect(rels).not.toContain('dir/');
    expect(rels).not.toContain('');
  });

  it('leaves a marker outside the filters alone (--delete-excluded lifts that)', () => {
    const p = planPush({
      files: local,
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: { ...emptyFacts(), remote: byRel(remote) },
      options: { delete: true, remoteSelected: (rel) => !rel.startsWith('gone') },
    });
    expect(p.actions.filter((a) => a.kind === 'delete').map((a) => a.rel)).toEqual(['x/deep/', 'stale.txt']);
  });

  it('without --delete keeps nothing to say', () => {
    const p = planPush({
      files: local,
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: { ...emptyFacts(), remote: byRel(remote) },
      options: {},
    });
    expect(p.kept).toBeUndefined();
  });
});

describe('pull and check share the rule', () => {
  it('pull skips markers, says the one with bytes, and refuses x/y//z as before', () => {
    const p = planPull({
      remote: byRel(remote),
      local: byRel(local),
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: emptyFacts(),
      options: { delete: true },
    });
    expect(p.kept?.map((k) => k.rel)).toEqual(['data/']);
    expect(p.actions.some((a) => a.rel.endsWith('/') || a.rel === '')).toBe(false);
    expect(p.actions.find((a) => a.rel === 'x/y//z')).toMatchObject({ kind: 'reject' });
  });

  it('check compares no marker, says the one with bytes, and lists x/y//z as only remote', () => {
    const p = planCheck({
      local: byRel(local),
      remote: byRel(remote),
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: emptyFacts(),
    });
    expect(p.kept?.map((k) => [k.key, k.reason])).toEqual([
      ['p/data/', "a key ending in '/' holds 4 bytes; no file can have its name"],
    ]);
    expect(p.differences.filter((d) => d.status === 'only-remote').map((d) => d.rel)).toEqual([
      'stale.txt',
      'x/y//z',
    ]);
  });
});

describe('keyForm: a name too long for a file', () => {
  // kind, why, rel
  it.each([
    ['file', 'the longest name a Linux file system gives', 'n'.repeat(255)],
    ['no-file', 'one byte over, and one UTF-16 unit', 'n'.repeat(256)],
    ['no-file', 'a folder of that name cannot be made either', `d/${'n'.repeat(300)}/z`],
    ['file', '254 bytes in UTF-8', 'é'.repeat(127)],
    ['file', '256 bytes in UTF-8: too long for ext4, not for exFAT or NTFS', 'é'.repeat(128)],
    ['file', '510 bytes, 255 UTF-16 units: the longest exFAT and NTFS take', 'é'.repeat(255)],
    ['no-file', '256 UTF-16 units: no file system takes it', 'é'.repeat(256)],
    ['file', 'the limit is per segment, not per key', `a/${'n'.repeat(255)}/${'n'.repeat(255)}`],
  ])('a %s: %s', (kind, _why, rel) => {
    expect(keyForm({ rel, size: 2 }).kind).toBe(kind);
  });

  it('says why', () => {
    expect(keyForm({ rel: 'n'.repeat(300), size: 2 })).toEqual({
      kind: 'no-file',
      reason:
        'no file can have its name: it has a path segment longer than any file system takes (over 255 UTF-16 units)',
    });
  });
});

describe('push --delete keeps the keys pull refuses (too long, a file and folder pair, unsafe alone) unless synced', () => {
  const LONG = 'n'.repeat(300);
  // An entry as a push records it: only whether the manifest has one matters here.
  const entry: ManifestEntry = {
    size: 2,
    mtimeNs: OLD,
    ctimeNs: OLD,
    ino: '1',
    md5: 'd41d8cd98f00b204e9800998ecf8427e',
    etag: 'd41d8cd98f00b204e9800998ecf8427e',
    partSize: 0,
    syncedAt: '2026-01-01T00:00:00.000Z',
  };
  const planFor = (c: {
    remote: string[];
    files: string[];
    folders?: string[];
    synced?: string[];
    vanished?: string[];
  }) =>
    planPush({
      files: c.files.map(file),
      folders: c.folders ?? [],
      manifest: new Map((c.synced ?? []).map((rel) => [rel, entry])),
      vanished: new Set(c.vanished ?? []),
      racyThresholdNs: 0n,
      facts: {
        ...emptyFacts(),
        remote: byRel(c.remote.map((rel) => object(rel, rel.endsWith('/') ? 0 : 2))),
      },
      options: { delete: true },
    });

  // The listing, the local files (and folders the walk found), what the manifest records as synced
  // from here → what is deleted and what kept, and why.
  it.each([
    {
      remote: ['x', 'x/y', 'gone.txt'],
      files: [],
      deleted: ['gone.txt'],
      kept: ['x', 'x/y'],
      why: 'neither locally and never synced: pull refused both, no local file stood for either',
    },
    {
      remote: ['x', 'x/y'],
      files: ['x/z'],
      deleted: [],
      kept: ['x', 'x/y'],
      why: 'a folder x here: x is no file of it, and x/y was refused by every pull, never a file here',
    },
    {
      remote: ['x', 'x/y'],
      files: [],
      folders: ['x'],
      deleted: [],
      kept: ['x', 'x/y'],
      why: 'an empty folder x here: the same',
    },
    {
      remote: ['x', 'x/y'],
      files: ['x'],
      deleted: [],
      kept: ['x/y'],
      why: 'a file x here: nothing under x/ can be a file of this tree',
    },
    {
      remote: ['x', 'x/y'],
      files: ['x/y'],
      synced: ['x', 'x/y'],
      deleted: ['x'],
      kept: [],
      why: 'the file x became a folder: the manifest records x, whose file is gone',
    },
    {
      remote: ['x', 'x/y', 'x/w'],
      files: ['x'],
      synced: ['x', 'x/y'],
      deleted: ['x/y'],
      kept: ['x/w'],
      why: 'the folder x became a file: x/y was synced from here, x/w never was',
    },
    {
      remote: ['a', 'a/b', 'a/b/c'],
      files: [],
      deleted: [],
      kept: ['a', 'a/b', 'a/b/c'],
      why: 'a chain of pairs: each is a file and a folder, or below one',
    },
    {
      remote: ['x', 'x/y'],
      files: [],
      vanished: ['x/y'],
      deleted: ['x', 'x/y'],
      kept: [],
      why: 'x/y pushed from here, its folder since a file x and gone too (its entry dropped by a push without --delete): both deleted',
    },
    {
      remote: ['x', 'x/y'],
      files: ['x'],
      vanished: ['x/y'],
      deleted: ['x/y'],
      kept: [],
      why: 'the folder x became a file, pushed without --delete before: x/y, which a file of this tree stood for, is deleted',
    },
    {
      remote: ['x', 'x/y'],
      files: ['x/y'],
      vanished: ['x'],
      deleted: ['x'],
      kept: [],
      why: 'the file x became a folder, pushed without --delete before: x, which a file of this tree stood for, is deleted',
    },
    {
      remote: ['x', 'x/y'],
      files: [],
      synced: ['x/y'],
      deleted: ['x', 'x/y'],
      kept: [],
      why: 'x/y synced and gone, x never synced: once x/y is deleted x is no pair, deleted in the same run',
    },
    {
      remote: ['x', 'x/y', 'x/z'],
      files: [],
      synced: ['x/y'],
      deleted: ['x/y'],
      kept: ['x', 'x/z'],
      why: 'x/y deleted, but x/z (never synced) still stands below x: both kept',
    },
    {
      remote: ['a\\b'],
      files: [],
      vanished: ['a\\b'],
      deleted: ['a\\b'],
      kept: [],
      why: 'a backslash key whose file was pushed from here and is gone: deleted, its entry dropped or not',
    },
    {
      remote: ['x', 'x/', 'x/y/'],
      files: [],
      deleted: ['x', 'x/', 'x/y/'],
      kept: [],
      why: 'folder markers are no files: x stands alone, pulled as a file, so deleted as before',
    },
    {
      remote: ['x', 'x/a\\b'],
      files: [],
      deleted: ['x'],
      kept: ['x/a\\b'],
      why: 'pull writes x beside a key it refuses alone; that key, never written here, is kept',
    },
    {
      remote: ['x', 'x/a\\b'],
      files: [],
      synced: ['x/a\\b'],
      deleted: ['x', 'x/a\\b'],
      kept: [],
      why: 'a backslash key a push from here recorded is a file of this tree: deleted once its file is gone',
    },
    {
      remote: ['a\\b.txt', 'tab\there', 'bell\u0007', 'ok', 'gone'],
      files: ['ok'],
      synced: ['ok', 'gone'],
      deleted: ['gone'],
      kept: ['a\\b.txt', 'tab\there', 'bell\u0007'],
      why: 'backslash and control-character keys never synced from here: kept, whatever else is deleted',
    },
    {
      remote: ['a\\b.txt', 'ok'],
      files: ['a\\b.txt', 'ok'],
      deleted: [],
      kept: [],
      why: 'a backslash name with its local file: neither deleted nor kept, it is synced',
    },
    {
      remote: ['x', 'x/a//b'],
      files: [],
      deleted: ['x'],
      kept: ['x/a//b'],
      why: 'x/a//b is no file at all, so x stands alone',
    },
    {
      remote: [LONG, `d/${LONG}`, `${LONG}/z`, 'ok'],
      files: ['ok'],
      synced: [LONG],
      deleted: [],
      kept: [LONG, `d/${LONG}`, `${LONG}/z`],
      why: 'a segment over 255 UTF-16 units: no file has such a name, whatever the manifest says',
    },
  ])('$why', (c) => {
    const p = planFor(c);
    expect(
      p.actions
        .filter((a) => a.kind === 'delete')
        .map((a) => a.rel)
        .sort(),
    ).toEqual([...c.deleted].sort());
    expect((p.kept ?? []).map((k) => k.rel).sort()).toEqual([...c.kept].sort());
  });

  it('says why it keeps a key pull refuses alone', () => {
    const p = planFor({ remote: ['a\\b.txt', 'c\u0001'], files: [] });
    expect(p.kept?.map((k) => [k.key, k.reason])).toEqual([
      [
        'p/a\\b.txt',
        'no local file stood for it: its name contains a backslash, which pull does not write, and no push from here recorded it',
      ],
      [
        'p/c\u0001',
        'no local file stood for it: its name contains a control character, which pull does not write, and no push from here recorded it',
      ],
    ]);
  });

  it('says why, once for each object kept', () => {
    const p = planFor({ remote: ['x', 'x/y', `d/${LONG}`], files: [] });
    expect(p.kept?.map((k) => [k.key, k.reason])).toEqual([
      [
        'p/x',
        "no local file stood for it: it is a file but also the directory of 'x/y' (no local tree holds both)",
      ],
      [
        'p/x/y',
        "no local file stood for it: it is below 'x', which is also a file (no local tree holds both)",
      ],
      [
        `p/d/${LONG}`,
        'no file can have its name: it has a path segment longer than any file system takes (over 255 UTF-16 units)',
      ],
    ]);
  });

  it('pull refuses the same keys, so none of them is ever a local file', () => {
    const p = planPull({
      remote: byRel(['x', 'x/y', `d/${LONG}`, 'x/', 'ok'].map((rel) => object(rel, 2))),
      local: new Map(),
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts: emptyFacts(),
      options: {},
    });
    expect(
      p.actions
        .filter((a) => a.kind === 'reject')
        .map((a) => a.rel)
        .sort(),
    ).toEqual([`d/${LONG}`, 'x', 'x/y']);
  });
});
