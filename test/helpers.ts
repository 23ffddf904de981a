/**
 * The one test helper module: the CLI runner, the manifest reader, temp trees, S3 fixtures and shared
 * constants. Every test imports from here; the parts live in test/helpers/.
 */
export * from './helpers/cli.js';
export * from './helpers/constants.js';
export * from './helpers/errors.js';
export * from './helpers/files.js';
export * from './helpers/image-fs.js';
export * from './helpers/manifest.js';
export * from './helpers/s3.js';
export * from './helpers/versioned.js';
