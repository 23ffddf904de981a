// Preloaded into a CLI run by tests (NODE_OPTIONS=--require): at exit, writes the path of every
// CommonJS module the run loaded to the file S3SYNC_TEST_LOADED names (the AWS SDK is CommonJS).
process.on('exit', () => {
  require('node:fs').writeFileSync(process.env.S3SYNC_TEST_LOADED, Object.keys(require.cache).join('\n'));
});
