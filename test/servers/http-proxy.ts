import http from 'node:http';
import net from 'node:net';

/** What the proxy carried: CONNECT tunnels opened, absolute-form requests forwarded, and refusals. */
export interface ProxyCounts {
  tunnels: number;
  forwarded: number;
  refused: number;
  /** CONNECTs answered with a `connectStatus` fault's status. */
  failedConnects: number;
  /** host:port of each tunnel and forwarded request, as asked for. */
  targets: string[];
}

/**
 * How a misbehaving proxy answers instead of forwarding: its own page with a status (a filtering
 * proxy's 403, a 502 when it cannot reach the target), or a dropped connection; `garbage`: CONNECT is
 * answered 200 and then bytes that are not TLS; `connectStatus`: the first `times` CONNECTs (all when
 * absent) are answered with that status (a gateway's 502 blip), the next ones tunnelled.
 */
export type ProxyFault =
  | { status: number; html: string }
  | { connectStatus: number; times?: number }
  | 'drop'
  | 'garbage'
  | 'silent'
  | 'close';

/**
 * A forward proxy on 127.0.0.1, as a corporate one behaves: CONNECT is tunnelled to its target,
 * absolute-form requests (GET http://host/path) are forwarded; with `auth`, anything without that
 * user and password in Basic Proxy-Authorization gets 407. With `fault`, it misbehaves so.
 */
export async function startHttpProxy(
  auth?: { user: string; password: string },
  fault?: ProxyFault,
): Promise<{
  url: string;
  counts: ProxyCounts;
  close: () => Promise<void>;
}> {
  const counts: ProxyCounts = { tunnels: 0, forwarded: 0, refused: 0, failedConnects: 0, targets: [] };
  const expected = auth && `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
  const allowed = (req: http.IncomingMessage) => !expected || req.headers['proxy-authorization'] === expected;
  const open = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (!allowed(req)) {
      counts.refused++;
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-type': 'text/html' });
      return res.end('<html><body>407 Proxy Authentication Required</body></html>');
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('not a proxy request');
      return;
    }
    counts.forwarded++;
    counts.targets.push(target.host);
    if (fault === 'drop') return req.socket.destroy();
    if (typeof fault === 'object' && 'status' in fault) {
      res.writeHead(fault.status, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
      return res.end(fault.html);
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = http.request(target, { method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    open.add(client);
    client.on('error', () => {});
    client.on('close', () => open.delete(client));
    if (!allowed(req)) {
      counts.refused++;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    if (
      typeof fault === 'object' &&
      'connectStatus' in fault &&
      counts.failedConnects < (fault.times ?? Number.POSITIVE_INFINITY)
    ) {
      counts.failedConnects++;
      client.end(
        `HTTP/1.1 ${fault.connectStatus} ${http.STATUS_CODES[fault.connectStatus]}\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    counts.tunnels++;
    counts.targets.push(req.url ?? '');
    if (fault === 'garbage') {
      client.end('HTTP/1.1 200 Connection Established\r\n\r\nnot TLS at all\r\n');
      return;
    }
    if (fault === 'silent') return void client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (fault === 'close') return void client.end();
    const upstream = net.connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    open.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
