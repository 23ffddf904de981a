/**
 * The errors of an endpoint that is not S3, or silent. Apart from the modules that raise them (which
 * load node:http and the SDK), so that the error descriptions every run loads stay light.
 */

/** The error a non-S3 answer becomes: never retried, reported as a configuration problem (a usage error). */
export class NotS3Error extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(
    readonly reason: string,
    status: number,
  ) {
    super(reason);
    this.name = 'NotS3Answer';
    this.$metadata = { httpStatusCode: status };
  }
}

/** Reason phrases of the error statuses a gateway or a store's front answers with. */
const REASON: Readonly<Record<number, string>> = Object.freeze({
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
});
/** Its name, as retry notices show it: S3's own for 500 and 503, else the phrase run together. */
const NAME: Readonly<Record<number, string>> = Object.freeze({
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
});

/**
 * A server error whose body is not S3's <Error> document: a proxy's or gateway's HTML page, an empty
 * 500. Retried as the server error it is; said as what it is, not as the SDK's "UnknownError".
 */
export class NotS3ErrorAnswer extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly $fault = 'server';
  /** `$operation`: the request it answered (PutObject …), for the message. */
  constructor(
    status: number,
    readonly $operation?: string,
  ) {
    const phrase = REASON[status];
    super(`HTTP ${status}${phrase ? ` ${phrase}` : ''}`);
    this.name = NAME[status] ?? `HTTP${status}`;
    this.$metadata = { httpStatusCode: status };
  }
}

/**
 * Whether an error answer is a server error that S3 did not write: 5xx without an <Error> holding a
 * <Code>. Not for a HEAD, whose answers never have a body.
 */
export const foreignServerError = (status: number, operation: string, body: string): boolean =>
  status >= 500 && operation !== 'HeadObject' && !/<Error>[\s\S]*<Code>/.test(body);

/**
 * Why a refused listing is not S3's, or undefined: S3 refuses a GET with an <Error> document, so a
 * 4xx to ListObjectsV2 without one (an empty 404, a router's text) is another server at that address.
 */
export const foreignListingRefusal = (status: number, operation: string, body: string): string | undefined =>
  status >= 400 && status < 500 && operation === 'ListObjectsV2' && !/<Error>[\s\S]*<Code>/.test(body)
    ? `it answers ListObjectsV2 with HTTP ${status} and no S3 error document`
    : undefined;

/** Which of the timeouts ran out. `silentEndpoint`: the endpoint had answered nothing yet in this run. */
export interface RequestTimeoutError extends Error {
  code: 'ETIMEDOUT';
  timeout: 'connect' | 'first-byte' | 'stall';
  silentEndpoint: boolean;
  ms: number;
}

export const isRequestTimeout = (err: unknown): err is RequestTimeoutError =>
  typeof err === 'object' && err !== null && 'timeout' in err && 'silentEndpoint' in err;

const MESSAGES: Record<RequestTimeoutError['timeout'], (ms: number) => string> = {
  connect: (ms) => `no connection within ${ms} ms`,
  'first-byte': (ms) => `no response within ${ms} ms`,
  stall: (ms) => `the request socket timed out after ${ms} ms of inactivity`,
};

export function timeoutError(
  kind: RequestTimeoutError['timeout'],
  ms: number,
  silent: boolean,
): RequestTimeoutError {
  // ETIMEDOUT: the HTTP handler names it a TimeoutError, as its own timeouts.
  return Object.assign(new Error(MESSAGES[kind](ms)), {
    code: 'ETIMEDOUT' as const,
    timeout: kind,
    silentEndpoint: silent,
    ms,
  });
}

/**
 * A proxy that answered CONNECT with 502, 503 or 504: its way to the endpoint failed for now (a
 * gateway's blip), not its configuration, so it is retried as any network failure.
 */
export class ProxyUnavailableError extends Error {
  readonly code = 'EPROXYUNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'ProxyUnavailable';
  }
}

/** A proxy that would not tunnel or forward (see proxy.ts): a configuration to fix, never retried. */
export class ProxyRefusedError extends Error {
  readonly code = 'EPROXY';
  constructor(message: string) {
    super(message);
    this.name = 'ProxyRefused';
  }
}
