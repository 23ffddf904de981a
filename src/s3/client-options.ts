import { usageError } from '../errors.js';

/** Connection settings shared by every command (CLI flags, config file and library options). */
export interface ConnectionOptions {
  /** Custom S3 endpoint, e.g. http://127.0.0.1:9000. Default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS. */
  endpointUrl?: string;
  region?: string;
  profile?: string;
  /** Path-style addressing (bucket in the path). Default: on for custom endpoints, off for AWS. */
  pathStyle?: boolean;
  /** Provider quirks preset (see providers table). */
  provider?: string;
  /**
   * SDK request checksums: 'when_supported' sends CRC32 trailers (AWS default), 'when_required' only where
   * the API demands one. Default: when_required for custom endpoints, when_supported for AWS.
   */
  checksums?: 'when_supported' | 'when_required';
  /** Total attempts per request = retries + 1. */
  retries?: number;
  /** Milliseconds to establish a connection. */
  connectTimeoutMs?: number;
  /** Milliseconds a socket may stay idle mid-transfer before the request is retried. */
  stallTimeoutMs?: number;
  /**
   * Until the endpoint has answered once: milliseconds to wait for its TLS handshake and its first
   * response before giving up on it (exit code 2). Default 10 s.
   */
  firstByteTimeoutMs?: number;
  /** Concurrent transfers; sizes the keep-alive socket pool. */
  workers?: number;
  /** Static credentials; default: the AWS credential chain (env, profile, SSO, instance role …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Print debug detail (never secrets). */
  debug?: boolean;
}

/**
 * The endpoint a run talks to, resolved without loading the AWS SDK (a no-change run must not pay for
 * it): flag, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL. Undefined means AWS (or a provider template).
 */
export function configuredEndpoint(opts: ConnectionOptions): string | undefined {
  const raw = opts.endpointUrl ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return raw === undefined ? undefined : validateEndpoint(raw);
}

export function validateEndpoint(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usageError(`malformed endpoint URL '${raw}' (expected e.g. http://127.0.0.1:9000)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw usageError(`malformed endpoint URL '${raw}' (must be http:// or https:// with a host)`);
  }
  return u.toString().replace(/\/+$/, '');
}
