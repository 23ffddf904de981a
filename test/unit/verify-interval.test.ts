import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  decodeManifest,
  emptyManifest,
  encodeManifest,
  type ManifestEntry,
} from '../../src/manifest/schema.js';
import { flagParser, setting } from '../../src/options/validate.js';
import { entriesContradicted } from '../../src/plan/compare.js';
import { formatAge, listingDue, planPush } from '../../src/plan/push.js';
import { emptyFacts, type RemoteObject } from '../../src/plan/types.js';

const H = 3_600_000;
const now = Date.parse('2026-12-01T12:00:00.000Z');
const ago = (ms: number) => new Date(now - ms).toISOString();

describe('listingDue: when a push lists the destination without --verify', () => {
  it('is due when the last listing is as old as the interval or older', () => {
    expect(listingDue(ago(24 * H), 10, 24 * H, now)).toMatch(/last complete listing .* was 24 h ago/);
    expect(listingDue(ago(25 * H), 10, 24 * H, now)).toMatch(/25 h ago/);
    expect(listingDue(ago(30 * 86_400_000), 1, 24 * H, now)).toMatch(/30 d ago/);
    expect(listingDue(ago(1500), 1, 1000, now)).toMatch(/1 s ago/);
  });

  it('is not due within the interval', () => {
    expect(listingDue(ago(24 * H - 1), 10, 24 * H, now)).toBeUndefined();
    expect(listingDue(ago(0), 10, 1000, now)).toBeUndefined();
    expect(listingDue(ago(10 * 60_000), 10, 30 * 60_000, now)).toBeUndefined();
  });

  it('an interval of 0 lists on every push; Infinity (never) on none', () => {
    expect(listingDue(ago(0), 1, 0, now)).toBeDefined();
    for (const listedAt of [null, ago(1e12), 'garbage', ago(-H)]) {
      expect(listingDue(listedAt, 5, Number.POSITIVE_INFINITY, now)).toBeUndefined();
    }
  });

  it('is due when the time is missing (an older manifest), unreadable, or in the future', () => {
    expect(listingDue(null, 3, 24 * H, now)).toMatch(/records no complete listing/);
    expect(listingDue('yesterday', 3, 24 * H, now)).toMatch(/unreadable/);
    expect(listingDue('', 3, 24 * H, now)).toMatch(/unreadable/);
    expect(listingDue(ago(-60_000), 3, 24 * H, now)).toMatch(/in the future/);
  });

  it('a manifest with no entries has nothing to check (new files ask for the listing themselves)', () => {
    expect(listingDue(null, 0, 24 * H, now)).toBeUndefined();
    expect(listingDue(ago(100 * H), 0, 0, now)).toBeUndefined();
  });

  it('formatAge picks a unit that reads as a number from 2 up', () => {
    expect([0, 59_000, 119_000, 120_000, 2 * H - 1, 2 * H, 47 * H, 48 * H].map(formatAge)).toEqual([
      '0 s',
      '59 s',
      '119 s',
      '2 min',
      '119 min',
      '2 h',
      '47 h',
      '2 d',
    ]);
  });
});

describe('--verify-interval values (the options table)', () => {
  it.each([
    ['24h', 24 * H],
    ['30m', 30 * 60_000],
    ['1s', 1000],
    ['2d', 2 * 86_400_000],
    ['1.5h', 1.5 * H],
    [' 90m ', 90 * 60_000],
    ['0', 0],
    ['never', Number.POSITIVE_INFINITY],
    ['Never', Number.POSITIVE_INFINITY],
  ])('%j → %d ms, from the flag and from a library call alike', (v, ms) => {
    expect(flagParser('verifyInterval')(v)).toBe(ms);
    expect(setting({ verifyInterval: v }, 'verifyInterval')).toBe(ms);
  });

  it('is 24h when not given; a library number is milliseconds', () => {
    expect(setting({}, 'verifyInterval')).toBe(24 * H);
    expect(setting({ verifyInterval: 5 }, 'verifyInterval')).toBe(5);
  });

  it.each(['soon', '', '-1h', '24 hours', '1w', 'h', '1e3s', 'nevermore', '60', true, null, {}, -1])(
    'rejects %j in one line (exit 2)',
    (v) => {
      let err: unknown;
      try {
        setting({ verifyInterval: v }, 'verifyInterval');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind).toBe('usage');
      expect((err as S3SyncError).message).toMatch(
        /^option verifyInterval must be a duration .* or never, got /,
      );
      expect((err as S3SyncError).message).not.toContain('\n');
    },
  );
});

const entry = (size: number, etag: string, syncedAt: string): ManifestEntry => ({
  size,
  mtimeNs: '1',
  ctimeNs: '1',
  ino: '1',
  md5: etag.length === 32 ? etag : '0'.repeat(32),
  etag,
  partSize: 0,
  syncedAt,
});
const obj = (rel: string, size: number, etag: string): RemoteObject => ({
  rel,
  key: `p/${rel}`,
  size,
  etag,
  lastModified: 0,
});

describe('entriesContradicted: what a complete listing says about older entries', () => {
  const listedAt = ago(H);
  const before = ago(2 * H);
  const after = ago(H / 2);
  const etag = 'e243bb39c844b3543a7726576c869caf';

  it('forgets entries whose object is missing, resized or rewritten; keeps matching and newer ones', () => {
    const manifest = new Map<string, ManifestEntry>([
      ['same', entry(5, etag, before)],
      ['missing', entry(5, etag, before)],
      ['resized', entry(5, etag, before)],
      ['rewritten', entry(5, etag, before)],
      ['quoted-etag', entry(5, etag, before)],
      ['adopted', entry(5, '', before)],
      ['adopted-resized', entry(5, '', before)],
      ['uploaded-this-run', entry(7, 'ffffffffffffffffffffffffffffffff', after)],
      ['uploaded-this-run-not-listed', entry(7, etag, after)],
    ]);
    const listing = new Map<string, RemoteObject>(
      [
        obj('same', 5, etag),
        obj('resized', 6, etag),
        obj('rewritten', 5, 'abababababababababababababababab'),
        obj('quoted-etag', 5, `"${etag}"`),
        obj('adopted', 5, 'anything'),
        obj('adopted-resized', 9, 'anything'),
        obj('uploaded-this-run', 7, etag),
      ].map((o) => [o.rel, o]),
    );
    expect(entriesContradicted(manifest, listing, listedAt).sort()).toEqual(
      ['adopted-resized', 'missing', 'resized', 'rewritten'].sort(),
    );
    expect(entriesContradicted(manifest, new Map(), listedAt)).toHaveLength(7);
    expect(entriesContradicted(new Map(), listing, listedAt)).toEqual([]);
  });
});

describe('the push planner uses a listing it has for drift, with or without --verify', () => {
  it('re-uploads an object missing remotely when a new file made the listing necessary', () => {
    const e = { ...entry(5, 'e243bb39c844b3543a7726576c869caf', ago(H)), mtimeNs: '10', ctimeNs: '10' };
    const files = [
      { rel: 'old.txt', size: 5, mtimeNs: '10', ctimeNs: '10', ino: '1', dev: '1' },
      { rel: 'new.txt', size: 3, mtimeNs: '10', ctimeNs: '10', ino: '2', dev: '1' },
    ];
    const input = {
      files,
      manifest: new Map([['old.txt', e]]),
      racyThresholdNs: 100n,
      facts: emptyFacts(),
      options: {},
    };
    expect(planPush(input).needs).toEqual([{ kind: 'listing' }]);
    input.facts.remote = new Map();
    expect(planPush(input).actions).toEqual([
      { kind: 'upload', rel: 'old.txt', reason: 'remote-drift', size: 5 },
      { kind: 'upload', rel: 'new.txt', reason: 'new', size: 3 },
    ]);
    // Without a listing at hand and without --verify, the manifest vouches for the file.
    const alone = { ...input, files: [files[0]!], facts: emptyFacts() };
    expect(planPush(alone)).toEqual({ actions: [{ kind: 'skip', rel: 'old.txt' }], needs: [] });
  });
});

describe('manifest header: listedAt', () => {
  const dest = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };

  it('round-trips, and is null in a new manifest', () => {
    const m = emptyManifest(dest);
    expect(m.listedAt).toBeNull();
    m.listedAt = '2026-12-01T11:00:00.000Z';
    const back = decodeManifest(encodeManifest(m), dest);
    expect(typeof back).not.toBe('string');
    expect((back as typeof m).listedAt).toBe('2026-12-01T11:00:00.000Z');
  });

  it('a manifest from before the field, or with a non-string one, reads as never listed', () => {
    const m = emptyManifest(dest);
    const text = encodeManifest(m);
    const header = JSON.parse(text.slice(0, text.indexOf('\n'))) as Record<string, unknown>;
    for (const value of [undefined, 12345, { at: 'x' }, null]) {
      const h = { ...header };
      if (value === undefined) delete h.listedAt;
      else h.listedAt = value;
      const old = `${JSON.stringify(h)}${text.slice(text.indexOf('\n'))}`;
      const back = decodeManifest(old, dest);
      expect(typeof back, String(back)).not.toBe('string');
      expect((back as typeof m).listedAt).toBeNull();
    }
  });
});
