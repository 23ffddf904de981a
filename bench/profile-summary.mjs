// Summarises a V8 .cpuprofile (from `node --cpu-prof`, or BENCH_PROFILE=1): the functions and files
// with the most self time, and the functions with the most inclusive time (recursion counted once).
// Usage: node bench/profile-summary.mjs FILE.cpuprofile [TOP=25]
import { readFileSync } from 'node:fs';

const [file, topArg = '25'] = process.argv.slice(2);
const top = Number(topArg);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const short = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'node_modules/')
    .replace(/^.*\/(dist|bench)\//, '$1/');
const key = (n) => {
  const cf = n.callFrame;
  return `${cf.functionName || '(anonymous)'} ${cf.url ? `${short(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
};
const fileOf = (n) => (n.callFrame.url ? short(n.callFrame.url) : n.callFrame.functionName);

const selfFn = new Map();
const selfFile = new Map();
const incl = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  total += us;
  selfFn.set(key(n), (selfFn.get(key(n)) ?? 0) + us);
  selfFile.set(fileOf(n), (selfFile.get(fileOf(n)) ?? 0) + us);
  const seen = new Set();
  for (let p = id; p !== undefined; p = parent.get(p)) {
    const k = key(byId.get(p));
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + us);
  }
}
const table = (title, m) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`,
    );
  }
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
table('self time by function', selfFn);
table('self time by file', selfFile);
table('inclusive time by function', incl);
