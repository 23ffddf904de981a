import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { errorMessage, runError } from '../errors.js';
import { racyThreshold } from '../plan/compare.js';
import {
  type Destination,
  decodeManifest,
  emptyManifest,
  encodeManifestTo,
  type ManifestData,
} from './schema.js';

/** Folder inside the synced directory that holds manifests and locks; never synced itself. */
export const STATE_DIR = '.s3sync';

export function defaultManifestPath(localRoot: string, dest: Destination): string {
  const id = createHash('sha256').update(`${dest.endpoint}\n${dest.bucket}\n${dest.prefix}`).digest('hex');
  const safeBucket = dest.bucket.replace(/[^a-zA-Z0-9.-]/g, '_');
  return path.join(localRoot, STATE_DIR, `manifest-${safeBucket}-${id.slice(0, 12)}.json`);
}

export interface LoadedManifest {
  data: ManifestData;
  /** Set when a manifest existed but could not be trusted: say it in one line, then rebuild. */
  warning?: string;
  /** Raw JSON of a file that is not ours (the Python script's manifest): offered for adoption. */
  foreign?: unknown;
  /** Entries whose mtime tick was still open at this instant (ns) may hide a change: hash them. */
  racyThresholdNs: bigint;
}

export function loadManifest(file: string, dest: Destination): LoadedManifest {
  let text: string;
  let mtimeNs = 0n;
  try {
    text = readFileSync(file, 'utf8');
    mtimeNs = statSync(file, { bigint: true }).mtimeNs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { data: emptyManifest(dest), racyThresholdNs: 0n };
    }
    return {
      data: emptyManifest(dest),
      warning: `manifest ${file} is unreadable (${errorMessage(err)}): rebuilding it from the remote listing`,
      racyThresholdNs: 0n,
    };
  }
  const decoded = decodeManifest(text, dest);
  if (typeof decoded === 'string') {
    // Not ours at all: maybe another tool's manifest (the Python script's), offered for adoption.
    let foreign: unknown;
    if (!text.startsWith('{"schema":')) {
      try {
        foreign = JSON.parse(text);
      } catch {
        // neither ours nor JSON: corrupt
      }
    }
    return {
      data: emptyManifest(dest),
      warning: `manifest ${file} cannot be trusted (${decoded}): rebuilding it from the remote listing`,
      foreign,
      racyThresholdNs: 0n,
    };
  }
  return {
    data: decoded,
    racyThresholdNs: racyThreshold(BigInt(decoded.writtenAtNs), mtimeNs),
  };
}

/** writeSync of a string may write less than all of it (a full disk says so with an error, not here). */
function writeAll(fd: number, chunk: string): void {
  let buf = Buffer.from(chunk, 'utf8');
  while (buf.length > 0) buf = buf.subarray(writeSync(fd, buf));
}

/** Atomic replace: temp file, fsync, rename, fsync the directory. A crash leaves the old or the new. */
export function saveManifest(file: string, data: ManifestData): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true });
    data.writtenAtNs = (BigInt(Date.now()) * 1_000_000n).toString();
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    try {
      encodeManifestTo(data, (chunk) => writeAll(fd, chunk));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (err) {
    throw runError(`cannot write manifest ${file}: ${errorMessage(err)}`, err);
  }
}
