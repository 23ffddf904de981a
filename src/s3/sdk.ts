import { createRequire } from 'node:module';

/**
 * The AWS SDK packages, loaded with require(). They ship CommonJS, and on Node 20 a CommonJS package
 * imported from ESM sends every one of its files through the ESM loader (format detection, export
 * lexing): the same modules load slower that way, on every run that makes a request.
 * Only this module and the files that import it load the SDK; the rest stay free of it.
 */
const require = createRequire(import.meta.url);

export const clientS3 = require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
export const credentialProviders =
  require('@aws-sdk/credential-providers') as typeof import('@aws-sdk/credential-providers');
export const httpHandler = require('@smithy/node-http-handler') as typeof import('@smithy/node-http-handler');
