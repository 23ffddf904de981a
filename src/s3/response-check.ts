import type { S3Client } from '@aws-sdk/client-s3';
import {
  foreignListingRefusal,
  foreignServerError,
  NotS3Error,
  NotS3ErrorAnswer,
} from './endpoint-errors.js';
import { proxyAuthRequired } from './proxy.js';

/**
 * What an answer must look like to be S3's. A web server, a login portal or a proxy's error page answers
 * every request, often with 200: unchecked, a listing of it read as an empty bucket and a PUT answered
 * with a page counted as an upload. So:
 * - HTML is never an S3 answer, except as the content of an object (GetObject, HeadObject);
 * - a redirect comes with S3's XML error body (PermanentRedirect …) or a bucket-region header;
 * - PutObject, UploadPart, GetObject and HeadObject succeed with an ETag;
 * - the operations that answer with an XML document answer with theirs (or with S3's <Error>, which
 *   CompleteMultipartUpload may send with a 200).
 * 5xx answers are left to the retries: a proxy's error page in front of a real store is transient.
 */
const WITH_ETAG = new Set(['PutObject', 'UploadPart', 'GetObject', 'HeadObject']);
const OBJECT_CONTENT = new Set(['GetObject', 'HeadObject']);
const XML_ROOT: Record<string, string> = {
  ListObjectsV2: 'ListBucketResult',
  CreateMultipartUpload: 'InitiateMultipartUploadResult',
  CompleteMultipartUpload: 'CompleteMultipartUploadResult',
  ListParts: 'ListPartsResult',
  ListMultipartUploads: 'ListMultipartUploadsResult',
  DeleteObjects: 'DeleteResult',
};

export interface AnswerSeen {
  /** API name without "Command": PutObject … */
  operation: string;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
  /** The body, for the operations of XML_ROOT only. */
  body?: Buffer;
}

/** Why this answer cannot be S3's, in a few words, or undefined when it can. */
export function notS3Reason(a: AnswerSeen): string | undefined {
  const type = a.headers['content-type'] ?? '';
  const ok = a.status >= 200 && a.status < 300;
  if (a.status >= 300 && a.status < 400 && !type.includes('xml') && !a.headers['x-amz-bucket-region']) {
    const to = a.headers.location;
    return to ? `it redirects to ${printable(to)}` : `it answers ${a.operation} with HTTP ${a.status}`;
  }
  if (a.status < 500 && /^text\/html\b/i.test(type) && !(ok && OBJECT_CONTENT.has(a.operation)))
    return `it answers ${a.operation} with an HTML page (HTTP ${a.status})`;
  // S3 writes its errors in XML: a JSON refusal is an API gateway's or another service's.
  if (a.status >= 400 && a.status < 500 && /^application\/(?:[\w.-]+\+)?json\b/i.test(type))
    return `it answers ${a.operation} with JSON (HTTP ${a.status})`;
  if (ok && WITH_ETAG.has(a.operation) && !a.headers.etag)
    return `it answers ${a.operation} without an ETag (HTTP ${a.status})`;
  const root = XML_ROOT[a.operation];
  if (ok && root && a.body && a.body.indexOf(`<${root}`) < 0 && a.body.indexOf('<Error>') < 0)
    return `it answers ${a.operation} with something other than S3's XML (${type || 'no content type'})`;
  return undefined;
}

/** A URL from an answer, for one line of output: no control characters, no credentials, not too long. */
export function printable(url: string): string {
  let shown = url;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    shown = u.toString();
  } catch {}
  shown = shown.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
}

async function readAll(body: unknown): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Checks every answer the client gets before the SDK reads it (see notS3Reason). */
export function checkAnswers(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const res = result.response as {
        statusCode?: number;
        headers?: Record<string, string | undefined>;
        body?: unknown;
      };
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      const status = res.statusCode ?? 0;
      // Before the SDK makes a 200 carrying an <Error> a 503 (see markErrors).
      (context as AnsweredContext)[ANSWER_STATUS] = status;
      const headers = res.headers ?? {};
      let body: Buffer | undefined;
      if (XML_ROOT[operation] && status >= 200 && status < 300 && res.body !== undefined) {
        body = await readAll(res.body);
        // Read once here; the SDK's deserializer reads the same bytes.
        res.body = body;
      }
      if (status === 407) {
        (res.body as { destroy?: () => void } | undefined)?.destroy?.();
        throw proxyAuthRequired();
      }
      const reason = notS3Reason({ operation, status, headers, body });
      if (reason) {
        // Its body unread, the answer would hold its socket until the server closes it.
        (res.body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new NotS3Error(reason, status);
      }
      // A server error's body is short: read here, it says whether S3 wrote it (else the SDK names it
      // UnknownError, or fails to parse an HTML page).
      if (status >= 500 && operation !== 'HeadObject' && res.body !== undefined) {
        const text = await readAll(res.body);
        if (foreignServerError(status, operation, text.toString('utf8')))
          throw new NotS3ErrorAnswer(status, operation);
        res.body = text;
      } else if (status >= 400 && operation === 'ListObjectsV2' && res.body !== undefined) {
        const text = await readAll(res.body);
        const foreign = foreignListingRefusal(status, operation, text.toString('utf8'));
        if (foreign) throw new NotS3Error(foreign, status);
        res.body = text;
      }
      return result;
    },
    // Last of the deserialize step: nearest the HTTP handler, it sees the raw answer first.
    { step: 'deserialize', priority: 'low', name: 's3syncCheckAnswers' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        markErrors(
          err,
          String(context.commandName ?? '').replace(/Command$/, ''),
          context as AnsweredContext,
        );
        throw err;
      }
    },
    // First of all: every error of the request passes through it.
    { step: 'initialize', priority: 'high', name: 's3syncMarkErrors' },
  );
}

const ANSWER_STATUS = Symbol('s3sync answer status');
type AnsweredContext = { [ANSWER_STATUS]?: number };

/**
 * Marks an error with the request it failed (`$operation`) and, where the SDK changed the status the
 * server sent, that status (`$answerStatus`): messages name both (see describeS3Error).
 */
function markErrors(err: unknown, operation: string, context: AnsweredContext): void {
  if (typeof err !== 'object' || err === null) return;
  const e = err as { $operation?: string; $answerStatus?: number; $metadata?: { httpStatusCode?: number } };
  if (operation && e.$operation === undefined)
    Object.defineProperty(e, '$operation', { value: operation, configurable: true });
  const answered = context[ANSWER_STATUS];
  if (
    answered !== undefined &&
    e.$metadata?.httpStatusCode !== undefined &&
    answered !== e.$metadata.httpStatusCode
  )
    Object.defineProperty(e, '$answerStatus', { value: answered, configurable: true });
}
