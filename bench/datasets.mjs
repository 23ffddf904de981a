// Deterministic benchmark datasets: the same seed gives the same tree, sizes and bytes on every machine.
// Layout and sizes come from a seeded PRNG (mulberry32); file bytes are an AES-128-CTR keystream keyed
// by (seed, path, version), which is as incompressible as random data and costs next to nothing.
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The datasets the bench knows. `count` files of `minSize`..`maxSize` bytes, ~`perDir` per directory. */
export const DATASETS = {
  '1k': { count: 1_000, minSize: 1 * KiB, maxSize: 64 * KiB, perDir: 50, seed: 1001 },
  '10k': { count: 10_000, minSize: 1 * KiB, maxSize: 64 * KiB, perDir: 50, seed: 1002 },
  '100k': { count: 100_000, minSize: 1 * KiB, maxSize: 64 * KiB, perDir: 50, seed: 1003 },
  '1m': { count: 1_000_000, minSize: 0, maxSize: 256, perDir: 50, seed: 1004 },
  big: { count: 4, minSize: 64 * MiB, maxSize: 64 * MiB, perDir: 4, seed: 1005, flat: true },
};

/** mulberry32: a tiny, well-distributed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const randInt = (rnd, min, max) => min + Math.floor(rnd() * (max - min + 1));

/**
 * The file list of a dataset: [{ rel, size, version }]. Directories nest with fan-out 10 (d3/d7/d1/…),
 * files live in the leaves, `perDir` per leaf.
 */
export function layout(spec) {
  const rnd = mulberry32(spec.seed);
  const files = [];
  const dirs = Math.ceil(spec.count / spec.perDir);
  const depth = Math.max(1, Math.ceil(Math.log10(dirs)));
  for (let i = 0; i < spec.count; i++) {
    const size = randInt(rnd, spec.minSize, spec.maxSize);
    if (spec.flat) {
      files.push({ rel: `big-${i}.bin`, size, version: 0 });
      continue;
    }
    const d = Math.floor(i / spec.perDir);
    const parts = [];
    for (let k = depth - 1; k >= 0; k--) parts.push(`d${Math.floor(d / 10 ** k) % 10}`);
    files.push({ rel: `${parts.join('/')}/f${String(i).padStart(7, '0')}.dat`, size, version: 0 });
  }
  return files;
}

const ZEROS = Buffer.alloc(4 * MiB);

/** Writes one file's deterministic content. */
export function writeContent(abs, seed, rel, version, size) {
  const key = createHash('sha256').update(`${seed}\0${rel}\0${version}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  if (size <= ZEROS.length) {
    writeFileSync(abs, cipher.update(ZEROS.subarray(0, size)));
    return;
  }
  const fd = openSync(abs, 'w');
  try {
    for (let off = 0; off < size; off += ZEROS.length) {
      writeSync(fd, cipher.update(ZEROS.subarray(0, Math.min(ZEROS.length, size - off))));
    }
  } finally {
    closeSync(fd);
  }
}

/** Creates the dataset under `root` (which must not exist or be empty); returns its file list. */
export function generate(root, spec) {
  const files = layout(spec);
  const made = new Set();
  for (const f of files) {
    const dir = path.posix.dirname(f.rel);
    if (!made.has(dir)) {
      mkdirSync(path.join(root, dir), { recursive: true });
      made.add(dir);
    }
    writeContent(path.join(root, f.rel), spec.seed, f.rel, f.version, f.size);
  }
  return files;
}

export const totalBytes = (files) => files.reduce((n, f) => n + f.size, 0);

/**
 * Changes 10% of the files (half rewritten at the same size, half at a different size) and adds
 * `added` new files, deterministically for (spec.seed, round). Updates `files` in place.
 */
export function mutate(root, spec, files, round, { share = 0.1, added = 5 } = {}) {
  const rnd = mulberry32(spec.seed * 7919 + round);
  const n = Math.round(files.length * share);
  const idx = files.map((_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rnd() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const sameSize = [];
  const resized = [];
  for (let k = 0; k < n; k++) {
    const f = files[idx[k]];
    f.version = `r${round}`;
    if (k < n / 2) sameSize.push(f.rel);
    else {
      let size = f.size;
      while (size === f.size) size = randInt(rnd, spec.minSize, spec.maxSize);
      f.size = size;
      resized.push(f.rel);
    }
    writeContent(path.join(root, f.rel), spec.seed, f.rel, f.version, f.size);
  }
  const newFiles = [];
  for (let k = 0; k < added; k++) {
    const dir = path.posix.dirname(files[Math.floor(rnd() * files.length)].rel);
    const f = {
      rel: `${dir}/new-${round}-${k}.dat`,
      size: randInt(rnd, spec.minSize, spec.maxSize),
      version: 0,
    };
    writeContent(path.join(root, f.rel), spec.seed, f.rel, f.version, f.size);
    files.push(f);
    newFiles.push(f.rel);
  }
  return { sameSize, resized, added: newFiles, changed: sameSize.length + resized.length + newFiles.length };
}

// `node bench/datasets.mjs generate NAME ROOT`: creates the dataset in a child process, so that the
// bench's own process stays small (every measured spawn forks it). Prints {"files":N,"bytes":B}.
if (
  process.argv[1] &&
  import.meta.url.endsWith(path.basename(process.argv[1])) &&
  process.argv[2] === 'generate'
) {
  const [name, root] = process.argv.slice(3);
  const spec = DATASETS[name];
  if (!spec) throw new Error(`unknown dataset ${name}`);
  const files = generate(root, spec);
  process.stdout.write(`${JSON.stringify({ files: files.length, bytes: totalBytes(files) })}\n`);
}
