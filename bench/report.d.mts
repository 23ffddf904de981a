// Types of bench/report.mjs, for the unit test of the report's "Runs:" line.
export function runsLine(sets: string[], runs: number, heavy: (set: string) => number): string;
export function markdown(report: object): string;
