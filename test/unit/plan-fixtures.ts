import type { HashResult } from '../../src/local/hash.js';
import type { LocalFile } from '../../src/local/scan.js';

/** A stable hash result for a planner test: the file hashed to `hex` (and these multipart ETags). */
export const hashOf = (f: LocalFile, hex: string, multipart: Record<number, string> = {}): HashResult => ({
  md5: hex,
  size: f.size,
  multipart,
  partMd5s: {},
  stat: { size: f.size, mtimeNs: f.mtimeNs, ctimeNs: f.ctimeNs, ino: f.ino, dev: f.dev },
  stable: true,
});
