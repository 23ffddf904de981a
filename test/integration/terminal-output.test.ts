/**
 * What a user sees on a terminal, as `script` gives the CLI one: deletions named while the bar is up,
 * TERM=dumb getting plain lines, a narrow terminal's last bar line cut to fit, and a watch's signal
 * notice on a line of its own.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bigFile, MiB, newBucket, runCliInTerminal, servers, trackedDirs, writeTree } from '../helpers.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

const { dir: newDir, removeAll } = trackedDirs();
afterAll(removeAll);

const ESC = '\u001b';

describe.runIf(hasScript).each(servers())('on a terminal ($name)', (server) => {
  const push = (src: string, url: string, extra: string[] = []) => [
    'push',
    src,
    url,
    '--endpoint-url',
    server.endpoint,
    '--provider',
    server.provider,
    ...extra,
  ];

  it('names each file it deletes while the bar is shown, as it does when piped', async () => {
    const src = newDir('tty-delete');
    // Kept files too: --delete refuses to delete more than half of what is there.
    writeTree(src, { 'gone1.txt': '1', 'gone2.txt': '2', 'gone3.txt': '3', k1: 'k', k2: 'k', k3: 'k' });
    const { bucket } = await newBucket(server, 'tty-delete');
    const url = `s3://${bucket}/d`;
    runCliInTerminal(push(src, url, ['-q']), server);
    for (const f of ['gone1.txt', 'gone2.txt', 'gone3.txt']) rmSync(path.join(src, f));
    // Something to transfer, slowly enough that the bar is up when the deletions go out.
    bigFile(path.join(src, 'big.bin'), 2 * MiB);
    const raw = runCliInTerminal(push(src, url, ['--delete', '--bwlimit', '2MiB']), server);
    expect(raw).toContain(`${ESC}[?25l`);
    for (const f of ['gone1.txt', 'gone2.txt', 'gone3.txt']) expect(raw).toContain(`deleted ${f}\r\n`);
    expect(raw).toMatch(/3 unchanged, 1 uploaded, 0 recorded, 3 deleted, 0 failed/);
  });

  it('TERM=dumb: plain lines, no cursor control; NO_COLOR alone keeps the bar, which has no colour', async () => {
    const src = newDir('tty-dumb');
    bigFile(path.join(src, 'big.bin'), 2 * MiB);
    const { bucket } = await newBucket(server, 'tty-dumb');
    const dumb = runCliInTerminal(push(src, `s3://${bucket}/a`, ['--bwlimit', '2MiB']), server, {
      env: { TERM: 'dumb', NO_COLOR: '1' },
    });
    expect(dumb).not.toContain(ESC);
    expect(dumb).toMatch(/^1 files: 0 unchanged, 1 uploaded/m);
    const noColor = runCliInTerminal(push(src, `s3://${bucket}/b`, ['--bwlimit', '2MiB']), server, {
      env: { TERM: 'xterm', NO_COLOR: '1' },
    });
    expect(noColor).toContain(`${ESC}[?25l`);
    expect(noColor).not.toMatch(/\u001b\[[\d;]*m/);
  });

  it('a 20-column terminal: the last bar line is cut to fit, not wrapped over several rows', async () => {
    const src = newDir('tty-narrow');
    bigFile(path.join(src, 'big.bin'), 2 * MiB);
    const { bucket } = await newBucket(server, 'tty-narrow');
    const raw = runCliInTerminal(push(src, `s3://${bucket}/n`, ['--bwlimit', '2MiB']), server, { cols: 20 });
    // After the bar stops, autowrap is back on (ESC[?7h): every line from there fits in 20 columns.
    const after = raw.slice(raw.lastIndexOf(`${ESC}[?7h`));
    const lines = after
      .replace(/\u001b(?:\[[\d;?]*[A-Za-z]|[78])/g, '')
      .split('\r\n')
      .filter((l) => l.includes('100%'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(20);
    expect(lines[0]).toMatch(/^ 100% \| 1\/1 files/);
  });

  it("a watch's signal notice starts on a line of its own, not after the status line", async () => {
    const src = newDir('tty-watch');
    writeTree(src, { 'a.txt': 'a' });
    const { bucket } = await newBucket(server, 'tty-watch');
    const raw = runCliInTerminal(push(src, `s3://${bucket}/w`, ['--watch', '--settle', '300ms']), server, {
      interruptAfter: 8,
    });
    // The status line was up when the signal came (the first walk had ended).
    expect(raw).toMatch(/watching -> /);
    // The status line is cleared (CR, erase-line) or ended before the notice.
    expect(raw).toMatch(/(?:\r\u001b\[K|\n)notice: SIGINT: stopping/);
  });
});
