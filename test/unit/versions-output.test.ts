import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/cli/exit-codes.js';
import { printVersions } from '../../src/cli/versions.js';
import type { ObjectVersion } from '../../src/sync/versions.js';

/** A stdout stand-in that counts what it is given, keeping only the last write. */
function counter() {
  const seen = { bytes: 0, lines: 0, writes: 0, last: '' };
  const stream = {
    write: (s: string) => {
      seen.bytes += s.length;
      seen.lines += s.split('\n').length - 1;
      seen.writes++;
      seen.last = s;
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { stream, seen };
}

describe('printVersions', () => {
  it('prints a listing longer than one string can hold, in bounded writes', () => {
    // ~1,100 characters a line: 500,000 lines are more than V8's ~2^29-character strings.
    const key = `backups/${'k'.repeat(1000)}`;
    const n = 500_000;
    const versions: ObjectVersion[] = Array.from({ length: n }, (_, i) => ({
      key,
      versionId: `v${i}`,
      isLatest: i === 0,
      lastModified: 1_765_000_000_000 - i,
      deleteMarker: false,
      size: i,
      etag: 'e'.repeat(32),
    }));
    const out = counter();
    printVersions(
      {
        command: 'versions',
        versions,
        keys: 1,
        deleteMarkers: 0,
        requests: {},
        requestsTotal: 0,
        cancelled: false,
        outcome: 'ok',
      },
      'human',
      { out: out.stream },
    );
    expect(out.seen.lines).toBe(n + 1);
    expect(out.seen.bytes).toBeGreaterThan(2 ** 29);
    expect(out.seen.last).toMatch(/(^|\n)500000 version\(s\) and 0 delete marker\(s\) of 1 key\(s\)\n$/);
  }, 60_000);

  it('--json: one version line each, then the summary; quiet prints nothing', () => {
    const v = (i: number, deleteMarker = false): ObjectVersion => ({
      key: 'db/a',
      versionId: `v${i}`,
      isLatest: i === 0,
      lastModified: 1_765_000_000_000 - i,
      deleteMarker,
      size: deleteMarker ? 0 : i,
      etag: deleteMarker ? '' : 'e'.repeat(32),
    });
    const r = {
      command: 'versions' as const,
      versions: [v(0, true), v(1), v(2)],
      keys: 1,
      deleteMarkers: 1,
      requests: { GetBucketVersioning: 1, ListObjectVersions: 1 },
      requestsTotal: 2,
      cancelled: false,
      outcome: 'ok' as const,
    };
    const json = counter();
    printVersions(r, 'json', { out: json.stream });
    const lines = json.seen.last
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.type)).toEqual(['version', 'version', 'version', 'summary']);
    // As every command's summary: the exit code last, in place of the library's outcome.
    expect(lines[3]).toEqual({
      type: 'summary',
      command: 'versions',
      keys: 1,
      deleteMarkers: 1,
      requests: { GetBucketVersioning: 1, ListObjectVersions: 1 },
      requestsTotal: 2,
      versionCount: 2,
      cancelled: false,
      exitCode: 0,
    });
    expect(Object.keys(lines[3]).at(-1)).toBe('exitCode');
    const quiet = counter();
    printVersions(r, 'quiet', { out: quiet.stream });
    expect(quiet.seen.writes).toBe(0);
  });

  it("stopped: what was listed, then a summary that says so, with the signal's exit code", () => {
    const r = {
      command: 'versions' as const,
      versions: [
        {
          key: 'db/a',
          versionId: 'v1',
          isLatest: true,
          lastModified: 1_765_000_000_000,
          deleteMarker: false,
          size: 1,
          etag: 'e'.repeat(32),
        },
      ],
      keys: 1,
      deleteMarkers: 0,
      requests: { GetBucketVersioning: 1, ListObjectVersions: 2 },
      requestsTotal: 3,
      cancelled: true,
      outcome: 'cancelled' as const,
    };
    const json = counter();
    printVersions(r, 'json', { out: json.stream, cancelReason: new CancelledError('SIGTERM') });
    const last = JSON.parse(json.seen.last.trim().split('\n').at(-1) ?? '{}');
    expect(last).toMatchObject({ type: 'summary', versionCount: 1, cancelled: true, exitCode: 143 });
    const human = counter();
    printVersions(r, 'human', { out: human.stream });
    expect(human.seen.last).toMatch(
      /\n\[cancelled\] 1 version\(s\) and 0 delete marker\(s\) of 1 key\(s\)\n$/,
    );
  });
});
