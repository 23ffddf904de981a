import type { HashResult } from '../local/hash.js';

/** An object as one ListObjectsV2 page describes it; rel is the key minus the prefix. */
export interface RemoteObject {
  rel: string;
  key: string;
  size: number;
  /** Without quotes. */
  etag: string;
  lastModified: number;
  /** From a HEAD, when one was needed (x-amz-meta-md5 for opaque ETags). */
  metaMd5?: string;
}

export type UploadReason = 'new' | 'size-changed' | 'content-changed' | 'remote-drift' | 'forced';
export type DownloadReason = 'new' | 'size-changed' | 'content-changed' | 'remote-changed' | 'forced';

/** What the planner may ask for before it can decide a file: facts cost I/O, so it asks for the least. */
export type Need =
  | { kind: 'listing' }
  | { kind: 'hash'; rel: string; size: number; partSizes: number[] }
  | { kind: 'head'; rel: string };

/** Facts gathered so far, handed back to the planner. */
export interface Facts {
  /** The remote listing by rel; undefined until listed. */
  remote?: Map<string, RemoteObject>;
  hashes: Map<string, HashResult>;
  /** HEAD results (only metaMd5 is used). */
  heads: Map<string, { metaMd5?: string }>;
}

export const emptyFacts = (): Facts => ({ hashes: new Map(), heads: new Map() });
