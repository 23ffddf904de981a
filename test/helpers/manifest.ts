import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Destination, decodeManifest, type ManifestData } from '../../src/manifest/schema.js';
import { type LoadedManifest, loadManifest } from '../../src/manifest/store.js';

/** The manifest files in dir's state folder (none when it has no state folder). */
export function manifestPaths(dir: string): string[] {
  const state = path.join(dir, '.s3sync');
  if (!existsSync(state)) return [];
  return readdirSync(state)
    .filter((n) => /^manifest-.*\.json$/.test(n))
    .map((n) => path.join(state, n));
}

/** A manifest file's first line, its header, as raw JSON (fields an older s3sync left out stay out). */
export function manifestHeader(file: string): { destination: Destination; [k: string]: unknown } {
  const text = readFileSync(file, 'utf8');
  const nl = text.indexOf('\n');
  return JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { destination: Destination };
}

/**
 * A manifest file decoded by s3sync's own decoder, against the destination its header names; throws
 * when the file is not a valid, complete manifest.
 */
export function decodeManifestFile(file: string): ManifestData {
  const text = readFileSync(file, 'utf8');
  const m = decodeManifest(text, manifestHeader(file).destination);
  if (typeof m === 'string') throw new Error(`manifest ${file} is not valid: ${m}`);
  return m;
}

/** The one manifest under dir, decoded (throws when it is not valid); undefined when none exists. */
export function readManifest(dir: string): ManifestData | undefined {
  const paths = manifestPaths(dir);
  if (paths.length === 0) return undefined;
  if (paths.length > 1) throw new Error(`expected one manifest in ${dir}, found ${paths.join(', ')}`);
  return decodeManifestFile(paths[0]!);
}

/**
 * The manifest file as a run for `destination` loads it (whatever its on-disk format); throws when
 * s3sync would warn about it and rebuild it (damaged, of another destination, untrusted).
 */
export function loadManifestFile(file: string, destination: Destination): LoadedManifest {
  const loaded = loadManifest(file, destination);
  if (loaded.warning !== undefined) throw new Error(`manifest ${file} is not intact: ${loaded.warning}`);
  return loaded;
}
