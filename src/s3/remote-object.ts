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
  /** Set in a listing as at a past time (--at): the version that was current then. */
  versionId?: string;
  /** With versionId: whether that version is still the current object. */
  isLatest?: boolean;
}

/** One entry of ListObjectVersions: a version of an object, or a delete marker. */
export interface ObjectVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  /** Milliseconds since the epoch. */
  lastModified: number;
  deleteMarker: boolean;
  /** 0 for a delete marker. */
  size: number;
  /** Without quotes; '' for a delete marker. */
  etag: string;
  /** As RemoteObject's: absent when the listing names none or STANDARD (and for a delete marker). */
  storageClass?: string;
}
