import { describe, expect, it } from 'vitest';
import { cliEvent } from '../../src/cli/exit-codes.js';
import { cursorControl, Output } from '../../src/cli/output.js';
import { ProgressView } from '../../src/cli/progress-view.js';
import { emptyResult, type SyncEvent } from '../../src/sync/events.js';
import { MiB } from '../helpers.js';

type Hashing = Extract<SyncEvent, { type: 'hashing' }>;
type Plan = Extract<SyncEvent, { type: 'plan' }>;

const plan = (files: number, bytes: number): Plan => ({
  type: 'plan',
  total: files,
  transfers: files,
  bytes,
  deletes: 0,
});
const hashing = (bytes: number, totalBytes: number, files: number, totalFiles: number): Hashing => ({
  type: 'hashing',
  bytes,
  totalBytes,
  files,
  totalFiles,
});

/** The figures of a rendered line, without the bar. */
const figures = (line: string) => line.replace(/^ [\u2588\u2591]+ +/, '');

describe('ProgressView', () => {
  it('a rebuild: hashing on its own, with the bytes hashed of those queued, to 100%', () => {
    const v = new ProgressView();
    expect(v.active).toBe(false);
    v.hashed(hashing(16 * MiB, 64 * MiB, 0, 3), 0);
    expect(v.active).toBe(true);
    expect(figures(v.render(0, 120))).toBe(
      '25% | hashing 0/3 files | 16.0 MiB of 64.0 MiB | -- /s | -- left',
    );
    // More queued as the listing arrives: the total grows.
    v.hashed(hashing(40 * MiB, 100 * MiB, 2, 5), 100);
    expect(figures(v.render(100, 120))).toMatch(/^40% \| hashing 2\/5 files \| 40\.0 MiB of 100\.0 MiB/);
    v.hashed(hashing(100 * MiB, 100 * MiB, 5, 5), 200);
    // Nothing to upload: the rebuild found every object in place.
    v.plan({ ...plan(0, 0), total: 5 }, 250);
    expect(figures(v.render(300, 120))).toMatch(
      /^100% \| hashing 5\/5 files \| 100\.0 MiB of 100\.0 MiB \| .* \| 0s left$/,
    );
  });

  it('a large file hashed before it is sent: hashing is shown until the first byte moves, then beside', () => {
    const v = new ProgressView();
    v.plan(plan(1, 300 * MiB), 0);
    v.hashed(hashing(30 * MiB, 300 * MiB, 0, 1), 100);
    expect(figures(v.render(100, 120))).toMatch(/^10% \| hashing 0\/1 files \| 30\.0 MiB of 300\.0 MiB/);
    v.bytes({ type: 'bytes', bytes: 3 * MiB });
    expect(figures(v.render(200, 120))).toMatch(
      /^1% \| 0\/1 files \| 3\.0 MiB of 300\.0 MiB \| -- \/s \| -- left \| hashing 10%$/,
    );
    v.hashed(hashing(300 * MiB, 300 * MiB, 1, 1), 300);
    expect(figures(v.render(300, 120))).not.toContain('hashing');
  });

  it('a resumed upload: resumed bytes count as done, not in the rate, and it ends at 100%', () => {
    const v = new ProgressView();
    v.plan(plan(1, 100 * MiB), 0);
    v.bytes({ type: 'bytes', bytes: 40 * MiB, resumed: true });
    // 60 MiB more at 2 MiB/s, in 1 MiB events.
    const lines: string[] = [];
    for (let t = 0; t <= 30_000; t += 100) {
      if (t > 0 && t % 500 === 0) v.bytes({ type: 'bytes', bytes: MiB });
      lines.push(figures(v.render(t, 160)));
    }
    expect(lines[0]).toBe('40% | 0/1 files | 40.0 MiB of 100.0 MiB, 40.0 MiB resumed | -- /s | -- left');
    const mid = lines[100]!; // t = 10 s: 20 MiB sent, 40 MiB left, at 2 MiB/s
    expect(mid).toMatch(
      /^60% \| 0\/1 files \| 60\.0 MiB of 100\.0 MiB, 40\.0 MiB resumed \| 2\.0 MiB\/s \| 2\ds left$/,
    );
    const eta = Number(/(\d+)s left/.exec(mid)![1]);
    expect(Math.abs(eta - 20)).toBeLessThanOrEqual(1);
    v.fileDone();
    expect(figures(v.render(30_100, 160))).toMatch(
      /^100% \| 1\/1 files \| 100\.0 MiB of 100\.0 MiB, 40\.0 MiB resumed \| 2\.0 MiB\/s \| 0s left$/,
    );
  });

  it('a failed upload taken back: the bar goes back, never past 100%', () => {
    const v = new ProgressView();
    v.plan(plan(2, 20 * MiB), 0);
    v.bytes({ type: 'bytes', bytes: 10 * MiB });
    v.bytes({ type: 'bytes', bytes: 8 * MiB });
    expect(figures(v.render(10, 120))).toMatch(/^90% /);
    v.bytes({ type: 'bytes', bytes: -8 * MiB });
    expect(figures(v.render(20, 120))).toMatch(/^50% \| 0\/2 files \| 10\.0 MiB of 20\.0 MiB/);
    v.bytes({ type: 'bytes', bytes: 10 * MiB });
    v.fileDone();
    v.fileDone();
    expect(figures(v.render(30, 120))).toMatch(/^100% \| 2\/2 files \| 20\.0 MiB of 20\.0 MiB/);
  });

  it.each([100, 120, 200])('fits the bar to a %i-column terminal when the figures allow', (width) => {
    const v = new ProgressView();
    v.plan(plan(1234, 5000 * MiB), 0);
    v.bytes({ type: 'bytes', bytes: 1000 * MiB, resumed: true });
    v.bytes({ type: 'bytes', bytes: 1500 * MiB });
    const line = v.render(1000, width);
    const bar = /^ ([\u2588\u2591]+) /.exec(line)![1]!;
    expect(bar.length).toBeGreaterThanOrEqual(10);
    expect(bar.length).toBeLessThanOrEqual(30);
    expect(line.length).toBeLessThanOrEqual(width - 1);
    expect(line).toContain('50% | 0/1234 files | 2.4 GiB of 4.9 GiB, 1000.0 MiB resumed');
  });

  // A line wider than the terminal wraps over several rows once the bar stops and autowrap is back on.
  it.each([
    [80, '  50% | 0/1234 files | 2.4 GiB of 4.9 GiB, 1000.0 MiB resumed | -- /s | -- left'],
    [60, '  50% | 0/1234 files | 2.4 GiB of 4.9 GiB, 1000.0 MiB resume'],
    [20, '  50% | 0/1234 files'],
    [1, ' '],
  ])(
    'on a %i-column terminal, too narrow for the bar beside the figures: the figures, cut to fit',
    (width, want) => {
      const v = new ProgressView();
      v.plan(plan(1234, 5000 * MiB), 0);
      v.bytes({ type: 'bytes', bytes: 1000 * MiB, resumed: true });
      v.bytes({ type: 'bytes', bytes: 1500 * MiB });
      const line = v.render(1000, width);
      expect(line).toBe(want);
      expect(line).not.toMatch(/[\u2588\u2591]/);
    },
  );
});

/** A terminal stand-in: everything written, in order. */
function terminal(columns = 100) {
  let text = '';
  const stream = {
    isTTY: true,
    columns,
    rows: 30,
    write: (s: string) => {
      text += s;
      return true;
    },
    on: () => stream,
    removeListener: () => stream,
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

const HIDE = '\u001b[?25l';
const SHOW = '\u001b[?25h';

describe('Output: the bar on a terminal', () => {
  it('a run with nothing to transfer or hash shows no bar at all', async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    await o.event({ ...plan(0, 0), total: 1000 });
    await o.event(
      cliEvent({ type: 'summary', ...emptyResult('push', false), scanned: 1000, unchanged: 1000 }),
    );
    expect(err.text()).toBe('');
    expect(out.text()).toMatch(/^1000 files: 1000 unchanged/);
  });

  it('hashing alone (check --full, a rebuild) gets a bar, ended by the check summary', async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    await o.event(hashing(16 * MiB, 64 * MiB, 0, 2));
    expect(err.text()).toContain(HIDE);
    expect(err.text()).toContain('hashing 0/2 files | 16.0 MiB of 64.0 MiB');
    await o.event(hashing(64 * MiB, 64 * MiB, 2, 2));
    await o.event({
      type: 'check-summary',
      command: 'check',
      same: 2,
      onlyLocal: [],
      onlyRemote: [],
      differ: [],
      differences: [],
      unverified: [],
      errors: [],
      requests: {},
      requestsTotal: 1,
      elapsedMs: 10,
      cancelled: false,
      notCompared: 0,
      exitCode: 0,
    });
    const e = err.text();
    expect(e.lastIndexOf(SHOW)).toBeGreaterThan(e.lastIndexOf(HIDE));
    // Its last state stays on screen, once.
    expect(e.endsWith(' 100% | hashing 2/2 files | 64.0 MiB of 64.0 MiB | -- /s | 0s left\n')).toBe(true);
    expect(out.text()).toMatch(/^identical/);
  });

  it('a notice clears the bar line rather than leaving a copy of it behind', async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    await o.event(plan(3, 30 * MiB));
    await o.event({ type: 'bytes', bytes: 5 * MiB });
    for (let i = 0; i < 3; i++) await o.event({ type: 'notice', message: `resuming ${i}` });
    await o.event({ type: 'bytes', bytes: 25 * MiB });
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false), uploaded: 3 }));
    const e = err.text();
    // One line per notice, and the bar's last state: no other line.
    expect(e.split('\n')).toHaveLength(5);
    expect(e.split('\n').at(-2)).toMatch(/ 100% \| 0\/3 files \| 30\.0 MiB of 30\.0 MiB/);
  });

  it('a deletion is named above the bar, as any line is', async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    await o.event(plan(1, MiB));
    expect(err.text()).toContain(HIDE);
    await o.event({ type: 'done', action: 'delete', rel: 'gone.txt', size: 3, reason: 'deleted locally' });
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false), deleted: 1 }));
    expect(out.text()).toMatch(/^deleted gone\.txt\n/);
  });

  it('a 20-column terminal: the last state of the bar is cut to fit, not wrapped over rows', async () => {
    const out = terminal();
    const err = terminal(20);
    const o = new Output('human', out.stream, err.stream);
    await o.event(plan(8, 16 * MiB));
    await o.event({ type: 'bytes', bytes: 16 * MiB });
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false), uploaded: 8 }));
    // What follows the bar's own last frame (cleared, ending with erase-line) is the line left on screen.
    const last = err.text().split('\n').at(-2)!.split('\u001b[2K').at(-1);
    expect(last).toBe(' 100% | 0/8 files |');
  });

  it.each([
    ['TERM=dumb', { TERM: 'dumb' }, false],
    ['TERM=dumb with NO_COLOR', { TERM: 'dumb', NO_COLOR: '1' }, false],
    ['NO_COLOR (the bar has no colour)', { TERM: 'xterm', NO_COLOR: '1' }, true],
    ['no TERM (a Windows console sets none)', {}, true],
  ])('%s: a bar drawn in place or plain lines', async (_label, env, drawn) => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream, env);
    await o.event(plan(1, MiB));
    await o.event({ type: 'notice', message: 'a notice' });
    await o.event({ type: 'bytes', bytes: MiB });
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false), uploaded: 1 }));
    expect(cursorControl(err.stream, env)).toBe(drawn);
    // No colour either way.
    expect(err.text()).not.toMatch(/\u001b\[[\d;]*m/);
    if (drawn) expect(err.text()).toContain(HIDE);
    else expect(err.text()).toBe('notice: a notice\n');
  });

  it("a watch's status line is cleared before a line, and drawn again after it", async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    const calls: string[] = [];
    o.holdStatus({ clear: () => calls.push('clear'), draw: () => calls.push('draw') });
    await o.event({ type: 'notice', message: 'SIGINT: stopping' });
    expect(calls).toEqual(['clear', 'draw']);
  });

  it('a bar still loading when the run ends is never started', async () => {
    const out = terminal();
    const err = terminal();
    const o = new Output('human', out.stream, err.stream);
    const pending = o.event(hashing(16 * MiB, 64 * MiB, 0, 2));
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false) }));
    await pending;
    expect(err.text()).not.toContain(HIDE);
  });

  it.each(['quiet', 'json'] as const)('%s: no bar, and progress is not printed', async (mode) => {
    const out = terminal();
    const err = terminal();
    const o = new Output(mode, out.stream, err.stream);
    await o.event(hashing(16 * MiB, 64 * MiB, 0, 2));
    await o.event(plan(1, MiB));
    await o.event({ type: 'bytes', bytes: MiB, resumed: true });
    await o.event(cliEvent({ type: 'summary', ...emptyResult('push', false) }));
    expect(err.text()).toBe('');
    o.stop();
    if (mode === 'json') {
      expect(
        out
          .text()
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as SyncEvent).type),
      ).toEqual(['plan', 'summary']);
    } else expect(out.text()).toBe('');
  });
});
