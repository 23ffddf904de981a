import { fatalError, runError, S3SyncError, usageError } from '../errors.js';
import { shown } from '../options/parse.js';
import { type CredentialsOrigin, credentialsToCheck, noCredentialsFound } from './credentials-origin.js';
import { isRequestTimeout, NotS3Error, NotS3ErrorAnswer } from './endpoint-errors.js';
import { endpointSetIn } from './endpoint-url.js';
import type { EndpointProxy } from './proxy.js';
import { printable } from './response-check.js';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  /** clockSkewCorrected: the SDK moved its clock offset on this answer's Date. */
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
  $fault?: string;
  /** The answer's headers: the SDK keeps them here, and so do direct requests (see direct.ts). */
  $response?: { headers?: Record<string, string | undefined> };
  /** The request it answered (PutObject …), where the error was marked with it (see markErrors). */
  $operation?: string;
  /** The status the server sent, where the SDK changed it (a 200 carrying an <Error> becomes a 503). */
  $answerStatus?: number;
  /** An HTTP parse error (HPE_…) from an endpoint that had answered nothing yet (timed-agent.ts). */
  notHttp?: boolean;
  /** A connection refused by an endpoint that had answered earlier in the run (timed-agent.ts). */
  wentAway?: boolean;
  /** Elements of S3's <Error> document, copied onto the error as the SDK does. */
  Region?: string;
  Endpoint?: string;
  ServerTime?: string;
  RequestTime?: string;
}

const asSdk = (err: unknown) => (typeof err === 'object' && err !== null ? (err as SdkError) : {});

export const httpStatus = (err: unknown) => asSdk(err).$metadata?.httpStatusCode;
/** The S3 error code (NoSuchBucket …), or the system error code (ECONNREFUSED …) of a network failure. */
export const errorCode = (err: unknown) => {
  const e = asSdk(err);
  if (e.code && /^E[A-Z]+$/.test(e.code)) return e.code;
  return e.name && e.name !== 'Error' ? e.name : (e.code ?? '');
};

/** S3's and the SDK's throttling codes (its THROTTLING_ERROR_CODES), and what S3-compatible stores send. */
const THROTTLE = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'TransactionInProgressException',
  'EC2ThrottledException',
]);
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'NetworkingError',
  'IncompleteBody',
  // A proxy's 502/503/504 to CONNECT (proxy-agent.ts).
  'EPROXYUNAVAILABLE',
]);

/** A header of the error's answer, where the error kept the answer (lower-case name). */
export const answerHeader = (err: unknown, name: string): string | undefined => {
  const v = asSdk(err).$response?.headers?.[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * How long the server asked to be left alone before the next attempt, in ms: `x-amz-retry-after`
 * (milliseconds) or `Retry-After` (seconds, or an HTTP date); undefined when it said nothing usable.
 */
export function retryAfterMs(err: unknown, now = Date.now()): number | undefined {
  const amz = answerHeader(err, 'x-amz-retry-after')?.trim();
  if (amz && /^\d+$/.test(amz)) return Number(amz);
  const v = answerHeader(err, 'retry-after')?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  // Only a date: Date.parse takes a bare number or a word for some date too.
  if (!/[A-Za-z]{3}.*\d{2}:\d{2}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export const isThrottle = (err: unknown) =>
  THROTTLE.has(errorCode(err)) || httpStatus(err) === 429 || httpStatus(err) === 503;

export function isRetryable(err: unknown): boolean {
  if (isLocalError(err)) return false;
  // Not S3 at the other end, or nothing at all: asking again gets the same.
  if (err instanceof NotS3Error || (isRequestTimeout(err) && err.silentEndpoint)) return false;
  const code = errorCode(err);
  const status = httpStatus(err);
  if (isThrottle(err) || NETWORK.has(code)) return true;
  // An answer Node's HTTP parser refused: garbled on the way, unless no HTTP server is there at all.
  if (code.startsWith('HPE_')) return asSdk(err).notHttp !== true;
  // The SDK moved its clock to the server's Date: a refusal with no code (a HEAD's 403 has no body)
  // may be the skew's, and the next attempt is signed at the server's time.
  if (clockCorrected(err)) return true;
  // A store without the API (UploadPartCopy on s3rver) says so again: its caller goes another way.
  if (status === 501 || code === 'NotImplemented' || code === 'XNotImplemented') return false;
  if (status !== undefined && status >= 500) return true;
  if (code === 'BadDigest' || code === 'InvalidDigest') return false;
  const msg = asSdk(err).message ?? '';
  // Connection-level failures surface from the HTTP handler with no status at all.
  return (
    status === undefined &&
    /socket hang up|ECONNRESET|EPIPE|premature close|aborted|timed? ?out|Deserialization error|char '.*' is not expected|Unexpected end/i.test(
      msg,
    )
  );
}

/**
 * Turns an S3/SDK failure into one line that names the fix. Configuration problems (credentials,
 * bucket, endpoint) are usage errors: the whole run cannot succeed, so it should not continue. Any
 * other failure is the one request's, so the file's.
 */
export function describeS3Error(
  err: unknown,
  ctx: {
    bucket?: string;
    endpoint?: string;
    flag?: string;
    credentials?: CredentialsOrigin;
    /** The proxy the requests went through (ResolvedClient.proxy), named where it may be at fault. */
    proxy?: EndpointProxy;
    /** Uploads go with the SDK's checksums to an endpoint not AWS's (ResolvedClient.uploadChecksums). */
    uploadChecksums?: boolean;
  },
): S3SyncError {
  if (err instanceof S3SyncError) return err;
  // The flag that names this endpoint: a sync's source may have its own.
  const flag = endpointSetIn(ctx.flag ?? '--endpoint-url');
  const code = errorCode(err);
  const status = httpStatus(err);
  const msg = asSdk(err).message ?? String(err);
  const where = ctx.bucket ? `s3://${ctx.bucket}` : 'the bucket';
  const endpoint = ctx.endpoint ?? 'AWS';
  // Through a forwarding proxy (HTTP_PROXY) an answer that is not S3's is most likely the proxy's own:
  // it is named, and its refusal is one to fix there; through a tunnel the endpoint answers.
  const via = ctx.proxy;
  const through = via ? ` through the proxy ${via.shown}` : '';
  if (err instanceof NotS3Error) {
    if (via?.forwards && (status ?? 0) >= 400)
      return usageError(
        `the proxy ${via.shown} refused the request to ${endpoint} (${err.reason}): check what the proxy allows, or name the host in NO_PROXY`,
      );
    return usageError(
      `the endpoint ${endpoint} does not answer as S3${through} (${err.reason}): check ${flag}`,
    );
  }
  if (code.startsWith('HPE_') && asSdk(err).notHttp === true) {
    const tls = endpoint.startsWith('http://') ? ' (an https:// endpoint named http://?)' : '';
    return usageError(
      `the endpoint ${endpoint} does not answer in HTTP${through} (${msg.split('\n')[0]}): check ${flag}${tls}`,
    );
  }
  // A gateway's page, on every attempt: the file's failure, said as what came back.
  // The request it answered, where known: marked on the SDK's errors, given by direct requests.
  const op = asSdk(err).$operation;
  const to = op ? ` to ${op}` : '';
  if (err instanceof NotS3ErrorAnswer) {
    // A forwarding proxy's gateway failure (it could not reach the endpoint for now): transient, as a
    // connection cut on every attempt is, not a setting to fix.
    if (via?.forwards && PROXY_GATEWAY.has(err.$metadata.httpStatusCode))
      return runError(
        `the proxy ${via.shown} answered ${err.message}${to}, not an S3 answer (on every attempt): the proxy or its way to ${endpoint} is failing for now, run again later`,
        err,
      );
    if (via?.forwards)
      return usageError(
        `the proxy ${via.shown} answered ${err.message}${to}, not an S3 answer (on every attempt): check the proxy and that it reaches ${endpoint}`,
        err,
      );
    return runError(`${err.message} from ${endpoint} (not an S3 answer${to})`, err);
  }
  // A CONNECT tunnel the proxy never opened (marked in proxy-agent.ts): the endpoint was never reached.
  const proxy = (err as { proxy?: unknown } | null)?.proxy;
  if (isRequestTimeout(err) && typeof proxy === 'string')
    return usageError(
      `the proxy ${proxy} did not ${err.timeout === 'connect' ? 'accept a connection' : 'answer'} within ${err.ms / 1000} s: check it and that the proxy runs`,
    );
  if (isRequestTimeout(err) && err.silentEndpoint) {
    const secs = `${err.ms / 1000} s`;
    return err.timeout === 'connect'
      ? usageError(
          `cannot connect to the S3 endpoint ${endpoint} within ${secs}${through}: check ${flag} and the network (or raise --connect-timeout)`,
        )
      : usageError(
          `the S3 endpoint ${endpoint} accepted the connection but sent no response within ${secs}${through}: check ${flag} (is it an S3 server?)${through && ' and the proxy'}, or raise --first-byte-timeout`,
        );
  }
  if (code === 'NoSuchBucket' || (code === 'NotFound' && !ctx.bucket)) {
    return usageError(`bucket '${ctx.bucket}' does not exist at ${ctx.endpoint ?? 'AWS'} (create it first)`);
  }
  if (
    code === 'InvalidAccessKeyId' ||
    code === 'SignatureDoesNotMatch' ||
    code === 'InvalidToken' ||
    code === 'ExpiredToken'
  ) {
    return usageError(
      `the S3 credentials were rejected (${code}): check ${credentialsToCheck(ctx.credentials)}`,
    );
  }
  // An archived object not restored (GLACIER, DEEP_ARCHIVE, an Intelligent-Tiering archive tier):
  // that object alone is unreadable, not the bucket.
  if (code === 'InvalidObjectState')
    return runError(
      'the object is in an archive tier and not restored (InvalidObjectState): restore it first (aws s3api restore-object)',
      err,
    );
  const said = shownCode(code, status);
  // The bucket is in another region than the requests are signed for: S3 answers each one so.
  if (
    code === 'PermanentRedirect' ||
    status === 301 ||
    (code === 'AuthorizationHeaderMalformed' && bucketRegion(err) !== undefined)
  )
    return usageError(wrongRegion(err, where, said, regionSetIn(ctx.flag)));
  if (code === 'TemporaryRedirect' || status === 307) {
    const target = answerHeader(err, 'location') ?? asSdk(err).Endpoint;
    return usageError(
      `the endpoint redirects the requests for ${where}${target ? ` to ${printable(target)}` : ''} (${said}): S3 does so for a bucket created in the last hours, until DNS knows its name (run again later, or set ${regionSetIn(ctx.flag)} to the bucket's region); another server wants the address it redirects to in ${flag}`,
    );
  }
  // Still refused after the clock skew correction (the SDK's and direct.ts's, from the server's Date).
  if (SKEW.has(code)) return usageError(clockOff(err, code));
  if (code === 'AccessDenied' || status === 403) {
    // A 403 without S3's code (a HEAD's has no body) from a server whose clock is far from this one:
    // the clock is the likelier cause, and the one to fix first.
    const skew = said.startsWith('HTTP ') ? clockSkewMs(err) : undefined;
    if (clockCorrected(err) || (skew !== undefined && Math.abs(skew) >= CLOCK_OFF_MS))
      return usageError(
        `access denied to ${where} (${said}${to}) with ${clockOff(err, undefined)}; if it is right, check the credentials' permissions`,
      );
    return usageError(`access denied to ${where} (${said}${to}): check the credentials' permissions`);
  }
  if (
    code === 'CredentialsProviderError' ||
    /Could not load credentials|Could not resolve credentials/.test(msg)
  ) {
    // No credentials found, by the chain or in the profile named: say where they go. (Another
    // profile, a role's source, is named by the SDK's own words below.)
    const inProfile = /Could not resolve credentials using profile: \[(.*)\]/.exec(msg)?.[1];
    const named = ctx.credentials?.kind === 'profile' ? ctx.credentials.name : undefined;
    if (
      /Could not load credentials from any providers/.test(msg) ||
      (inProfile !== undefined && inProfile === named)
    )
      return usageError(noCredentialsFound(ctx.credentials));
    // A profile's source failed (an SSO login expired, a role's source profile missing): its own
    // words name the fix; a credential_process's command line may hold a secret and is left out.
    if (/^Command failed:/.test(msg))
      return usageError(
        "cannot load AWS credentials: the profile's credential_process failed (run it by hand to see why)",
      );
    return usageError(`cannot load AWS credentials: ${msg.split('\n')[0]}`, err);
  }
  // Said in full where it was raised (proxy-agent.ts): the proxy, its variable, its answer.
  if (code === 'EPROXY') return usageError(msg);
  // A gateway's failure at the proxy that outlasted the retries: transient, as a reset connection is.
  if (code === 'EPROXYUNAVAILABLE')
    return runError(
      `${msg} on every attempt: the proxy or its way to the endpoint is failing for now, run again later`,
      err,
    );
  // The proxy's handshake (marked in proxy-agent.ts): its certificate, not the endpoint's.
  if (typeof proxy === 'string' && (TLS_TRUST.has(code) || code === 'ERR_TLS_CERT_ALTNAME_INVALID'))
    return usageError(
      `the TLS certificate of the proxy ${proxy} is not trusted (${code}): a proxy's certificate is checked against the system's CAs and NODE_EXTRA_CA_CERTS, not --ca-bundle`,
    );
  // The proxy itself could not be reached (marked in proxy-agent.ts): the endpoint was never tried.
  if (typeof proxy === 'string' && /^E[A-Z_]+$/.test(code))
    return usageError(`cannot connect to the proxy ${proxy} (${code}): check it and that the proxy runs`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /ENOTFOUND|getaddrinfo/.test(msg)) {
    return usageError(
      `cannot resolve the host name of the S3 endpoint ${endpoint} (DNS: ${code || 'getaddrinfo failed'}): check ${flag}`,
    );
  }
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) {
    // The setting was right a moment ago: the run stops, but as an outage, not as a wrong setting.
    if (asSdk(err).wentAway === true)
      return fatalError(
        `the S3 endpoint ${endpoint} stopped accepting connections during the run (ECONNREFUSED on every attempt): run again once it is back`,
        err,
      );
    return usageError(
      `nothing accepts connections at the S3 endpoint ${endpoint} (ECONNREFUSED): check ${flag} and that the server runs`,
    );
  }
  // TLS spoken to a port that speaks plain HTTP: the "record" that came back is an HTTP answer.
  if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long/i.test(msg)) {
    return usageError(
      `the S3 endpoint ${endpoint} does not speak TLS on that port: use http:// instead of https://, or check ${flag}`,
    );
  }
  // Not valid now: no bundle would make it so.
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return usageError(
      `the TLS certificate of the S3 endpoint ${endpoint} is not valid now (${code}): renew it on the server, or check this machine's clock`,
    );
  }
  if (TLS_TRUST.has(code)) {
    return usageError(
      `the TLS certificate of the S3 endpoint ${endpoint} is not trusted (${code}): give the certificate of the CA that signed it with --ca-bundle (or AWS_CA_BUNDLE, or the profile's ca_bundle)`,
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return usageError(
      `the TLS certificate of the S3 endpoint ${endpoint} is for another host name (${code}): use a host name it names in ${flag}`,
    );
  }
  if (code === 'InvalidBucketName') return usageError(`invalid bucket name '${ctx.bucket}'`);
  // Each object would be refused the same way: a setting to fix, not a file's failure.
  if (code === 'InvalidStorageClass')
    return usageError(
      `${where} refused the storage class (InvalidStorageClass): check --storage-class and any x-amz-storage-class header rule (names are upper case, e.g. STANDARD_IA)`,
    );
  const first = msg.split('\n')[0];
  // A body cut short or not matching its ETag, attempt after attempt: not an answer S3 gave.
  if (code === 'IncompleteBody') return runError(`${first} (on every attempt)`, err);
  // Said in full by rangeMismatch: an S3 error code and an HTTP 200 would only confuse it.
  if (code === 'RangeIgnored') return runError(first ?? 'the server ignores byte ranges', err);
  // Node refused the request before sending it (a header value it cannot carry): no answer of S3's.
  const nodeCode = asSdk(err).code;
  if (status === undefined && typeof nodeCode === 'string' && nodeCode.startsWith('ERR_'))
    return runError(`request not sent (${nodeCode}): ${first}`, err);
  // A JavaScript error with no answer behind it is a fault here, not the store's.
  if (status === undefined && err instanceof Error && JS_ERRORS.has(err.name))
    return runError(`${err.name}: ${first}`, err);
  const answered = asSdk(err).$answerStatus;
  // The SDK makes a 200 carrying an <Error> a 503: the status said is the one the server sent.
  const how =
    answered !== undefined
      ? ` (in an HTTP ${answered} answer${to})`
      : status
        ? ` (HTTP ${status}${to})`
        : op
          ? ` (${op})`
          : '';
  const what = `S3 error${code ? ` ${code}` : ''}${how}`;
  // Retried as a network failure until the retries ran out: what was cut, not Node's one word.
  if (code === 'ECONNRESET' && status === undefined)
    return runError(
      `${what}: the connection was reset${resetWhen(first ?? '')}${through} (on every attempt)`,
      err,
    );
  // The SDK has no words for it (its message is "UnknownError"): what it means, and what happens next.
  if (code === 'NoSuchUpload')
    return runError(
      `${what}: the multipart upload was aborted on the server (by s3sync cleanup, a lifecycle rule or another tool); the next run sends the file again`,
      err,
    );
  // A network failure with no answer: the proxy in the way may be where it happened.
  const where2 = status === undefined && /^E[A-Z_]+$/.test(code) ? through : '';
  // Many stores cannot read the SDK's checksummed upload bodies (aws-chunked, a trailing checksum),
  // and refuse or fail every such upload: the setting is the likelier fix than the store.
  const checksummed =
    ctx.uploadChecksums &&
    (op === 'PutObject' || op === 'UploadPart') &&
    ((status ?? 0) >= 500 || CHUNKED_REFUSALS.has(code))
      ? '; uploads go with SDK checksums here (--checksums when_supported), which some stores cannot read: try --checksums when_required'
      : '';
  return runError(`${first === 'UnknownError' ? what : `${what}: ${first}`}${where2}${checksummed}`, err);
}

/** How stores without aws-chunked uploads refuse them. */
const CHUNKED_REFUSALS = new Set([
  'InvalidRequest',
  'InvalidArgument',
  'NotImplemented',
  'MissingContentLength',
]);

/** A gateway's statuses: a forwarding proxy that could not reach the endpoint for now. */
const PROXY_GATEWAY = new Set([502, 503, 504]);

const JS_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError']);

/** OpenSSL's verdicts on a certificate chain that does not lead to a trusted CA, or is not valid now. */
const TLS_TRUST = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
]);

/**
 * A request naming a storage class, refused for it: every object with that class would be, so the run
 * stops (exit 2). Ceph RGW answers InvalidArgument, with no message, for a class its placement does
 * not define; AWS, MinIO and s3rver say InvalidStorageClass, which describeS3Error stops on.
 */
export function classRefused(err: unknown, storageClass: string | undefined): unknown {
  if (storageClass === undefined || storageClass === 'STANDARD') return err;
  if (!(err instanceof S3SyncError) || err.kind !== 'file' || errorCode(err.cause) !== 'InvalidArgument')
    return err;
  return usageError(
    `the store refused storage class ${shown(storageClass)} (InvalidArgument; a class it does not have is the usual cause): check --storage-class and any x-amz-storage-class header rule`,
    err.cause,
  );
}

/** Errors that doom every request of the run: stop instead of failing file by file. */
export const isFatal = (e: S3SyncError) => e.kind !== 'file';

/**
 * A failure of this machine, not of S3: a file system call (ENOSPC, EACCES …) or an error a body or
 * consumer callback raised on purpose (`local: true`). Never retried as a request, never described as
 * an S3 error.
 */
const LOCAL_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  'ENOENT',
  'EISDIR',
  'ENOTDIR',
  'EROFS',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ENAMETOOLONG',
  'EEXIST',
  'EBADF',
  'ELOOP',
  'EXDEV',
  'EMLINK',
  'EFBIG',
  'ETXTBSY',
  'EBUSY',
  'ENOTEMPTY',
  'ENXIO',
  'ENODEV',
  'EOVERFLOW',
  'ESTALE',
  'ERR_FS_EISDIR',
  'ERR_OUT_OF_RANGE',
]);

export function isLocalError(err: unknown): boolean {
  const e = err as { code?: unknown; local?: unknown } | null;
  return typeof e === 'object' && e !== null && (e.local === true || LOCAL_CODES.has(String(e.code)));
}

/** The error's code as a message shows it: the status where the answer had none (the SDK's "Unknown"). */
const shownCode = (code: string, status: number | undefined) =>
  code && code !== 'Unknown' && code !== 'UnknownError' ? code : status ? `HTTP ${status}` : 'no code';

/** When a reset connection was cut, from Node's words for it. */
function resetWhen(message: string): string {
  if (/^aborted$/i.test(message)) return ' while the answer was read';
  if (/socket hang up/i.test(message)) return ' before an answer came';
  return '';
}

/** The setting that holds the region of the endpoint that `flag` names (a sync's source has its own). */
const regionSetIn = (flag: string | undefined) =>
  flag === '--source-endpoint-url' ? 'sourceRegion (--source-region)' : 'region (--region) or AWS_REGION';

/** The bucket's region as the answer names it: S3's header, or its <Region> element. */
const bucketRegion = (err: unknown): string | undefined => {
  const r = answerHeader(err, 'x-amz-bucket-region') ?? asSdk(err).Region;
  // A region is a host name label: anything else is not shown as one.
  return r !== undefined && /^[a-z0-9-]{1,63}$/i.test(r) ? r : undefined;
};

function wrongRegion(err: unknown, where: string, code: string, setting: string): string {
  const region = bucketRegion(err);
  if (region)
    return `${where} is in region ${region}, not the region its requests are signed for (${code}): set ${setting} to ${region}`;
  const endpoint = asSdk(err).Endpoint;
  return `${where} is in another region than its requests are signed for${endpoint ? ` (S3 names the endpoint ${printable(endpoint)})` : ''} (${code}): set ${setting} to the bucket's region`;
}

/** S3's refusals of a request signed at a time too far from its own. */
const SKEW = new Set(['RequestTimeTooSkewed', 'RequestExpired', 'RequestInTheFuture']);

/** How far the server's clock may be from this one before the SDK corrects its own (its rule). */
const CLOCK_OFF_MS = 300_000;

/** Whether the SDK moved its clock offset on this error's answer (its Date far from the signing time). */
const clockCorrected = (err: unknown) => asSdk(err).$metadata?.clockSkewCorrected === true;

/**
 * A refusal a clock off by minutes explains: S3's code for it, or an answer on which the SDK corrected
 * its clock. A retry is signed at the corrected time; never a refusal to give up on at once.
 */
export const isClockSkew = (err: unknown) => SKEW.has(errorCode(err)) || clockCorrected(err);

/**
 * How far the local clock is behind the server's, in ms (negative: ahead): from the times S3's error
 * names, else the answer's Date against this clock. Undefined when neither is there.
 */
export function clockSkewMs(err: unknown, now = Date.now()): number | undefined {
  const e = asSdk(err);
  const server = timeOf(e.ServerTime);
  const request = timeOf(e.RequestTime);
  if (server !== undefined && request !== undefined) return server - request;
  const date = timeOf(answerHeader(err, 'date'));
  return date === undefined ? undefined : date - now;
}

/** ISO 8601 (2026-12-06T17:20:00Z), its basic form as SigV4 writes it (20261206T172000Z), or an HTTP date. */
function timeOf(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const basic = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(v.trim());
  const t = basic
    ? Date.UTC(+basic[1]!, +basic[2]! - 1, +basic[3]!, +basic[4]!, +basic[5]!, +basic[6]!)
    : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** A clock difference as people say it: seconds, minutes, hours or days. */
export function spanText(ms: number): string {
  const s = Math.abs(ms) / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 86400)} days`;
}

/** The clock's fault, said; `code` undefined: only the clause, for a line that goes on. */
function clockOff(err: unknown, code: string | undefined): string {
  const skew = clockSkewMs(err);
  const by =
    skew === undefined || Math.abs(skew) < 1000
      ? 'off'
      : `${spanText(skew)} ${skew > 0 ? 'behind' : 'ahead of'}`;
  if (code === undefined)
    return `the local clock ${by === 'off' ? 'off from' : by} the server's: set the clock right (NTP)`;
  return `the local clock is ${by} the server's (${code}): set the clock right (NTP), S3 refuses requests signed at a time far from its own`;
}

/**
 * Request signatures (`Signature=` of an Authorization header, `X-Amz-Signature=` of a presigned URL)
 * in text a server echoed: one is valid for minutes and could replay its request, so it is never printed.
 */
export const redactSignatures = (text: string): string =>
  text.replace(/\b((?:X-Amz-)?Signature=)[0-9a-f]+/gi, '$1***');
