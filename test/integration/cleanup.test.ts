/**
 * cleanup's output: with --json, one line per upload found, then the summary as the last line, as
 * every command ends. The uploads are made up by a proxy (s3rver has no ListMultipartUploads), so both
 * servers answer the same listing; their aborts of the made-up ids fail or find them gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newBucket, runCli, servers } from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const UPLOADS = ['u/a', 'u/b', 'u/c'];

const listing = (bucket: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
  `<Bucket>${bucket}</Bucket><Prefix>u/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
  UPLOADS.map(
    (key, i) =>
      `<Upload><Key>${key}</Key><UploadId>made-up-${i}</UploadId><Initiated>2020-01-01T00:00:00.000Z</Initiated>` +
      '<StorageClass>STANDARD</StorageClass></Upload>',
  ).join('') +
  '</ListMultipartUploadsResult>';

describe.each(servers())('cleanup output on $name', (server) => {
  let proxy: FaultProxy;
  let bucket: string;

  beforeAll(async () => {
    ({ bucket } = await newBucket(server, 'cleanout'));
    proxy = await startFaultProxy({
      target: server.endpoint,
      seed: 1,
      rate: 0,
      rewrite: (req) =>
        req.method === 'GET' && /[?&]uploads(=|&|$)/.test(req.url)
          ? { status: 200, body: () => Buffer.from(listing(bucket)) }
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
});
