// Manifest load and save at scale, as a CLI run does them: in a fresh process, load once at the start
// and save once at the end.
//   node bench/manifest-io.mjs setup DIR [N=100000]  writes a synthetic N-entry manifest (the shape of
//                                                    src/manifest/schema.ts) with saveManifest
//   node bench/manifest-io.mjs measure DIR           times loadManifest, then saveManifest of what it
//                                                    loaded, then the I/O floors: readFileSync of the
//                                                    file and write + fsync of the same bytes
// Each prints one JSON line.
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { emptyManifest } from '../dist/manifest/schema.js';
import { loadManifest, saveManifest } from '../dist/manifest/store.js';
import { mulberry32 } from './datasets.mjs';

const [mode, dir, n = '100000'] = process.argv.slice(2);
const dest = { endpoint: 'http://127.0.0.1:9', bucket: 'bench', prefix: 'data/' };
const file = path.join(dir, 'manifest-bench.json');

if (mode === 'setup') {
  const N = Number(n);
  const rnd = mulberry32(42);
  const hex = (len) => {
    let s = '';
    while (s.length < len)
      s += Math.floor(rnd() * 2 ** 32)
        .toString(16)
        .padStart(8, '0');
    return s.slice(0, len);
  };
  const data = emptyManifest(dest);
  const base = 1_750_000_000_000_000_000n;
  for (let i = 0; i < N; i++) {
    const d = Math.floor(i / 50);
    const dirs = [1000, 100, 10, 1].map((k) => `d${Math.floor(d / k) % 10}`).join('/');
    const md5 = hex(32);
    const ns = (base + BigInt(i) * 1_000_003n).toString();
    data.files.set(`${dirs}/f${String(i).padStart(7, '0')}.dat`, {
      size: 1024 + Math.floor(rnd() * 64512),
      mtimeNs: ns,
      ctimeNs: ns,
      ino: String(1_000_000 + i),
      md5,
      etag: md5,
      partSize: 0,
      syncedAt: new Date(1_750_000_000_000 + i).toISOString(),
    });
  }
  data.lastSync = new Date().toISOString();
  saveManifest(file, data);
  process.stdout.write(`${JSON.stringify({ entries: N, bytes: statSync(file).size })}\n`);
} else if (mode === 'measure') {
  let t = performance.now();
  const loaded = loadManifest(file, dest);
  const load = performance.now() - t;
  const entries = loaded.data.files.size;
  if (loaded.warning || entries === 0) throw new Error(`the manifest did not load: ${loaded.warning}`);
  t = performance.now();
  saveManifest(file, loaded.data);
  const save = performance.now() - t;
  t = performance.now();
  const text = readFileSync(file, 'utf8');
  const read = performance.now() - t;
  t = performance.now();
  const fd = openSync(`${file}.raw`, 'w');
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  const write = performance.now() - t;
  process.stdout.write(`${JSON.stringify({ entries, load, save, read, write })}\n`);
} else {
  throw new Error('usage: manifest-io.mjs setup|measure DIR [N]');
}
