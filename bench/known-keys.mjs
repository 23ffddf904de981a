// For the listing workload: writes the manifest a pull of the filled prefix would have left (one entry
// per key raw-s3.mjs `fill` made), so that s3sync knows the keys and may split the listing at them, as
// a rerun of a pull or a check of a known prefix does.
// Usage: node bench/known-keys.mjs ENDPOINT BUCKET PREFIX COUNT MANIFEST
import { emptyManifest } from '../dist/manifest/schema.js';
import { saveManifest } from '../dist/manifest/store.js';
import { endpointFor } from '../dist/s3/client-options.js';
import { parseS3Url } from '../dist/s3/url.js';

const [endpointUrl, bucket, prefix, count, out] = process.argv.slice(2);
const loc = parseS3Url(`s3://${bucket}/${prefix}`);
const data = emptyManifest({
  endpoint: endpointFor({ endpointUrl }).id,
  bucket: loc.bucket,
  prefix: loc.prefix,
});
const syncedAt = new Date().toISOString();
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
for (let i = 0; i < Number(count); i++)
  data.files.set(`k${String(i).padStart(8, '0')}`, {
    size: 0,
    mtimeNs: '0',
    ctimeNs: '0',
    ino: '0',
    md5: EMPTY_MD5,
    etag: EMPTY_MD5,
    partSize: 0,
    syncedAt,
  });
data.lastSync = syncedAt;
saveManifest(out, data);
process.stdout.write(`${JSON.stringify({ entries: data.files.size })}\n`);
