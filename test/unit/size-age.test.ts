/**
 * The size and age limits: how an age is written (parseAge), the instant it names (ageCutoff), and the
 * predicate's bounds, every one inclusive as rclone's are.
 */
import { describe, expect, it } from 'vitest';
import { ageCutoff, mtimeMsOf, sizeAgeFilter } from '../../src/local/size-age.js';
import { parseAge, parseValue } from '../../src/options/parse.js';
import { DAY, HOUR, MINUTE } from '../../src/options/spec.js';
import { OPTION_SPECS } from '../../src/options/table.js';
import { usageErrorOf } from '../helpers.js';

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

describe('parseAge', () => {
  it.each([
    ['a duration in days', '7d', { ago: 7 * DAY }],
    ['a duration in hours, fractional', '1.5h', { ago: 1.5 * HOUR }],
    ['zero: now', '0', { ago: 0 }],
    ['spaces around are trimmed', ' 30m ', { ago: 30 * MINUTE }],
    ['a date is midnight UTC', '2026-11-01', { at: Date.UTC(2026, 10, 1) }],
    ['a time in UTC', '2026-11-01T10:00:00Z', { at: Date.UTC(2026, 10, 1, 10) }],
    ['lower-case z, no seconds', '2026-11-01T10:30z', { at: Date.UTC(2026, 10, 1, 10, 30) }],
    ['a space instead of T', '2026-11-01 10:00:00Z', { at: Date.UTC(2026, 10, 1, 10) }],
    [
      'an offset east of UTC is earlier in UTC',
      '2026-11-01T10:00:00+02:00',
      { at: Date.UTC(2026, 10, 1, 8) },
    ],
    ['an offset west, no colon', '2026-11-01T10:00:00-0130', { at: Date.UTC(2026, 10, 1, 11, 30) }],
    ['milliseconds', '2026-11-01T10:00:00.25Z', { at: Date.UTC(2026, 10, 1, 10, 0, 0, 250) }],
    ['a leap day', '2028-02-29', { at: Date.UTC(2028, 1, 29) }],
  ])('%s: %s', (_why, text, want) => {
    expect(parseAge(text)).toEqual(want);
  });

  it.each([
    ['a number without a unit is ambiguous', '7', 'needs-unit'],
    ['a time without its zone means another instant on each machine', '2026-11-01T10:00:00', 'needs-zone'],
    ['a day that does not exist is not rolled over', '2026-02-30', undefined],
    ['no 13th month', '2026-13-01', undefined],
    ['no hour 24', '2026-11-01T24:00:00Z', undefined],
    ['a duration past a century', '36501d', 'too-long'],
    ['a duration past any date', '9999999999999999999999d', 'too-long'],
    ['a negative duration', '-7d', undefined],
    ['a unit it does not know', '7w', undefined],
    ['words', 'yesterday', undefined],
    ['empty', '', undefined],
  ])('refused, %s: %s', (_why, text, want) => {
    expect(parseAge(text)).toBe(want);
  });

  it('takes milliseconds from a library call, a unit from the config file, and says what is wrong', () => {
    const spec = OPTION_SPECS.maxAge;
    expect(parseValue(spec, 7 * DAY, 'library')).toEqual({ ok: true, value: 7 * DAY });
    expect(parseValue(spec, 7, 'config')).toEqual({ ok: false, hint: 'add a unit, e.g. "7d"' });
    expect(parseValue(spec, -1, 'library')).toMatchObject({ ok: false });
    expect(parseValue(spec, 36500 * DAY, 'library')).toEqual({ ok: true, value: 36500 * DAY });
    expect(parseValue(spec, 1e20, 'library')).toEqual({ ok: false, hint: 'at most 36500d (100 years)' });
    expect(parseValue(spec, '100000000d', 'flag')).toEqual({ ok: false, hint: 'at most 36500d (100 years)' });
    expect(parseValue(spec, '7', 'flag')).toEqual({ ok: false, hint: 'add a unit, e.g. "7d"' });
    expect(parseValue(spec, '2026-11-01T10:00', 'flag')).toEqual({
      ok: false,
      hint: 'add the time zone, e.g. Z for UTC or +02:00',
    });
    expect(parseValue(spec, '2026-11-01', 'flag')).toEqual({ ok: true, value: '2026-11-01' });
  });
});

describe('ageCutoff', () => {
  it('counts a duration back from the run start; a point in time is itself', () => {
    expect(ageCutoff('7d', NOW)).toBe(NOW - 7 * DAY);
    expect(ageCutoff(HOUR, NOW)).toBe(NOW - HOUR);
    expect(ageCutoff('2026-11-01', NOW)).toBe(Date.UTC(2026, 10, 1));
  });
});

describe('sizeAgeFilter', () => {
  const KB = 1024;
  it.each([
    ['no limits: everything, and inactive', {}, [0, NOW], true],
    ['min-size: exactly the minimum is kept', { minSize: KB }, [KB, NOW], true],
    ['min-size: one byte less is not', { minSize: KB }, [KB - 1, NOW], false],
    ['max-size: exactly the maximum is kept', { maxSize: KB }, [KB, NOW], true],
    ['max-size: one byte more is not', { maxSize: KB }, [KB + 1, NOW], false],
    ['min-size 0 keeps empty files', { minSize: 0 }, [0, NOW], true],
    ['max-size 0 keeps only empty files', { maxSize: 0 }, [1, NOW], false],
    ['max-age: modified exactly at the cutoff is kept', { maxAge: '7d' }, [0, NOW - 7 * DAY], true],
    ['max-age: a millisecond older is not', { maxAge: '7d' }, [0, NOW - 7 * DAY - 1], false],
    ['max-age: a file from the future is recent', { maxAge: '7d' }, [0, NOW + DAY], true],
    ['min-age: exactly at the cutoff is kept', { minAge: '1h' }, [0, NOW - HOUR], true],
    ['min-age: a millisecond younger is not', { minAge: '1h' }, [0, NOW - HOUR + 1], false],
    [
      'max-age as a date: modified at its midnight is kept',
      { maxAge: '2026-11-01' },
      [0, Date.UTC(2026, 10, 1)],
      true,
    ],
    [
      'max-age as a date: the evening before is not',
      { maxAge: '2026-11-01' },
      [0, Date.UTC(2026, 9, 31, 23)],
      false,
    ],
    [
      'min-age as a time: at it is kept',
      { minAge: '2026-11-01T10:00:00Z' },
      [0, Date.UTC(2026, 10, 1, 10)],
      true,
    ],
    [
      'min-age as a time: a second after is not',
      { minAge: '2026-11-01T10:00:00Z' },
      [0, Date.UTC(2026, 10, 1, 10, 0, 1)],
      false,
    ],
    ['a window: inside', { maxAge: '7d', minAge: '1d', maxSize: KB }, [10, NOW - 2 * DAY], true],
    ['a window: too recent', { maxAge: '7d', minAge: '1d', maxSize: KB }, [10, NOW - HOUR], false],
    [
      'a window: right age, too big',
      { maxAge: '7d', minAge: '1d', maxSize: KB },
      [KB + 1, NOW - 2 * DAY],
      false,
    ],
  ] as const)('%s', (_why, limits, [size, mtime], want) => {
    const f = sizeAgeFilter(limits, NOW);
    expect(f.active).toBe(Object.keys(limits).length > 0);
    expect(f.fits(size, mtime)).toBe(want);
  });

  it.each([
    [
      'a minimum size above the maximum',
      { minSize: 2, maxSize: 1 },
      /^minSize \(--min-size\) 2 bytes is above maxSize \(--max-size\) 1 bytes/,
    ],
    [
      'an oldest time after the newest',
      { maxAge: '1d', minAge: '7d' },
      /^maxAge \(--max-age\) .* is after minAge \(--min-age\) /,
    ],
    [
      'dates the wrong way round',
      { maxAge: '2026-11-02', minAge: '2026-11-01' },
      /no file could be selected/,
    ],
    [
      'an oldest time after the start (a date)',
      { maxAge: '2099-01-01' },
      /^maxAge \(--max-age\) 2099-01-01T00:00:00.000Z is after the run's start: .* \(did you mean minAge, --min-age\?\)$/,
    ],
    [
      'an oldest time after the start (a minute on)',
      { maxAge: '2026-12-01T12:01:00Z' },
      /after the run's start/,
    ],
  ])('refuses limits that select nothing: %s', (_why, limits, message) => {
    expect(usageErrorOf(() => sizeAgeFilter(limits, NOW)).message).toMatch(message);
  });

  it('takes the start itself as the oldest time, and a newest time in the future', () => {
    expect(sizeAgeFilter({ maxAge: '2026-12-01T12:00:00Z' }, NOW).fits(0, NOW)).toBe(true);
    expect(sizeAgeFilter({ minAge: '2099-01-01' }, NOW).fits(0, NOW)).toBe(true);
  });

  it('accepts equal bounds (one size, one instant)', () => {
    expect(sizeAgeFilter({ minSize: 5, maxSize: 5 }, NOW).fits(5, NOW)).toBe(true);
    expect(sizeAgeFilter({ minAge: '1h', maxAge: '1h' }, NOW).fits(0, NOW - HOUR)).toBe(true);
  });

  it('reads a scanned mtime in nanoseconds as milliseconds, rounded down', () => {
    expect(mtimeMsOf('1764590400123999999')).toBe(1764590400123);
  });
});
