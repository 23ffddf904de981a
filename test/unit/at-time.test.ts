import { describe, expect, it } from 'vitest';
import type { LocalFile } from '../../src/local/scan.js';
import { parseAtTime, replacedSince, stateAt } from '../../src/plan/at-time.js';
import { planPull } from '../../src/plan/pull.js';
import { emptyFacts } from '../../src/plan/types.js';
import type { ObjectVersion, RemoteObject } from '../../src/s3/remote-object.js';
import { resolveAt } from '../../src/sync/at-time.js';
import { md5Hex } from '../helpers.js';
import { hashOf } from './plan-fixtures.js';

const T = Date.parse('2026-11-30T12:00:00Z');
const S = 1000;

/** A version (or with `dm` a delete marker) of `key` written `dt` ms from T. */
const v = (key: string, id: string, dt: number, o: { dm?: boolean; latest?: boolean; size?: number } = {}) =>
  ({
    key,
    versionId: id,
    isLatest: o.latest ?? false,
    lastModified: T + dt,
    deleteMarker: o.dm ?? false,
    size: o.dm ? 0 : (o.size ?? 10),
    etag: o.dm ? '' : `etag-${id}`,
  }) satisfies ObjectVersion;

/** The chosen version id per key at T (absent keys left out). */
const at = (versions: ObjectVersion[], prefix = 'p/', time = T) =>
  Object.fromEntries([...stateAt(versions, prefix, time)].map(([rel, o]) => [rel, o.versionId]));

describe('replacedSince: keys whose state at TIME a later unversioned write may have replaced', () => {
  it.each([
    [
      'a null version written after TIME',
      [v('p/a', 'null', 5 * S, { latest: true }), v('p/a', '1', -5 * S)],
      ['a'],
    ],
    ['a null delete marker written after TIME', [v('p/a', 'null', 5 * S, { dm: true, latest: true })], ['a']],
    [
      'a null version written at or before TIME: nothing replaced it',
      [v('p/a', 'null', 0, { latest: true })],
      [],
    ],
    [
      'versioned writes after TIME keep the history',
      [v('p/a', '2', 5 * S, { latest: true }), v('p/a', '1', -S)],
      [],
    ],
    ['a key outside the prefix', [v('q/a', 'null', 5 * S, { latest: true })], []],
    [
      'each key once, in the listing order',
      [v('p/b', 'null', 2 * S), v('p/a', 'null', 3 * S), v('p/b', '1', 4 * S)],
      ['b', 'a'],
    ],
  ] as [string, ObjectVersion[], string[]][])('%s', (_what, versions, rels) => {
    expect(replacedSince(versions, 'p/', T)).toEqual(rels);
  });
});

describe('stateAt: the newest entry at or before TIME decides each key', () => {
  it.each([
    [
      'an older version, a newer one after TIME',
      [v('p/a', '2', 5 * S, { latest: true }), v('p/a', '1', -5 * S)],
      { a: '1' },
    ],
    [
      'a version written exactly at TIME counts',
      [v('p/a', '2', 0, { latest: true }), v('p/a', '1', -5 * S)],
      { a: '2' },
    ],
    ['only versions after TIME: the key did not exist yet', [v('p/a', '1', 1)], {}],
    [
      'a delete marker before TIME: absent',
      [v('p/a', 'd', -1 * S, { dm: true, latest: true }), v('p/a', '1', -5 * S)],
      {},
    ],
    [
      'a delete marker after TIME: still present',
      [v('p/a', 'd', 1 * S, { dm: true, latest: true }), v('p/a', '1', -5 * S)],
      { a: '1' },
    ],
    [
      'deleted, then written again before TIME',
      [v('p/a', '3', -1 * S, { latest: true }), v('p/a', 'd', -2 * S, { dm: true }), v('p/a', '1', -3 * S)],
      { a: '3' },
    ],
    [
      'the listing out of time order (some stores list oldest first)',
      [v('p/a', '1', -3 * S), v('p/a', '2', -2 * S), v('p/a', '3', 2 * S, { latest: true })],
      { a: '2' },
    ],
    ['keys outside the prefix are left out', [v('q/a', '1', -S), v('p/b', '1', -S)], { b: '1' }],
  ])('%s', (_why, versions, expected) => {
    expect(at(versions)).toEqual(expected);
  });

  it('ties (RGW stamps whole seconds): the latest wins, then the one listed first', () => {
    // The same second: a delete marker listed first (newest first) hides the version.
    expect(at([v('p/a', 'd', -S, { dm: true }), v('p/a', '1', -S), v('p/a', '0', -9 * S)])).toEqual({});
    // The same second, the version listed first: it was written after the marker.
    expect(at([v('p/a', '2', -S), v('p/a', 'd', -S, { dm: true }), v('p/a', '0', -9 * S)])).toEqual({
      a: '2',
    });
    // The one still current is the newest, wherever it is listed.
    expect(at([v('p/a', '1', -S), v('p/a', '2', -S, { latest: true })])).toEqual({ a: '2' });
    expect(at([v('p/a', 'd', -S, { dm: true }), v('p/a', '2', -S, { latest: true })])).toEqual({ a: '2' });
  });

  it('each object keeps its rel, size, ETag, version id and whether it is still current', () => {
    const m = stateAt([v('p/d/a', '2', S, { latest: true }), v('p/d/a', '1', -S, { size: 7 })], 'p/', T);
    expect(m.get('d/a')).toEqual({
      rel: 'd/a',
      key: 'p/d/a',
      size: 7,
      etag: 'etag-1',
      lastModified: T - S,
      versionId: '1',
      isLatest: false,
    });
  });
});

describe('parseAtTime', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  it.each([
    ['2026-11-30T10:00:00Z', Date.parse('2026-11-30T10:00:00Z')],
    ['2026-11-30T10:00:00.250Z', Date.parse('2026-11-30T10:00:00.250Z')],
    ['2026-11-30T11:00:00+01:00', Date.parse('2026-11-30T10:00:00Z')],
    ['2026-11-30T11:00+0100', Date.parse('2026-11-30T10:00:00Z')],
    ['2026-11-30 10:00:00z', Date.parse('2026-11-30T10:00:00Z')],
    // No zone: local time, as date(1) reads it.
    ['2026-11-30T10:00', new Date(2026, 10, 30, 10, 0).getTime()],
    ['2026-11-30', new Date(2026, 10, 30).getTime()],
    ['2d', now - 2 * 86_400_000],
    ['90m', now - 90 * 60_000],
    ['1.5h', now - 1.5 * 3_600_000],
    ['0', now],
  ])('%s', (text, ms) => {
    expect(parseAtTime(text, now)).toEqual({ ms });
  });

  it.each([
    ['2026-02-30', /not a valid date/],
    ['2026-13-01', /not a valid date/],
    ['2026-11-30T25:00', /not a valid date/],
    ['2026-11-30T24:00', /not a valid date/],
    ['2026-11-30T24:00:00Z', /not a valid date/],
    ['2027-01-01', /in the future/],
    ['2026-12-01T12:00:01Z', /in the future/],
    ['yesterday', /neither an ISO 8601 date or time .* nor a duration/],
    ['2', /neither/],
    ['-2d', /neither/],
    ['1700000000', /neither/],
    ['', /neither/],
  ])('%s is refused', (text, why) => {
    const r = parseAtTime(text, now);
    expect('error' in r && r.error).toMatch(why);
  });
});

describe('parseAtTime: local times around a change of the clocks', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  /** parseAtTime with TZ set to `tz`, then put back. */
  const inZone = (tz: string, text: string) => {
    const was = process.env.TZ;
    process.env.TZ = tz;
    try {
      return parseAtTime(text, now);
    } finally {
      if (was === undefined) delete process.env.TZ;
      else process.env.TZ = was;
    }
  };

  it.each([
    [
      'a time the clocks skipped in spring',
      'America/New_York',
      '2026-03-08T02:30:00',
      "'2026-03-08T02:30:00' is not a time in this time zone (America/New_York): on 2026-03-08 its clocks went from 02:00 straight to 03:00; give an offset (…Z, …-05:00) or another time",
    ],
    [
      'the first minute of the gap',
      'America/New_York',
      '2026-03-08T02:00',
      /went from 02:00 straight to 03:00/,
    ],
    ['its last instant', 'America/New_York', '2026-03-08T02:59:59.999', /went from 02:00 straight to 03:00/],
    [
      'in Europe',
      'Europe/Berlin',
      '2026-03-29T02:15',
      /\(Europe\/Berlin\): on 2026-03-29 .* 02:00 straight to 03:00/,
    ],
    ['a half-hour gap', 'Australia/Lord_Howe', '2026-10-04T02:15', /from 02:00 straight to 02:30/],
    ['a day whose midnight was skipped', 'America/Santiago', '2025-09-07', /from 00:00 straight to 01:00/],
  ])('%s is refused', (_what, tz, text, why) => {
    const r = inZone(tz, text);
    expect('error' in r && r.error).toMatch(why);
  });

  it.each([
    ['just before the gap', 'America/New_York', '2026-03-08T01:59:59.999', '2026-03-08T06:59:59.999Z'],
    ['as it ends', 'America/New_York', '2026-03-08T03:00', '2026-03-08T07:00:00.000Z'],
    [
      'a time the clocks went through twice: the earlier',
      'America/New_York',
      '2026-11-01T01:30',
      '2026-11-01T05:30:00.000Z',
    ],
    ['the same in Europe', 'Europe/Berlin', '2026-10-25T02:30', '2026-10-25T00:30:00.000Z'],
    ['no gap in UTC', 'UTC', '2026-03-08T02:30', '2026-03-08T02:30:00.000Z'],
    [
      'a zone given: no local time to skip',
      'America/New_York',
      '2026-03-08T02:30-05:00',
      '2026-03-08T07:30:00.000Z',
    ],
    ['the day after a skipped midnight', 'America/Santiago', '2025-09-08', '2025-09-08T03:00:00.000Z'],
  ])('%s is taken', (_what, tz, text, iso) => {
    expect(inZone(tz, text)).toEqual({ ms: Date.parse(iso) });
  });
});

describe('planPull over a state at TIME', () => {
  const OLD = '1000000000000';
  const file = (rel: string): LocalFile => ({
    rel,
    size: 10,
    mtimeNs: OLD,
    ctimeNs: OLD,
    ino: '7',
    dev: '1',
  });
  const plan = (remote: RemoteObject[], local: LocalFile[], facts = emptyFacts()) =>
    planPull({
      remote: new Map(remote.map((r) => [r.rel, r])),
      local: new Map(local.map((f) => [f.rel, f])),
      manifest: new Map(),
      racyThresholdNs: 0n,
      facts,
      options: { delete: true },
    });
  const past = (rel: string, isLatest: boolean): RemoteObject => ({
    rel,
    key: `p/${rel}`,
    size: 10,
    etag: md5Hex(`content of ${rel}`),
    lastModified: T,
    versionId: `v-${rel}`,
    isLatest,
  });

  it('a download names the version, and whether it is still current', () => {
    const { actions } = plan([past('a', false), past('b', true)], []);
    expect(actions).toMatchObject([
      { kind: 'download', rel: 'a', versionId: 'v-a', isLatest: false },
      { kind: 'download', rel: 'b', versionId: 'v-b', isLatest: true },
    ]);
  });

  it.each([
    // The manifest records what the current object holds: a past version's content is not recorded.
    [false, 'skip'],
    [true, 'record'],
  ])('a local file that already holds the version (still current: %s) → %s', (isLatest, kind) => {
    const f = file('a');
    const facts = emptyFacts();
    facts.hashes.set('a', hashOf(f, md5Hex('content of a')));
    expect(plan([past('a', isLatest)], [f], facts).actions).toMatchObject([{ kind, rel: 'a' }]);
  });

  it('a plain listing (no version ids) plans as before: no version fields', () => {
    const { versionId: _, isLatest: __, ...current } = past('a', true);
    expect(plan([current], []).actions[0]).not.toHaveProperty('versionId');
  });

  it('an archived version is planned as an archived current object is: HEAD first, then skipped', () => {
    const state = stateAt(
      [
        { ...v('p/cold', '2', -S, { latest: true }), storageClass: 'DEEP_ARCHIVE' },
        { ...v('p/cold', '1', -2 * S), storageClass: 'GLACIER' },
        v('p/warm', '1', -S, { latest: true }),
      ],
      'p/',
      T,
    );
    expect(state.get('cold')).toMatchObject({ versionId: '2', storageClass: 'DEEP_ARCHIVE' });
    expect(state.get('warm')).not.toHaveProperty('storageClass');
    const first = plan([...state.values()], []);
    expect(first.needs).toEqual([{ kind: 'head', rel: 'cold' }]);
    const facts = emptyFacts();
    facts.heads.set('cold', {});
    expect(plan([...state.values()], [], facts).actions).toEqual([
      {
        kind: 'archived',
        rel: 'cold',
        key: 'p/cold',
        reason: 'in DEEP_ARCHIVE: not readable until restored (restore it, then run again)',
      },
      expect.objectContaining({ kind: 'download', rel: 'warm' }),
    ]);
  });

  it('--delete removes a local file the state at TIME does not have', () => {
    expect(plan([], [file('later')]).actions).toMatchObject([{ kind: 'delete', rel: 'later' }]);
  });
});

describe('--at on the server clock', () => {
  it("moves a duration by the server's clock offset, once; an absolute time stays", () => {
    const now = Date.UTC(2026, 11, 7, 12, 0, 0);
    const ago = resolveAt('90s', now)!;
    expect(ago.ms).toBe(now - 90_000);
    expect(ago.onServerClock(30 * 60_000)).toBe(now - 90_000 + 30 * 60_000);
    expect(ago.onServerClock(30 * 60_000)).toBe(now - 90_000 + 30 * 60_000);
    const fixed = resolveAt('2026-12-07T11:00:00Z', now)!;
    expect(fixed.onServerClock(30 * 60_000)).toBe(Date.UTC(2026, 11, 7, 11, 0, 0));
  });

  it("judges a date on the server's clock: this clock's future may be the server's past", () => {
    const now = Date.UTC(2026, 11, 7, 12, 0, 0);
    // Parsed before any answer, a date after this clock's now is not refused yet.
    const ahead = resolveAt('2026-12-07T12:01:00Z', now)!;
    expect(ahead.ms).toBe(now + 60_000);
    // The server's clock 2 minutes ahead of this one: its past.
    expect(ahead.onServerClock(120_000, now)).toBe(now + 60_000);
    // A clock that is right: the future, said with the server's time.
    expect(() => ahead.onServerClock(0, now)).toThrow(
      /^at \(--at\): '2026-12-07T12:01:00Z' is in the future: the server's clock reads 2026-12-07T12:00:00\.000Z$/,
    );
    // This clock 2 minutes ahead of the server's: a minute ago here is still to come there.
    const past = resolveAt('2026-12-07T11:59:00Z', now)!;
    expect(() => past.checkDate(-120_000, now)).toThrow(
      /is in the future: the server's clock reads 2026-12-07T11:58:00\.000Z, this machine's clock 2 min ahead of it$/,
    );
    expect(() => resolveAt('90s', now)!.checkDate(-120_000, now)).not.toThrow();
  });
});
