import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'vitest';

/**
 * A file system of another kind for one test file: an image (32 MiB unless told) made and mounted in `beforeAll`,
 * unmounted in `afterAll`, in a work folder of its own. Needs root and the kind's tools; where it could
 * not be mounted, `skipped` says why and skips the test.
 */
export interface ImageFs {
  /** The work folder (the image, the mount point, and whatever the tests put beside them). */
  readonly work: string;
  /** The mount point. */
  readonly dir: string;
  mount(): void;
  unmount(): void;
  /**
   * For a test whose run did not end: a file system stuck in its driver holds every process that
   * touches it (the run, umount) in uninterruptible sleep, which only the driver's end releases. Kills
   * the FUSE driver of this mount (by its PID, found at mount) and detaches the mount point, so the
   * processes waiting on it fail; then mounts a new image there for the tests that follow. Nothing
   * without a FUSE driver.
   */
  abort(): void;
  skipped(ctx: TestContext): boolean;
}

const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
const firstLine = (r: ReturnType<typeof run>) => (r.stderr || String(r.error)).trim().split('\n')[0];

/** The PID of the process whose arguments name `dir` (a FUSE driver serving it), if there is one. */
function driverOf(dir: string): number | undefined {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dir)) return Number(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

export function imageFs(spec: {
  /** Names the test file in the notice (`[case-insensitive]`). */
  test: string;
  /** The file system, as the notice says it (`exFAT`). */
  kind: string;
  /** The image's size, as truncate(1) takes it; default 32M. */
  size?: string;
  /** The command that formats the image, given its path. */
  mkfs: (image: string) => [string, string[]];
  /** Whether the mount takes a loop device rather than the image file (a FUSE driver that needs one). */
  loopDevice?: boolean;
  /** The command that mounts the image (or its loop device) on the mount point. */
  mountCommand: (source: string, dir: string) => [string, string[]];
}): ImageFs {
  const work = mkdtempSync(path.join(tmpdir(), `s3sync-${spec.test}-`));
  const dir = path.join(work, 'mnt');
  let missing: string | undefined;
  let loop: string | undefined;
  let mounted = false;
  let driver: number | undefined;
  const failed = (what: string, r: ReturnType<typeof run>) => {
    missing = `${what} failed: ${firstLine(r)}`;
  };
  return {
    work,
    dir,
    mount() {
      if (process.getuid?.() !== 0) {
        missing = 'not root: cannot mount a filesystem';
        return;
      }
      const image = path.join(work, 'fs.img');
      mkdirSync(dir, { recursive: true });
      // A new image, also after abort: the one aborted may be left inconsistent.
      rmSync(image, { force: true });
      run('truncate', ['-s', spec.size ?? '32M', image]);
      const [mkfs, mkfsArgs] = spec.mkfs(image);
      const made = run(mkfs, mkfsArgs);
      if (made.status !== 0) return failed(mkfs, made);
      let source = image;
      if (spec.loopDevice) {
        const dev = run('losetup', ['-f', '--show', image]);
        if (dev.status !== 0) return failed('losetup', dev);
        loop = dev.stdout.trim();
        source = loop;
      }
      const [cmd, args] = spec.mountCommand(source, dir);
      const mount = run(cmd, args);
      if (mount.status !== 0) return failed(cmd, mount);
      mounted = true;
      // Its work folder is this mount's own: no other process names the mount point.
      driver = driverOf(dir);
    },
    unmount() {
      if (mounted) run('umount', [dir]);
      if (loop) run('losetup', ['-d', loop]);
      rmSync(work, { recursive: true, force: true });
    },
    abort() {
      if (!mounted || driver === undefined) return;
      try {
        process.kill(driver, 'SIGKILL');
      } catch {
        // Ended already.
      }
      run('umount', ['-l', dir]);
      if (loop) run('losetup', ['-d', loop]);
      loop = undefined;
      mounted = false;
      driver = undefined;
      this.mount();
    },
    skipped(ctx) {
      if (!missing) return false;
      console.warn(`[${spec.test}] NOTICE: ${spec.kind} skipped: ${missing}`);
      ctx.skip();
      return true;
    },
  };
}
