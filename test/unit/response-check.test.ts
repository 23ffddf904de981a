import { describe, expect, it } from 'vitest';
import { foreignListingRefusal } from '../../src/s3/endpoint-errors.js';
import { type AnswerSeen, notS3Reason } from '../../src/s3/response-check.js';

const xml = { 'content-type': 'application/xml' };
const answer = (a: Partial<AnswerSeen> & Pick<AnswerSeen, 'operation'>): AnswerSeen => ({
  status: 200,
  headers: {},
  ...a,
});

describe('notS3Reason: answers S3 gives pass', () => {
  it.each<[string, AnswerSeen]>([
    ['PutObject with an ETag', answer({ operation: 'PutObject', headers: { etag: '"abc"' } })],
    ['UploadPart with an ETag', answer({ operation: 'UploadPart', headers: { etag: '"abc"' } })],
    [
      'an HTML object fetched (its own content type)',
      answer({ operation: 'GetObject', headers: { 'content-type': 'text/html', etag: '"e"' } }),
    ],
    [
      "an HTML object's HEAD",
      answer({
        operation: 'HeadObject',
        headers: { 'content-type': 'text/html; charset=utf-8', etag: '"e"' },
      }),
    ],
    [
      'a listing',
      answer({
        operation: 'ListObjectsV2',
        headers: xml,
        body: Buffer.from('<?xml version="1.0"?><ListBucketResult xmlns="x"></ListBucketResult>'),
      }),
    ],
    [
      'CompleteMultipartUpload answered 200 with an S3 error inside',
      answer({
        operation: 'CompleteMultipartUpload',
        headers: xml,
        body: Buffer.from('<?xml version="1.0"?>\n<Error><Code>InternalError</Code></Error>'),
      }),
    ],
    [
      'an empty DeleteObjects result',
      answer({ operation: 'DeleteObjects', headers: xml, body: Buffer.from('<DeleteResult/>') }),
    ],
    ['CreateBucket with no body', answer({ operation: 'CreateBucket' })],
    ['an S3 error (XML)', answer({ operation: 'PutObject', status: 403, headers: xml })],
    ['HEAD of a missing object (no body, no type)', answer({ operation: 'HeadObject', status: 404 })],
    [
      "S3's own redirect, with its XML error",
      answer({
        operation: 'ListObjectsV2',
        status: 301,
        headers: { ...xml, location: 'https://b.s3.eu-west-1.amazonaws.com/' },
      }),
    ],
    [
      "a HEAD redirect naming the bucket's region",
      answer({ operation: 'HeadObject', status: 301, headers: { 'x-amz-bucket-region': 'eu-west-1' } }),
    ],
    [
      "a proxy's 503 page in front of a real store (retried, not judged)",
      answer({ operation: 'PutObject', status: 503, headers: { 'content-type': 'text/html' } }),
    ],
  ])('%s', (_name, a) => {
    expect(notS3Reason(a)).toBeUndefined();
  });
});

describe('notS3Reason: answers S3 never gives are refused, with the reason', () => {
  it.each<[string, AnswerSeen, RegExp]>([
    [
      'an HTML page for a PUT',
      answer({ operation: 'PutObject', headers: { 'content-type': 'text/html', etag: '"x"' } }),
      /PutObject with an HTML page \(HTTP 200\)/,
    ],
    [
      'an HTML page for a listing',
      answer({
        operation: 'ListObjectsV2',
        headers: { 'content-type': 'text/html' },
        body: Buffer.from('<html>'),
      }),
      /ListObjectsV2 with an HTML page/,
    ],
    [
      "a web server's 404 page",
      answer({ operation: 'HeadObject', status: 404, headers: { 'content-type': 'text/html' } }),
      /HeadObject with an HTML page \(HTTP 404\)/,
    ],
    [
      'a PUT answered 200 with nothing at all',
      answer({ operation: 'PutObject' }),
      /PutObject without an ETag/,
    ],
    [
      'a part answered without an ETag',
      answer({ operation: 'UploadPart', headers: xml }),
      /UploadPart without an ETag/,
    ],
    ['a GET answered without an ETag', answer({ operation: 'GetObject' }), /GetObject without an ETag/],
    [
      'a listing that is JSON',
      answer({
        operation: 'ListObjectsV2',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"ok":true}'),
      }),
      /ListObjectsV2 with something other than S3's XML \(application\/json\)/,
    ],
    [
      'a listing with an empty body and no type',
      answer({ operation: 'ListObjectsV2', body: Buffer.alloc(0) }),
      /ListObjectsV2 with something other than S3's XML \(no content type\)/,
    ],
    [
      'a DeleteObjects answered by some other XML',
      answer({ operation: 'DeleteObjects', headers: xml, body: Buffer.from('<rss><channel/></rss>') }),
      /DeleteObjects with something other/,
    ],
    [
      'a redirect to a login page',
      answer({
        operation: 'ListObjectsV2',
        status: 302,
        headers: { location: 'https://sso.example.com/login?next=/' },
      }),
      /redirects to https:\/\/sso\.example\.com\/login\?next=\//,
    ],
    [
      'a redirect from http to https',
      answer({
        operation: 'PutObject',
        status: 301,
        headers: { location: 'https://127.0.0.1:9000/b/k', 'content-type': 'text/html' },
      }),
      /redirects to https:\/\/127\.0\.0\.1:9000\/b\/k/,
    ],
    [
      'a redirect with no Location',
      answer({ operation: 'HeadObject', status: 307 }),
      /HeadObject with HTTP 307/,
    ],
  ])('%s', (_name, a, reason) => {
    expect(notS3Reason(a)).toMatch(reason);
  });

  it('a Location is shown without credentials or control characters, and cut short', () => {
    const reason = notS3Reason(
      answer({
        operation: 'ListObjectsV2',
        status: 302,
        headers: { location: `https://user:hunter2@evil.example/\u001b[2K${'x'.repeat(300)}` },
      }),
    )!;
    expect(reason).not.toContain('hunter2');
    expect(reason).not.toMatch(/[\u0000-\u001f]/);
    expect(reason.length).toBeLessThan(160);
  });
});

describe('refusals S3 never writes', () => {
  it.each<[string, AnswerSeen, string | undefined]>([
    [
      "a gateway's JSON 404",
      answer({ operation: 'HeadObject', status: 404, headers: { 'content-type': 'application/json' } }),
      'it answers HeadObject with JSON (HTTP 404)',
    ],
    [
      'a problem+json 403',
      answer({
        operation: 'PutObject',
        status: 403,
        headers: { 'content-type': 'application/problem+json' },
      }),
      'it answers PutObject with JSON (HTTP 403)',
    ],
    [
      'a JSON object fetched (its own content type)',
      answer({ operation: 'GetObject', headers: { 'content-type': 'application/json', etag: '"e"' } }),
      undefined,
    ],
    ["S3's own 404 (XML)", answer({ operation: 'HeadObject', status: 404, headers: xml }), undefined],
  ])('%s', (_name, a, reason) => {
    expect(notS3Reason(a)).toBe(reason);
  });

  it.each<[string, number, string, string, string | undefined]>([
    [
      'an empty 404 to a listing',
      404,
      'ListObjectsV2',
      '',
      'it answers ListObjectsV2 with HTTP 404 and no S3 error document',
    ],
    [
      "a router's text",
      404,
      'ListObjectsV2',
      '404 page not found\n',
      'it answers ListObjectsV2 with HTTP 404 and no S3 error document',
    ],
    [
      "S3's NoSuchBucket",
      404,
      'ListObjectsV2',
      '<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>',
      undefined,
    ],
    ["S3's AccessDenied", 403, 'ListObjectsV2', '<Error><Code>AccessDenied</Code></Error>', undefined],
    ['an empty 404 to a HEAD (S3 sends no body there)', 404, 'HeadObject', '', undefined],
    ['a 500 (said as a server error elsewhere)', 500, 'ListObjectsV2', '', undefined],
  ])('%s', (_name, status, operation, body, reason) => {
    expect(foreignListingRefusal(status, operation, body)).toBe(reason);
  });
});
