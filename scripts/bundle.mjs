// The CLI: dist/cli/main.js and everything it imports, bundled by esbuild into one CommonJS file,
// dist/cli/bundle.cjs, which the s3sync command (dist/cli/s3sync.cjs, from src/cli/s3sync.cts) runs.
// Node 20 loads one file and its builtins on demand (a module's `require` runs when its code first
// does), where the ES module graph costs a resolve, a read and a link per file and loads every builtin
// any of them names; see docs/performance.md. The library (dist/index.js) stays as tsc writes it.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = 'dist/cli/bundle.cjs';
await build({
  entryPoints: ['dist/cli/main.js'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Loaded at run time, where they are needed: the SDK on first use (src/s3/sdk.ts), the native watcher
  // and the embedded server for their commands, mime-db (a large JSON table) with the first upload.
  external: ['@aws-sdk/*', '@smithy/*', '@parcel/watcher', 's3rver', 'mime-db', 'picomatch', 'ignore'],
  // Paths built from import.meta.url (package.json, the hash worker) resolve from this file, which sits
  // in dist/cli/ as main.js does.
  banner: { js: "const __s3syncUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__s3syncUrl' },
  sourcemap: true,
  logLevel: 'warning',
});
// ASCII, so that the s3sync command reads it as Latin-1 and V8 holds a one-byte source: one non-ASCII
// character makes the whole source two-byte, and every run slower to start (docs/performance.md).
// esbuild escapes strings, templates, regular expressions and names itself; what is left is in the
// comments it keeps, where an escape means the same to a reader.
const text = readFileSync(outfile, 'utf8').replace(
  /[^\x00-\x7f]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
);
writeFileSync(outfile, text);
// The s3sync command compiles the bundle itself, with no loader for import(): an external package must
// be loaded with require (createRequire), and only a CommonJS one can be.
const dynamicImport = /(?<![\w$.])import\(/.exec(text);
if (dynamicImport) throw new Error(`${outfile} has a dynamic import() at offset ${dynamicImport.index}`);
chmodSync('dist/cli/s3sync.cjs', 0o755);
