import type { Command } from 'commander';
import { jsonText, printable } from '../escape.js';
import type { ObjectVersion, VersionsOptions, VersionsResult } from '../sync/versions.js';
import { exitCodeOf, printed } from './exit-codes.js';
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

/**
 * Prints a versions listing: lines for people, or NDJSON (one `version` event each, then a summary
 * that ends with the exit code, `cancelReason`'s when the listing was stopped).
 */
export function printVersions(
  r: VersionsResult,
  mode: OutputMode,
  { out = process.stdout, cancelReason }: { out?: NodeJS.WritableStream; cancelReason?: unknown } = {},
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
  const versionCount = r.versions.length - r.deleteMarkers;
  if (mode === 'json') {
    const { versions: _, cancelled, ...counts } = r;
    // As every command's summary: `cancelled`, then the exit code in place of the library's outcome.
    lines.push(
      jsonText({ type: 'summary', ...printed({ ...counts, versionCount, cancelled }, cancelReason) }),
    );
  } else {
    const mark = r.cancelled ? '[cancelled] ' : '';
    lines.push(
      `${mark}${versionCount} version(s) and ${r.deleteMarkers} delete marker(s) of ${r.keys} key(s)`,
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

/** Runs `s3sync versions` and prints its listing after the events still batched; returns the exit code. */
export async function runVersions(
  options: Record<string, unknown>,
  mode: OutputMode,
  output: { sayHeld(): void; stop(): void },
): Promise<number> {
  const { versions } = await import('../sync/versions.js');
  const opts = options as unknown as VersionsOptions;
  const r = await versions(opts);
  // It lists with no event: a notice held for one is said before the list.
  output.sayHeld();
  output.stop();
  const cancelReason: unknown = opts.signal?.reason;
  printVersions(r, mode, { cancelReason });
  return exitCodeOf(r.outcome, cancelReason);
}
