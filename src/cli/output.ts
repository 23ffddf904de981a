import { jsonText, printable } from '../escape.js';
import type { CheckEvent, CheckResult } from '../sync/check.js';
import type { SyncResult } from '../sync/events.js';

export type OutputMode = 'human' | 'quiet' | 'json';

const fmtBytes = (n: number) => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
};

export const fmtRequests = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

export function summaryLines(r: SyncResult): string[] {
  const secs = (r.elapsedMs / 1000).toFixed(2);
  const moved =
    r.command === 'pull'
      ? `${r.downloaded} downloaded`
      : r.command === 'push'
        ? `${r.uploaded} uploaded`
        : `${r.uploaded} uploaded, ${r.downloaded} downloaded`;
  const verb = r.dryRun ? 'would be ' : '';
  return [
    `${r.cancelled ? '[cancelled] ' : ''}${r.dryRun ? '[dry run] ' : ''}${r.scanned} files: ${r.unchanged} unchanged, ${verb}${moved}, ` +
      `${r.recorded} recorded, ${verb}${r.deleted} deleted, ${r.failed} failed`,
    `${fmtBytes(r.bytesTransferred)} transferred, ${r.requestsTotal} S3 requests (${fmtRequests(r.requests)}), ${secs} s`,
  ];
}

const JSON_BATCH_BYTES = 64 * 1024;

/**
 * Renders events: a progress bar on a TTY, NDJSON with --json, errors only with --quiet. Every human
 * line goes out through `printable` here, so no message composed elsewhere with a path or key in it can
 * move the cursor or start a line of its own.
 */
export class Output {
  private bar?: import('cli-progress').SingleBar;
  private files = 0;
  private totalFiles = 0;
  private bytes = 0;

  constructor(
    readonly mode: OutputMode,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly err: NodeJS.WriteStream = process.stderr,
  ) {}

  private line(stream: NodeJS.WriteStream, text: string) {
    if (this.bar) this.bar.stop();
    stream.write(`${printable(text)}\n`);
    if (this.bar) this.bar.start(this.bar.getTotal(), this.files, this.payload());
  }

  private readonly started = Date.now();

  private payload() {
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    return {
      files: `${this.files}/${this.totalFiles}`,
      mib: fmtBytes(this.bytes),
      rate: `${fmtBytes(this.bytes / secs)}/s`,
    };
  }

  private checkLines(r: CheckResult): string[] {
    const out: string[] = [];
    const groups: [string, CheckResult['differences']][] = [
      ['only local', r.differences.filter((d) => d.status === 'only-local')],
      ['only remote', r.differences.filter((d) => d.status === 'only-remote')],
      ['differ', r.differences.filter((d) => d.status === 'differ')],
    ];
    for (const [title, ds] of groups) {
      if (ds.length === 0) continue;
      out.push(`${title} (${ds.length}):`);
      for (const d of ds) out.push(`  ${d.rel}  (${d.detail})`);
    }
    const n = r.differences.length;
    out.push(
      `${n === 0 ? 'identical' : `${n} difference(s)`}: ${r.same} same, ${r.onlyLocal.length} only local, ` +
        `${r.onlyRemote.length} only remote, ${r.differ.length} differ; ${r.requestsTotal} S3 requests, ` +
        `${(r.elapsedMs / 1000).toFixed(2)} s`,
    );
    return out;
  }

  async event(e: CheckEvent): Promise<void> {
    if (this.mode === 'json') {
      if (e.type !== 'bytes' && e.type !== 'start') this.json(e);
      return;
    }
    switch (e.type) {
      case 'error':
        this.line(this.err, `error: ${e.message}`);
        break;
      case 'warning':
        if (this.mode !== 'quiet') this.line(this.err, `warning: ${e.message}`);
        break;
      case 'notice':
        if (this.mode !== 'quiet') this.line(this.err, `notice: ${e.message}`);
        break;
      case 'action':
        if (this.mode !== 'quiet') this.line(this.out, `(dry run) ${e.action} ${e.rel} [${e.reason}]`);
        break;
      case 'done':
        if (e.action === 'upload' || e.action === 'download') this.files++;
        if (e.action === 'delete' && this.mode !== 'quiet' && !this.bar)
          this.line(this.out, `deleted ${e.rel}`);
        // cleanup: an aborted upload deleted no object, and says so.
        if (e.action === 'abort' && this.mode !== 'quiet') this.line(this.out, e.reason);
        this.bar?.update(this.bytes, this.payload());
        break;
      case 'plan':
        this.totalFiles = e.transfers;
        if (this.mode === 'human' && this.err.isTTY && e.transfers > 0) {
          const { default: cliProgress } = await import('cli-progress');
          this.bar = new cliProgress.SingleBar(
            {
              format: ' {bar} {percentage}% | {files} files | {mib} | {rate} | {eta_formatted} left',
              stream: this.err,
              hideCursor: true,
              etaBuffer: 50,
            },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(e.bytes || 1, 0, this.payload());
        }
        break;
      case 'bytes':
        this.bytes += e.bytes;
        this.bar?.update(this.bytes, this.payload());
        break;
      case 'check-summary':
        if (this.mode !== 'quiet' || e.exitCode !== 0)
          for (const l of this.checkLines(e)) this.out.write(`${printable(l)}\n`);
        break;
      case 'summary':
        this.bar?.stop();
        this.bar = undefined;
        if (this.mode !== 'quiet') for (const l of summaryLines(e)) this.out.write(`${printable(l)}\n`);
        break;
      default:
        break;
    }
  }

  stop() {
    this.bar?.stop();
    this.flushJson();
  }

  private jsonLines: string[] = [];
  private jsonBytes = 0;
  private jsonFlushQueued = false;

  /**
   * NDJSON lines leave in batches: one write per event cost a 10k-file rebuild 45 ms of write(2)
   * calls, and then 20 ms more waiting for the pipe to drain before exit. A batch goes out when it
   * reaches JSON_BATCH_BYTES, at the next turn of the event loop, or with the summary, whichever comes
   * first, so a reader still sees each event within a turn of the loop.
   */
  private json(e: CheckEvent): void {
    const line = `${jsonText(e)}\n`;
    this.jsonLines.push(line);
    this.jsonBytes += line.length;
    if (this.jsonBytes >= JSON_BATCH_BYTES || e.type === 'summary' || e.type === 'check-summary')
      this.flushJson();
    else if (!this.jsonFlushQueued) {
      this.jsonFlushQueued = true;
      setImmediate(() => this.flushJson());
    }
  }

  private flushJson(): void {
    this.jsonFlushQueued = false;
    if (this.jsonLines.length === 0) return;
    this.out.write(this.jsonLines.join(''));
    this.jsonLines = [];
    this.jsonBytes = 0;
  }
}
