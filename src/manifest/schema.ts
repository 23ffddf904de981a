/**
 * The manifest records, per destination, what s3sync knows to be true of each file and its object:
 * the stat data that proves the local file unchanged, its MD5, and the object's ETag. It is JSON so a
 * person can read it, with one object per file.
 */
export const MANIFEST_SCHEMA = 's3sync-manifest';
export const MANIFEST_VERSION = 1;

export interface Destination {
  /** Endpoint URL, or 'aws'. */
  endpoint: string;
  bucket: string;
  prefix: string;
}

export interface ManifestEntry {
  size: number;
  /** Local stat data when the entry was recorded (decimal strings: nanoseconds overflow doubles). */
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  /** Hex MD5 of the content. */
  md5: string;
  /** The object's ETag (no quotes), as the server reported it. */
  etag: string;
  /** Part size of the multipart upload that produced the object; 0 for a single PUT. */
  partSize: number;
  /** When s3sync uploaded (or downloaded, or verified) it, ISO 8601. */
  syncedAt: string;
}

/** A multipart upload in progress, kept so an interrupted run resumes from its completed parts. */
export interface PendingUpload {
  uploadId: string;
  key: string;
  size: number;
  mtimeNs: string;
  md5: string;
  partSize: number;
  /** ETags of the parts that completed, by part number. */
  parts: Record<number, string>;
  startedAt: string;
}

export interface ManifestData {
  schema: typeof MANIFEST_SCHEMA;
  version: number;
  destination: Destination;
  /** Last time a run completed, ISO 8601. */
  lastSync: string | null;
  /** Wall clock of this write, ns since epoch: files with mtime >= this are "racily clean". */
  writtenAtNs: string;
  files: Record<string, ManifestEntry>;
  pending: Record<string, PendingUpload>;
}

export const sameDestination = (a: Destination, b: Destination) =>
  a.endpoint === b.endpoint && a.bucket === b.bucket && a.prefix === b.prefix;

export function emptyManifest(destination: Destination): ManifestData {
  return {
    schema: MANIFEST_SCHEMA,
    version: MANIFEST_VERSION,
    destination,
    lastSync: null,
    writtenAtNs: '0',
    files: {},
    pending: {},
  };
}

const isStr = (v: unknown): v is string => typeof v === 'string';

function validEntry(e: unknown): e is ManifestEntry {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  return (
    typeof o.size === 'number' &&
    isStr(o.mtimeNs) &&
    isStr(o.ctimeNs) &&
    isStr(o.ino) &&
    isStr(o.md5) &&
    /^[0-9a-f]{32}$/.test(o.md5) &&
    isStr(o.etag) &&
    typeof o.partSize === 'number'
  );
}

/** Why a parsed manifest cannot be trusted, or null when it can. */
export function manifestProblem(data: unknown, destination: Destination): string | null {
  if (typeof data !== 'object' || data === null) return 'not a JSON object';
  const d = data as Partial<ManifestData>;
  if (d.schema !== MANIFEST_SCHEMA) return 'not an s3sync manifest';
  if (d.version !== MANIFEST_VERSION) return `schema version ${String(d.version)} is not ${MANIFEST_VERSION}`;
  if (!d.destination || !sameDestination(d.destination, destination)) {
    const o = d.destination;
    return `it belongs to another destination (${o ? `${o.endpoint} s3://${o.bucket}/${o.prefix}` : 'none'})`;
  }
  if (typeof d.files !== 'object' || d.files === null) return 'no files table';
  if (!isStr(d.writtenAtNs)) return 'no write time';
  for (const e of Object.values(d.files)) if (!validEntry(e)) return 'a file entry is malformed';
  return null;
}
