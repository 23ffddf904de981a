import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupLocalFile } from '../../src/sync/backup-local.js';

let top: string;
afterEach(() => rmSync(top, { recursive: true, force: true }));

describe('backupLocalFile', () => {
  it.each(['/../../victim', '/../victim', '/..', '/../..'])(
    'a suffix %j that leads out of the backup directory (as a hand-made LocalBackup could): throws, writes nothing',
    (suffix) => {
      top = mkdtempSync(path.join(tmpdir(), 's3sync-bakunit-'));
      const dir = path.join(top, 'one', 'bak');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(top, 'one', 'victim'), 'keep\n');
      const file = path.join(top, 'a.txt');
      writeFileSync(file, 'content\n');
      expect(() => backupLocalFile({ dir, suffix }, 'a.txt', file)).toThrow(/would lead out of the backup/);
      expect(readFileSync(path.join(top, 'one', 'victim'), 'utf8')).toBe('keep\n');
      expect(existsSync(path.join(top, 'victim'))).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe('content\n');
    },
  );

  it('keeps a file at DIR/<rel><suffix>, the nested folders made', () => {
    top = mkdtempSync(path.join(tmpdir(), 's3sync-bakunit-'));
    const dir = path.join(top, 'bak');
    const file = path.join(top, 'b.txt');
    writeFileSync(file, 'content\n');
    const undo = backupLocalFile({ dir, suffix: '..~' }, 'sub/b.txt', file);
    expect(readFileSync(path.join(dir, 'sub', 'b.txt..~'), 'utf8')).toBe('content\n');
    undo?.();
    expect(existsSync(path.join(dir, 'sub', 'b.txt..~'))).toBe(false);
  });
});
