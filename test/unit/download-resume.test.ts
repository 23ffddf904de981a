import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RangeLog, resumeName } from '../../src/sync/download-resume.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const d = mkdtempSync(path.join(tmpdir(), 's3sync-resume-'));
  dirs.push(d);
  return d;
};

describe('resumeName', () => {
  const o = { key: 'p/big.bin', etag: '"abc-3"', size: 100 };
  it('stands for one object version fetched in one range size', () => {
    const name = resumeName(o, 10);
    expect(name).toMatch(/^resume-[0-9a-f]{32}$/);
    expect(resumeName({ ...o }, 10)).toBe(name);
    for (const other of [
      resumeName({ ...o, key: 'p/other.bin' }, 10),
      resumeName({ ...o, etag: '"abd-3"' }, 10),
      resumeName({ ...o, size: 101 }, 10),
      resumeName({ ...o, versionId: 'v1' }, 10),
      resumeName(o, 20),
    ])
      expect(other).not.toBe(name);
  });
});

describe('RangeLog', () => {
  it('reads back the ranges marked, and nothing from a fresh start', () => {
    const dir = fresh();
    const log = new RangeLog((n) => path.join(dir, n), 'resume-x', 5);
    log.load();
    expect([...log.done]).toEqual([]);
    log.mark(3);
    log.mark(0);
    const again = new RangeLog((n) => path.join(dir, n), 'resume-x', 5);
    again.load();
    expect([...again.done].sort()).toEqual([0, 3]);
    expect(again.dataName).toBe('resume-x.part');
  });

  it('takes no line cut short by a crash, nor an index out of range or not a number', () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'resume-x.ranges'), '1\n7\n-1\nx\n2.5\n\n4\n3');
    const log = new RangeLog((n) => path.join(dir, n), 'resume-x', 5);
    log.load();
    // "3" has no newline after it: a crash may have cut it short ("31" meant), so it is not taken.
    expect([...log.done].sort()).toEqual([1, 4]);
  });

  it('reset forgets every range, on disk too', () => {
    const dir = fresh();
    const log = new RangeLog((n) => path.join(dir, n), 'resume-x', 5);
    log.mark(1);
    log.reset();
    expect(log.done.size).toBe(0);
    expect(existsSync(path.join(dir, 'resume-x.ranges'))).toBe(false);
  });

  it('a link planted at the log is neither read nor written through', () => {
    const dir = fresh();
    const outside = path.join(fresh(), 'victim');
    writeFileSync(outside, '0\n1\n2\n');
    symlinkSync(outside, path.join(dir, 'resume-x.ranges'));
    const log = new RangeLog((n) => path.join(dir, n), 'resume-x', 5);
    log.load();
    expect(log.done.size).toBe(0);
    expect(() => log.mark(0)).toThrow();
    expect(readFileSync(outside, 'utf8')).toBe('0\n1\n2\n');
  });
});
