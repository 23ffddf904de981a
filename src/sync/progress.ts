import type { SyncEvent } from './events.js';

type BytesEvent = Extract<SyncEvent, { type: 'bytes' }>;
type HashingEvent = Extract<SyncEvent, { type: 'hashing' }>;

/** Bytes a transfer gathers before it reports them: a `bytes` event per network chunk would be noise. */
const TRANSFER_EVENT_BYTES = 1024 * 1024;

/**
 * One upload or download of one file, its bytes counted once each. Per piece (the whole body, a part,
 * a range), only the most any attempt has moved counts, and never more than the piece holds: a retry
 * that sends a part again reports nothing until it gets further than an earlier attempt did. Bytes
 * already at the other end (the parts of a resumed upload) are reported as done with `resumed`, not as
 * transferred. A transfer that fails is taken back (a negative `bytes`): the file is sent again from
 * the start, or not at all.
 */
export class TransferProgress {
  /** Reported so far, at most `size`. */
  private counted = 0;
  private resumedBytes = 0;
  /** Transferred bytes not reported yet. */
  private unreported = 0;
  private readonly pieces = new Map<number, number>();

  constructor(
    readonly size: number,
    private readonly emit: (e: BytesEvent) => void,
  ) {}

  /** Bytes the other end already holds: done, and not transferred by this run. */
  resumed(bytes: number): void {
    if (bytes <= 0) return;
    this.counted += bytes;
    this.resumedBytes += bytes;
    this.emit({ type: 'bytes', bytes, resumed: true });
  }

  /**
   * What one attempt at a piece reports each chunk through, as it is handed to the socket (or written,
   * for a download). A new attempt at the same piece counts from 0 again, and reports only past the
   * most an earlier attempt reached.
   */
  attempt(piece: number, pieceSize: number): (bytes: number) => void {
    let moved = 0;
    return (bytes) => {
      moved = Math.min(pieceSize, moved + bytes);
      const best = this.pieces.get(piece) ?? 0;
      if (moved <= best) return;
      this.pieces.set(piece, moved);
      this.add(moved - best, moved >= pieceSize);
    };
  }

  /** The transfer succeeded: whatever was not reported yet (a body sent from memory) now is. */
  finish(): void {
    this.add(Math.max(0, this.size - this.counted - this.unreported), true);
  }

  /** The transfer failed: what it reported is taken back, so that a new attempt is not counted twice. */
  fail(): void {
    const sent = this.counted - this.resumedBytes;
    const resumed = this.resumedBytes;
    this.counted = 0;
    this.resumedBytes = 0;
    this.unreported = 0;
    this.pieces.clear();
    if (sent > 0) this.emit({ type: 'bytes', bytes: -sent });
    if (resumed > 0) this.emit({ type: 'bytes', bytes: -resumed, resumed: true });
  }

  /** Bytes the other end already held (reported with `resumed`). */
  get resumedTotal(): number {
    return this.resumedBytes;
  }

  private add(bytes: number, flush: boolean): void {
    this.unreported += bytes;
    if (this.unreported === 0 || (!flush && this.unreported < TRANSFER_EVENT_BYTES)) return;
    const n = this.unreported;
    this.unreported = 0;
    this.counted += n;
    this.emit({ type: 'bytes', bytes: n });
  }
}

/** How often a `hashing` event may go out: every this many ms, or this many bytes, whichever first. */
export const HASHING_EVENT_MS = 100;
export const HASHING_EVENT_BYTES = 16 * 1024 * 1024;

/** One file's hash in progress: `read` as its bytes are hashed, `end` once, however it ends. */
export interface HashJob {
  read(bytes: number): void;
  end(): void;
}

/**
 * A run's local hashing, as `hashing` events: totals so far of the bytes and files queued and hashed.
 * The queue grows as work is found (a rebuild queues files as each listing page arrives). A spell of
 * hashing that ends within HASHING_EVENT_MS and HASHING_EVENT_BYTES reports nothing; a longer one
 * reports at most every HASHING_EVENT_MS or HASHING_EVENT_BYTES, and once more when the queue empties,
 * so its last event shows everything queued as hashed.
 */
export class HashProgress {
  private bytes = 0;
  private totalBytes = 0;
  private files = 0;
  private totalFiles = 0;
  /** When the last event went out, or the current spell of hashing began. */
  private lastAt = 0;
  private lastBytes = 0;
  /** An event went out in the current spell: its end is reported too. */
  private reported = false;

  constructor(
    private readonly emit: (e: HashingEvent) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  job(size: number): HashJob {
    if (this.idle()) {
      // A new spell: the time and bytes before it are not its own.
      this.lastAt = this.now();
      this.lastBytes = this.bytes;
      this.reported = false;
    }
    this.totalBytes += size;
    this.totalFiles++;
    let left = size;
    let ended = false;
    return {
      read: (n) => {
        const take = Math.min(n, left);
        if (ended || take <= 0) return;
        left -= take;
        this.bytes += take;
        this.changed();
      },
      end: () => {
        if (ended) return;
        ended = true;
        // A file that ended early (or could not be read) is no longer waiting to be hashed.
        this.bytes += left;
        left = 0;
        this.files++;
        this.changed();
      },
    };
  }

  private idle(): boolean {
    return this.bytes === this.totalBytes && this.files === this.totalFiles;
  }

  private changed(): void {
    const idle = this.idle();
    if (idle ? !this.reported : !this.due()) return;
    this.reported = !idle;
    this.lastAt = this.now();
    this.lastBytes = this.bytes;
    this.emit({
      type: 'hashing',
      bytes: this.bytes,
      totalBytes: this.totalBytes,
      files: this.files,
      totalFiles: this.totalFiles,
    });
  }

  private due(): boolean {
    return this.bytes - this.lastBytes >= HASHING_EVENT_BYTES || this.now() - this.lastAt >= HASHING_EVENT_MS;
  }
}
