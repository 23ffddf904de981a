// The comparison's part of the report: one table per server (each tool's median wall time and the
// requests the proxy counted, the best peer, s3sync's ratio to it) and every tool's exact commands.
import { fmtMs } from './format.mjs';
import { bestPeer, ratioToBest } from './targets-peers.mjs';

const n = (x) => (typeof x === 'number' ? x.toLocaleString('en') : '?');

function cell(r) {
  if (!r) return '–';
  if (typeof r.median !== 'number') return `✗ ${r.error ?? 'failed'}`.replace(/\|/g, '/');
  const runs = r.runs.length > 1 ? ` (${fmtMs(r.stats.min)}–${fmtMs(r.stats.max)})` : '';
  return `${fmtMs(r.median)}${runs}; ${n(r.requestsTotal)} req, ${n(r.uploads)} up`;
}

/** The Markdown lines of a section's comparison. */
export function compareMarkdown(sec) {
  const cmp = sec.compare;
  const names = cmp.tools.map((t) => t.name);
  const L = [];
  L.push('');
  L.push(
    `### Comparison with the peers (${cmp.rttMs ? `${cmp.rttMs} ms RTT: ${cmp.rttMs / 2} ms each way, one RTT per new connection` : 'loopback'}, through the counting proxy)`,
  );
  for (const x of cmp.notices) L.push(`\n> ${x}`);
  L.push('');
  L.push(
    `Median wall time (min–max when more than one run, ${cmp.runs} run(s) each; no-change and fresh runner: at least 3), requests counted by the proxy, uploads = PutObject + completed multipart uploads. Concurrency: ${cmp.concurrency}.`,
  );
  L.push('');
  L.push(`| Workload | Set | ${names.join(' | ')} | best peer | s3sync / best |`);
  L.push(`|---|---|${names.map(() => '---|').join('')}---|---:|`);
  for (const w of cmp.workloads) {
    const best = bestPeer(w);
    const r = ratioToBest(w);
    L.push(
      `| ${w.label} | ${w.set} | ${names.map((t) => cell(w.results[t])).join(' | ')} | ${best ? `${best.name} ${fmtMs(best.ms)}` : '–'} | ${r === null ? '–' : `${r.toFixed(2)}×`} |`,
    );
  }
  if (cmp.rawList) {
    const x = cmp.rawList;
    L.push('');
    L.push(
      `Listing floor: ${x.label}, ${x.set}: ${fmtMs(x.stats.median)} (${x.pages} pages; the loop alone ${fmtMs(x.loop.median)}).`,
    );
  }
  L.push('');
  L.push('Commands ($WORK: the work directory; $ENDPOINT: the proxy):');
  L.push('');
  for (const t of cmp.tools) {
    L.push(`- **${t.name}** (${t.version}; ${t.setup})`);
    for (const [id, c] of Object.entries(t.commands)) L.push(`  - ${id}: \`${c}\``);
  }
  return L;
}
