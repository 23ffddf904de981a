import type { MetadataDirective, StorageClass } from '@aws-sdk/client-s3';
import { errorCode, httpStatus } from './errors.js';
import { normalizeEtag } from './etag.js';
import { objectParams, type S3Requests } from './requests.js';
import { clientS3 } from './sdk.js';

const { CopyObjectCommand } = clientS3;

export interface CopyInput {
  sourceBucket: string;
  sourceKey: string;
  sourceVersionId?: string;
  /** Destination key, in the transport's bucket. */
  key: string;
  /** Source size: above the multipart threshold the full version copies in parallel parts. */
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

/** CopySource: bucket and key, each key segment URL-encoded (a `?` or `%` in a key would be misread). */
const copySource = (i: CopyInput) =>
  `${i.sourceBucket}/${i.sourceKey.split('/').map(encodeURIComponent).join('/')}${
    i.sourceVersionId ? `?versionId=${encodeURIComponent(i.sourceVersionId)}` : ''
  }`;

/**
 * One CopyObject request. The run's ACL and encryption go with it as with an upload: a copy without
 * them would reset the object to the bucket's defaults.
 */
export async function copyObject(requests: S3Requests, input: CopyInput): Promise<CopyResult> {
  const r = input.replace;
  const params = objectParams(requests.settings, r?.contentType ?? '', r?.metadata ?? {}, r);
  const out = await requests.call(
    (signal) =>
      requests.send(
        new CopyObjectCommand({
          Bucket: requests.bucket,
          Key: input.key,
          CopySource: copySource(input),
          MetadataDirective: (r ? 'REPLACE' : 'COPY') as MetadataDirective,
          ...(r
            ? params
            : {
                ACL: params.ACL,
                ServerSideEncryption: params.ServerSideEncryption,
                SSEKMSKeyId: params.SSEKMSKeyId,
                StorageClass: params.StorageClass as StorageClass | undefined,
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
  const code = errorCode(err);
  const status = httpStatus(err);
  return code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405;
}
