import { setting } from '../options/validate.js';
import { decidePushFile, type PushPlanInput } from '../plan/push.js';
import type { PartLimits } from '../s3/etag.js';
import { choosePartSize } from '../s3/etag.js';
import type { EarlyWork } from '../sync/facts.js';
import type { PushOptions } from '../sync/options.js';
import type { HashCache } from './hash-cache.js';

/** What hashing ahead needs of the run: its hashes, and the store's part-size limits. */
export interface HashAheadRun {
  hashes: HashCache;
  endpoint: { provider: PartLimits };
}

/**
 * Push starts hashing before the plan asks, so the hashing hides behind the listing:
 *
 * - before the listing, files whose stat data changed since their manifest entry, and files from the
 *   multipart threshold up that the manifest cannot vouch for: they need their MD5 whatever the listing
 *   says (to compare, or for the upload's x-amz-meta-md5 and parts' Content-MD5);
 * - as each listing page arrives, the files it shows have an object of their size (a rebuild).
 *
 * Not speculatively, before the listing, for other files the manifest knows nothing of. Measured on a
 * 2-core machine: for small files that hashing took the CPU the server needed for the listing; for
 * files up to the multipart threshold it delayed a first push's uploads (a new object is
 * hashed as it is sent, see upload-put.ts) and gained a rebuild nothing, as the first listing page arrives
 * before the first 64 MiB hash is done.
 */
export function hashAhead(run: HashAheadRun, input: PushPlanInput, opts: PushOptions): EarlyWork {
  const decide = (f: PushPlanInput['files'][number], facts = input.facts) =>
    decidePushFile(f, input.manifest.get(f.rel), input.racyThresholdNs, facts, input.options);

  const beforeGathering = () => {
    const threshold = setting(opts, 'multipartThreshold');
    const provider = run.endpoint.provider;
    for (const f of input.files) {
      const d = decide(f);
      if (d.kind === 'hash') run.hashes.prefetch(f, d.partSizes);
      else if (d.kind === 'listing' && f.size >= threshold && !opts.dryRun) {
        const ps = choosePartSize(f.size, setting(opts, 'partSize'), provider);
        run.hashes.prefetch(f, [ps]);
      }
    }
  };

  let byRel: Map<string, PushPlanInput['files'][number]> | undefined;
  const onListed: EarlyWork['onListed'] = (page) => {
    // Set one by one, not built from [key, value] arrays: one array fewer per file, in code run cold.
    if (!byRel) {
      byRel = new Map();
      for (const f of input.files) byRel.set(f.rel, f);
    }
    const remote = new Map<string, (typeof page)[number]>();
    for (const o of page) remote.set(o.rel, o);
    const facts = { ...input.facts, remote };
    for (const o of page) {
      const f = byRel.get(o.rel);
      if (!f) continue;
      const d = decide(f, facts);
      if (d.kind === 'hash') run.hashes.prefetch(f, d.partSizes);
    }
  };
  return { beforeGathering, onListed };
}
