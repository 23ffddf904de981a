import { usageError } from '../errors.js';
import { unsafeKeyReason } from '../local/safe-path.js';

export interface S3Location {
  bucket: string;
  /** Key prefix, '' or ending in '/'. */
  prefix: string;
}

/** Parses `s3://bucket/some/prefix` (a trailing slash is implied: the prefix names a folder). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw usageError(`not an S3 URL: '${url}' (expected s3://bucket/prefix)`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(bucket)) throw usageError(`invalid bucket name in '${url}'`);
  let prefix = (m[2] ?? '').replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  return { bucket, prefix };
}

/**
 * An S3 URL s3sync writes under (a push or sync destination, a backup location), parsed: its prefix
 * must be one a pull could bring back, so no `.`, `..` or empty segment, backslash or control
 * character (a path's spelling, `x/../y`, is not resolved by S3: it would be the keys' names).
 */
export function writableS3Url(url: string, what: string): S3Location {
  const loc = parseS3Url(url);
  // A name after it, as every key written there has: `x//` is then an empty segment, not a marker.
  const why = unsafeKeyReason(`${loc.prefix}name`);
  if (why !== null)
    throw usageError(
      `${what} ${JSON.stringify(url)}: its prefix ${why}, which S3 keeps in every key (a pull could not write them): write the prefix without it`,
    );
  return loc;
}

// A library caller's value may be anything: only a string is a URL.
export const isS3Url = (s: unknown): boolean => typeof s === 'string' && s.startsWith('s3://');

export const formatS3Url = (loc: S3Location) => `s3://${loc.bucket}/${loc.prefix}`;
