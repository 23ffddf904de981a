/**
 * s3sync's own names (`.s3sync/`, `.s3syncignore`, the Python script's `.s3_sync_manifest.json`, a
 * `--manifest` inside the tree and its lock and temp files) are its own in any case: a file system
 * that ignores case opens the same file by any spelling, so a key `.S3SyncIgnore` pulled there would
 * become the filter file, and `.S3sync/x` would be written into the state folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFilterSync, isIgnoreFile } from '../../src/local/filters.js';
import { inStateDir, isStateDir } from '../../src/manifest/store.js';
import type { CommonOptions } from '../../src/sync/options.js';
import { RunContext } from '../../src/sync/run-context.js';

const root = mkdtempSync(path.join(tmpdir(), 's3sync-own-names-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A push's context over `root`, its manifest at conf/State.json inside the tree; nothing is sent. */
const context = () =>
  RunContext.create({
    root,
    remote: 's3://bucket/p',
    opts: {
      endpointUrl: 'http://127.0.0.1:1',
      manifest: path.join(root, 'conf/State.json'),
    } as CommonOptions,
    command: 'push',
    writeManifest: false,
  });

const OWN = [
  '.s3syncignore',
  '.S3SyncIgnore',
  '.S3SYNCIGNORE',
  '.s3_sync_manifest.json',
  '.S3_Sync_Manifest.JSON',
  '.s3sync',
  '.S3SYNC',
  '.s3sync/x',
  '.S3sync/evil.txt',
  '.S3SYNC/manifest-bucket-0123456789ab.json',
  'a/.S3Sync/x',
  'a/b/.s3SYNC',
  'conf/State.json',
  'CONF/state.JSON',
  'conf/state.json.LOCK',
  'Conf/State.json.saving',
  'conf/State.json.tmp-12-0a1b2c3d',
  // The two letters Unicode folds onto ASCII ones (long s, Kelvin sign): exFAT takes the latter for K.
  '.\u017F3sync/x',
  'conf/State.json.loc\u212A',
];
const NOT_OWN = [
  '.s3syncignore2',
  'x.s3syncignore',
  'a/.s3syncignore',
  '.s3syncignore/x',
  'x.s3sync',
  '.s3sync-old/y',
  'a/.s3sync-old',
  'a/x.S3SYNC/y',
  '.s3sync.txt',
  '.s3_sync_manifest.json.bak',
  'conf/State.json.bak',
  'conf/Statejson',
  'State.json',
];

describe("s3sync's own names, in any case", () => {
  it.each(OWN)('%s is its own: never synced', async (rel) => {
    const s = await context();
    expect(s.isOwn(rel)).toBe(true);
    expect(s.ownTest()(rel)).toBe(true);
    expect(s.selected(rel)).toBe(false);
  });

  it.each(NOT_OWN)("%s is the user's: synced", async (rel) => {
    const s = await context();
    expect(s.isOwn(rel)).toBe(false);
    expect(s.ownTest()(rel)).toBe(false);
    expect(s.selected(rel)).toBe(true);
  });

  it('a state folder, at the root or deeper, in any case', () => {
    for (const rel of ['.s3sync', '.S3SYNC', '.S3Sync', 'a/.S3sync', 'a/b/.s3SYNC'])
      expect([rel, isStateDir(rel), inStateDir(rel)]).toEqual([rel, true, true]);
    for (const rel of ['.S3sync/x', 'a/.S3SYNC/x/y'])
      expect([rel, isStateDir(rel), inStateDir(rel)]).toEqual([rel, false, true]);
    for (const rel of [
      'x.s3sync',
      '.s3sync-old',
      'a/.s3sync-old/x',
      '.s3syncignore',
      'a/x.S3SYNC',
      '.s3sync2/x',
    ])
      expect([rel, isStateDir(rel), inStateDir(rel)]).toEqual([rel, false, false]);
  });

  it('the filter file, in any case, is the one a watch reloads its rules for', () => {
    for (const rel of ['.s3syncignore', '.S3SyncIgnore', '.S3SYNCIGNORE', '.\u017F3\u017FyncIgnore'])
      expect([rel, isIgnoreFile(rel)]).toEqual([rel, true]);
    for (const rel of [
      '.s3syncignore2',
      'x.s3syncignore',
      'a/.s3syncignore',
      '.s3syncignor',
      '.s3sync\u0131gnore', // dotless i: folded onto no ASCII letter, by Unicode nor exFAT
    ])
      expect([rel, isIgnoreFile(rel)]).toEqual([rel, false]);
  });

  it('the filter leaves out the root state folder in any case, even with no rules', () => {
    const none = createFilterSync({});
    for (const rel of ['.s3sync/x', '.S3SYNC/x', '.S3sync/evil.txt'])
      expect([rel, none.includes(rel)]).toEqual([rel, false]);
    for (const rel of ['.s3sync-old/x', 'x.S3SYNC']) expect([rel, none.includes(rel)]).toEqual([rel, true]);
    // Between two buckets there is no state: such keys are data.
    const s3 = createFilterSync({ noInternal: true });
    expect(s3.includes('.S3SYNC/x')).toBe(true);
  });
});
