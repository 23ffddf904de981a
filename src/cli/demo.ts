import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedServer } from '../embedded/s3rver.js';
import { exitCodeOf } from './exit-codes.js';
import { summaryLines } from './output.js';

/**
 * Shows s3sync working with no cloud account: the embedded S3 server, a sample directory, a first push
 * that uploads everything and a second that uploads nothing and makes no request at all.
 */
export async function runDemo(opts: { keep?: boolean; signal?: AbortSignal } = {}): Promise<number> {
  const server = await startEmbeddedServer();
  const dir = mkdtempSync(path.join(tmpdir(), 's3sync-demo-'));
  try {
    for (let d = 0; d < 4; d++) {
      mkdirSync(path.join(dir, `dump-${d}`), { recursive: true });
      for (let f = 0; f < 25; f++) {
        writeFileSync(
          path.join(dir, `dump-${d}`, `table-${f}.sql`),
          `-- table ${d}/${f}\n`.repeat(50 + f * 20),
        );
      }
    }
    process.stdout.write(`embedded S3 server: ${server.endpoint}\nsample directory: ${dir} (100 files)\n`);
    // The embedded server's own keys, whatever the environment names: a profile there is another store's.
    const conn = {
      endpointUrl: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      client: undefined,
    };
    delete process.env.AWS_PROFILE;
    const { S3Transport } = await import('../s3/transport.js');
    const made = await S3Transport.connect(conn, 'demo-bucket');
    try {
      await made.createBucket();
    } finally {
      made.close();
    }
    const { push } = await import('../sync/push.js');
    for (const run of ['first', 'second']) {
      const r = await push({
        ...conn,
        source: dir,
        destination: 's3://demo-bucket/backups/db',
        signal: opts.signal,
      });
      process.stdout.write(`\n${run} push:\n  ${summaryLines(r).join('\n  ')}\n`);
      if (r.outcome !== 'ok') return exitCodeOf(r.outcome);
    }
    process.stdout.write(
      '\nThe second push decided from stat() alone: nothing uploaded, no S3 request.\n' +
        (opts.keep
          ? `The sample directory stays at ${dir}; push it to your own store with: s3sync push ${dir} s3://bucket/prefix\n`
          : ''),
    );
    return 0;
  } finally {
    await server.stop();
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}
