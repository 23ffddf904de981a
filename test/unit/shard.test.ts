/** Shards (src/shard.ts): the hash of a rel path to its shard, `I/N`, and the index from the environment. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import { validateOptions } from '../../src/options/validate.js';
import { formatShard, isShard, MAX_SHARDS, parseShard, resolveShard, shardOf } from '../../src/shard.js';

/** The documented definition, written independently: the first 16 hex digits of the SHA-256, mod N. */
const byDefinition = (rel: string, n: number) =>
  Number(
    BigInt(`0x${createHash('sha256').update(Buffer.from(rel, 'utf8')).digest('hex').slice(0, 16)}`) %
      BigInt(n),
  );

const usage = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
};

describe('shardOf', () => {
  // Pinned: a shard's files must stay the same across versions, or a rerun would see another shard's
  // manifest entries as its own files gone and re-upload what another shard uploaded.
  const PINNED: [string, number[]][] = [
    // rel, its shard of 2, 3, 4, 7, 1000, 100000
    ['a.txt', [1, 2, 1, 2, 629, 52629]],
    ['logs/x.txt', [0, 0, 2, 1, 110, 59110]],
    ['d0/f00000.bin', [1, 2, 1, 0, 285, 41285]],
    ['été/ß.txt', [0, 2, 0, 3, 960, 74960]],
    ['💾/disk.img', [0, 0, 2, 6, 830, 62830]],
    ['a b/c\td', [1, 0, 3, 6, 243, 53243]],
  ];
  const COUNTS = [2, 3, 4, 7, 1000, 100000];

  it('is the first 8 bytes of the SHA-256 of the UTF-8 path, big-endian, modulo N (pinned table)', () => {
    for (const [rel, shards] of PINNED) {
      expect(
        COUNTS.map((n) => shardOf(rel, n)),
        rel,
      ).toEqual(shards);
      for (const n of COUNTS) expect(shardOf(rel, n), `${rel} of ${n}`).toBe(byDefinition(rel, n));
    }
  });

  it('puts everything in shard 0 of 1, and is always within 0..N-1', () => {
    for (const [rel] of PINNED) expect(shardOf(rel, 1)).toBe(0);
    for (let i = 0; i < 2000; i++) {
      const s = shardOf(`x/${i}`, 7);
      expect(Number.isInteger(s) && s >= 0 && s < 7).toBe(true);
    }
  });

  it('depends on every byte: normalisation forms, case and separators are different paths', () => {
    // The same string as a local path and as a key: s3sync never normalises either.
    const nfc = 'caf\u00e9.txt';
    const nfd = 'cafe\u0301.txt';
    expect(byDefinition(nfc, 100000)).not.toBe(byDefinition(nfd, 100000));
    expect(shardOf(nfc, 100000)).toBe(byDefinition(nfc, 100000));
    expect(shardOf(nfd, 100000)).toBe(byDefinition(nfd, 100000));
    expect(shardOf('A.txt', 100000)).not.toBe(shardOf('a.txt', 100000));
  });

  it('splits sequential names and one directory evenly (distribution sanity, not a proof)', () => {
    for (const [n, names] of [
      [3, (i: number) => `d${i % 17}/f${String(i).padStart(5, '0')}.bin`],
      [8, (i: number) => `img-${String(i).padStart(6, '0')}.jpg`],
      [16, (i: number) => `same/dir/${i}`],
    ] as const) {
      const total = 12_000;
      const counts = new Array<number>(n).fill(0);
      for (let i = 0; i < total; i++) counts[shardOf(names(i), n)]!++;
      const expected = total / n;
      // Binomial spread is about sqrt(expected); 15% is four times that at these sizes.
      for (const c of counts) expect(Math.abs(c - expected) / expected).toBeLessThan(0.15);
    }
  });
});

describe('parseShard', () => {
  it('reads I/N with I counted from 0', () => {
    for (const [text, index, count] of [
      ['0/1', 0, 1],
      ['0/4', 0, 4],
      ['3/4', 3, 4],
      [' 2/3 ', 2, 3],
      [`99999/${MAX_SHARDS}`, 99999, MAX_SHARDS],
    ] as const) {
      const s = parseShard(text);
      expect(s, text).toEqual({ index, count });
      expect(isShard(s) && formatShard(s)).toBe(text.trim());
    }
  });

  it('refuses anything else, and says that shards count from 0 for I = N', () => {
    expect(parseShard('4/4')).toEqual({ hint: 'shards count from 0: the last of 4 is 3/4' });
    expect(parseShard('1/1')).toEqual({ hint: 'shards count from 0: the last of 1 is 0/1' });
    for (const text of [
      '',
      '1',
      '/4',
      '1/',
      '0/0',
      '5/4',
      '-1/4',
      '1/-4',
      '1.5/4',
      '1/4.0',
      '1 / 4',
      '0x1/4',
      '1/4/8',
      `0/${MAX_SHARDS + 1}`,
      '1e2/1000',
      'a/b',
      '１/４',
    ])
      expect(isShard(parseShard(text)), text).toBe(false);
  });
});

describe('resolveShard', () => {
  it('no option: the whole tree, whatever the environment says', () => {
    expect(resolveShard({}, { JOB_COMPLETION_INDEX: '2' })).toBeUndefined();
  });

  it('--shard I/N names the shard; the environment is not read', () => {
    expect(resolveShard({ shard: '1/3' }, { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 1, count: 3 });
  });

  it('--shards N takes I from the Kubernetes or AWS Batch index', () => {
    expect(resolveShard({ shards: 3 }, { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 3 });
    expect(resolveShard({ shards: 3 }, { AWS_BATCH_JOB_ARRAY_INDEX: '0' })).toEqual({ index: 0, count: 3 });
    // Both set to the same index: one job seen by both (a wrapper that sets the other).
    expect(
      resolveShard({ shards: 3 }, { JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '1' }),
    ).toEqual({ index: 1, count: 3 });
    expect(resolveShard({ shards: 1 }, { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 0, count: 1 });
  });

  it('every inconsistency is one usage line', () => {
    const table: [object, Record<string, string>, RegExp][] = [
      [{ shard: '0/2', shards: 2 }, {}, /^give shard \(--shard\) I\/N or shards \(--shards\) N, not both$/],
      [
        { shards: 4 },
        {},
        /^shards \(--shards\) 4 reads the shard's index from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX, and neither is set/,
      ],
      [
        { shards: 4 },
        { JOB_COMPLETION_INDEX: '4' },
        /^shards \(--shards\) 4: JOB_COMPLETION_INDEX must be a whole number from 0 to 3, got "4"$/,
      ],
      [
        { shards: 4 },
        { JOB_COMPLETION_INDEX: '' },
        /JOB_COMPLETION_INDEX must be a whole number from 0 to 3, got ""$/,
      ],
      [
        { shards: 4 },
        { AWS_BATCH_JOB_ARRAY_INDEX: '-1' },
        /AWS_BATCH_JOB_ARRAY_INDEX must be a whole number/,
      ],
      [
        { shards: 4 },
        { AWS_BATCH_JOB_ARRAY_INDEX: '1.0' },
        /AWS_BATCH_JOB_ARRAY_INDEX must be a whole number/,
      ],
      [{ shards: 4 }, { JOB_COMPLETION_INDEX: 'one' }, /got "one"$/],
      [{ shards: 4 }, { JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '2' }, /disagree$/],
      [
        { shards: 0 },
        { JOB_COMPLETION_INDEX: '0' },
        /^shards \(--shards\) must be a whole number from 1 to 100000, got 0$/,
      ],
      [{ shards: '3' }, { JOB_COMPLETION_INDEX: '0' }, /^shards \(--shards\) must be a whole number/],
      [
        { shard: '3/3' },
        {},
        /^shard \(--shard\) must be I\/N .*got "3\/3": shards count from 0: the last of 3 is 2\/3$/,
      ],
      [{ shard: '1' }, {}, /^shard \(--shard\) must be I\/N/],
      [{ shard: 1 }, {}, /^shard \(--shard\) must be I\/N/],
    ];
    for (const [opts, env, message] of table)
      expect(
        usage(() => resolveShard(opts, env)),
        JSON.stringify([opts, env]),
      ).toMatch(message);
  });

  it('validateOptions checks them before a run starts, for every command that takes them', () => {
    for (const entry of ['push', 'pull', 'check', 'plan push', 'plan pull'] as const) {
      validateOptions({ shard: '0/2' }, entry);
      expect(usage(() => validateOptions({ shard: '2/2' }, entry))).toMatch(/^option shard must be I\/N/);
      expect(usage(() => validateOptions({ shard: '0/2', shards: 2 }, entry))).toMatch(/not both$/);
    }
    expect(usage(() => validateOptions({ shard: '0/2' }, 'cleanup'))).toMatch(/does not apply to cleanup/);
    expect(usage(() => validateOptions({ shards: 2 }, 'apply'))).toMatch(/does not apply to apply/);
  });
});
