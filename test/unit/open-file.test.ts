import { spawnSync } from 'node:child_process';
import {
  closeSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFile, hashSmallFileSync } from '../../src/local/hash.js';
import {
  openScanned,
  openScannedSync,
  pathStat,
  type ReadSource,
  UnexpectedFileError,
} from '../../src/local/open-file.js';

const root = mkdtempSync(path.join(tmpdir(), 's3sync-open-'));
const at = (name: string) => path.join(root, name);
const servers: net.Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

/** The identity a scan would have recorded for the entry (through a link when `follow`). */
const identity = (abs: string, follow = false) => {
  const st = (follow ? statSync : lstatSync)(abs, { bigint: true });
  return { dev: st.dev.toString(), ino: st.ino.toString() };
};

/** Both opens, the synchronous one and the thread pool's, give the same answer. */
async function bothOpen(src: ReadSource) {
  const sync = (() => {
    try {
      const { fd, stat } = openScannedSync(src);
      closeSync(fd);
      return stat;
    } catch (err) {
      return err as Error;
    }
  })();
  const async = await openScanned(src).then(
    async ({ fh, stat }) => {
      await fh.close();
      return stat;
    },
    (err: Error) => err,
  );
  return { sync, async };
}

const refused = (says: RegExp) =>
  expect.objectContaining({ name: 'UnexpectedFileError', message: expect.stringMatching(says) });

describe('openScanned', () => {
  writeFileSync(at('file.txt'), 'content');
  writeFileSync(at('other.txt'), 'content');
  symlinkSync(at('file.txt'), at('link.txt'));

  it('opens the scanned regular file and returns its stat data', async () => {
    const { sync, async } = await bothOpen({ abs: at('file.txt'), expect: identity(at('file.txt')) });
    const st = lstatSync(at('file.txt'), { bigint: true });
    expect(sync).toMatchObject({ size: 7, ino: st.ino.toString(), dev: st.dev.toString() });
    expect(async).toEqual(sync);
    // A path alone (a file s3sync made itself): the same rules, no identity to check.
    expect((await bothOpen({ abs: at('file.txt') })).sync).toEqual(sync);
  });

  it('never follows a symbolic link the scan did not; follows one it did, to the same file', async () => {
    for (const expectId of [undefined, identity(at('link.txt'))]) {
      const { sync, async } = await bothOpen({ abs: at('link.txt'), expect: expectId });
      expect(sync).toEqual(refused(/^is no longer a regular file \(symbolic link\)$/));
      expect(async).toEqual(sync);
    }
    const followed = await bothOpen({
      abs: at('link.txt'),
      expect: identity(at('link.txt'), true),
      follow: true,
    });
    expect(followed.sync).toMatchObject({ size: 7, ino: identity(at('file.txt')).ino });
  });

  it('refuses another file at the path, followed link or not', async () => {
    // The scan saw other.txt's inode; file.txt (same size, same content) is another file.
    for (const [abs, follow] of [
      [at('file.txt'), false],
      [at('link.txt'), true],
    ] as const) {
      const { sync, async } = await bothOpen({ abs, expect: identity(at('other.txt')), follow });
      expect(sync).toEqual(refused(/^was replaced by another file \(another inode\)$/));
      expect(async).toEqual(sync);
    }
  });

  it('returns at once for a FIFO nobody writes to, and refuses it', async () => {
    expect(spawnSync('mkfifo', [at('pipe')]).status).toBe(0);
    // Only the thread pool's open here: a blocking synchronous open would hang this test, not fail it
    // (the integration tests run that one in a child process, with a watchdog).
    const opened = openScanned({ abs: at('pipe') }).then(
      () => 'opened',
      (err: Error) => err,
    );
    const timeout = new Promise((r) => setTimeout(() => r('blocked'), 5000));
    expect(await Promise.race([opened, timeout])).toEqual(refused(/\(FIFO\)$/));
  });

  it('refuses a socket, a directory and a device, by name', async () => {
    const srv = net.createServer();
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(at('sock'), r));
    const cases: Array<[string, RegExp]> = [
      [at('sock'), /\(socket\)$/],
      [root, /\(directory\)$/],
      ['/dev/null', /\(character device\)$/],
    ];
    for (const [abs, says] of cases) {
      const { sync, async } = await bothOpen({ abs });
      expect(sync, abs).toEqual(refused(says));
      expect(async, abs).toEqual(sync);
    }
  });

  it('leaves a missing file to the caller (ENOENT)', async () => {
    const { sync, async } = await bothOpen({ abs: at('missing') });
    expect(sync).toMatchObject({ code: 'ENOENT' });
    expect(async).toMatchObject({ code: 'ENOENT' });
  });
});

describe('pathStat, after the bytes were sent', () => {
  it('is the stat data while the path names the file, and an error marked sent once it does not', () => {
    writeFileSync(at('p.txt'), 'p');
    const src = { abs: at('p.txt'), expect: identity(at('p.txt')) };
    expect(pathStat(src)).toMatchObject({ size: 1, ino: src.expect.ino });
    writeFileSync(at('p2.txt'), 'p');
    renameSync(at('p2.txt'), at('p.txt'));
    let caught: unknown;
    try {
      pathStat(src);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnexpectedFileError);
    expect(caught).toMatchObject({ sent: true, message: 'was replaced by another file (another inode)' });
  });
});

describe('hashing reads under the same rules', () => {
  it('refuses another file and a link, as the opens do', async () => {
    writeFileSync(at('h.bin'), Buffer.alloc(3000, 1));
    const wrong = { abs: at('h.bin'), expect: identity(at('other.txt')) };
    expect(() => hashSmallFileSync(wrong)).toThrow(UnexpectedFileError);
    await expect(hashFile(wrong)).rejects.toThrow(/was replaced by another file/);
    expect(() => hashSmallFileSync({ abs: at('link.txt') })).toThrow(/symbolic link/);
    const right = { abs: at('h.bin'), expect: identity(at('h.bin')) };
    expect(hashSmallFileSync(right)).toEqual(await hashFile(right));
  });

  /** /proc files stat as 0 bytes and read as more; /sys files as 4,096 and read as less. */
  const liars = ['/proc/version', '/sys/devices/system/cpu/online'].filter((p) => {
    try {
      return statSync(p).isFile() && statSync(p).size !== readFileSync(p).length;
    } catch {
      return false;
    }
  });

  it.each(liars)('%s, whose size lies, is refused, not taken for a file that changed', async (p) => {
    const says = /^is not what it claims to be: its size is \d+ bytes but (more|\d+) could be read$/;
    const src = { abs: p, expect: identity(p) };
    expect(() => hashSmallFileSync(src)).toThrow(says);
    await expect(hashFile(src)).rejects.toThrow(says);
  });
});
