import { describe, expect, it } from 'vitest';
import { isLegacyManifest, parseLegacyManifest } from '../../src/manifest/legacy.js';
import { usageErrorOf } from '../helpers.js';

const MD5_A = '0123456789abcdef0123456789abcdef';
const MD5_B = 'd41d8cd98f00b204e9800998ecf8427e';

/** As the Python script wrote it (json.dump of a dict). */
const PYTHON_TEXT = `{
  "version": "1.0",
  "last_sync": "2024-05-01T12:00:00",
  "files": {
    "backups/database/x.sql": {
      "local_path": "database/x.sql",
      "size": 123,
      "md5": "${MD5_A}",
      "uploaded_at": "2024-05-01T11:59:58.123456"
    },
    "backups/database/empty.sql": {
      "local_path": "database/empty.sql",
      "size": 0,
      "md5": "${MD5_B}",
      "uploaded_at": "2024-05-01T11:59:59"
    }
  }
}`;

describe('isLegacyManifest', () => {
  it('recognises the Python manifest', () => {
    expect(isLegacyManifest(JSON.parse(PYTHON_TEXT))).toBe(true);
  });

  it('accepts an empty files object', () => {
    expect(isLegacyManifest({ version: '1.0', files: {} })).toBe(true);
  });

  it('accepts entries whose values are invalid, as long as the fields are there', () => {
    expect(
      isLegacyManifest({ version: '1.0', files: { k: { local_path: 'x', size: null, md5: 'zz' } } }),
    ).toBe(true);
  });

  it.each([
    ['null', null],
    ['a string', 'x'],
    ['an array', [{ version: '1.0', files: {} }]],
    ['no version', { files: {} }],
    ['numeric version', { version: 1, files: {} }],
    ['other version', { version: '2.0', files: {} }],
    ['no files', { version: '1.0' }],
    ['files array', { version: '1.0', files: [] }],
    ['files null', { version: '1.0', files: null }],
    ['entry not an object', { version: '1.0', files: { k: 'x' } }],
    ['entry without md5', { version: '1.0', files: { k: { local_path: 'x', size: 1 } } }],
    ['entry without size', { version: '1.0', files: { k: { local_path: 'x', md5: MD5_A } } }],
    ['entry without local_path', { version: '1.0', files: { k: { size: 1, md5: MD5_A } } }],
    ['a new-style manifest', { version: 2, entries: {} }],
  ])('rejects %s', (_name, json) => {
    expect(isLegacyManifest(json)).toBe(false);
  });
});

describe('parseLegacyManifest', () => {
  it('parses the Python manifest', () => {
    expect(parseLegacyManifest(JSON.parse(PYTHON_TEXT))).toEqual({
      lastSync: '2024-05-01T12:00:00',
      entries: [
        {
          key: 'backups/database/x.sql',
          localPath: 'database/x.sql',
          size: 123,
          md5: MD5_A,
          uploadedAt: '2024-05-01T11:59:58.123456',
        },
        {
          key: 'backups/database/empty.sql',
          localPath: 'database/empty.sql',
          size: 0,
          md5: MD5_B,
          uploadedAt: '2024-05-01T11:59:59',
        },
      ],
      skipped: [],
    });
  });

  it('leaves optional fields out when absent or not strings', () => {
    const r = parseLegacyManifest({
      version: '1.0',
      last_sync: null,
      files: {
        a: { local_path: 'database/a', size: 1, md5: MD5_A },
        b: { local_path: 'database/b', size: 2, md5: MD5_A, uploaded_at: 17 },
      },
    });
    expect(r).not.toHaveProperty('lastSync');
    expect(r.entries.map((e) => 'uploadedAt' in e)).toEqual([false, false]);
    expect(r.skipped).toEqual([]);
  });

  it('lower-cases md5s', () => {
    const r = parseLegacyManifest({
      version: '1.0',
      files: { k: { local_path: 'database/k', size: 5, md5: MD5_A.toUpperCase() } },
    });
    expect(r.entries[0]?.md5).toBe(MD5_A);
  });

  it('handles keys with spaces and Unicode', () => {
    const r = parseLegacyManifest({
      version: '1.0',
      files: { 'b/dümp 1.sql': { local_path: 'database/dümp 1.sql', size: 5, md5: MD5_A } },
    });
    expect(r.entries[0]?.key).toBe('b/dümp 1.sql');
  });

  it('skips entries with missing or invalid size, md5 or local_path, and lists them', () => {
    const good = { local_path: 'database/ok', size: 1, md5: MD5_A };
    const r = parseLegacyManifest({
      version: '1.0',
      files: {
        ok: good,
        noSize: { local_path: 'database/x', md5: MD5_A },
        nullSize: { local_path: 'database/x', size: null, md5: MD5_A },
        stringSize: { local_path: 'database/x', size: '12', md5: MD5_A },
        negativeSize: { local_path: 'database/x', size: -1, md5: MD5_A },
        fractionalSize: { local_path: 'database/x', size: 1.5, md5: MD5_A },
        hugeSize: { local_path: 'database/x', size: 2 ** 60, md5: MD5_A },
        noMd5: { local_path: 'database/x', size: 1 },
        shortMd5: { local_path: 'database/x', size: 1, md5: MD5_A.slice(1) },
        longMd5: { local_path: 'database/x', size: 1, md5: `${MD5_A}0` },
        nonHexMd5: { local_path: 'database/x', size: 1, md5: 'g'.repeat(32) },
        multipartEtag: { local_path: 'database/x', size: 1, md5: `${MD5_A}-3` },
        numberMd5: { local_path: 'database/x', size: 1, md5: 123 },
        noLocalPath: { size: 1, md5: MD5_A },
        emptyLocalPath: { local_path: '', size: 1, md5: MD5_A },
        notAnObject: 'x',
        nullEntry: null,
        '': good,
      },
    });
    expect(r.entries.map((e) => e.key)).toEqual(['ok']);
    expect(r.skipped.sort()).toEqual(
      [
        'noSize',
        'nullSize',
        'stringSize',
        'negativeSize',
        'fractionalSize',
        'hugeSize',
        'noMd5',
        'shortMd5',
        'longMd5',
        'nonHexMd5',
        'multipartEtag',
        'numberMd5',
        'noLocalPath',
        'emptyLocalPath',
        'notAnObject',
        'nullEntry',
        '',
      ].sort(),
    );
  });

  it('accepts an empty files object', () => {
    expect(parseLegacyManifest({ version: '1.0', files: {} })).toEqual({ entries: [], skipped: [] });
  });

  it.each([
    ['null', null, 'not a JSON object'],
    ['an array', [], 'not a JSON object'],
    ['a string', '{"version":"1.0"}', 'not a JSON object'],
    ['no version', { files: {} }, 'version'],
    ['numeric version', { version: 1, files: {} }, 'version 1'],
    ['wrong version', { version: '2.0', files: {} }, 'version "2.0"'],
    ['no files', { version: '1.0' }, 'files'],
    ['files array', { version: '1.0', files: [] }, 'files'],
    ['files string', { version: '1.0', files: 'x' }, 'files'],
  ])('throws a one-line usage error for %s', (_name, json, fragment) => {
    const e = usageErrorOf(() => parseLegacyManifest(json));
    expect(e.message).toContain('legacy manifest');
    expect(e.message).toContain(fragment);
  });

  it('keeps a multi-line or huge version value out of the message', () => {
    const e = usageErrorOf(() => parseLegacyManifest({ version: `a\n${'b'.repeat(500)}`, files: {} }));
    expect(e.message.length).toBeLessThan(150);
  });
});
