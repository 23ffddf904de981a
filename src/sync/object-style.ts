/**
 * The headers each uploaded object gets: the first per-pattern rule matching its path (`headers`,
 * `--header-for`) over the run's global settings (--cache-control, --storage-class), whether it is
 * stored gzip-compressed (--compress), and the library's `objectParams` pass-through.
 */
import { createHash } from 'node:crypto';
import type { PutObjectCommandInput } from '@aws-sdk/client-s3';
import { usageError } from '../errors.js';
import { globMatcher, segmentGlob } from '../local/filters.js';
import type { HeaderRule, ObjectStyle } from '../options/header-rules.js';
import { CHECKSUM_FIELDS, checkPutObjectFields } from '../options/object-params.js';
import { shown } from '../options/parse.js';
import { setting } from '../options/validate.js';
import type { ObjectHeaders } from '../s3/requests.js';

/** The library's pass-through: PutObject / CreateMultipartUpload fields the options table does not name. */
export type ObjectParamsFn = (file: { rel: string; size: number }) => Partial<PutObjectCommandInput>;

/**
 * Fields the pass-through may not set: those s3sync sends itself to address, size and check each
 * request, and those an option of the table names (set them through the option, where s3sync knows
 * of them and tracks changes).
 */
export const CONTROLLED: ReadonlySet<string> = new Set([
  'Bucket',
  'Key',
  'Body',
  'ContentLength',
  'ContentMD5',
  ...CHECKSUM_FIELDS,
  'IfMatch',
  'IfNoneMatch',
  'ExpectedBucketOwner',
  'ContentType',
  'CacheControl',
  'ContentEncoding',
  'ContentDisposition',
  'StorageClass',
  'Metadata',
  'ACL',
  'ServerSideEncryption',
  'SSEKMSKeyId',
]);

/** GZIP: every browser and CDN decodes it (brotli is not universal over plain HTTP), and S3 serves it as stored. */
export const COMPRESSED_ENCODING = 'gzip';
/** x-amz-meta-s3sync-source-md5: the MD5 of the file before compression, which pull verifies. */
export const SOURCE_MD5_META = 's3sync-source-md5';
/** x-amz-meta-s3sync-source-size: its size, beyond which pull stops decompressing (a gzip bomb). */
export const SOURCE_SIZE_META = 's3sync-source-size';

/** The digest a manifest entry records of the rule applied: short, stable across key order. */
export function styleDigest(style: ObjectStyle): string {
  const sorted = (o: object): unknown =>
    Object.fromEntries(
      Object.entries(o)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, typeof v === 'object' && v !== null ? sorted(v) : v]),
    );
  return createHash('md5')
    .update(JSON.stringify(sorted(style)))
    .digest('hex')
    .slice(0, 16);
}

/** The first rule whose glob matches, by index; -1 for none. Pure. */
export function firstMatch(matchers: readonly ((rel: string) => boolean)[], rel: string): number {
  for (let i = 0; i < matchers.length; i++) if (matchers[i]!(rel)) return i;
  return -1;
}

export interface ObjectStyles {
  /** Whether any rule, compression or pass-through is configured: a run without them changes nothing here. */
  readonly active: boolean;
  /** What the planner is told: absent functions for what is not configured, so those runs pay nothing. */
  readonly plan: {
    styleOf?: (rel: string) => string | undefined;
    compressed?: (rel: string) => boolean;
  };
  /** The digest of the rule for a path, as the manifest records it; undefined: no rule. */
  digestOf(rel: string): string | undefined;
  /** Whether the path is stored compressed. */
  compressed(rel: string): boolean;
  /** Whether a library pass-through is set (its fields are not tracked, so a copy cannot restore them). */
  readonly passThrough: boolean;
  /** What the object at `rel` is sent with, beyond s3sync's own metadata; `contentType` from the name. */
  headersFor(file: { rel: string; size: number }, contentType: string): ResolvedHeaders;
  /** The one-segment globs of the rules and --compress that name one of `folders`: they match files only. */
  namesMissingFolders(folders: Iterable<string>): FileGlobNamingFolder[];
}

export interface FileGlobNamingFolder {
  glob: string;
  folder: string;
  from: '--header-for' | '--compress';
  wildcard: boolean;
}

export interface ResolvedHeaders extends ObjectHeaders {
  contentType: string;
  metadata: Record<string, string>;
  /** The manifest's record of the rule (ManifestEntry.style). */
  digest?: string;
}

/** Compiles the run's rules; bad globs and pass-through values are usage errors before anything runs. */
export function createObjectStyles(opts: {
  headers?: HeaderRule[];
  compress?: string[];
  objectParams?: unknown;
}): ObjectStyles {
  const rules: HeaderRule[] = setting(opts, 'headers') ?? [];
  const compress = setting(opts, 'compress') ?? [];
  const fn = opts.objectParams;
  if (fn !== undefined && typeof fn !== 'function')
    throw usageError(`option objectParams must be a function of the file, got ${shown(fn)}`);
  const ruleMatchers = rules.map((r) => globMatcher(r.match, '--header-for'));
  const compressMatchers = compress.map((g) => globMatcher(g, '--compress'));
  const digests = rules.map(({ match: _m, ...style }) => styleDigest(style));
  const extra = (file: { rel: string; size: number }): Record<string, unknown> | undefined => {
    if (!fn) return undefined;
    const v: unknown = (fn as ObjectParamsFn)(file);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null) throw usageError('objectParams must return an object');
    // An async function's fields would come after the request went: refused, never silently dropped.
    if (typeof (v as { then?: unknown }).then === 'function') {
      // Its rejection, never awaited, would otherwise be an unhandled one that ends the process.
      (v as PromiseLike<unknown>).then(undefined, () => {});
      throw usageError('objectParams must return the fields, not a promise: make it a plain function');
    }
    checkPutObjectFields(v, CONTROLLED);
    return v as Record<string, unknown>;
  };
  const segments = [
    ...rules.map((r) => ['--header-for', r.match] as const),
    ...compress.map((g) => ['--compress', g] as const),
  ].flatMap(([from, glob]) => {
    const segment = segmentGlob(glob.trim());
    return segment ? [{ from, glob: glob.trim(), ...segment }] : [];
  });
  const namesMissingFolders = (folders: Iterable<string>): FileGlobNamingFolder[] => {
    if (segments.length === 0) return [];
    const found = new Map<(typeof segments)[number], string>();
    for (const f of folders) {
      const base = f.slice(f.lastIndexOf('/') + 1);
      for (const e of segments) if (!found.has(e) && e.name(base)) found.set(e, f);
      if (found.size === segments.length) break;
    }
    return segments.flatMap((e) => {
      const folder = found.get(e);
      return folder === undefined ? [] : [{ glob: e.glob, folder, from: e.from, wildcard: e.wildcard }];
    });
  };
  const digestOf = (rel: string) => digests[firstMatch(ruleMatchers, rel)];
  const compressed = (rel: string) => compressMatchers.some((m) => m(rel));
  return {
    plan: {
      styleOf: rules.length > 0 ? digestOf : undefined,
      compressed: compress.length > 0 ? compressed : undefined,
    },
    active: rules.length > 0 || compress.length > 0 || fn !== undefined,
    passThrough: fn !== undefined,
    digestOf,
    compressed,
    namesMissingFolders,
    headersFor(file, contentType) {
      const i = firstMatch(ruleMatchers, file.rel);
      const rule: ObjectStyle = i < 0 ? {} : (rules[i] as ObjectStyle);
      const gz = compressMatchers.some((m) => m(file.rel));
      return {
        contentType: rule.contentType ?? contentType,
        metadata: { ...rule.metadata },
        cacheControl: rule.cacheControl,
        contentEncoding: gz ? COMPRESSED_ENCODING : rule.contentEncoding,
        contentDisposition: rule.contentDisposition,
        storageClass: rule.storageClass,
        extra: extra(file),
        digest: digests[i],
      };
    },
  };
}
