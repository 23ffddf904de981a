import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A proxy in front of a real server that rewrites some of its answers (`rewrite` returns the status and
 * body to send instead, or undefined to pass the answer on): a store that lacks a feature, or whose
 * listing pages are broken. Requests go upstream unchanged, so their signatures still hold.
 */
export async function rewritingProxy(
  target: string,
  rewrite: (url: URL, status: number, body: string) => { status: number; body: string } | undefined,
): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const up = http.request(
        `${target}${req.url}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (c: Buffer) => body.push(c));
          answer.on('end', () => {
            const text = Buffer.concat(body).toString('utf8');
            const out = rewrite(new URL(req.url ?? '/', 'http://x'), answer.statusCode ?? 500, text);
            const headers = { ...answer.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            const sent = Buffer.from(out ? out.body : text);
            res.writeHead(out ? out.status : (answer.statusCode ?? 500), {
              ...headers,
              'content-length': String(sent.length),
            });
            res.end(sent);
          });
        },
      );
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
