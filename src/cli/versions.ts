import type { Command } from 'commander';
import { jsonText, printable } from '../escape.js';
import type { ObjectVersion, VersionsOptions, VersionsResult } from '../sync/versions.js';
import { exitCodeOf } from './exit-codes.js';
import type { OutputMode } from './output.js';

/** One version as a line: time, size, ETag, version id, what it is, key. */
function line(v: ObjectVersion): string {
  const what = [v.isLatest && 'latest', v.deleteMarker && 'delete-marker'].filter(Boolean).join(',') || '-';
  const size = v.deleteMarker ? '-' : String(v.size);
  return printable(
    `${new Date(v.lastModified).toISOString()}  ${size.padStart(12)}  ${(v.etag || '-').padEnd(34)}  ${v.versionId}  ${what}  ${v.key}`,
  );
}

/** Lines joined per write: a few million in one string would pass V8's limit on a string's length. */
const LINES_PER_WRITE = 1000;

/** Prints a versions listing: lines for people, or NDJSON (one `version` event each, then a summary). */
export function printVersions(
  r: VersionsResult,
  mode: OutputMode,
  out: NodeJS.WritableStream = process.stdout,
): void {
  if (mode === 'quiet') return;
  const lines: string[] = [];
  const flush = () => {
    if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
    lines.length = 0;
  };
  for (const v of r.versions) {
    lines.push(
      mode === 'json'
        ? jsonText({ type: 'version', ...v, lastModified: new Date(v.lastModified).toISOString() })
        : line(v),
    );
    if (lines.length === LINES_PER_WRITE) flush();
  }
  if (mode === 'json') {
    const { versions: _, ...summary } = r;
    lines.push(jsonText({ type: 'summary', ...summary, versionCount: r.versions.length - r.deleteMarkers }));
  } else {
    lines.push(
      `${r.versions.length - r.deleteMarkers} version(s) and ${r.deleteMarkers} delete marker(s) of ${r.keys} key(s)`,
    );
  }
  flush();
}

/** The `versions` subcommand's description, argument and example (its flags come from the table). */
export function describeVersions(cmd: Command): Command {
  return cmd
    .description('list the versions and delete markers of a key or prefix in a versioned bucket')
    .argument('<target>', 's3://bucket/key-or-prefix (taken as written: no / is added)')
    .addHelpText('after', '\nExample:\n  s3sync versions s3://my-bucket/backups/db/ --json');
}

/** Runs `s3sync versions` and prints its listing; returns the exit code. */
export async function runVersions(options: Record<string, unknown>, mode: OutputMode): Promise<number> {
  const { versions } = await import('../sync/versions.js');
  const r = await versions(options as unknown as VersionsOptions);
  printVersions(r, mode);
  return exitCodeOf(r.outcome);
}
