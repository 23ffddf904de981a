import { usageError } from '../errors.js';

/**
 * A local folder named on the command line. `-` is refused: elsewhere in the CLI it is standard input
 * or output (`--files-from -`), so taken as a folder it made or read one named `-` by surprise; `./-`
 * still names such a folder. The library takes `-` as the path it is.
 */
export function localDir(dir: string, command: string): string {
  if (dir === '-')
    throw usageError(
      `${command}: '-' is not standard input or output here, and is not taken as a local folder: write ./- for a folder named -`,
    );
  return dir;
}
