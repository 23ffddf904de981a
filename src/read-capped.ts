import type { Readable } from 'node:stream';

/**
 * A body read whole, but never more than `max` bytes held: past that the stream is destroyed and
 * `over` is set, with what was read.
 */
export async function readCapped(body: Readable, max: number): Promise<{ data: Buffer; over: boolean }> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > max) {
      body.destroy();
      return { data: Buffer.concat(chunks, n), over: true };
    }
  }
  return { data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n), over: false };
}
