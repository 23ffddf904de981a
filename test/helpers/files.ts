import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../servers/fault-proxy.js';
import { MiB } from './constants.js';

export function tempDir(label = 'dir'): string {
  return mkdtempSync(path.join(tmpdir(), `s3sync-test-${label}-`));
}

export const cleanup = (...dirs: string[]) => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
};

/**
 * Temp directories a test file creates, removed together after the file's tests (kept with
 * S3SYNC_KEEP=1 for post-mortems).
 */
export function trackedDirs(): { dir: (label: string) => string; removeAll: () => void } {
  const dirs: string[] = [];
  return {
    dir: (label) => {
      const d = tempDir(label);
      dirs.push(d);
      return d;
    },
    removeAll: () => {
      if (!process.env.S3SYNC_KEEP) cleanup(...dirs);
    },
  };
}

/** Writes files: rel path → content (string or byte count of seeded random data). */
export function writeTree(root: string, files: Record<string, string | Buffer | number>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, typeof content === 'number' ? randomBytes(content) : content);
  }
}

/** Seeded sizes (and layout), random content: n files spread over a few folders. */
export function seededTree(
  root: string,
  n: number,
  seed: number,
  opts: { minSize?: number; maxSize?: number; prefix?: string } = {},
): string[] {
  const rand = mulberry32(seed);
  const min = opts.minSize ?? 64;
  const max = opts.maxSize ?? 4096;
  const rels: string[] = [];
  for (let i = 0; i < n; i++) {
    const rel = `${opts.prefix ?? ''}d${i % 17}/f${String(i).padStart(5, '0')}.bin`;
    const abs = path.join(root, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    const fd = openSync(abs, 'w');
    writeSync(fd, randomBytes(min + Math.floor(rand() * (max - min))));
    closeSync(fd);
    rels.push(rel);
  }
  return rels;
}

/** Writes a big random file in 1 MiB chunks. */
export function bigFile(abs: string, size: number): void {
  mkdirSync(path.dirname(abs), { recursive: true });
  const fd = openSync(abs, 'w');
  try {
    for (let off = 0; off < size; off += MiB) writeSync(fd, randomBytes(Math.min(MiB, size - off)));
  } finally {
    closeSync(fd);
  }
}

export const md5Hex = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** rel path → md5 of every regular file under root, skipping s3sync's own state folder. */
export function treeHashes(root: string, skip = ['.s3sync']): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip.includes(r)) continue;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile()) out[r] = md5Hex(readFileSync(path.join(dir, e.name)));
    }
  };
  walk(root, '');
  return out;
}

export const mtimeOf = (p: string) => statSync(p).mtimeMs;

/** A pid that certainly belongs to no running process: a child's, after it exited and was reaped. */
export function deadPid(): number {
  const r = spawnSync('true');
  if (!r.pid) throw new Error('could not spawn true');
  return r.pid;
}

/** `n` small files of varied sizes (1 byte to 40 kB) in seven folders under `dir`: their rel paths. */
export function writeSmallFiles(dir: string, n: number): string[] {
  const rels = Array.from({ length: n }, (_, i) => `d${i % 7}/f${i}.bin`);
  for (let d = 0; d < Math.min(n, 7); d++) mkdirSync(path.join(dir, `d${d}`), { recursive: true });
  for (const [i, rel] of rels.entries())
    writeFileSync(path.join(dir, rel), randomBytes(1 + ((i * 7919) % 40_000)));
  return rels;
}

/** Changes one byte of each file: the same size, other content. */
export function editSameSize(dir: string, rels: string[]): void {
  for (const rel of rels) {
    const b = readFileSync(path.join(dir, rel));
    b[b.length >> 1] = (b[b.length >> 1]! + 1) & 0xff;
    writeFileSync(path.join(dir, rel), b);
  }
}

/** The temp folders pulls left in `dir`'s state folder (one per destination: `.s3sync/tmp-<id>`). */
export function tempFolders(dir: string): string[] {
  const state = path.join(dir, '.s3sync');
  if (!existsSync(state)) return [];
  return readdirSync(state)
    .filter((n) => n.startsWith('tmp'))
    .map((n) => path.join(state, n));
}
