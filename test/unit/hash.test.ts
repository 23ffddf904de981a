import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFile, hashSmallFileSync, Scratch } from '../../src/local/hash.js';
import { HashPool } from '../../src/local/hash-pool.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** S3's multipart ETag computed independently: md5 of the concatenated part md5s, then -N. */
function s3MultipartEtag(data: Buffer, partSize: number): string {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += partSize) parts.push(md5(data.subarray(off, off + partSize)));
  return `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`;
}

describe('hashing', () => {
  const pool = new HashPool();
  afterAll(() => pool.close());
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-hash-'));
  it.each([0, 1, 4096, 300_000, 2 * 1024 * 1024 + 17])('all paths agree on a %i-byte file', async (size) => {
    const data = randomBytes(size);
    const file = path.join(dir, `f${size}`);
    writeFileSync(file, data);
    const parts = [65_536, 1024 * 1024];
    const results = [
      await hashFile(file, parts),
      hashSmallFileSync(file, parts),
      await pool.hashFile(file, size, parts),
    ];
    for (const r of results) {
      expect(r.md5).toBe(md5(data).toString('hex'));
      expect(r.size).toBe(size);
      expect(r.stable).toBe(true);
      if (size > 0) for (const ps of parts) expect(r.multipart[ps]).toBe(s3MultipartEtag(data, ps));
    }
    expect(results[1]!.partMd5s[65_536]!.map((b) => b.toString('hex'))).toEqual(
      results[0]!.partMd5s[65_536]!.map((b) => b.toString('hex')),
    );
  });

  it('one scratch buffer across files of falling sizes hashes each file alone', async () => {
    const scratch = new Scratch();
    for (const size of [300_000, 70_000, 4096, 1, 0, 65_536]) {
      const file = path.join(dir, `scratch${size}`);
      writeFileSync(file, randomBytes(size));
      const want = await hashFile(file, [4096]);
      expect(hashSmallFileSync(file, [4096], scratch), `${size} bytes`).toEqual(want);
    }
  });
});
