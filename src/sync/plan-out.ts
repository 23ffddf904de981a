/**
 * Where a plan is to be written, checked before anything is listed, by the library's plan and the CLI
 * alike: a small module of its own, so that the CLI checks it without loading the planner.
 */
import { accessSync, constants, lstatSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../errors.js';

/**
 * Refuses, in one line, an `out` whose folder does not exist, is not a folder or cannot be written in
 * (a plan is renamed into place from a temp file beside it), and an `out` that is a folder. Anything
 * but a regular file there (`/dev/stdout`; a FIFO is refused by the plan's writer) is written to in
 * place: its folder is not asked to be writable.
 */
export function checkOutFolder(out: string): void {
  const abs = path.resolve(out);
  const st = statOrNone(abs);
  if (st?.isDirectory()) throw usageError(`--out ${out} is a directory: name the plan's file`);
  const dir = path.dirname(abs);
  const folder = statOrNone(dir);
  if (!folder) throw usageError(`--out ${out}: the folder ${dir} does not exist`);
  if (!folder.isDirectory()) throw usageError(`--out ${out}: ${dir} is not a folder`);
  if (st ? !st.isFile() : lstatSync(abs, { throwIfNoEntry: false })) return;
  // Followed as the write follows a link: the temp file goes beside the file it replaces.
  const real = st ? path.dirname(realpathSync(abs)) : dir;
  try {
    accessSync(real, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EACCES';
    throw usageError(`--out ${out}: cannot write in the folder ${real} (${code})`);
  }
}

/** A path's stat, or undefined where there is nothing: a path through a file (ENOTDIR) leads nowhere. */
function statOrNone(abs: string) {
  try {
    return statSync(abs, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw usageError(
      `cannot use --out ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
