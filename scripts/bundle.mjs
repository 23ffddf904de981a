// The CLI: dist/cli/main.js and everything it imports, bundled by esbuild into one CommonJS file,
// dist/cli/bundle.cjs, which the s3sync command (dist/cli/s3sync.cjs, from src/cli/s3sync.cts) runs.
// Node 20 loads one file and its builtins on demand (a module's `require` runs when its code first
// does), where the ES module graph costs a resolve, a read and a link per file and loads every builtin
// any of them names; see docs/performance.md. The library (dist/index.js) stays as tsc writes it.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const outfile = 'dist/cli/bundle.cjs';

// Built-in modules the bundle loads on first use of one of their exports, not when a module that
// imports them starts: commander requires child_process for subcommands s3sync does not have, and
// node:fs/promises (which loads readline) is imported by the upload and filter modules that every
// push starts. A no-change push uses neither, and loading them is part of its start-up
// (docs/performance.md).
const LAZY_BUILTINS = ['node:child_process', 'node:fs/promises'];
const NAMESPACE = 'lazy-builtin';
const requireHere = createRequire(import.meta.url);
const lazyBuiltins = {
  name: NAMESPACE,
  setup(b) {
    const filter = new RegExp(
      `^(${LAZY_BUILTINS.map((m) => m.replace('node:', '(node:)?').replace('/', '\\/')).join('|')})$`,
    );
    b.onResolve({ filter }, (args) =>
      // The stand-in's own require of the module is the real one.
      args.namespace === NAMESPACE
        ? { path: args.path, external: true }
        : { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: NAMESPACE },
    );
    b.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => {
      const names = Object.keys(requireHere(args.path)).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k));
      const getters = names.map((k) => `  ${k}: { enumerable: true, get: () => load().${k} },`).join('\n');
      return {
        loader: 'js',
        contents: `let loaded;\nconst load = () => (loaded ??= require(${JSON.stringify(args.path)}));\nmodule.exports = Object.defineProperties({}, {\n${getters}\n});\n`,
      };
    });
  },
};
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
  plugins: [lazyBuiltins],
  // None: the package would point to maps (and sources) it does not ship.
  sourcemap: false,
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
