#!/usr/bin/env node
// The CLI's entry: bundled by scripts/bundle.mjs into dist/cli/bundle.cjs, which the s3sync command
// (s3sync.cts, where --version is answered) runs. Also runs as it is: `node dist/cli/main.js`.

// A closed pipe (`s3sync … | head`) or a full disk under stdout or stderr is no stack trace and no end of
// the run: runCli decides what each means for the run and its exit code, and an exit here would abandon
// the transfers with the manifest unwritten. These stay for what fails after runCli is done.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
// The SDK warns on every run that its 2027 releases need Node 22; the lockfile pins this one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Read once, when the thread pool starts (at its first use, after this): a pull's batched fsyncs run
// side by side there, next to the file system calls of the transfers.
process.env.UV_THREADPOOL_SIZE ??= '16';
// No top-level await: the bundle is CommonJS.
void import('./program.js').then(async ({ runCli }) => {
  process.exitCode = await runCli(process.argv);
});
