/** The manifest's optional object-form columns (header rule digest, compressed size): compatible both ways. */
import { describe, expect, it } from 'vitest';
import {
  COLUMNS,
  decodeManifest,
  emptyManifest,
  encodeManifest,
  FORM_COLUMNS,
  type ManifestData,
  type ManifestEntry,
} from '../../src/manifest/schema.js';

const DEST = { endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: 'p/' };
const MD5 = 'a'.repeat(32);
const entry = (over: Partial<ManifestEntry> = {}): ManifestEntry => ({
  size: 10,
  mtimeNs: '1000',
  ctimeNs: '1000',
  ino: '7',
  md5: MD5,
  etag: MD5,
  partSize: 0,
  syncedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});
const manifest = (files: Record<string, ManifestEntry>): ManifestData => ({
  ...emptyManifest(DEST),
  writtenAtNs: '5',
  files: new Map(Object.entries(files)),
});
const columnsOf = (text: string) => JSON.parse(text.slice(0, text.indexOf('\n'))).columns;

describe('object-form columns', () => {
  it('a manifest with no rule or compression is written exactly as before', () => {
    const text = encodeManifest(manifest({ a: entry() }));
    expect(columnsOf(text)).toEqual([...COLUMNS]);
    expect(text.split('\n')[1]!.split('\t')).toHaveLength(COLUMNS.length);
  });

  it('round-trips the digest and the stored size, and entries without them', () => {
    const files = {
      styled: entry({ style: '0123456789abcdef' }),
      gz: entry({ stored: 4, etag: 'b'.repeat(32) }),
      both: entry({ style: 'ffff', stored: 0 }),
      plain: entry(),
    };
    const text = encodeManifest(manifest(files));
    expect(columnsOf(text)).toEqual([...FORM_COLUMNS]);
    const back = decodeManifest(text, DEST) as ManifestData;
    expect(typeof back).toBe('object');
    expect(Object.fromEntries(back.files)).toEqual(files);
    expect('style' in back.files.get('plain')!).toBe(false);
  });

  it('an older manifest (nine columns) loads with no digest: its objects count as styled by the globals', () => {
    const old = `${JSON.stringify({ ...manifest({}), files: undefined, columns: COLUMNS })}\na\t10\t1000\t=\t7\t${MD5}\t=\t0\t2026\n#end 1\n`;
    const back = decodeManifest(old, DEST) as ManifestData;
    expect(back.files.get('a')).toEqual({ ...entry(), syncedAt: '2026' });
  });

  it.each([
    ['a form line short of a column', `a\t10\t1000\t=\t7\t${MD5}\t=\t0\t2026\t-`],
    ['a form line with an extra column', `a\t10\t1000\t=\t7\t${MD5}\t=\t0\t2026\t-\t-\tx`],
    ['a stored size that is no number', `a\t10\t1000\t=\t7\t${MD5}\t=\t0\t2026\t-\tbig`],
    ['a negative stored size', `a\t10\t1000\t=\t7\t${MD5}\t=\t0\t2026\t-\t-1`],
  ])('refuses %s', (_why, line) => {
    const text = `${JSON.stringify({ ...manifest({}), files: undefined, columns: FORM_COLUMNS })}\n${line}\n#end 1\n`;
    expect(decodeManifest(text, DEST)).toBe('line 2 is malformed');
  });
});
