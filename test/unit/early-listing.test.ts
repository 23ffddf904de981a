import { describe, expect, it } from 'vitest';
import type { RemoteObject } from '../../src/plan/types.js';
import type { ListOptions } from '../../src/s3/listing.js';
import { EarlyListing } from '../../src/sync/facts.js';
import type { RunContext } from '../../src/sync/run-context.js';

const obj = (rel: string): RemoteObject => ({ rel, key: rel, size: 1, etag: '0', lastModified: 0 });
const page = (name: string, n: number) => Array.from({ length: n }, (_, i) => obj(`${name}/${i}`));

/**
 * A run whose listing is driven by the test: `deliver` hands a page to the listing's onPage, `finish`
 * ends it with every page delivered so far.
 */
function fakeRun() {
  let opts: ListOptions | undefined;
  let finish = () => {};
  const delivered: RemoteObject[] = [];
  const warmed: number[] = [];
  let listedWith: ReadonlyMap<string, RemoteObject> | undefined;
  const s = {
    opts: {},
    store: { files: new Map() },
    hashes: { warm: () => warmed.push(delivered.length) },
    list: (o: ListOptions) => {
      opts = o;
      o.onRequested?.();
      return new Promise<Map<string, RemoteObject>>((resolve) => {
        finish = () => resolve(new Map(delivered.map((r) => [r.rel, r])));
      });
    },
    listed: (_at: Date, objects: ReadonlyMap<string, RemoteObject>) => {
      listedWith = objects;
    },
  } as unknown as RunContext;
  return {
    s,
    warmed,
    deliver: (p: RemoteObject[]) => {
      delivered.push(...p);
      opts!.onPage!(p);
    },
    finish: () => finish(),
    listedWith: () => listedWith,
  };
}

describe('EarlyListing', () => {
  it('hands every page to follow() once, in order: those in before it, during its replay, and after', async () => {
    const run = fakeRun();
    const listing = await EarlyListing.start(run.s);
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((n) => page(n, 3));
    run.deliver(a!);
    run.deliver(b!);
    run.deliver(c!);
    const seen: string[] = [];
    const followed = listing.follow((p) => {
      seen.push(p[0]!.rel.split('/')[0]!);
      // A page that arrives while the buffered ones are handed over waits its turn behind them.
      if (p === a) run.deliver(d!);
    });
    // follow() hands over the buffered pages one per turn of the event loop: not all of them yet.
    expect(seen).toEqual(['a']);
    // Turns, not a time: a 20 ms timer fired before any of them when the loop had stalled (a loaded
    // machine), as timers come before immediates in a turn.
    for (let turn = 0; turn < 50 && seen.length < 4; turn++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    run.deliver(e!);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    run.finish();
    const objects = await followed;
    expect(objects.size).toBe(15);
    // The run is told of the whole listing, as the plan sees it.
    expect(run.listedWith()).toBe(objects);
  });

  it('without a page handler, follow() drops the buffered pages and gives the whole listing', async () => {
    const run = fakeRun();
    const listing = await EarlyListing.start(run.s);
    run.deliver(page('a', 2));
    const followed = listing.follow();
    run.deliver(page('b', 2));
    run.finish();
    expect([...(await followed).keys()]).toEqual(['a/0', 'a/1', 'b/0', 'b/1']);
  });

  it.each([
    ['warms the hashing once, at the first page of 256 objects or more', true, [10, 256, 300], [266]],
    ['does not warm it for pages of fewer than 256 objects', true, [255, 1, 100], []],
    ['does not warm it unless asked (a pull, a check)', false, [1000], []],
  ])('%s', async (_what, warmHashing, sizes, warmedAfter) => {
    const run = fakeRun();
    const listing = await EarlyListing.start(run.s, { warmHashing });
    for (const [i, n] of sizes.entries()) run.deliver(page(`p${i}`, n));
    // warm() saw the objects delivered up to and including the page that started it.
    expect(run.warmed).toEqual(warmedAfter);
    run.finish();
    await listing.follow();
  });
});
