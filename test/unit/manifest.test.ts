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
import { HOSTILE_NAMES, longNames } from './name-fixtures.js';

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

describe('manifest paths that a reader could misread', () => {
  const names = [...HOSTILE_NAMES, ...longNames()];
  /** The names among ordinary ones, each also as the last segment of a path and as a directory. */
  const variants = (name: string) => [name, `dir/${name}`, `${name}/file.txt`];
  const manifestOf = (rels: string[]) => {
    const m = emptyManifest(dest);
    m.writtenAtNs = '1';
    for (const [i, rel] of rels.entries()) m.files.set(rel, entry(i));
    return m;
  };

  it.each(names.map((n) => [n]))('%j round-trips first, last, alone and among others', (name) => {
    for (const rels of [
      variants(name),
      ['a.txt', ...variants(name), 'z.txt'],
      [name],
      ['a.txt', name],
      [name, 'z.txt'],
    ]) {
      const m = manifestOf(rels);
      const text = encodeManifest(m);
      expect(decodeManifest(text, dest)).toEqual(m);
      // One line per file and one end line: no path splits its line or passes for the end.
      const lines = text.split('\n');
      expect(lines).toHaveLength(rels.length + 3);
      expect(lines.filter((l) => l.startsWith('#'))).toEqual([`#end ${rels.length}`]);
      // Nothing in the file acts on a terminal that shows it (tabs and newlines are its own).
      expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
    }
  });

  it('writes ordinary names as they are, and quotes each kind of misreadable one', () => {
    const plain = ['a.txt', 'dir/ü +%&=.bin', 'x#y', 'q"x', 'mid  spaces', '😀', '{}', '=', '%2F'];
    const quoted = [
      '#end 1',
      '#',
      '"q',
      ' lead',
      'trail ',
      '\u00a0nbsp',
      'a\tb',
      'a\\b',
      'del\x7f',
      'c1\u0085',
    ];
    const lines = encodeManifest(manifestOf([...plain, ...quoted]))
      .split('\n')
      .slice(1, -2);
    expect(lines.map((l) => l.slice(0, l.indexOf('\t')))).toEqual([
      ...plain,
      ...quoted.map((q) =>
        JSON.stringify(q).replace(
          /[\x7f-\x9f]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        ),
      ),
    ]);
  });

  it.each([
    ['#end 1', 1],
    ['#end 1', 2],
    ['#end 0', 3],
    ['#end 2', 3],
    ['#end 99', 2],
  ])('reads a manifest from an earlier version that wrote %j unquoted (%i files)', (name, count) => {
    const m = manifestOf([...Array.from({ length: count - 1 }, (_, i) => `f${i}`), name]);
    const text = encodeManifest(m);
    // As earlier versions wrote it: the path as it is.
    const legacy = text.replace(`${JSON.stringify(name)}\t`, `${name}\t`);
    expect(legacy).not.toBe(text);
    expect(decodeManifest(legacy, dest)).toEqual(m);
    // The end line still guards the count.
    expect(typeof decodeManifest(legacy.replace(`#end ${count}\n`, `#end ${count + 1}\n`), dest)).toBe(
      'string',
    );
    expect(typeof decodeManifest(legacy.slice(0, legacy.lastIndexOf('#end')), dest)).toBe('string');
  });

  it('rejects a quoted path that is not a JSON string', () => {
    const text = encodeManifest(manifestOf(['"q'])).replace('"\\"q"', '"\\"q');
    expect(decodeManifest(text, dest)).toMatch(/malformed path/);
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

  it('keeps the multipart uploads of a manifest that cannot be trusted, never its files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, '.s3sync', 'm.json');
    const rec = {
      uploadId: 'up-1',
      key: 'p/big.bin',
      size: 150,
      mtimeNs: '1795508305742935497',
      md5: 'e243bb39c844b3543a7726576c869caf',
      partSize: 50,
      parts: { 1: '"etag1"' },
      startedAt: '2026-11-24T08:00:00.000Z',
      params: 'digest',
      create: { sentAt: 1000, endedAt: 2000 },
    };
    const m = emptyManifest(dest);
    m.files.set('x', entry(1));
    m.pending['big.bin'] = rec;
    saveManifest(file, m);
    const good = readFileSync(file, 'utf8');
    const damaged: [string, string, string][] = [
      ['a future version', good.replace('"version":1', '"version":2'), 'schema version 2 is not 1'],
      ['no end line', good.replace(/#end \d+\n$/, ''), 'it has no end line (truncated?)'],
      ['unknown columns', good.replace('"columns":["rel"', '"columns":["path"'), 'unknown columns'],
    ];
    for (const [name, text, why] of damaged) {
      writeFileSync(file, text);
      const loaded = loadManifest(file, dest);
      expect(loaded.warning, name).toBe(
        `manifest ${file} cannot be trusted (${why}): rebuilding it from the remote listing ` +
          '(keeping the multipart upload it records as unfinished)',
      );
      expect(loaded.data.files.size, name).toBe(0);
      expect(loaded.data.pending, name).toEqual({ 'big.bin': rec });
    }
    // Another destination's uploads, and records of any other shape, are not this run's to settle.
    const v2 = good.replace('"version":1', '"version":2');
    const misshapen = [
      v2.replace('"prefix":"p/"', '"prefix":"q/"'),
      v2.replace('"key":"p/big.bin"', '"key":"p/other.bin"'),
      v2.replace('"uploadId":"up-1"', '"uploadId":7'),
      v2.replace('"parts":{"1":"\\"etag1\\""}', '"parts":[1]'),
      v2.replace('"size":150', '"size":-1'),
      v2.replace('"md5":"e243bb39c844b3543a7726576c869caf"', '"md5":"x"'),
      v2.replace('"sentAt":1000', '"sentAt":"soon"'),
      v2.replace('"pending":{', '"pending":{"x":null,'),
    ];
    for (const text of misshapen) {
      expect(text).not.toBe(v2);
      writeFileSync(file, text);
      const loaded = loadManifest(file, dest);
      // A record of another shape beside one of this shape: only that one is kept.
      const kept = text.includes('"x":null');
      expect(loaded.warning).toBe(
        `manifest ${file} cannot be trusted (schema version 2 is not 1): rebuilding it from the remote listing${kept ? ' (keeping the multipart upload it records as unfinished)' : ''}`,
      );
      expect(loaded.data.pending).toEqual(kept ? { 'big.bin': rec } : {});
    }
  });

  it('quotes a schema version that is not a number', () => {
    const text = encodeManifest(emptyManifest(dest));
    expect(decodeManifest(text.replace('"version":1', '"version":"1"'), dest)).toBe(
      'schema version "1" is not 1',
    );
    expect(decodeManifest(text.replace('"version":1,', ''), dest)).toBe('schema version none is not 1');
  });

  it('distrusts a write time that is not a number, in one warning, never a crash', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, '.s3sync', 'm.json');
    const m = emptyManifest(dest);
    m.files.set('x', entry(1));
    saveManifest(file, m);
    const good = readFileSync(file, 'utf8');
    const stamp = /"writtenAtNs":"(\d+)"/.exec(good)![1]!;
    for (const bad of [
      'x',
      '2099-01-01T00:00:00Z',
      '',
      `${stamp.slice(0, 5)}\ufffd${stamp.slice(6)}`,
      '-1',
      '1'.repeat(40),
    ]) {
      writeFileSync(file, good.replace(`"writtenAtNs":"${stamp}"`, `"writtenAtNs":${JSON.stringify(bad)}`));
      const loaded = loadManifest(file, dest);
      expect(loaded.warning, bad).toBe(
        `manifest ${file} cannot be trusted (no valid write time): rebuilding it from the remote listing`,
      );
      expect(loaded.data.files.size).toBe(0);
    }
  });

  it("says an emptied manifest in s3sync's folder is rebuilt; an empty file at a chosen path is a place", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, '.s3sync', 'm.json');
    saveManifest(file, emptyManifest(dest));
    writeFileSync(file, '');
    expect(loadManifest(file, dest).warning).toBe(
      `manifest ${file} is empty: rebuilding it from the remote listing`,
    );
    expect(loadManifest(file, dest, { explicit: true }).warning).toBeUndefined();
  });

  it('tells a run that writes no manifest that it goes by the listing, not that it rebuilds', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, '.s3sync', 'm.json');
    const m = emptyManifest(dest);
    m.files.set('x', entry(1));
    saveManifest(file, m);
    truncateSync(file, 40);
    expect(loadManifest(file, dest, { readOnly: true }).warning).toMatch(
      /^manifest .* cannot be trusted \(.*\): going by the remote listing instead \(this run writes no manifest\)$/,
    );
    writeFileSync(file, '');
    expect(loadManifest(file, dest, { readOnly: true }).warning).toBe(
      `manifest ${file} is empty: going by the remote listing instead (this run writes no manifest)`,
    );
  });

  it("offers a foreign JSON manifest (the Python script's) for adoption", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 's3sync-manifest-'));
    const file = path.join(dir, 'legacy.json');
    const legacy = { version: '1.0', files: {} };
    writeFileSync(file, JSON.stringify(legacy));
    expect(loadManifest(file, dest).foreign).toEqual(legacy);
  });
});

describe('a manifest read in pieces', () => {
  /** A manifest of more than 1 MiB (the piece read at a time), with names of one to four UTF-8 bytes. */
  const large = (count: number) => {
    const m = emptyManifest(dest);
    m.writtenAtNs = '1795508305742935499';
    const scripts = ['a', 'é', '日本', '🎵', 'Ω'];
    for (let i = 0; i < count; i++) {
      m.files.set(`dir${i % 37}/${scripts[i % scripts.length]}-${i}.bin`, { ...entry(i), ino: String(i) });
    }
    return m;
  };
  const save = (text: string | Buffer) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 's3sync-pieces-')), 'm.json');
    writeFileSync(file, text);
    return file;
  };

  it('loads a manifest of many pieces as one string decodes, ASCII and not', () => {
    for (const m of [large(30_000), large(9)]) {
      for (const ascii of [false, true]) {
        if (ascii) {
          const plain = emptyManifest(dest);
          plain.writtenAtNs = m.writtenAtNs;
          for (const [rel, e] of m.files) if (/^[\x20-\x7e]*$/.test(rel)) plain.files.set(rel, e);
          m.files = plain.files;
        }
        const text = encodeManifest(m);
        const file = save(text);
        const loaded = loadManifest(file, dest);
        expect(loaded.warning).toBeUndefined();
        expect(loaded.data.files).toEqual(m.files);
        expect([...loaded.data.files.keys()]).toEqual([...m.files.keys()]);
        expect(loaded.data).toEqual(decodeManifest(text, dest));
      }
    }
    expect(encodeManifest(large(30_000)).length).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('decodes each byte of a piece boundary as the whole file does', () => {
    // The first line break after 1 MiB moves with the padding, so that a piece ends before, inside and
    // after a name's multi-byte characters; the result must equal a decoding of the whole file.
    const rest = large(9_000);
    const ends = new Set<number>();
    for (const pad of [0, 1, 2, 3, 5, 8, 13]) {
      const m = emptyManifest(dest);
      m.writtenAtNs = rest.writtenAtNs;
      m.files.set(`${'x'.repeat(pad)}🎵é`, entry(1));
      for (const [rel, e] of rest.files) m.files.set(rel, e);
      const text = encodeManifest(m);
      // Where the first MiB ends: inside which line, and at which byte of it.
      const bytes = Buffer.from(text);
      ends.add((1 << 20) - (bytes.lastIndexOf(10, (1 << 20) - 1) + 1));
      const loaded = loadManifest(save(text), dest);
      expect(loaded.warning).toBeUndefined();
      expect(loaded.data.files.size).toBe(9_001);
      expect(loaded.data).toEqual(decodeManifest(text, dest));
    }
    expect(ends.size).toBe(7);
  });

  it('reads bytes that are not UTF-8 as a whole-file read would, and distrusts the manifest', () => {
    const text = encodeManifest(large(12_000));
    const at = text.indexOf('\n', 1_200_000) + 1;
    const bytes = Buffer.concat([
      Buffer.from(text.slice(0, at)),
      Buffer.from([0x66, 0xe2, 0x82, 0x0a, 0xff, 0xfe]),
      Buffer.from(text.slice(at)),
    ]);
    const file = save(bytes);
    const loaded = loadManifest(file, dest);
    expect(loaded.data.files.size).toBe(0);
    expect(loaded.warning).toBe(
      `manifest ${file} cannot be trusted (${decodeManifest(readFileSync(file, 'utf8'), dest)}): rebuilding it from the remote listing`,
    );
  });

  it('reads a line longer than a piece, and a file with no line break at all', () => {
    const m = large(3);
    const text = encodeManifest(m);
    const nl = text.indexOf('\n');
    // A header padded past 1 MiB by a field the decoder ignores.
    const header = JSON.parse(text.slice(0, nl)) as Record<string, unknown>;
    const padded = `${JSON.stringify({ ...header, note: 'n'.repeat(3 * 1024 * 1024) })}${text.slice(nl)}`;
    const loaded = loadManifest(save(padded), dest);
    expect(loaded.warning).toBeUndefined();
    expect(loaded.data.files).toEqual(m.files);
    const oneLine = loadManifest(save(text.slice(0, nl)), dest);
    expect(oneLine.warning).toMatch(/cannot be trusted \(it has no end line \(truncated\?\)\)/);
  });

  it('distrusts a manifest cut at any piece boundary, or with data after its end line', () => {
    const text = encodeManifest(large(20_000));
    for (const cut of [1 << 20, text.indexOf('\n', 1 << 20) + 1, text.indexOf('\n', 2 << 20) + 1]) {
      const loaded = loadManifest(save(text.slice(0, cut)), dest);
      expect(loaded.data.files.size).toBe(0);
      expect(loaded.warning).toMatch(/cannot be trusted \((it has no end line|line \d+ is malformed)/);
    }
    const after = loadManifest(save(`${text}${'x\t'.repeat(700_000)}\n`), dest);
    expect(after.warning).toMatch(/cannot be trusted \(data after its end line\)/);
  });
});
