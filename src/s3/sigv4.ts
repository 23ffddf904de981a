/**
 * SigV4 for the direct GET of small objects (direct-get.ts), by AWS's own implementation
 * (@smithy/signature-v4, the signer inside the SDK) configured as the SDK configures it for S3: the
 * path encoded once (S3 does not double-encode), the empty payload's SHA-256 in x-amz-content-sha256.
 * What is skipped is the SDK's per-request middleware stack, not its signer.
 */
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

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

type Data = ArrayBuffer | ArrayBufferView | string;
const bytes = (d: Data) =>
  typeof d === 'string'
    ? d
    : ArrayBuffer.isView(d)
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : new Uint8Array(d);

/** The hash the signer takes: SHA-256, or its HMAC under a key, on node:crypto. */
class NodeSha256 {
  private readonly h;
  constructor(secret?: Data) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(d: Data): void {
    this.h.update(bytes(d));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
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

/** Signs requests for one store: its credentials and region are asked for (and cached) by the signer. */
export class Signer {
  private readonly v4: SignatureV4;

  constructor(opts: { credentials: () => Promise<SigningCredentials>; region: () => Promise<string> }) {
    this.v4 = new SignatureV4({
      credentials: opts.credentials,
      region: opts.region,
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
    });
  }

  /**
   * The headers that sign `req` at `now`: host, x-amz-date, x-amz-content-sha256, x-amz-security-token
   * when the credentials have one, and authorization, plus the request's own headers.
   */
  async sign(req: UnsignedRequest, now: Date): Promise<Record<string, string>> {
    const [hostname, port] = splitHost(req.host);
    const signed = await this.v4.sign(
      {
        method: req.method,
        protocol: 'http:',
        hostname,
        port,
        path: req.path,
        query: req.query ?? {},
        headers: { ...req.headers, host: req.host },
      },
      { signingDate: now },
    );
    return signed.headers as Record<string, string>;
  }
}

/** host[:port] → hostname, port ([::1]:9000 included). */
function splitHost(host: string): [string, number | undefined] {
  const m = /^(.*?)(?::(\d+))?$/.exec(host)!;
  return [m[1]!, m[2] === undefined ? undefined : Number(m[2])];
}
