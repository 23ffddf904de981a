import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';
import { batchText, watchEvents } from '../../src/cli/watch.js';
import { emptyResult } from '../../src/sync/events.js';

const batch = (counts: Partial<ReturnType<typeof emptyResult>>) => ({
  ...emptyResult('push', false),
  trigger: 'change' as const,
  paths: 2,
  pending: 0,
  ...counts,
});

describe('batchText', () => {
  it('says what a batch moved, copies and header copies included', () => {
    expect(batchText(batch({ copied: 1, deleted: 1, requestsTotal: 2 }))).toMatch(
      /^2 changed path\(s\): 0 uploaded, 1 copied, 0 recorded, 1 deleted, 0 failed; /,
    );
    expect(batchText(batch({ restyled: 3 }))).toMatch(
      /: 0 uploaded, 0 recorded, 3 restyled, 0 deleted, 0 failed; /,
    );
  });

  it('leaves copies and header copies out when there are none', () => {
    expect(batchText(batch({ uploaded: 4 }))).toMatch(/: 4 uploaded, 0 recorded, 0 deleted, 0 failed; /);
  });

  it("marks a batch a refusal stopped, as a stopped run's summary is", () => {
    const stopped = batchText(batch({ uploaded: 1, stoppedBy: 'access denied to s3://b (AccessDenied)' }));
    expect(stopped).toMatch(
      /^\[stopped\] 2 changed path\(s\): 1 uploaded, 0 recorded, 0 deleted, 0 failed; /,
    );
    expect(batchText(batch({ uploaded: 1 }))).not.toMatch(/stopped/);
  });

  it.each([
    ['walk', /^walk of 9 files: 1 uploaded, /],
    ['look', /^look over 9 files, for changes with no event: 1 uploaded, /],
    ['change', /^2 changed path\(s\): 1 uploaded, /],
  ] as const)('names what the %s batch read', (trigger, line) => {
    expect(batchText({ ...batch({ uploaded: 1, scanned: 9 }), trigger })).toMatch(line);
  });
});

describe('watchEvents', () => {
  it("says a notice held for the run's first event, though the output shows no batch of nothing", () => {
    const writes: string[] = [];
    const err = { write: (s: string) => writes.push(s) > 0, isTTY: false } as unknown as NodeJS.WriteStream;
    const output = new Output('human', err, err);
    output.hold('using defaults from /x/s3sync.config.json: --workers 2');
    const view = watchEvents(output, 's3://b/p');
    view.onEvent({ type: 'batch', ...batch({}), trigger: 'walk' });
    view.onEvent({ type: 'batch', ...batch({}) });
    view.stop();
    expect(writes).toEqual(['notice: using defaults from /x/s3sync.config.json: --workers 2\n']);
  });
});
