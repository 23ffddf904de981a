// Types of bench/targets-peers.mjs, for the unit tests that specify the best-peer rule and the no-change floor.
export type ToolResult = { median?: number; uploads?: number; requestsTotal?: number };
export type Workload = { results: Record<string, ToolResult> };
export function bestPeer(w: Workload | undefined): { name: string; ms: number } | null;
export function ratioToBest(w: Workload | undefined): number | null;
export type TargetRow = { label: string; result: 'PASS' | 'FAIL' | 'SKIP' | 'INFO'; detail: string };
export function evaluatePeers(sec: object): TargetRow[];
