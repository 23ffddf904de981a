#!/usr/bin/env node
import { readFileSync } from 'node:fs';

// --version before anything else is loaded: it must cost no more than Node's own start-up.
if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  process.stdout.write(`${pkg.version}\n`);
} else {
  // A closed pipe (`s3sync … | head`) ends output, not the process with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  // The SDK warns on every run that its 2027 releases need Node 22; the lockfile pins this one.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Read once, when the thread pool starts (at its first use, after this): a pull's batched fsyncs run
  // side by side there, next to the file system calls of the transfers.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(process.argv);
}
