import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import type { TestServer } from '../servers/servers.js';
import { runCli } from './cli.js';
import { writeTree } from './files.js';
import { newBucket } from './s3.js';

/** The first state pushed to a versioned prefix; SECOND changes a (same size), b (size) and adds new. */
export const FIRST = {
  'a.txt': 'alpha one\n',
  'b.txt': 'bravo one\n',
  'sub/c.txt': 'charlie, deleted later\n',
  'keep.txt': 'never changes\n',
};
export const SECOND = {
  'a.txt': 'ALPHA TWO\n',
  'b.txt': 'bravo two, longer\n',
  'new.txt': 'created later\n',
};

/** `dir` made the second state: SECOND written over FIRST, and sub/c.txt deleted. */
export function toSecond(dir: string): void {
  writeTree(dir, SECOND);
  rmSync(path.join(dir, 'sub/c.txt'));
}

/** A new bucket that keeps versions. */
export async function versionedBucket(server: TestServer, label: string) {
  const b = await newBucket(server, label);
  await b.transport.client.send(
    new PutBucketVersioningCommand({ Bucket: b.bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  return b;
}

/**
 * Pushes `first` from `dir` to `url`, then `change`s `dir` and pushes again with `args`; returns a
 * time between the two pushes, a clear second from each (RGW stamps versions in whole seconds).
 */
export async function pushTwice(
  server: TestServer,
  at: { dir: string; url: string },
  first: Record<string, string | Buffer>,
  change: (dir: string) => void,
  args: string[] = [],
): Promise<string> {
  writeTree(at.dir, first);
  expect((await runCli(['push', at.dir, at.url], server)).code).toBe(0);
  await sleep(1100);
  const between = new Date().toISOString();
  await sleep(1100);
  change(at.dir);
  expect((await runCli(['push', at.dir, at.url, ...args], server)).code).toBe(0);
  return between;
}
