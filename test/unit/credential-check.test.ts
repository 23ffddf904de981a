import { describe, expect, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  checkEnvCredentials,
  checkResolvedCredentials,
  credentialValueProblem,
} from '../../src/s3/credential-check.js';

describe('credential values', () => {
  it.each<[string, unknown, boolean, string | undefined]>([
    ['a plain key', 'AKIAEXAMPLE', false, undefined],
    ['no token', undefined, true, undefined],
    ['an empty token', '', true, undefined],
    ['an empty key', '', false, 'is empty'],
    ['a number', 5, true, 'is a number, not a string'],
    ['null', null, false, 'is null, not a string'],
    [
      'a trailing \\r',
      'KEY\r',
      false,
      'ends with a carriage return (CR) (a file with Windows line ends?): remove it',
    ],
    ['a \\n inside', 'KE\nY', false, 'holds a line feed (LF): remove it'],
    ['a leading tab', '\tKEY', false, 'starts with a tab: remove it'],
    ['an escape', 'K\x1bEY', false, 'holds a control character (U+001b): remove it'],
    ['a trailing space', 'KEY ', false, 'ends with a space: remove it'],
    ['a leading space', ' KEY', false, 'starts with a space: remove it'],
  ])('%s', (_name, v, optional, problem) => {
    expect(credentialValueProblem(v, optional)).toBe(problem);
  });

  it('names the variable, never its value', () => {
    const env = { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'sekrit-value\r' };
    expect(() => checkEnvCredentials(env)).toThrow(/^AWS_SECRET_ACCESS_KEY ends with a carriage return/);
    try {
      checkEnvCredentials(env);
    } catch (e) {
      expect(e).toBeInstanceOf(S3SyncError);
      expect((e as S3SyncError).kind).toBe('usage');
      expect((e as Error).message).not.toContain('sekrit');
    }
  });

  it('leaves the keys alone when a profile is named, as the chain does', () => {
    expect(() =>
      checkEnvCredentials({ AWS_PROFILE: 'p', AWS_ACCESS_KEY_ID: 'A\r', AWS_SECRET_ACCESS_KEY: 's' }),
    ).not.toThrow();
  });

  it('refuses what the chain resolved, naming where it came from', () => {
    const c = { accessKeyId: 'AKIA', secretAccessKey: 'sekrit', sessionToken: 'tok-value\r' };
    expect(() => checkResolvedCredentials(c, "the keys of AWS profile 'p' (--profile)")).toThrow(
      /^the session token ends with a carriage return \(CR\) \(a file with Windows line ends\?\): check the keys of AWS profile 'p' \(--profile\)$/,
    );
    const good = { accessKeyId: 'AKIA', secretAccessKey: 'sekrit' };
    expect(checkResolvedCredentials(good, 'x')).toBe(good);
  });
});
