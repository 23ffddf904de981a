import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';
import { emptyResult } from '../../src/sync/events.js';

/** A terminal stand-in: everything written, in order. */
function terminal() {
  let text = '';
  const stream = {
    isTTY: true,
    columns: 100,
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
const shown = (text: string) => text.lastIndexOf(SHOW) > text.lastIndexOf(HIDE);

async function withBar() {
  const out = terminal();
  const err = terminal();
  const o = new Output('human', out.stream, err.stream);
  await o.event({ type: 'plan', total: 10, transfers: 10, bytes: 1000, deletes: 0 });
  await o.event({ type: 'bytes', bytes: 100 });
  expect(err.text()).toContain(HIDE);
  expect(shown(err.text())).toBe(false);
  return { o, out, err };
}

describe('the progress bar gives the cursor back', () => {
  it('when a cancelled run ends with its summary', async () => {
    const { o, out, err } = await withBar();
    await o.event({ type: 'summary', ...emptyResult('push', false), cancelled: true, exitCode: 130 });
    expect(shown(err.text())).toBe(true);
    expect(out.text()).toMatch(/^\[cancelled\] 0 files: /);
  });

  it('when the run stops without a summary (a fatal error)', async () => {
    const { o, err } = await withBar();
    o.stop();
    expect(shown(err.text())).toBe(true);
  });
});
