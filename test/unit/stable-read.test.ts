import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sizeLies, UnexpectedFileError } from '../../src/local/open-file.js';
import { type FileStat, statFields } from '../../src/local/scan.js';
import {
  confirmingLies,
  confirmingLiesAsync,
  exactRange,
  FileChangedError,
  readChunks,
  readWhole,
  readWholeSync,
  type Scanned,
} from '../../src/local/stable-read.js';

const root = mkdtempSync(path.join(tmpdir(), 's3sync-stable-'));
const at = (name: string) => path.join(root, name);

/** A file whose times lie in the past: any write now changes its mtime, however coarse the clock. */
function fileOf(name: string, content: Buffer): Scanned {
  const abs = at(name);
  writeFileSync(abs, content);
  utimesSync(abs, new Date('2001-01-01'), new Date('2001-01-01'));
  return { abs, expect: statOf(abs) };
}

const statOf = (abs: string): FileStat => statFields(lstatSync(abs, { bigint: true }));

/** What can happen to a file while it is read, done at the first chance the read gives. */
const changes: Array<[string, (abs: string, size: number) => void]> = [
  ['grows', (abs) => appendFileSync(abs, 'more')],
  ['shrinks', (abs, size) => truncateSync(abs, Math.floor(size / 2))],
  ['is rewritten in place, same size', (abs, size) => writeFileSync(abs, Buffer.alloc(size, 7))],
  ['is touched (mtime only)', (abs) => utimesSync(abs, new Date('2002-01-01'), new Date('2002-01-01'))],
  ['is emptied', (abs) => truncateSync(abs, 0)],
];

/** /proc files stat as 0 bytes and read as more; /sys files as 4,096 and read as less. */
const liars = ['/proc/version', '/proc/self/status', '/sys/devices/system/cpu/online'].filter((p) => {
  try {
    return statSync(p).isFile() && statSync(p).size !== readFileSync(p).length;
  } catch {
    return false;
  }
});
const lies = /^is not what it claims to be: its size is \d+ bytes but (more|\d+) could be read$/;

const whole = [
  ['readWholeSync', readWholeSync],
  ['readWhole', readWhole],
] as const;

describe.each(whole)('%s: the whole file into memory', (_, read) => {
  it.each([0, 1, 4096, 300_000])(
    'reads an unchanged %i-byte file whole, and says it held still',
    async (n) => {
      const content = randomBytes(n);
      const src = fileOf(`still-${n}`, content);
      const r = await read(src, { since: src.expect });
      expect(r.stable).toBe(true);
      expect(r.data.equals(content)).toBe(true);
      expect(r.stat).toEqual(src.expect);
    },
  );

  it.each(changes)('a file that %s during the read is not stable', async (what, change) => {
    const content = randomBytes(100_000);
    const src = fileOf(`change-${what}`, content);
    const r = await read(src, {
      take: (n) => {
        change(src.abs, content.length);
        return Buffer.allocUnsafe(n);
      },
    });
    expect(r.stable).toBe(false);
    expect(r.stat).toEqual(statOf(src.abs));
  });

  it.each(changes)(
    'a file that %s since the scan is FileChangedError, before a byte is read',
    async (what, change) => {
      const src = fileOf(`since-${what}`, randomBytes(10_000));
      change(src.abs, 10_000);
      let took = false;
      const reading = (async () =>
        read(src, {
          since: src.expect,
          take: (n) => {
            took = true;
            return Buffer.allocUnsafe(n);
          },
        }))();
      await expect(reading).rejects.toBeInstanceOf(FileChangedError);
      expect(took).toBe(false);
    },
  );

  it('reads into the buffer it is given, one byte longer than the file', async () => {
    const src = fileOf('scratch', Buffer.from('scratch content'));
    const scratch = Buffer.alloc(64, 0xff);
    const r = await read(src, { take: (n) => scratch.subarray(0, n) });
    expect(r.data.toString()).toBe('scratch content');
    expect(r.data.buffer).toBe(scratch.buffer);
  });

  it.each(liars)('%s, whose size lies, is refused, not taken for a file that changed', async (p) => {
    await expect((async () => read(p))()).rejects.toThrow(lies);
  });
});

describe('readChunks: the whole file in chunks, to its end', () => {
  const MiB = 1024 * 1024;

  it.each([0, 1, MiB - 1, MiB, 2 * MiB + 17])(
    'hands on every byte of an unchanged %i-byte file',
    async (n) => {
      const content = randomBytes(n);
      const src = fileOf(`chunks-${n}`, content);
      const seen: Buffer[] = [];
      const r = await readChunks(src, (chunk) => seen.push(Buffer.from(chunk)));
      expect(r).toEqual({ stat: src.expect, stable: true, size: n });
      expect(Buffer.concat(seen).equals(content)).toBe(true);
    },
  );

  it.each(changes)('a file that %s after its first chunk is not stable', async (what, change) => {
    const size = 3 * MiB;
    const src = fileOf(`chunks-change-${what}`, randomBytes(size));
    let first = true;
    let read = 0;
    const r = await readChunks(src, (chunk) => {
      read += chunk.length;
      if (first) change(src.abs, size);
      first = false;
    });
    expect(r.stable).toBe(false);
    expect(r.size).toBe(read);
  });

  it.each(liars)('%s, whose size lies, is refused', async (p) => {
    await expect(readChunks(p, () => {})).rejects.toThrow(lies);
  });
});

/** Everything a range body sends, and how it ended: the error its transfer was aborted with, if any. */
async function drain(src: Scanned, start: number, end: number, onChunk?: () => void) {
  const transfer = new AbortController();
  const tapped: Buffer[] = [];
  const body = exactRange(src, start, end, transfer, (chunk) => tapped.push(chunk));
  const sent: Buffer[] = [];
  await new Promise<void>((resolve) => {
    body.on('data', (chunk: Buffer) => {
      sent.push(chunk);
      onChunk?.();
    });
    body.on('end', resolve);
    body.on('close', resolve);
  });
  return { sent: Buffer.concat(sent), tapped: Buffer.concat(tapped), failed: transfer.signal.reason };
}

describe('exactRange: a request body that holds its last chunk back until the file is proven still', () => {
  const size = 2 * 1024 * 1024 + 5;
  const content = randomBytes(size);

  it.each([
    ['the whole file', 0, size - 1],
    ['its first byte', 0, 0],
    ['a range inside', 300_000, 1_500_000],
    ['its last byte', size - 1, size - 1],
  ])('sends exactly %s, and taps what it sends', async (what, start, end) => {
    const src = fileOf(`range-${what}`, content);
    const r = await drain(src, start, end);
    expect(r.failed).toBeUndefined();
    expect(r.sent.equals(content.subarray(start, end + 1))).toBe(true);
    expect(r.tapped.equals(r.sent)).toBe(true);
  });

  it.each(changes)(
    'a file that %s while it is sent aborts the transfer, before the last chunk',
    async (what, change) => {
      const src = fileOf(`range-change-${what}`, content);
      let first = true;
      const r = await drain(src, 0, size - 1, () => {
        if (first) change(src.abs, size);
        first = false;
      });
      expect(r.failed).toBeInstanceOf(FileChangedError);
      expect(r.sent.length).toBeLessThan(size);
    },
  );

  it.each(changes)('a file that %s since the scan is refused before a body exists', (what, change) => {
    const src = fileOf(`range-since-${what}`, content);
    change(src.abs, size);
    expect(() => exactRange(src, 0, size - 1, new AbortController())).toThrow(FileChangedError);
  });
});

describe('confirmingLies: a size that lies is confirmed by a second read', () => {
  const lie = () => sizeLies(0, 3471);
  const other = new UnexpectedFileError('is no longer a regular file (FIFO)');
  /** A read that gives each of `outcomes` in turn (an Error is thrown), counting its calls. */
  const reads = (...outcomes: Array<string | Error>) => {
    let calls = 0;
    const next = () => {
      const o = outcomes[Math.min(calls++, outcomes.length - 1)]!;
      if (o instanceof Error) throw o;
      return o;
    };
    return { next, calls: () => calls };
  };

  it.each([
    ['a lie, then a good read: the good read', [lie(), 'data'], 'data', 2],
    ['a lie twice: the lie', [lie(), lie()], lies, 2],
    ['another error: thrown at once, no second read', [other], other, 1],
    ['a good read: read once', ['data'], 'data', 1],
  ] as const)('%s', async (_what, outcomes, want, calls) => {
    const sync = reads(...outcomes);
    const async = reads(...outcomes);
    const run = [() => confirmingLies(sync.next), () => confirmingLiesAsync(async () => async.next())];
    for (const r of run) {
      if (typeof want === 'string') await expect(Promise.resolve().then(r)).resolves.toBe(want);
      else if (want instanceof RegExp) await expect(Promise.resolve().then(r)).rejects.toThrow(want);
      else await expect(Promise.resolve().then(r)).rejects.toBe(want);
    }
    expect(sync.calls()).toBe(calls);
    expect(async.calls()).toBe(calls);
  });

  it.runIf(liars.length > 0).each(whole)(
    '%s: a file that lies still lies when read again',
    async (_, read) => {
      await expect(Promise.resolve().then(() => read(liars[0]!))).rejects.toThrow(lies);
    },
  );
});
