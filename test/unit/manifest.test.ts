import { mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeManifest,
  emptyManifest,
  encodeManifest,
  type ManifestEntry,
} from '../../src/manifest/schema.js';
import { loadManifest, saveManifest } from '../../src/manifest/store.js';

const dest = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };
const entry = (size: number): ManifestEntry => ({
  size,
  mtimeNs: '1795508305742935497',
  ctimeNs: '1795508305742935498',
  ino: '42',
  md5: 'e243bb39c844b3543a7726576c869caf',
  etag: 'e243bb39c844b3543a7726576c869caf-3',
  partSize: 16777216,
  syncedAt: '2026-11-24T08:00:00.000Z',
});

describe('manifest encoding', () => {
  it('round-trips entries, including paths with tabs, newlines, quotes and Unicode', () => {
    const m = emptyManifest(dest);
    for (const rel of ['a.txt', 'dir/ü +%&=.bin', 'tab\there', 'new\nline', '"quoted', 'back\\slash']) {
      m.files.set(rel, entry(rel.length));
    }
    m.pending['big.bin'] = {
      uploadId: 'u1',
      key: 'p/big.bin',
      size: 1,
      mtimeNs: '1',
      md5: 'e243bb39c844b3543a7726576c869caf',
      partSize: 5,
      parts: { 1: 'x' },
      startedAt: 'now',
    };
    m.writtenAtNs = '123';
    const back = decodeManifest(encodeManifest(m), dest);
    expect(back).toEqual(m);
  });

  it('is one readable line per file', () => {
    const m = emptyManifest(dest);
    m.files.set('dir/x.sql', entry(7));
    const lines = encodeManifest(m).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]!.split('\t').slice(0, 2)).toEqual(['dir/x.sql', '7']);
    expect(lines[2]).toBe('#end 1');
  });

  it.each([
    ['cut at a line boundary', (t: string) => t.slice(0, t.lastIndexOf('#end'))],
    ['cut mid-line', (t: string) => t.slice(0, t.length / 2)],
    ['garbage bytes', (t: string) => t.replace('\t7\t', '\t\u0000x\t')],
    ['missing a column', (t: string) => t.replace('\t7\t', '\t')],
    ['missing a column on its last line', (t: string) => t.replace('\t8\t', '\t')],
    ['with an extra column', (t: string) => t.replace('\t8\t', '\t8\t8\t')],
    ['a future schema version', (t: string) => t.replace('"version":1', '"version":99')],
  ])('rejects a manifest %s', (_name, damage) => {
    const m = emptyManifest(dest);
    m.files.set('a', entry(7));
    m.files.set('b', entry(8));
    expect(typeof decodeManifest(damage(encodeManifest(m)), dest)).toBe('string');
  });

  it('rejects a manifest of another destination', () => {
    const text = encodeManifest(emptyManifest(dest));
    expect(decodeManifest(text, { ...dest, prefix: 'other/' })).toMatch(/another destination/);
  });
});

describe('manifest store', () => {
  it('saves atomically and loads back; a truncated file warns and rebuilds empty', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, '.s3sync', 'm.json');
    const m = emptyManifest(dest);
    m.files.set('x', entry(1));
    saveManifest(file, m);
    const loaded = loadManifest(file, dest);
    expect(loaded.warning).toBeUndefined();
    expect(loaded.data.files.get('x')).toEqual(entry(1));
    // The racy threshold is never later than the write, by either clock: this machine's (recorded)
    // or the filesystem's (the manifest's mtime, which lags a fine clock by up to a kernel tick).
    expect(loaded.racyThresholdNs).toBeLessThanOrEqual(BigInt(loaded.data.writtenAtNs));
    expect(loaded.racyThresholdNs).toBeLessThanOrEqual(statSync(file, { bigint: true }).mtimeNs);
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    const broken = loadManifest(file, dest);
    expect(broken.warning).toMatch(/cannot be trusted/);
    expect(broken.data.files.size).toBe(0);
    writeFileSync(file, '\u0000\u0001garbage');
    expect(loadManifest(file, dest).warning).toMatch(/manifest/);
  });

  it("offers a foreign JSON manifest (the Python script's) for adoption", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, 'legacy.json');
    const legacy = { version: '1.0', files: {} };
    writeFileSync(file, JSON.stringify(legacy));
    expect(loadManifest(file, dest).foreign).toEqual(legacy);
  });
});
