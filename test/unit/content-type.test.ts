/** Content-Type by file name: mime-types' table, and a default for names it does not know. */
import { describe, expect, it } from 'vitest';
import { ContentTypes } from '../../src/sync/content-type.js';

describe('ContentTypes', () => {
  it.each([
    ['index.html', 'text/html'],
    ['dir/app.JS', 'text/javascript'],
    ['a/b/photo.jpeg', 'image/jpeg'],
    ['dump.sql.gz', 'application/gzip'],
    ['noext', 'application/octet-stream'],
    ['x.unknown-extension', 'application/octet-stream'],
    ['.hidden', 'application/octet-stream'],
  ])('%s → %s', async (rel, want) => {
    expect(await new ContentTypes().of(rel)).toBe(want);
  });

  it('answers concurrent first calls alike, from one load', async () => {
    const types = new ContentTypes();
    const got = await Promise.all(['a.css', 'b.css', 'c.png', 'd'].map((r) => types.of(r)));
    expect(got).toEqual(['text/css', 'text/css', 'image/png', 'application/octet-stream']);
  });
});
