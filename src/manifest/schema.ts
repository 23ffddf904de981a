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

/** Quoting is needed for a path with a tab, newline, backslash or leading quote. */
const needsQuoting = (rel: string) =>
  rel.charCodeAt(0) === 34 ||
  rel.includes('\t') ||
  rel.includes('\n') ||
  rel.includes('\r') ||
  rel.includes('\\');

/** `=` stands for "same as": an ETag equal to the MD5 (single PUT), a ctime equal to the mtime. */
const SAME = '=';

export function encodeManifest(data: ManifestData): string {
  const { files, ...header } = data;
  const out: string[] = [JSON.stringify({ ...header, columns: COLUMNS })];
  let n = 0;
  for (const rel in files) {
    const e = files[rel]!;
    const r = needsQuoting(rel) ? JSON.stringify(rel) : rel;
    const ctime = e.ctimeNs === e.mtimeNs ? SAME : e.ctimeNs;
    const etag = e.etag === e.md5 ? SAME : e.etag;
    out.push(
      `${r}\t${e.size}\t${e.mtimeNs}\t${ctime}\t${e.ino}\t${e.md5}\t${etag}\t${e.partSize}\t${e.syncedAt}`,
    );
    n++;
  }
  out.push(`#end ${n}`, '');
  return out.join('\n');
}

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
  // indexOf over the text rather than split(): 100k lines, no intermediate arrays.
  const files: Record<string, ManifestEntry> = {};
  const tabs = new Array<number>(COLUMNS.length - 1);
  let n = 0;
  let ended = false;
  let pos = nl < 0 ? text.length : nl + 1;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (end === pos) {
      pos++;
      continue;
    }
    if (ended) return 'data after its end line';
    if (text.startsWith('#end ', pos)) {
      if (Number(text.slice(pos + 5, end)) !== n) return 'its entry count does not match (truncated?)';
      ended = true;
      pos = end + 1;
      continue;
    }
    let at = pos;
    for (let i = 0; i < tabs.length; i++) {
      const t = text.indexOf('\t', at);
      if (t < 0 || t > end) return `line ${n + 2} is malformed`;
      tabs[i] = t;
      at = t + 1;
    }
    if (text.indexOf('\t', at) !== -1 && text.indexOf('\t', at) < end) return `line ${n + 2} is malformed`;
    const field = (i: number) =>
      text.slice(i === 0 ? pos : tabs[i - 1]! + 1, i === tabs.length ? end : tabs[i]!);
    let rel = field(0);
    if (rel.charCodeAt(0) === 34) {
      try {
        rel = JSON.parse(rel) as string;
      } catch {
        return `line ${n + 2} has a malformed path`;
      }
    }
    const size = Number(field(1));
    const partSize = Number(field(7));
    const mtimeNs = field(2);
    const ctime = field(3);
    const md5 = field(5);
    const etag = field(6);
    if (
      !Number.isSafeInteger(size) ||
      !Number.isSafeInteger(partSize) ||
      md5.length !== 32 ||
      mtimeNs === ''
    ) {
      return `line ${n + 2} is malformed`;
    }
    files[rel] = {
      size,
      mtimeNs,
      ctimeNs: ctime === SAME ? mtimeNs : ctime,
      ino: field(4),
      md5,
      etag: etag === SAME ? md5 : etag,
      partSize,
      syncedAt: field(8),
    };
    n++;
    pos = end + 1;
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
