/**
 * SigV4 for the requests sent without the SDK (direct.ts), by `aws4`, configured for S3: the path
 * encoded once (S3 does not double-encode), the empty payload's SHA-256 in x-amz-content-sha256.
 * Not the SDK's own signer (@smithy/signature-v4): that one loads much of @smithy/core with it, on
 * every run that sends a request, which is the start-up that sending them direct is meant to save.
 */
import aws4 from 'aws4';

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
  const e = encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? e.replace(/%2F/g, '/') : e;
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

/** Signs requests for one store: its credentials and region are asked for at each signature. */
export class Signer {
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
    const own = req.headers ?? {};
    const query = Object.entries(req.query ?? {})
      .map(([k, v]) => `${uriEncode(k, false)}=${uriEncode(v, false)}`)
      .join('&');
    // extraHeadersToInclude is aws4's, missing from its type definitions.
    const request: aws4.Request & { extraHeadersToInclude: Record<string, boolean> } = {
      service: 's3',
      region,
      method: req.method,
      path: query ? `${req.path}?${query}` : req.path,
      headers: {
        ...own,
        host: req.host,
        'x-amz-date': now.toISOString().replace(/[:-]|\.\d{3}/g, ''),
      },
      // aws4 leaves range out of what it signs; S3 signs every header sent.
      extraHeadersToInclude: Object.fromEntries(Object.keys(own).map((k) => [k, true])),
    };
    const signed = aws4.sign(request, credentials);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers ?? {})) out[k.toLowerCase()] = String(v);
    return out;
  }
}
