/**
 * SigV4 for the requests sent without the SDK (direct.ts), as the SDK configures it for S3: the path
 * encoded once (S3 does not double-encode), the payload's SHA-256 (the empty one for a GET) in
 * x-amz-content-sha256.
 * Not the SDK's own signer (@smithy/signature-v4): that one loads much of @smithy/core with it, on
 * every run that sends a request, which is the start-up that sending them direct is meant to save.
 * Not `aws4` either: its general request handling (query parsing, header normalisation) cost twice
 * what these requests need, once per small file (docs/performance.md); its signatures are the
 * reference of this one's tests.
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * URI encoding as SigV4 defines it: every byte but A–Z a–z 0–9 - . _ ~ as %XX (upper case); '/' kept
 * in a path, encoded in a query. encodeURIComponent leaves ! ' ( ) * as they are: those are encoded too.
 */
export function uriEncode(s: string, keepSlash: boolean): string {
  // Most keys and parameters need no escape: one test, where the encoding takes a copy and two replaces.
  if ((keepSlash ? UNRESERVED_OR_SLASH : UNRESERVED).test(s)) return s;
  const e = encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? e.replace(/%2F/g, '/') : e;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
const UNRESERVED_OR_SLASH = /^[A-Za-z0-9\-._~/]*$/;

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
  /** SHA-256 (hex) of the body; absent for a request without one. */
  payloadSha256?: string;
}

/** SHA-256 of an empty payload: a GET's. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A header value as SigV4 canonicalises it: trimmed, inner runs of spaces as one. */
const canonicalValue = (v: string) => v.trim().replace(/\s+/g, ' ');

/** Signs requests for one store: its credentials and region are asked for at each signature. */
export class Signer {
  /**
   * The day's signing key, derived once per secret, day and region rather than per request. A private
   * field: util.inspect never shows it, nor the secret it is checked against.
   */
  #signing: { secret: string; scope: string; key: Buffer } | undefined;

  constructor(
    private readonly opts: {
      credentials: () => Promise<SigningCredentials>;
      region: () => Promise<string>;
    },
  ) {}

  /**
   * The headers that sign `req` at `now`: host, x-amz-date, x-amz-content-sha256, x-amz-security-token
   * when the credentials have one, and authorization, plus the request's own headers (all signed).
   */
  async sign(req: UnsignedRequest, now: Date): Promise<Record<string, string>> {
    const [credentials, region] = await Promise.all([this.opts.credentials(), this.opts.region()]);
    const amzDate = now.toISOString().replace(/[:-]|\.\d{3}/g, '');
    const day = amzDate.slice(0, 8);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    headers.host = req.host;
    const payload = req.payloadSha256 ?? EMPTY_SHA256;
    headers['x-amz-content-sha256'] = payload;
    headers['x-amz-date'] = amzDate;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(headers).sort(byCodeUnit);
    const signedHeaders = names.join(';');
    const query = Object.entries(req.query ?? {})
      .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
      .sort((a, b) => byCodeUnit(a[0], b[0]) || byCodeUnit(a[1], b[1]))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    let canonicalHeaders = '';
    for (const n of names) canonicalHeaders += `${n}:${canonicalValue(headers[n]!)}\n`;
    const canonical = `${req.method}\n${req.path || '/'}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${payload}`;
    const scope = `${day}/${region}/s3/aws4_request`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.signingKey(credentials.secretAccessKey, day, region))
      .update(toSign)
      .digest('hex');
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  private signingKey(secret: string, day: string, region: string): Buffer {
    const scope = `${day}/${region}`;
    const cached = this.#signing;
    if (cached?.secret === secret && cached.scope === scope) return cached.key;
    let k: Buffer = Buffer.from(`AWS4${secret}`, 'utf8');
    for (const part of [day, region, 's3', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
    this.#signing = { secret, scope, key: k };
    return k;
  }
}
