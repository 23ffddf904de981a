// Runs the s3sync CLI exactly as `node dist/cli/main.js ARGS…` would, and at exit writes the process's
// peak RSS (KiB) and the CPU time it used (user + system, all threads, ms) as JSON to the file named
// by BENCH_USAGE_FILE. The only cost over a direct run is loading this small module.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
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
await import(main);
