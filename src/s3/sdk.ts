import { createRequire } from 'node:module';

/**
 * The AWS SDK packages, loaded with require() on first use. They ship CommonJS, and on Node 20 a
 * CommonJS package imported from ESM sends every one of its files through the ESM loader (format
 * detection, export lexing): the same modules load slower that way. Loaded on first use, not on
 * import: a run whose requests all go direct (listings and small GETs, see direct.ts) never pays for
 * them, nor does a run that makes none.
 */
const require = createRequire(import.meta.url);

export const s3 = (): typeof import('@aws-sdk/client-s3') => require('@aws-sdk/client-s3');
export const credentialProviders = (): typeof import('@aws-sdk/credential-providers') =>
  require('@aws-sdk/credential-providers');
export const httpHandler = (): typeof import('@smithy/node-http-handler') =>
  require('@smithy/node-http-handler');
