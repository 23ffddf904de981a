// Types of bench/proxy.mjs, for the unit test that specifies it.
export type RequestHead = { method: string; target: string; headers: Record<string, string> };
export function classify(method: string, target: string, headers?: Record<string, string>): string;
export function requestParser(onRequest: (r: RequestHead) => void): (chunk: Buffer) => void;
export type Proxy = {
  endpoint: string;
  delayMs: number;
  counts(): Record<string, number>;
  connections(): number;
  reset(): void;
  close(): Promise<void>;
};
export function startProxy(opts: {
  upstream: { host: string; port: number };
  delayMs?: number;
}): Promise<Proxy>;
