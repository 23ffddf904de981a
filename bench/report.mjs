// The report: the Markdown tables (floors, workloads, targets per server) written beside the JSON.
import { HEAVY_DEFAULT, heavyRuns, RUNS, SETS } from './config.mjs';
import { fmtCpu, fmtMs, fmtRate, fmtReq, fmtRss, pct, ratio } from './format.mjs';
import { failedRuns, stats } from './measure.mjs';
import { compareMarkdown } from './report-peers.mjs';
import { hashRate } from './targets.mjs';
import { HASH_ALL } from './verify.mjs';

function requestsCell(w) {
  if (w.id === 'version') return '0';
  const distinct = [...new Set(w.runs.map((r) => fmtReq(r.requests)))];
  return distinct.length === 1
    ? distinct[0]
    : `${distinct[0]} (runs differ: ${distinct.slice(1).join(' / ')})`;
}

function vsFloor(sec, w) {
  const d = sec.datasets?.find((x) => x.set === w.set);
  const start = sec.nodeStart?.stats?.median;
  const sdk = (sec.sdkStart ?? sec.nodeStart)?.stats?.median;
  const m = w.stats?.median;
  switch (w.id) {
    case 'version':
      return `${ratio(m, start)} node start-up`;
    case 'push-nochange':
      return d ? `${ratio(m, start + d.walk.stats.median)} (start-up + walk)` : '';
    case 'pull-nochange':
      return d?.rawList
        ? `${ratio(m, sdk + d.walk.stats.median + d.rawList.stats.median)} (SDK start-up + walk + list)`
        : '';
    case 'push-first':
      return d?.rawPut ? `${pct(w.rate.value, d.rawPut.rate.value)} of the raw PUT process` : '';
    case 'push-multipart':
      return d?.rawMultipart
        ? `${pct(w.rate.value, d.rawMultipart.rate.value)} of the raw multipart process`
        : '';
    case 'pull-first':
      return d?.rawGet ? `${pct(w.rate.value, d.rawGet.rate.value)} of the raw GET process` : '';
    case 'push-rebuild': {
      const m5 = (d?.md5sum ?? sec.md5Floor)?.rate.value;
      const r = hashRate(sec, d, w);
      return `hashing ${r.toFixed(0)} MB/s net${m5 ? ` = ${pct(r, m5)} of md5sum` : ''}`;
    }
    case 'push-mutated': {
      const e = w.runs[0].expected;
      return `expected ${e.uploads} PUT + ≤${e.listPages} list page(s)`;
    }
    default:
      return '';
  }
}

/** How many runs each kind of workload had, and what was verified after them. */
export function runsLine(sets, runs, heavy) {
  const per = Object.keys(HEAVY_DEFAULT).filter((k) => sets.includes(k) && k !== '1m');
  const list = (f) => per.map((k) => `${f(heavy(k))} for ${k}`).join(', ');
  return `Runs: ${runs} for cheap workloads and floors (plus an unmeasured warm-up); first transfers ${list((n) => n)}; rebuilds ${list((n) => Math.max(3, n))}. Median (min–max) of wall time from spawn to exit; CPU is the measured process's median user + system time (all its threads; not the server's); peak RSS is the largest over the runs. After each first push, mutation push, rebuild and first pull, outside its timed span, the result is verified against the dataset (push: the prefix's keys, sizes and each single-part object's ETag against the file's MD5; pull: the pulled tree's paths, sizes and MD5s; MD5s of a sample beyond ${HASH_ALL.toLocaleString('en')} files); a run that did not verify failed, as a non-zero exit does, and first transfer rates count the files verified.`;
}

export function markdown(report) {
  const L = [];
  const m = report.meta;
  L.push(`# s3sync benchmark — ${m.date}`);
  L.push('');
  L.push(
    `${m.cpus} × ${m.cpuModel}, ${m.memGB} GB RAM, ${m.platform}, Node ${m.node}; s3sync ${m.version} at ${m.commit}${m.dirty ? ' (with uncommitted changes in src/)' : ''}. Load average ${m.loadAvgStart[0]} at start, ${m.loadAvgEnd[0]} at end; ${m.totalSeconds} s in all.`,
  );
  L.push(runsLine(SETS, RUNS, heavyRuns));
  for (const n of report.notices) L.push(`\n> ${n}`);
  if (report.manifestIo) {
    const io = report.manifestIo;
    L.push('');
    L.push(
      `## Manifest load/save, ${io.entries.toLocaleString('en')} entries (${(io.bytes / 1e6).toFixed(1)} MB file)`,
    );
    L.push('');
    L.push('| Operation | Runs | Median | Min–Max |');
    L.push('|---|---:|---:|---:|');
    for (const [k, label] of [
      ['save', '`saveManifest` (encode + write + fsync + rename)'],
      ['load', '`loadManifest` (read + decode + validate)'],
      ['read', 'floor: `readFileSync` of the file'],
      ['write', 'floor: write + fsync of the same bytes'],
    ]) {
      const s = stats(io[k]);
      L.push(`| ${label} | ${s.n} | ${fmtMs(s.median)} | ${fmtMs(s.min)}–${fmtMs(s.max)} |`);
    }
  }
  for (const sec of report.sections) {
    L.push('');
    L.push(`## ${sec.server}: ${sec.title}`);
    for (const n of sec.notices) L.push(`\n> ${n}`);
    L.push('');
    L.push('### Floors');
    L.push('');
    L.push('| Floor | Set | Runs | Median | Min–Max | CPU | Rate |');
    L.push('|---|---|---:|---:|---:|---:|---:|');
    for (const f of sec.floors) {
      const extra = f.requests
        ? ` (${f.requests} requests)`
        : f.wallStats
          ? ` (script wall ${fmtMs(f.wallStats.median)})`
          : '';
      L.push(
        `| ${f.label} | ${f.set ?? '–'} | ${f.stats.n} | ${fmtMs(f.stats.median)} | ${fmtMs(f.stats.min)}–${fmtMs(f.stats.max)} | ${fmtCpu(f.cpuMs)} | ${fmtRate(f.rate)}${extra} |`,
      );
    }
    L.push('');
    L.push('### Workloads');
    L.push('');
    L.push(
      '| Workload | Set | Runs | Median | Min–Max | CPU | Peak RSS | S3 requests (per run) | Rate | vs floor |',
    );
    L.push('|---|---|---:|---:|---:|---:|---:|---|---:|---|');
    const failures = [];
    for (const w of sec.workloads) {
      const why = failedRuns(w);
      const failed = !why
        ? ''
        : w.runs.some((r) => r.exitCode !== 0)
          ? ' ⚠ exit≠0'
          : w.runs.some((r) => r.timedOut)
            ? ' ⚠ killed'
            : ' ⚠ not verified';
      if (why) failures.push(`> ⚠ ${w.label} [${w.set}]: ${why}`.replace(/\n/g, ' '));
      L.push(
        `| ${w.label}${failed} | ${w.set} | ${w.stats.n} | ${fmtMs(w.stats.median)} | ${fmtMs(w.stats.min)}–${fmtMs(w.stats.max)} | ${fmtCpu(w.cpuMs)} | ${fmtRss(w.rssKiB)} | ${requestsCell(w)} | ${fmtRate(w.rate)} | ${vsFloor(sec, w)} |`,
      );
    }
    for (const f of failures) L.push('', f);
    if (sec.compare) L.push(...compareMarkdown(sec));
    L.push('');
    L.push('### Targets');
    L.push('');
    for (const t of sec.targets) L.push(`- **${t.result}** ${t.label}: ${t.detail}`);
  }
  if (report.manifestTargets?.length) {
    L.push('');
    L.push('## Targets (server-independent)');
    L.push('');
    for (const t of report.manifestTargets) L.push(`- **${t.result}** ${t.label}: ${t.detail}`);
  }
  L.push('');
  return L.join('\n');
}
