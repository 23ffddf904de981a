/**
 * What a ranged download keeps when it does not finish (cancelled, a failed connection, a kill), so the
 * next pull fetches only the ranges still missing: its temp file, named for the object version and the
 * range size, and beside it the ranges written and synced, one index per line. A resumed file is
 * verified whole against the ETag as any download is: bytes damaged since cost a full fetch, never a
 * wrong file.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, constants, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';

/** The prefix of a kept download's files in the temp folder. */
export const RESUME_PREFIX = 'resume-';

/** O_NOFOLLOW throughout: a link planted at either name is refused, never read or written through. */
const READ = constants.O_RDONLY | constants.O_NOFOLLOW;
const APPEND = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;

export interface ResumeKey {
  key: string;
  versionId?: string;
  etag: string;
  size: number;
}

/** The file name (without extension) for one object version fetched in ranges of `rangeSize`. */
export function resumeName(o: ResumeKey, rangeSize: number): string {
  const id = createHash('sha256')
    .update(`${o.key}\n${o.versionId ?? ''}\n${o.etag}\n${o.size}\n${rangeSize}`)
    .digest('hex');
  return `${RESUME_PREFIX}${id.slice(0, 32)}`;
}

/**
 * The ranges of one kept download that are on disk: `at` gives the path of a file in the temp folder,
 * checked at each use (TargetTree.tmpPath).
 */
export class RangeLog {
  readonly done = new Set<number>();

  constructor(
    private readonly at: (name: string) => string,
    readonly name: string,
    private readonly count: number,
  ) {}

  /** Reads what an earlier run logged; nothing (no log, or an unreadable one) is a fresh start. */
  load(): void {
    for (const i of this.read()) this.done.add(i);
  }

  /** The temp file's name, beside the log. */
  get dataName(): string {
    return `${this.name}.part`;
  }

  private get file(): string {
    return this.at(`${this.name}.ranges`);
  }

  private read(): Set<number> {
    const done = new Set<number>();
    let text: string;
    try {
      const fd = openSync(this.file, READ);
      try {
        if (!fstatSync(fd).isFile()) return done;
        text = readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return done;
    }
    // A line cut short by a crash (no newline after it), or anything but an index in range, is not taken.
    const lines = text.split('\n');
    lines.pop();
    for (const line of lines) if (/^\d+$/.test(line) && Number(line) < this.count) done.add(Number(line));
    return done;
  }

  /** Range `i` is written and synced: recorded after its bytes, so a crash between loses only the mark. */
  mark(i: number): void {
    const fd = openSync(this.file, APPEND, 0o600);
    try {
      appendFileSync(fd, `${i}\n`);
    } finally {
      closeSync(fd);
    }
    this.done.add(i);
  }

  /** Every range to fetch again (the file did not verify, or is not what the log was for). */
  reset(): void {
    this.done.clear();
    this.remove();
  }

  /** The log goes (the file was renamed into place, or is discarded). */
  remove(): void {
    try {
      rmSync(this.file, { force: true });
    } catch {
      // No safe temp folder any more: the run's end removes what it does not keep.
    }
  }
}
