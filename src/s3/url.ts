import { usageError } from '../errors.js';

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

export const isS3Url = (s: string) => s.startsWith('s3://');

export const formatS3Url = (loc: S3Location) => `s3://${loc.bucket}/${loc.prefix}`;
