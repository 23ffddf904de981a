/**
 * The waits of a live run (test/helpers/cli.ts), on a stand-in for the CLI that prints given NDJSON
 * lines in one write and then stays up: as a busy test process reads a run's output, several events
 * at once, and then nothing more for a long time (a run hashing a huge file).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { exitWithin, killLeftRuns, type LiveRun, seenOf, spawnCli } from '../helpers.js';

const runs: LiveRun[] = [];
afterAll(() => killLeftRuns(runs));

/** A run that prints `lines` in one write, then sleeps `seconds` (the CLI's arguments ignored). */
function printing(lines: object[], seconds: number): LiveRun {
  const text = lines.map((l) => `${JSON.stringify(l)}\n`).join('');
  const script = `printf '%s' '${text}'; exec sleep ${seconds}`;
  const run = spawnCli(['--json'], undefined, { wrap: ['sh', '-c', script, 'sh'] });
  runs.push(run);
  return run;
}

describe('a live run', () => {
  it('sees events that came in one chunk with the one awaited before', async () => {
    const run = printing([{ type: 'plan' }, { type: 'done' }, { type: 'done' }], 30);
    expect(await run.until((e) => e.type === 'plan', 10_000), seenOf(run)).toBe(true);
    const done = (all: { type: string }[]) => all.filter((e) => e.type === 'done').length;
    // Each event is judged with the events up to it: exactly one done is there after the first.
    expect(await run.until((_e, all) => done(all) === 1, 10_000)).toBe(true);
    expect(await run.until((_e, all) => done(all) === 2, 10_000)).toBe(true);
    run.child.kill('SIGKILL');
  });

  it('gives up on an event that does not come after its time, and says what the run printed', async () => {
    const run = printing([{ type: 'plan' }], 30);
    const t0 = Date.now();
    expect(await run.until((e) => e.type === 'summary', 300)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await expect(exitWithin(run, 300)).rejects.toThrow(
      /^the run did not exit within 300 ms\nstderr:\n\(none\)\nevents \(1\):\n\{"type":"plan"\}$/,
    );
    run.child.kill('SIGKILL');
    expect(await exitWithin(run, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
