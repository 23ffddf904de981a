// How figures are written in the report and the log lines.

export function fmtMs(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}
export const fmtCpu = (ms) => (typeof ms === 'number' ? fmtMs(ms) : '–');
/** Client CPU beside the wall-time ratio: on 2 cores shared with the server, CPU the client spends is the server's to lose. */
export const cpuVs = (w, floor) =>
  typeof w.cpuMs === 'number' && typeof floor.cpuMs === 'number'
    ? `client CPU ${fmtMs(w.cpuMs)} vs ${fmtMs(floor.cpuMs)}`
    : 'client CPU not measured';
export const fmtRss = (kib) => (kib ? `${((kib * 1024) / 1e6).toFixed(0)} MB` : '–');
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
export const pct = (a, b) => `${((100 * a) / b).toFixed(0)}%`;
export const fmtReq = (req) =>
  !req
    ? '?'
    : Object.keys(req).length === 0
      ? '0'
      : Object.entries(req)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
export const fmtRate = (r) =>
  r ? `${r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(1)} ${r.unit}` : '';
