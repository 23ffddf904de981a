import { describe, expect, it } from 'vitest';
import { cliEvent } from '../../src/cli/exit-codes.js';
import { Output } from '../../src/cli/output.js';
import { emptyResult, type SyncEvent } from '../../src/sync/events.js';

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
