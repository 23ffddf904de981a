// Runs the s3sync command exactly as `node dist/cli/s3sync.cjs ARGS…` would, and at exit writes the
// process's peak RSS (KiB) and the CPU time it used (user + system, all threads, ms) as JSON to the
// file named by BENCH_USAGE_FILE. CommonJS, as the command is: an ES module here would start Node's
// ES module loader, which the command itself never needs. The only cost over a direct run is loading
// this small module.
const { writeFileSync } = require('node:fs');
const path = require('node:path');

const main = path.join(__dirname, '../dist/cli/s3sync.cjs');
const usageFile = process.env.BENCH_USAGE_FILE;
if (usageFile) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(
      usageFile,
      JSON.stringify({ maxRssKiB: u.maxRSS, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 }),
    );
  });
}
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
require(main);
