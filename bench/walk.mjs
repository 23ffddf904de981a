// The floor of a no-change push: a bare recursive walk (readdirSync withFileTypes + lstatSync per file)
// in a minimal script. Prints {"files":N,"ms":T} where T is the walk alone, without Node's start-up.
import { lstatSync, readdirSync } from 'node:fs';

const root = process.argv[2];
const t0 = performance.now();
let files = 0;
let bytes = 0;
const walk = (dir) => {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${ent.name}`;
    if (ent.isDirectory()) {
      if (ent.name !== '.s3sync') walk(p);
    } else if (ent.isFile()) {
      bytes += lstatSync(p).size;
      files++;
    }
  }
};
walk(root);
const ms = performance.now() - t0;
process.stdout.write(`${JSON.stringify({ files, bytes, ms })}\n`);
