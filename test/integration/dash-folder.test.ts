/**
 * `-` is standard input or output elsewhere in the CLI (`--files-from -`): as the local folder of push,
 * pull, check, plan or sync it is refused in one line, exit 2, before any request and with nothing
 * made (a pull used to create a folder named `-`). `./-` still names such a folder.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newBucket, refusedWithOneLine, runCli, servers, trackedDirs } from '../helpers.js';
import { startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
afterAll(removeAll);

describe.each(servers())("'-' as a local folder, on $name", (server) => {
  it('is refused in one line, exit 2, with no request and nothing made; ./- works', async () => {
    const { bucket } = await newBucket(server);
    const cwd = dir('dash');
    const src = path.join(cwd, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a'), '1\n');
    expect((await runCli(['push', src, `s3://${bucket}/x`], server)).code).toBe(0);
    const proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    try {
      const viaProxy = { cwd, env: { AWS_ENDPOINT_URL_S3: proxy.endpoint } };
      const remote = `s3://${bucket}/x`;
      for (const args of [
        ['pull', remote, '-'],
        ['push', '-', remote],
        ['check', '-', remote],
        ['plan', 'pull', remote, '-', '--out', 'plan.json'],
        ['plan', 'push', '-', remote, '--out', 'plan.json'],
        ['sync', remote, '-'],
        ['sync', '-', remote],
      ]) {
        const r = await runCli(args, server, viaProxy);
        const command = args[0] === 'plan' ? `plan ${args[1]}` : args[0];
        refusedWithOneLine(
          r,
          new RegExp(`^s3sync: ${command}: '-' is not .*write \\./- for a folder named -$`),
        );
        expect(readdirSync(cwd), args.join(' ')).toEqual(['src']);
      }
      expect(proxy.stats.requests).toBe(0);
      // A folder named `-` is still reachable by a path that says so.
      const ok = await runCli(['pull', remote, './-'], server, { cwd });
      expect(ok.code, ok.stderr).toBe(0);
      expect(existsSync(path.join(cwd, '-', 'a'))).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
