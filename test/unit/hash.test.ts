import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type HashResult,
  hashFile,
  hashSmallFileSync,
  hashSmallFilesSync,
  Scratch,
} from '../../src/local/hash.js';
import { HashPool } from '../../src/local/hash-pool.js';
import { Md5Lanes } from '../../src/local/md5-lanes.js';
import { UnexpectedFileError } from '../../src/local/open-file.js';

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

describe('many small files at once (SIMD lanes)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-hash-many-'));
  const lanes = Md5Lanes.create();

  /** Every item through hashSmallFilesSync: results by index, errors by index. */
  function many(
    items: Array<{
      src: string | { abs: string; expect?: { dev: string; ino: string } };
      partSizes: number[];
    }>,
    withLanes = lanes,
  ) {
    const got: Array<HashResult | Error> = new Array(items.length);
    let i = 0;
    hashSmallFilesSync(
      () => (i < items.length ? { ...items[i]!, at: i++ } : undefined),
      (it, r) => {
        got[it.at] = r;
      },
      (it, err) => {
        got[it.at] = err as Error;
      },
      withLanes,
      new Scratch(),
    );
    return got;
  }

  it('gives what hashSmallFileSync gives, file for file, with and without part sizes', () => {
    const sizes = [0, 1, 55, 56, 64, 65, 4095, 70_000, 300_000, 1024 * 1024 - 1, 12, 999];
    const files = sizes.map((size, i) => {
      const file = path.join(dir, `m${i}`);
      writeFileSync(file, randomBytes(size));
      return file;
    });
    for (const partSizes of [[], [5 * 1024 * 1024], [4096, 5 * 1024 * 1024], [1000]]) {
      const items = files.map((src) => ({ src, partSizes }));
      const want = files.map((f) => hashSmallFileSync(f, partSizes));
      expect(many(items), `part sizes ${partSizes}`).toEqual(want);
      expect(many(items, undefined), `part sizes ${partSizes}, no lanes`).toEqual(want);
    }
  });

  it('hashes hundreds of files, each result its own, while lanes refill', () => {
    const datas = Array.from({ length: 400 }, (_, i) => randomBytes((i * 7919) % 66_000));
    const items = datas.map((d, i) => {
      const file = path.join(dir, `n${i}`);
      writeFileSync(file, d);
      return { src: file, partSizes: [] };
    });
    const got = many(items) as HashResult[];
    expect(got.map((r) => r.md5)).toEqual(datas.map((d) => md5(d).toString('hex')));
    expect(got.map((r) => r.size)).toEqual(datas.map((d) => d.length));
    expect(got.every((r) => r.stable)).toBe(true);
  });

  it('a file grown past what a lane holds is hashed whole, beside the others', () => {
    const small = path.join(dir, 'g-small');
    writeFileSync(small, randomBytes(100));
    const grown = path.join(dir, 'g-grown');
    const data = randomBytes(3 * 1024 * 1024 + 5);
    writeFileSync(grown, data);
    const items = [small, grown, small, small, small].map((src) => ({ src, partSizes: [1024 * 1024] }));
    const got = many(items) as HashResult[];
    expect(got[1]!.md5).toBe(md5(data).toString('hex'));
    expect(got[1]!.size).toBe(data.length);
    expect(got[1]!.multipart[1024 * 1024]).toBe(s3MultipartEtag(data, 1024 * 1024));
    expect(got[0]).toEqual(hashSmallFileSync(small, [1024 * 1024]));
  });

  it('lanes that break fail the files they held, and leave the rest unread', () => {
    const files = Array.from({ length: 5 }, (_, i) => {
      const file = path.join(dir, `b${i}`);
      writeFileSync(file, randomBytes(100 + i));
      return file;
    });
    // Takes two files into its lanes, then fails as a trap in the module would.
    const broken = {
      hash(next: (take: (n: number) => Buffer | undefined) => unknown) {
        const lane = Buffer.alloc(4096);
        next((n) => lane.subarray(0, n));
        next((n) => lane.subarray(0, n));
        throw new Error('lanes broke');
      },
    } as unknown as Md5Lanes;
    const settled: Array<[number, string]> = [];
    let i = 0;
    hashSmallFilesSync(
      () => (i < files.length ? { src: files[i]!, partSizes: [], at: i++ } : undefined),
      (it) => settled.push([it.at, 'done']),
      (it, err) => settled.push([it.at, (err as Error).message]),
      broken,
    );
    expect(settled).toEqual([
      [0, 'lanes broke'],
      [1, 'lanes broke'],
    ]);
    expect(i).toBe(2);
  });

  it('a missing file, a link or a FIFO where a scanned file was: that item fails, the others hash', () => {
    const mk = (name: string) => {
      const file = path.join(dir, name);
      writeFileSync(file, randomBytes(2000));
      const st = lstatSync(file);
      return { file, expect: { dev: String(st.dev), ino: String(st.ino) } };
    };
    const ok = Array.from({ length: 6 }, (_, i) => mk(`h-ok${i}`));
    const gone = mk('h-gone');
    unlinkSync(gone.file);
    const linked = mk('h-link');
    unlinkSync(linked.file);
    symlinkSync(ok[0]!.file, linked.file);
    const swapped = mk('h-swapped');
    const other = mk('h-other');
    renameSync(other.file, swapped.file); // another inode under the scanned name
    const fifo = mk('h-fifo');
    unlinkSync(fifo.file);
    execFileSync('mkfifo', [fifo.file]);
    const items = [ok[0]!, gone, ok[1]!, linked, ok[2]!, swapped, ok[3]!, fifo, ok[4]!, ok[5]!].map((f) => ({
      src: { abs: f.file, expect: f.expect },
      partSizes: [],
    }));
    const got = many(items);
    expect((got[1] as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(got[3]).toBeInstanceOf(UnexpectedFileError);
    expect(got[5]).toBeInstanceOf(UnexpectedFileError);
    expect(got[7]).toBeInstanceOf(UnexpectedFileError);
    for (const i of [0, 2, 4, 6, 8, 9]) expect(got[i]).toEqual(hashSmallFileSync(items[i]!.src, []));
  });
});
