import { describe, expect, it } from 'vitest';
import { OPTION_ORIGINS } from '../../src/s3/client-options.js';
import { credentialsOrigin } from '../../src/s3/connection-notices.js';
import { credentialsSource, credentialsToCheck } from '../../src/s3/credentials-origin.js';

// Where the SDK's chain takes the credentials from, as the messages and --debug say it.
const keys = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret/+=' };
const own = { accessKeyId: 'a', secretAccessKey: 'b' };

describe('credentialsOrigin', () => {
  it("the library's credentials first, then a profile named (and by what), then the keys", () => {
    expect(credentialsOrigin({ credentials: own, profile: 'p' }, { ...keys, AWS_PROFILE: 'q' })).toEqual({
      kind: 'library',
    });
    expect(credentialsOrigin({ profile: 'p' }, { ...keys, AWS_PROFILE: 'q' })).toEqual({
      kind: 'profile',
      name: 'p',
      by: '--profile',
    });
    expect(credentialsOrigin({}, { ...keys, AWS_PROFILE: 'q' })).toEqual({
      kind: 'profile',
      name: 'q',
      by: 'AWS_PROFILE',
    });
    expect(credentialsOrigin({}, keys)).toEqual({ kind: 'env', sessionToken: false });
    expect(credentialsOrigin({}, { ...keys, AWS_SESSION_TOKEN: 't' })).toEqual({
      kind: 'env',
      sessionToken: true,
    });
    expect(credentialsOrigin({}, { AWS_ACCESS_KEY_ID: 'only-one' })).toEqual({ kind: 'chain' });
  });

  it('a profile named by another option says that option', () => {
    const opts = { profile: 'old', [OPTION_ORIGINS]: { profile: '--source-profile' } };
    expect(credentialsOrigin(opts, keys)).toEqual({ kind: 'profile', name: 'old', by: '--source-profile' });
    expect(credentialsToCheck(credentialsOrigin(opts, {}))).toBe(
      "the keys of AWS profile 'old' (--source-profile)",
    );
    expect(credentialsSource(credentialsOrigin(opts, {}))).toBe("from AWS profile 'old' (--source-profile)");
  });

  it('an empty AWS_PROFILE names no profile, as the chain reads it', () => {
    expect(credentialsOrigin({}, { ...keys, AWS_PROFILE: '' })).toEqual({ kind: 'env', sessionToken: false });
  });

  it('says what to check, never a value', () => {
    const texts = [
      credentialsToCheck(credentialsOrigin({}, keys)),
      credentialsSource(credentialsOrigin({}, { ...keys, AWS_SESSION_TOKEN: 'tok' })),
      credentialsToCheck(credentialsOrigin({ credentials: own }, {})),
      credentialsToCheck(undefined),
    ];
    expect(texts).toEqual([
      'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)',
      'from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN',
      'the credentials given to the library call',
      'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or --profile',
    ]);
    for (const t of texts) expect(t).not.toMatch(/AKIDEXAMPLE|secret\/\+=|tok\b/);
  });
});
