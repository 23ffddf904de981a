import type { HashResult } from '../local/hash.js';
import type { RemoteObject } from '../s3/remote-object.js';

// The listing's shape is the transport's; the planner only reads it.
export type { RemoteObject };

export type UploadReason =
  | 'new'
  | 'size-changed'
  | 'content-changed'
  | 'remote-drift'
  | 'forced'
  /** The file is to be stored compressed and is not, or the other way round (--compress changed). */
  | 'encoding-changed'
  /** New headers for unchanged content, on a store that cannot copy (or with a library pass-through). */
  | 'headers-changed';
/** `local-changed`: the object is as the last sync left it, the local file was edited since. */
export type DownloadReason =
  | 'new'
  | 'size-changed'
  | 'content-changed'
  | 'remote-changed'
  | 'local-changed'
  | 'forced';

/** What the planner may ask for before it can decide a file: facts cost I/O, so it asks for the least. */
export type Need =
  | { kind: 'listing' }
  | { kind: 'hash'; rel: string; size: number; partSizes: number[] }
  | { kind: 'head'; rel: string };

/** What a HEAD told of an object. */
export interface Head {
  metaMd5?: string;
  restore?: string;
  sourceMd5?: string;
  /** Part 1's size, the object's part count matching its ETag's: the part size its uploader used. */
  firstPartSize?: number;
}

/** Facts gathered so far, handed back to the planner. */
export interface Facts {
  /** The remote listing by rel; undefined until listed. */
  remote?: Map<string, RemoteObject>;
  hashes: Map<string, HashResult>;
  /**
   * HEAD results: x-amz-meta-md5, x-amz-restore (an archived object), x-amz-meta-s3sync-source-md5
   * (stored compressed), and for a multipart ETag the size of its part 1 where the store tells it.
   */
  heads: Map<string, Head>;
}

export const emptyFacts = (): Facts => ({ hashes: new Map(), heads: new Map() });
