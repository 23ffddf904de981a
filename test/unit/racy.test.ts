/**
 * The racy-clean rule as pure functions: what a filesystem's timestamp tick is, when stat data can
 * hide a rewrite, and that a run's entries and the manifest's threshold together never let a same-size
 * rewrite in the same tick pass for unchanged, on nanosecond, 1-second and 2-second filesystems.
 */
import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import type { ManifestEntry } from '../../src/manifest/schema.js';
import { planCheck } from '../../src/plan/check.js';
import {
  isRacy,
  provenEntry,
  racyThreshold,
  recordReason,
  statMatches,
  tickReaches,
  timestampTickNs,
  UNPROVEN_CTIME,
} from '../../src/plan/compare.js';
import { decidePullObject } from '../../src/plan/pull.js';
import { decidePushFile } from '../../src/plan/push.js';
import { emptyFacts } from '../../src/plan/types.js';
import { hashOf } from './plan-fixtures.js';

const NS = 1n;
const US = 1_000n;
const MS = 1_000_000n;
const S = 1_000_000_000n;
/** Seconds (may be fractional, as a string to stay exact) → ns. */
const sec = (s: string): bigint => {
  const [whole, frac = ''] = s.split('.');
  return BigInt(whole!) * S + BigInt(frac.padEnd(9, '0'));
};
/** A time as a filesystem of this granularity stamps it. */
const stamp = (t: bigint, tick: bigint) => t - (t % tick);

describe('timestampTickNs: the granularity a timestamp value betrays', () => {
  it.each([
    ['a nanosecond value (ext4, xfs, btrfs, tmpfs)', sec('1700000000.123456789'), NS],
    ['a value ending in one zero', sec('1700000000.123456780'), 10n * NS],
    ['a 100 ns value (NTFS, SMB)', sec('1700000000.123456700'), 100n * NS],
    ['a microsecond value', sec('1700000000.123456000'), US],
    ['a 10 ms value (exFAT)', sec('1700000000.120000000'), 10n * MS],
    ['a whole odd second (ext3, HFS+, NFSv2)', sec('1700000001'), S],
    ['a whole even second (FAT: 2 s)', sec('1700000002'), 2n * S],
    ['a whole second divisible by ten (still 2 s at most)', sec('1700000010'), 2n * S],
    ['the epoch', 0n, 2n * S],
    ['before the epoch, odd second', -sec('3'), S],
  ])('%s', (_what, value, tick) => {
    expect(timestampTickNs(value)).toBe(tick);
  });
});

describe('tickReaches: can a write at or after an instant leave this mtime as it is?', () => {
  const t = (s: string) => sec(s).toString();
  it.each([
    // nanosecond filesystem: only a write in the very nanosecond of the mtime
    ['ns fs, instant = mtime', t('10.000000123'), sec('10.000000123'), true],
    ['ns fs, instant 1 ns later', t('10.000000123'), sec('10.000000124'), false],
    ['ns fs, instant long after', t('10.000000123'), sec('11'), false],
    // 1 s filesystem: mtime 11 s means the write happened in [11, 12)
    ['1 s fs, instant in the same second', t('11'), sec('11.7'), true],
    ['1 s fs, instant at the start of that second', t('11'), sec('11'), true],
    ['1 s fs, instant 1 ns before the next second', t('11'), sec('11.999999999'), true],
    ['1 s fs, instant at the next second', t('11'), sec('12'), false],
    ['1 s fs, instant before the mtime (a clock behind)', t('11'), sec('10.5'), true],
    // 2 s filesystem: mtime 10 s means [10, 12)
    ['2 s fs, instant in the first second', t('10'), sec('10.4'), true],
    ['2 s fs, instant in the second second', t('10'), sec('11.9'), true],
    ['2 s fs, instant two seconds on', t('10'), sec('12'), false],
    // whole-second mtimes on a ns filesystem (tar-extracted): treated as coarse, never finer
    ['tar-extracted mtime, run a second later', t('1700000001'), sec('1700000001.5'), true],
    ['tar-extracted mtime, run an hour later', t('1700000001'), sec('1700003601'), false],
    // millisecond filesystem
    ['1 ms fs, same millisecond', t('10.123'), sec('10.1235'), true],
    ['1 ms fs, next millisecond', t('10.123'), sec('10.124'), false],
  ])('%s', (_what, mtime, instant, expected) => {
    expect(tickReaches(mtime, instant)).toBe(expected);
  });
});

describe('racyThreshold: the earlier of the recorded write time and the manifest file mtime', () => {
  it.each([
    // the manifest on a ns filesystem: its mtime lags this machine's fine clock by up to a kernel tick
    [
      'manifest on a ns fs, coarse clock lagging',
      sec('10.700000000'),
      sec('10.698765432'),
      sec('10.698765432'),
    ],
    [
      'manifest on a ns fs, written after the recorded time',
      sec('10.700000000'),
      sec('10.703000001'),
      sec('10.7'),
    ],
    // the manifest on a 1 s fs: its mtime rounds down to the second
    ['manifest on a 1 s fs', sec('10.7'), sec('10'), sec('10')],
    ['manifest on a 2 s fs', sec('11.3'), sec('10'), sec('10')],
    // the filesystem's clock (a network server) 5 s behind this machine's
    ['filesystem clock behind', sec('100.2'), sec('95.2'), sec('95.2')],
    // or ahead: this machine's clock is then the earlier one
    ['filesystem clock ahead', sec('100.2'), sec('105.2'), sec('100.2')],
  ])('%s', (_what, written, mtime, expected) => {
    expect(racyThreshold(written, mtime)).toBe(expected);
  });

  it("flags the issue's case: a rewrite in the same second as the end of a push on a 1 s fs", () => {
    // push ends (manifest written) at 10.7 by the wall clock, its file stamped 10 s; a file written at
    // 10.2 (mtime 10) is rewritten, same size, at 10.9: mtime still 10.
    const threshold = racyThreshold(sec('10.7'), sec('10'));
    const f = file({ mtimeNs: sec('10').toString() });
    expect(isRacy(f, threshold)).toBe(true);
    // the old rule (the later of the two, and no tick) let it pass
    expect(BigInt(f.mtimeNs) >= sec('10.7')).toBe(false);
  });
});

const file = (over: Partial<LocalFile> = {}): LocalFile => ({
  rel: 'a.txt',
  size: 100,
  mtimeNs: sec('10').toString(),
  ctimeNs: sec('10').toString(),
  ino: '42',
  dev: '1',
  ...over,
});
const entryOf = (f: LocalFile, md5 = 'a'.repeat(32)): ManifestEntry => ({
  size: f.size,
  mtimeNs: f.mtimeNs,
  ctimeNs: f.ctimeNs,
  ino: f.ino,
  md5,
  etag: md5,
  partSize: 0,
  syncedAt: '2026-01-01T00:00:00.000Z',
});

describe('provenEntry: stat data taken while its tick was open is kept unproven', () => {
  it.each([
    ['1 s fs: written at 10.05, read in a run from 10.0', sec('10'), sec('10'), true],
    ['1 s fs: written at 9.5, read in a run from 10.0', sec('9'), sec('10'), false],
    ['2 s fs: written at 10.5, read in a run from 11.0', sec('10'), sec('11'), true],
    ['2 s fs: written at 9.0, read in a run from 10.0', sec('8'), sec('10'), false],
    ['ns fs: written during the run', sec('10.000000123') + 5n, sec('10.000000123'), true],
    ['ns fs: written before the run', sec('10.000000123') - 5n, sec('10.000000123'), false],
  ])('%s', (_what, mtime, readsFrom, unproven) => {
    const f = file({ mtimeNs: mtime.toString(), ctimeNs: mtime.toString() });
    const kept = provenEntry(entryOf(f), readsFrom);
    expect(kept.ctimeNs === UNPROVEN_CTIME).toBe(unproven);
    // An unproven entry never vouches for the file, whatever the threshold; a proven one still does.
    expect(statMatches(f, kept)).toBe(!unproven);
    // Everything else is kept: the content facts stay, only the proof is withdrawn.
    expect({ ...kept, ctimeNs: f.ctimeNs }).toEqual(entryOf(f));
  });

  it('sends the file to be hashed by push, pull and check, even long after the manifest was written', () => {
    const f = file();
    const e = provenEntry(entryOf(f), sec('10'));
    const later = sec('1000');
    expect(decidePushFile(f, e, later, emptyFacts(), {})).toMatchObject({ kind: 'hash', rel: f.rel });
    const remote = { rel: f.rel, key: f.rel, size: f.size, etag: e.etag, lastModified: 0 };
    expect(decidePullObject(remote, f, e, later, emptyFacts(), false)).toMatchObject({ kind: 'hash' });
    const byRel = <T extends { rel: string }>(x: T) => new Map([[x.rel, x]]);
    const check = (facts = emptyFacts()) =>
      planCheck({
        local: byRel(f),
        remote: byRel(remote),
        manifest: new Map([[f.rel, e]]),
        racyThresholdNs: later,
        facts,
      });
    expect(check().needs).toMatchObject([{ kind: 'hash', rel: f.rel }]);
    // Hashed: a rewrite is found (push uploads it, check reports it); the same content is recorded.
    const facts = emptyFacts();
    facts.hashes.set(f.rel, hashOf(f, 'b'.repeat(32)));
    expect(decidePushFile(f, e, later, facts, {})).toMatchObject({
      kind: 'upload',
      reason: 'content-changed',
    });
    expect(check(facts).differences).toMatchObject([{ rel: f.rel, status: 'differ' }]);
    facts.hashes.set(f.rel, hashOf(f, e.md5));
    expect(decidePushFile(f, e, later, facts, {})).toMatchObject({ kind: 'record', reason: 'unproven' });
  });
});

describe('recordReason: why a file whose content is as recorded is recorded again', () => {
  const written = sec('100');
  const old = file({ mtimeNs: sec('10').toString(), ctimeNs: sec('10').toString() });
  // Dated an hour ahead of the clock (an archive from a skewed machine), its ctime that of extraction.
  const ahead = file({ mtimeNs: sec('3700').toString(), ctimeNs: sec('50').toString() });
  it.each([
    [
      'stat data as recorded, but its tick open at the threshold (dated ahead)',
      ahead,
      entryOf(ahead),
      'unproven',
    ],
    ['an entry kept unproven by the last run', old, { ...entryOf(old), ctimeNs: UNPROVEN_CTIME }, 'unproven'],
    [
      'a new ctime (chmod, or a rewrite putting the mtime back)',
      { ...old, ctimeNs: sec('90').toString() },
      entryOf(old),
      'stat-changed',
    ],
    ['a new mtime', { ...old, mtimeNs: sec('20').toString() }, entryOf(old), 'stat-changed'],
    ['a new inode (replaced by a copy)', { ...old, ino: '43' }, entryOf(old), 'stat-changed'],
    [
      'a new inode, the entry unproven',
      { ...old, ino: '43' },
      { ...entryOf(old), ctimeNs: UNPROVEN_CTIME },
      'stat-changed',
    ],
    [
      'stat data as recorded, tick closed (an adopted entry hashed anyway)',
      old,
      entryOf(old),
      'stat-changed',
    ],
  ] as [string, LocalFile, ManifestEntry, string][])('%s: %s', (_what, f, e, reason) => {
    expect(recordReason(f, e, written)).toBe(reason);
  });

  it('push and pull say `unproven` for a file dated ahead of the clock, hashed to its recorded content', () => {
    const e = entryOf(ahead);
    const facts = emptyFacts();
    facts.hashes.set(ahead.rel, hashOf(ahead, e.md5));
    expect(decidePushFile(ahead, e, written, emptyFacts(), {})).toMatchObject({ kind: 'hash' });
    expect(decidePushFile(ahead, e, written, facts, {})).toMatchObject({
      kind: 'record',
      reason: 'unproven',
    });
    const remote = { rel: ahead.rel, key: ahead.rel, size: ahead.size, etag: e.etag, lastModified: 0 };
    expect(decidePullObject(remote, ahead, e, written, facts, false)).toMatchObject({
      kind: 'record',
      reason: 'unproven',
    });
  });
});

/**
 * A simulated run on filesystems of each granularity: a file is written at `w`; a run starts at `R`
 * (this machine's clock), takes its lock at R + 3 ms, reads the file at `r` and writes the manifest at
 * `W`; the file is rewritten, same size, at `x`. Whenever the rewrite leaves every stat field as
 * recorded (its stamp is the recorded one), the next run must hash the file: its entry is unproven,
 * or it is racy.
 */
describe('the rule holds for every ordering of write, run, read, rewrite and manifest write', () => {
  type Stamp = (t: bigint) => bigint;
  const coarse =
    (tick: bigint): Stamp =>
    (t) =>
      stamp(t, tick);
  /** Linux stamps files from a clock that advances once a kernel tick (4 ms here), at odd offsets. */
  const JIFFY = 4n * MS;
  const JIFFY_OFFSET = 123_457n;
  const kernelClock: Stamp = (t) => t - ((t - JIFFY_OFFSET) % JIFFY);
  const seconds = [
    '10',
    '10.001',
    '10.2',
    '10.5',
    '10.7',
    '10.999999999',
    '11',
    '11.3',
    '11.9',
    '12',
    '12.4',
    '13.1',
  ].map(sec);
  const millis = Array.from({ length: 15 }, (_, k) => sec('10') + BigInt(k) * 900_000n);
  const configs: { name: string; data: Stamp; manifest: Stamp; times: bigint[]; fine?: true }[] = [
    {
      name: 'ns data, manifest beside it',
      data: coarse(NS),
      manifest: coarse(NS),
      times: seconds,
      fine: true,
    },
    { name: '1 s data, manifest beside it', data: coarse(S), manifest: coarse(S), times: seconds },
    { name: '2 s data, manifest beside it', data: coarse(2n * S), manifest: coarse(2n * S), times: seconds },
    { name: '1 s data, manifest on a ns fs', data: coarse(S), manifest: coarse(NS), times: seconds },
    { name: '2 s data, manifest on a ns fs', data: coarse(2n * S), manifest: coarse(NS), times: seconds },
    {
      name: 'ns data, manifest on a 2 s fs',
      data: coarse(NS),
      manifest: coarse(2n * S),
      times: seconds,
      fine: true,
    },
    {
      name: 'ns-looking stamps from a 4 ms kernel clock, manifest beside it',
      data: kernelClock,
      manifest: kernelClock,
      times: millis,
    },
    {
      name: 'a 4 ms kernel clock, manifest on a 1 s fs',
      data: kernelClock,
      manifest: (t) => stamp(kernelClock(t), S),
      times: millis,
    },
  ];
  it.each(configs)('$name', ({ data, manifest, times, fine }) => {
    let hidden = 0;
    let checked = 0;
    for (const R of times) {
      const lockAt = R + 3n * MS;
      const readsFrom = racyThreshold(R, manifest(lockAt));
      for (const w of times) {
        for (const r of times) {
          if (r <= lockAt || r <= w) continue;
          const m = data(w).toString();
          const f = file({ mtimeNs: m, ctimeNs: m });
          const e = provenEntry(entryOf(f), readsFrom);
          for (const W of times) {
            if (W < r) continue;
            const threshold = racyThreshold(W, manifest(W + MS));
            for (const x of times) {
              if (x <= r) continue;
              checked++;
              if (data(x).toString() !== m) continue; // the rewrite shows in the stat data
              hidden++;
              const flagged = !statMatches(f, e) || isRacy(f, threshold);
              expect(flagged, `w ${w} R ${R} r ${r} W ${W} x ${x}`).toBe(true);
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
    // The grids hold hidden rewrites wherever stamps are coarse: the cases that matter.
    if (!fine) expect(hidden).toBeGreaterThan(0);
  });

  it('stays cheap on a ns filesystem: a file written before the run is trusted afterwards', () => {
    // Times a ns filesystem stamps (not round: a round one reads as a coarse stamp, see above).
    const times = ['10.000000123', '10.2000004', '11.000000077', '11.5000003', '12.000000001'].map(sec);
    for (const R of times) {
      const readsFrom = racyThreshold(R, R + 3n * MS);
      for (const w of times) {
        if (w >= R) continue;
        const m = w.toString();
        const f = file({ mtimeNs: m, ctimeNs: m });
        const e = provenEntry(entryOf(f), readsFrom);
        const threshold = racyThreshold(R + S, R + S + MS);
        expect(statMatches(f, e) && !isRacy(f, threshold)).toBe(true);
      }
    }
  });

  it("catches the brief's case: read at 10.2, rewritten at 10.5, manifest written at 12.0 (1 s fs)", () => {
    const m = sec('10').toString();
    const f = file({ mtimeNs: m, ctimeNs: m });
    const e = provenEntry(entryOf(f), racyThreshold(sec('10.1'), sec('10')));
    // The manifest's own time alone would vouch for the file (its tick closed at 11 < 12) ...
    expect(isRacy(f, racyThreshold(sec('12'), sec('12')))).toBe(false);
    // ... but the entry was recorded while that tick was open.
    expect(statMatches(f, e)).toBe(false);
  });
});
