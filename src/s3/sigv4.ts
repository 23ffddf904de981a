/**
 * AWS Signature Version 4 for a request without a body (S3's GetObject), as S3 checks it: the path
 * encoded once (S3 does not double-encode), the empty payload's SHA-256 in x-amz-content-sha256.
 * For the direct GET of small objects (see direct-get.ts); every other request is signed by the SDK.
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** SHA-256 of the empty string: the payload hash of a request with no body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * URI encoding as SigV4 defines it: every byte but A–Z a–z 0–9 - . _ ~ as %XX (upper case); '/' kept
 * in a path, encoded in a query. encodeURIComponent leaves ! ' ( ) * as they are: those are encoded too.
 */
export function uriEncode(s: string, keepSlash: boolean): string {
  const e = encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? e.replace(/%2F/g, '/') : e;
}

/** 20130524T000000Z */
export const amzDate = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/**
 * The signing key of one day, region and service, kept while those and the secret stay the same: it
 * costs four HMACs, the request's own signature one. One cache per signer, no state shared beyond it.
 */
export class SigningKeys {
  private last: { id: string; key: Buffer } | undefined;

  get(secret: string, day: string, region: string, service: string): Buffer {
    const id = `${day}\n${region}\n${service}\n${secret}`;
    if (this.last?.id === id) return this.last.key;
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    this.last = { id, key };
    return key;
  }
}

export interface UnsignedRequest {
  method: string;
  /** host[:port] as sent in the Host header. */
  host: string;
  /** Already URI-encoded (uriEncode with the slash kept). */
  path: string;
  /** Unencoded query parameters. */
  query?: Record<string, string>;
  /** Other headers to sign (lower-case names), e.g. range. */
  headers?: Record<string, string>;
}

/**
 * The headers that sign `req`: host, x-amz-date, x-amz-content-sha256, x-amz-security-token when the
 * credentials have one, and authorization, plus the request's own headers.
 */
export function signRequest(
  req: UnsignedRequest,
  c: SigningCredentials,
  where: { region: string; service: string; now: Date; keys: SigningKeys },
): Record<string, string> {
  const date = amzDate(where.now);
  const day = date.slice(0, 8);
  const headers: Record<string, string> = {
    ...req.headers,
    host: req.host,
    'x-amz-content-sha256': EMPTY_SHA256,
    'x-amz-date': date,
  };
  if (c.sessionToken) headers['x-amz-security-token'] = c.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const query = Object.entries(req.query ?? {})
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [req.method, req.path, query, canonicalHeaders, signedHeaders, EMPTY_SHA256].join('\n');
  const scope = `${day}/${where.region}/${where.service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  const key = where.keys.get(c.secretAccessKey, day, where.region, where.service);
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${c.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
