import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
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
