// Preloaded into a CLI run by a test (NODE_OPTIONS=--require): records when the s3sync command takes
// its code cache's data (the hook src/cli/s3sync.cts sets in a run that writes one), as the number of
// HTTP requests the run had started by then; at exit, writes {"takes":[…],"requests":N} to the file
// S3SYNC_TEST_TAKES names. Requests are counted on Node's diagnostics channel: no HTTP module loaded.
const dc = require('node:diagnostics_channel');

let requests = 0;
const takes = [];
dc.subscribe('http.client.request.start', () => {
  requests++;
});
let hook;
Object.defineProperty(globalThis, Symbol.for('s3sync.takeCodeCache'), {
  configurable: true,
  get: () => hook,
  set: (take) => {
    hook = () => {
      takes.push(requests);
      take();
    };
  },
});
process.on('exit', () => {
  require('node:fs').writeFileSync(process.env.S3SYNC_TEST_TAKES, JSON.stringify({ takes, requests }));
});
