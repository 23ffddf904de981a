/**
 * No Node warning reaches stderr, whatever the file sizes and the worker count. The smallest case that
 * printed MaxListenersExceededWarning: 11 parts of one file in flight at once (the SDK adds an 'abort'
 * listener per request to the signal it is given, and every part had the file's). Each run goes
 * without the variable the test runner sets to quiet the SDK's Node-version notice: the CLI must.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bigFile, MiB, newBucket, runLive, seededTree, servers, trackedDirs } from '../helpers.js';
import type { TestServer } from '../servers/servers.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

/** Runs the CLI with the environment a user has: the server's credentials, nothing the tests add. */
async function run(args: string[], server: TestServer): Promise<{ code: number | null; stderr: string }> {
  const quietened = {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
    NODE_OPTIONS: undefined,
    NODE_NO_WARNINGS: undefined,
  };
  const r = await runLive(args, server, { env: quietened });
  return { code: r.code, stderr: r.stderr() };
}

const multipart = (partMiB: number) => [
  '--multipart-threshold',
  `${partMiB}MiB`,
  '--part-size',
  `${partMiB}MiB`,
];

describe.each(servers())('no Node warning on stderr on $name', (server) => {
  it.each<[string, { parts: number; small: number; workers?: number; mode: string }]>([
    ['11 parts in flight (the smallest case that warned), --quiet', { parts: 11, small: 0, mode: '--quiet' }],
    ['13 parts and 16 workers, human output', { parts: 13, small: 0, workers: 16, mode: '' }],
    [
      '64 workers: 300 small files and 12 parts at once, --json',
      { parts: 12, small: 300, workers: 64, mode: '--json' },
    ],
  ])('%s: push, then pull', async (_name, c) => {
    const { bucket } = await newBucket(server, 'warn');
    const src = dir('warn-src');
    bigFile(path.join(src, 'big.bin'), c.parts * 5 * MiB);
    if (c.small > 0) seededTree(src, c.small, 71);
    const url = `s3://${bucket}/w`;
    const common = [
      ...multipart(5),
      ...(c.workers ? ['--workers', String(c.workers)] : []),
      ...(c.mode ? [c.mode] : []),
    ];
    const push = await run(['push', src, url, ...common], server);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toBe('');
    // Ranged downloads of the same parts, as many at once.
    const pull = await run(['pull', url, dir('warn-dst'), ...common], server);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stderr).toBe('');
  });
});
