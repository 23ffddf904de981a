import { createHash, type Hash } from 'node:crypto';
import type { LaneInput, LaneTake, Md5Lanes } from './md5-lanes.js';
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
 * `onRead` sees the size of each chunk as it is hashed; `signal` abandons the read between chunks.
 */
export async function hashFile(
  target: ReadTarget,
  partSizes: number[] = [],
  onRead?: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<HashResult> {
  const whole = createHash('md5');
  const parts = [...new Set(partSizes)].map((ps) => new PartHasher(ps));
  const { size, stat, stable } = await readChunks(target, (chunk) => {
    signal?.throwIfAborted();
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
  const read = readWholeSync(target, { take: scratch && ((n) => scratch.take(n)) });
  return hashBytes(read.data, partSizes, read);
}

/** A small file to hash, and the part sizes whose ETags it needs. */
export interface SmallHash {
  src: ReadTarget;
  partSizes: number[];
}

/** A file of one part for every part size asked: each part's MD5 is the file's. */
function onePart(
  md5: string,
  data: Buffer,
  partSizes: number[],
  read: { stat: FileStat; stable: boolean },
): HashResult {
  const multipart: Record<number, string> = {};
  const partMd5s: Record<number, Buffer[]> = {};
  if (partSizes.length > 0) {
    const raw = Buffer.from(md5, 'hex');
    const etag = `${md5Hex(raw)}-1`;
    for (const ps of partSizes) {
      multipart[ps] = etag;
      partMd5s[ps] = [Buffer.from(raw)];
    }
  }
  return { md5, size: data.length, multipart, partMd5s, stat: read.stat, stable: read.stable };
}

/**
 * hashSmallFileSync for many files, their MD5s computed eight at a time in SIMD lanes (md5-lanes.ts),
 * each file read straight into its lane. `next` hands over the files until it returns undefined; each
 * one's result goes to `done`, or its error to `failed`, in the order they finish. Without `lanes` (no
 * WebAssembly SIMD) they are hashed one at a time.
 */
export function hashSmallFilesSync<T extends SmallHash>(
  next: () => T | undefined,
  done: (item: T, result: HashResult) => void,
  failed: (item: T, err: unknown) => void,
  lanes: Md5Lanes | undefined,
  scratch: Scratch = new Scratch(),
): void {
  if (!lanes) {
    for (let item = next(); item; item = next()) {
      let result: HashResult;
      try {
        result = hashSmallFileSync(item.src, item.partSizes, scratch);
      } catch (err) {
        failed(item, err);
        continue;
      }
      done(item, result);
    }
    return;
  }
  // Handed to a lane and not finished: failed, rather than left waiting, if the lanes break.
  const inLanes = new Set<T>();
  try {
    lanes.hash((take) => readIntoLane(take));
  } catch (err) {
    for (const item of inLanes) failed(item, err);
  }

  function readIntoLane(take: LaneTake): LaneInput | undefined {
    for (let item = next(); item; item = next()) {
      let read: ReturnType<typeof readWholeSync>;
      try {
        // A file grown past what a lane holds is read into the scratch buffer and hashed at once.
        read = readWholeSync(item.src, { take: (n) => take(n) ?? scratch.take(n) });
      } catch (err) {
        failed(item, err);
        continue;
      }
      const { data } = read;
      const sizes = [...new Set(item.partSizes)];
      if (sizes.some((ps) => ps < data.length)) {
        done(item, hashBytes(data, sizes, read));
        continue;
      }
      const it = item;
      inLanes.add(it);
      return {
        bytes: data,
        done: (md5) => {
          inLanes.delete(it);
          done(it, onePart(md5, data, sizes, read));
        },
      };
    }
    return undefined;
  }
}

/** hashSmallFileSync's result for bytes already read. */
function hashBytes(data: Buffer, partSizes: number[], read: { stat: FileStat; stable: boolean }): HashResult {
  const multipart: Record<number, string> = {};
  const partMd5s: Record<number, Buffer[]> = {};
  for (const ps of new Set(partSizes)) {
    const p = new PartHasher(ps);
    p.update(data);
    multipart[ps] = p.finish();
    partMd5s[ps] = p.digests;
  }
  return { md5: md5Hex(data), size: data.length, multipart, partMd5s, stat: read.stat, stable: read.stable };
}
