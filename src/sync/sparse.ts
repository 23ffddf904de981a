/**
 * pull --sparse: the blocks of a download that hold only zeros are not written, so the file system
 * leaves holes there (as rsync -S and restic restore --sparse do) and a VM image or a database file
 * with large zero regions does not fill the disk with zeros. Blocks are cut on the file's own grid
 * (offsets from its start), whatever the chunks the body arrives in; a block split between two chunks
 * is judged by each chunk's share of it. Skipping is only right where the file reads as zeros already:
 * a temp file just created or truncated. A kept file (a resumed download) is checked where it is
 * skipped (see ranged-download.ts). A file system that holds no holes (FAT through fusefat refuses the
 * write past the end that follows a block skipped, and the length that covers trailing ones) gets the
 * zeros written instead, as rsync --sparse writes them there (see InOrder in temp-file.ts).
 */

/** The smallest and largest block judged: a smaller one saves no space, a larger one fewer holes. */
const MIN_BLOCK = 4096;
const MAX_BLOCK = 1024 * 1024;

const ZEROS = Buffer.alloc(MAX_BLOCK);

/** Zeros to write, `n` of them at most `MAX_BLOCK`; never written into (the buffer is shared). */
export const zeros = (n: number): Buffer => ZEROS.subarray(0, Math.min(n, MAX_BLOCK));

/** How a download's file is written: its zero blocks of `block` bytes skipped, or every byte. */
export interface SparseWrite {
  block: number;
}

/**
 * The block size to judge by, from the file's `st_blksize`: a power of two within the bounds above, as
 * a file system that reports a sector-sized one still allocates in larger units, and one that reports
 * none or an odd size gets the common page-sized block.
 */
export function sparseBlock(blksize: number): number {
  if (!Number.isInteger(blksize) || blksize <= 0 || (blksize & (blksize - 1)) !== 0) return MIN_BLOCK;
  return Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, blksize));
}

/** Whether `buf[start, end)` is all zeros (memcmp against a zero buffer, no loop in JS). */
export function allZero(buf: Buffer, start = 0, end = buf.length): boolean {
  for (let at = start; at < end; at += MAX_BLOCK) {
    const stop = Math.min(end, at + MAX_BLOCK);
    if (!buf.subarray(at, stop).equals(ZEROS.subarray(0, stop - at))) return false;
  }
  return true;
}

/**
 * The spans `[start, end)` of `buf` to write when it goes at file offset `pos`: each piece of it on
 * one block of the file's grid is kept unless it is all zeros, and adjacent pieces kept are merged
 * into one write. Without `sparse`, all of it in one span.
 */
export function dataSpans(buf: Buffer, pos: number, sparse: SparseWrite | undefined): [number, number][] {
  if (buf.length === 0) return [];
  if (!sparse) return [[0, buf.length]];
  const { block } = sparse;
  const spans: [number, number][] = [];
  let start = 0;
  while (start < buf.length) {
    // To the next multiple of the block in the file, so holes line up with the file system's blocks.
    const end = Math.min(buf.length, start + block - ((pos + start) % block));
    if (!allZero(buf, start, end)) {
      const last = spans[spans.length - 1];
      if (last !== undefined && last[1] === start) last[1] = end;
      else spans.push([start, end]);
    }
    start = end;
  }
  return spans;
}

/** The complement of `dataSpans`: the spans left unwritten, for a file that may not read as zeros there. */
export function zeroSpans(length: number, data: readonly [number, number][]): [number, number][] {
  const gaps: [number, number][] = [];
  let at = 0;
  for (const [s, e] of data) {
    if (s > at) gaps.push([at, s]);
    at = e;
  }
  if (at < length) gaps.push([at, length]);
  return gaps;
}
