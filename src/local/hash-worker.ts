import { parentPort } from 'node:worker_threads';
import { hashFile, hashSmallFileSync, StreamHasher } from './hash.js';
import type { ReadTarget } from './open-file.js';

export type WorkerRequest =
  | { op: 'file'; id: number; src: ReadTarget; partSizes: number[] }
  | { op: 'files'; id: number; files: Array<{ src: ReadTarget; partSizes: number[] }> }
  | { op: 'start'; id: number; partSizes: number[] }
  | { op: 'data'; id: number; buf: Uint8Array }
  | { op: 'end'; id: number }
  | { op: 'abort'; id: number };

const streams = new Map<number, StreamHasher>();

/** A file's hash reports the bytes it has read in steps of this size: a message per chunk is noise. */
const READ_REPORT_BYTES = 4 * 1024 * 1024;

/** Hashes files and streamed downloads for the main thread, so MD5 does not hold up transfers. */
parentPort!.on('message', async (msg: WorkerRequest) => {
  try {
    switch (msg.op) {
      case 'file': {
        let unreported = 0;
        const result = await hashFile(msg.src, msg.partSizes, (n) => {
          unreported += n;
          if (unreported < READ_REPORT_BYTES) return;
          parentPort!.postMessage({ id: msg.id, read: unreported });
          unreported = 0;
        });
        if (unreported > 0) parentPort!.postMessage({ id: msg.id, read: unreported });
        parentPort!.postMessage({ id: msg.id, result });
        return;
      }
      case 'files': {
        // Small files, many to a message: one round trip each would cost more than the hash.
        const results = msg.files.map((f) => {
          try {
            return { result: hashSmallFileSync(f.src, f.partSizes) };
          } catch (err) {
            const e = err as NodeJS.ErrnoException;
            return { error: { message: e.message, code: e.code } };
          }
        });
        parentPort!.postMessage({ id: msg.id, results });
        return;
      }
      case 'start':
        streams.set(msg.id, new StreamHasher(msg.partSizes));
        return;
      case 'data': {
        const h = streams.get(msg.id);
        if (!h) return; // aborted
        h.update(Buffer.from(msg.buf.buffer, msg.buf.byteOffset, msg.buf.byteLength));
        parentPort!.postMessage({ id: msg.id, ack: true });
        return;
      }
      case 'end': {
        const h = streams.get(msg.id);
        if (!h) return;
        streams.delete(msg.id);
        parentPort!.postMessage({ id: msg.id, digest: h.digest() });
        return;
      }
      case 'abort':
        streams.delete(msg.id);
        return;
    }
  } catch (err) {
    streams.delete(msg.id);
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ id: msg.id, error: { message: e.message, code: e.code } });
  }
});
