import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Full sizes in CI (.ci/run sets S3SYNC_FULL=1), smaller ones for a quick `npm test`. */
export const FULL = process.env.S3SYNC_FULL === '1';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI the CLI tests spawn (the published bundle): `npm run build` first. */
export const cliPath = path.join(repoRoot, 'dist/cli/s3sync.cjs');
