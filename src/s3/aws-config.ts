import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { ReadRefusal, readRegularFile } from '../local/read-regular.js';

/**
 * The AWS shared config and credentials files, read without the AWS SDK: a run that makes no request
 * must not load it, and @smithy/shared-ini-file-loader is slow to import (it pulls in half of
 * @smithy/core). The parsing follows @smithy/core's parseIni, so s3sync sees the sections the SDK sees.
 */
export type IniSections = Record<string, Record<string, string>>;

/** `[profile NAME]`, `[services NAME]` and `[sso-session NAME]` are the config file's prefixed sections. */
const PREFIXES = new Set(['profile', 'services', 'sso-session']);
const PREFIXED = /^([\w-]+)\s(["'])?([\w\-@+.%:/]+)\2$/;

/**
 * Sections → keys → values. A key with an empty value opens a sub-section whose indented keys are
 * stored as `sub.key` (`s3 =` then `  endpoint_url = …` gives `s3.endpoint_url`).
 */
export function parseIni(text: string): IniSections {
  const map: IniSections = Object.create(null);
  let section: string | undefined;
  let sub: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.split(/(^|\s)[;#]/)[0]!.trim();
    if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
      section = undefined;
      sub = undefined;
      const name = trimmed.slice(1, -1);
      const m = PREFIXED.exec(name);
      if (m) section = PREFIXES.has(m[1]!) ? `${m[1]}.${m[3]}` : undefined;
      else section = name;
      continue;
    }
    if (section === undefined) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) continue;
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (value === '') {
      sub = key;
      continue;
    }
    // An unindented key ends the sub-section.
    if (sub !== undefined && line.trimStart() === line) sub = undefined;
    map[section] ??= Object.create(null) as Record<string, string>;
    map[section]![sub === undefined ? key : `${sub}.${key}`] = value;
  }
  return map;
}

export interface AwsProfile {
  name: string;
  /** Named by --profile or AWS_PROFILE, rather than the implicit 'default'. */
  named: boolean;
  /** Present in the config or the credentials file. */
  found: boolean;
  /** Its settings: the credentials file's, overridden by the config file's, as the SDK merges them. */
  settings: Record<string, string>;
  /** The config file's `[services NAME]` sections, by NAME. */
  services: Record<string, Record<string, string>>;
  /** The two files as messages name them (~/.aws/config, or what AWS_CONFIG_FILE names), when read. */
  files?: { config: string; credentials: string };
}

/** A profile from the two files' text (pure): `[profile NAME]` or `[default]` in config, `[NAME]` in credentials. */
export function profileFrom(
  name: string | undefined,
  configText: string | undefined,
  credentialsText: string | undefined,
): AwsProfile {
  const profile = name ?? 'default';
  const config = configText === undefined ? {} : parseIni(configText);
  const credentials = credentialsText === undefined ? {} : parseIni(credentialsText);
  // In the config file a profile is [profile NAME]; only 'default' may also stand alone.
  const fromConfig = config[`profile.${profile}`] ?? (profile === 'default' ? config.default : undefined);
  const fromCredentials = Object.hasOwn(credentials, profile) ? credentials[profile] : undefined;
  const services: AwsProfile['services'] = {};
  for (const [k, v] of Object.entries(config)) {
    if (k.startsWith('services.')) services[k.slice('services.'.length)] = v;
  }
  return {
    name: profile,
    named: name !== undefined,
    found: fromConfig !== undefined || fromCredentials !== undefined,
    settings: { ...fromCredentials, ...fromConfig },
    services,
  };
}

type Env = Readonly<Record<string, string | undefined>>;

function filePath(env: Env, variable: string, file: string): string {
  const p = env[variable] || path.join(homedir(), '.aws', file);
  return p.startsWith('~/') ? path.join(homedir(), p.slice(2)) : p;
}

/** A file as messages name it: the default one as ~/.aws/NAME, one the environment names as given. */
const fileText = (env: Env, variable: string, file: string) => env[variable] || `~/.aws/${file}`;

/** The most either file may hold: they are a few profiles, and the AWS SDK reads them whole again. */
export const AWS_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** Whether `file` is /dev/null, the usual way to say "no such file" (AWS_CONFIG_FILE=/dev/null). */
function isDevNull(file: string): boolean {
  try {
    const st = statSync(file);
    return st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

/**
 * A file's text, or undefined when it is absent; `kind` and `variable` name it in a refusal. A regular
 * file only (or /dev/null, read as empty): the AWS SDK opens the file again after s3sync, so a pipe
 * (`<(cmd)`) would give it nothing and a FIFO with no writer would block it (and this read) for ever;
 * a device may never end.
 */
function readIfExists(file: string, kind: string, variable: string | undefined): string | undefined {
  try {
    return readRegularFile(file, AWS_FILE_MAX_BYTES, `an AWS ${kind} file`).toString('utf8');
  } catch (err) {
    if (!(err instanceof ReadRefusal)) throw err;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    if (isDevNull(file)) return '';
    const pipe = /\((FIFO|socket)\)$/.test(err.why)
      ? ': s3sync and the AWS SDK each read it, so give a file'
      : '';
    throw usageError(
      `cannot read the AWS ${kind} file ${file}${variable ? ` (${variable})` : ''}: ${err.why}${pipe}`,
    );
  }
}

/** One of the two files: its path and text (see readIfExists); the variable named when it set the path. */
function readAwsFile(env: Env, variable: string, file: string): string | undefined {
  return readIfExists(filePath(env, variable, file), file, env[variable] ? variable : undefined);
}

/**
 * The profile a run uses (--profile, else AWS_PROFILE, else 'default') from AWS_CONFIG_FILE and
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/config and ~/.aws/credentials).
 */
export function readAwsProfile(name: string | undefined, env: Env): AwsProfile {
  const profile = profileFrom(
    name,
    readAwsFile(env, 'AWS_CONFIG_FILE', 'config'),
    readAwsFile(env, 'AWS_SHARED_CREDENTIALS_FILE', 'credentials'),
  );
  const files = {
    config: fileText(env, 'AWS_CONFIG_FILE', 'config'),
    credentials: fileText(env, 'AWS_SHARED_CREDENTIALS_FILE', 'credentials'),
  };
  return { ...profile, files };
}
