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

/**
 * On disk: one JSON header line, then one tab-separated line per file in the order `columns` names
 * (`rel size mtimeNs ctimeNs ino md5 etag partSize syncedAt`), then `#end <count>`. A person can read and
 * grep it, 100k entries split and parse in tens of milliseconds, and the end line exposes a file cut
 * short at a line boundary. A rel path holding a tab, newline, backslash or leading quote is written as
 * a JSON string.
 */
export const COLUMNS = [
  'rel',
  'size',
  'mtimeNs',
  'ctimeNs',
  'ino',
  'md5',
  'etag',
  'partSize',
  'syncedAt',
] as const;

const needsQuoting = /[\t\n\r\\]|^"/;

export function encodeManifest(data: ManifestData): string {
  const { files, ...header } = data;
  const out: string[] = [JSON.stringify({ ...header, columns: COLUMNS })];
  let n = 0;
  for (const rel in files) {
    const e = files[rel]!;
    const r = needsQuoting.test(rel) ? JSON.stringify(rel) : rel;
    out.push(
      `${r}\t${e.size}\t${e.mtimeNs}\t${e.ctimeNs}\t${e.ino}\t${e.md5}\t${e.etag}\t${e.partSize}\t${e.syncedAt}`,
    );
    n++;
  }
  out.push(`#end ${n}`, '');
  return out.join('\n');
}

const HEX32 = /^[0-9a-f]{32}$/;

/** The manifest, or why it cannot be trusted. */
export function decodeManifest(text: string, destination: Destination): ManifestData | string {
  const nl = text.indexOf('\n');
  let d: Partial<ManifestData> & { columns?: unknown };
  try {
    d = JSON.parse(nl < 0 ? text : text.slice(0, nl));
  } catch {
    return 'its header is not valid JSON';
  }
  if (typeof d !== 'object' || d === null) return 'not a JSON object';
  if (d.schema !== MANIFEST_SCHEMA) return 'not an s3sync manifest';
  if (d.version !== MANIFEST_VERSION) return `schema version ${String(d.version)} is not ${MANIFEST_VERSION}`;
  if (!d.destination || !sameDestination(d.destination, destination)) {
    const o = d.destination;
    return `it belongs to another destination (${o ? `${o.endpoint} s3://${o.bucket}/${o.prefix}` : 'none'})`;
  }
  if (JSON.stringify(d.columns) !== JSON.stringify(COLUMNS)) return 'unknown columns';
  if (!isStr(d.writtenAtNs)) return 'no write time';
  const lines = text.slice(nl + 1).split('\n');
  const files: Record<string, ManifestEntry> = {};
  let n = 0;
  let ended = false;
  for (const line of lines) {
    if (line === '') continue;
    if (ended) return 'data after its end line';
    if (line.startsWith('#end ')) {
      if (Number(line.slice(5)) !== n) return 'its entry count does not match (truncated?)';
      ended = true;
      continue;
    }
    const f = line.split('\t');
    if (f.length !== COLUMNS.length) return `line ${n + 2} is malformed`;
    let rel = f[0]!;
    if (rel.startsWith('"')) {
      try {
        rel = JSON.parse(rel) as string;
      } catch {
        return `line ${n + 2} has a malformed path`;
      }
    }
    const size = Number(f[1]);
    const partSize = Number(f[7]);
    const md5 = f[5]!;
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(partSize) || !HEX32.test(md5)) {
      return `line ${n + 2} is malformed`;
    }
    files[rel] = {
      size,
      mtimeNs: f[2]!,
      ctimeNs: f[3]!,
      ino: f[4]!,
      md5,
      etag: f[6]!,
      partSize,
      syncedAt: f[8]!,
    };
    n++;
  }
  if (!ended) return 'it has no end line (truncated?)';
  return {
    schema: MANIFEST_SCHEMA,
    version: MANIFEST_VERSION,
    destination: d.destination,
    lastSync: d.lastSync ?? null,
    writtenAtNs: d.writtenAtNs,
    files,
    pending: typeof d.pending === 'object' && d.pending !== null ? d.pending : {},
  };
}
