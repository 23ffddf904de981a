import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../src/watch/collect.js';

describe('collectGarbage', () => {
  it('frees what nothing holds any more: the heap in use drops by most of it', () => {
    // ~80 MB of small objects, then dropped, as a walk's scan is once it has ended.
    let garbage: { rel: string; n: number }[][] | undefined = Array.from({ length: 400 }, (_, i) =>
      Array.from({ length: 5_000 }, (_, j) => ({ rel: `d${i}/f${j}.bin`, n: i * j })),
    );
    expect(garbage.length).toBe(400);
    const held = process.memoryUsage().heapUsed;
    garbage = undefined;
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    expect(held - after).toBeGreaterThan(40e6);
  });

  it('leaves gc unexposed to the program', () => {
    collectGarbage();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
