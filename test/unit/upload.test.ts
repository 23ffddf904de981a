import { describe, expect, it } from 'vitest';
import { chooseStrategy, STREAMED_UPLOAD_MIN, type UploadStrategy } from '../../src/sync/upload.js';

const MiB = 1024 * 1024;
const cfg = { multipartThreshold: 64 * MiB, partSize: 16 * MiB };

describe('chooseStrategy: how a file is uploaded', () => {
  const cases: Array<[string, number, Partial<typeof cfg>, boolean, string | undefined, UploadStrategy]> = [
    ['an empty file', 0, {}, true, undefined, 'from-memory'],
    ['a small file, new or not', 4096, {}, false, undefined, 'from-memory'],
    ['just below the streamed minimum', STREAMED_UPLOAD_MIN - 1, {}, true, undefined, 'from-memory'],
    ['at the streamed minimum, new', STREAMED_UPLOAD_MIN, {}, true, undefined, 'one-pass'],
    ['at the streamed minimum, replacing an object', STREAMED_UPLOAD_MIN, {}, false, undefined, 'hash-first'],
    ['new, with SSE-S3 (its ETag is still the MD5)', 10 * MiB, {}, true, 'AES256', 'one-pass'],
    ['new, with SSE-KMS (its ETag is not the MD5)', 10 * MiB, {}, true, 'aws:kms', 'hash-first'],
    ['just below the multipart threshold', 64 * MiB - 1, {}, true, undefined, 'one-pass'],
    ['at the multipart threshold', 64 * MiB, {}, true, undefined, 'multipart'],
    ['far above it, replacing', 1024 * MiB, {}, false, undefined, 'multipart'],
    // A threshold below the streamed minimum: nothing at or above it goes by single PUT.
    ['below a low threshold', 1 * MiB, { multipartThreshold: 5 * MiB }, true, undefined, 'from-memory'],
    ['at a low threshold', 5 * MiB, { multipartThreshold: 5 * MiB }, true, undefined, 'multipart'],
  ];
  it.each(cases)('%s', (_, size, over, isNew, sse, want) => {
    const t = { settings: { sse } };
    expect(chooseStrategy({ f: { size }, cfg: { ...cfg, ...over }, isNew, t })).toBe(want);
  });
});
