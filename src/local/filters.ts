// Path filters for push, pull and plan.
//
// A path is always a relative path with '/' separators, relative to the sync root: the same string
// for a local file and for a remote key with the prefix stripped.
//
// Precedence, evaluated for every file:
//
//   0. Internal names (`INTERNAL_NAMES`, i.e. the `.s3sync/` manifest folder) at the root, in any
//      case, are always excluded, whatever the rules below say.
//   1. `.s3syncignore` (in the source root, gitignore syntax: `#` comments, negation `!keep.log`,
//      directory patterns `build/`, anchored patterns `/foo`, `**`) is applied first. A path it
//      ignores is excluded, and no --include can bring it back. As in git, a file cannot be
//      re-included with `!` when one of its parent directories is ignored. Matching is
//      case-sensitive.
//   2. Then the command-line globs:
//      - a path matching any --exclude / --exclude-from glob is excluded, UNLESS it also matches
//        an --include glob (include overrides exclude, so the `aws s3 sync` idiom
//        `--exclude '*' --include '*.txt'` selects only .txt files);
//      - if only --include globs are given (no excludes at all), ONLY paths matching an include
//        are selected;
//      - a path matching no glob is included.
//
// Glob syntax is picomatch's with `dot: true` (so `*` also matches `.env`), case-sensitive:
//   - a glob without '/' matches the file's basename at any depth: `*.log` matches `a/b/c.log`.
//     It does NOT match directory names: a trailing '/' does (`node_modules/`, `.*/`: folders so
//     named at any depth, what is below them and not a file of that name), as in rsync and gitignore;
//   - a glob with '/' matches the whole relative path: `logs/*.txt` matches `logs/a.txt`, not
//     `x/logs/a.txt` nor `logs/sub/a.txt`;
//   - `dir/**` matches everything below `dir`; `logs/2024/` (a '/' inside) is that folder only;
//   - a leading './' is ignored; a leading '/' anchors the glob at the sync root, so `/foo` matches
//     only `foo`, not `a/foo`;
//   - a leading '!' negates the rest, read as above (`--exclude '!/keep/'` excludes all but `keep/`);
//     a lone '!', '!!x' and the negation of a glob that matches every path are usage errors
//     (src/options/glob.ts), not read as picomatch would (everything, or nothing).
//
// A glob from a flag, the config file or the library is taken as given: a space is part of a name.
// `[a]` is a character class only and `{a,b}` a choice, never also the literal name (picomatch tests a
// path equal to the glob before its regex), as aws, rclone and gitignore read them: `\[a\]` names `[a]`.
//
// --exclude-from files hold one glob per line; blank lines and lines starting with '#' are ignored,
// and surrounding whitespace is trimmed, but an escaped trailing space is kept (`tr\ `, see globLine).
import { createRequire } from 'node:module';
import type Ignore from 'ignore';
import type Picomatch from 'picomatch';
import { errorMessage, usageError } from '../errors.js';
import { type GlobShape, globLine, shapeGlob } from '../options/glob.js';
import { shown } from '../options/parse.js';
import { hasNameAt, sameName } from './name-case.js';
import { ReadRefusal, readRegularFile } from './read-regular.js';

// Both matchers are loaded on first use: a run without filters (the everyday no-change push) skips
// the time their modules take to load. Node keeps a module once loaded, so nothing here holds them.
const require = createRequire(import.meta.url);
const picomatch = (): typeof Picomatch => require('picomatch') as typeof Picomatch;
const ignore = (): typeof Ignore => require('ignore') as typeof Ignore;

/** Names the filter always excludes at the root of the sync (the manifest folder). */
export const INTERNAL_NAMES: readonly string[] = ['.s3sync'];

/** The rules file in the source root (gitignore syntax). */
export const IGNORE_FILE = '.s3syncignore';

/** Whether a rel path is the rules file, in any case: a file system that ignores case reads it so. */
export const isIgnoreFile = (rel: string): boolean => sameName(rel, IGNORE_FILE);

export interface FilterOptions {
  /** --include GLOB (repeatable). */
  include?: string[];
  /** --exclude GLOB (repeatable). */
  exclude?: string[];
  /** --exclude-from FILE: file paths, one glob per line, '#' comments, blank lines ignored. */
  excludeFrom?: string[];
  /** Contents of `.s3syncignore` in the source root (gitignore syntax), if any. */
  ignoreFileText?: string;
  /** Paths under INTERNAL_NAMES are data, not s3sync's state: between two buckets there is none. */
  noInternal?: boolean;
}

export interface PathFilter {
  /** relPath uses '/' separators, relative to the sync root (same string for local files and remote keys minus the prefix). */
  includes(relPath: string): boolean;
  /**
   * True when a whole directory can be skipped during the walk (dirRel without trailing slash).
   * Conservative: only true if NO file under it could be included.
   */
  excludesDir(dirRel: string): boolean;
  /**
   * False when there are no user filters at all (fast path). `includes` and `excludesDir` still
   * exclude INTERNAL_NAMES at the root when inactive, so callers that skip the filter on this
   * fast path must leave out `.s3sync/` themselves.
   */
  readonly active: boolean;
  /**
   * Exclude and include globs of one path segment — a plain name (`node_modules`) or a wildcard
   * (`.*`), not `*` alone — each with the first of `folders` (rel, no trailing '/') whose name it
   * matches that the filter does not leave out (an include's: nor already takes in whole), and the
   * option it came from: such a glob matches files only, and an rsync or gitignore user means the
   * folder too. `wildcard`: the glob is not a plain name.
   */
  namesMissingFolders(folders: Iterable<string>): NameMissingFolder[];
}

export interface NameMissingFolder {
  glob: string;
  folder: string;
  from: '--exclude' | '--exclude-from' | '--include';
  wildcard: boolean;
}

/** The most an --exclude-from file or `.s3syncignore` may hold: each line is a glob matched against every path. */
export const RULES_MAX_BYTES = 16 * 1024 * 1024;

/** Reads the --exclude-from files, then builds the filter. A missing file is a usage error. */
export async function createFilter(opts: FilterOptions): Promise<PathFilter> {
  const excludeFromTexts: string[] = [];
  for (const file of opts.excludeFrom ?? []) {
    let text: string;
    try {
      // A regular file only: a FIFO would block for ever, /dev/zero never end.
      text = readRegularFile(file, RULES_MAX_BYTES, 'a rule file').toString('utf8');
    } catch (err) {
      if (!(err instanceof ReadRefusal)) throw err;
      if (err.code === 'ENOENT') throw usageError(`--exclude-from file not found: ${file}`, err);
      throw usageError(`cannot read --exclude-from file ${file}: ${oneLine(err.why)}`, err);
    }
    // Checked here, where the file and line can be named.
    for (const [i, line] of text.split(/\r?\n/).entries()) {
      if (parseGlobList(line).length === 0) continue;
      const why = shapeGlob(globLine(line));
      if (typeof why === 'string')
        throw usageError(
          `invalid glob in --exclude-from ${file} line ${i + 1}: ${shown(globLine(line))} (${why})`,
        );
    }
    excludeFromTexts.push(text);
  }
  return createFilterSync({ ...opts, excludeFrom: undefined, excludeFromTexts });
}

/**
 * Pure version: `excludeFromTexts` are the contents of --exclude-from files (the `excludeFrom`
 * paths themselves are not read here and are ignored).
 */
export function createFilterSync(opts: FilterOptions & { excludeFromTexts?: string[] }): PathFilter {
  const includeGlobs = (opts.include ?? []).map((g) => normalizeGlob(g, '--include'));
  const excludeGlobs = [
    ...(opts.exclude ?? []).map((g) => normalizeGlob(g, '--exclude')),
    ...(opts.excludeFromTexts ?? []).flatMap(parseGlobList).map((g) => normalizeGlob(g, '--exclude-from')),
  ];
  // One-segment globs among the excludes and includes (checked above), as the user wrote them: see
  // namesMissingFolders. A glob in both exclude options is said as the --exclude the user typed. `*`
  // alone is left out: with --include it is how "nothing else" is written, and its folders are walked.
  const segmentGlobs: {
    glob: string;
    from: NameMissingFolder['from'];
    name: (n: string) => boolean;
    wildcard: boolean;
  }[] = [];
  for (const [from, globs] of [
    ['--exclude', opts.exclude ?? []],
    ['--exclude-from', (opts.excludeFromTexts ?? []).flatMap(parseGlobList)],
    ['--include', opts.include ?? []],
  ] as const) {
    for (const g of globs) {
      const include = from === '--include';
      if (segmentGlobs.some((e) => e.glob === g && (e.from === '--include') === include)) continue;
      const segment = segmentGlob(g);
      if (segment) segmentGlobs.push({ glob: g, from, ...segment });
    }
  }
  const ignoreText = opts.ignoreFileText ?? '';
  const hasIgnoreRules = parseGlobList(ignoreText).length > 0;
  const ig: Ignore.Ignore | undefined = hasIgnoreRules
    ? ignore()({ ignorecase: false }).add(ignoreText)
    : undefined;
  // Looked up once per filter, not once per path.
  const isPathValid = ig ? ignore().isPathValid : () => false;
  const ignored = (relPath: string): boolean => {
    if (!ig) return false;
    if (isPathValid(relPath)) return ig.ignores(relPath);
    // A key such as `p//x.log` gives a rel ('/x.log') the ignore rules refuse to read; read as the
    // path it collapses to, else an ignored object was deleted by push --delete and failed a pull.
    const plain = relPath
      .split('/')
      .filter((s) => s !== '' && s !== '.' && s !== '..')
      .join('/');
    return plain !== '' && isPathValid(plain) && ig.ignores(plain);
  };

  const includeMatcher = compileGlobs(includeGlobs);
  const excludeMatcher = compileGlobs(excludeGlobs);
  const onlyIncludes = includeGlobs.length > 0 && excludeGlobs.length === 0;
  const active = hasIgnoreRules || includeGlobs.length > 0 || excludeGlobs.length > 0;

  // Exclude globs that match every path below some directory, for excludesDir.
  const dirExcluders = excludeGlobs.map(dirExcluder).filter((f): f is DirTest => f !== undefined);
  const includesBelow = includeGlobs.map(includeBelow);

  const internal = opts.noInternal ? () => false : isInternal;
  const includes = (relPath: string): boolean => {
    if (internal(relPath)) return false;
    if (!active) return true;
    if (ignored(relPath)) return false;
    if (onlyIncludes) return includeMatcher(relPath);
    if (excludeMatcher(relPath)) return includeMatcher(relPath);
    return true;
  };

  const excludesDir = (dirRel: string): boolean => {
    const dir = dirRel.replace(/\/+$/, '');
    if (dir === '') return false;
    if (internal(dir)) return true;
    if (!active) return false;
    if (ig && isPathValid(`${dir}/`) && ig.ignores(`${dir}/`)) return true;
    if (includesBelow.some((test) => test(dir))) return false;
    if (onlyIncludes) return true;
    return dirExcluders.some((test) => test(dir));
  };

  // Every path below the folder matches an include (the same probe dirExcluder makes for excludes).
  const includedBelow = (dir: string) => includeMatcher(`${dir}/x`) && includeMatcher(`${dir}/.x/y`);
  const namesMissingFolders = (folders: Iterable<string>) => {
    // Read only when some glob could be said: the folders may be a listing's, walked lazily.
    if (segmentGlobs.length === 0) return [];
    const found = new Map<(typeof segmentGlobs)[number], string>();
    for (const f of folders) {
      const base = f.slice(f.lastIndexOf('/') + 1);
      for (const e of segmentGlobs) {
        if (found.has(e) || !e.name(base) || excludesDir(f) || ignored(`${f}/`)) continue;
        if (e.from === '--include' && includedBelow(f)) continue;
        found.set(e, f);
      }
      if (found.size === segmentGlobs.length) break;
    }
    const out: NameMissingFolder[] = [];
    for (const e of segmentGlobs) {
      const folder = found.get(e);
      if (folder !== undefined) out.push({ glob: e.glob, folder, from: e.from, wildcard: e.wildcard });
    }
    return out;
  };

  return { includes, excludesDir, active, namesMissingFolders };
}

// ---------------------------------------------------------------------------------------------

type DirTest = (dir: string) => boolean;

// literalBrackets false: `[a]` is a class only; picomatch's default also matched the name `[a]` with it.
const PM_OPTIONS: Picomatch.PicomatchOptions = { dot: true, windows: false, literalBrackets: false };

/**
 * A path test by the globs' regexes alone: picomatch's own matcher also takes a path equal to the glob,
 * so `[a].txt` matched the file `[a].txt` as well as `a.txt`.
 */
function matcher(globs: string | string[]): (path: string) => boolean {
  const res = (Array.isArray(globs) ? globs : [globs]).map((g) => picomatch().makeRe(g, PM_OPTIONS));
  return (path) => path !== '' && res.some((re) => re.test(path));
}

const SLASH = 0x2f;

/** A path under the names the filter always excludes (`.s3sync/`), in any case (see sameName). */
export function isInternal(rel: string): boolean {
  for (const name of INTERNAL_NAMES)
    if (hasNameAt(rel, name, 0) && (rel.length === name.length || rel.charCodeAt(name.length) === SLASH))
      return true;
  return false;
}

/** Lines of an --exclude-from file or ignore file that hold a rule. */
function parseGlobList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map(globLine)
    .filter((l) => l !== '' && !l.startsWith('#'));
}

function normalizeGlob(raw: string, flag: string): GlobShape {
  const shape = shapeGlob(raw);
  if (typeof shape === 'string') throw usageError(`invalid glob in ${flag}: ${shown(raw)} (${shape})`);
  try {
    matcher(shape.pattern);
  } catch (err) {
    throw usageError(`invalid glob in ${flag}: ${shown(raw)} (${oneLine(errorMessage(err))})`, err);
  }
  return shape;
}

function compileGlobs(globs: GlobShape[]): (rel: string) => boolean {
  const base = globs.filter((g) => g.basename).map((g) => g.pattern);
  const full = globs.filter((g) => !g.basename).map((g) => g.pattern);
  const matchBase = base.length > 0 ? matcher(base) : undefined;
  const matchFull = full.length > 0 ? matcher(full) : undefined;
  return (rel) => {
    if (matchFull?.(rel)) return true;
    if (matchBase) return matchBase(rel.slice(rel.lastIndexOf('/') + 1));
    return false;
  };
}

/** Ancestors of a directory path, itself included: 'a/b/c' -> ['a', 'a/b', 'a/b/c']. */
function selfAndAncestors(dir: string): string[] {
  const out: string[] = [];
  let i = dir.indexOf('/');
  while (i !== -1) {
    out.push(dir.slice(0, i));
    i = dir.indexOf('/', i + 1);
  }
  out.push(dir);
  return out;
}

/**
 * For an exclude glob that provably matches every path below some directories, a test for those
 * directories; undefined when we cannot tell (then it never lets a directory be skipped).
 */
function dirExcluder(g: GlobShape): DirTest | undefined {
  const p = g.pattern;
  if (p.startsWith('!')) return undefined; // negated globs: no shortcut
  if (g.basename) return p === '*' || p === '**' ? () => true : undefined;
  if (p === '**' || p === '**/*') return () => true;
  // A folder glob (`x/` is `**/x/**/*`) is below a folder its prefix matches, as `x/**` is.
  const tail = p.endsWith('/**/*') ? 5 : p.endsWith('/**') ? 3 : 0;
  if (tail === 0) return undefined;
  const prefix = p.slice(0, -tail);
  if (prefix === '' || prefix.endsWith('/')) return undefined;
  const matchPrefix = matcher(prefix);
  const matchWhole = matcher(p);
  return (dir) =>
    // `prefix/**` matches everything below a directory that `prefix` matches; the second check
    // is a cheap sanity test against picomatch constructs where that would not hold.
    selfAndAncestors(dir).some((a) => matchPrefix(a)) && matchWhole(`${dir}/x`) && matchWhole(`${dir}/.x/y`);
}

/**
 * Whether the include glob might match something below a directory. Conservative: false only when it
 * provably matches nothing there.
 */
function includeBelow(g: GlobShape): DirTest {
  if (g.basename) return () => true;
  const scan = picomatch().scan(g.pattern);
  if (scan.negated || g.pattern.startsWith('!')) return () => true;
  const base = scan.base;
  if (base === '' || base.includes('\\')) return () => true;
  return (dir) => base === dir || base.startsWith(`${dir}/`) || dir.startsWith(`${base}/`);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/**
 * A glob of one path segment, a plain name (`node_modules`) or a wildcard (`.*`), not `*` alone nor a
 * negation: what it matches a folder's name with. Such a glob matches files only, where an rsync or
 * gitignore user may mean the folder too. Undefined for any other glob.
 */
export function segmentGlob(g: string): { name: (n: string) => boolean; wildcard: boolean } | undefined {
  if (/^\*+$/.test(g) || /[/\\]/.test(g) || g.startsWith('!')) return undefined;
  const wildcard = !/^[^*?[\]{}()!]+$/.test(g);
  return { name: wildcard ? matcher(g) : (n: string) => n === g, wildcard };
}

/**
 * One glob as the filters read it (basename or whole path, leading `/` anchors), for options that pick
 * files by pattern (per-pattern headers, compression); a bad glob is a usage error naming `flag`.
 */
export function globMatcher(raw: string, flag: string): (rel: string) => boolean {
  return compileGlobs([normalizeGlob(raw, flag)]);
}
