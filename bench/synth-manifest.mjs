// For the 1M-file tree, whose first push would take the embedded server most of an hour: writes the
// manifest a completed push would have left (stat data and MD5 of every file, ETag = MD5), with
// dist/manifest/store.js, so that a no-change push can be measured at that scale. The remote prefix
// stays empty: a no-change push never looks at it.
// Usage: node bench/synth-manifest.mjs ROOT ENDPOINT BUCKET PREFIX
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { emptyManifest } from '../dist/manifest/schema.js';
import { defaultManifestPath, saveManifest } from '../dist/manifest/store.js';
import { endpointFor } from '../dist/s3/client-options.js';
import { parseS3Url } from '../dist/s3/url.js';

const [root, endpointUrl, bucket, prefix] = process.argv.slice(2);
const loc = parseS3Url(`s3://${bucket}/${prefix}`);
const dest = { endpoint: endpointFor({ endpointUrl }).id, bucket: loc.bucket, prefix: loc.prefix };
const data = emptyManifest(dest);
const syncedAt = new Date().toISOString();
const walk = (dir, rel) => {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (ent.name === '.s3sync') continue;
    const abs = `${dir}/${ent.name}`;
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) walk(abs, r);
    else if (ent.isFile()) {
      const st = lstatSync(abs, { bigint: true });
      const md5 = createHash('md5').update(readFileSync(abs)).digest('hex');
      data.files.set(r, {
        size: Number(st.size),
        mtimeNs: st.mtimeNs.toString(),
        ctimeNs: st.ctimeNs.toString(),
        ino: st.ino.toString(),
        md5,
        etag: md5,
        partSize: 0,
        syncedAt,
      });
    }
  }
};
const absRoot = path.resolve(root);
walk(absRoot, '');
data.lastSync = syncedAt;
// As a completed first push leaves it: listed just now, so the no-change push is within --verify-interval.
data.listedAt = syncedAt;
saveManifest(defaultManifestPath(absRoot, dest), data);
process.stdout.write(`${JSON.stringify({ entries: data.files.size })}\n`);
