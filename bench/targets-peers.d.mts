// Types of bench/targets-peers.mjs, for the unit test that specifies the best-peer rule.
export type ToolResult = { median?: number; uploads?: number; requestsTotal?: number };
export type Workload = { results: Record<string, ToolResult> };
export function bestPeer(w: Workload | undefined): { name: string; ms: number } | null;
export function ratioToBest(w: Workload | undefined): number | null;
