/**
 * pull --sparse onto a file system that cannot set a file's length (fusefat refuses every ftruncate that
 * does not shrink the file, even to the length it has): a download whose last block holds data needs
 * no length set and is written; one that ends in zeros left as a hole is one line saying so. Needs root
 * and fusefat; skipped with a notice otherwise.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  imageFs,
  MiB,
  md5Hex,
  newBucket,
  plainLines,
  runCli,
  seedObject,
  servers,
  tempDir,
} from '../helpers.js';

const fat = imageFs({
  test: 'no-ftruncate',
  kind: 'FAT32 (fusefat)',
  mkfs: (image) => ['mkfs.vfat', ['-F', '32', image]],
  mountCommand: (image, dir) => ['fusefat', ['-o', 'rw+', image, dir]],
});
beforeAll(() => fat.mount());
afterAll(() => fat.unmount());

describe.each(servers())('pull --sparse without ftruncate on $name', (server) => {
  it('files whose last block holds data are written; one ending in zeros is one line', async (ctx) => {
    if (fat.skipped(ctx)) return;
    const { bucket, transport } = await newBucket(server, 'noftrunc');
    const small = randomBytes(64 * 1024);
    const big = randomBytes(3 * MiB);
    await seedObject(transport, 'p/small.bin', small);
    await seedObject(transport, 'p/big.bin', big);
    // A compressed object: its decompressed bytes are written sparse too.
    const src = tempDir('noftrunc-src');
    writeFileSync(path.join(src, 'text.txt'), 'some text '.repeat(100_000));
    expect((await runCli(['push', src, `s3://${bucket}/p`, '--compress', '*.txt'], server)).code).toBe(0);
    const target = mkdtempSync(path.join(fat.dir, 'ok-'));
    const r = await runCli(['pull', `s3://${bucket}/p`, target, '--sparse'], server);
    expect(r.code, r.stderr).toBe(0);
    expect(md5Hex(readFileSync(path.join(target, 'small.bin')))).toBe(md5Hex(small));
    expect(md5Hex(readFileSync(path.join(target, 'big.bin')))).toBe(md5Hex(big));
    expect(readFileSync(path.join(target, 'text.txt'), 'utf8')).toBe('some text '.repeat(100_000));

    await seedObject(
      transport,
      'z/tail.bin',
      Buffer.concat([randomBytes(64 * 1024), Buffer.alloc(256 * 1024)]),
    );
    const z = await runCli(
      ['pull', `s3://${bucket}/z`, mkdtempSync(path.join(fat.dir, 'z-')), '--sparse'],
      server,
    );
    expect(z.code).toBe(1);
    expect(plainLines(z.stderr), z.stderr).toEqual([
      "error: tail.bin: this file system cannot set a file's length (ftruncate: EPERM): pull without --sparse",
    ]);
  });
});
