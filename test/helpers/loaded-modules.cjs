// Preloaded into a CLI run by tests (NODE_OPTIONS=--require): at exit, writes to the file
// S3SYNC_TEST_LOADED names the path of every CommonJS module the run loaded (the s3sync command and
// the AWS SDK are CommonJS), one line `builtin:NAME` per Node built-in module it loaded, and a line
// `code-cache:STATUS` with what the s3sync command did with its code cache (src/cli/s3sync.cts).
process.on('exit', () => {
  const builtins = process.moduleLoadList
    .filter((m) => m.startsWith('NativeModule ') && !m.startsWith('NativeModule internal/'))
    .map((m) => `builtin:${m.slice('NativeModule '.length)}`);
  const cache = globalThis[Symbol.for('s3sync.codeCache')];
  require('node:fs').writeFileSync(
    process.env.S3SYNC_TEST_LOADED,
    [...Object.keys(require.cache), ...builtins, `code-cache:${cache}`].join('\n'),
  );
});
