import { isUtf8 } from 'node:buffer';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { ReadRefusal, readRegularFile } from '../local/read-regular.js';
import { invalidBytes } from '../local/scan.js';
import { type EntryPoint, OPTION_SPECS } from '../options/table.js';
import { checkEnds, configValues, didYouMean, type JobCommand } from '../options/validate.js';
import { OPTION_ORIGINS, type OptionOrigins, ORIGIN_KEYS } from '../s3/client-options.js';
import { isS3Url, parseS3Url, writableS3Url } from '../s3/url.js';
import { localDir } from './local-arg.js';

/**
 * s3sync.config.json in the working directory (or the file $S3SYNC_CONFIG names):
 *   { "defaults": { "endpointUrl": "...", "workers": 8, "stallTimeout": "30s" },
 *     "jobs": [ { "command": "push", "source": "./database", "destination": "s3://bucket/db" } ] }
 * Keys are the library's option names, and take the values the flags take (or typed ones). Flags on
 * the command line win over a job's values, which win over the defaults.
 */
export interface ConfigJob {
  command: JobCommand;
  source: string;
  destination: string;
  /** The job's options, in the library's types. */
  options: Record<string, unknown>;
}

export interface ConfigFile {
  /** Options for every command, in the library's types. */
  defaults: Record<string, unknown>;
  jobs: ConfigJob[];
  path?: string;
}

const JOB_COMMANDS: readonly JobCommand[] = ['push', 'pull', 'check', 'sync'];

/**
 * The library entry point a job runs: its command, or for `sync` the one its ends name (a local
 * directory to S3 is push, S3 to a local directory pull, S3 to S3 syncBuckets), as `s3sync sync` does.
 */
export function jobEntry(
  job: Pick<ConfigJob, 'command' | 'source' | 'destination'>,
  where = 'a job',
): EntryPoint {
  if (job.command !== 'sync') return job.command;
  const [from, to] = [isS3Url(job.source), isS3Url(job.destination)];
  if (from && to) return 'sync s3';
  if (to) return 'push';
  if (from) return 'pull';
  throw usageError(
    `${where}: sync takes at least one s3://bucket/prefix: for two local directories use rsync`,
  );
}
/** A job's ends as its command takes them (the CLI checks its arguments so): refused before any job runs. */
function checkJobEnds(entry: EntryPoint, source: string, destination: string, at: string): void {
  try {
    // '-' is refused as the CLI refuses it for a local folder: a job runs the library, which took it
    // as a folder named '-' in the working folder (not beside the file, where ./- would be).
    if (entry === 'push' || entry === 'check') localDir(source, '"source"');
    if (entry === 'pull') localDir(destination, '"destination"');
    if (entry === 'pull') checkEnds('pull', destination, source);
    else if (entry === 'push' || entry === 'check') checkEnds(entry, source, destination);
    else if (entry === 'sync s3') {
      parseS3Url(source);
      writableS3Url(destination, 'the destination');
    }
  } catch (err) {
    throw usageError(`${at}: ${(err as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The options whose values name local files or folders (an S3 URL or '-', standard input, excepted):
 * those whose flag takes a <path>, <file> or <dir>, so a new one is never read from the working folder.
 */
const PATH_OPTIONS: readonly string[] = Object.entries(OPTION_SPECS).flatMap(([name, spec]) =>
  'arg' in spec && ['<path>', '<file>', '<dir>'].includes(spec.arg as string) ? [name] : [],
);

/**
 * A local path of the file, relative to the file's folder: a cron job's working directory is not the
 * file's. `~` and `~/…` are the home folder, as a shell reads them (else a folder named `~` is made
 * beside the file); `~user` is refused, not looked up.
 */
function fromFile(v: string, at: { base: string; home: string; where: string; key: string }): string {
  if (v === '-' || isS3Url(v) || path.isAbsolute(v)) return v;
  if (v === '~' || v.startsWith('~/')) return path.join(at.home, v.slice(1));
  if (v.startsWith('~'))
    throw usageError(
      `${at.where}: "${at.key}" '${v}': ~user is not read: write the folder's full path (~/ is your home folder)`,
    );
  return path.resolve(at.base, v);
}

function withPathsFrom<T extends Record<string, unknown>>(
  values: T,
  where: string,
  dirs: { base: string; home: string },
): T {
  const out: Record<string, unknown> = { ...values };
  for (const key of [...PATH_OPTIONS, 'source', 'destination']) {
    const v = out[key];
    const at = { ...dirs, where, key };
    if (typeof v === 'string') out[key] = fromFile(v, at);
    else if (Array.isArray(v)) out[key] = v.map((x) => (typeof x === 'string' ? fromFile(x, at) : x));
  }
  return out as T;
}

/** A section's values, with where its connection options came from (see OPTION_ORIGINS): messages name the key. */
function withOrigins(values: Record<string, unknown>, section: string): Record<string, unknown> {
  const origins: OptionOrigins = {};
  for (const key of ORIGIN_KEYS)
    if (values[key] !== undefined) origins[key] = `"${key}" in the config file's ${section}`;
  return Object.keys(origins).length === 0 ? values : { ...values, [OPTION_ORIGINS]: origins };
}

/**
 * Reads and checks the whole config file: a mistake anywhere in it (an unknown key, a bad value, a job
 * without a destination) is a usage error naming the file, before any job or command runs.
 */
/**
 * The first key an object of `text` (valid JSON) holds twice: JSON.parse keeps the last one silently,
 * so `"dryRun": true, …, "dryRun": false` would run for real with no word said.
 */
export function duplicateKey(text: string): string | undefined {
  // Per open object its keys; an array holds none.
  const open: (Set<string> | undefined)[] = [];
  let last = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      last = JSON.parse(text.slice(i, j + 1)) as string;
      i = j;
    } else if (c === '{') open.push(new Set());
    else if (c === '[') open.push(undefined);
    else if (c === '}' || c === ']') open.pop();
    else if (c === ':') {
      const keys = open.at(-1);
      if (keys?.has(last)) return last;
      keys?.add(last);
    }
  }
  return undefined;
}

/**
 * Where in the file JSON.parse stopped, as `:LINE:COLUMN` (an editor's jump target), and why: Node 20
 * says only the character offset ("in JSON at position 93"), useless in a file of many lines.
 */
function jsonMistake(message: string, text: string): { at: string; why: string } {
  const m = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message);
  const end = /^Unexpected end of JSON input$/.test(message);
  if (!m && !end) return { at: '', why: message };
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return { at: `:${line}:${column}`, why: m ? message.slice(0, m.index) : message };
}

/** Far past any config file (60 jobs of 20,000 globs each is under 2 MiB): a mistaken file is not read. */
const CONFIG_MAX_BYTES = 16 * 1024 * 1024;

/** The file's bytes, only if it is a regular file (see readRegularFile): a FIFO would block for ever. */
function configBytes(file: string): Buffer {
  try {
    return readRegularFile(file, CONFIG_MAX_BYTES, 'a config file');
  } catch (err) {
    if (err instanceof ReadRefusal) throw usageError(`cannot read the config file ${file}: ${err.why}`);
    throw err;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ConfigFile {
  // Resolved, an empty name is the working folder: read as a file, it failed with EISDIR.
  if (env.S3SYNC_CONFIG !== undefined && env.S3SYNC_CONFIG.trim() === '')
    throw usageError('S3SYNC_CONFIG is empty: name a config file, or unset it for ./s3sync.config.json');
  const file = path.resolve(env.S3SYNC_CONFIG ?? 's3sync.config.json');
  if (!existsSync(file)) {
    // The default file is optional; one named on purpose and missing is a mistake (a typo).
    if (env.S3SYNC_CONFIG === undefined) return { defaults: {}, jobs: [] };
    throw usageError(`S3SYNC_CONFIG names ${file}, which does not exist`);
  }
  const bytes = configBytes(file);
  // Decoded as is, a Latin-1 "café" would be "caf\uFFFD", a folder that does not exist.
  if (!isUtf8(bytes))
    throw usageError(
      `config file ${file} is not UTF-8 (byte ${invalidBytes(bytes).split(', ')[0]}): save it as UTF-8`,
    );
  const text = bytes.toString('utf8');
  let parsed: unknown;
  // A byte order mark, as some Windows editors write one, is not part of the JSON.
  const json = text.replace(/^\uFEFF/, '');
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    const { at, why } = jsonMistake((err as Error).message, json);
    throw usageError(`config file ${file}${at} is not valid JSON: ${why}`);
  }
  const twice = duplicateKey(text);
  if (twice !== undefined)
    throw usageError(
      `config file ${file} gives the key ${JSON.stringify(twice)} twice in one object: JSON would keep only the last, so say it once`,
    );
  const where = `config file ${file}`;
  // Relative paths in it are the file's, wherever s3sync runs from (the same when it is found in cwd).
  const dirs = { base: path.dirname(file), home: env.HOME || homedir() };
  if (!isObject(parsed)) throw usageError(`${where} must hold a JSON object`);
  for (const key of Object.keys(parsed)) {
    if (key === 'defaults' || key === 'jobs') continue;
    const guess = didYouMean(key, ['defaults', 'jobs']);
    throw usageError(
      `${where}: unknown key ${JSON.stringify(key)} (${guess ? `did you mean "${guess}"?` : 'it holds "defaults" and "jobs"'})`,
    );
  }
  // Absent, a section is empty; null is a mistake, as {} for "jobs" is.
  const defaults = 'defaults' in parsed ? parsed.defaults : {};
  if (!isObject(defaults)) throw usageError(`${where}: "defaults" must be an object`);
  const jobs = 'jobs' in parsed ? parsed.jobs : [];
  if (!Array.isArray(jobs)) throw usageError(`${where}: "jobs" must be an array`);
  return {
    // Checked here, not only by the library, so the message names the file (and the job).
    defaults: withOrigins(
      withPathsFrom(configValues(defaults, `${where}: defaults`, 'defaults'), `${where}: defaults`, dirs),
      'defaults',
    ),
    jobs: jobs.map((j: unknown, i) => {
      const at = `${where}: job ${i + 1}`;
      if (!isObject(j)) throw usageError(`${at} must be an object`);
      const command = j.command as JobCommand;
      if (typeof command === 'string' && !JOB_COMMANDS.includes(command)) {
        const guess = didYouMean(command, JOB_COMMANDS);
        throw usageError(
          `${at}: unknown "command" ${JSON.stringify(command)} (${guess ? `did you mean "${guess}"? ` : ''}it takes push, pull, sync or check)`,
        );
      }
      if (!JOB_COMMANDS.includes(command))
        throw usageError(`${at} needs "command": "push", "pull", "check" or "sync"`);
      // Resolved against the file's folder, an empty end would be that folder (pushed, or pulled into).
      for (const end of ['source', 'destination'])
        if (typeof j[end] === 'string' && (j[end] as string).trim() === '')
          throw usageError(`${at}: "${end}" is empty: give a folder or an s3:// URL`);
      const {
        command: _c,
        source,
        destination,
        ...options
      } = withPathsFrom(configValues(j, at, command), at, dirs);
      if (typeof source !== 'string' || typeof destination !== 'string')
        throw usageError(`${at} needs "source" and "destination"`);
      // A sync job's options are those of what it runs: an S3 → S3 job refuses verify, as the CLI does.
      const entry = jobEntry({ command, source, destination }, at);
      if (entry !== command) configValues(j, at, entry as JobCommand | 'sync s3');
      checkJobEnds(entry, source, destination, at);
      return { command, source, destination, options: withOrigins(options, `job ${i + 1}`) };
    }),
    path: file,
  };
}
