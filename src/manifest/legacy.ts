import { usageError } from '../errors.js';

/**
 * The manifest the original Python script wrote to `database/.s3_sync_manifest.json`:
 *
 *   {"version": "1.0", "last_sync": "2024-05-01T12:00:00",
 *    "files": {"<s3 key>": {"local_path": "database/x.sql", "size": 123, "md5": "<hex>",
 *                           "uploaded_at": "2024-..."}}}
 */
export interface LegacyEntry {
  key: string;
  localPath: string;
  size: number;
  /** Lower-case hex. */
  md5: string;
  uploadedAt?: string;
}

export interface LegacyManifest {
  lastSync?: string;
  entries: LegacyEntry[];
  /** Keys of entries that were ignored: missing/invalid local_path, size or md5. */
  skipped: string[];
}

const MD5_HEX = /^[0-9a-f]{32}$/i;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Version "1.0" and a `files` object whose values all have `local_path`, `size` and `md5`. */
export function isLegacyManifest(json: unknown): boolean {
  return notLegacyReason(json) === undefined;
}

/** Why a JSON document is not a Python-script manifest s3sync can adopt; undefined when it is one. */
export function notLegacyReason(json: unknown): string | undefined {
  if (!isPlainObject(json)) return 'JSON, but not an object';
  if (json.version !== '1.0' || !isPlainObject(json.files)) {
    return 'JSON of another kind';
  }
  for (const [key, e] of Object.entries(json.files)) {
    if (!(isPlainObject(e) && 'local_path' in e && 'size' in e && 'md5' in e)) {
      return `the Python script's format, but its entry ${describe(key)} has no local_path, size and md5`;
    }
  }
  return undefined;
}

/**
 * Parses a legacy manifest (already JSON.parse'd). Throws a usage error with a one-line message when
 * the document itself is malformed; entries with a missing or invalid local_path, size (a
 * non-negative integer) or md5 (32 hex characters) are left out and their keys listed in `skipped`.
 */
export function parseLegacyManifest(json: unknown): LegacyManifest {
  if (!isPlainObject(json)) throw usageError('legacy manifest: not a JSON object');
  if (json.version !== '1.0') {
    throw usageError(`legacy manifest: unsupported version ${describe(json.version)} (expected "1.0")`);
  }
  const files = json.files;
  if (!isPlainObject(files)) throw usageError("legacy manifest: 'files' is missing or not an object");

  const entries: LegacyEntry[] = [];
  const skipped: string[] = [];
  for (const [key, raw] of Object.entries(files)) {
    if (key === '' || !isPlainObject(raw)) {
      skipped.push(key);
      continue;
    }
    const { local_path: localPath, size, md5, uploaded_at: uploadedAt } = raw;
    if (
      typeof localPath !== 'string' ||
      localPath === '' ||
      typeof size !== 'number' ||
      !Number.isSafeInteger(size) ||
      size < 0 ||
      typeof md5 !== 'string' ||
      !MD5_HEX.test(md5)
    ) {
      skipped.push(key);
      continue;
    }
    const entry: LegacyEntry = { key, localPath, size, md5: md5.toLowerCase() };
    if (typeof uploadedAt === 'string') entry.uploadedAt = uploadedAt;
    entries.push(entry);
  }

  const result: LegacyManifest = { entries, skipped };
  if (typeof json.last_sync === 'string') result.lastSync = json.last_sync;
  return result;
}

function describe(v: unknown): string {
  if (v === undefined) return '(none)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}
