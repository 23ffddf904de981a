import { describe, expect, it } from 'vitest';
import { knownCredentials } from '../../src/s3/client.js';

// The credentials a request sent without the SDK signs with, where they are known without its chain.
const keys = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret/+=' };

describe('knownCredentials', () => {
  it("takes the library's own credentials first, whatever the environment says", () => {
    const own = { accessKeyId: 'own', secretAccessKey: 'own-secret' };
    expect(knownCredentials({ credentials: own }, { ...keys, AWS_PROFILE: 'p' })).toBe(own);
    expect(knownCredentials({ credentials: own, profile: 'p' }, {})).toBe(own);
  });

  it("takes the environment's keys as the chain's first link does, with a session token", () => {
    expect(knownCredentials({}, keys)).toEqual({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/+=' });
    expect(knownCredentials({}, { ...keys, AWS_SESSION_TOKEN: 'tok' })).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret/+=',
      sessionToken: 'tok',
    });
    // An empty AWS_PROFILE names no profile, for the SDK too.
    expect(knownCredentials({}, { ...keys, AWS_PROFILE: '' })?.accessKeyId).toBe('AKIDEXAMPLE');
  });

  it("leaves to the SDK's chain what only it knows: a profile named, an expiry, a key missing", () => {
    expect(knownCredentials({ profile: 'dev' }, keys)).toBeUndefined();
    expect(knownCredentials({}, { ...keys, AWS_PROFILE: 'dev' })).toBeUndefined();
    expect(
      knownCredentials({}, { ...keys, AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z' }),
    ).toBeUndefined();
    expect(knownCredentials({}, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE' })).toBeUndefined();
    expect(knownCredentials({}, { AWS_SECRET_ACCESS_KEY: 'secret' })).toBeUndefined();
    expect(knownCredentials({}, { ...keys, AWS_ACCESS_KEY_ID: '' })).toBeUndefined();
    expect(knownCredentials({}, {})).toBeUndefined();
  });
});
