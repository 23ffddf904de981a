/**
 * Parallel listing (src/s3/parallel-listing.ts) against real servers: a prefix listed as key ranges
 * at once gives exactly the Map one stream gives, with awkward names around the split points; a store
 * that lists out of byte order (played by a proxy that reorders each page) is listed as one stream.
 *
 * Request counts: pages of 100 keys (`maxKeys`), so the ~2,600 keys here make 27 one-stream pages. Each
 * range reads at most one page past its end point and may start with a partial page, so a parallel
 * listing asks for at most the one-stream pages plus two per range, and at least one per range. Split
 * at the stored keys themselves, each range holds whole pages and stops on its end point: exactly the
 * one-stream pages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachLimit } from '../../src/limiter.js';
import { chooseSplitPoints } from '../../src/s3/list-ranges.js';
import { type ListingProbe, type ListOptions, listObjects } from '../../src/s3/listing.js';
import type { RemoteObject } from '../../src/s3/remote-object.js';
import { S3Transport } from '../../src/s3/transport.js';
import { connFor, newBucket, seedObject, servers } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const PREFIX = 'pl/';
const PAGE = 100;
const MAX_RANGES = 8;

/**
 * Keys sharing long prefixes, and 2-, 3- and 4-byte UTF-8. Left out: U+E000..U+FFFF beside 4-byte
 * characters, and `a` beside `a/`: s3rver pages those in its own order (JS string order, its file
 * tree's), and loses keys across its own page boundaries even listed as one stream. The byte order of
 * those pairs is specified in test/unit/list-ranges.test.ts.
 */
function awkwardRels(): string[] {
  const rels: string[] = [];
  const long = `deep/${'x'.repeat(180)}/`;
  for (let i = 0; i < 1200; i++) rels.push(`${long}${String(i).padStart(5, '0')}`);
  for (let i = 0; i < 600; i++) rels.push(`n/${i}`);
  for (let i = 0; i < 200; i++) rels.push(`é/日本/${i}`, `ü${i}`, `😀/${i}`);
  for (const c of ['𝄞', 'a', 'a0', 'A', 'z', '~']) rels.push(c);
  return rels;
}

const pagesOf = (probe: ListingProbe) => (probe.pages?.fast ?? 0) + (probe.pages?.sdk ?? 0);

async function listWith(t: S3Transport, opts: ListOptions) {
  const probe: ListingProbe = { maxKeys: PAGE, pages: { fast: 0, sdk: 0 } };
  const seen: string[] = [];
  const fallbacks: string[] = [];
  const map = await listObjects(
    t,
    PREFIX,
    { ...opts, onPage: (page) => seen.push(...page.map((o) => o.rel)), onFallback: (r) => fallbacks.push(r) },
    probe,
  );
  return { map, pages: pagesOf(probe), seen, fallbacks };
}

const entries = (m: Map<string, RemoteObject>) => [...m.entries()];

describe.each(servers())('parallel listing on $name', (server) => {
  let t: S3Transport;
  let bucket: string;
  const rels = awkwardRels();

  beforeAll(async () => {
    ({ transport: t, bucket } = await newBucket(server, 'pl'));
    await forEachLimit(rels, 16, (rel) => seedObject(t, PREFIX + rel, rel).then(() => {}));
    // Outside the prefix on both sides: a range must not run past the prefix's end.
    await seedObject(t, 'pk', 'before');
    await seedObject(t, 'pm', 'after');
  }, 300_000);

  it('one stream sees every key once', async () => {
    const one = await listWith(t, { maxRanges: 1 });
    expect(one.map.size).toBe(rels.length);
    expect(new Set(one.seen).size).toBe(rels.length);
    expect(one.pages).toBe(Math.ceil(rels.length / PAGE));
  });

  // `whole`: the known keys are the stored ones, so each range holds whole pages and stops on its end
  // point: the ranges make exactly the one stream's requests.
  const variations: {
    why: string;
    known: () => readonly string[] | Promise<readonly string[]>;
    whole?: boolean;
  }[] = [
    { why: 'split at existing keys (a key equal to each split point)', known: () => rels, whole: true },
    {
      why: 'split between keys (known keys that are not in the store)',
      known: () => rels.map((r) => `${r}!`),
    },
    { why: 'split keys known only later (after the first pages)', known: () => later(rels), whole: true },
    { why: 'split keys in JS order, a subset', known: () => [...rels].sort().filter((_, i) => i % 3 === 0) },
    { why: 'split keys past every stored key', known: () => rels.map((r) => `~${r}`) },
  ];

  it.each(variations)('ranges join into the one-stream Map: $why', async ({ known, whole }) => {
    const one = await listWith(t, { maxRanges: 1 });
    const par = await listWith(t, { maxRanges: MAX_RANGES, splitFrom: known() });
    expect(par.fallbacks).toEqual([]);
    expect(entries(par.map)).toEqual(entries(one.map));
    // onPage saw every object once.
    expect(par.seen.length).toBe(rels.length);
    expect(new Set(par.seen)).toEqual(new Set(one.map.keys()));
    const ranges = 1 + chooseSplitPoints(await known(), MAX_RANGES, PAGE).length;
    expect(par.pages).toBeGreaterThanOrEqual(Math.min(ranges, one.pages));
    expect(par.pages).toBeLessThanOrEqual(one.pages + 2 * ranges);
    if (whole) expect(par.pages).toBe(one.pages);
  });

  it('splits only where the known keys are many: a few known keys list as one stream', async () => {
    const one = await listWith(t, { maxRanges: 1 });
    const par = await listWith(t, { maxRanges: MAX_RANGES, splitFrom: rels.slice(0, 2 * PAGE) });
    expect(entries(par.map)).toEqual(entries(one.map));
    expect(par.pages).toBe(one.pages);
  });

  describe('a store that lists out of byte order', () => {
    let proxy: FaultProxy;
    let viaProxy: S3Transport;
    const reorders: { name: string; rewrite: (xml: string) => string }[] = [
      // Each page's first two entries swapped: a collation that is not byte order.
      { name: 'first two of each page swapped', rewrite: (xml) => swapFirstTwo(xml) },
      // Each page reversed: a store whose order is its own (encrypted keys).
      { name: 'each page reversed', rewrite: (xml) => reversed(xml) },
    ];
    let rewrite: (xml: string) => string = (x) => x;

    beforeAll(async () => {
      proxy = await startFaultProxy({
        target: server.endpoint,
        seed: 1,
        rate: 0,
        rewrite: (req, status) =>
          req.method === 'GET' && req.url.includes('list-type=2') && status === 200
            ? { body: (body) => Buffer.from(rewrite(body.toString())) }
            : undefined,
      });
      viaProxy = await S3Transport.connect({ ...connFor(server), endpointUrl: proxy.endpoint }, bucket);
    });
    afterAll(async () => {
      await proxy?.close();
    });

    it.each(reorders)(
      'is detected ($name) and listed again as one stream, each object seen once',
      async (r) => {
        rewrite = r.rewrite;
        try {
          const one = await listWith(t, { maxRanges: 1 });
          const par = await listWith(viaProxy, { maxRanges: MAX_RANGES, splitFrom: rels });
          expect(par.fallbacks).toHaveLength(1);
          expect(par.fallbacks[0]).toMatch(/not in byte order|not after StartAfter/);
          expect(new Set(par.map.keys())).toEqual(new Set(one.map.keys()));
          expect(par.seen.length).toBe(rels.length);
          expect(new Set(par.seen).size).toBe(rels.length);
        } finally {
          rewrite = (x) => x;
        }
      },
    );
  });
});

/** The known keys, after the listing's first pages are in. */
function later<T>(v: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(v), 50));
}

function swapFirstTwo(xml: string): string {
  const a = xml.indexOf('<Contents>');
  const b = xml.indexOf('<Contents>', a + 1);
  const c = xml.indexOf('<Contents>', b + 1);
  if (a < 0 || b < 0 || c < 0) return xml;
  return xml.slice(0, a) + xml.slice(b, c) + xml.slice(a, b) + xml.slice(c);
}

function reversed(xml: string): string {
  const first = xml.indexOf('<Contents>');
  const last = xml.lastIndexOf('</Contents>');
  if (first < 0) return xml;
  const end = last + '</Contents>'.length;
  const items = xml
    .slice(first, end)
    .split('</Contents>')
    .filter((x) => x.length > 0);
  return (
    xml.slice(0, first) +
    items
      .reverse()
      .map((x) => `${x}</Contents>`)
      .join('') +
    xml.slice(end)
  );
}
