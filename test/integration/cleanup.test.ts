/**
 * cleanup's output: with --json, one line per upload found, then the summary as the last line, as
 * every command ends. The uploads are made up by a proxy (s3rver has no ListMultipartUploads), so both
 * servers answer the same listing; their aborts of the made-up ids fail or find them gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBucket, runCli, servers } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const UPLOADS = ['u/a', 'u/b', 'u/c'];
const OLD = '2020-01-01T00:00:00.000Z';

const listing = (bucket: string, uploads: { key: string; initiated: string }[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
  `<Bucket>${bucket}</Bucket><Prefix>u/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
  uploads
    .map(
      ({ key, initiated }, i) =>
        `<Upload><Key>${key}</Key><UploadId>made-up-${i}</UploadId><Initiated>${initiated}</Initiated>` +
        '<StorageClass>STANDARD</StorageClass></Upload>',
    )
    .join('') +
  '</ListMultipartUploadsResult>';

describe.each(servers())('cleanup output on $name', (server) => {
  let proxy: FaultProxy;
  let bucket: string;
  let uploads = () => UPLOADS.map((key) => ({ key, initiated: OLD }));
  /** How far the server's clock (its Date header) is behind this machine's. */
  let behindMs = 0;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'cleanout'));
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) =>
        req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url)
          ? {
              status: 200,
              body: () => Buffer.from(listing(bucket, uploads())),
              headers: (h) => {
                if (behindMs) h.date = new Date(Date.now() - behindMs).toUTCString();
              },
            }
          : undefined,
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it.each([[['--dry-run']], [[]]])('--json %j: a line per upload, then the summary last', async (flags) => {
    const args = ['cleanup', `s3://${bucket}/u`, '--older-than', '0s', ...flags, '--json'];
    const run = await runCli([...args, '--endpoint-url', proxy.endpoint], server);
    const lines = run.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; rel?: string });
    expect(lines.at(-1)?.type).toBe('summary');
    expect(lines.filter((l) => l.type === 'summary')).toHaveLength(1);
    expect(lines.slice(0, -1).map((l) => l.rel)).toEqual(UPLOADS);
  });

  it('ages are counted on the server clock: an upload a minute old is not stale there', async () => {
    const MIN = 60_000;
    // The server's clock is 10 minutes behind: its minute-old upload was initiated 11 minutes ago here.
    behindMs = 10 * MIN;
    const at = (ago: number) => new Date(Date.now() - behindMs - ago).toISOString();
    uploads = () => [
      { key: 'u/fresh', initiated: at(MIN) },
      { key: 'u/stale', initiated: at(6 * MIN) },
    ];
    try {
      const args = ['cleanup', `s3://${bucket}/u`, '--older-than', '5m', '--dry-run', '--json'];
      const run = await runCli([...args, '--endpoint-url', proxy.endpoint], server);
      expect(run.code, run.stderr).toBe(0);
      const found = (run.summary as unknown as { found: { key: string }[] }).found;
      expect(found.map((u) => u.key)).toEqual(['u/stale']);
    } finally {
      behindMs = 0;
      uploads = () => UPLOADS.map((key) => ({ key, initiated: OLD }));
    }
  });
});
