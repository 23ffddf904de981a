// A loopback TCP proxy in front of the S3 server, for the peer comparison: it counts the HTTP requests
// that pass through it by S3 operation (whatever the client, so every tool is counted the same way),
// and can add a one-way delay each way, so that RTT = 2 × delay and a new connection pays one RTT
// (the TCP handshake) before its first bytes reach the server.
import net from 'node:net';

/** The S3 operation of a path-style request, from its method, target and headers. */
export function classify(method, target, headers = {}) {
  const q = target.indexOf('?');
  const pathPart = q < 0 ? target : target.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  const xid = params.get('x-id');
  if (xid) return xid;
  const segs = pathPart.split('/').filter(Boolean);
  const has = (p) => params.has(p);
  const copy = headers['x-amz-copy-source'] !== undefined;
  if (segs.length === 0) return method === 'GET' ? 'ListBuckets' : `${method} /`;
  const onKey = segs.length > 1;
  switch (method) {
    case 'GET':
      if (!onKey) {
        if (has('list-type')) return 'ListObjectsV2';
        if (has('uploads')) return 'ListMultipartUploads';
        if (has('location')) return 'GetBucketLocation';
        if (has('versions')) return 'ListObjectVersions';
        const sub = [...params.keys()].find(
          (k) => !['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'].includes(k),
        );
        return sub ? `GetBucket?${sub}` : 'ListObjects';
      }
      if (has('uploadId')) return 'ListParts';
      if (has('tagging')) return 'GetObjectTagging';
      if (has('acl')) return 'GetObjectAcl';
      return 'GetObject';
    case 'HEAD':
      return onKey ? 'HeadObject' : 'HeadBucket';
    case 'PUT':
      if (!onKey) return params.size ? `PutBucket?${[...params.keys()][0]}` : 'CreateBucket';
      if (has('partNumber') && has('uploadId')) return copy ? 'UploadPartCopy' : 'UploadPart';
      if (has('tagging')) return 'PutObjectTagging';
      if (has('acl')) return 'PutObjectAcl';
      return copy ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (has('delete')) return 'DeleteObjects';
      if (has('uploads')) return 'CreateMultipartUpload';
      if (has('uploadId')) return 'CompleteMultipartUpload';
      return 'POST';
    case 'DELETE':
      if (!onKey) return 'DeleteBucket';
      return has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return method;
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_HEAD = 256 * 1024;

/**
 * A streaming HTTP/1.1 request parser for one connection's client-to-server bytes: calls
 * `onRequest({ method, target, headers })` once per request head and skips each body by its
 * Content-Length or its chunked framing, so that bytes of a body are never read as a request.
 */
export function requestParser(onRequest) {
  let state = 'head';
  let buf = Buffer.alloc(0);
  let remaining = 0; // body bytes still to skip (state 'body' or 'chunk-data')
  const takeLine = () => {
    const i = buf.indexOf(CRLF);
    if (i < 0) return null;
    const line = buf.subarray(0, i).toString('latin1');
    buf = buf.subarray(i + 2);
    return line;
  };
  const headDone = (text) => {
    const lines = text.split('\r\n');
    const [method = '', target = ''] = (lines[0] ?? '').split(' ');
    const headers = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
    }
    onRequest({ method, target, headers });
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) state = 'chunk-size';
    else {
      remaining = Number(headers['content-length'] ?? 0) || 0;
      state = remaining > 0 ? 'body' : 'head';
    }
  };
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (state === 'head') {
        const i = buf.indexOf(CRLF2);
        if (i < 0) {
          if (buf.length > MAX_HEAD) throw new Error('request head too large');
          return;
        }
        const text = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 4);
        headDone(text.replace(/^(\r\n)+/, ''));
      } else if (state === 'body' || state === 'chunk-data') {
        const n = Math.min(remaining, buf.length);
        buf = buf.subarray(n);
        remaining -= n;
        if (remaining > 0) return;
        state = state === 'body' ? 'head' : 'chunk-crlf';
      } else if (state === 'chunk-crlf') {
        if (buf.length < 2) return;
        buf = buf.subarray(2);
        state = 'chunk-size';
      } else if (state === 'chunk-size') {
        const line = takeLine();
        if (line === null) return;
        remaining = Number.parseInt(line.split(';')[0], 16);
        state = remaining > 0 ? 'chunk-data' : 'trailer';
      } else if (state === 'trailer') {
        const line = takeLine();
        if (line === null) return;
        if (line === '') state = 'head';
      }
    }
  };
}

/**
 * One direction of a delayed connection: each chunk is written `delayMs` after it arrived, and not
 * before `notBefore` (the end of the emulated handshake); order is kept, and the source is paused
 * while too much is queued.
 */
function delayedPipe(src, dst, delayMs, notBefore, onData) {
  const queue = [];
  let queued = 0;
  let timer = null;
  let ended = false;
  const flush = () => {
    timer = null;
    const now = performance.now();
    while (queue.length && queue[0].at <= now) {
      const { chunk } = queue.shift();
      queued -= chunk.length;
      if (!dst.destroyed) dst.write(chunk);
    }
    if (queue.length) timer = setTimeout(flush, Math.max(0, queue[0].at - now));
    else if (ended) dst.end();
    if (queued < 8 * 1024 * 1024 && src.isPaused()) src.resume();
  };
  src.on('data', (chunk) => {
    onData?.(chunk);
    const at = Math.max(performance.now(), notBefore) + delayMs;
    queue.push({ at, chunk });
    queued += chunk.length;
    if (queued > 16 * 1024 * 1024) src.pause();
    if (!timer) timer = setTimeout(flush, Math.max(0, at - performance.now()));
  });
  // What is queued still reaches the other side: its end (or close) follows the last chunk.
  const finish = () => {
    if (ended) return;
    ended = true;
    if (!timer && queue.length === 0) dst.end();
  };
  src.on('end', finish);
  src.on('close', finish);
}

/**
 * Starts the proxy on 127.0.0.1 (an ephemeral port) in front of `upstream` ({ host, port }).
 * Returns { endpoint, counts(), reset(), connections(), close() }; `counts()` are the requests by
 * operation since the last `reset()`.
 */
export async function startProxy({ upstream, delayMs = 0 }) {
  let counts = {};
  let connections = 0;
  const sockets = new Set();
  const count = ({ method, target, headers }) => {
    const op = classify(method, target, headers);
    counts[op] = (counts[op] ?? 0) + 1;
  };
  const server = net.createServer((client) => {
    connections++;
    const accepted = performance.now();
    const up = net.connect(upstream.port, upstream.host);
    client.setNoDelay(true);
    up.setNoDelay(true);
    sockets.add(client);
    sockets.add(up);
    const parse = requestParser(count);
    const onData = (chunk) => {
      try {
        parse(chunk);
      } catch {
        counts.unparsed = (counts.unparsed ?? 0) + 1;
      }
    };
    const kill = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', kill);
    up.on('error', kill);
    client.on('close', () => sockets.delete(client));
    up.on('close', () => sockets.delete(up));
    if (delayMs > 0) {
      // SYN and SYN-ACK: the client's first bytes leave one RTT after its connect.
      delayedPipe(client, up, delayMs, accepted + 2 * delayMs, onData);
      delayedPipe(up, client, delayMs, 0);
    } else {
      client.on('data', onData);
      client.pipe(up);
      up.pipe(client);
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    delayMs,
    counts: () => ({ ...counts }),
    connections: () => connections,
    reset: () => {
      counts = {};
      connections = 0;
    },
    // Not waiting for the server's close callback: a client still connecting must not hold it up.
    close: async () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
