import { describe, expect, it } from 'vitest';
import { type ErrorKind, fatalError, runError, S3SyncError, usageError } from '../../src/errors.js';
import type { CredentialsOrigin } from '../../src/s3/credentials-origin.js';
import {
  foreignServerError,
  NotS3Error,
  NotS3ErrorAnswer,
  ProxyRefusedError,
  ProxyUnavailableError,
  timeoutError,
} from '../../src/s3/endpoint-errors.js';
import {
  classRefused,
  describeS3Error,
  errorCode,
  isFatal,
  isLocalError,
  isRetryable,
  isThrottle,
  retryAfterMs,
} from '../../src/s3/errors.js';

/** An error as the SDK raises it: an S3 error code as its name, the HTTP status in its metadata. */
const s3 = (name: string, status?: number, message = `${name} message`) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** An error whose answer had these headers, kept as the SDK keeps them. */
const answer = (err: Error, headers: Record<string, string>) =>
  Object.assign(err, { $response: { statusCode: 0, headers } });

/** An error of a system call or a socket, as Node raises it. */
const sys = (code: string, message = `${code} happened`) => Object.assign(new Error(message), { code });

const ctx = { bucket: 'b', endpoint: 'http://127.0.0.1:9' };

describe('the kinds of error', () => {
  it.each<[string, S3SyncError, ErrorKind, boolean]>([
    ['usageError', usageError('x'), 'usage', true],
    ['fatalError', fatalError('x'), 'fatal', true],
    ['runError', runError('x'), 'file', false],
    ['the default of new S3SyncError', new S3SyncError('x'), 'usage', true],
  ])('%s: kind %s, stops the run: %s', (_name, err, kind, stops) => {
    expect(err.kind).toBe(kind);
    expect(isFatal(err)).toBe(stops);
    expect(err.name).toBe('S3SyncError');
  });

  it('keeps the cause', () => {
    const cause = sys('EACCES');
    expect(runError('x', cause).cause).toBe(cause);
    expect(usageError('x', cause).cause).toBe(cause);
  });
});

describe('errorCode', () => {
  it.each<[string, unknown, string]>([
    ['an S3 error code', s3('NoSuchBucket', 404), 'NoSuchBucket'],
    ['a system error code', sys('ECONNREFUSED'), 'ECONNREFUSED'],
    ['a system code over a generic name', Object.assign(new Error('x'), { code: 'EPIPE' }), 'EPIPE'],
    ['a non-system code when the name says nothing', Object.assign(new Error('x'), { code: 'Nope' }), 'Nope'],
    ['nothing at all', new Error('x'), ''],
    ['not an object', 'a string', ''],
    ['null', null, ''],
  ])('%s', (_name, err, code) => {
    expect(errorCode(err)).toBe(code);
  });
});

describe('retry classification', () => {
  it.each<[string, unknown, { throttle: boolean; retryable: boolean }]>([
    ['SlowDown', s3('SlowDown', 503), { throttle: true, retryable: true }],
    ['Throttling', s3('Throttling', 400), { throttle: true, retryable: true }],
    ['TooManyRequests', s3('TooManyRequests'), { throttle: true, retryable: true }],
    [
      'RequestThrottled (a code the SDK knows)',
      s3('RequestThrottled', 400),
      { throttle: true, retryable: true },
    ],
    ['TooManyRequestsException', s3('TooManyRequestsException', 400), { throttle: true, retryable: true }],
    ['BandwidthLimitExceeded', s3('BandwidthLimitExceeded', 400), { throttle: true, retryable: true }],
    ['HTTP 429 with no code', s3('Error', 429), { throttle: true, retryable: true }],
    ['HTTP 503 with no code', s3('Error', 503), { throttle: true, retryable: true }],
    ['HTTP 500', s3('InternalError', 500), { throttle: false, retryable: true }],
    ['ECONNRESET', sys('ECONNRESET'), { throttle: false, retryable: true }],
    ['ETIMEDOUT', sys('ETIMEDOUT'), { throttle: false, retryable: true }],
    ['EAI_AGAIN', sys('EAI_AGAIN'), { throttle: false, retryable: true }],
    ['RequestTimeTooSkewed', s3('RequestTimeTooSkewed', 403), { throttle: false, retryable: true }],
    ['IncompleteBody', s3('IncompleteBody'), { throttle: false, retryable: true }],
    ['a socket hang up, no status', new Error('socket hang up'), { throttle: false, retryable: true }],
    ['a premature close, no status', new Error('premature close'), { throttle: false, retryable: true }],
    [
      'a truncated XML answer',
      new Error('Deserialization error: Unexpected end'),
      { throttle: false, retryable: true },
    ],
    // A store without the API says the same again: the caller goes another way at once.
    ['NotImplemented (501)', s3('NotImplemented', 501), { throttle: false, retryable: false }],
    ['a 501 of another name', s3('Whatever', 501), { throttle: false, retryable: false }],
    ['NoSuchBucket', s3('NoSuchBucket', 404), { throttle: false, retryable: false }],
    ['AccessDenied', s3('AccessDenied', 403), { throttle: false, retryable: false }],
    ['BadDigest', s3('BadDigest', 400), { throttle: false, retryable: false }],
    ['InvalidDigest', s3('InvalidDigest', 400), { throttle: false, retryable: false }],
    ['an unknown 4xx', s3('Whatever', 400), { throttle: false, retryable: false }],
    [
      'a plain message with a status',
      s3('Error', 404, 'socket hang up'),
      { throttle: false, retryable: false },
    ],
    ['an answer that is not S3', new NotS3Error('an HTML page', 200), { throttle: false, retryable: false }],
    ['a silent endpoint', timeoutError('connect', 1000, true), { throttle: false, retryable: false }],
    ['a timeout after answers', timeoutError('stall', 1000, false), { throttle: false, retryable: true }],
    // Node's HTTP parser refused an answer: garbled on the way, unless nothing HTTP ever answered.
    ['an unparsable answer', hpe('HPE_INVALID_HEADER_TOKEN', false), { throttle: false, retryable: true }],
    ['an unparsable answer, no mark', hpe('HPE_INVALID_CONSTANT'), { throttle: false, retryable: true }],
    ['an unparsable first answer', hpe('HPE_INVALID_CONSTANT', true), { throttle: false, retryable: false }],
  ])('%s', (_name, err, want) => {
    expect({ throttle: isThrottle(err), retryable: isRetryable(err) }).toEqual(want);
  });

  it.each([
    'ENOSPC',
    'EDQUOT',
    'EACCES',
    'EPERM',
    'ENOENT',
    'EIO',
    'EMFILE',
    'EROFS',
    'ERR_OUT_OF_RANGE',
    // A link, a folder or another file system where a file was to be: the file system's answer.
    'ELOOP',
    'EISDIR',
    'ENOTDIR',
    'ENAMETOOLONG',
    'EXDEV',
    'EMLINK',
    'EFBIG',
    'ETXTBSY',
    'EBUSY',
    'ENOTEMPTY',
    'ENXIO',
    'ESTALE',
    'ERR_FS_EISDIR',
  ])('a local failure (%s) is never retried as a request', (code) => {
    const err = sys(code, 'socket hang up');
    expect(isLocalError(err)).toBe(true);
    expect(isRetryable(err)).toBe(false);
  });

  it.each<[string, unknown, boolean]>([
    ['local: true', Object.assign(new Error('stop'), { local: true }), true],
    ['local: "yes"', Object.assign(new Error('stop'), { local: 'yes' }), false],
    ['a network code', sys('ECONNRESET'), false],
    ['an S3 error', s3('SlowDown', 503), false],
    ['null', null, false],
    ['a string', 'ENOSPC', false],
  ])('isLocalError: %s', (_name, err, local) => {
    expect(isLocalError(err)).toBe(local);
  });
});

describe('retryAfterMs: what the server asked for', () => {
  const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
  it.each<[string, Record<string, string> | undefined, number | undefined]>([
    ['seconds', { 'retry-after': '5' }, 5000],
    ['fractional seconds, spaced', { 'retry-after': ' 0.5 ' }, 500],
    ['an HTTP date', { 'retry-after': 'Sun, 06 Dec 2026 12:00:09 GMT' }, 9000],
    ['a date past', { 'retry-after': 'Sun, 06 Dec 2026 11:00:00 GMT' }, 0],
    ["x-amz-retry-after's milliseconds, first", { 'x-amz-retry-after': '1500', 'retry-after': '9' }, 1500],
    ['a word', { 'retry-after': 'later' }, undefined],
    ['a negative number', { 'retry-after': '-3' }, undefined],
    ['no header', {}, undefined],
    ['no answer kept', undefined, undefined],
  ])('%s', (_name, headers, ms) => {
    const err = headers ? answer(s3('SlowDown', 503), headers) : s3('SlowDown', 503);
    expect(retryAfterMs(err, NOW)).toBe(ms);
  });
});

/** An error of Node's HTTP parser, `notHttp` as timed-agent.ts marks it. */
function hpe(code: string, notHttp?: boolean): Error {
  const err = Object.assign(new Error('Parse Error: Expected HTTP/, RTSP/ or ICE/'), { code });
  return notHttp === undefined ? err : Object.assign(err, { notHttp });
}

describe('an answer HTTP cannot parse', () => {
  it('from an endpoint that never answered: not an HTTP server, a usage error naming the setting', () => {
    const e = describeS3Error(hpe('HPE_INVALID_CONSTANT', true), {
      bucket: 'b',
      endpoint: 'http://127.0.0.1:9',
    });
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(
      'the endpoint http://127.0.0.1:9 does not answer in HTTP (Parse Error: Expected HTTP/, RTSP/ or ICE/): check endpointUrl (--endpoint-url) (an https:// endpoint named http://?)',
    );
    const tls = describeS3Error(hpe('HPE_INVALID_CONSTANT', true), { endpoint: 'https://h:9' });
    expect(tls.message).not.toMatch(/named http/);
  });

  it('after answers: the request failed, not the setting', () => {
    const e = describeS3Error(hpe('HPE_INVALID_HEADER_TOKEN', false), { bucket: 'b', endpoint: 'http://h' });
    expect(e.kind).not.toBe('usage');
  });
});

describe('a connection refused', () => {
  const refused = (wentAway?: boolean) =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
      code: 'ECONNREFUSED',
      ...(wentAway === undefined ? {} : { wentAway }),
    });
  const ctx = { bucket: 'b', endpoint: 'http://127.0.0.1:9' };

  it('by an endpoint that never answered (or unmarked): a usage error naming the setting', () => {
    for (const err of [refused(false), refused()]) {
      const e = describeS3Error(err, ctx);
      expect(e.kind).toBe('usage');
      expect(e.message).toMatch(/^nothing accepts connections at the S3 endpoint .*: check endpointUrl/);
    }
  });

  it('after the endpoint answered in the run: it went away, the run stops as an outage (exit 1)', () => {
    const err = refused(true);
    const e = describeS3Error(err, ctx);
    expect(e.kind).toBe('fatal');
    expect(e.cause).toBe(err);
    expect(e.message).toBe(
      'the S3 endpoint http://127.0.0.1:9 stopped accepting connections during the run (ECONNREFUSED on every attempt): run again once it is back',
    );
    expect(isRetryable(e.cause)).toBe(true);
  });
});

describe('an upload failed where it went with SDK checksums to a store not AWS', () => {
  const put = (code: string, status: number, op = 'PutObject') =>
    Object.assign(s3(code, status, 'refused'), { $operation: op });
  const said = (err: unknown, uploadChecksums = true) =>
    describeS3Error(err, { bucket: 'b', endpoint: 'http://h', uploadChecksums }).message;
  const HINT =
    /uploads go with SDK checksums here \(--checksums when_supported\), which some stores cannot read: try --checksums when_required$/;

  it.each([
    ['a 500 to PutObject', put('InternalError', 500)],
    ['a 501 to UploadPart', put('NotImplemented', 501, 'UploadPart')],
    ['an InvalidRequest to PutObject', put('InvalidRequest', 400)],
  ])('%s names the setting', (_name, err) => {
    expect(said(err)).toMatch(HINT);
    expect(said(err, false)).not.toMatch(/checksums/);
  });

  it.each([
    ['a 500 to GetObject', put('InternalError', 500, 'GetObject')],
    ['a BadDigest to PutObject', put('BadDigest', 400)],
    ['a quota refusal to PutObject', put('QuotaExceeded', 403)],
  ])('%s does not', (_name, err) => {
    expect(said(err)).not.toMatch(/checksums/);
  });
});

describe('describeS3Error: one line that names the fix', () => {
  it.each<[string, unknown, RegExp]>([
    [
      'no such bucket',
      s3('NoSuchBucket', 404),
      /^bucket 'b' does not exist at http:\/\/127\.0\.0\.1:9 \(create it first\)$/,
    ],
    [
      'an unknown access key',
      s3('InvalidAccessKeyId', 403),
      /^the S3 credentials were rejected \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID/,
    ],
    [
      'a wrong secret',
      s3('SignatureDoesNotMatch', 403),
      /^the S3 credentials were rejected \(SignatureDoesNotMatch\)/,
    ],
    ['an expired token', s3('ExpiredToken', 400), /^the S3 credentials were rejected \(ExpiredToken\)/],
    [
      'access denied',
      s3('AccessDenied', 403),
      /^access denied to s3:\/\/b \(AccessDenied\): check the credentials' permissions$/,
    ],
    ['a bare 403', s3('Error', 403), /^access denied to s3:\/\/b \(HTTP 403\)/],
    [
      'access denied to a request named',
      Object.assign(s3('AccessDenied', 403), { $operation: 'PutObject' }),
      /^access denied to s3:\/\/b \(AccessDenied to PutObject\): check the credentials' permissions$/,
    ],
    [
      "a HEAD's 403 with no body, the request named",
      Object.assign(s3('Unknown', 403, 'UnknownError'), { $operation: 'HeadObject' }),
      /^access denied to s3:\/\/b \(HTTP 403 to HeadObject\): check the credentials' permissions$/,
    ],
    [
      "a HEAD's 403 with no body (the SDK's 'Unknown')",
      s3('Unknown', 403, 'UnknownError'),
      /^access denied to s3:\/\/b \(HTTP 403\): check the credentials' permissions$/,
    ],
    [
      'no credentials (the default chain)',
      s3('CredentialsProviderError', undefined, 'Could not load credentials from any providers'),
      /^no AWS credentials found: set AWS_ACCESS_KEY_ID/,
    ],
    [
      "a profile's SSO login expired: the SDK's words, which name the fix",
      s3(
        'CredentialsProviderError',
        undefined,
        "The SSO session token associated with profile=sso was not found or is invalid. To refresh this SSO session run 'aws sso login' with the corresponding profile.\nmore",
      ),
      /^cannot load AWS credentials: The SSO session token associated with profile=sso was not found or is invalid\. To refresh this SSO session run 'aws sso login' with the corresponding profile\.$/,
    ],
    [
      "a role's source profile missing",
      s3(
        'CredentialsProviderError',
        undefined,
        'Could not resolve credentials using profile: [src] in configuration/credentials file(s).',
      ),
      /^cannot load AWS credentials: Could not resolve credentials using profile: \[src\]/,
    ],
    [
      'a failed credential_process: its command line (which may hold a secret) left out',
      s3('CredentialsProviderError', undefined, 'Command failed: vault-helper --token s3cr3t\nboom'),
      /^cannot load AWS credentials: the profile's credential_process failed \(run it by hand to see why\)$/,
    ],
    [
      'no credentials, by message',
      new Error('Could not load credentials from any providers'),
      /^no AWS credentials found/,
    ],
    [
      'DNS',
      sys('ENOTFOUND'),
      /^cannot resolve the host name of the S3 endpoint http:\/\/127\.0\.0\.1:9 \(DNS: ENOTFOUND\)/,
    ],
    ['DNS, by message', new Error('getaddrinfo ENOTFOUND nowhere'), /^cannot resolve the host name/],
    [
      'nothing listening',
      sys('ECONNREFUSED'),
      /^nothing accepts connections at the S3 endpoint .* \(ECONNREFUSED\)/,
    ],
    [
      'TLS to a plain HTTP port',
      new Error('SSL routines:ssl3_get_record:wrong version number'),
      /does not speak TLS on that port: use http:\/\//,
    ],
    [
      'a self-signed certificate',
      sys('DEPTH_ZERO_SELF_SIGNED_CERT'),
      /certificate .* is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\): .*--ca-bundle/,
    ],
    [
      'an expired certificate: no bundle helps',
      sys('CERT_HAS_EXPIRED'),
      /is not valid now \(CERT_HAS_EXPIRED\): renew it on the server, or check this machine's clock/,
    ],
    ['one not valid yet', sys('CERT_NOT_YET_VALID'), /is not valid now \(CERT_NOT_YET_VALID\)/],
    [
      'a certificate for another host',
      sys('ERR_TLS_CERT_ALTNAME_INVALID'),
      /is for another host name \(ERR_TLS_CERT_ALTNAME_INVALID\)/,
    ],
    [
      'not S3',
      new NotS3Error('an HTML page', 200),
      /^the endpoint http:\/\/127\.0\.0\.1:9 does not answer as S3 \(an HTML page\): check endpointUrl \(--endpoint-url\)$/,
    ],
    [
      'a silent endpoint: connect',
      timeoutError('connect', 2000, true),
      /^cannot connect to the S3 endpoint .* within 2 s: .*--connect-timeout/,
    ],
    [
      'a silent endpoint: first byte',
      timeoutError('first-byte', 1500, true),
      /sent no response within 1\.5 s: .*--first-byte-timeout/,
    ],
    ['an invalid bucket name', s3('InvalidBucketName', 400), /^invalid bucket name 'b'$/],
    [
      'a wrong region: the header names the right one',
      answer(s3('PermanentRedirect', 301), { 'x-amz-bucket-region': 'eu-west-3' }),
      /^s3:\/\/b is in region eu-west-3, not the region its requests are signed for \(PermanentRedirect\): set region \(--region\) or AWS_REGION to eu-west-3$/,
    ],
    [
      "a wrong region: the body's <Region>",
      Object.assign(s3('PermanentRedirect', 301), { Region: 'ap-south-1' }),
      /^s3:\/\/b is in region ap-south-1, .*to ap-south-1$/,
    ],
    [
      "a wrong region: only the body's <Endpoint>",
      Object.assign(s3('PermanentRedirect', 301), { Endpoint: 'b.s3.eu-west-3.amazonaws.com' }),
      /^s3:\/\/b is in another region than its requests are signed for \(S3 names the endpoint b\.s3\.eu-west-3\.amazonaws\.com\) \(PermanentRedirect\): set region \(--region\) or AWS_REGION to the bucket's region$/,
    ],
    [
      "a HEAD's bare 301 (no body)",
      answer(s3('Unknown', 301, 'UnknownError'), { 'x-amz-bucket-region': 'us-west-2' }),
      /^s3:\/\/b is in region us-west-2, .*\(HTTP 301\): set region \(--region\) or AWS_REGION to us-west-2$/,
    ],
    [
      'AuthorizationHeaderMalformed naming the region',
      Object.assign(s3('AuthorizationHeaderMalformed', 400), { Region: 'eu-west-3' }),
      /^s3:\/\/b is in region eu-west-3, .*\(AuthorizationHeaderMalformed\): set region \(--region\) or AWS_REGION to eu-west-3$/,
    ],
    [
      'a temporary redirect (a new bucket)',
      answer(s3('TemporaryRedirect', 307), { location: 'https://b.s3-eu-west-3.amazonaws.com/' }),
      /^the endpoint redirects the requests for s3:\/\/b to https:\/\/b\.s3-eu-west-3\.amazonaws\.com\/ \(TemporaryRedirect\): S3 does so for a bucket created in the last hours/,
    ],
    [
      'a clock too far off: the times S3 names',
      Object.assign(s3('RequestTimeTooSkewed', 403), {
        RequestTime: '20261206T120000Z',
        ServerTime: '2026-12-06T17:00:00Z',
      }),
      /^the local clock is 5 h behind the server's \(RequestTimeTooSkewed\): set the clock right \(NTP\)/,
    ],
    [
      'a clock ahead, in minutes',
      Object.assign(s3('RequestTimeTooSkewed', 403), {
        RequestTime: '2026-12-06T12:20:00Z',
        ServerTime: '2026-12-06T12:00:00Z',
      }),
      /^the local clock is 20 min ahead of the server's \(RequestTimeTooSkewed\)/,
    ],
    [
      "a clock too far off: the answer's Date",
      answer(s3('RequestTimeTooSkewed', 403), { date: new Date(Date.now() + 3 * 86_400_000).toUTCString() }),
      /^the local clock is 3 days behind the server's/,
    ],
    [
      'a clock too far off, no time in the answer',
      s3('RequestTimeTooSkewed', 403),
      /^the local clock is off the server's \(RequestTimeTooSkewed\): set the clock right \(NTP\)/,
    ],
  ])('%s: a usage error', (_name, err, line) => {
    const e = describeS3Error(err, ctx);
    expect(e).toBeInstanceOf(S3SyncError);
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(line);
    expect(e.message).not.toContain('\n');
  });

  it.each<[string, unknown, string]>([
    [
      'a server error',
      s3('InternalError', 500, 'We encountered an internal error.\nPlease try again.'),
      'S3 error InternalError (HTTP 500): We encountered an internal error.',
    ],
    [
      'throttling, after every retry',
      s3('SlowDown', 503, 'Please reduce your request rate.'),
      'S3 error SlowDown (HTTP 503): Please reduce your request rate.',
    ],
    [
      'a reset connection',
      sys('ECONNRESET', 'read ECONNRESET'),
      'S3 error ECONNRESET: the connection was reset (on every attempt)',
    ],
    [
      'a body cut by a reset, on every attempt',
      sys('ECONNRESET', 'aborted'),
      'S3 error ECONNRESET: the connection was reset while the answer was read (on every attempt)',
    ],
    [
      'a reset before the answer',
      sys('ECONNRESET', 'socket hang up'),
      'S3 error ECONNRESET: the connection was reset before an answer came (on every attempt)',
    ],
    [
      'the request it answered, where known',
      Object.assign(s3('InternalError', 500, 'boom'), { $operation: 'PutObject' }),
      'S3 error InternalError (HTTP 500 to PutObject): boom',
    ],
    [
      "a 200 carrying an <Error>, which the SDK makes a 503: the server's status",
      Object.assign(s3('InternalError', 503, 'We encountered an internal error.'), {
        $operation: 'CompleteMultipartUpload',
        $answerStatus: 200,
      }),
      'S3 error InternalError (in an HTTP 200 answer to CompleteMultipartUpload): We encountered an internal error.',
    ],
    ['no code, no status', new Error('something odd'), 'S3 error: something odd'],
    [
      'a header Node cannot send',
      Object.assign(new TypeError('Invalid character in header content ["x-amz-meta-a"]'), {
        code: 'ERR_INVALID_CHAR',
      }),
      'request not sent (ERR_INVALID_CHAR): Invalid character in header content ["x-amz-meta-a"]',
    ],
    [
      'a TypeError with no answer',
      new TypeError('v.trim is not a function'),
      'TypeError: v.trim is not a function',
    ],
    [
      'a body cut short on every attempt',
      s3('IncompleteBody', undefined, 'body ended early'),
      'body ended early (on every attempt)',
    ],
    [
      'an archived object not restored (a 403 about that object, not the bucket)',
      s3('InvalidObjectState', 403, 'The operation is not valid for the object storage class'),
      'the object is in an archive tier and not restored (InvalidObjectState): restore it first (aws s3api restore-object)',
    ],
    [
      'a timeout after the endpoint had answered',
      timeoutError('stall', 1000, false),
      'S3 error ETIMEDOUT: the request socket timed out after 1000 ms of inactivity',
    ],
  ])('%s: that request fails, the run goes on', (_name, err, message) => {
    const e = describeS3Error(err, ctx);
    expect(e.kind).toBe('file');
    expect(isFatal(e)).toBe(false);
    expect(e.message).toBe(message);
    expect(e.cause).toBe(err);
  });

  it("a sync's source names its own region setting", () => {
    const err = answer(s3('PermanentRedirect', 301), { 'x-amz-bucket-region': 'eu-west-3' });
    expect(describeS3Error(err, { ...ctx, flag: '--source-endpoint-url' }).message).toMatch(
      /: set sourceRegion \(--source-region\) to eu-west-3$/,
    );
  });

  it.each<[string, CredentialsOrigin | undefined, string]>([
    [
      'a profile named by AWS_PROFILE, without keys',
      { kind: 'profile', name: 'ronly', by: 'AWS_PROFILE' },
      "no AWS credentials found in profile 'ronly' (named by AWS_PROFILE): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or unset AWS_PROFILE",
    ],
    [
      'a profile named by --profile, without keys',
      { kind: 'profile', name: 'w', by: '--profile' },
      "no AWS credentials found in profile 'w' (named by --profile): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or name another --profile",
    ],
    [
      'a source profile, without keys',
      { kind: 'profile', name: 'old', by: '--source-profile' },
      "no AWS credentials found in profile 'old' (named by --source-profile): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or name another --source-profile",
    ],
    [
      "a config file's profile, without keys",
      { kind: 'profile', name: 'w', by: '"profile" in the config file\'s job 2' },
      "no AWS credentials found in profile 'w' (named by \"profile\" in the config file's job 2): add its aws_access_key_id and aws_secret_access_key (~/.aws/credentials), or name another profile",
    ],
    [
      'no profile named',
      undefined,
      'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile',
    ],
    [
      'the keys in the environment',
      { kind: 'env', sessionToken: false },
      'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --profile',
    ],
  ])('no credentials: %s', (_name, credentials, message) => {
    const err = s3('CredentialsProviderError', undefined, 'Could not load credentials from any providers');
    const e = describeS3Error(err, { ...ctx, credentials });
    expect(e.kind).toBe('usage');
    expect(e.message).toBe(message);
  });

  it('names the bucket and AWS when the context has neither', () => {
    expect(describeS3Error(s3('AccessDenied', 403), {}).message).toMatch(/^access denied to the bucket /);
    expect(describeS3Error(sys('ECONNREFUSED'), {}).message).toMatch(/the S3 endpoint AWS /);
  });

  it('passes an S3SyncError through unchanged, whatever its kind', () => {
    for (const err of [usageError('u'), fatalError('f'), runError('r')])
      expect(describeS3Error(err, ctx)).toBe(err);
  });
});

describe('a storage class the store refuses', () => {
  it('InvalidStorageClass (AWS, MinIO, s3rver) stops the run, whatever the request', () => {
    const e = describeS3Error(s3('InvalidStorageClass', 400), ctx);
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(
      /^s3:\/\/b refused the storage class \(InvalidStorageClass\): check --storage-class/,
    );
  });

  it('InvalidArgument (Ceph RGW) stops the run only for a request that named a class other than STANDARD', () => {
    const refused = describeS3Error(s3('InvalidArgument', 400), ctx);
    expect(refused.kind).toBe('file');
    const e = classRefused(refused, 'COLD') as S3SyncError;
    expect(e.kind).toBe('usage');
    expect(e.message).toMatch(/^the store refused storage class "COLD" \(InvalidArgument; /);
    expect(classRefused(refused, undefined)).toBe(refused);
    expect(classRefused(refused, 'STANDARD')).toBe(refused);
    const other = describeS3Error(s3('EntityTooLarge', 400), ctx);
    expect(classRefused(other, 'COLD')).toBe(other);
    const usage = usageError('u');
    expect(classRefused(usage, 'COLD')).toBe(usage);
  });
});

describe('a server error that S3 did not write', () => {
  it.each<[string, number, string, string, boolean]>([
    ['an HTML 502 to a PUT', 502, 'PutObject', '<html><h1>502 Bad Gateway</h1></html>', true],
    ['an empty 500 to a GET', 500, 'GetObject', '', true],
    [
      "S3's own 500",
      500,
      'PutObject',
      '<Error><Code>InternalError</Code><Message>x</Message></Error>',
      false,
    ],
    ["S3's 503 SlowDown", 503, 'ListObjectsV2', '<?xml?>\n<Error>\n<Code>SlowDown</Code></Error>', false],
    ['a HEAD, whose answers have no body', 503, 'HeadObject', '', false],
    ['a 4xx (HTML there is refused as not S3 before)', 404, 'GetObject', '', false],
  ])('%s: %s', (_what, status, operation, body, foreign) => {
    expect(foreignServerError(status, operation, body)).toBe(foreign);
  });

  it.each<[number, string, string]>([
    [502, 'BadGateway', 'HTTP 502 Bad Gateway from http://127.0.0.1:9 (not an S3 answer)'],
    [503, 'ServiceUnavailable', 'HTTP 503 Service Unavailable from http://127.0.0.1:9 (not an S3 answer)'],
    [504, 'GatewayTimeout', 'HTTP 504 Gateway Timeout from http://127.0.0.1:9 (not an S3 answer)'],
    [500, 'InternalError', 'HTTP 500 Internal Server Error from http://127.0.0.1:9 (not an S3 answer)'],
    [599, 'HTTP599', 'HTTP 599 from http://127.0.0.1:9 (not an S3 answer)'],
  ])('HTTP %i: retried as a server error, named %s, said in one line', (status, name, line) => {
    const err = new NotS3ErrorAnswer(status);
    expect(isRetryable(err)).toBe(true);
    expect(errorCode(err)).toBe(name);
    const d = describeS3Error(err, ctx);
    expect(d.kind).toBe('file');
    expect(d.message).toBe(line);
  });

  it('names the request it answered, where known', () => {
    const err = Object.assign(new NotS3ErrorAnswer(503), { $operation: 'ListObjectsV2' });
    expect(describeS3Error(err, ctx).message).toBe(
      'HTTP 503 Service Unavailable from http://127.0.0.1:9 (not an S3 answer to ListObjectsV2)',
    );
  });
});

describe('a proxy in the way: transient gateway failures against refusals', () => {
  const forwarding = {
    endpoint: 'http://127.0.0.1:9',
    proxy: { shown: 'http://proxy:3128 (HTTP_PROXY)', forwards: true },
  };

  it("a 502/503/504 to CONNECT on every attempt: the run's transient failure (exit 1), not a setup's", () => {
    const err = new ProxyUnavailableError(
      'the proxy http://proxy:3128 (HTTPS_PROXY) answered the connection to s3.example.com:443 with HTTP 503 Service Unavailable',
    );
    expect(isRetryable(err)).toBe(true);
    const d = describeS3Error(err, { endpoint: 'https://s3.example.com' });
    expect(d.kind).toBe('file');
    expect(isFatal(d)).toBe(false);
    expect(d.message).toBe(
      'the proxy http://proxy:3128 (HTTPS_PROXY) answered the connection to s3.example.com:443 with HTTP 503 Service Unavailable on every attempt: the proxy or its way to the endpoint is failing for now, run again later',
    );
  });

  it('a refused tunnel (407, 403) stays a setting to fix (exit 2)', () => {
    const d = describeS3Error(
      new ProxyRefusedError('the proxy p refused the connection to h:443 (HTTP 403)'),
      {},
    );
    expect(d.kind).toBe('usage');
  });

  it.each([502, 503, 504])(
    "HTTP_PROXY's own HTTP %i page on every attempt: transient (exit 1), naming the proxy",
    (status) => {
      const err = Object.assign(new NotS3ErrorAnswer(status), { $operation: 'PutObject' });
      const d = describeS3Error(err, forwarding);
      expect(d.kind).toBe('file');
      expect(d.message).toMatch(
        new RegExp(
          `^the proxy http://proxy:3128 \\(HTTP_PROXY\\) answered HTTP ${status} [A-Za-z ]+ to PutObject, not an S3 answer \\(on every attempt\\): the proxy or its way to http://127\\.0\\.0\\.1:9 is failing for now, run again later$`,
        ),
      );
    },
  );

  it("HTTP_PROXY's own 500 or 501 page: still the proxy's setup to check (exit 2)", () => {
    for (const status of [500, 501]) {
      const d = describeS3Error(new NotS3ErrorAnswer(status), forwarding);
      expect(d.kind, String(status)).toBe('usage');
      expect(d.message).toMatch(/check the proxy and that it reaches/);
    }
  });
});

describe('a clock off by minutes behind a 403 without a code (a HEAD has no body)', () => {
  const head403 = (corrected: boolean, dateOffMs?: number) => {
    const err = Object.assign(s3('Unknown', 403), {
      $operation: 'HeadObject',
      $metadata: { httpStatusCode: 403, ...(corrected && { clockSkewCorrected: true }) },
    });
    return dateOffMs === undefined
      ? err
      : answer(err, { date: new Date(Date.now() + dateOffMs).toUTCString() });
  };

  it('is retried once the SDK corrected its clock on it, else not', () => {
    expect(isRetryable(head403(true, -30 * 60_000))).toBe(true);
    expect(isRetryable(head403(false, -30 * 60_000))).toBe(false);
    expect(isRetryable(head403(false))).toBe(false);
  });

  it('still refused: the clock is named first, the permissions after', () => {
    expect(describeS3Error(head403(false, -30 * 60_000), ctx).message).toBe(
      "access denied to s3://b (HTTP 403 to HeadObject) with the local clock 30 min ahead of the server's: set the clock right (NTP); if it is right, check the credentials' permissions",
    );
    // A clock within the SDK's 5 minutes: the permissions alone.
    expect(describeS3Error(head403(false, 60_000), ctx).message).toBe(
      "access denied to s3://b (HTTP 403 to HeadObject): check the credentials' permissions",
    );
  });
});
