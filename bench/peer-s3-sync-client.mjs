// Runs s3-sync-client (a peer of the comparison) as a command: `node bench/peer-s3-sync-client.mjs FROM TO
// CONCURRENCY`, one of FROM and TO an s3:// URL. The package's path is BENCH_S3SC, the endpoint
// BENCH_ENDPOINT, the keys AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. `--version` prints its version.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const entry = process.env.BENCH_S3SC;
if (!entry) throw new Error('BENCH_S3SC is not set');
const require = createRequire(entry);
if (process.argv[2] === '--version') {
  let dir = path.dirname(entry);
  while (!dir.endsWith(`${path.sep}s3-sync-client`) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  process.stdout.write(`${JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version}\n`);
  process.exit(0);
}
const [from, to, concurrency = '8'] = process.argv.slice(2);
// The SDK the package itself resolves, so that the client passed in is the class it expects.
const { S3Client } = require('@aws-sdk/client-s3');
const { S3SyncClient } = require(entry);
const client = new S3Client({
  region: 'us-east-1',
  endpoint: process.env.BENCH_ENDPOINT,
  forcePathStyle: true,
  // Off AWS the SDK's default streaming checksums are not understood by every server.
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
});
const { sync } = new S3SyncClient({ client });
await sync(from, to, { maxConcurrentTransfers: Number(concurrency) });
client.destroy();
