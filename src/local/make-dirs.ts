import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * `mkdir -p`, one level at a time: Node 20's `mkdirSync(…, { recursive: true })` loops forever, with
 * the event loop blocked (so deaf to Ctrl-C and SIGTERM), where mkdir answers ENOENT under a parent
 * that exists (any path under /proc). Here that ENOENT is thrown.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; ) {
    try {
      statSync(d);
      break;
    } catch (err) {
      const up = path.dirname(d);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up === d) throw err;
      missing.push(d);
      d = up;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]!);
    } catch (err) {
      // Made meanwhile by another run: as good as made here (a file there fails at the next level).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
