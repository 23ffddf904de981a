/**
 * The open-file limit as /proc/self/limits gives it, how a run shares it out, and the bounded wait of
 * a file whose open found no descriptor free.
 */
import { describe, expect, it } from 'vitest';
import {
  FDS_PER_WORKER,
  FdShortageError,
  fdBudget,
  isFdShortage,
  openFileLimit,
  whileFdsShort,
} from '../../src/local/open-files.js';

const limits = (soft: string, hard: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             63432                63432                processes ',
    `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     `,
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

describe('openFileLimit', () => {
  it.each([
    ['the soft limit (Node raised it to the hard one)', limits('64', '64'), 64],
    ['the soft limit, not the hard one', limits('1024', '524288'), 1024],
    ['unlimited: nothing to keep under', limits('unlimited', 'unlimited'), undefined],
    ['no such line', 'Limit  Soft Limit  Hard Limit  Units\n', undefined],
  ])('%s', (_why, text, want) => expect(openFileLimit(() => text)).toBe(want));

  it('no /proc (not Linux): no limit', () => {
    expect(
      openFileLimit(() => {
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      }),
    ).toBeUndefined();
  });
});

describe('fdBudget', () => {
  it.each([
    ['no limit known: nothing capped', undefined, undefined],
    ['64: a few workers, the batch the rest of half', 64, { limit: 64, workers: 5, batch: 17 }],
    ['1024: more than the workers ever grow to', 1024, { limit: 1024, workers: 85, batch: 257 }],
    ['tiny: one worker, one temp file', 8, { limit: 8, workers: 1, batch: 1 }],
  ])('%s', (_why, limit, want) => expect(fdBudget(limit)).toEqual(want));

  it.each([64, 100, 256, 1000, 4096])('%i: workers and batch use at most half', (limit) => {
    const b = fdBudget(limit)!;
    expect(b.workers * FDS_PER_WORKER + b.batch).toBeLessThanOrEqual(limit / 2);
  });
});

describe('whileFdsShort', () => {
  const emfile = () => Object.assign(new Error('EMFILE: too many open files, open /x'), { code: 'EMFILE' });

  it('a shortage that ends: the call is made again and succeeds', async () => {
    let calls = 0;
    const v = await whileFdsShort(
      async () => {
        if (++calls < 3) throw emfile();
        return 'ok';
      },
      { delaysMs: [0, 0, 0] },
    );
    expect(v).toBe('ok');
    expect(calls).toBe(3);
  });

  it('a shortage that lasts: one line naming the limit, after a bounded number of calls', async () => {
    let calls = 0;
    const p = whileFdsShort(
      async () => {
        calls++;
        throw emfile();
      },
      { limit: 64, delaysMs: [0, 0] },
    );
    await expect(p).rejects.toThrow(
      /^too many open files \(EMFILE\): raise ulimit -n \(now 64\) or lower --workers$/,
    );
    expect(calls).toBe(3);
  });

  it('any other error: thrown at once', async () => {
    let calls = 0;
    const p = whileFdsShort(
      async () => {
        calls++;
        throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      },
      { delaysMs: [0, 0] },
    );
    await expect(p).rejects.toThrow('EACCES');
    expect(calls).toBe(1);
  });

  it.each([
    ['EMFILE', Object.assign(new Error('x'), { code: 'EMFILE' }), true],
    ['ENFILE', Object.assign(new Error('x'), { code: 'ENFILE' }), true],
    ["a socket's, as text", new Error('connect EMFILE 127.0.0.1:9000 - Local (undefined:undefined)'), true],
    ['wrapped', new Error('failed', { cause: Object.assign(new Error('x'), { code: 'EMFILE' }) }), true],
    ['already retried', new FdShortageError('too many open files'), false],
    ['ENOSPC', Object.assign(new Error('x'), { code: 'ENOSPC' }), false],
  ])('isFdShortage: %s', (_why, err, want) => expect(isFdShortage(err)).toBe(want));
});
