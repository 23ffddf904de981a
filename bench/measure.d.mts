// Types of bench/measure.mjs, for the unit tests of the verdicts on failed runs.
export type Run = {
  ms: number;
  exitCode: number | null;
  timedOut?: boolean;
  error?: string;
  verifyError?: string;
  [k: string]: unknown;
};
export type TargetRow = { label: string; result: 'PASS' | 'FAIL' | 'SKIP' | 'INFO'; detail: string };
export type Section = {
  server: string;
  title: string;
  endpoint: string;
  floors: object[];
  workloads: object[];
  targets: TargetRow[];
  notices: string[];
  [k: string]: unknown;
};
export type Workload = { id: string; label: string; set: string; runs: Run[]; [k: string]: unknown };
export function newSection(server: { name: string; title: string; endpoint: string }): Section;
export function addWorkload<W extends Workload>(sec: Section, w: W): W & { failed?: string };
export function runFailure(r: Run): string | null;
export function failedRuns(w: { runs: Run[] } | undefined): string | null;
