/**
 * Keep-alive agents that send requests through the proxy proxyFor names (see proxy.ts): an https
 * request through a CONNECT tunnel, TLS end to end with the endpoint (its certificate checked as
 * without a proxy); an http request in absolute form to the proxy. The tunnel is built before the
 * request has its socket, so timed-agent.ts cannot see it: it is timed here, with the same budgets.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ProxyRefusedError, ProxyUnavailableError, timeoutError } from './endpoint-errors.js';
import {
  type ProxyEnv,
  type ProxySetting,
  portOf,
  proxyAuthorization,
  proxyFor,
  proxyRefusal,
  shownProxy,
} from './proxy.js';
import type { RequestTimeouts } from './timed-agent.js';

/**
 * Marks a failure to reach the proxy itself (refused, no such host, its TLS certificate) with the proxy
 * as messages show it: its code stays (it is retried as any network failure), its message names the
 * proxy, not the endpoint.
 */
function markedAtProxy(socket: net.Socket, proxy: ProxySetting): void {
  // Node clears `connecting` before it emits a refusal: the connection's own event says it was made;
  // to an https:// proxy, the handshake's end.
  let connected = false;
  socket.once(socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
    connected = true;
  });
  socket.prependOnceListener('error', (err: Error & { proxy?: string }) => {
    if (!connected) err.proxy = shownProxy(proxy);
  });
}

export interface TunnelTiming {
  timeouts: RequestTimeouts;
  /** The endpoint has answered once in this run (see timed-agent.ts). */
  endpoint: { answered: boolean };
}

/** A proxy's answers to CONNECT that say its way to the endpoint failed for now. */
const PROXY_UNAVAILABLE = new Set([502, 503, 504]);

/** An answer's head is short; a longer one is no proxy's answer to CONNECT. */
const HEAD_MAX = 16 * 1024;

/**
 * A socket to the proxy itself: TLS to an https:// proxy, its certificate checked against Node's roots
 * and NODE_EXTRA_CA_CERTS, as curl and botocore check a proxy's: the endpoint's --ca-bundle and
 * --no-verify-ssl are about the endpoint.
 */
function toProxy(proxy: ProxySetting): net.Socket {
  const host = proxy.url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = portOf(proxy.url);
  if (proxy.url.protocol !== 'https:') return net.connect(port, host);
  return tls.connect({ host, port, servername: net.isIP(host) ? undefined : host });
}

/**
 * A TLS socket to `host:port` through a CONNECT tunnel, its handshake done. Connecting to the proxy
 * has the connect timeout; its answer and the handshake, the first-byte one until the endpoint has
 * answered once (a stall after).
 */
export function openTunnel(
  proxy: ProxySetting,
  options: tls.ConnectionOptions & { host: string; port: number },
  timing: TunnelTiming,
): Promise<tls.TLSSocket> {
  const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const { timeouts, endpoint } = timing;
  return new Promise((resolve, reject) => {
    const socket = toProxy(proxy);
    markedAtProxy(socket, proxy);
    const shown = shownProxy(proxy);
    let tunnelOpen = false;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const waitFor = (kind: 'connect' | 'first-byte') => {
      clearTimeout(timer);
      const ms =
        kind === 'connect' ? timeouts.connectMs : endpoint.answered ? timeouts.stallMs : timeouts.firstByteMs;
      timer = setTimeout(() => {
        // Until the tunnel is open, a silence is the proxy's.
        const err = Object.assign(
          timeoutError(kind, ms, !endpoint.answered),
          tunnelOpen ? {} : { proxy: shown },
        );
        fail(err);
      }, ms);
    };
    waitFor('connect');
    socket.once('error', fail);
    socket.once(proxy.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      waitFor('first-byte');
      const auth = proxyAuthorization(proxy.url);
      socket.write(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`,
      );
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > HEAD_MAX) fail(proxyRefusal(proxy, target, 0, 'an answer that is not HTTP'));
          return;
        }
        socket.off('data', onData);
        socket.off('end', onEnd);
        const m = /^HTTP\/1\.[01] (\d{3}) ?([^\r\n]*)/.exec(head.subarray(0, end).toString('latin1'));
        const status = m ? Number(m[1]) : 0;
        if (status < 200 || status > 299) {
          const phrase = m?.[2] ?? '';
          // A gateway's failure for now is retried; any other answer (407, 403) is the setup's.
          if (PROXY_UNAVAILABLE.has(status))
            return fail(
              new ProxyUnavailableError(
                `the proxy ${shown} answered the connection to ${target} with HTTP ${status}${phrase ? ` ${phrase}` : ''}`,
              ),
            );
          return fail(proxyRefusal(proxy, target, status, phrase));
        }
        tunnelOpen = true;
        // Bytes past the answer are the endpoint's already.
        if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
        handshake();
      };
      const onEnd = () =>
        fail(
          new ProxyRefusedError(`the proxy ${shown} closed the connection to ${target} without an answer`),
        );
      socket.on('data', onData);
      socket.once('end', onEnd);
    });
    const handshake = () => {
      socket.off('error', fail);
      const { host } = options;
      const secure = tls.connect({
        ...options,
        socket: socket as Duplex as net.Socket,
        servername: net.isIP(host) ? undefined : (options.servername ?? host),
      });
      secure.once('error', fail);
      secure.once('secureConnect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        secure.off('error', fail);
        resolve(secure);
      });
    };
  });
}

type Callback = (err: Error | null, socket?: Duplex) => void;
type AgentOptions = https.AgentOptions;

/** An https agent whose connections go through the proxy proxyFor names, else directly. */
export class TunnelingAgent extends https.Agent {
  constructor(
    options: AgentOptions,
    private readonly proxies: ProxyEnv,
    private readonly timing: TunnelTiming,
  ) {
    super(options);
  }

  override createConnection(options: tls.ConnectionOptions & { host: string; port: number }, cb: Callback) {
    let proxy: ProxySetting | undefined;
    try {
      proxy = proxyFor(this.proxies, 'https:', options.host, Number(options.port));
    } catch (err) {
      // An ALL_PROXY that cannot be used (refused before any request to the endpoint: see client.ts).
      cb(err as Error);
      return undefined;
    }
    if (!proxy) return super.createConnection(options, cb) as Duplex;
    openTunnel(proxy, { ...options, port: Number(options.port) }, this.timing).then(
      (s) => cb(null, s),
      (err: Error) => cb(err),
    );
    return undefined;
  }
}

/** The parts of ClientRequest a forwarding proxy changes before it is sent (as http-proxy-agent does). */
interface Unsent {
  path: string;
  _header?: string | null;
  _headerSent?: boolean;
  outputData?: { data: unknown }[];
  outputSize?: number;
  _implicitHeader(): void;
  setHeader(name: string, value: string): void;
  destroy(err: Error): void;
}

/**
 * Renders the head again with the absolute path and Proxy-Authorization. An Expect header has made
 * Node render the head and queue its bytes before the agent sees the request: the stale bytes are
 * taken out of the queue (rendering again queues the new head), else the proxy gets the old
 * origin-form head without credentials. False when the new head is not queued exactly once (a Node
 * that queues differently): the request must not be sent.
 */
function rerendered(r: Unsent, old: string): boolean {
  const queue = r.outputData ?? [];
  const stale = queue.findIndex((e) => typeof e.data === 'string' && e.data.startsWith(old));
  if (stale >= 0) {
    const entry = queue[stale] as { data: string; callback?: unknown };
    entry.data = entry.data.slice(old.length);
    if (entry.data === '' && !entry.callback) queue.splice(stale, 1);
    if (typeof r.outputSize === 'number') r.outputSize -= old.length;
  }
  r._implicitHeader();
  const head = r._header;
  if (!head) return false;
  const queued = queue.filter((e) => typeof e.data === 'string' && e.data.startsWith(head)).length;
  // Not sent yet: the head goes out with the first write of the body.
  return r._headerSent ? queued === 1 : queued === 0;
}

type Options = http.RequestOptions & { host: string; port: number; via?: ProxySetting };
const base = http.Agent.prototype as unknown as {
  addRequest(req: http.ClientRequest, options: Options): void;
};

/** An http agent that sends requests in absolute form to the proxy proxyFor names, else directly. */
export class ForwardingAgent extends http.Agent {
  constructor(
    options: http.AgentOptions,
    private readonly proxies: ProxyEnv,
  ) {
    super(options);
  }

  /** Node's ClientRequest hands each request here (its types leave the method out). */
  addRequest(req: http.ClientRequest, options: Options): void {
    let proxy: ProxySetting | undefined;
    try {
      proxy = proxyFor(this.proxies, 'http:', options.host, Number(options.port ?? 80));
    } catch (err) {
      // An ALL_PROXY that cannot be used (refused before any request to the endpoint: see client.ts).
      // Failed as Node fails a connection the agent could not make: destroy() would wait for a socket.
      (req as unknown as { onSocket(socket: null, err: Error): void }).onSocket(null, err as Error);
      return;
    }
    if (!proxy) {
      base.addRequest.call(this, req, options);
      return;
    }
    const r = req as unknown as Unsent;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    const port = Number(options.port ?? 80) === 80 ? '' : `:${options.port}`;
    // A head already rendered (an Expect header renders it at once) is rendered again with the new path.
    const old = r._header ?? null;
    if (old !== null) r._header = null;
    r.path = `http://${host}${port}${r.path}`;
    const auth = proxyAuthorization(proxy.url);
    if (auth) r.setHeader('proxy-authorization', auth);
    if (old !== null && !rerendered(r, old)) {
      r.destroy(
        new ProxyRefusedError(
          `cannot send the request through the proxy ${shownProxy(proxy)}: its head was already queued`,
        ),
      );
      return;
    }
    const at = proxy.url.hostname.replace(/^\[(.*)\]$/, '$1');
    base.addRequest.call(this, req, { ...options, host: at, port: portOf(proxy.url), via: proxy });
  }

  override createConnection(options: Options & tls.ConnectionOptions, cb: Callback) {
    if (options.via === undefined) return super.createConnection(options, cb) as Duplex;
    const socket = toProxy(options.via);
    markedAtProxy(socket, options.via);
    return socket;
  }
}
