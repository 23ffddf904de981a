// Types of bench/compare.mjs, for the unit tests of what a tool's runs stand for.
import type { Run } from './measure.mjs';

export type ToolSummary = {
  runs: Run[];
  median: number | null;
  stats: { median: number; min: number; max: number; n: number } | null;
  requests: Record<string, number> | null;
  requestsTotal: number | null;
  uploads: number | null;
  error?: string;
};
export function summarise(runs: Run[]): ToolSummary;
