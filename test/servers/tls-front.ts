import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

/** A throwaway CA and a certificate it signed for 127.0.0.1 (SAN IP), made with the openssl CLI. */
export interface TestPki {
  dir: string;
  caFile: string;
  key: string;
  cert: string;
}

/**
 * Makes the CA and the server certificate in a temp directory; undefined (with the reason) when
 * openssl is missing or fails, so the suite can skip with a notice.
 */
export function makeTestPki(): TestPki | { error: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's3sync-pki-'));
  const f = (name: string) => path.join(dir, name);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  const steps = [
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=s3sync test CA'],
    ['-keyout', f('ca.key'), '-out', f('ca.pem')],
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('key.pem')],
    ['-out', f('server.csr')],
    ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key')],
    ['-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('cert.pem')],
  ];
  for (let i = 0; i < steps.length; i += 2) {
    const args = [...steps[i]!, ...steps[i + 1]!];
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) return { error: String(r.error ?? r.stderr) };
  }
  return {
    dir,
    caFile: f('ca.pem'),
    key: readFileSync(f('key.pem'), 'utf8'),
    cert: readFileSync(f('cert.pem'), 'utf8'),
  };
}

/**
 * A TLS front on 127.0.0.1 before a plain-HTTP server: each connection's bytes are piped both ways
 * after the handshake, so the requests (and their signatures, over the front's Host) reach the server
 * as sent. `connections` counts the handshakes that completed.
 */
export async function startTlsFront(
  target: string,
  pki: TestPki,
): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const up = new URL(target);
  let completed = 0;
  const open = new Set<net.Socket>();
  const server = tls.createServer({ key: pki.key, cert: pki.cert }, (client) => {
    completed++;
    const upstream = net.connect(Number(up.port), up.hostname);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  // A client that refuses the certificate ends the handshake: nothing to report.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `https://127.0.0.1:${port}`,
    connections: () => completed,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
