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

/** Prints a versions listing: lines for people, or NDJSON (one `version` event each, then a summary). */
export function printVersions(r: VersionsResult, mode: OutputMode): void {
  const out: string[] = [];
  const count = `${r.versions.length - r.deleteMarkers} version(s) and ${r.deleteMarkers} delete marker(s) of ${r.keys} key(s)`;
  if (mode === 'json') {
    for (const v of r.versions)
      out.push(jsonText({ type: 'version', ...v, lastModified: new Date(v.lastModified).toISOString() }));
    const { versions: _, ...summary } = r;
    out.push(jsonText({ type: 'summary', ...summary, versionCount: r.versions.length - r.deleteMarkers }));
  } else if (mode === 'human') {
    for (const v of r.versions) out.push(line(v));
    out.push(count);
  }
  if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
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
