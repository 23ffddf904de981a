import { createHash, type Hash } from 'node:crypto';
import type { ReadTarget } from './open-file.js';
import type { FileStat } from './scan.js';
import { readChunks, readWholeSync } from './stable-read.js';

export interface HashResult {
  /** Hex MD5 of the whole file. */
  md5: string;
  size: number;
  /** S3 multipart ETags (`md5(part md5s)-N`, no quotes) for each requested part size. */
  multipart: Record<number, string>;
  /** Binary MD5 of each part, for the part sizes requested (Content-MD5 of UploadPart). */
  partMd5s: Record<number, Buffer[]>;
  /** fstat of the open file after reading, as scan fields. */
  stat: FileStat;
  /** The stat data did not change while the file was read: the hash belongs to `stat`. */
  stable: boolean;
}

/** Incremental multipart ETag for one part size, fed the file's bytes in order. */
export class PartHasher {
  readonly digests: Buffer[] = [];
  private h: Hash = createHash('md5');
  private inPart = 0;

  constructor(readonly partSize: number) {}

  update(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) {
      const take = Math.min(this.partSize - this.inPart, buf.length - off);
      this.h.update(buf.subarray(off, off + take));
      this.inPart += take;
      off += take;
      if (this.inPart === this.partSize) this.flush();
    }
  }

  private flush(): void {
    this.digests.push(this.h.digest());
    this.h = createHash('md5');
    this.inPart = 0;
  }

  finish(): string {
    if (this.inPart > 0 || this.digests.length === 0) this.flush();
    return `${createHash('md5').update(Buffer.concat(this.digests)).digest('hex')}-${this.digests.length}`;
  }
}

/** MD5 and multipart ETags of a byte stream fed in order: what hashFile computes, without the file. */
export class StreamHasher {
  private whole = createHash('md5');
  private parts: PartHasher[];

  constructor(partSizes: number[]) {
    this.parts = [...new Set(partSizes)].map((ps) => new PartHasher(ps));
  }

  update(buf: Buffer): void {
    this.whole.update(buf);
    for (const p of this.parts) p.update(buf);
  }

  digest(): StreamDigest {
    const multipart: Record<number, string> = {};
    for (const p of this.parts) multipart[p.partSize] = p.finish();
    return { md5: this.whole.digest('hex'), multipart };
  }
}

export interface StreamDigest {
  /** Hex MD5 of all bytes. */
  md5: string;
  /** Multipart ETag (no quotes) for each requested part size. */
  multipart: Record<number, string>;
}

/**
 * Reads the file once, in large chunks, computing its MD5 and the multipart ETags for the given part
 * sizes in the same pass. The file is opened as openScanned does: never through a link the scan did not
 * follow, never blocking, and only if it is the scanned one; a file whose size lies is refused.
 * `onRead` sees the size of each chunk as it is hashed.
 */
export async function hashFile(
  target: ReadTarget,
  partSizes: number[] = [],
  onRead?: (bytes: number) => void,
): Promise<HashResult> {
  const whole = createHash('md5');
  const parts = [...new Set(partSizes)].map((ps) => new PartHasher(ps));
  const { size, stat, stable } = await readChunks(target, (chunk) => {
    whole.update(chunk);
    for (const p of parts) p.update(chunk);
    onRead?.(chunk.length);
  });
  const multipart: Record<number, string> = {};
  const partMd5s: Record<number, Buffer[]> = {};
  for (const p of parts) {
    multipart[p.partSize] = p.finish();
    partMd5s[p.partSize] = p.digests;
  }
  return { md5: whole.digest('hex'), size, multipart, partMd5s, stat, stable };
}

export const md5Hex = (buf: Buffer) => createHash('md5').update(buf).digest('hex');

export const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/**
 * A buffer reused by one caller's synchronous hashes (nothing else runs while one does): a rebuild
 * hashing 10k small files otherwise allocates, and collects, a buffer per file.
 */
export class Scratch {
  private buf = Buffer.allocUnsafe(0);

  take(n: number): Buffer {
    if (this.buf.length < n) this.buf = Buffer.allocUnsafe(Math.max(n, 64 * 1024));
    return this.buf.subarray(0, n);
  }
}

/**
 * hashFile for small files, synchronously: for a 30 KiB file the six thread-pool round trips of the
 * async path cost more than reading and hashing it. Only for sizes where blocking is negligible.
 * `scratch`: a caller hashing many files reads them all into one buffer.
 */
export function hashSmallFileSync(
  target: ReadTarget,
  partSizes: number[] = [],
  scratch?: Scratch,
): HashResult {
  const { data, stat, stable } = readWholeSync(target, { take: scratch && ((n) => scratch.take(n)) });
  const multipart: Record<number, string> = {};
  const partMd5s: Record<number, Buffer[]> = {};
  for (const ps of new Set(partSizes)) {
    const p = new PartHasher(ps);
    p.update(data);
    multipart[ps] = p.finish();
    partMd5s[ps] = p.digests;
  }
  return { md5: md5Hex(data), size: data.length, multipart, partMd5s, stat, stable };
}
