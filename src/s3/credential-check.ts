import { usageError } from '../errors.js';

/**
 * Credentials checked before a request is signed with them: a control character (the \r of a key
 * file with Windows line ends, read through $(cat)) or a value that is not a string would otherwise
 * fail inside Node's HTTP layer, or the SDK, as a file's error. Messages name the value, never show it:
 * not even the access key id, which no other message prints either.
 */

const FIELDS = [
  ['accessKeyId', 'AWS_ACCESS_KEY_ID', 'the access key id'],
  ['secretAccessKey', 'AWS_SECRET_ACCESS_KEY', 'the secret access key'],
  ['sessionToken', 'AWS_SESSION_TOKEN', 'the session token'],
] as const;

type Field = (typeof FIELDS)[number][0];

const CONTROL_NAMES: Record<string, string> = {
  '\r': 'a carriage return (CR)',
  '\n': 'a line feed (LF)',
  '\t': 'a tab',
  '\0': 'a NUL byte',
};

/** What is wrong with one value, said without it; undefined: nothing. */
export function credentialValueProblem(v: unknown, optional: boolean): string | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') return `is ${v === null ? 'null' : `a ${typeof v}`}, not a string`;
  if (v === '') return optional ? undefined : 'is empty';
  const control = /[\x00-\x1f\x7f]/.exec(v);
  if (control) {
    const c = control[0];
    const name =
      CONTROL_NAMES[c] ?? `a control character (U+${c.charCodeAt(0).toString(16).padStart(4, '0')})`;
    const where =
      control.index === v.length - 1 ? 'ends with' : control.index === 0 ? 'starts with' : 'holds';
    const hint = c === '\r' ? ' (a file with Windows line ends?)' : '';
    return `${where} ${name}${hint}: remove it`;
  }
  if (/^\s/.test(v)) return 'starts with a space: remove it';
  if (/\s$/.test(v)) return 'ends with a space: remove it';
  return undefined;
}

/** The first field of `c` that is wrong, and what is wrong with it. */
function firstProblem(c: Record<string, unknown>): { field: Field; problem: string } | undefined {
  for (const [field] of FIELDS) {
    const problem = credentialValueProblem(c[field], field === 'sessionToken');
    if (problem !== undefined) return { field, problem };
  }
  return undefined;
}

/** Refuses credentials given to the library as option `option` (credentials, sourceCredentials). */
export function checkGivenCredentials(option: string, c: Record<string, unknown>): void {
  const bad = firstProblem(c);
  if (bad) throw usageError(`option ${option}.${bad.field} ${bad.problem}`);
}

/**
 * Refuses the environment's keys, when the chain would take them (no profile named): each variable by
 * its name. An empty AWS_SESSION_TOKEN is no token, as the SDK reads it.
 */
export function checkEnvCredentials(env: NodeJS.ProcessEnv): void {
  if (env.AWS_PROFILE || !env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return;
  for (const [, name] of FIELDS) {
    const problem = credentialValueProblem(env[name], name === 'AWS_SESSION_TOKEN');
    if (problem !== undefined) throw usageError(`${name} ${problem}`);
  }
}

/** Credentials the chain resolved (a profile, SSO, a role), refused as `where` names them. */
export function checkResolvedCredentials<C extends object>(c: C, where: string): C {
  const bad = firstProblem(c as Record<string, unknown>);
  if (bad) {
    const what = FIELDS.find(([f]) => f === bad.field)![2];
    throw usageError(`${what} ${bad.problem.replace(/: remove it$/, '')}: check ${where}`);
  }
  return c;
}
