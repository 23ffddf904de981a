import { usageError } from '../errors.js';
import type { ResolvedEndpoint } from './client-options.js';

/*
 * Endpoint URLs as text: checked and normalised, shown without a password, named in messages, and
 * grouped by the namespace of buckets they reach (pure; the resolution of which endpoint a run uses is
 * in client-options.ts).
 */

/**
 * A URL as it may be shown: the user name and password of `scheme://user:password@host` (or of a
 * string too malformed to parse that still has one) replaced by `***`.
 */
export function redactUrl(raw: string): string {
  const at = raw.lastIndexOf('@');
  if (at < 0) return raw;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw);
  const start = scheme ? scheme[0].length : 0;
  return at < start ? raw : `${raw.slice(0, start)}***${raw.slice(at)}`;
}

/**
 * What a failure to reach an endpoint says to check: where it was set; for one no setting named, what
 * made it (the account id or region in a provider's template, the region for AWS's), never a flag that
 * was not given.
 */
export function endpointToCheck(e: ResolvedEndpoint): string {
  const { name, endpointTemplate = '' } = e.provider;
  const region = `the region (${e.region}, from ${e.regionWhere}`;
  if (e.source === 'provider template') {
    if (endpointTemplate.includes('{account}'))
      return `S3SYNC_ACCOUNT_ID (the ${name} provider's endpoint template)`;
    if (endpointTemplate.includes('{region}'))
      return `${region}) in the ${name} provider's endpoint template`;
    return `the network (the ${name} provider's endpoint)`;
  }
  if (e.source === 'AWS regional endpoint')
    return `the network and ${region}; no endpoint URL is in use: this is AWS's for it)`;
  return e.where;
}

/**
 * Where an endpoint was set, as a message names it: a flag with its library option, which is what a
 * library caller gave; an environment variable or a profile's line as it is.
 */
export function endpointSetIn(where: string): string {
  const option = ENDPOINT_OPTIONS[where];
  return option ? `${option} (${where})` : where;
}

const ENDPOINT_OPTIONS: Record<string, string> = {
  '--endpoint-url': 'endpointUrl',
  '--source-endpoint-url': 'sourceEndpointUrl',
};

/**
 * An endpoint URL checked and normalised: http(s) with a host, no query or fragment; lower-case scheme
 * and host, no default port, no trailing slash, and no user name or password (S3 requests are signed
 * with the AWS credentials, so those would never be sent, and they must never be shown or recorded).
 */
export function parseEndpoint(raw: string, where?: string): { url: string; hadUserinfo: boolean } {
  // Where it was set: an environment variable or a profile's line is otherwise hard to find.
  const bad = (why: string) =>
    usageError(
      `malformed endpoint URL '${redactUrl(raw)}'${where ? ` in ${endpointSetIn(where)}` : ''} (${why})`,
    );
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad('expected e.g. http://127.0.0.1:9000');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw bad('must be http:// or https:// with a host');
  }
  if (u.search !== '' || u.hash !== '') {
    throw bad('must have no query or fragment');
  }
  return {
    url: `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`,
    hadUserinfo: u.username !== '' || u.password !== '',
  };
}

export const validateEndpoint = (raw: string): string => parseEndpoint(raw).url;

/**
 * The namespace of buckets an endpoint (its `id`) reaches, to tell whether two may be one store:
 * every AWS S3 endpoint of a partition (any region, dual-stack, FIPS) shares one, and each loopback
 * name (localhost, 127.0.0.1, [::1], [::ffff:127.0.0.1], the wildcards) reaches this machine's server
 * on that port.
 */
export function bucketNamespace(id: string): string {
  const u = new URL(id);
  const host = u.hostname.toLowerCase().replace(/\.$/, '');
  if (/(?:^|\.)amazonaws\.com$/.test(host)) return 'aws';
  if (/(?:^|\.)amazonaws\.com\.cn$/.test(host)) return 'aws-cn';
  if (
    host === 'localhost' ||
    host === '[::1]' ||
    host === '0.0.0.0' ||
    host === '[::]' ||
    /^127\.\d+\.\d+\.\d+$/.test(host) ||
    // 127.x.y.z written as an IPv4-mapped IPv6 address (the URL keeps it in hex): the same loopback.
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host)
  ) {
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return `loopback:${port}${u.pathname.replace(/\/+$/, '')}`;
  }
  return id;
}
