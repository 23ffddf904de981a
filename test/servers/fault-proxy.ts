import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type FaultKind =
  | 'reset-request'
  | 'reset-response'
  | 'status-500'
  | 'status-503-slowdown'
  | 'delay'
  | 'truncate-body'
  | 'flip-body'
  | 'stall-body'
  | 'garbled-headers';

export const ALL_FAULT_KINDS: readonly FaultKind[] = [
  'reset-request',
  'reset-response',
  'status-500',
  'status-503-slowdown',
  'delay',
  'truncate-body',
];

/**
 * Faults drawn only when asked for by name (`kinds`): a flipped byte in a listing or an XML answer
 * could change a key, which no client can detect over plain HTTP, so the seeded mixes leave it out;
 * 'stall-body' (the headers and half the body, then silence with the connection open until the proxy
 * closes) costs a whole --stall-timeout each time.
 */
export const OPT_IN_FAULT_KINDS: readonly FaultKind[] = ['flip-body', 'stall-body', 'garbled-headers'];

export interface FaultOptions {
  /** Upstream base URL, e.g. http://127.0.0.1:4568 (an S3 server). */
  target: string;
  /** Same seed + same request sequence => same faults. */
  seed: number;
  /** 0..1 probability that a given (filtered-in) request gets a fault. */
  rate: number;
  /** Which faults to draw from; default all. */
  kinds?: FaultKind[];
  /** For 'delay'; default 200. */
  delayMs?: number;
  /** Only inject into requests for which this returns true (e.g. skip CreateBucket in setup). */
  filter?: (req: { method: string; url: string }) => boolean;
  /**
   * Holds a request until the promise returned settles, then handles it as it would have been (for a
   * test to act at a known moment of a run, e.g. change a file while the listing is held). Asked after
   * `filter`, for every request.
   */
  hold?: (req: { method: string; url: string; headers: IncomingHttpHeaders }) => Promise<unknown> | undefined;
  /**
   * Holds the answer upstream gave until the promise returned settles: the request has acted (an
   * upload created), and a client that gives up meanwhile never learns of it (an answer lost).
   */
  holdAnswer?: (req: { method: string; url: string }) => Promise<unknown> | undefined;
  /** Sees every chunk of every request body forwarded upstream (to assert what was, or was not, sent). */
  observe?: (req: { method: string; url: string }, chunk: Buffer) => void;
  /**
   * Damages the body of the requests it returns true for: its first byte inverted on the way upstream,
   * every byte still sent (a flipped bit on the wire that only Content-MD5 can catch).
   */
  damageRequest?: (req: { method: string; url: string }) => boolean;
  /**
   * Rewrites a response that got no fault (a store's answer as another store would give it, e.g. a
   * listing naming a storage class): its headers in place, and its body, read whole first;
   * Content-Length follows the new body.
   */
  rewrite?: (req: { method: string; url: string }, status: number) => ResponseRewrite | undefined;
  /**
   * Answers the requests it returns an error for itself, as S3 would refuse them (an S3 error document),
   * without sending them upstream: a refused PUT stores nothing, where `rewrite` would change the answer
   * of one the store took. Asked after `hold`, for requests that got no fault.
   */
  answer?: (req: { method: string; url: string; headers: IncomingHttpHeaders }) => OwnAnswer | undefined;
  /**
   * Answers the ranged GETs it returns bytes for as a server (or proxy) that ignores Range does: 200
   * with those bytes (the whole object) and no Content-Range. The request still goes upstream with
   * its Range: SigV4 signs that header, so dropping it would have a real server refuse the signature.
   */
  ignoreRange?: (req: { method: string; url: string }) => Buffer | undefined;
  /**
   * How long an idle client connection is kept (ms); 0: as long as the client keeps it, as a store or
   * load balancer that never closes idle connections does. Default 60 s.
   */
  keepAliveTimeout?: number;
}

/** An S3 error document the proxy answers with itself (see FaultOptions.answer). */
export interface OwnAnswer {
  status: number;
  code: string;
  message: string;
  /** More headers (Retry-After, x-amz-bucket-region, Location …). */
  headers?: Record<string, string>;
  /** More elements of <Error>, after <Message> (<Region>, <ServerTime> …), as XML text. */
  extra?: string;
}

export interface ResponseRewrite {
  headers?: (headers: http.OutgoingHttpHeaders) => void;
  body?: (body: Buffer) => Buffer;
  /** Another status for the answer (an error a store gives that the test server never does). */
  status?: number;
}

export interface FaultLogEntry {
  method: string;
  url: string;
  /** null: forwarded untouched (no fault drawn, or excluded by the filter). */
  fault: FaultKind | null;
  /** When the request arrived (Date.now()): how long a client waited between attempts shows. */
  at: number;
  /**
   * Forwarded, but upstream failed before it answered (an idle upstream connection the server had just
   * closed, most often), and the proxy answered 502 itself: a client retries such a request.
   */
  badGateway?: true;
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** maxInFlight: the most requests the proxy held, forwarded or answered at once. */
  stats: { requests: number; faults: Record<FaultKind, number>; inFlight: number; maxInFlight: number };
  /** Every request in arrival order with the fault it got, for asserting determinism and debugging. */
  log: FaultLogEntry[];
  setRate(rate: number): void;
  /** Client connections open now, idle ones included. */
  openConnections(): number;
  /**
   * Stops listening and drops every connection, requests in flight too: a connection tried now is
   * refused (ECONNREFUSED), as at a server that went away. `listenAgain` takes the same port back.
   */
  refuseConnections(): Promise<void>;
  listenAgain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A `rewrite` that answers every UploadPart after the first with 404 NoSuchUpload while `gone()` holds:
 * a multipart upload aborted behind the client's back (`s3sync cleanup` elsewhere).
 */
export function uploadGoneAfterFirstPart(gone: () => boolean): NonNullable<FaultOptions['rewrite']> {
  let answered = 0;
  return ({ method, url }) => {
    if (!gone() || method !== 'PUT' || !url.includes('partNumber=') || answered++ === 0) return undefined;
    return {
      status: 404,
      headers: (h) => {
        h['content-type'] = 'application/xml';
        delete h.etag;
      },
      body: () =>
        Buffer.from(
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>' +
            '<Message>The specified upload does not exist.</Message></Error>',
        ),
    };
  };
}

/**
 * A proxy in front of `target` that lets the first `after` server-side copies (CopyObject) through
 * and holds every later one until `release()`: an S3 → S3 run caught with those copies done.
 */
export async function startCopyHold(
  target: string,
  after: number,
): Promise<{ proxy: FaultProxy; copies: () => number; release: () => void }> {
  let copies = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const proxy = await startFaultProxy({
    target,
    seed: 1,
    rate: 0,
    hold: ({ method, headers }) =>
      method === 'PUT' && headers['x-amz-copy-source'] !== undefined && ++copies > after
        ? released
        : undefined,
  });
  return { proxy, copies: () => copies, release };
}

/** mulberry32: tiny, fast, good enough to spread faults; not for anything cryptographic. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEndHeaders(headers: IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const s3Error = (code: string, message: string, extra = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${extra}</Error>`;

const noop = () => {};

/** A TCP RST rather than a FIN, so the client sees ECONNRESET like a real dropped connection. */
function reset(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Flush what was written, FIN, then close: the client gets the partial bytes for sure, then EOF. */
function cutAfterFlush(socket: Socket | null): void {
  if (!socket || socket.destroyed) return;
  socket.end(() => socket.destroy());
}

function validateRate(rate: number): void {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`fault rate must be within 0..1, got ${rate}`);
}

/**
 * An HTTP proxy in front of an S3 server that injects seeded, reproducible faults. The client must use
 * the proxy's endpoint as its S3 endpoint (path-style); the Host header is forwarded unchanged, because
 * SigV4 signs it with the proxy's host:port and the upstream checks the signature against what it receives.
 */
export async function startFaultProxy(opts: FaultOptions): Promise<FaultProxy> {
  const upstream = new URL(opts.target);
  const kinds = opts.kinds ?? [...ALL_FAULT_KINDS];
  if (kinds.length === 0) throw new RangeError('fault kinds must not be empty');
  validateRate(opts.rate);
  let rate = opts.rate;
  const delayMs = opts.delayMs ?? 200;
  const rand = mulberry32(opts.seed);

  const stats: FaultProxy['stats'] = {
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    faults: Object.fromEntries([...ALL_FAULT_KINDS, ...OPT_IN_FAULT_KINDS].map((k) => [k, 0])) as Record<
      FaultKind,
      number
    >,
  };
  const log: FaultLogEntry[] = [];
  const entries = new WeakMap<IncomingMessage, FaultLogEntry>();
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const upstreamRequests = new Set<http.ClientRequest>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  function decide(req: IncomingMessage): FaultKind | null {
    stats.requests++;
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    let fault: FaultKind | null = null;
    if (!opts.filter || opts.filter({ method, url })) {
      // Always two draws per eligible request, so request N's kind does not depend on the rate in force
      // for earlier requests: a lower rate with the same seed faults a subset of the same requests.
      const roll = rand();
      const pick = rand();
      if (roll < rate) fault = kinds[Math.floor(pick * kinds.length)]!;
    }
    if (fault) stats.faults[fault]++;
    const entry: FaultLogEntry = { method, url, fault, at: Date.now() };
    log.push(entry);
    entries.set(req, entry);
    return fault;
  }

  function sendError(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string,
    expect: boolean,
    headers: Record<string, string> = {},
  ) {
    const respond = () => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, {
        ...headers,
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        // Under Expect: 100-continue the client never sent the body; the connection is in no state to reuse.
        ...(expect ? { connection: 'close' } : {}),
      });
      res.end(body);
    };
    if (expect) {
      respond();
    } else {
      // Answer after the whole body is in, as S3 does, so the client reads a 5xx rather than an EPIPE.
      req.resume();
      req.once('end', respond);
    }
  }

  function relay(req: IncomingMessage, res: ServerResponse, upRes: IncomingMessage, fault: FaultKind | null) {
    const status = upRes.statusCode ?? 502;
    const headers = endToEndHeaders(upRes.headers);
    const socket = req.socket;
    const hasBody =
      req.method !== 'HEAD' && status !== 204 && status !== 304 && upRes.headers['content-length'] !== '0';

    const info = { method: req.method ?? 'GET', url: req.url ?? '/' };
    const whole =
      fault === null && status === 206 && req.headers.range !== undefined
        ? opts.ignoreRange?.(info)
        : undefined;
    const rewrite: ResponseRewrite | undefined = whole
      ? {
          status: 200,
          headers: (h) => {
            delete h['content-range'];
          },
          body: () => whole,
        }
      : fault === null
        ? opts.rewrite?.(info, status)
        : undefined;
    if (rewrite) {
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.once('end', () => {
        rewrite.headers?.(headers);
        const body = rewrite.body ? rewrite.body(Buffer.concat(chunks)) : Buffer.concat(chunks);
        if (rewrite.body) headers['content-length'] = body.length;
        if (rewrite.status !== undefined) res.writeHead(rewrite.status, headers);
        else res.writeHead(status, upRes.statusMessage, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      });
      return;
    }

    if (fault === null) {
      res.writeHead(status, upRes.statusMessage, headers);
      upRes.pipe(res);
      return;
    }

    if (fault === 'reset-response') {
      if (!hasBody) {
        // Nothing the client could notice after the headers: reset before them, once upstream has acted.
        upRes.resume();
        upRes.once('end', () => reset(socket));
        return;
      }
      res.writeHead(status, upRes.statusMessage, headers);
      upRes.once('data', (chunk: Buffer) => {
        upRes.pause();
        res.write(chunk.subarray(0, Math.floor(chunk.length / 2)), () => reset(socket));
      });
      upRes.once('end', () => reset(socket));
      return;
    }

    if (fault === 'flip-body') {
      // Every byte arrives, and the length is right: only the content differs (its first byte inverted).
      res.writeHead(status, upRes.statusMessage, headers);
      let first = true;
      upRes.on('data', (chunk: Buffer) => {
        if (first && chunk.length > 0) {
          first = false;
          const copy = Buffer.from(chunk);
          copy[0] = copy[0]! ^ 0xff;
          res.write(copy);
        } else res.write(chunk);
      });
      upRes.once('end', () => res.end());
      return;
    }

    if (fault === 'stall-body') {
      // Half the declared body, then nothing more either way: a dead connection that is still open.
      res.writeHead(status, upRes.statusMessage, headers);
      const half = Math.floor(Number(upRes.headers['content-length'] ?? 0) / 2);
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        const part = chunk.subarray(0, Math.max(0, half - sent));
        sent += part.length;
        if (part.length > 0) res.write(part);
      });
      return;
    }

    // truncate-body
    if (!hasBody) {
      upRes.resume();
      upRes.once('end', () => reset(socket));
      return;
    }
    const declared = upRes.headers['content-length'];
    if (declared !== undefined) {
      const limit = Math.floor(Number(declared) / 2);
      res.writeHead(status, upRes.statusMessage, headers);
      let sent = 0;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        upRes.removeAllListeners('data');
        upRes.pause();
        res.flushHeaders();
        cutAfterFlush(socket);
      };
      if (limit === 0) return finish();
      upRes.on('data', (chunk: Buffer) => {
        const part = chunk.subarray(0, limit - sent);
        sent += part.length;
        res.write(part);
        if (sent >= limit) finish();
      });
      upRes.once('end', finish);
      return;
    }
    // Chunked upstream: the length is only known at the end, so buffer, then send half and no last-chunk.
    const chunks: Buffer[] = [];
    upRes.on('data', (c: Buffer) => chunks.push(c));
    upRes.once('end', () => {
      const all = Buffer.concat(chunks);
      if (all.length === 0) return reset(socket);
      res.writeHead(status, upRes.statusMessage, headers);
      res.write(all.subarray(0, Math.floor(all.length / 2)));
      cutAfterFlush(socket);
    });
  }

  function forward(req: IncomingMessage, res: ServerResponse, fault: FaultKind | null, expect: boolean) {
    if (closed || req.socket.destroyed) return;
    const upReq = http.request({
      host: upstream.hostname,
      port: upstream.port || 80,
      method: req.method,
      path: req.url,
      // Host (and Expect) pass through as sent: see the doc comment on startFaultProxy.
      headers: endToEndHeaders(req.headers),
      agent,
    });
    upstreamRequests.add(upReq);
    upReq.on('close', () => upstreamRequests.delete(upReq));
    upReq.on('error', () => {
      if (!res.headersSent && !res.destroyed) {
        const entry = entries.get(req);
        if (entry) entry.badGateway = true;
        const body = s3Error('BadGateway', 'fault proxy could not reach upstream');
        res.writeHead(502, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        });
        res.end(body);
      } else {
        reset(req.socket);
      }
    });
    if (expect) upReq.on('continue', () => res.writeContinue());
    const observe = opts.observe;
    if (observe) {
      const info = { method: req.method ?? 'GET', url: req.url ?? '/' };
      req.on('data', (chunk: Buffer) => observe(info, chunk));
    }
    upReq.on('response', (upRes) => {
      upRes.on('error', () => reset(req.socket));
      // Unread meanwhile, the answer waits in its stream.
      const held = opts.holdAnswer?.({ method: req.method ?? 'GET', url: req.url ?? '/' });
      if (!held) return relay(req, res, upRes, fault);
      const go = () => {
        if (!closed && !res.destroyed) relay(req, res, upRes, fault);
      };
      held.then(go, go);
    });
    res.on('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    if (opts.damageRequest?.({ method: req.method ?? 'GET', url: req.url ?? '/' })) {
      let first = true;
      req.on('data', (chunk: Buffer) => {
        let out = chunk;
        if (first && chunk.length > 0) {
          first = false;
          out = Buffer.from(chunk);
          out[0] = out[0]! ^ 0xff;
        }
        if (!upReq.write(out)) {
          req.pause();
          upReq.once('drain', () => req.resume());
        }
      });
      req.once('end', () => upReq.end());
    } else req.pipe(upReq);
  }

  function handle(req: IncomingMessage, res: ServerResponse, expect: boolean) {
    req.on('error', noop);
    res.on('error', noop);
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.once('close', () => stats.inFlight--);
    const fault = decide(req);
    const held = opts.hold?.({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    if (!held) return act(req, res, fault, expect);
    const go = () => {
      if (!closed) act(req, res, fault, expect);
    };
    held.then(go, go);
  }

  function act(req: IncomingMessage, res: ServerResponse, fault: FaultKind | null, expect: boolean) {
    const own =
      fault === null
        ? opts.answer?.({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers })
        : undefined;
    if (own)
      return sendError(req, res, own.status, s3Error(own.code, own.message, own.extra), expect, own.headers);
    switch (fault) {
      case 'reset-request': {
        // Take at most the first chunk of the body so the client is mid-upload, then drop the connection.
        if (expect) res.writeContinue();
        const drop = () => reset(req.socket);
        req.once('data', drop);
        req.once('end', drop);
        return;
      }
      case 'garbled-headers': {
        // An answer whose header Node's HTTP parser refuses (HPE_INVALID_HEADER_TOKEN), the request not
        // sent upstream; written raw, as http.ServerResponse would refuse to send it.
        if (expect) res.writeContinue();
        req.resume();
        req.once('end', () =>
          req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nBad\x01Header: x\r\n\r\nhello', () =>
            req.socket.destroy(),
          ),
        );
        return;
      }
      case 'status-500':
        return sendError(req, res, 500, s3Error('InternalError', 'injected'), expect);
      case 'status-503-slowdown':
        return sendError(req, res, 503, s3Error('SlowDown', 'Please reduce your request rate.'), expect);
      case 'delay': {
        const timer = setTimeout(() => {
          timers.delete(timer);
          forward(req, res, null, expect);
        }, delayMs);
        timers.add(timer);
        return;
      }
      default:
        return forward(req, res, fault, expect);
    }
  }

  const server = http.createServer((req, res) => handle(req, res, false));
  // Idle client connections are kept as long as S3 keeps them, not Node's 5 s: a client reusing one just
  // as the proxy closed it would retry a request no fault was drawn for.
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 60_000;
  // Handling checkContinue ourselves means the 100 comes from upstream, or never for a refused request.
  server.on('checkContinue', (req, res) => handle(req, res, true));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', noop);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.on('error', noop);

  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const { port } = server.address() as { port: number };
  const dropAll = () => {
    for (const r of upstreamRequests) r.destroy();
    for (const s of sockets) s.destroy();
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    log,
    setRate(next: number) {
      validateRate(next);
      rate = next;
    },
    openConnections: () => sockets.size,
    async refuseConnections() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      dropAll();
      await done;
    },
    listenAgain: () => listen(port),
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      // Already stopped by refuseConnections: close() would wait for a 'close' that came.
      const done = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      dropAll();
      agent.destroy();
      await done;
    },
  };
}
