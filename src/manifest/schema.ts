import { DISPLAY_UNSAFE, jsonText } from '../escape.js';

/**
 * The manifest records, per destination, what s3sync knows to be true of each file and its object:
 * the stat data that proves the local file unchanged, its MD5, and the object's ETag. The file format
 * is described at `encodeManifestTo`.
 */
export const MANIFEST_SCHEMA = 's3sync-manifest';
export const MANIFEST_VERSION = 1;

export interface Destination {
  /** The store's endpoint URL, normalised and without credentials (ResolvedEndpoint.id). */
  endpoint: string;
  bucket: string;
  prefix: string;
  /** `I/N` for a run that owns one shard of the tree (src/shard.ts); absent for the whole tree. */
  shard?: string;
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
  /**
   * Digest of the per-pattern header rule applied to the object (src/sync/object-style.ts); absent: no
   * rule, the object carries the run's global settings. A rule that changes is applied by a copy.
   */
  style?: string;
  /** Size of the stored object when it is the file gzip-compressed (--compress); absent: stored as is. */
  stored?: number;
}

/** What an entry records of the object beyond its content: see ManifestEntry.style and .stored. */
export type ObjectForm = Pick<ManifestEntry, 'style' | 'stored'>;

/**
 * A manifest entry from the file's stat data and what is known of its content. Built field by field:
 * an object spread (`{ ...stat, md5, … }`) takes V8's slow path, which a rebuild pays once per file.
 */
export function manifestEntry(
  stat: Pick<ManifestEntry, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino'>,
  content: Pick<ManifestEntry, 'md5' | 'etag' | 'partSize'> & ObjectForm,
  syncedAt = new Date().toISOString(),
): ManifestEntry {
  const e: ManifestEntry = {
    size: stat.size,
    mtimeNs: stat.mtimeNs,
    ctimeNs: stat.ctimeNs,
    ino: stat.ino,
    md5: content.md5,
    etag: content.etag,
    partSize: content.partSize,
    syncedAt,
  };
  if (content.style !== undefined) e.style = content.style;
  if (content.stored !== undefined) e.stored = content.stored;
  return e;
}

/**
 * A multipart upload in progress, kept so an interrupted run resumes from its completed parts, or
 * aborts it: written to disk before CreateMultipartUpload is sent, and removed only once nothing it
 * may name can remain on the server (see src/sync/pending.ts).
 */
export interface PendingUpload {
  /** '' while CreateMultipartUpload's answer is not known (sent, or lost with a killed run). */
  uploadId: string;
  key: string;
  size: number;
  mtimeNs: string;
  md5: string;
  partSize: number;
  /** ETags of the parts that completed, by part number. */
  parts: Record<number, string>;
  startedAt: string;
  /**
   * paramsDigest of the headers the upload was created with (type, metadata, storage class, ACL, …):
   * a run that would send others starts a new upload. Absent in records of older versions: never resumed.
   */
  params?: string;
  /**
   * While uploads other than `uploadId` may exist at the key: an attempt of CreateMultipartUpload failed
   * (its answer lost, or never seen because the run was killed), and the server may have created an
   * upload nobody knows the id of. Times on this machine's clock, ms since epoch: the first request
   * went out at `sentAt`, the last answer or failure came at `endedAt` (absent: never seen).
   */
  create?: { sentAt: number; endedAt?: number };
}

export interface ManifestData {
  schema: typeof MANIFEST_SCHEMA;
  version: number;
  destination: Destination;
  /** Last time a run completed, ISO 8601. */
  lastSync: string | null;
  /**
   * When the last complete listing of the destination that this manifest was checked against began,
   * ISO 8601; null if none was (a manifest from before this field lists once, see --verify-interval).
   */
  listedAt: string | null;
  /** Wall clock of this write, ns since epoch: files with mtime >= this are "racily clean". */
  writtenAtNs: string;
  /** rel path → entry. A Map: at this scale its insertions and lookups cost far less than an object's. */
  files: Map<string, ManifestEntry>;
  /**
   * Rel paths of files pushed from here that are gone here, their objects not yet seen deleted: the
   * record that a file of this tree stood for each key, which push --delete needs for a key pull refuses
   * (see withDeletes in src/plan/push.ts) once the entry is gone. In the header line, and only when
   * there is any, so manifests without it read as before.
   */
  vanished: Set<string>;
  pending: Record<string, PendingUpload>;
}

export const sameDestination = (a: Destination, b: Destination) =>
  a.endpoint === b.endpoint && a.bucket === b.bucket && a.prefix === b.prefix && a.shard === b.shard;

export function emptyManifest(destination: Destination): ManifestData {
  return {
    schema: MANIFEST_SCHEMA,
    version: MANIFEST_VERSION,
    destination,
    lastSync: null,
    listedAt: null,
    writtenAtNs: '0',
    files: new Map(),
    vanished: new Set(),
    pending: {},
  };
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/**
 * On disk (see `encodeManifestTo`): one JSON header line, then one tab-separated line per file in the order `columns` names
 * (`rel size mtimeNs ctimeNs ino md5 etag partSize syncedAt`), then `#end <count>`. A person can read and
 * grep it, 100k entries split and parse in tens of milliseconds, and the end line exposes a file cut
 * short at a line boundary. A rel path that would not read back as itself, or not show as itself, is
 * written as a JSON string (see `needsQuoting`).
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

/**
 * The columns of a manifest in which some entry records an object form (a header rule's digest, a
 * compressed size); `-` stands for none. A manifest without any is written with COLUMNS alone, as
 * before, so versions that predate these columns still read it.
 */
export const FORM_COLUMNS = [...COLUMNS, 'style', 'stored'] as const;
const NONE = '-';
const hasForm = (files: ReadonlyMap<string, ManifestEntry>) => {
  let found = false;
  // forEach, not for…of: see encodeManifestTo.
  files.forEach((e) => {
    if (e.style !== undefined || e.stored !== undefined) found = true;
  });
  return found;
};

/**
 * A path is quoted when it starts with `"` (the decoder's sign of a quoted path) or `#` (so no path
 * line can pass for the end line), starts or ends with white space (which an editor or a reader would
 * lose), or holds a tab, a line break, a backslash or anything else that does not display as itself
 * (see DISPLAY_UNSAFE). Any other path is written as it is: one regular-expression test per file.
 */
function needsQuoting(rel: string): boolean {
  const first = rel.charCodeAt(0);
  return (
    first === 34 ||
    first === 35 ||
    isSpace(first) ||
    isSpace(rel.charCodeAt(rel.length - 1)) ||
    DISPLAY_UNSAFE.test(rel)
  );
}

/** White space as `\s` sees it, tested by code where it can be: this runs once per file on every save. */
const isSpace = (c: number) => c <= 32 || (c > 126 && SPACE.test(String.fromCharCode(c)));
const SPACE = /\s/;

/** `=` stands for "same as": an ETag equal to the MD5 (single PUT), a ctime equal to the mtime. */
const SAME = '=';

/**
 * Hands the encoded manifest to `write` in chunks of about 64 KiB: one string per file joined at the
 * end costs three times as much in allocation and garbage collection at 100k entries.
 */
export function encodeManifestTo(data: ManifestData, write: (chunk: string) => void): void {
  const { files, vanished, ...header } = data;
  const form = hasForm(files);
  const gone = vanished.size > 0 ? { vanished: [...vanished] } : {};
  let out = `${JSON.stringify({ ...header, ...gone, columns: form ? FORM_COLUMNS : COLUMNS })}\n`;
  // forEach, not for…of: a save runs the loop once, mostly before V8 optimises it, and there each step
  // of a Map's iterator (a result object, an entry array) costs several times the line it writes.
  files.forEach((e, rel) => {
    const r = needsQuoting(rel) ? jsonText(rel) : rel;
    const ctime = e.ctimeNs === e.mtimeNs ? SAME : e.ctimeNs;
    const etag = e.etag === e.md5 ? SAME : e.etag;
    const tail = form ? `\t${e.style ?? NONE}\t${e.stored ?? NONE}` : '';
    out += `${r}\t${e.size}\t${e.mtimeNs}\t${ctime}\t${e.ino}\t${e.md5}\t${etag}\t${e.partSize}\t${e.syncedAt}${tail}\n`;
    if (out.length > 65536) {
      write(out);
      out = '';
    }
  });
  write(`${out}#end ${files.size}\n`);
}

export function encodeManifest(data: ManifestData): string {
  const chunks: string[] = [];
  encodeManifestTo(data, (c) => chunks.push(c));
  return chunks.join('');
}

const hasTab = (text: string, from: number, to: number) => {
  const t = text.indexOf('\t', from);
  return t >= 0 && t < to;
};

/** The manifest, or why it cannot be trusted. */
export function decodeManifest(text: string, destination: Destination): ManifestData | string {
  const nl = text.indexOf('\n');
  const d = new ManifestDecoder(destination);
  return (
    d.head(nl < 0 ? text : text.slice(0, nl)) ?? d.lines(text, nl < 0 ? text.length : nl + 1) ?? d.finish()
  );
}

type Header = Partial<Omit<ManifestData, 'vanished'>> & { columns?: unknown; vanished?: unknown };

const isCount = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** `rec` as a PendingUpload of `rel` at `prefix` if every field has the shape this version writes, else undefined. */
function pendingShape(rel: string, rec: unknown, prefix: string): PendingUpload | undefined {
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return undefined;
  const r = rec as Record<string, unknown>;
  const { parts, create } = r;
  if (
    !isStr(r.uploadId) ||
    r.key !== prefix + rel ||
    rel === '' ||
    !isCount(r.size, 0) ||
    !isStr(r.mtimeNs) ||
    !/^\d{1,25}$/.test(r.mtimeNs) ||
    !isStr(r.md5) ||
    !/^[0-9a-f]{32}$/.test(r.md5) ||
    !isCount(r.partSize, 1) ||
    !isStr(r.startedAt) ||
    (r.params !== undefined && !isStr(r.params)) ||
    typeof parts !== 'object' ||
    parts === null ||
    Array.isArray(parts)
  )
    return undefined;
  const p: Record<number, string> = {};
  for (const [n, etag] of Object.entries(parts)) {
    if (!/^[1-9]\d{0,4}$/.test(n) || Number(n) > 10_000 || !isStr(etag) || etag === '') return undefined;
    p[Number(n)] = etag;
  }
  const out: PendingUpload = {
    uploadId: r.uploadId,
    key: r.key,
    size: r.size,
    mtimeNs: r.mtimeNs,
    md5: r.md5,
    partSize: r.partSize,
    parts: p,
    startedAt: r.startedAt,
  };
  if (r.params !== undefined) out.params = r.params as string;
  if (create !== undefined) {
    if (typeof create !== 'object' || create === null) return undefined;
    const c = create as Record<string, unknown>;
    if (!isTime(c.sentAt) || (c.endedAt !== undefined && !isTime(c.endedAt))) return undefined;
    out.create = c.endedAt === undefined ? { sentAt: c.sentAt } : { sentAt: c.sentAt, endedAt: c.endedAt };
  }
  return out;
}

/**
 * The multipart uploads a manifest that cannot be trusted still records in a header that parses: its
 * files are rebuilt from a listing, but an upload it names is known nowhere else and would be left on
 * the server (billing its parts). Only a header of s3sync's for this very destination counts, and only
 * records of exactly the shape this version writes, whatever the header's version: a record of another
 * shape may mean something else.
 */
export function salvagePending(headerLine: string, destination: Destination): Record<string, PendingUpload> {
  let d: Header;
  try {
    d = JSON.parse(headerLine);
  } catch {
    return {};
  }
  if (typeof d !== 'object' || d === null || d.schema !== MANIFEST_SCHEMA) return {};
  const o = d.destination as unknown;
  if (typeof o !== 'object' || o === null || !sameDestination(o as Destination, destination)) return {};
  const pending = d.pending as unknown;
  if (typeof pending !== 'object' || pending === null || Array.isArray(pending)) return {};
  const kept: Record<string, PendingUpload> = {};
  for (const [rel, rec] of Object.entries(pending)) {
    const p = pendingShape(rel, rec, destination.prefix);
    if (p) kept[rel] = p;
  }
  return kept;
}

/**
 * Decodes a manifest given in pieces, each made of whole lines (see loadManifest): the header line to
 * `head`, the rest to `lines` in order, then `finish`. Each says why the manifest cannot be trusted, if
 * it cannot; after that the decoder is not used again.
 */
export class ManifestDecoder {
  private header: Header | undefined;
  private form = false;
  private readonly files = new Map<string, ManifestEntry>();
  private count = 0;
  private ended = false;

  constructor(private readonly destination: Destination) {}

  head(line: string): string | undefined {
    let d: Header;
    try {
      d = JSON.parse(line);
    } catch {
      return 'its header is not valid JSON';
    }
    if (typeof d !== 'object' || d === null) return 'not a JSON object';
    if (d.schema !== MANIFEST_SCHEMA) return 'not an s3sync manifest';
    if (d.version !== MANIFEST_VERSION)
      return `schema version ${JSON.stringify(d.version) ?? 'none'} is not ${MANIFEST_VERSION}`;
    if (!d.destination || !sameDestination(d.destination, this.destination)) {
      const o = d.destination;
      const shard = o?.shard === undefined ? '' : ` shard ${o.shard}`;
      return `it belongs to another destination (${o ? `${o.endpoint} s3://${o.bucket}/${o.prefix}${shard}` : 'none'})`;
    }
    this.form = JSON.stringify(d.columns) === JSON.stringify(FORM_COLUMNS);
    if (!this.form && JSON.stringify(d.columns) !== JSON.stringify(COLUMNS)) return 'unknown columns';
    // A number in a string (BigInt'd when read): anything else is damage, not a crash.
    if (!isStr(d.writtenAtNs) || !/^\d{1,25}$/.test(d.writtenAtNs)) return 'no valid write time';
    this.header = d;
    return undefined;
  }

  /** The lines of `text` from `pos` on; the last may lack its line break only at the end of the file. */
  lines(text: string, pos: number): string | undefined {
    // Locals, not fields, in the loop that runs once per file; written back at the end.
    const { files, form } = this;
    let n = this.count;
    let ended = this.ended;
    // indexOf over the text rather than split(): 100k lines, no intermediate arrays.
    while (pos < text.length) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      if (end === pos) {
        pos++;
        continue;
      }
      if (ended) return 'data after its end line';
      // A line with a tab is a file's: earlier versions wrote a path such as `#end 1` unquoted.
      if (text.charCodeAt(pos) === 35 && text.startsWith('#end ', pos) && !hasTab(text, pos, end)) {
        if (Number(text.slice(pos + 5, end)) !== n) return 'its entry count does not match (truncated?)';
        ended = true;
        pos = end + 1;
        continue;
      }
      // Eight tabs, unrolled: the columns are fixed, and this loop runs once per file.
      const t0 = text.indexOf('\t', pos);
      const t1 = text.indexOf('\t', t0 + 1);
      const t2 = text.indexOf('\t', t1 + 1);
      const t3 = text.indexOf('\t', t2 + 1);
      const t4 = text.indexOf('\t', t3 + 1);
      const t5 = text.indexOf('\t', t4 + 1);
      const t6 = text.indexOf('\t', t5 + 1);
      const t7 = text.indexOf('\t', t6 + 1);
      const t8 = text.indexOf('\t', t7 + 1);
      // A missing tab makes indexOf return -1 and the chain stop rising.
      const rising = t0 > pos && t1 > t0 && t2 > t1 && t3 > t2 && t4 > t3 && t5 > t4 && t6 > t5 && t7 > t6;
      // With the form columns two more tabs, at t8 and t9, and none after them on the line.
      const t9 = form && t8 >= 0 ? text.indexOf('\t', t8 + 1) : -1;
      const last = form ? t9 : t7;
      const after = text.indexOf('\t', last + 1);
      const formOk = !form || (t8 > t7 && t9 > t8);
      if (!rising || !formOk || last > end || (after >= 0 && after < end))
        return `line ${n + 2} is malformed`;
      let rel = text.slice(pos, t0);
      if (rel.charCodeAt(0) === 34) {
        try {
          rel = JSON.parse(rel) as string;
        } catch {
          return `line ${n + 2} has a malformed path`;
        }
      }
      const size = Number(text.slice(t0 + 1, t1));
      const mtimeNs = text.slice(t1 + 1, t2);
      const ctime = text.slice(t2 + 1, t3);
      const md5 = text.slice(t4 + 1, t5);
      const etag = text.slice(t5 + 1, t6);
      const partSize = Number(text.slice(t6 + 1, t7));
      if (
        !Number.isSafeInteger(size) ||
        !Number.isSafeInteger(partSize) ||
        md5.length !== 32 ||
        mtimeNs === ''
      ) {
        return `line ${n + 2} is malformed`;
      }
      const entry: ManifestEntry = {
        size,
        mtimeNs,
        ctimeNs: ctime === SAME ? mtimeNs : ctime,
        ino: text.slice(t3 + 1, t4),
        md5,
        etag: etag === SAME ? md5 : etag,
        partSize,
        syncedAt: text.slice(t7 + 1, form ? t8 : end),
      };
      if (form) {
        const style = text.slice(t8 + 1, t9);
        const stored = text.slice(t9 + 1, end);
        if (style !== NONE) entry.style = style;
        if (stored !== NONE) {
          const n2 = Number(stored);
          if (!Number.isSafeInteger(n2) || n2 < 0) return `line ${n + 2} is malformed`;
          entry.stored = n2;
        }
      }
      files.set(rel, entry);
      n++;
      pos = end + 1;
    }
    this.count = n;
    this.ended = ended;
    return undefined;
  }

  finish(): ManifestData | string {
    const d = this.header;
    if (d === undefined) return 'it has no header';
    if (!this.ended) return 'it has no end line (truncated?)';
    return {
      schema: MANIFEST_SCHEMA,
      version: MANIFEST_VERSION,
      destination: d.destination!,
      lastSync: d.lastSync ?? null,
      listedAt: isStr(d.listedAt) ? d.listedAt : null,
      writtenAtNs: d.writtenAtNs!,
      files: this.files,
      // A path that is no string is damage: dropped, which costs at most a key kept (see withDeletes).
      vanished: new Set(Array.isArray(d.vanished) ? (d.vanished as unknown[]).filter(isStr) : []),
      pending: typeof d.pending === 'object' && d.pending !== null ? d.pending : {},
    };
  }
}
