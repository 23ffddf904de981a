import { chmodSync, copyFileSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyManifest } from '../../src/manifest/schema.js';
import { loadManifest, MOVED_MARGIN_NS, movedSinceSave, saveManifest } from '../../src/manifest/store.js';

const S = 1_000_000_000n;
const t0 = BigInt(Date.parse('2026-12-01T12:00:00.000Z')) * 1_000_000n;

describe('movedSinceSave: a manifest file copied, restored or moved in since its save', () => {
  it("is none for a save's times: the change time at or a slow fsync past the write time", () => {
    expect(movedSinceSave(t0, t0)).toBeUndefined();
    expect(movedSinceSave(t0, t0 + 3n * S)).toBeUndefined();
    expect(movedSinceSave(t0, t0 + MOVED_MARGIN_NS)).toBeUndefined();
  });

  it('is one when the change time is later than the write time by more than the margin', () => {
    expect(movedSinceSave(t0, t0 + MOVED_MARGIN_NS + 1n)).toBe(
      'the manifest was copied, restored or moved in since its last save (its file changed at 2026-12-01T12:00:30.000Z, written at 2026-12-01T12:00:00.000Z)',
    );
    expect(movedSinceSave(t0, t0 + 86_400n * S)).toMatch(
      /changed at 2026-12-02T12:00:00.000Z, written at 2026-12-01T12:00:00.000Z\)$/,
    );
  });

  it('is one for a write time later than the change time (a restored file dated in the future)', () => {
    expect(movedSinceSave(t0 + MOVED_MARGIN_NS + 1n, t0)).toBeDefined();
    expect(movedSinceSave(t0 + MOVED_MARGIN_NS, t0)).toBeUndefined();
  });

  it('is none where a time is missing: no signal means no listing, not one every run', () => {
    expect(movedSinceSave(0n, t0)).toBeUndefined();
    expect(movedSinceSave(t0, 0n)).toBeUndefined();
  });
});

describe('loadManifest tells a manifest moved in since its save', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-moved-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const dest = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };
  const file = path.join(dir, 'm.json');
  saveManifest(file, emptyManifest(dest));

  it('not right after a save, nor after a chmod soon after it', () => {
    expect(loadManifest(file, dest).moved).toBeUndefined();
    chmodSync(file, 0o600);
    expect(loadManifest(file, dest).moved).toBeUndefined();
  });

  it('a copy that keeps an older write time (cp -a, tar x) is moved in', () => {
    const copy = path.join(dir, 'copy.json');
    copyFileSync(file, copy);
    const old = Date.now() / 1000 - 120;
    utimesSync(copy, old, old);
    expect(loadManifest(copy, dest).moved).toMatch(/^the manifest was copied, restored or moved in/);
    // Its next save gives it a save's times again.
    saveManifest(copy, loadManifest(copy, dest).data);
    expect(loadManifest(copy, dest).moved).toBeUndefined();
  });
});
