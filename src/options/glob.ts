/**
 * How s3sync reads one glob of --include, --exclude, --exclude-from, --compress and --header-for, and
 * which globs it refuses. Pure and without picomatch: the options table checks a glob where it enters
 * (a flag, the config file, a library call) before a run starts, and the filters compile it.
 *
 * A leading `!` negates the glob (picomatch's), but not `!(…)`, an extglob. A glob whose negation
 * could mean nothing, or everything, is refused rather than read the way picomatch reads it: a lone
 * `!` (picomatch: every path, so `--exclude '!'` excluded the whole tree), `!!x` (x again, `!!!` every
 * path), and the negation of a glob that matches every path (no path, a silent no-op).
 */

/** A glob as the filters match it. */
export interface GlobShape {
  /** The glob as picomatch sees it: normalised, its `!` kept. */
  pattern: string;
  /** No '/' and not anchored: matched against the basename. */
  basename: boolean;
}

/** Globs that match every path: against the basename, and against the whole path. */
const EVERY_NAME: ReadonlySet<string> = new Set(['*', '**']);
const EVERY_PATH: ReadonlySet<string> = new Set(['**', '**/*', '**/**']);

/**
 * A glob's shape, or why it is refused (a hint for the message that names the option and the glob).
 * Taken as given: a space is part of a name (`'tr '` names `tr `, not `tr`), as aws and rclone read it.
 */
export function shapeGlob(raw: string): GlobShape | string {
  // Blank is a mistake (an unset variable), not a name made of spaces: `\ ` writes one.
  if (raw.trim() === '') return 'the glob is empty';
  const letter = letterEscape(raw);
  if (letter !== undefined)
    return `'\\${letter}' is no escape (a letter or digit needs none): a backslash in a name is written '\\\\', and folders are separated by '/'`;
  let pattern = raw;
  const negated = pattern.startsWith('!') && !pattern.startsWith('!(');
  if (negated) {
    pattern = pattern.slice(1);
    if (pattern.startsWith('!')) return "it negates more than once: give one '!' or none";
  }
  let anchored = false;
  // `./x/` is written from the root: a folder glob keeps it there.
  const rooted = pattern.startsWith('./');
  while (pattern.startsWith('./')) pattern = pattern.slice(2);
  if (pattern.startsWith('/')) {
    anchored = true;
    pattern = pattern.replace(/^\/+/, '');
  }
  const folder = pattern.endsWith('/');
  if (folder) pattern = pattern.replace(/\/+$/, '');
  if (pattern === '') return negated ? "a '!' with no glob after it negates nothing" : 'the glob is empty';
  // A folder's name (`node_modules/`) is a folder of that name at any depth, as a file name is (and as
  // rsync and gitignore read it); with a '/' inside or in front, the folder is from the root.
  // Only what is below it: a file that has the folder's name is not the folder.
  if (folder) pattern = `${!anchored && !rooted && !pattern.includes('/') ? '**/' : ''}${pattern}/**/*`;
  // An anchored slash-less glob (`/foo`) matches the root path only, not basenames.
  const basename = !anchored && !pattern.includes('/');
  if (negated && (basename ? EVERY_NAME : EVERY_PATH).has(pattern))
    return 'it negates a glob that matches every path, so it matches none';
  return { pattern: negated ? `!${pattern}` : pattern, basename };
}

/**
 * One line of an --exclude-from file as a glob: surrounding whitespace is an editor's, dropped, but a
 * backslash-escaped space at its end is the name's (`tr\ ` names `tr `), as gitignore reads a line.
 */
export function globLine(line: string): string {
  const start = line.trimStart();
  const end = start.trimEnd();
  // An odd run of backslashes before the dropped whitespace escapes its first character.
  const slashes = /\\*$/.exec(end)?.[0].length ?? 0;
  return slashes % 2 === 1 ? start.slice(0, end.length + 1) : end;
}

/**
 * The letter or digit after the first backslash that escapes one, if any. Picomatch passes such an
 * escape into its regular expression, where `\d` is any digit and `\b` a word boundary (`a\b.txt`
 * matched `a.txt`); a Windows path (`logs\debug.log`) is the usual cause.
 */
function letterEscape(raw: string): string | undefined {
  for (let i = 0; i < raw.length - 1; i++) {
    if (raw[i] !== '\\') continue;
    const next = raw[i + 1]!;
    if (/[A-Za-z0-9]/.test(next)) return next;
    i++; // `\\` or `\*`: the escaped character is no escape itself
  }
  return undefined;
}
