/**
 * The built declarations as a TypeScript user compiles them: strict and noUncheckedIndexedAccess, with
 * neither esModuleInterop nor skipLibCheck. A default import of a node: module in a public .d.ts fails
 * there (TS1192), though the repo's own tsconfig, which has both, compiles it.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, trackedDirs } from '../helpers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

const dist = path.join(repoRoot, 'dist');

describe('the published declarations', () => {
  it('import no node: module by its default export', () => {
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(files.length).toBeGreaterThan(0);
    const defaults = files.flatMap((f) =>
      readFileSync(path.join(dist, f), 'utf8')
        .split('\n')
        .filter((l) => /^import\s+(?!type\b)[\w$]+\s*(,|from)\s*.*['"]node:/.test(l))
        .map((l) => `${f}: ${l}`),
    );
    expect(defaults).toEqual([]);
  });

  it('compile in a strict project without esModuleInterop or skipLibCheck', () => {
    const project = dir('dts-consumer');
    const entry = path.join(dist, 'index.js');
    writeFileSync(
      path.join(project, 'consumer.ts'),
      [
        `import { check, PROVIDERS, push, type SyncEvent } from ${JSON.stringify(entry)};`,
        // A preset by its name is one, not possibly undefined, under noUncheckedIndexedAccess.
        'const parts: number = PROVIDERS.aws.maxParts;',
        "const r = await push({ source: './d', destination: 's3://b/p', onEvent: (e: SyncEvent) => void e });",
        "const c = await check({ local: './d', remote: 's3://b/p' });",
        'console.log(r.outcome, c.outcome, parts);',
      ].join('\n'),
    );
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        '--strict',
        '--noUncheckedIndexedAccess',
        '--module',
        'es2022',
        '--moduleResolution',
        'node',
        '--target',
        'es2022',
        '--noEmit',
        '--types',
        'node',
        '--typeRoots',
        path.join(repoRoot, 'node_modules/@types'),
        'consumer.ts',
      ],
      { cwd: project, encoding: 'utf8' },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
