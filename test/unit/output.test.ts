import { describe, expect, it } from 'vitest';
import { cliEvent } from '../../src/cli/exit-codes.js';
import { checkText, cleanupLine, Output, summaryLines } from '../../src/cli/output.js';
import { emptyResult, type SyncEvent, type SyncResult } from '../../src/sync/events.js';

/** A stdout stand-in that keeps each write(2)-sized chunk it is given. */
function sink() {
  const writes: string[] = [];
  const stream = { write: (s: string) => writes.push(s) > 0, isTTY: false } as unknown as NodeJS.WriteStream;
  const lines = () =>
    writes
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SyncEvent);
  return { stream, writes, lines };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('Output --json', () => {
  it('writes every event, in order, in a few large writes, and the summary at once', async () => {
    const out = sink();
    const o = new Output('json', out.stream, out.stream);
    const n = 5000;
    for (let i = 0; i < n; i++)
      await o.event({ type: 'done', action: 'record', rel: `dir/file-${i}.bin`, size: i, reason: 'hash' });
    await o.event({ type: 'bytes', bytes: 10 }); // progress only: never printed
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false), recorded: n }));
    // No turn of the event loop was needed: the summary flushed everything before it.
    const lines = out.lines();
    expect(lines).toHaveLength(n + 1);
    expect(lines.slice(0, n).map((e) => (e as { rel: string }).rel)).toEqual(
      Array.from({ length: n }, (_, i) => `dir/file-${i}.bin`),
    );
    expect(lines[n]).toMatchObject({ type: 'summary', recorded: n });
    // ~60 bytes a line, batched by 64 KiB: a handful of writes, not one per event.
    expect(out.writes.length).toBeLessThan(10);
  });

  it('hands a lone event over within one turn of the event loop', async () => {
    const out = sink();
    const o = new Output('json', out.stream, out.stream);
    await o.event({ type: 'error', message: 'cannot read file: EACCES', rel: 'a.txt' });
    expect(out.writes).toEqual([]);
    await turn();
    expect(out.lines()).toEqual([{ type: 'error', message: 'cannot read file: EACCES', rel: 'a.txt' }]);
  });
});

describe('Output --quiet', () => {
  it('says a security notice (a risk taken), and no other notice or warning', async () => {
    const out = sink();
    const err = sink();
    const o = new Output('quiet', out.stream, err.stream);
    await o.event({ type: 'notice', message: 'retry 1 in 100 ms' });
    await o.event({ type: 'warning', message: 'slow' });
    await o.event({ type: 'notice', message: 'certificates not checked', security: true });
    expect(out.writes).toEqual([]);
    expect(err.writes).toEqual(['notice: certificates not checked\n']);
  });
});

describe('Output, plain lines', () => {
  it("leads a notice or warning with the file it is about, as an error's line is, and only once", async () => {
    const out = sink();
    const err = sink();
    const o = new Output('human', out.stream, err.stream);
    await o.event({
      type: 'notice',
      message: 'multipart upload kept with 2/4 parts uploaded',
      rel: 'a/big.bin',
    });
    await o.event({ type: 'warning', message: 'b.txt: disappeared during the run', rel: 'b.txt' });
    await o.event({ type: 'warning', message: 'b.txt.old is near', rel: 'b.txt' });
    await o.event({ type: 'notice', message: "p/d/: a key ending in '/': kept", rel: 'd/' });
    await o.event({ type: 'notice', message: 'x: y: skipped', rel: 'x: y' });
    await o.event({ type: 'notice', message: 'p/x: y: kept', rel: 'x: y' });
    await o.event({ type: 'notice', message: 'kept (see p/x: y: here)', rel: 'x: y' });
    await o.event({ type: 'notice', message: 'retrying in 1 s' });
    expect(err.writes).toEqual([
      'notice: a/big.bin: multipart upload kept with 2/4 parts uploaded\n',
      'warning: b.txt: disappeared during the run\n',
      'warning: b.txt: b.txt.old is near\n',
      "notice: p/d/: a key ending in '/': kept\n",
      'notice: x: y: skipped\n',
      'notice: p/x: y: kept\n',
      'notice: x: y: kept (see p/x: y: here)\n',
      'notice: retrying in 1 s\n',
    ]);
    // --json keeps the message as the library said it, the file in `rel`.
    const json = sink();
    const j = new Output('json', json.stream, json.stream);
    await j.event({ type: 'notice', message: 'kept', rel: 'a/big.bin' });
    await turn();
    expect(json.lines()).toEqual([{ type: 'notice', message: 'kept', rel: 'a/big.bin' }]);
  });
});

describe('summaryLines: what each command moved', () => {
  it.each<[SyncResult['command'], Partial<SyncResult>, string]>([
    ['push', { uploaded: 2, copied: 1 }, '2 uploaded, 1 copied'],
    ['push', { uploaded: 2 }, '2 uploaded, 0 recorded'],
    ['apply', { uploaded: 1, copied: 1, downloaded: 0 }, '1 uploaded, 1 copied, 0 downloaded'],
    ['apply', { uploaded: 1 }, '1 uploaded, 0 downloaded'],
    ['pull', { downloaded: 3 }, '3 downloaded'],
    // S3 → S3 keeps no manifest: objects copied, nothing "recorded".
    ['sync', { scanned: 3, copied: 3 }, '3 objects: 0 unchanged, 3 copied, 0 deleted, 0 failed'],
  ])('%s %j says "%s"', (command, counts, text) => {
    const line = summaryLines({ ...emptyResult(command, false), ...counts })[0]!;
    expect(line).toContain(text);
  });

  it('a dry run says what it would record: it writes no manifest', () => {
    expect(summaryLines({ ...emptyResult('push', true), scanned: 2, recorded: 2 })[0]).toBe(
      '[dry run] 2 files: 0 unchanged, would be 0 uploaded, would be 2 recorded, would be 0 deleted, 0 failed',
    );
  });

  it('a dry run says each count is what would be done, copies included', () => {
    expect(summaryLines({ ...emptyResult('push', true), scanned: 2, copied: 1 })[0]).toBe(
      '[dry run] 2 files: 0 unchanged, would be 0 uploaded, would be 1 copied, would be 0 recorded, would be 0 deleted, 0 failed',
    );
    expect(summaryLines({ ...emptyResult('apply', true), uploaded: 1, copied: 1 })[0]).toContain(
      'would be 1 uploaded, would be 1 copied, would be 0 downloaded',
    );
  });

  it('an S3 → S3 line never speaks of what was recorded', () => {
    expect(summaryLines({ ...emptyResult('sync', true), scanned: 2, copied: 2 })[0]).toBe(
      '[dry run] 2 objects: 0 unchanged, would be 2 copied, would be 0 deleted, 0 failed',
    );
  });
});

describe('checkText: a check that could not compare everything never says identical', () => {
  const base = {
    same: 4,
    onlyLocal: [],
    onlyRemote: [],
    differ: [],
    requests: {},
    requestsTotal: 1,
    elapsedMs: 1,
    cancelled: false,
    notCompared: 0,
    unverified: [] as { rel: string; status: 'unverified'; detail: string }[],
  };
  const diff = { rel: 'x', status: 'differ' as const, detail: 'size' };
  it('content not verifiable is counted apart: not identical, no difference found', () => {
    const u = { rel: 'u.bin', status: 'unverified' as const, detail: 'same size, content not verifiable' };
    expect(checkText({ command: 'check', ...base, unverified: [u], differences: [], errors: [] })).toBe(
      '1 not verifiable, no difference found: 4 same, 0 only local, 0 only remote, 0 differ, 1 not verifiable',
    );
    expect(
      checkText({ command: 'check', ...base, unverified: [u], differences: [diff], errors: [] }),
    ).toMatch(/^1 difference\(s\): .*, 0 differ, 1 not verifiable$/);
  });
  const err = { rel: 'y', message: 'cannot read file: EACCES' };
  it.each([
    ['identical', [], [], /^identical: 4 same/],
    ['errors only', [], [err], /^1 error\(s\), no difference found: 4 same/],
    ['differences only', [diff], [], /^1 difference\(s\): 4 same/],
    ['both', [diff], [err, err], /^1 difference\(s\), 2 error\(s\): 4 same/],
  ] as const)('%s', (_what, differences, errors, re) => {
    expect(
      checkText({ command: 'check', ...base, differences: [...differences], errors: [...errors] }),
    ).toMatch(re);
  });

  it.each([
    [
      'nothing found',
      [],
      [],
      '[cancelled] incomplete (3 not compared): 4 same, 0 only local, 0 only remote, 0 differ so far',
    ],
    [
      'a difference and an error',
      [diff],
      [err],
      '[cancelled] incomplete (3 not compared, 1 error(s)): 4 same, 0 only local, 0 only remote, 1 differ so far',
    ],
  ] as const)('cancelled, %s: incomplete, with what it found so far', (_what, differences, errors, text) => {
    const r = { ...base, differ: differences.map((d) => d.rel), cancelled: true, notCompared: 3 };
    expect(checkText({ command: 'check', ...r, differences: [...differences], errors: [...errors] })).toBe(
      text,
    );
  });
});

describe('cleanupLine: a cleanup says what it found and did', () => {
  const found = [{ key: 'a', uploadId: 'u1', initiated: '2026-01-01T00:00:00.000Z' }];
  const base = {
    command: 'cleanup' as const,
    dryRun: false,
    found: [...found, ...found],
    aborted: 1,
    failed: 0,
    requests: { ListMultipartUploads: 1, AbortMultipartUpload: 1 },
    requestsTotal: 2,
    cancelled: false,
  };

  it.each([
    [
      {},
      '2 stale multipart upload(s), 1 aborted, 0 failed; 2 S3 requests (ListMultipartUploads 1, AbortMultipartUpload 1)',
    ],
    [
      { cancelled: true },
      '[cancelled] 2 stale multipart upload(s), 1 aborted, 0 failed; 2 S3 requests (ListMultipartUploads 1, AbortMultipartUpload 1)',
    ],
    [
      { dryRun: true, aborted: 0, requests: { ListMultipartUploads: 1 }, requestsTotal: 1 },
      '2 stale multipart upload(s) (dry run: none aborted); 1 S3 requests (ListMultipartUploads 1)',
    ],
  ])('%j', (over, line) => {
    expect(cleanupLine({ ...base, ...over })).toBe(line);
  });
});

describe('a held notice (the config defaults a hand-typed command takes)', () => {
  const held = 'using defaults from /x/s3sync.config.json: --workers 2';

  it('is said with the first event, before it, and once', async () => {
    const err = sink();
    const o = new Output('human', err.stream, err.stream);
    o.hold(held);
    await o.event({ type: 'warning', message: 'slow' });
    await o.event({ type: 'warning', message: 'slower' });
    o.sayHeld();
    expect(err.writes).toEqual([`notice: ${held}\n`, 'warning: slow\n', 'warning: slower\n']);
  });

  it('a run that sends no event says it at its end (sayHeld), once; --json as a notice object', () => {
    const err = sink();
    const o = new Output('human', err.stream, err.stream);
    o.hold(held);
    o.sayHeld();
    o.sayHeld();
    expect(err.writes).toEqual([`notice: ${held}\n`]);
    const out = sink();
    const j = new Output('json', out.stream, out.stream);
    j.hold(held);
    j.sayHeld();
    j.stop();
    expect(out.lines()).toEqual([{ type: 'notice', message: held }]);
  });
});
