import { type MessagePort, parentPort } from 'node:worker_threads';
import { type HashResult, hashFile, hashSmallFilesSync, Scratch, StreamHasher } from './hash.js';
import { lanesOnFirstUse } from './md5-lanes.js';
import type { ReadTarget } from './open-file.js';

export type WorkerRequest =
  | { op: 'file'; id: number; src: ReadTarget; partSizes: number[] }
  | { op: 'files'; id: number; files: Array<{ src: ReadTarget; partSizes: number[] }> }
  | { op: 'start'; id: number; partSizes: number[] }
  | { op: 'data'; id: number; buf: Uint8Array }
  | { op: 'end'; id: number }
  | { op: 'abort'; id: number };

/** A file's hash reports the bytes it has read in steps of this size: a message per chunk is noise. */
const READ_REPORT_BYTES = 4 * 1024 * 1024;

/** Hashes files and streamed downloads for the main thread, so MD5 does not hold up transfers. */
class HashWorker {
  private readonly streams = new Map<number, StreamHasher>();
  private readonly scratch = new Scratch();
  /** Made by the first batch of small files. */
  private readonly lanes = lanesOnFirstUse();

  constructor(private readonly port: MessagePort) {}

  async handle(msg: WorkerRequest): Promise<void> {
    try {
      switch (msg.op) {
        case 'file': {
          let unreported = 0;
          const result = await hashFile(msg.src, msg.partSizes, (n) => {
            unreported += n;
            if (unreported < READ_REPORT_BYTES) return;
            this.port.postMessage({ id: msg.id, read: unreported });
            unreported = 0;
          });
          if (unreported > 0) this.port.postMessage({ id: msg.id, read: unreported });
          this.port.postMessage({ id: msg.id, result });
          return;
        }
        case 'files': {
          // Small files, many to a message: one round trip each would cost more than the hash.
          type Out = { result?: HashResult; error?: { message: string; code?: string } };
          const results: Out[] = new Array(msg.files.length);
          let i = 0;
          hashSmallFilesSync(
            () => (i < msg.files.length ? { ...msg.files[i]!, at: i++ } : undefined),
            (f, result) => {
              results[f.at] = { result };
            },
            (f, err) => {
              const e = err as NodeJS.ErrnoException;
              results[f.at] = { error: { message: e.message, code: e.code } };
            },
            this.lanes(),
            this.scratch,
          );
          this.port.postMessage({ id: msg.id, results });
          return;
        }
        case 'start':
          this.streams.set(msg.id, new StreamHasher(msg.partSizes));
          return;
        case 'data': {
          const h = this.streams.get(msg.id);
          if (!h) return; // aborted
          h.update(Buffer.from(msg.buf.buffer, msg.buf.byteOffset, msg.buf.byteLength));
          this.port.postMessage({ id: msg.id, ack: true });
          return;
        }
        case 'end': {
          const h = this.streams.get(msg.id);
          if (!h) return;
          this.streams.delete(msg.id);
          this.port.postMessage({ id: msg.id, digest: h.digest() });
          return;
        }
        case 'abort':
          this.streams.delete(msg.id);
          return;
      }
    } catch (err) {
      this.streams.delete(msg.id);
      const e = err as NodeJS.ErrnoException;
      this.port.postMessage({ id: msg.id, error: { message: e.message, code: e.code } });
    }
  }
}

if (parentPort) {
  const worker = new HashWorker(parentPort);
  parentPort.on('message', (msg: WorkerRequest) => worker.handle(msg));
}
