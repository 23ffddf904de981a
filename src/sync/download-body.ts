/** A downloaded body and what it must be: as long as the listing said, and hashing to its ETag. */
import type { Readable } from 'node:stream';
import { readCapped } from '../read-capped.js';
import { etagForm } from '../s3/etag.js';

/** Transient: the body ended early or did not hash to its ETag; the retry loop fetches it again. */
export class IncompleteBody extends Error {
  override name = 'IncompleteBody';
}

/** Which content hash the object's ETag or metadata vouch for; undefined when neither can be checked. */
export function verifyContent(
  etag: string,
  md5: string,
  multipart: Record<number, string>,
  metaMd5?: string,
): boolean | undefined {
  const form = etagForm(etag);
  if (form.kind === 'md5') return etag === md5 || metaMd5 === md5;
  if (form.kind === 'multipart') {
    if (Object.values(multipart).includes(etag) || metaMd5 === md5) return true;
    return metaMd5 !== undefined ? false : undefined;
  }
  return metaMd5 === undefined ? undefined : metaMd5 === md5;
}

/**
 * Network chunks (~16-64 KiB) gathered into 1 MiB writes: far fewer thread-pool round trips. `owned`:
 * the buffer is a fresh concatenation nothing else holds, so it may be handed to a worker without a copy.
 */
export async function* coalesce(body: Readable): AsyncGenerator<{ buf: Buffer; owned: boolean }> {
  const WRITE_SIZE = 1024 * 1024;
  let pending: Buffer[] = [];
  let bytes = 0;
  const take = () => {
    const out =
      pending.length === 1
        ? { buf: pending[0]!, owned: false }
        : { buf: Buffer.concat(pending, bytes), owned: true };
    pending = [];
    bytes = 0;
    return out;
  };
  for await (const chunk of body) {
    pending.push(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes >= WRITE_SIZE) yield take();
  }
  if (bytes > 0) yield take();
}

/**
 * A small body, whole; more or fewer bytes than the listing said is a transfer to retry. `encoding`:
 * the answer's Content-Encoding, named as the likely cause (something on the way compressed it).
 */
export async function gather(body: Readable, size: number, encoding?: string): Promise<Buffer> {
  const { data, over } = await readCapped(body, size);
  // s3sync never asks for an encoding: one on an object not stored so was added on the way.
  const why = encoding
    ? ` (the answer came with Content-Encoding: ${printableValue(encoding)}: if the object is not stored so, something on the way encoded it)`
    : '';
  if (over) throw new IncompleteBody(`response body is longer than the ${size} bytes listed${why}`);
  if (data.length !== size)
    throw new IncompleteBody(`response body ended after ${data.length} of ${size} bytes${why}`);
  return data;
}

/** A header value for one line of output. */
const printableValue = (v: string) =>
  (v.length > 40 ? `${v.slice(0, 37)}...` : v).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
