import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { configValues } from '../options/validate.js';
import { Output } from './output.js';

/**
 * s3sync.config.json in the working directory (or $S3SYNC_CONFIG):
 *   { "defaults": { "endpointUrl": "...", "workers": 8 },
 *     "jobs": [ { "command": "push", "source": "./database", "destination": "s3://bucket/db" } ] }
 * Option names are the library's (camelCase of the flags). Flags on the command line win over defaults.
 */
export interface ConfigFile {
  defaults: Record<string, unknown>;
  jobs: Array<Record<string, unknown> & { command: string }>;
  path?: string;
}

let cached: ConfigFile | undefined;

export function loadConfig(): ConfigFile {
  if (cached) return cached;
  const file = path.resolve(process.env.S3SYNC_CONFIG ?? 's3sync.config.json');
  if (!existsSync(file)) {
    cached = { defaults: {}, jobs: [] };
    return cached;
  }
  let parsed: Partial<ConfigFile>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ConfigFile>;
  } catch (err) {
    throw usageError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw usageError(`config file ${file} must hold a JSON object`);
  const jobs = parsed.jobs ?? [];
  if (!Array.isArray(jobs)) throw usageError(`config file ${file}: "jobs" must be an array`);
  for (const [i, j] of jobs.entries()) {
    if (!['push', 'pull', 'check'].includes(String(j?.command))) {
      throw usageError(`config file ${file}: job ${i + 1} needs "command": "push", "pull" or "check"`);
    }
    if (typeof j.source !== 'string' || typeof j.destination !== 'string') {
      throw usageError(`config file ${file}: job ${i + 1} needs "source" and "destination"`);
    }
  }
  const defaults = parsed.defaults ?? {};
  if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults))
    throw usageError(`config file ${file}: "defaults" must be an object`);
  // Checked here, not only by the library, so the message names the file (and the job).
  cached = {
    defaults: configValues(defaults, `config file ${file}: defaults`),
    jobs: jobs.map((j, i) => ({
      ...configValues(j, `config file ${file}: job ${i + 1}`),
      command: j.command,
    })),
    path: file,
  };
  return cached;
}

/** A bare `s3sync`: run every job of the config file in order; the worst exit code wins. */
export async function runConfiguredJobs(program: Command, signal?: AbortSignal): Promise<number> {
  const cfg = loadConfig();
  if (cfg.jobs.length === 0) {
    program.outputHelp();
    process.stderr.write('\ns3sync: no command given and no jobs in s3sync.config.json\n');
    return 2;
  }
  const lib = await import('../index.js');
  let worst = 0;
  for (const job of cfg.jobs) {
    const opts = { ...cfg.defaults, ...job, signal } as Record<string, unknown>;
    const output = new Output(opts.json ? 'json' : opts.quiet ? 'quiet' : 'human');
    const onEvent = (e: object) => void output.event(e as Parameters<Output['event']>[0]);
    const { command, source, destination, ...rest } = opts as {
      command: string;
      source: string;
      destination: string;
    };
    let r: { exitCode: number };
    if (command === 'push') r = await lib.push({ ...rest, source, destination, onEvent });
    else if (command === 'pull') r = await lib.pull({ ...rest, source, destination, onEvent });
    else r = await lib.check({ ...rest, local: source, remote: destination, onEvent });
    worst = Math.max(worst, r.exitCode);
  }
  return worst;
}
