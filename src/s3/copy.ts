import { S3SyncError } from '../errors.js';
import { errorCode, httpStatus } from './errors.js';
import { normalizeEtag } from './etag.js';
import type { S3Requests } from './requests.js';
import { clientS3 } from './sdk.js';

const { CopyObjectCommand } = clientS3;

export interface CopyInput {
  sourceBucket: string;
  sourceKey: string;
  sourceVersionId?: string;
  /** Destination key, in the transport's bucket. */
  key: string;
  /** Source size: above the multipart threshold the copy goes in parts (UploadPartCopy). */
  size: number;
  /** When given, the copy REPLACES headers (MetadataDirective REPLACE); else it copies them (COPY). */
  replace?: {
    contentType: string;
    metadata: Record<string, string>;
    cacheControl?: string;
    contentEncoding?: string;
    contentDisposition?: string;
    storageClass?: string;
  };
  signal?: AbortSignal;
}

export interface CopyResult {
  etag: string;
}

/** `bucket/key?versionId=…`, each key segment URL-encoded (x-amz-copy-source is a URL path). */
const copySource = (input: CopyInput) =>
  `${input.sourceBucket}/${input.sourceKey.split('/').map(encodeURIComponent).join('/')}${
    input.sourceVersionId ? `?versionId=${encodeURIComponent(input.sourceVersionId)}` : ''
  }`;

/** A server-side copy: no object bytes pass through s3sync. */
export async function copyObject(requests: S3Requests, input: CopyInput): Promise<CopyResult> {
  const r = input.replace;
  const out = await requests.call(
    (signal) =>
      requests.send(
        new CopyObjectCommand({
          Bucket: requests.bucket,
          Key: input.key,
          CopySource: copySource(input),
          MetadataDirective: r ? 'REPLACE' : 'COPY',
          ...(r && {
            ContentType: r.contentType,
            Metadata: r.metadata,
            CacheControl: r.cacheControl,
            ContentEncoding: r.contentEncoding,
            ContentDisposition: r.contentDisposition,
          }),
        }),
        signal,
      ),
    input.signal,
  );
  return { etag: normalizeEtag(out.CopyObjectResult?.ETag) };
}

/** True for the errors a store gives when it cannot server-side copy (NotImplemented, 501, …). */
export function copyUnsupported(err: unknown): boolean {
  const e = err instanceof S3SyncError && err.cause !== undefined ? err.cause : err;
  const code = errorCode(e);
  const status = httpStatus(e);
  return code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405;
}
