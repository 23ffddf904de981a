import { hashFile } from '../local/hash.js';
import { absPath } from '../local/scan.js';
import type { Facts, Need } from '../plan/types.js';
import { forEachLimit } from './pool.js';
import type { Session } from './session.js';

/** Local hashing runs a few files at a time: MD5 is CPU-bound and there are few cores. */
const HASH_CONCURRENCY = 4;

/**
 * Gathers what the planner asked for: one listing, the hashes, the HEADs. Files that cannot be read are
 * reported and dropped from the plan through `unreadable`.
 */
export async function gatherFacts(
  s: Session,
  needs: Need[],
  facts: Facts,
  unreadable: Set<string>,
): Promise<void> {
  if (needs.some((n) => n.kind === 'listing')) {
    const t = await s.s3();
    facts.remote = await t.list(s.location.prefix);
  }
  const hashes = needs.filter((n) => n.kind === 'hash');
  await forEachLimit(
    hashes,
    HASH_CONCURRENCY,
    async (n) => {
      const prev = facts.hashes.get(n.rel);
      const sizes = [...new Set([...Object.keys(prev?.multipart ?? {}).map(Number), ...n.partSizes])];
      try {
        facts.hashes.set(n.rel, await hashFile(absPath(s.localRoot, n.rel), sizes));
      } catch (err) {
        unreadable.add(n.rel);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') s.warn(`${n.rel}: disappeared during the run`, n.rel);
        else s.fileError(n.rel, `cannot read file: ${code ?? (err as Error).message}`);
      }
    },
    s.opts.signal,
  );
  const heads = needs.filter((n) => n.kind === 'head');
  if (heads.length > 0) {
    const t = await s.s3();
    await forEachLimit(heads, 16, async (n) => {
      const h = await t.head(s.location.prefix + n.rel);
      facts.heads.set(n.rel, { metaMd5: h?.metadata.md5 });
    });
  }
}
