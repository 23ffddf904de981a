import http from 'node:http';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { isRequestTimeout } from '../../src/s3/endpoint-errors.js';
import { proxyEnv } from '../../src/s3/proxy.js';
import { timedAgents } from '../../src/s3/timed-agent.js';

const closers: Array<() => void> = [];
afterAll(() => {
  for (const c of closers) c();
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    (server as http.Server).closeAllConnections?.();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/** One request through the agent; resolves with the status, or the error it failed with. */
function request(agent: http.Agent, port: number, path: string, body?: Buffer) {
  return new Promise<{ status?: number; err?: unknown }>((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: body ? 'PUT' : 'GET', agent },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode }));
        res.on('error', (err) => resolve({ err }));
      },
    );
    req.on('error', (err) => resolve({ err }));
    req.end(body);
  });
}

const agents = () =>
  timedAgents({ keepAlive: true }, { connectMs: 2000, firstByteMs: 150, stallMs: 1500 }).httpAgent;

describe('timedAgents: each request timed through its phases', () => {
  it('an endpoint that accepts and never answers: a first-byte timeout, the endpoint silent', async () => {
    const port = await listen(net.createServer((s) => s.on('error', () => {})));
    const r = await request(agents(), port, '/');
    expect(isRequestTimeout(r.err)).toBe(true);
    expect(r.err).toMatchObject({ timeout: 'first-byte', silentEndpoint: true, ms: 150, code: 'ETIMEDOUT' });
  });

  it('a refused connection is marked with whether the endpoint had answered in the run (it went away)', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    const port = await listen(server);
    const agent = agents();
    // A port nothing listens on, before any answer: never there.
    const free = await listen(net.createServer());
    closers.pop()!();
    const never = await request(agent, free, '/');
    expect(never.err).toMatchObject({ code: 'ECONNREFUSED', wentAway: false });
    expect(await request(agent, port, '/')).toEqual({ status: 200 });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    // The kept-alive socket is gone too: the next request connects anew.
    while (Object.keys(agent.freeSockets).length > 0) await new Promise((r) => setTimeout(r, 5));
    const gone = await request(agent, port, '/');
    expect(gone.err).toMatchObject({ code: 'ECONNREFUSED', wentAway: true });
  });

  it('once the endpoint has answered, a slow answer waits as long as a stall, and is not silence', async () => {
    const port = await listen(
      http.createServer((req, res) => {
        if (req.url === '/slow') setTimeout(() => res.end('late'), 400);
        else res.end('ok');
      }),
    );
    const agent = agents();
    expect(await request(agent, port, '/fast')).toEqual({ status: 200 });
    // 400 ms: over the first-byte timeout, under the stall timeout.
    expect(await request(agent, port, '/slow')).toEqual({ status: 200 });
  });

  it('a body the server reads slowly is not a silent server: the first-byte timeout starts once it is sent', async () => {
    const port = await listen(
      http.createServer((req, res) => {
        // Nothing read for 500 ms: the client's 32 MiB wait, more than socket buffers hold.
        req.pause();
        setTimeout(() => {
          req.resume();
          req.on('end', () => res.end('stored'));
        }, 500);
      }),
    );
    expect(await request(agents(), port, '/put', Buffer.alloc(32 * 1024 * 1024))).toEqual({ status: 200 });
  });

  it('an answer that starts and then stops is a stall, once the stall timeout runs out', async () => {
    const port = await listen(
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only part of it');
      }),
    );
    const r = await request(agents(), port, '/');
    expect(r.err).toMatchObject({ timeout: 'stall', silentEndpoint: false, ms: 1500 });
  });

  describe('a wait the client imposes on itself (a --bwlimit bucket) is not a stall', () => {
    const quick = () =>
      timedAgents({ keepAlive: true }, { connectMs: 2000, firstByteMs: 2000, stallMs: 200 }).httpAgent;

    it('a body whose next piece comes after more than the stall timeout is sent whole', async () => {
      const port = await listen(
        http.createServer((req, res) => {
          let n = 0;
          req.on('data', (c: Buffer) => (n += c.length));
          req.on('end', () => res.end(String(n)));
        }),
      );
      const got = await new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'PUT', agent: quick() }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += String(c)));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.write('a'.repeat(100));
        // Three stall timeouts without a byte to send, as a worker waiting on the bucket has none.
        setTimeout(() => req.end('b'.repeat(100)), 600);
      });
      expect(got).toBe('200');
    });

    it('a response whose reader stops taking bytes for longer than the stall timeout is read whole', async () => {
      const size = 4 * 1024 * 1024;
      const port = await listen(http.createServer((_req, res) => res.end(Buffer.alloc(size))));
      const got = await new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, agent: quick() }, (res) => {
          let n = 0;
          res.on('error', reject);
          res.on('end', () => resolve(n));
          // One pause longer than the stall timeout mid-body (the socket is paused), then the rest.
          res.once('data', (c: Buffer) => {
            n += c.length;
            res.pause();
            setTimeout(() => {
              res.on('data', (d: Buffer) => (n += d.length));
              res.resume();
            }, 600);
          });
        });
        req.on('error', reject);
      });
      expect(got).toBe(size);
    });
  });
});

describe('timedAgents: an ALL_PROXY that cannot be used', () => {
  it('a request it would carry fails in its one line, and never reaches the host directly', async () => {
    let reached = 0;
    const port = await listen(
      http.createServer((_req, res) => {
        reached++;
        res.end('direct');
      }),
    );
    const proxies = proxyEnv({ ALL_PROXY: 'socks5://127.0.0.1:1', NO_PROXY: '127.0.0.1' });
    const { httpAgent } = timedAgents(
      { keepAlive: true },
      { connectMs: 2000, firstByteMs: 2000, stallMs: 2000 },
      proxies,
    );
    // By name (never resolved: it fails before any connection); NO_PROXY names the address only.
    const r = await new Promise<{ status?: number; err?: unknown }>((resolve) => {
      http
        .get({ host: 'localhost', port, path: '/x', agent: httpAgent }, (res) => {
          res.resume();
          resolve({ status: res.statusCode });
        })
        .on('error', (err) => resolve({ err }));
    });
    expect(r.status).toBeUndefined();
    expect(String((r.err as Error | undefined)?.message)).toMatch(
      /^ALL_PROXY names a socks5 proxy .*socks proxies are not supported/,
    );
    expect(reached).toBe(0);
    // A host NO_PROXY names goes directly, as with any proxy.
    expect((await request(httpAgent, port, '/y')).status).toBe(200);
    expect(reached).toBe(1);
  });
});

describe('timedAgents: closed with the run', () => {
  it('closes idle and busy sockets, and a request after it fails at once, opening none', async () => {
    const open = new Set<net.Socket>();
    const server = http.createServer((req, res) => {
      if (req.url === '/hang') return;
      res.end('ok');
    });
    server.keepAliveTimeout = 0;
    server.on('connection', (s) => {
      open.add(s);
      s.on('close', () => open.delete(s));
    });
    const port = await listen(server);
    const { httpAgent, close } = timedAgents(
      { keepAlive: true },
      { connectMs: 2000, firstByteMs: 5000, stallMs: 5000 },
    );
    // Two sockets: one left idle, one taken again by a request the server never answers.
    expect(await Promise.all([request(httpAgent, port, '/a'), request(httpAgent, port, '/b')])).toEqual([
      { status: 200 },
      { status: 200 },
    ]);
    const hanging = request(httpAgent, port, '/hang');
    await new Promise((r) => setTimeout(r, 50));
    expect(open.size).toBe(2);
    close();
    // The request in flight ends with its socket; nobody awaits its answer once its run has ended.
    expect((await hanging).err).toBeDefined();
    const late = await request(httpAgent, port, '/c');
    expect(late.err).toMatchObject({ code: 'ECONNCLOSED', local: true });
    for (let i = 0; i < 20 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(open.size).toBe(0);
  });
});
