// Types of bench/verify.mjs, for the unit tests of what a push or a pull is checked against.
export type FileFacts = { size: number; md5?: string };
export type Verdict = {
  ok: boolean;
  files: number;
  bytes: number;
  expected: number;
  hashed: number;
  reason?: string;
};
export const HASH_ALL: number;
export const SAMPLE: number;
export function walkTree(root: string): Map<string, number>;
export function md5File(abs: string): string;
export function hashedPaths(rels: string[]): Set<string>;
export function compareFiles(expected: Map<string, FileFacts>, actual: Map<string, FileFacts>): Verdict;
export function verifyPull(root: string, dest: string): Verdict;
export function etagMd5(etag: string | undefined): string | undefined;
