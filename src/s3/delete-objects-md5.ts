import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ProviderQuirks } from './providers.js';

/**
 * Content-MD5 on every DeleteObjects, for providers that demand it (MinIO, ECS, RGW reject the SDK's
 * CRC32 alone). Added at the build step, once the body is serialised.
 */
export function contentMd5OnDeleteObjects(client: S3Client, provider: ProviderQuirks): void {
  // A caller's client may have it from an earlier run (the SDK refuses a second of one name).
  client.middlewareStack.remove('s3syncDeleteObjectsContentMd5');
  if (!provider.contentMd5OnDeleteObjects) return;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (context.commandName === 'DeleteObjectsCommand' && req.headers && typeof req.body === 'string') {
        req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', priority: 'low', name: 's3syncDeleteObjectsContentMd5' },
  );
}
