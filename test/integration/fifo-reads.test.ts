/**
 * Every file a run reads or writes by a name the user gives (a --files-from list, an --exclude-from
 * file, a plan to apply, the plan --out writes, a CA bundle) refuses a FIFO with no writer (or reader)
 * in one line, exit 2, and the process ends by itself: opened blocking, it waited for ever, and neither
 * Ctrl-C nor SIGTERM stopped it. Lists, rule files and bundles are also capped in size, /dev/zero and
 * an endless standard input included.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cliEnv,
  cliPath,
  newBucket,
  refusedWithOneLine,
  runCli,
  servers,
  spawnCli,
  trackedDirs,
} from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** Long enough for a loaded machine to start the CLI; a run stuck in open(2) never ends by itself. */
const ENDS_WITHIN_MS = 20_000;

/** Nothing from the test process's environment decides trust: each case sets its own. */
const CLEAN = {
  AWS_CA_BUNDLE: undefined,
  AWS_CONFIG_FILE: undefined,
  AWS_SHARED_CREDENTIALS_FILE: undefined,
  AWS_PROFILE: undefined,
  S3SYNC_CONFIG: undefined,
};

/** A folder with one file, and a FIFO beside it that nobody ever opens. */
function fixture(label: string): { root: string; d: string; fifo: string } {
  const root = dir(label);
  const d = path.join(root, 'd');
  mkdirSync(d);
  writeFileSync(path.join(d, 'a'), '1\n');
  const fifo = path.join(root, 'fifo');
  execFileSync('mkfifo', [fifo]);
  return { root, d, fifo };
}

/** A regular file of `size` bytes that takes no disk (a hole): what a size cap must refuse unread. */
function sparse(file: string, size: number): string {
  const fd = openSync(file, 'w');
  closeSync(fd);
  execFileSync('truncate', ['-s', String(size), file]);
  return file;
}

/** The CLI run to its end, or killed (and reported as hung) once ENDS_WITHIN_MS passed. */
async function ended(
  args: string[],
  server: TestServer,
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; stderr: string; hung: boolean }> {
  const run = spawnCli(args, server, { env: { ...CLEAN, ...env } });
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    run.child.kill('SIGKILL');
  }, ENDS_WITHIN_MS);
  const { code } = await run.exited;
  clearTimeout(timer);
  return { code: code ?? -1, stderr: run.stderr(), hung };
}

function refusedAtOnce(r: { code: number; stderr: string; hung: boolean }, why: RegExp): void {
  expect(r.hung, 'the run did not end by itself').toBe(false);
  refusedWithOneLine(r, why);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(servers())('a FIFO or an endless file where s3sync reads or writes one, on $name', (server) => {
  for (const flag of ['--files-from', '--files-from0', '--exclude-from']) {
    it(`push ${flag} FIFO: refused in one line, exit 2, at once`, async () => {
      const { bucket } = await newBucket(server);
      const { d, fifo } = fixture(`fifo${flag}`);
      const r = await ended(['push', d, `s3://${bucket}/x`, '-n', flag, fifo], server);
      refusedAtOnce(r, new RegExp(`${flag} file ${esc(fifo)}: not a regular file \\(FIFO\\)`));
    });
  }

  it('check --exclude-from FIFO: refused in one line, exit 2, at once', async () => {
    const { bucket } = await newBucket(server);
    const { d, fifo } = fixture('fifo-check');
    const r = await ended(['check', d, `s3://${bucket}/x`, '--exclude-from', fifo], server);
    refusedAtOnce(r, new RegExp(`--exclude-from file ${esc(fifo)}: not a regular file \\(FIFO\\)`));
  });

  it('apply FIFO: refused in one line, exit 2, at once', async () => {
    const { fifo } = fixture('fifo-apply');
    const r = await ended(['apply', fifo], server);
    refusedAtOnce(r, new RegExp(`cannot read plan ${esc(fifo)}: not a regular file \\(FIFO\\)`));
  });

  it('plan --out FIFO (no reader): refused in one line, exit 2, at once', async () => {
    const { bucket } = await newBucket(server);
    const { d, fifo } = fixture('fifo-out');
    const r = await ended(['plan', 'push', d, `s3://${bucket}/x`, '--out', fifo], server);
    refusedAtOnce(r, new RegExp(`--out ${esc(fifo)} is not a regular file \\(FIFO\\)`));
  });

  it('plan --out /dev/stdout --quiet to a shell pipe or a socket still writes the plan there', async () => {
    const { bucket } = await newBucket(server);
    const { d } = fixture('out-stdout');
    const args = ['plan', 'push', d, `s3://${bucket}/x`, '--out', '/dev/stdout', '--quiet'];
    const rels = (text: string) =>
      (JSON.parse(text) as { s3syncPlan: number; actions: { rel: string }[] }).actions.map((a) => a.rel);
    // A shell pipe: standard output is a FIFO with its reader.
    const quoted = [process.execPath, cliPath, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const piped = execFileSync('sh', ['-c', `${quoted} | cat`], {
      env: cliEnv(server, CLEAN),
      encoding: 'utf8',
    });
    expect(rels(piped)).toEqual(['a']);
    // Node's 'pipe' to a child is a socket, which cannot be opened anew by its /proc name.
    const r = await runCli(args, server, { env: CLEAN });
    expect(r.code, r.stderr).toBe(0);
    expect(rels(r.stdout)).toEqual(['a']);
  });

  it('a CA bundle that is a FIFO (--ca-bundle, AWS_CA_BUNDLE, a profile): refused, exit 2, at once', async () => {
    const { root, d, fifo } = fixture('fifo-ca');
    const config = path.join(root, 'aws-config');
    writeFileSync(config, `[default]\nca_bundle = ${fifo}\n`);
    const args = ['push', d, 's3://manual/x', '--endpoint-url', 'https://127.0.0.1:1', '-n'];
    for (const [extra, env, where] of [
      [['--ca-bundle', fifo], {}, '--ca-bundle'],
      [[], { AWS_CA_BUNDLE: fifo }, 'AWS_CA_BUNDLE'],
      [[], { AWS_CONFIG_FILE: config }, "the ca_bundle of AWS profile 'default'"],
    ] as const) {
      const r = await ended([...args, ...extra], server, env);
      refusedAtOnce(
        r,
        new RegExp(
          `cannot read the CA bundle ${esc(fifo)} \\(${esc(where)}\\): not a regular file \\(FIFO\\)`,
        ),
      );
    }
  });

  it('--files-from /dev/zero, and a list over the cap: refused by kind and size, unread', async () => {
    const { bucket } = await newBucket(server);
    const { root, d } = fixture('zero');
    const zero = await ended(['push', d, `s3://${bucket}/x`, '-n', '--files-from', '/dev/zero'], server);
    refusedAtOnce(zero, /--files-from file \/dev\/zero: not a regular file \(character device\)/);
    const big = sparse(path.join(root, 'big.txt'), 300 * 1024 * 1024);
    const r = await ended(['push', d, `s3://${bucket}/x`, '-n', '--files-from0', big], server);
    refusedAtOnce(r, new RegExp(`--files-from0 file ${esc(big)}: 300MiB is too large .*over 256MiB`));
  });

  it('an --exclude-from file or a CA bundle over its cap: refused by size, unread', async () => {
    const { bucket } = await newBucket(server);
    const { root, d } = fixture('caps');
    const rules = sparse(path.join(root, 'rules.txt'), 20 * 1024 * 1024);
    const r = await ended(['push', d, `s3://${bucket}/x`, '-n', '--exclude-from', rules], server);
    refusedAtOnce(r, new RegExp(`--exclude-from file ${esc(rules)}: 20MiB is too large .*over 16MiB`));
    const pem = sparse(path.join(root, 'ca.pem'), 20 * 1024 * 1024);
    const ca = await ended(
      ['push', d, 's3://manual/x', '--endpoint-url', 'https://127.0.0.1:1', '-n', '--ca-bundle', pem],
      server,
    );
    refusedAtOnce(ca, new RegExp(`CA bundle ${esc(pem)} \\(--ca-bundle\\): 20MiB is too large .*over 16MiB`));
  });

  it('AWS_CONFIG_FILE or AWS_SHARED_CREDENTIALS_FILE a FIFO, or over the cap: refused, exit 2, at once', async () => {
    const { bucket } = await newBucket(server);
    const { root, d, fifo } = fixture('fifo-aws-files');
    const big = sparse(path.join(root, 'big-config'), 20 * 1024 * 1024);
    const args = ['push', d, `s3://${bucket}/x`, '-n'];
    for (const [variable, kind] of [
      ['AWS_CONFIG_FILE', 'config'],
      ['AWS_SHARED_CREDENTIALS_FILE', 'credentials'],
    ] as const) {
      const r = await ended(args, server, { [variable]: fifo });
      refusedAtOnce(
        r,
        new RegExp(
          `cannot read the AWS ${kind} file ${esc(fifo)} \\(${variable}\\): not a regular file \\(FIFO\\): ` +
            's3sync and the AWS SDK each read it',
        ),
      );
      const large = await ended(args, server, { [variable]: big });
      refusedAtOnce(
        large,
        new RegExp(`AWS ${kind} file ${esc(big)} \\(${variable}\\): 20MiB is too large .*over 16MiB`),
      );
    }
    // /dev/null, the usual way to leave the files out, is still read as empty.
    const ok = await ended(args, server, {
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    });
    expect(ok.hung).toBe(false);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("a FIFO at the manifest's lock path: refused in one line, exit 2, at once, and left there", async () => {
    const { bucket } = await newBucket(server);
    const { root, d } = fixture('fifo-lock');
    const manifest = path.join(root, 'state.json');
    execFileSync('mkfifo', [`${manifest}.lock`]);
    const r = await ended(['push', d, `s3://${bucket}/x`, '--manifest', manifest], server);
    refusedAtOnce(
      r,
      new RegExp(
        `cannot use lock file ${esc(manifest)}\\.lock: it is not a regular file \\(FIFO\\) and is left as it is`,
      ),
    );
    expect(statSync(`${manifest}.lock`).isFIFO()).toBe(true);
    // A dry run takes no lock, but judges the one there as the next run will: it ends too.
    const dry = await ended(['push', d, `s3://${bucket}/x`, '--manifest', manifest, '-n'], server);
    expect(dry.hung, 'the dry run did not end by itself').toBe(false);
    expect(dry.code, dry.stderr).toBe(0);
  });

  it("a FIFO at the manifest's path while another shard holds its lock: refused, exit 2, at once, left there", async () => {
    const { bucket } = await newBucket(server);
    const { root, d } = fixture('fifo-manifest-shard');
    const manifest = path.join(root, 'state.json');
    execFileSync('mkfifo', [manifest]);
    // A live holder of another shard: whether the two may share the file is asked of the file itself.
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const lock = { pid: holder.pid, host: hostname(), startedAt: new Date().toISOString(), shard: '1/2' };
      writeFileSync(`${manifest}.lock`, `${JSON.stringify(lock)}\n`);
      const r = await ended(
        ['push', d, `s3://${bucket}/x`, '--manifest', manifest, '--shard', '0/2'],
        server,
      );
      refusedAtOnce(
        r,
        new RegExp(
          `manifest \\(--manifest\\) ${esc(manifest)} is not a regular file \\(FIFO\\); it is left as it is`,
        ),
      );
    } finally {
      holder.kill('SIGKILL');
    }
    expect(statSync(manifest).isFIFO()).toBe(true);
  });

  it('a .s3syncignore over the cap of rule files: refused by size, unread', async () => {
    const { bucket } = await newBucket(server);
    const { d } = fixture('ignore-cap');
    const rules = sparse(path.join(d, '.s3syncignore'), 20 * 1024 * 1024);
    const r = await ended(['push', d, `s3://${bucket}/x`, '-n'], server);
    refusedAtOnce(
      r,
      new RegExp(
        `cannot read the ignore file ${esc(rules)}: 20MiB is too large for a rule file \\(over 16MiB\\)`,
      ),
    );
  });

  it('--files-from - with an endless standard input: refused once past the cap, exit 2', async () => {
    const { bucket } = await newBucket(server);
    const { d } = fixture('stdin-cap');
    const yes = spawn('yes', ['a'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const cli = spawn(process.execPath, [cliPath, 'push', d, `s3://${bucket}/x`, '-n', '--files-from', '-'], {
      env: cliEnv(server, CLEAN),
      stdio: [yes.stdout, 'ignore', 'pipe'],
    });
    let stderr = '';
    cli.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      cli.kill('SIGKILL');
    }, 60_000);
    const code = await new Promise<number>((resolve) => cli.on('close', (c) => resolve(c ?? -1)));
    clearTimeout(timer);
    yes.kill('SIGKILL');
    refusedAtOnce({ code, stderr, hung }, /--files-from -: standard input holds more than 256MiB/);
  }, 90_000);

  it('--files-from - and /dev/stdin from a pipe still read the list', async () => {
    const { bucket } = await newBucket(server);
    const { d } = fixture('stdin-ok');
    writeFileSync(path.join(d, 'b'), '2\n');
    for (const name of ['-', '/dev/stdin']) {
      const r = execFileSync(
        process.execPath,
        [cliPath, 'push', d, `s3://${bucket}/x`, '-n', '--files-from', name],
        { env: cliEnv(server, CLEAN), input: 'a\n', encoding: 'utf8' },
      );
      expect(r, name).toMatch(/upload a \[new\]/);
      expect(r, name).toMatch(/would be 1 uploaded/);
    }
  });

  it('--files-from <(cmd) and /proc/self/fd/N read the pipe the shell gave; the same pipe twice reads once', async () => {
    const { bucket } = await newBucket(server);
    const { d, fifo } = fixture('procsub');
    writeFileSync(path.join(d, 'b'), '2\n');
    writeFileSync(path.join(d, 'c'), '3\n');
    const run = (tail: string) =>
      execFileSync(
        'bash',
        ['-c', `"$@" ${tail}`, 'bash', process.execPath, cliPath, 'push', d, `s3://${bucket}/x`, '-n'],
        {
          env: cliEnv(server, CLEAN),
          encoding: 'utf8',
        },
      );
    const two = run(`--files-from <(printf 'a\\nb\\n') --files-from <(printf 'a\\n')`);
    expect(two).toMatch(/upload a \[new\]/);
    expect(two).toMatch(/upload b \[new\]/);
    expect(two).toMatch(/would be 2 uploaded/);
    const nul = run(`--files-from0 /proc/self/fd/7 --files-from0 /proc/self/fd/7 7< <(printf 'c\\0')`);
    expect(nul).toMatch(/upload c \[new\]/);
    expect(nul).toMatch(/would be 1 uploaded/);
    // A FIFO by any other name is still refused unopened: it may have no writer.
    const other = await ended(['push', d, `s3://${bucket}/x`, '-n', '--files-from', fifo], server);
    refusedAtOnce(other, /not a regular file \(FIFO\): pipe the list to --files-from - instead/);
  });

  it.each([
    ['<(cmd)', '--files-from <(exec sleep 60 2>/dev/null)'],
    ['standard input', '--files-from - < <(exec sleep 60 2>/dev/null)'],
  ])('a list from %s whose writer never ends it: Ctrl-C stops the run at once', async (_, list) => {
    const { bucket } = await newBucket(server);
    const { d } = fixture('procsub-int');
    const live = spawnCli(['push', d, `s3://${bucket}/x`], server, {
      env: CLEAN,
      // The CLI given as the last arguments, exec'd with a list whose writer sleeps and never writes.
      wrap: ['bash', '-c', `exec "$@" ${list}`, 'bash'],
    });
    // Signalled only once the CLI (bash exec'd it) has its handlers in: SigCgt has SIGHUP's bit, caught
    // with SIGINT's (Node catches SIGINT from its start, to reset the terminal and die by it).
    const pid = live.child.pid!;
    const deadline = Date.now() + ENDS_WITHIN_MS;
    const catchesInt = () => {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cliPath)) return false;
        const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m !== null && (BigInt(`0x${m[1]}`) & 1n) !== 0n;
      } catch {
        return false;
      }
    };
    while (!catchesInt() && Date.now() < deadline) await sleep(50);
    expect(catchesInt(), 'the CLI came to catch SIGINT').toBe(true);
    live.child.kill('SIGINT');
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      live.child.kill('SIGKILL');
    }, ENDS_WITHIN_MS);
    const { code } = await live.exited;
    clearTimeout(timer);
    expect(hung, 'the run did not end by itself').toBe(false);
    expect(code).toBe(130);
    expect(live.stderr()).toMatch(/cancelled by SIGINT/);
  });
});
