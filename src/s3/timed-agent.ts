import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { timeoutError } from './endpoint-errors.js';
import type { ProxyEnv } from './proxy.js';
import { ForwardingAgent, TunnelingAgent } from './proxy-agent.js';

export interface RequestTimeouts {
  /** Establishing the TCP connection (DNS lookup included). */
  connectMs: number;
  /**
   * Until the endpoint has answered once: the wait for the TLS handshake and for a response once the
   * request is sent. A server that accepts connections but never answers is found within this.
   */
  firstByteMs: number;
  /** Any other silence, either way, while a request is sent or its response received. */
  stallMs: number;
}

type Phase = 'connecting' | 'handshake' | 'sending' | 'waiting' | 'receiving';

/**
 * Times one request through its phases. While it waits on the server (the connection, the TLS
 * handshake, the response once the request is sent), a plain timer: the socket's idle timer lets a
 * pending write postpone it once, which doubled the wait. While bytes should flow either way, the
 * socket's idle timer, which any byte sent or received resets: a slow upload is not a silent one.
 * Waiting for the server gets the short first-byte timeout until the endpoint has answered once in
 * this run; after that, a server slow to answer one request is a stall, retried like any other.
 */
function watch(req: http.ClientRequest, t: RequestTimeouts, endpoint: { answered: boolean }): void {
  let phase: Phase = 'sending';
  let socket: Socket | undefined;
  let res: http.IncomingMessage | undefined;
  let timer: NodeJS.Timeout | undefined;
  let armed = 0;
  const waitingForServer = () => phase === 'handshake' || phase === 'waiting';
  const budget = () =>
    phase === 'connecting'
      ? t.connectMs
      : waitingForServer() && !endpoint.answered
        ? t.firstByteMs
        : t.stallMs;
  const arm = () => {
    clearTimeout(timer);
    armed = budget();
    if (phase === 'connecting' || waitingForServer()) {
      socket?.setTimeout(0);
      timer = setTimeout(onTimeout, armed);
    } else {
      socket?.setTimeout(armed);
    }
  };
  // A wait the client imposes on itself is no silence of the connection: a body with nothing to send
  // yet (its piece waits on the --bwlimit bucket), a response whose reader has stopped taking bytes
  // (the same bucket; its socket is paused) or has all of them already.
  const clientWaits = () =>
    phase === 'sending'
      ? req.writableLength === 0
      : res !== undefined && (res.complete || !!socket?.isPaused());
  const onTimeout = () => {
    // The endpoint answered another request meanwhile: this one may now wait as long as any stall.
    if (armed !== budget()) return arm();
    const kind = phase === 'connecting' ? 'connect' : waitingForServer() ? 'first-byte' : 'stall';
    if (kind === 'stall' && clientWaits()) return arm();
    const err = timeoutError(kind, armed, !endpoint.answered && kind !== 'stall');
    res?.destroy(err);
    req.destroy(err);
  };
  // The reader takes bytes again: the silence counts from now, not from before its wait.
  const onResume = () => {
    if (phase === 'receiving') arm();
  };
  req.once('socket', (s: Socket) => {
    socket = s;
    s.on('timeout', onTimeout);
    s.on('resume', onResume);
    if (s.connecting) {
      phase = 'connecting';
      s.once('connect', () => {
        phase = 'encrypted' in s && s.encrypted ? 'handshake' : 'sending';
        if (phase === 'handshake')
          s.once('secureConnect', () => {
            if (phase === 'handshake') phase = 'sending';
            arm();
          });
        arm();
      });
    }
    arm();
  });
  req.once('finish', () => {
    // A server may answer before the body is all sent (an error): its answer is being received.
    if (res) return;
    phase = 'waiting';
    arm();
  });
  req.once('response', (r: http.IncomingMessage) => {
    res = r;
    endpoint.answered = true;
    phase = 'receiving';
    arm();
  });
  // An answer HTTP cannot parse: from an endpoint that has answered nothing yet in this run, no HTTP
  // server is there (a TLS port named http://, another protocol); after that, one garbled answer.
  // A connection refused after the endpoint answered in this run: it went away (a restart, a crash),
  // rather than being named wrong.
  req.on('error', (err: Error & { code?: unknown; notHttp?: boolean; wentAway?: boolean }) => {
    if (typeof err.code === 'string' && err.code.startsWith('HPE_') && err.notHttp === undefined)
      err.notHttp = !endpoint.answered;
    if (err.code === 'ECONNREFUSED' && err.wentAway === undefined) err.wentAway = endpoint.answered;
  });
  req.once('close', () => {
    clearTimeout(timer);
    // The agent resets the idle timer of a socket it keeps for the next request.
    socket?.off('timeout', onTimeout);
    socket?.off('resume', onResume);
  });
}

type AddRequest = (req: http.ClientRequest, options: unknown) => void;

/**
 * A request made on agents that were closed: whatever sent it outlived the run (an abandoned listing
 * page, a late retry). Local, so it is never retried.
 */
export class AgentsClosedError extends Error {
  readonly local = true;
  readonly code = 'ECONNCLOSED';
  constructor() {
    super('the connections of this run are closed: it has ended');
  }
}

/**
 * Keep-alive agents whose every request is timed by `watch`. The request is seen where the agent is
 * given it (addRequest, which Node's ClientRequest calls and proxy agents override too); where that
 * hook is missing, the agents are returned unwatched and `watched` is false.
 */
export function timedAgents(
  options: https.AgentOptions,
  timeouts: RequestTimeouts,
  proxies?: ProxyEnv,
): { httpAgent: http.Agent; httpsAgent: https.Agent; watched: boolean; close: () => void } {
  // One per client: "answered" is about the endpoint this client talks to.
  const endpoint = { answered: false };
  // Through a proxy where the environment names one for the scheme (each request checks NO_PROXY);
  // an unusable ALL_PROXY too, so that a request it would carry fails rather than goes direct.
  const httpAgent =
    proxies?.http || proxies?.refused?.http ? new ForwardingAgent(options, proxies) : new http.Agent(options);
  const httpsAgent =
    proxies?.https || proxies?.refused?.https
      ? new TunnelingAgent(options, proxies, { timeouts, endpoint })
      : new https.Agent(options);
  let watched = true;
  let closed = false;
  for (const agent of [httpAgent, httpsAgent]) {
    const hooked = agent as unknown as { addRequest?: AddRequest };
    const add = hooked.addRequest;
    if (typeof add !== 'function') {
      watched = false;
      continue;
    }
    hooked.addRequest = (req, opts) => {
      // Closed agents would open a socket for it all the same, one that nothing closes again.
      if (closed) {
        // Failed as Node fails a connection the agent could not make: destroy() would wait for a socket.
        (req as unknown as { onSocket(socket: null, err: Error): void }).onSocket(
          null,
          new AgentsClosedError(),
        );
        return;
      }
      watch(req, timeouts, endpoint);
      add.call(agent, req, opts);
    };
  }
  /**
   * Closes every socket, idle or in use, and refuses requests from then on: kept-alive sockets would
   * otherwise stay open as long as the server keeps them, one pool per run in a long-lived process.
   */
  const close = () => {
    closed = true;
    httpAgent.destroy();
    httpsAgent.destroy();
  };
  return { httpAgent, httpsAgent, watched, close };
}
