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
