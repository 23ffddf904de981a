/**
 * A process with few file descriptors (a low hard RLIMIT_NOFILE, as a container or a systemd unit's
 * LimitNOFILE= sets: Node raises only the soft limit to the hard one): the run sizes its workers and its
 * group commit's open temp files to the limit, so every file of a push and a pull of many small files
 * moves, and the lock is released.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MIN_OPEN_FILES } from '../../src/local/open-files.js';
import { cliPath, newBucket, runCli, servers, trackedDirs, treeHashes, writeSmallFiles } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/**
 * A process that holds the lock, opens files until none is left (EMFILE), releases the lock and closes
 * them: prints whether the lock was left behind.
 */
const RELEASE_WITHOUT_FDS = `
import { closeSync, existsSync, openSync } from 'node:fs';
const { acquireLock } = await import(process.argv[1]);
const file = process.argv[2];
const release = await acquireLock(file);
const fds = [];
try {
  for (;;) fds.push(openSync('/dev/null', 'r'));
} catch (err) {
  if (err.code !== 'EMFILE') throw err;
}
release();
for (const fd of fds) closeSync(fd);
console.log(JSON.stringify({ exhausted: fds.length > 0, left: existsSync(file) }));
`;

describe('the lock, released with no descriptor free', () => {
  it('is removed: telling it is ours needs none', () => {
    const file = path.join(dir('nofile-lock'), 'manifest.json.lock');
    const lockModule = path.join(path.dirname(path.dirname(cliPath)), 'manifest', 'lock.js');
    const out = execFileSync(
      'prlimit',
      [
        '--nofile=64:64',
        '--',
        process.execPath,
        '--input-type=module',
        '-e',
        RELEASE_WITHOUT_FDS,
        lockModule,
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({ exhausted: true, left: false });
  });
});

/** Runs the CLI with soft and hard limits of `n` open files. */
const nofile = (n: number) => ['prlimit', `--nofile=${n}:${n}`, '--'];

describe.each(servers())('few open files on $name', (server) => {
  it('pushes and pulls 300 small files under a hard limit of 64 open files', async () => {
    const { bucket } = await newBucket(server, 'nofile');
    const src = dir('nofile-src');
    writeSmallFiles(src, 300);
    const url = `s3://${bucket}/p`;
    const up = await runCli(['push', src, url], server, { wrap: nofile(64) });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/300 uploaded/);
    expect(up.stderr).not.toMatch(/EMFILE/);
    const dst = path.join(dir('nofile-dst'), 'd');
    const down = await runCli(['pull', url, dst], server, { wrap: nofile(64) });
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/300 downloaded/);
    expect(down.stderr).not.toMatch(/EMFILE/);
    expect(treeHashes(dst)).toEqual(treeHashes(src));
    // Released: no lock beside either manifest.
    for (const root of [src, dst])
      expect(readdirSync(path.join(root, '.s3sync')).filter((f) => f.endsWith('.lock'))).toEqual([]);
    expect(existsSync(path.join(dst, '.s3sync'))).toBe(true);
  });

  it('lowers a --workers the limit cannot serve, with a notice, and moves every file', async () => {
    const { bucket } = await newBucket(server, 'nofile-w');
    const src = dir('nofile-w');
    writeSmallFiles(src, 300);
    const r = await runCli(['push', src, `s3://${bucket}/w`, '--workers', '256'], server, {
      wrap: nofile(64),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/300 uploaded/);
    expect(r.stderr).toMatch(
      /--workers 256 lowered to \d+: the open-file limit is 64 \(raise ulimit -n for more\)/,
    );
    expect(r.stderr).not.toMatch(/EMFILE/);
  });

  it('a limit too low to run on is one line, exit 2', async () => {
    const src = dir('nofile-low');
    writeSmallFiles(src, 3);
    const r = await runCli(['push', src, 's3://nofile-low/p'], server, { wrap: nofile(24) });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(
      `s3sync: too few open files allowed (ulimit -n is 24): raise ulimit -n to ${MIN_OPEN_FILES} or more`,
    );
  });
});
