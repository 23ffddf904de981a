/**
 * The package as users get it: `npm pack`, installed into an empty project, then `npx s3sync --help`,
 * `npx s3sync demo` and `import('s3sync')` there. The install is offline, from the npm cache that
 * `npm ci` filled, at the versions of this repo's lockfile: the project is given a lockfile made of the
 * lock's entries for s3sync's dependencies (npm cannot resolve version ranges offline).
 *
 * s3rver, the demo's server, is not a dependency of s3sync (120 packages, for a demo, in every install):
 * the documented way is `npm install s3sync s3rver`; without it, demo says so in one line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { plainLines, repoRoot, trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

interface LockEntry {
  version?: string;
  dev?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
}
interface PackageJson {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [k: string]: unknown;
}

const repoPkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
const repoLock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** Lock paths of a package and everything it needs, as the repo's lock has them laid out. */
function closure(from: string): Set<string> {
  const pk = repoLock.packages;
  const seen = new Set<string>();
  const resolve = (at: string, name: string): string | undefined => {
    for (let d = at; ; ) {
      const key = `${d ? `${d}/` : ''}node_modules/${name}`;
      if (pk[key]) return key;
      if (!d) return undefined;
      const i = d.lastIndexOf('/node_modules/');
      d = i < 0 ? '' : d.slice(0, i);
    }
  };
  const walk = (key: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    const e = pk[key]!;
    for (const name of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const r = resolve(key, name);
      if (r) walk(r);
    }
  };
  walk(from);
  return seen;
}

/** The environment without what `npm test` sets about this repo: nested npm runs see only their project. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$)/i.test(k),
  ),
);

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('the packed tarball, installed into an empty project', () => {
  it('packs only what users need; installs offline; --help, demo and the library work', {
    timeout: 240_000,
  }, async () => {
    expect(
      existsSync(path.join(repoRoot, 'dist/cli/s3sync.cjs')),
      'dist/ is built (npm test builds it)',
    ).toBe(true);
    const packDir = dir('pack');
    const [packed] = JSON.parse(
      npm(['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], repoRoot),
    ) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed!.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'dist/cli/s3sync.cjs',
      'dist/cli/bundle.cjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/local/hash-worker.js',
    ])
      expect(files, f).toContain(f);
    expect(
      files.filter(
        (f) =>
          !/^(dist\/|docs\/[\w-]+\.md$|bench\/README\.md$|package\.json$|README\.md$|CHANGELOG\.md$|LICENSE)/.test(
            f,
          ),
      ),
    ).toEqual([]);
    // The README's links to the docs work where it is read after an install, not only on the web.
    const links = [
      ...readFileSync(path.join(repoRoot, 'README.md'), 'utf8').matchAll(/\]\(([\w./-]+)(#[^)]*)?\)/g),
    ]
      .map((m) => m[1]!)
      .filter((l) => !/^https?:/.test(l));
    expect(links.length).toBeGreaterThan(0);
    for (const l of links) expect(files, `README links ${l}`).toContain(l);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(repoPkg).toMatchObject({
      repository: expect.anything(),
      homepage: expect.any(String),
      keywords: expect.arrayContaining(['s3', 'sync']),
      engines: { node: expect.any(String) },
      bin: { s3sync: 'dist/cli/s3sync.cjs' },
    });

    // The empty project, as after `npm install s3sync s3rver`.
    const project = dir('project');
    const tgz = path.join(packDir, packed!.filename);
    const s3rverRange = repoPkg.peerDependencies!.s3rver!;
    const dependencies = { s3sync: `file:${tgz}`, s3rver: s3rverRange };
    const packages: Record<string, unknown> = {
      '': { name: 'empty-project', version: '1.0.0', dependencies },
      'node_modules/s3sync': {
        version: repoPkg.version,
        resolved: `file:${tgz}`,
        integrity: `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`,
        dependencies: repoPkg.dependencies,
        peerDependencies: repoPkg.peerDependencies,
        bin: repoPkg.bin,
        engines: repoPkg.engines,
      },
    };
    for (const [key, e] of Object.entries(repoLock.packages)) if (key !== '' && !e.dev) packages[key] = e;
    for (const key of closure('node_modules/s3rver')) packages[key] = repoLock.packages[key];
    writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'empty-project', version: '1.0.0', private: true, dependencies }, null, 2),
    );
    writeFileSync(
      path.join(project, 'package-lock.json'),
      JSON.stringify(
        { name: 'empty-project', version: '1.0.0', lockfileVersion: 3, requires: true, packages },
        null,
        2,
      ),
    );
    npm(['ci', '--offline', '--no-audit', '--no-fund'], project);
    // No file points to a source map: the package ships none, and a debugger would look for each.
    const shipped = path.join(project, 'node_modules/s3sync/dist');
    const pointing = readdirSync(shipped, { recursive: true, encoding: 'utf8' }).filter(
      (f) =>
        /\.(c?js|d\.ts)$/.test(f) && readFileSync(path.join(shipped, f), 'utf8').includes('sourceMappingURL'),
    );
    expect(pointing).toEqual([]);
    // Nothing of the build or the tests came along.
    for (const dev of Object.keys(repoPkg.devDependencies).filter((d) => d !== 's3rver'))
      expect(existsSync(path.join(project, 'node_modules', dev)), dev).toBe(false);

    const npx = (...args: string[]) =>
      spawnSync('npx', ['--offline', 's3sync', ...args], { cwd: project, env, encoding: 'utf8' });
    const help = npx('--help');
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: s3sync /);
    expect(help.stdout).toMatch(/\bdemo\b/);
    expect(npx('--version').stdout.trim()).toBe(repoPkg.version);

    const demo = npx('demo');
    expect(demo.status, demo.stderr + demo.stdout).toBe(0);
    expect(demo.stderr).toBe('');
    expect(demo.stdout).toMatch(/second push:\n {2}100 files: 100 unchanged, 0 uploaded.*\n.*0 S3 requests/);
    // An AWS profile in the environment is another store's: the demo uses its own server's keys.
    const profiled = spawnSync('npx', ['--offline', 's3sync', 'demo'], {
      cwd: project,
      env: { ...env, AWS_PROFILE: 'not-for-the-demo' },
      encoding: 'utf8',
    });
    expect(profiled.status, profiled.stderr).toBe(0);
    expect(profiled.stdout).toMatch(/second push:\n {2}100 files: 100 unchanged/);

    const lib = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('s3sync'); console.log(Object.keys(m).sort().join(' '))",
      ],
      { cwd: project, env, encoding: 'utf8' },
    );
    expect(lib.stdout.trim().split(' ')).toEqual(
      expect.arrayContaining(['push', 'pull', 'check', 'plan', 'apply', 'cleanup']),
    );
    expect(existsSync(path.join(project, 'node_modules/s3sync/dist/index.d.ts'))).toBe(true);
    // CommonJS: require() of the ESM build, as Node 20.19+ allows, not ERR_PACKAGE_PATH_NOT_EXPORTED.
    const required = spawnSync(
      process.execPath,
      ['-e', "const m = require('s3sync'); console.log(typeof m.push, typeof m.pull)"],
      { cwd: project, env, encoding: 'utf8' },
    );
    expect(required.stderr).toBe('');
    expect(required.stdout.trim()).toBe('function function');

    // s3sync alone: demo says what to install, in one line.
    rmSync(path.join(project, 'node_modules/s3rver'), { recursive: true, force: true });
    const alone = npx('demo');
    expect(alone.status).toBe(2);
    expect(plainLines(alone.stderr)).toEqual([
      expect.stringMatching(/^s3sync: the demo needs the local S3 server s3rver.*`npm install s3rver`/),
    ]);
  });
});

describe("the packed Markdown's links", () => {
  it('name only files the package holds: a reader of the installed docs follows none to nothing', () => {
    const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--dry-run', '--json'], repoRoot)) as {
      files: { path: string }[];
    }[];
    const files = new Set(packed!.files.map((f) => f.path));
    const held = (p: string) => files.has(p) || [...files].some((f) => f.startsWith(`${p}/`));
    const broken: string[] = [];
    for (const md of [...files].filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(path.join(repoRoot, md), 'utf8');
      // Inline links and reference definitions; a URL with a scheme or an anchor alone is no file.
      for (const m of text.matchAll(/\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)/gm)) {
        const target = (m[1] ?? m[2])!.split('#')[0]!;
        if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const file = path.posix.normalize(path.posix.join(path.posix.dirname(md), target));
        if (!held(file)) broken.push(`${md}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
