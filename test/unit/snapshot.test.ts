import { describe, expect, it } from 'vitest';
import { snapshotOptions } from '../../src/options/snapshot.js';
import { validateOptions } from '../../src/options/validate.js';
import { usageErrorOf } from '../helpers.js';

const base = { source: '/tmp/x', destination: 's3://bucket/p' };

describe('snapshotOptions', () => {
  it('copies inherited enumerable keys into a plain object, as own ones', () => {
    const opts = Object.assign(Object.create({ delete: 'false' }) as object, base);
    const copy = snapshotOptions(opts) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, 'delete')).toBe(true);
    expect(copy).toEqual({ delete: 'false', ...base });
  });

  it("reads a class's getters and methods, not its constructor", () => {
    class Options {
      source = base.source;
      get dryrun() {
        return true;
      }
      onEvent() {}
    }
    const copy = snapshotOptions(new Options()) as unknown as Record<string, unknown>;
    expect(Object.keys(copy).sort()).toEqual(['dryrun', 'onEvent', 'source']);
    expect(copy.dryrun).toBe(true);
  });

  it('reads each getter exactly once, own or inherited, enumerable or not', () => {
    const reads: string[] = [];
    const proto = Object.defineProperty({}, 'dryRun', {
      enumerable: false,
      get: () => {
        reads.push('dryRun');
        return reads.length === 1;
      },
    });
    const opts = Object.defineProperty(Object.create(proto), 'destination', {
      enumerable: true,
      get: () => {
        reads.push('destination');
        return `s3://bucket/${reads.length}`;
      },
    });
    const copy = snapshotOptions(opts) as Record<string, unknown>;
    expect([...reads].sort()).toEqual(['destination', 'dryRun']);
    // Values now, not getters: reading the copy again reads nothing of the caller's.
    for (const key of ['destination', 'dryRun'])
      expect(Object.getOwnPropertyDescriptor(copy, key)).toMatchObject({
        value: copy[key],
        enumerable: true,
      });
    void copy.destination;
    void copy.dryRun;
    expect(reads).toHaveLength(2);
  });

  it('keeps objects as the caller gave them (a signal, a client, credentials, callbacks)', () => {
    const signal = new AbortController().signal;
    const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
    const onEvent = () => {};
    const copy = snapshotOptions({ signal, credentials, onEvent });
    expect(copy.signal).toBe(signal);
    expect(copy.credentials).toBe(credentials);
    expect(copy.onEvent).toBe(onEvent);
  });

  it("keeps s3sync's own symbol marks (where options were set), also through a later spread", () => {
    const mark = Symbol('origins');
    const origins = { region: '"region" in the config file\'s defaults' };
    const copy = snapshotOptions({ region: 'us-east-1', [mark]: origins });
    expect((copy as Record<symbol, unknown>)[mark]).toBe(origins);
    expect(({ ...copy } as Record<symbol, unknown>)[mark]).toBe(origins);
  });

  it('keeps a key named __proto__ a key, for the check to refuse', () => {
    const copy = snapshotOptions(JSON.parse('{"__proto__":{"delete":true}}') as object);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(usageErrorOf(() => validateOptions(copy, 'push')).message).toMatch(/^unknown option "__proto__"/);
  });

  it.each([undefined, null, 'opts', [1]])('hands %s back as it is, for the call to refuse', (v) => {
    expect(snapshotOptions(v)).toBe(v);
  });

  it('makes an inherited bad value a refusal, as an own one is', () => {
    const opts = snapshotOptions(Object.assign(Object.create({ delete: 'false' }) as object, base));
    expect(usageErrorOf(() => validateOptions(opts, 'push')).message).toMatch(/^option delete must be /);
  });
});
