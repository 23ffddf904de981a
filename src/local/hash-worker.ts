import { parentPort } from 'node:worker_threads';
import { hashFile } from './hash.js';

/** Hashes files for the main thread, so large reads and MD5 do not hold up transfers. */
parentPort!.on('message', async (msg: { id: number; abs: string; partSizes: number[] }) => {
  try {
    const result = await hashFile(msg.abs, msg.partSizes);
    parentPort!.postMessage({ id: msg.id, result });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ id: msg.id, error: { message: e.message, code: e.code } });
  }
});
