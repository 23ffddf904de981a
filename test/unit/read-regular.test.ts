import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReadRefusal, readRegularFile } from '../../src/local/read-regular.js';
import { trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** The refusal reading `file` throws. */
function refusalOf(file: string, max = 1024): ReadRefusal {
  try {
    readRegularFile(file, max, 'a test file');
  } catch (err) {
    expect(err).toBeInstanceOf(ReadRefusal);
    return err as ReadRefusal;
  }
  throw new Error(`${file} was read`);
}

describe('readRegularFile: a user-named file, only if regular and not too large', () => {
  it('reads a regular file whole, up to its cap exactly', () => {
    const f = path.join(dir('rr'), 'ok.txt');
    writeFileSync(f, 'x'.repeat(1024));
    expect(readRegularFile(f, 1024, 'a test file').toString()).toBe('x'.repeat(1024));
    writeFileSync(f, '');
    expect(readRegularFile(f, 1024, 'a test file')).toHaveLength(0);
  });

  it('refuses a FIFO nobody writes to, at once (it is never opened blocking)', () => {
    const fifo = path.join(dir('rr'), 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(refusalOf(fifo).why).toBe('not a regular file (FIFO)');
  });

  it('refuses /dev/zero (endless), a folder, and says the code of a missing file', () => {
    expect(refusalOf('/dev/zero').why).toBe('not a regular file (character device)');
    expect(refusalOf(dir('rr')).why).toBe('it is a directory');
    const missing = refusalOf(path.join(dir('rr'), 'none'));
    expect([missing.code, missing.why]).toEqual(['ENOENT', 'ENOENT']);
  });

  it('refuses a file over its cap by its size, naming both', () => {
    const f = path.join(dir('rr'), 'big.txt');
    writeFileSync(f, 'x'.repeat(2048));
    expect(refusalOf(f).why).toBe('2KiB is too large for a test file (over 1KiB)');
  });
});
