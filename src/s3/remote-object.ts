/** An object as one ListObjectsV2 page describes it; rel is the key minus the prefix. */
export interface RemoteObject {
  rel: string;
  key: string;
  size: number;
  /** Without quotes. */
  etag: string;
  lastModified: number;
  /** As the listing names it (GLACIER, DEEP_ARCHIVE, …); absent when it names none (STANDARD). */
  storageClass?: string;
  /** From a HEAD, when one was needed (x-amz-meta-md5 for opaque ETags). */
  metaMd5?: string;
}
