// Runs the s3sync CLI exactly as `node dist/cli/main.js ARGS…` would, and at exit writes the process's
// peak RSS (process.resourceUsage().maxRSS, KiB) to the file named by BENCH_RSS_FILE. The only cost
// over a direct run is loading this small module.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const rssFile = process.env.BENCH_RSS_FILE;
if (rssFile) {
  process.on('exit', () => {
    writeFileSync(rssFile, String(process.resourceUsage().maxRSS));
  });
}
process.argv = [process.argv[0], main, ...process.argv.slice(2)];
await import(main);
