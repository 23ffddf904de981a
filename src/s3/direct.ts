/**
 * Three requests sent as signed HTTP requests on the client's own agents, without the SDK's middleware
 * stack: GetObject of a small object, PutObject of a small body held in memory, and a ListObjectsV2
 * page. For a pull or a push of many small files that stack, rebuilt for every request, was most of the
 * client's CPU (on a shared machine, CPU taken from the server); and a run whose requests are only
 * these never loads the SDK, a large share of a fresh runner's start. Used only where nothing the
 * stack does is missing: a path-style endpoint given by URL (no endpoint rules to evaluate), a GET body
 * its caller verifies against an MD5 ETag, a PUT with its Content-MD5 where the SDK would add no
 * checksum of its own, and a listing its caller parses (no response checksum to validate). Answers
 * pass the same checks (notS3Reason) and fail with the same error shapes as the SDK's.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { readCapped } from '../read-capped.js';
import {
  foreignListingRefusal,
  foreignServerError,
  NotS3Error,
  NotS3ErrorAnswer,
} from './endpoint-errors.js';
import { proxyAuthRequired } from './proxy.js';
import { abortError, type RequestScope } from './request-signals.js';
import { notS3Reason } from './response-check.js';
import { serverDate } from './server-clock.js';
import { Signer, type SigningCredentials, uriEncode } from './sigv4.js';

export interface DirectSetup {
  /** The endpoint, path-style: requests go to /bucket/key on it. */
  url: URL;
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
  region: () => Promise<string>;
  credentials: () => Promise<SigningCredentials>;
  /** The time to sign with: the server's, as far as known. */
  now: () => Date;
  /** The server's time read from an answer's Date header (ms since the epoch). */
  serverTime: (ms: number) => void;
  /** The same Date, with when its request was sent and answered on this clock (see ServerClock). */
  answered?: (ms: number | undefined, sentAt: number, answeredAt: number) => void;
  /** The SDK's request checksums: a PUT goes direct only where the SDK would add none of its own. */
  checksums: 'when_supported' | 'when_required';
}

/** A PutObject sent direct: a small body in memory, its MD5, and the object's headers. */
export interface PutRequest {
  key: string;
  body: Buffer;
  md5Base64: string;
  /** Lower-case names: content-type, x-amz-meta-*, x-amz-storage-class …, as objectHeaderLines gives. */
  headers: Record<string, string>;
}

/** Headers the SDK sends but does not sign (a proxy may rewrite them): sent here the same way. */
const UNSIGNED = new Set(['cache-control', 'content-length', 'user-agent']);

/** What transport.get reads of a GetObject answer, in the SDK's names. */
export interface GetAnswer {
  Body: Readable;
  ContentLength?: number;
  ETag?: string;
  Metadata: Record<string, string>;
  ContentEncoding?: string;
}

/**
 * An error answer, shaped as the SDK's (name = S3's code, $metadata.httpStatusCode, the answer's
 * headers in $response, the <Error> elements that say where to go or when it is as fields).
 */
class S3ErrorAnswer extends Error {
  readonly $fault: 'server' | 'client';
  Region?: string;
  Endpoint?: string;
  ServerTime?: string;
  RequestTime?: string;
  constructor(
    override readonly name: string,
    message: string,
    readonly $metadata: { httpStatusCode: number; requestId?: string },
    readonly $response: { statusCode: number; headers: Record<string, string | undefined> },
    readonly $operation: string,
    xml: string,
  ) {
    super(message);
    this.$fault = $metadata.httpStatusCode >= 500 ? 'server' : 'client';
    for (const field of ERROR_FIELDS) {
      const v = xmlText(xml, field);
      if (v !== undefined) this[field] = v;
    }
  }
}

const ERROR_FIELDS = ['Region', 'Endpoint', 'ServerTime', 'RequestTime'] as const;

/** Name of an error answer without an S3 code in its body (a HEAD-like 404, a proxy's 503 …). */
const NAME_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** Error bodies are short; a longer one is cut here, never held whole. */
const ERROR_BODY_MAX = 64 * 1024;

const xmlText = (xml: string, tag: string) => {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return m?.[1]
    ?.replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
};

async function errorBody(res: http.IncomingMessage): Promise<string> {
  return (await readCapped(res, ERROR_BODY_MAX)).data.toString('utf8');
}

const flat = (headers: http.IncomingHttpHeaders) => {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
};

/** One ListObjectsV2 page asked for (see listing.ts). */
export interface ListPageRequest {
  prefix: string;
  token?: string;
  startAfter?: string;
  maxKeys?: number;
}

/** A listing page's body is read whole; a larger one is refused, as no listing page comes near it. */
const LIST_BODY_MAX = 64 * 1024 * 1024;

export class DirectRequests {
  private readonly signer: Signer;
  private readonly secure: boolean;

  constructor(
    private readonly setup: DirectSetup,
    private readonly bucket: string,
  ) {
    this.secure = setup.url.protocol === 'https:';
    this.signer = new Signer({ credentials: setup.credentials, region: setup.region });
  }

  /** One attempt; rejects with the SDK's error shapes, or NotS3Error for an answer that is not S3's. */
  async get(
    key: string,
    versionId: string | undefined,
    request: RequestScope | undefined,
  ): Promise<GetAnswer> {
    // x-id names the operation, as the SDK's GetObject does: stores ignore it, proxies and logs see it.
    const query: Record<string, string> = versionId === undefined ? {} : { versionId };
    query['x-id'] = 'GetObject';
    const { res, headers } = await this.send('GetObject', `/${uriEncode(key, true)}`, query, request);
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers))
      if (k.startsWith('x-amz-meta-') && v !== undefined) metadata[k.slice(11)] = v;
    const length = headers['content-length'];
    return {
      Body: res,
      ContentLength: length === undefined ? undefined : Number(length),
      ETag: headers.etag,
      Metadata: metadata,
      ContentEncoding: headers['content-encoding'],
    };
  }

  /** The SDK would add no checksum of its own to a PutObject here: one sent direct is the same request. */
  get sendsPuts(): boolean {
    return this.setup.checksums === 'when_required';
  }

  /**
   * One PutObject attempt; its ETag as the server sent it. The payload is signed by its SHA-256, as the
   * SDK signs a body over plain HTTP, and Content-MD5 has the server refuse any other body.
   */
  async put(p: PutRequest, request: RequestScope | undefined): Promise<string | undefined> {
    const signed: Record<string, string> = {};
    const unsigned: Record<string, string> = { 'content-length': String(p.body.length) };
    for (const [k, v] of Object.entries(p.headers)) (UNSIGNED.has(k) ? unsigned : signed)[k] = v;
    signed['content-md5'] = p.md5Base64;
    const { res, headers } = await this.send(
      'PutObject',
      `/${uriEncode(p.key, true)}`,
      { 'x-id': 'PutObject' },
      request,
      // Sent whole, a cancellation lets its answer come (see RequestScope.cancel).
      request && (() => request.sent()),
      { method: 'PUT', body: p.body, signed, unsigned },
    );
    // Read to its end (S3 sends none): the socket goes back to the pool for the next request.
    await readCapped(res, ERROR_BODY_MAX);
    return headers.etag;
  }

  /**
   * One ListObjectsV2 page, its body as text for the caller to parse (parseListObjectsV2). The query
   * is the one the SDK sends for the same input. `onSent`: the request has gone to the socket.
   */
  async list(p: ListPageRequest, request: RequestScope | undefined, onSent?: () => void): Promise<string> {
    const query: Record<string, string> = { 'list-type': '2', prefix: p.prefix };
    if (p.token !== undefined) query['continuation-token'] = p.token;
    if (p.startAfter !== undefined) query['start-after'] = p.startAfter;
    if (p.maxKeys !== undefined) query['max-keys'] = String(p.maxKeys);
    const { res, headers, status } = await this.send('ListObjectsV2', '', query, request, onSent);
    const { data: body, over } = await readCapped(res, LIST_BODY_MAX);
    if (over) throw new NotS3Error(`it answers ListObjectsV2 with more than ${LIST_BODY_MAX} bytes`, status);
    const notS3 = notS3Reason({ operation: 'ListObjectsV2', status, headers, body });
    if (notS3) throw new NotS3Error(notS3, status);
    return body.toString('utf8');
  }

  /**
   * One signed request of `/bucket{path}`, a GET unless `put` says otherwise: its answer when 2xx, else
   * the error it stands for. The server's Date (on any answer not from a cache) keeps the clock skew
   * estimate current.
   */
  private async send(
    operation: string,
    path: string,
    query: Record<string, string>,
    request: RequestScope | undefined,
    onSent?: () => void,
    put?: { method: 'PUT'; body: Buffer; signed: Record<string, string>; unsigned: Record<string, string> },
  ): Promise<{ res: http.IncomingMessage; headers: Record<string, string | undefined>; status: number }> {
    const { url } = this.setup;
    const fullPath = `/${uriEncode(this.bucket, true)}${path}`;
    const method = put?.method ?? 'GET';
    const headers = await this.signer.sign(
      {
        method,
        host: url.host,
        path: fullPath,
        query,
        headers: put?.signed,
        payloadSha256: put && createHash('sha256').update(put.body).digest('hex'),
      },
      this.setup.now(),
    );
    Object.assign(headers, put?.unsigned);
    headers['user-agent'] = 's3sync';
    const search = `?${Object.entries(query)
      .map(([k, v]) => `${uriEncode(k, false)}=${uriEncode(v, false)}`)
      .join('&')}`;
    request?.throwIfAborted();
    const sentAt = Date.now();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = (this.secure ? https : http).request({
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || undefined,
        path: `${fullPath}${search}`,
        method,
        headers,
        agent: this.secure ? this.setup.httpsAgent : this.setup.httpAgent,
      });
      // Stopped as http.request's `signal` option would, without an AbortSignal (see RequestScope).
      const unhook = request?.onAbort((reason) => req.destroy(abortError(reason)));
      if (unhook) req.once('close', unhook);
      req.once('response', resolve);
      req.once('error', reject);
      if (put) req.end(put.body, onSent);
      else req.end(onSent);
    });
    const answeredAt = Date.now();
    const status = res.statusCode ?? 0;
    const seen = flat(res.headers);
    if (status === 407) {
      res.destroy();
      throw proxyAuthRequired();
    }
    const notS3 = notS3Reason({ operation, status, headers: seen });
    if (notS3) {
      res.destroy();
      throw new NotS3Error(notS3, status);
    }
    const date = serverDate(seen);
    if (date !== undefined) this.setup.serverTime(date);
    this.setup.answered?.(date, sentAt, answeredAt);
    if (status < 200 || status >= 300) {
      const xml = await errorBody(res);
      if (foreignServerError(status, operation, xml)) throw new NotS3ErrorAnswer(status, operation);
      const foreign = foreignListingRefusal(status, operation, xml);
      if (foreign) throw new NotS3Error(foreign, status);
      const code = xmlText(xml, 'Code') ?? NAME_BY_STATUS[status] ?? 'UnknownError';
      // An empty or missing Message reads as the SDK's own placeholder: the same line either way.
      throw new S3ErrorAnswer(
        code,
        xmlText(xml, 'Message') || 'UnknownError',
        { httpStatusCode: status, requestId: seen['x-amz-request-id'] },
        { statusCode: status, headers: seen },
        operation,
        xml,
      );
    }
    return { res, headers: seen, status };
  }
}
